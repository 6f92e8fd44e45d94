/*
 * test_kafka_rfds.c - Fetch through a store that keeps at most read_fds_max segment read
 * descriptors open (log/segment.c "Read descriptors", log_read_fd):
 *   - a partition of many more segments than the cap, read from start to end fetch by fetch
 *     with sendfile: every response is byte-identical to log_store_read's mapped bytes, all
 *     of it went out with sendfile, the store never has more than the cap open (its counter
 *     and /proc/self/fd both), and descriptors were closed to make room;
 *   - more responses queued at once (clients that do not read) than the cap: the store
 *     still holds at most the cap, the asks beyond it are refused and those responses go out
 *     from the mapping, and every client then gets the right bytes.
 * Before the cap, every segment read kept its descriptor until the segment went: the first
 * test's descriptor count grew with the segments read.
 */
#include <dirent.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "kafka_log_gen.h"
#include "kafka_test_util.h"

#define TOPIC "rf"
#define SEG_BYTES ((uint64_t)1 << 20) /* the smallest the store takes: many segments */
#define BIG_SEG_BYTES ((uint64_t)8 << 20) /* responses larger than a socket's send buffer */
#define MAX_SEGS 128
#define VALUE_BYTES 500
#define FDS_MAX 4

typedef struct fixture {
    char dir[256];
    char logdir[300];
    log_store_t *store;
    kt_server st;
    int nsegs;
    int64_t bases[MAX_SEGS]; /* base offsets of the segments, ascending */
} fixture;

/* Descriptors this process has open now. */
static int fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Lists the segment files' base offsets (their names) into bases; returns how many. */
static int list_segments(const char *pdir, int64_t *bases)
{
    DIR *d = opendir(pdir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l > 4 && !strcmp(e->d_name + l - 4, ".log")) {
            assert_true(n < MAX_SEGS);
            bases[n++] = strtoll(e->d_name, NULL, 10);
        }
    }
    closedir(d);
    qsort(bases, (size_t)n, sizeof *bases, cmp_i64);
    return n;
}

/* About `bytes` of uncompressed records in segments of seg_bytes, 64 KiB batches, a store
 * that keeps FDS_MAX read descriptors, and a server on it. */
static void start(fixture *fx, size_t bytes, uint64_t seg_bytes)
{
    memset(fx, 0, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/rowlog-krf-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->logdir, sizeof fx->logdir, "%s/log", fx->dir);
    log_store_opts lo;
    memset(&lo, 0, sizeof lo);
    lo.compression = LOG_COMPRESSION_NONE;
    lo.partitions = 1;
    lo.segment_bytes = seg_bytes;
    lo.batch_bytes = (size_t)64 << 10;
    lo.read_fds_max = FDS_MAX;
    rl_err err = {0};
    if (log_store_open(&fx->store, fx->logdir, &lo, &err) != 0)
        fail_msg("log_store_open: %s", err.msg);
    if (kg_append_varied(fx->store, TOPIC, bytes / (VALUE_BYTES + 40), VALUE_BYTES, 500, &err) !=
        0)
        fail_msg("writing the log: %s", err.msg);
    char pdir[400];
    snprintf(pdir, sizeof pdir, "%s/%s-0", fx->logdir, TOPIC);
    fx->nsegs = list_segments(pdir, fx->bases);
    kafka_server_opts ko;
    kafka_server_opts_init(&ko);
    kt_server_start(&fx->st, fx->store, &ko);
}

static void finish(fixture *fx)
{
    kt_server_stop(&fx->st);
    log_store_close(fx->store);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", fx->dir);
}

/* A Fetch v4 request of partition 0 of TOPIC at offset (answered at once). */
static void fetch_req(rl_buf *req, int32_t corr, int64_t offset, int32_t max_bytes)
{
    kt_req_begin(req, 1 /* Fetch */, 4, corr);
    rl_buf_put_be32(req, (uint32_t)-1); /* replica_id */
    rl_buf_put_be32(req, 0);            /* max_wait_ms */
    rl_buf_put_be32(req, 0);            /* min_bytes */
    rl_buf_put_be32(req, (uint32_t)max_bytes);
    rl_buf_putc(req, 0); /* isolation_level */
    rl_buf_put_be32(req, 1);
    kt_put_str(req, TOPIC);
    rl_buf_put_be32(req, 1);
    rl_buf_put_be32(req, 0); /* partition */
    rl_buf_put_be64(req, (uint64_t)offset);
    rl_buf_put_be32(req, (uint32_t)max_bytes);
    kt_req_end(req);
}

