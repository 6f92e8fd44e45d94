/*
 * log_append.c - durable append throughput of the log store (log/), for bench/log_append.sh
 * and bench/RESULTS.md.
 *
 *   log_append DIR [--records N] [--size BYTES] [--codec none|lz4|zstd] [--level N]
 *              [--flush commit|interval|os] [--interval-ms N] [--txn N] [--batch BYTES]
 *              [--segment BYTES] [--tables N] [--prealloc none|zero|fallocate] [--gtid N]
 *
 * Appends N records of about --size bytes (default 541: the average CDC JSON change event of
 * the baselines note) shaped like rowlog's Debezium-style envelopes (field names repeat, ids,
 * amounts and timestamps vary), with JSON primary keys, to --tables topics in turn, committing
 * every --txn records (a commit = one transaction group). Records are prepared before the
 * clock starts so that only the log is measured. Prints one line of key=value results:
 * records/s, MB/s of record bytes (key + value), MB/s written to disk, commits/s, seconds.
 * --gtid N ends a source transaction every N records with log_store_txn_end and a MariaDB GTID
 * (the GTID index: one entry per transaction, fdatasynced with the commit).
 * DIR must not exist or be empty (it is not removed).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log/log.h"

#define POOL 4096

typedef struct opts {
    const char *dir;
    uint64_t records;
    size_t size;
    int codec, level, flush;
    uint32_t interval_ms;
    uint64_t txn;
    size_t batch;
    uint64_t segment;
    unsigned tables;
    int prealloc;
    uint64_t gtid;
} opts;

static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

static int usage(void)
{
    fputs("usage: log_append DIR [--records N] [--size BYTES] [--codec none|lz4|zstd] "
          "[--level N]\n"
          "       [--flush commit|interval|os] [--interval-ms N] [--txn N] [--batch BYTES]\n"
          "       [--segment BYTES] [--tables N] [--prealloc none|zero|fallocate] [--gtid N]\n",
          stderr);
    return 2;
}

/* One change event of about `size` bytes into buf (size + 1 bytes). */
static size_t make_event(char *buf, size_t size, uint64_t id, uint64_t *s)
{
    static const char *const status[] = {"new", "paid", "shipped", "cancelled"};
    int n =
        snprintf(buf, size + 1,
                 "{\"before\":null,\"after\":{\"id\":%llu,\"customer_id\":%llu,\"status\":\"%s\","
                 "\"amount\":\"%llu.%02llu\",\"currency\":\"EUR\",\"created_at\":\"2026-11-%02llu "
                 "%02llu:%02llu:%02llu\",\"note\":\"",
                 (unsigned long long)id, (unsigned long long)(rnd(s) % 100000), status[rnd(s) % 4],
                 (unsigned long long)(rnd(s) % 10000), (unsigned long long)(rnd(s) % 100),
                 (unsigned long long)(1 + rnd(s) % 28), (unsigned long long)(rnd(s) % 24),
                 (unsigned long long)(rnd(s) % 60), (unsigned long long)(rnd(s) % 60));
    static const char tail[] =
        "\"},\"source\":{\"version\":\"0.1\",\"connector\":\"rowlog\",\"name\":\"db1\","
        "\"db\":\"shop\",\"table\":\"orders\",\"server_id\":1,\"file\":\"mysql-bin.000042\","
        "\"pos\":123456789},\"op\":\"c\",\"ts_ms\":1763900000000}";
    size_t t = sizeof tail - 1;
    size_t o = (size_t)n < size ? (size_t)n : size;
    /* Free text of a note, then the fixed tail. */
    static const char words[] = "please deliver to the back door after six ring twice thanks ";
    while (o + t < size) {
        buf[o] = words[(o + id) % (sizeof words - 1)];
        o++;
    }
    if (o + t <= size + t) {
        memcpy(buf + o, tail, t);
        o += t;
    }
    return o;
}

