/*
 * decode.c - how fast does reader/ decode a binlog, with and without rendering JSON, from a
 * file and from a server? (bench/RESULTS.md section 1, "Binlog decoding"; run by
 * bench/decode.sh, which also times `rowlog binlog dump` and mariadb-binlog on the same file.)
 *
 *   decode file [--mode json|check|frame] [--source pread|mmap] [--runs R] FILE...
 *   decode stream --url mysql://USER:PASS@HOST:PORT --file NAME --until POS
 *                 [--mode json|check|bare] [--runs R]
 *
 * Modes (what happens to each event):
 *   json   binlog_decoder_feed with an on_change that only counts: decode + the JSON key and
 *          envelope of every row (what rowlogd appends), no output;
 *   check  binlog_decoder_feed with check-only row decoding (binlog__rows_set_check_only,
 *          reader/rows_int.h): every event framed, checksummed and decoded, every row image
 *          walked with each value's length and range checked, no JSON built ("decode alone");
 *   frame  (file) the file source's framing only, no checksum, no decoding;
 *   bare   (stream) binlog_conn_next only: the packets read from the server, no decoding
 *          (the rate the replication protocol gives this client).
 * --source: how files are read: pread (default) = binlog_file_next_transient, pread into a
 * reused buffer, as `rowlog binlog dump` reads; mmap = binlog_file_next, the mapping.
 * `stream` dumps from the server (COM_BINLOG_DUMP at NAME:4) and stops at the first event
 * whose end (log_pos) reaches POS (the file's size: its last event, the ROTATE of FLUSH
 * BINARY LOGS); the server must not be writing to that file.
 *
 * Output: one line per run, "RESULT key=value ...": mode, runs index, events, rows (on_change
 * calls, or rows checked), bytes (event bytes), wall_s, cpu_s (user + system of this process,
 * getrusage: the machine is shared, CPU seconds say what wall time cannot), and the rates
 * rows/s and MB/s by wall and by CPU time. MB = 10^6 bytes.
 * Exit status: 0, 1 on an error (printed with the decoder's message), 2 on a usage error.
 */
#include "reader/binlog.h"
#include "reader/rows_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

typedef struct counts {
    uint64_t events, rows, bytes;
} counts;