/* The records of the one partition of a Fetch v4 response frame for corr (error 0). */
static rl_slice fetch_records(rl_slice frame, int32_t corr)
{
    rl_reader rd = rl_reader_make(frame);
    assert_int_equal(rl_get_i32be(&rd), corr);
    (void)rl_get_i32be(&rd); /* throttle */
    assert_int_equal(rl_get_i32be(&rd), 1);
    (void)kt_get_str(&rd);
    assert_int_equal(rl_get_i32be(&rd), 1);
    assert_int_equal(rl_get_i32be(&rd), 0);
    assert_int_equal(rl_get_i16be(&rd), 0); /* error_code */
    (void)rl_get_i64be(&rd);                /* high watermark */
    (void)rl_get_i64be(&rd);                /* last_stable_offset */
    assert_int_equal(rl_get_i32be(&rd), 0); /* aborted_transactions */
    int32_t n = rl_get_i32be(&rd);
    assert_true(n >= 0);
    rl_slice recs = rl_get_bytes(&rd, (size_t)n);
    assert_false(rd.err);
    assert_int_equal(rl_reader_left(&rd), 0);
    return recs;
}

/* Copy of what log_store_read gives (the expected records). */
static void expected(log_store_t *store, int64_t offset, size_t max_bytes, rl_buf *out)
{
    log_read lr;
    memset(&lr, 0, sizeof lr);
    rl_err err = {0};
    if (log_store_read(store, TOPIC, 0, offset, max_bytes, &lr, &err) != 0)
        fail_msg("log_store_read: %s", err.msg);
    rl_buf_reset(out);
    rl_buf_append(out, lr.bytes.p, lr.bytes.len);
    assert_true(rl_buf_ok(out));
    log_read_release(&lr);
}

/* Offset after the last record of a RecordBatch run (bytes whole batches). */
static int64_t next_offset(rl_slice recs)
{
    int64_t next = -1;
    rl_reader rd = rl_reader_make(recs);
    while (rl_reader_left(&rd) >= 61) {
        int64_t base = rl_get_i64be(&rd);
        int32_t len = rl_get_i32be(&rd);
        assert_true(len >= 49 && (size_t)len <= rl_reader_left(&rd));
        rl_reader rb = rl_reader_make(rl_get_bytes(&rd, (size_t)len));
        rl_reader_skip(&rb, 9); /* leader epoch, magic, crc */
        (void)rl_get_i16be(&rb);
        int32_t last_delta = rl_get_i32be(&rb);
        next = base + last_delta + 1;
    }
    assert_int_equal(rl_reader_left(&rd), 0);
    return next;
}

static uint64_t sendfile_bytes(const kt_server *st)
{
    kafka_server_stats ks;
    kafka_server_stats_get(st->srv, &ks);
    return ks.fetch_sendfile_bytes;
}

static log_store_stats store_stats(log_store_t *store)
{
    log_store_stats s;
    log_store_stats_get(store, &s);
    return s;
}

/* ------------------------------------------------------------------ tests */

static void test_many_segments_bounded(void **state)
{
    (void)state;
    fixture fx;
    start(&fx, (size_t)24 << 20, SEG_BYTES);
    assert_true(fx.nsegs >= 4 * FDS_MAX); /* many more segments than descriptors */
    int base_fds = fd_count();
    assert_true(base_fds > 0);
    int fd = kt_connect(fx.st.port);
    int64_t ls = 0, hw = 0;
    assert_int_equal(log_store_offsets(fx.store, TOPIC, 0, &ls, &hw), 0);
    rl_buf req = {0}, resp = {0}, want = {0};
    int64_t off = 0;
    int32_t corr = 1;
    uint64_t records = 0;
    int max_fds = 0;
    while (off < hw) {
        const int32_t max_bytes = 300 << 10;
        fetch_req(&req, corr, off, max_bytes);
        assert_true(kt_send(fd, req.p, req.len));
        kt_recv_frame(fd, &resp);
        rl_slice recs = fetch_records(rl_buf_slice(&resp), corr);
        assert_true(recs.len > 0);
        expected(fx.store, off, (size_t)max_bytes, &want);
        assert_int_equal(recs.len, want.len);
        assert_memory_equal(recs.p, want.p, recs.len);
        records += recs.len;
        int64_t next = next_offset(recs);
        assert_true(next > off);
        off = next;
        corr++;
        int n = fd_count();
        if (n > max_fds)
            max_fds = n;
        assert_true(store_stats(fx.store).read_fds_open <= FDS_MAX);
    }
    assert_int_equal(off, hw);
    /* Everything went out with sendfile (none from the mapping for want of a descriptor).
     * The counter is added after sendfile returns: wait for it. */
    int64_t deadline = kt_now_ms() + 20000;
    while (sendfile_bytes(&fx.st) < records && kt_now_ms() < deadline)
        kt_sleep_ms(2);
    log_store_stats s = store_stats(fx.store);
    fprintf(stderr, "segments %d: read descriptors open %" PRIu64 ", opened %" PRIu64
            ", evicted %" PRIu64 ", refused %" PRIu64 ", gone %" PRIu64 "; process fds %d..%d\n",
            fx.nsegs, s.read_fds_open, s.read_fds_opened, s.read_fds_evicted,
            s.read_fds_refused, s.read_fds_gone, base_fds, max_fds);
    assert_int_equal(sendfile_bytes(&fx.st), records);
    assert_true(s.read_fds_open <= FDS_MAX);
    assert_true(s.read_fds_opened >= (uint64_t)fx.nsegs);
    assert_true(s.read_fds_evicted >= (uint64_t)(fx.nsegs - FDS_MAX));
    assert_int_equal(s.read_fds_refused, 0);
    /* The process: the client socket and its accepted one, and at most FDS_MAX segment
     * descriptors beyond what it had before the first fetch (which may already hold some). */
    assert_true(max_fds <= base_fds + 2 + FDS_MAX);
    close(fd);
    rl_buf_free(&req);
    rl_buf_free(&resp);
    rl_buf_free(&want);
    finish(&fx);
}

