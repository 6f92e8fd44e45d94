/*
 * log_read.c - sequential read throughput and memory of the log store (log/), for
 * bench/RESULTS.md section "Log read and memory".
 *
 *   log_read write DIR [--gib G | --records N] [--size BYTES] [--codec none|lz4|zstd]
 *                      [--txn N] [--flush commit|interval|os] [--partitions N]
 *   log_read read DIR [--cold] [--decode] [--populate] [--max-bytes BYTES] [--open-only]
 *
 * write: appends records of about --size bytes (default 541, shaped like rowlog's JSON change
 * events, from a pool of prepared ones) to topic "bench" until G GiB of record bytes (or N
 * records), committing every --txn records. read: opens the log, then reads every partition
 * from its log start to its high watermark with log_store_read in fetches of --max-bytes
 * (default 1 MiB, a Kafka fetch's size), touching every 4 KiB page of the bytes returned (what
 * a sendfile of them makes the kernel read) or, with --decode, decoding every record
 * (log_batch_decode: CRC32C, decompression, varints), as a consumer would. --cold first
 * drops the segment files from the page cache with posix_fadvise(POSIX_FADV_DONTNEED) (no
 * root needed; only this log's files are affected). --populate maps each fetch's pages with
 * one madvise(MADV_POPULATE_READ) before touching them. The open's recovery scan reads the last
 * segment of each partition, so that one is warm again before the reads start. --open-only
 * stops after the open and prints what it left resident (RssAnon, RssFile) and read from the
 * disk (/proc/self/io read_bytes: with --cold, every page it touched).
 *
 * Both print one line of key=value results, including memory: peak_rss_MiB (getrusage
 * ru_maxrss: anonymous + resident file pages, i.e. the mapped segments the process touched)
 * and, sampled from /proc/self/status every 64 MiB of log, peak RssAnon (the process's own
 * memory) and peak RssFile (mapped file pages resident, page cache).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log/log.h"

#define POOL 4096
#define TOPIC "bench"

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

static int usage(void)
{
    fputs("usage: log_read write DIR [--gib G | --records N] [--size BYTES] [--codec "
          "none|lz4|zstd]\n"
          "                          [--txn N] [--flush commit|interval|os] [--partitions N]\n"
          "       log_read read DIR [--cold] [--decode] [--populate] [--max-bytes BYTES]\n"
          "                         [--open-only]\n",
          stderr);
    return 2;
}

/* ------------------------------------------------------------------ memory */

typedef struct mem {
    long anon_kib, file_kib; /* peaks of RssAnon and RssFile */
} mem;

static void mem_sample(mem *m)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        long v;
        if (sscanf(line, "RssAnon: %ld", &v) == 1 && v > m->anon_kib)
            m->anon_kib = v;
        else if (sscanf(line, "RssFile: %ld", &v) == 1 && v > m->file_kib)
            m->file_kib = v;
    }
    fclose(f);
}

/* read_bytes of /proc/self/io: bytes this process caused to be fetched from storage (page
 * cache misses, including through mappings); -1 when unavailable. */
static long long io_read_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    if (!f)
        return -1;
    char line[256];
    long long v = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "read_bytes: %lld", &v) == 1)
            break;
    fclose(f);
    return v;
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

/* ------------------------------------------------------------------ write */

/* One change event of about `size` bytes into buf (size + 1 bytes). */
static size_t make_event(char *buf, size_t size, uint64_t id, uint64_t *s)
{
    int n = snprintf(buf, size + 1,
                     "{\"before\":null,\"after\":{\"id\":%llu,\"customer_id\":%llu,\"amount\":"
                     "\"%llu.%02llu\",\"note\":\"",
                     (unsigned long long)id, (unsigned long long)(rnd(s) % 100000),
                     (unsigned long long)(rnd(s) % 10000), (unsigned long long)(rnd(s) % 100));
    static const char tail[] = "\"},\"source\":{\"connector\":\"rowlog\",\"db\":\"shop\","
                               "\"table\":\"orders\"},\"op\":\"c\",\"ts_ms\":1763900000000}";
    size_t t = sizeof tail - 1, o = (size_t)n < size ? (size_t)n : size;
    static const char words[] = "please deliver to the back door after six ring twice thanks ";
    while (o + t < size) {
        buf[o] = words[(o + id) % (sizeof words - 1)];
        o++;
    }
    memcpy(buf + o, tail, t);
    return o + t;
}