static int count_change(void *ctx, const binlog_change *ch)
{
    counts *c = ctx;
    c->rows++;
    /* Touch the slices' lengths so nothing is optimized away. */
    c->bytes += 0 * (ch->key.len + ch->value.len);
    return 0;
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static void report(const char *what, const char *mode, int run, const counts *c, double wall,
                   double cpu)
{
    printf("RESULT source=%s mode=%s run=%d events=%llu rows=%llu bytes=%llu wall_s=%.3f "
           "cpu_s=%.3f rows_per_s=%.0f rows_per_cpu_s=%.0f events_per_s=%.0f MB_per_s=%.1f "
           "MB_per_cpu_s=%.1f\n",
           what, mode, run, (unsigned long long)c->events, (unsigned long long)c->rows,
           (unsigned long long)c->bytes, wall, cpu, wall > 0 ? c->rows / wall : 0,
           cpu > 0 ? c->rows / cpu : 0, wall > 0 ? c->events / wall : 0,
           wall > 0 ? c->bytes / 1e6 / wall : 0, cpu > 0 ? c->bytes / 1e6 / cpu : 0);
    fflush(stdout);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* One pass over the files. Returns 0 or a negative code with err set. */
static int run_files(char **files, int nfiles, const char *mode, bool use_mmap, counts *c,
                     rl_err *err)
{
    bool frame = strcmp(mode, "frame") == 0, check = strcmp(mode, "check") == 0;
    for (int i = 0; i < nfiles; i++) {
        binlog_file_t *f = NULL;
        binlog_decoder_t *dec = NULL;
        binlog_handler h = {c, count_change, NULL};
        int rc = binlog_file_open(&f, files[i], err);
        if (rc < 0)
            return rc;
        if (!frame) {
            rc = binlog_decoder_new(&dec, NULL, &h);
            if (rc < 0) {
                binlog_file_close(f);
                return rl_err_set(err, rc, "cannot create a decoder");
            }
            binlog_decoder_set_file(dec, base_name(files[i]));
            if (check)
                binlog__rows_set_check_only(dec, true);
        }
        rl_slice ev;
        while ((rc = use_mmap ? binlog_file_next(f, &ev, err)
                              : binlog_file_next_transient(f, &ev, err)) == 1) {
            c->events++;
            c->bytes += ev.len;
            if (dec && (rc = binlog_decoder_feed(dec, ev, err)) < 0)
                break;
        }
        if (dec) {
            c->rows += binlog__rows_checked(dec);
            binlog_decoder_free(dec);
        }
        binlog_file_close(f);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* One dump from the server, NAME:4 up to the event ending at `until`. */
static int run_stream(const binlog_source_opts *so, const char *file, uint64_t until,
                      const char *mode, counts *c, rl_err *err)
{
    bool bare = strcmp(mode, "bare") == 0, check = strcmp(mode, "check") == 0;
    binlog_start *st = calloc(1, sizeof *st);
    if (!st)
        return rl_err_set(err, -ENOMEM, "out of memory");
    snprintf(st->at.file, sizeof st->at.file, "%s", file);
    st->at.pos = 4;
    binlog_conn_t *conn = NULL;
    binlog_decoder_t *dec = NULL;
    binlog_handler h = {c, count_change, NULL};
    int rc = binlog_conn_open(&conn, so, st, err);
    free(st);
    if (rc < 0)
        return rc;
    if (!bare) {
        rc = binlog_decoder_new(&dec, NULL, &h);
        if (rc < 0) {
            binlog_conn_close(conn);
            return rl_err_set(err, rc, "cannot create a decoder");
        }
        binlog_decoder_set_file(dec, file);
        binlog_decoder_expect_checksum(dec, binlog_conn_checksum_crc32(conn));
        if (check)
            binlog__rows_set_check_only(dec, true);
    }
    rl_slice ev;
    while ((rc = binlog_conn_next(conn, &ev, err)) == 1) {
        c->events++;
        c->bytes += ev.len;
        if (dec && (rc = binlog_decoder_feed(dec, ev, err)) < 0)
            break;
        /* log_pos: bytes 13-16 of the v4 header; 0 on the artificial ROTATE that opens it. */
        if (ev.len >= 19) {
            uint64_t log_pos = (uint64_t)ev.p[13] | (uint64_t)ev.p[14] << 8 |
                               (uint64_t)ev.p[15] << 16 | (uint64_t)ev.p[16] << 24;
            if (log_pos >= until) {
                rc = 0;
                break;
            }
        }
    }
    if (rc == 0 && c->events == 0)
        rc = rl_err_set(err, RL_ESOURCE, "the dump ended before any event");
    if (dec) {
        c->rows += binlog__rows_checked(dec);
        binlog_decoder_free(dec);
    }
    binlog_conn_close(conn);
    return rc < 0 ? rc : 0;
}

static int usage(void)
{
    fputs("usage: decode file [--mode json|check|frame] [--source pread|mmap] [--runs R] "
          "FILE...\n"
          "       decode stream --url URL --file NAME --until POS [--mode json|check|bare] "
          "[--runs R]\n",
          stderr);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage();
    bool stream = strcmp(argv[1], "stream") == 0;
    if (!stream && strcmp(argv[1], "file") != 0)
        return usage();
    const char *mode = "json", *url = NULL, *file = NULL, *source = "pread";
    uint64_t until = 0;
    int runs = 1, a = 2;
    for (; a < argc && strncmp(argv[a], "--", 2) == 0; a += 2) {
        if (a + 1 >= argc)
            return usage();
        if (strcmp(argv[a], "--mode") == 0)
            mode = argv[a + 1];
        else if (strcmp(argv[a], "--runs") == 0)
            runs = atoi(argv[a + 1]);
        else if (strcmp(argv[a], "--source") == 0)
            source = argv[a + 1];
        else if (strcmp(argv[a], "--url") == 0)
            url = argv[a + 1];
        else if (strcmp(argv[a], "--file") == 0)
            file = argv[a + 1];
        else if (strcmp(argv[a], "--until") == 0)
            until = strtoull(argv[a + 1], NULL, 10);
        else
            return usage();
    }
    bool mode_ok = strcmp(mode, "json") == 0 || strcmp(mode, "check") == 0 ||
                   strcmp(mode, stream ? "bare" : "frame") == 0;
    bool use_mmap = strcmp(source, "mmap") == 0;
    if (!use_mmap && strcmp(source, "pread") != 0)
        return usage();
    if (!mode_ok || runs < 1 || (stream && (!url || !file || !until)) ||
        (!stream && a >= argc))
        return usage();
    binlog_source_opts so;
    memset(&so, 0, sizeof so);
    rl_err err = {0, ""};
    if (stream && binlog_source_parse_url(&so, url, &err) < 0) {
        fprintf(stderr, "decode: %s\n", err.msg);
        return 2;
    }
    for (int r = 0; r < runs; r++) {
        counts c = {0, 0, 0};
        double c0 = cpu_s();
        int64_t t0 = rl_mono_ns();
        int rc = stream ? run_stream(&so, file, until, mode, &c, &err)
                        : run_files(argv + a, argc - a, mode, use_mmap, &c, &err);
        double wall = (double)(rl_mono_ns() - t0) / 1e9, cpu = cpu_s() - c0;
        if (rc < 0) {
            fprintf(stderr, "decode: %s\n", err.msg[0] ? err.msg : rl_strerror(rc));
            return 1;
        }
        report(stream ? "stream" : use_mmap ? "file-mmap" : "file", mode, r, &c, wall, cpu);
    }
    return 0;
}