#define HELD 8 /* clients whose responses stay queued at once */

static void test_queued_beyond_cap(void **state)
{
    (void)state;
    fixture fx;
    start(&fx, (size_t)(HELD + 1) * BIG_SEG_BYTES, BIG_SEG_BYTES);
    assert_true(fx.nsegs > HELD);
    int64_t ls = 0, hw = 0;
    assert_int_equal(log_store_offsets(fx.store, TOPIC, 0, &ls, &hw), 0);
    int fds[HELD];
    rl_buf want[HELD];
    memset(want, 0, sizeof want);
    rl_buf req = {0}, resp = {0};
    uint64_t total = 0;
    /* Most of a segment: more than a socket's send buffer (tcp_wmem's largest, 4 MiB, here)
     * and the client's receive buffer take, so each response stays queued. */
    const int32_t max_bytes = 7 << 20;
    kafka_server_stats k0;
    kafka_server_stats_get(fx.st.srv, &k0);
    for (int i = 0; i < HELD; i++) {
        /* The start of each of HELD different sealed segments. */
        int64_t off = fx.bases[i];
        expected(fx.store, off, (size_t)max_bytes, &want[i]);
        assert_true(want[i].len > ((size_t)6 << 20));
        total += want[i].len;
        fds[i] = kt_connect_rcvbuf(fx.st.port, 4096);
        fetch_req(&req, 100 + i, off, max_bytes);
        assert_true(kt_send(fds[i], req.p, req.len));
    }
    /* Every response queued (counted when queued), none read yet. */
    kafka_server_stats ks;
    int64_t deadline = kt_now_ms() + 30000;
    do {
        kt_sleep_ms(5);
        kafka_server_stats_get(fx.st.srv, &ks);
    } while (ks.fetch_record_bytes - k0.fetch_record_bytes < total && kt_now_ms() < deadline);
    assert_int_equal(ks.fetch_record_bytes - k0.fetch_record_bytes, total);
    log_store_stats s = store_stats(fx.store);
    assert_true(s.read_fds_open <= FDS_MAX);
    assert_true(s.read_fds_refused >= (uint64_t)(HELD - FDS_MAX));
    for (int i = 0; i < HELD; i++) {
        kt_recv_frame(fds[i], &resp);
        rl_slice recs = fetch_records(rl_buf_slice(&resp), 100 + i);
        assert_int_equal(recs.len, want[i].len);
        assert_memory_equal(recs.p, want[i].p, recs.len);
        close(fds[i]);
        rl_buf_free(&want[i]);
    }
    /* Some went out from the mapping (the refused ones), some with sendfile. */
    kafka_server_stats_get(fx.st.srv, &ks);
    assert_true(ks.fetch_sendfile_bytes - k0.fetch_sendfile_bytes < total);
    assert_true(ks.fetch_sendfile_bytes - k0.fetch_sendfile_bytes > 0);
    /* Every use was given back: the descriptors are reusable, a new read gets one. */
    int fd = kt_connect(fx.st.port);
    fetch_req(&req, 1, 0, 1);
    assert_true(kt_send(fd, req.p, req.len));
    kt_recv_frame(fd, &resp);
    assert_true(fetch_records(rl_buf_slice(&resp), 1).len > 0);
    assert_int_equal(store_stats(fx.store).read_fds_refused, s.read_fds_refused);
    close(fd);
    rl_buf_free(&req);
    rl_buf_free(&resp);
    finish(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_segments_bounded),
        cmocka_unit_test(test_queued_beyond_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