static int do_write(const char *dir, int argc, char **argv)
{
    double gib = 10;
    uint64_t records = 0, txn = 1000;
    size_t size = 541;
    int codec = LOG_COMPRESSION_NONE, flush = LOG_FLUSH_INTERVAL;
    uint32_t partitions = 1;
    for (int i = 0; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (strcmp(a, "--gib") == 0)
            gib = strtod(v, NULL);
        else if (strcmp(a, "--records") == 0)
            records = strtoull(v, NULL, 10);
        else if (strcmp(a, "--size") == 0)
            size = strtoull(v, NULL, 10);
        else if (strcmp(a, "--codec") == 0)
            codec = log_compression_parse(v);
        else if (strcmp(a, "--txn") == 0)
            txn = strtoull(v, NULL, 10);
        else if (strcmp(a, "--flush") == 0)
            flush = log_flush_parse(v);
        else if (strcmp(a, "--partitions") == 0)
            partitions = (uint32_t)strtoul(v, NULL, 10);
        else
            return usage();
    }
    if (argc % 2 || codec < 0 || flush < 0 || size < 200 || size > 65536 || txn == 0 ||
        partitions == 0)
        return usage();
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    char *vals = malloc((size_t)POOL * (size + 1));
    size_t *vlen = malloc(POOL * sizeof *vlen);
    char(*keys)[32] = malloc(POOL * sizeof *keys);
    size_t *klen = malloc(POOL * sizeof *klen);
    if (!vals || !vlen || !keys || !klen)
        return 1;
    for (uint64_t i = 0; i < POOL; i++) {
        vlen[i] = make_event(vals + i * (size + 1), size, 1000000 + i * 7919, &seed);
        klen[i] = (size_t)snprintf(keys[i], sizeof keys[i], "{\"id\":%llu}",
                                   1000000ull + (unsigned long long)i * 7919ull);
    }
    log_store_opts so = {
        .compression = codec, .flush = flush, .flush_interval_ms = 200, .partitions = partitions};
    log_store_t *st;
    rl_err err = {0, ""};
    if (log_store_open(&st, dir, &so, &err) != 0) {
        fprintf(stderr, "log_read: %s\n", err.msg);
        return 1;
    }
    uint64_t limit = (uint64_t)(gib * (double)(1ull << 30)), bytes = 0, n = 0, sampled = 0;
    mem m = {0, 0};
    int64_t t0 = rl_mono_ns();
    char ck[32];
    while (records ? n < records : bytes < limit) {
        size_t k = (size_t)(n % POOL);
        rl_slice key = rl_slice_make(keys[k], klen[k]);
        if (log_store_append(st, rl_slice_str(TOPIC), key,
                             rl_slice_make(vals + k * (size + 1), vlen[k]),
                             1763900000000LL + (int64_t)n, &err) != 0) {
            fprintf(stderr, "log_read: append: %s\n", err.msg);
            return 1;
        }
        bytes += key.len + vlen[k];
        n++;
        if (n % txn == 0) {
            int len = snprintf(ck, sizeof ck, "pos-%llu", (unsigned long long)n);
            if (log_store_commit(st, rl_slice_make(ck, (size_t)len), &err) != 0) {
                fprintf(stderr, "log_read: commit: %s\n", err.msg);
                return 1;
            }
        }
        if (bytes - sampled >= (64u << 20)) {
            mem_sample(&m);
            sampled = bytes;
        }
    }
    int len = snprintf(ck, sizeof ck, "pos-%llu", (unsigned long long)n);
    if (log_store_commit(st, rl_slice_make(ck, (size_t)len), &err) != 0 ||
        log_store_sync(st, &err) != 0) {
        fprintf(stderr, "log_read: commit: %s\n", err.msg);
        return 1;
    }
    int64_t t1 = rl_mono_ns();
    mem_sample(&m);
    double secs = (double)(t1 - t0) / 1e9;
    printf("mode=write records=%llu record_MB=%.1f seconds=%.2f records_per_s=%.0f MB_per_s=%.1f "
           "peak_rss_MiB=%.1f peak_rss_anon_MiB=%.1f peak_rss_file_MiB=%.1f\n",
           (unsigned long long)n, (double)bytes / 1e6, secs, (double)n / secs,
           (double)bytes / 1e6 / secs, peak_rss_mib(), (double)m.anon_kib / 1024.0,
           (double)m.file_kib / 1024.0);
    log_store_close(st);
    free(vals);
    free(vlen);
    free(keys);
    free(klen);
    return 0;
}