int main(int argc, char **argv)
{
    opts o = {.records = 1000000,
              .size = 541,
              .codec = LOG_COMPRESSION_LZ4,
              .flush = LOG_FLUSH_COMMIT,
              .interval_ms = 1000,
              .txn = 100,
              .batch = 1u << 20,
              .segment = 1ull << 30,
              .tables = 1,
              .prealloc = LOG_PREALLOC_DEFAULT};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-') {
            o.dir = a;
            continue;
        }
        if (!v)
            return usage();
        i++;
        if (strcmp(a, "--records") == 0)
            o.records = strtoull(v, NULL, 10);
        else if (strcmp(a, "--size") == 0)
            o.size = strtoull(v, NULL, 10);
        else if (strcmp(a, "--codec") == 0)
            o.codec = log_compression_parse(v);
        else if (strcmp(a, "--level") == 0)
            o.level = (int)strtol(v, NULL, 10);
        else if (strcmp(a, "--flush") == 0)
            o.flush = log_flush_parse(v);
        else if (strcmp(a, "--interval-ms") == 0)
            o.interval_ms = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--txn") == 0)
            o.txn = strtoull(v, NULL, 10);
        else if (strcmp(a, "--batch") == 0)
            o.batch = strtoull(v, NULL, 10);
        else if (strcmp(a, "--segment") == 0)
            o.segment = strtoull(v, NULL, 10);
        else if (strcmp(a, "--prealloc") == 0)
            o.prealloc = strcmp(v, "none") == 0        ? LOG_PREALLOC_NONE
                         : strcmp(v, "zero") == 0      ? LOG_PREALLOC_ZERO
                         : strcmp(v, "fallocate") == 0 ? LOG_PREALLOC_FALLOCATE
                                                       : -1;
        else if (strcmp(a, "--gtid") == 0)
            o.gtid = strtoull(v, NULL, 10);
        else if (strcmp(a, "--tables") == 0)
            o.tables = (unsigned)strtoul(v, NULL, 10);
        else
            return usage();
    }
    if (!o.dir || o.codec < 0 || o.flush < 0 || o.size < 200 || o.size > 65536 || o.txn == 0 ||
        o.tables == 0 || o.tables > 1000 || o.prealloc < 0)
        return usage();

    /* The pool of prepared events (ids patched per record would cost as much as the log). */
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    char *vals = malloc((size_t)POOL * (o.size + 1));
    size_t *vlen = malloc(POOL * sizeof *vlen);
    char(*keys)[32] = malloc(POOL * sizeof *keys);
    size_t *klen = malloc(POOL * sizeof *klen);
    if (!vals || !vlen || !keys || !klen)
        return 1;
    for (uint64_t i = 0; i < POOL; i++) {
        vlen[i] = make_event(vals + i * (o.size + 1), o.size, 1000000 + i * 7919, &seed);
        klen[i] = (size_t)snprintf(keys[i], sizeof keys[i], "{\"id\":%llu}",
                                   1000000ull + (unsigned long long)i * 7919ull);
    }
    char(*topics)[32] = malloc(o.tables * sizeof *topics);
    for (unsigned t = 0; t < o.tables; t++)
        snprintf(topics[t], sizeof topics[t], "db1.shop.orders%u", t);

    log_store_opts so = {.compression = o.codec,
                         .compression_level = o.level,
                         .batch_bytes = o.batch,
                         .segment_bytes = o.segment,
                         .flush = o.flush,
                         .flush_interval_ms = o.interval_ms,
                         .prealloc = o.prealloc};
    log_store_t *st;
    rl_err err = {0, ""};
    if (log_store_open(&st, o.dir, &so, &err) != 0) {
        fprintf(stderr, "log_append: %s\n", err.msg);
        return 1;
    }
    uint64_t bytes = 0, commits = 0;
    int64_t t0 = rl_mono_ns();
    char ck[32];
    for (uint64_t i = 0; i < o.records; i++) {
        size_t k = (size_t)(i % POOL);
        rl_slice key = rl_slice_make(keys[k], klen[k]);
        rl_slice val = rl_slice_make(vals + k * (o.size + 1), vlen[k]);
        if (log_store_append(st, rl_slice_str(topics[i % o.tables]), key, val,
                             1763900000000LL + (int64_t)i, &err) != 0) {
            fprintf(stderr, "log_append: append: %s\n", err.msg);
            return 1;
        }
        bytes += key.len + val.len;
        if (o.gtid && ((i + 1) % o.gtid == 0 || i + 1 == o.records)) {
            char g[48];
            snprintf(g, sizeof g, "0-1-%llu", (unsigned long long)(i / o.gtid + 1));
            if (log_store_txn_end(st, g, &err) != 0) {
                fprintf(stderr, "log_append: txn_end: %s\n", err.msg);
                return 1;
            }
        }
        if ((i + 1) % o.txn == 0 || i + 1 == o.records) {
            int n = snprintf(ck, sizeof ck, "pos-%llu", (unsigned long long)i);
            if (log_store_commit(st, rl_slice_make(ck, (size_t)n), &err) != 0) {
                fprintf(stderr, "log_append: commit: %s\n", err.msg);
                return 1;
            }
            commits++;
        }
    }
    if (log_store_sync(st, &err) != 0) {
        fprintf(stderr, "log_append: sync: %s\n", err.msg);
        return 1;
    }
    int64_t t1 = rl_mono_ns();
    log_store_close(st);
    /* Bytes on disk: the sizes of the segment files of every partition directory. */
    uint64_t disk = 0;
    for (unsigned t = 0; t < o.tables; t++) {
        char pdir[4096];
        snprintf(pdir, sizeof pdir, "%s/%s-0", o.dir, topics[t]);
        DIR *d = opendir(pdir);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL) {
            size_t n = strlen(de->d_name);
            char path[8192];
            struct stat sb;
            if (n > 4 && strcmp(de->d_name + n - 4, ".log") == 0 &&
                snprintf(path, sizeof path, "%s/%s", pdir, de->d_name) < (int)sizeof path &&
                stat(path, &sb) == 0)
                disk += (uint64_t)sb.st_size;
        }
        if (d)
            closedir(d);
    }
    double secs = (double)(t1 - t0) / 1e9;
    printf("gtid=%llu prealloc=%d records=%llu size=%zu codec=%s flush=%s txn=%llu batch=%zu "
           "tables=%u "
           "seconds=%.3f "
           "records_per_s=%.0f MB_per_s=%.1f disk_MB=%.1f disk_MB_per_s=%.1f commits_per_s=%.0f\n",
           (unsigned long long)o.gtid, o.prealloc, (unsigned long long)o.records, o.size,
           o.codec == LOG_COMPRESSION_NONE  ? "none"
           : o.codec == LOG_COMPRESSION_LZ4 ? "lz4"
                                            : "zstd",
           o.flush == LOG_FLUSH_COMMIT     ? "commit"
           : o.flush == LOG_FLUSH_INTERVAL ? "interval"
                                           : "os",
           (unsigned long long)o.txn, o.batch, o.tables, secs, (double)o.records / secs,
           (double)bytes / 1e6 / secs, (double)disk / 1e6, (double)disk / 1e6 / secs,
           (double)commits / secs);
    free(vals);
    free(vlen);
    free(keys);
    free(klen);
    free(topics);
    return 0;
}