/* ------------------------------------------------------------------ read */

/* Drops every segment file of the log from the page cache. Returns the bytes advised. */
static uint64_t drop_cache(const char *dir)
{
    uint64_t total = 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char pdir[4096];
        snprintf(pdir, sizeof pdir, "%s/%s", dir, de->d_name);
        DIR *pd = opendir(pdir);
        struct dirent *fe;
        while (pd && (fe = readdir(pd)) != NULL) {
            size_t n = strlen(fe->d_name);
            if (n < 5 || strcmp(fe->d_name + n - 4, ".log") != 0)
                continue;
            char path[8192];
            snprintf(path, sizeof path, "%s/%s", pdir, fe->d_name);
            int fd = open(path, O_RDONLY);
            struct stat sb;
            if (fd < 0)
                continue;
            if (fstat(fd, &sb) == 0)
                total += (uint64_t)sb.st_size;
            fdatasync(fd); /* only clean pages can be dropped */
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
            close(fd);
        }
        if (pd)
            closedir(pd);
    }
    if (d)
        closedir(d);
    return total;
}

typedef struct rstate {
    const char *topic;
    uint32_t parts;
} rstate;

static void first_topic(void *ctx, const char *topic, uint32_t partitions)
{
    rstate *r = ctx;
    if (!r->topic) {
        r->topic = strdup(topic);
        r->parts = partitions;
    }
}

static int count_rec(void *ctx, const log_record *rec)
{
    (void)rec;
    (*(uint64_t *)ctx)++;
    return 0;
}

static int do_read(const char *dir, int argc, char **argv)
{
    bool cold = false, decode = false, populate = false, open_only = false;
    size_t max_bytes = 1u << 20;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--cold") == 0)
            cold = true;
        else if (strcmp(argv[i], "--open-only") == 0)
            open_only = true;
        else if (strcmp(argv[i], "--decode") == 0)
            decode = true;
        else if (strcmp(argv[i], "--populate") == 0)
            populate = true;
        else if (strcmp(argv[i], "--max-bytes") == 0 && i + 1 < argc)
            max_bytes = strtoull(argv[++i], NULL, 10);
        else
            return usage();
    }
    uint64_t dropped = cold ? drop_cache(dir) : 0;
    log_store_t *st;
    rl_err err = {0, ""};
    int64_t t0 = rl_mono_ns();
    if (log_store_open(&st, dir, NULL, &err) != 0) {
        fprintf(stderr, "log_read: %s\n", err.msg);
        return 1;
    }
    int64_t t1 = rl_mono_ns();
    if (open_only) {
        /* What the open itself made resident and read: the recovery scan of each partition's
         * last segment, the sealed segments' index checks (their last entries only; middle
         * entries are checked by the reads that use them). */
        mem om = {0, 0};
        mem_sample(&om);
        long long rb = io_read_bytes();
        printf("mode=open%s open_seconds=%.2f rss_anon_MiB=%.1f rss_file_MiB=%.1f "
               "peak_rss_MiB=%.1f disk_read_MB=%.1f dropped_MB=%.1f\n",
               cold ? " cold=1" : "", (double)(t1 - t0) / 1e9, (double)om.anon_kib / 1024.0,
               (double)om.file_kib / 1024.0, peak_rss_mib(), rb < 0 ? -1.0 : (double)rb / 1e6,
               (double)dropped / 1e6);
        log_store_close(st);
        return 0;
    }
    rstate r = {NULL, 0};
    log_store_topics(st, first_topic, &r);
    if (!r.topic) {
        fprintf(stderr, "log_read: %s: no topic\n", dir);
        return 1;
    }
    mem m = {0, 0};
    mem_sample(&m);
    uint64_t records = 0, bytes = 0, sampled = 0, sink = 0;
    rl_buf scratch = RL_BUF_INIT;
    for (uint32_t part = 0; part < r.parts; part++) {
        int64_t off, hwm;
        log_store_offsets(st, r.topic, part, &off, &hwm);
        while (off < hwm) {
            log_read rd;
            if (log_store_read(st, r.topic, part, off, max_bytes, &rd, &err) != 0) {
                fprintf(stderr, "log_read: read at %lld: %s\n", (long long)off, err.msg);
                return 1;
            }
            if (populate && rd.bytes.len) {
                /* Map the fetch's pages in one call instead of a fault per few pages. */
                uintptr_t a = (uintptr_t)rd.bytes.p & ~(uintptr_t)4095;
                madvise((void *)a, (uintptr_t)rd.bytes.p + rd.bytes.len - a, MADV_POPULATE_READ);
            }
            rl_reader br = rl_reader_make(rd.bytes);
            while (rl_reader_left(&br) > 0) {
                /* RecordBatch v2: baseOffset i64, batchLength i32, ..., lastOffsetDelta i32
                 * at byte 23, recordsCount i32 at byte 57. */
                rl_slice whole = rl_slice_make(br.p, rl_reader_left(&br));
                int64_t base = rl_get_i64be(&br);
                uint32_t len = (uint32_t)rl_get_i32be(&br);
                rl_reader body = rl_reader_sub(&br, len);
                rl_reader_skip(&body, 11);
                int32_t last_delta = rl_get_i32be(&body);
                rl_reader_skip(&body, 30);
                int32_t count = rl_get_i32be(&body);
                if (br.err || body.err) {
                    fprintf(stderr, "log_read: bad batch at offset %lld\n", (long long)off);
                    return 1;
                }
                if (decode) {
                    if (log_batch_decode(rl_slice_make(whole.p, 12 + (size_t)len), &scratch,
                                         (size_t)1 << 31, count_rec, &records, &err) < 0) {
                        fprintf(stderr, "log_read: decode: %s\n", err.msg);
                        return 1;
                    }
                } else {
                    records += (uint64_t)count;
                    for (size_t i = 0; i < 12 + (size_t)len; i += 4096)
                        sink += whole.p[i];
                }
                off = base + last_delta + 1;
            }
            bytes += rd.bytes.len;
            log_read_release(&rd);
            if (bytes - sampled >= (64u << 20)) {
                mem_sample(&m);
                sampled = bytes;
            }
        }
    }
    int64_t t2 = rl_mono_ns();
    mem_sample(&m);
    double secs = (double)(t2 - t1) / 1e9;
    printf("mode=read%s%s records=%llu log_MB=%.1f open_seconds=%.2f seconds=%.2f "
           "records_per_s=%.0f MB_per_s=%.1f peak_rss_MiB=%.1f peak_rss_anon_MiB=%.1f "
           "peak_rss_file_MiB=%.1f dropped_MB=%.1f sink=%llu\n",
           cold ? "-cold" : "", decode ? "-decode" : "", (unsigned long long)records,
           (double)bytes / 1e6, (double)(t1 - t0) / 1e9, secs, (double)records / secs,
           (double)bytes / 1e6 / secs, peak_rss_mib(), (double)m.anon_kib / 1024.0,
           (double)m.file_kib / 1024.0, (double)dropped / 1e6, (unsigned long long)(sink & 1));
    rl_buf_free(&scratch);
    log_store_close(st);
    free((void *)r.topic);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return usage();
    if (strcmp(argv[1], "write") == 0)
        return do_write(argv[2], argc - 3, argv + 3);
    if (strcmp(argv[1], "read") == 0)
        return do_read(argv[2], argc - 3, argv + 3);
    return usage();
}
