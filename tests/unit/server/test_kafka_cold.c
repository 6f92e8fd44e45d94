/*
 * test_kafka_cold.c - a Fetch whose record bytes are not in the page cache must not stall
 * the server's loop for other connections (kafka_warm.c), and cold and hot Fetch responses
 * carry exactly the bytes log_store_read gives.
 *
 * The log (about 288 MiB, uncompressed, 64 MiB segments) is written, synced and closed, its
 * files are dropped from the page cache (posix_fadvise(POSIX_FADV_DONTNEED); mincore checks
 * it worked, else the test skips with a message), then reopened under a server. A cold
 * client reads the first four (sealed, cold) segments with one 64 MiB Fetch each while a hot
 * client fetches the tail in a loop; the hot client's latencies while the cold fetches run
 * must stay far below the time a cold fetch takes.
 *
 * RL_TEST_COLD_NO_WARM=1 starts the server with fetch_warm_threads = -1 (cold bytes sent
 * from the loop, as before kafka_warm.c): the latency assertion then fails, which shows the
 * test can fail. RL_TEST_COLD_DIR sets the parent directory of the log (default /var/tmp:
 * it must be on a disk, not tmpfs, for the page cache to be dropped).
 */
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "kafka_log_gen.h"
#include "kafka_test_util.h"

#define TOPIC "cold"
#define SEG_BYTES ((uint64_t)64 << 20)
#define LOG_BYTES ((size_t)288 << 20)
#define VALUE_BYTES 1000
#define COLD_FETCHES 4
#define COLD_MAX ((int32_t)(64 << 20))
#define HOT_MAX ((int32_t)(64 << 10))
#define MAX_LAT 200000

typedef struct fixture {
    char dir[256];
    char logdir[300];
    log_store_t *store;
    kt_server st;
    bool warm_off;
    int64_t bases[8]; /* first offsets of the sealed segments (evict) */
    int nbases;
    int leave_open; /* a client socket closed only after the server stopped (0: none) */
} fixture;

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void open_store(fixture *fx)
{
    log_store_opts lo;
    memset(&lo, 0, sizeof lo);
    lo.compression = LOG_COMPRESSION_NONE;
    lo.partitions = 1;
    lo.segment_bytes = SEG_BYTES;
    rl_err err = {0};
    if (log_store_open(&fx->store, fx->logdir, &lo, &err) != 0)
        fail_msg("log_store_open: %s", err.msg);
}

static void write_log(fixture *fx)
{
    open_store(fx);
    rl_err err = {0};
    if (kg_append_varied(fx->store, TOPIC, LOG_BYTES / (VALUE_BYTES + 64), VALUE_BYTES, 20000,
                         &err) != 0)
        fail_msg("writing the log: %s", err.msg);
    log_store_close(fx->store);
    fx->store = NULL;
}

static int drop_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (type != FTW_F)
        return 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    (void)fdatasync(fd);
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
    return 0;
}


/* Drops the log from the page cache: the pages the open read through the store's mapping
 * are unmapped from this process first (MADV_DONTNEED on the sealed segments' slices:
 * POSIX_FADV_DONTNEED leaves mapped pages alone), then every file is synced and dropped. */
static void evict(fixture *fx)
{
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    int64_t offset = 0;
    fx->nbases = 0;
    for (int i = 0; i < 8; i++) {
        log_read lr;
        memset(&lr, 0, sizeof lr);
        rl_err err = {0};
        if (log_store_read(fx->store, TOPIC, 0, offset, (size_t)SEG_BYTES, &lr, &err) != 0) {
            log_read_release(&lr);
            break;
        }
        if (lr.bytes.len > 0) {
            uintptr_t start = (uintptr_t)lr.bytes.p & ~(pg - 1);
            (void)madvise((void *)start, (uintptr_t)lr.bytes.p + lr.bytes.len - start,
                          MADV_DONTNEED);
        }
        int64_t next = kg_next_offset(lr.bytes);
        log_read_release(&lr);
        if (next <= offset)
            break;
        fx->bases[fx->nbases++] = offset;
        offset = next;
    }
    nftw(fx->logdir, drop_one, 16, FTW_PHYS);
}


static int group_setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    const char *parent = getenv("RL_TEST_COLD_DIR");
    snprintf(fx->dir, sizeof fx->dir, "%s/rowlog-kcold-XXXXXX", parent ? parent : "/var/tmp");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->logdir, sizeof fx->logdir, "%s/log", fx->dir);
    const char *off = getenv("RL_TEST_COLD_NO_WARM");
    fx->warm_off = off && off[0] == '1';
    write_log(fx);
    /* After the open: it reads the segments (and so brings them back into the cache). */
    open_store(fx);
    evict(fx);
    kafka_server_opts ko;
    kafka_server_opts_init(&ko);
    ko.fetch_warm_threads = fx->warm_off ? -1 : 0;
    kt_server_start(&fx->st, fx->store, &ko);
    *state = fx;
    return 0;
}

static int group_teardown(void **state)
{
    fixture *fx = *state;
    kt_server_stop(&fx->st);
    if (fx->leave_open > 0)
        close(fx->leave_open);
    log_store_close(fx->store);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", fx->dir);
    free(fx);
    return 0;
}

/* One Fetch v4 of partition 0 at offset; returns the records (copied into recs) and the high
 * watermark. */
static int64_t fetch(int fd, int32_t corr, int64_t offset, int32_t max_bytes, rl_buf *req,
                     rl_buf *resp, rl_slice *recs)
{
    kt_req_begin(req, 1 /* Fetch */, 4, corr);
    rl_buf_put_be32(req, (uint32_t)-1); /* replica_id */
    rl_buf_put_be32(req, 0);            /* max_wait_ms: answer at once */
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
    rl_reader rd = kt_call(fd, req, resp);
    (void)rl_get_i32be(&rd); /* throttle */
    assert_int_equal(rl_get_i32be(&rd), 1);
    (void)kt_get_str(&rd);
    assert_int_equal(rl_get_i32be(&rd), 1);
    assert_int_equal(rl_get_i32be(&rd), 0);
    assert_int_equal(rl_get_i16be(&rd), 0); /* error_code */
    int64_t hw = rl_get_i64be(&rd);
    (void)rl_get_i64be(&rd);                /* last_stable_offset */
    assert_int_equal(rl_get_i32be(&rd), 0); /* aborted_transactions */
    int32_t n = rl_get_i32be(&rd);
    assert_true(n >= 0);
    *recs = rl_get_bytes(&rd, (size_t)n);
    assert_false(rd.err);
    return hw;
}

/* The response's records must be the bytes log_store_read gives for the same request. */
static void check_same_bytes(fixture *fx, int64_t offset, int32_t max_bytes, rl_slice recs)
{
    log_read lr;
    memset(&lr, 0, sizeof lr);
    rl_err err = {0};
    if (log_store_read(fx->store, TOPIC, 0, offset, (size_t)max_bytes, &lr, &err) != 0)
        fail_msg("log_store_read: %s", err.msg);
    assert_int_equal(lr.bytes.len, recs.len);
    assert_true(memcmp(lr.bytes.p, recs.p, recs.len) == 0);
    log_read_release(&lr);
}


typedef struct hot_ctx {
    fixture *fx;
    unsigned port;
    int64_t tail;
    _Atomic bool stop;
    _Atomic bool measuring;
    int64_t *lat_us; /* round trips while measuring */
    size_t nlat;
} hot_ctx;

static void *hot_main(void *arg)
{
    hot_ctx *h = arg;
    int fd = kt_connect(h->port);
    rl_buf req = {0}, resp = {0};
    rl_slice recs;
    int32_t corr = 1;
    /* Warm-up: the tail is read (and warmed) once before measuring. */
    (void)fetch(fd, corr++, h->tail, HOT_MAX, &req, &resp, &recs);
    check_same_bytes(h->fx, h->tail, HOT_MAX, recs);
    assert_true(recs.len > 0);
    while (!atomic_load(&h->stop)) {
        bool m = atomic_load(&h->measuring);
        int64_t t0 = now_us();
        (void)fetch(fd, corr++, h->tail, HOT_MAX, &req, &resp, &recs);
        int64_t dt = now_us() - t0;
        if (m && atomic_load(&h->measuring) && h->nlat < MAX_LAT)
            h->lat_us[h->nlat++] = dt;
    }
    rl_buf_free(&req);
    rl_buf_free(&resp);
    close(fd);
    return NULL;
}

/* A cold client: one Fetch of a whole sealed segment, started with the others. */
typedef struct cold_ctx {
    unsigned port;
    int64_t offset;
    pthread_barrier_t *bar;
    rl_buf resp;
    rl_slice recs;
    int64_t dt_us;
} cold_ctx;

static void *cold_main(void *arg)
{
    cold_ctx *c = arg;
    int fd = kt_connect(c->port);
    rl_buf req = {0};
    pthread_barrier_wait(c->bar);
    int64_t t0 = now_us();
    (void)fetch(fd, 100, c->offset, COLD_MAX, &req, &c->resp, &c->recs);
    c->dt_us = now_us() - t0;
    rl_buf_free(&req);
    close(fd);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void test_cold_fetch_does_not_stall(void **state)
{
    fixture *fx = *state;
    /* Did dropping the page cache work? The first segment's bytes as the server will read
     * them. */
    log_read lr;
    memset(&lr, 0, sizeof lr);
    rl_err err = {0};
    if (log_store_read(fx->store, TOPIC, 0, 0, (size_t)COLD_MAX, &lr, &err) != 0)
        fail_msg("log_store_read: %s", err.msg);
    double res = kg_resident(lr.bytes);
    assert_true(res >= 0);
    log_read_release(&lr);
    int64_t log_start, hw;
    assert_int_equal(log_store_offsets(fx->store, TOPIC, 0, &log_start, &hw), 0);
    fprintf(stderr, "cold: %s, high watermark %" PRId64 ", first segment %.1f%% resident\n",
            fx->warm_off ? "warming OFF" : "warming on", hw, res * 100);
    if (res > 0.50) {
        fprintf(stderr,
                "the kernel kept the log in the page cache after POSIX_FADV_DONTNEED "
                "(filesystem %s): nothing cold to test\n",
                fx->dir);
        skip();
    }

    hot_ctx h;
    memset(&h, 0, sizeof h);
    h.fx = fx;
    h.port = fx->st.port;
    h.tail = hw - 1;
    h.lat_us = calloc(MAX_LAT, sizeof *h.lat_us);
    assert_non_null(h.lat_us);
    pthread_t ht;
    assert_int_equal(pthread_create(&ht, NULL, hot_main, &h), 0);
    kt_sleep_ms(200);

    /* The cold clients: one per sealed segment (the last one is the active segment, warm
     * from the open's scan), all at once. */
    int ncold = fx->nbases - 1 < COLD_FETCHES ? fx->nbases - 1 : COLD_FETCHES;
    assert_true(ncold >= 2);
    cold_ctx cc[COLD_FETCHES];
    pthread_t ct[COLD_FETCHES];
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)ncold + 1);
    for (int i = 0; i < ncold; i++) {
        memset(&cc[i], 0, sizeof cc[i]);
        cc[i].port = fx->st.port;
        cc[i].offset = fx->bases[i];
        cc[i].bar = &bar;
        assert_int_equal(pthread_create(&ct[i], NULL, cold_main, &cc[i]), 0);
    }
    int tid = atomic_load(&fx->st.loop_tid);
    long flt0 = kg_thread_majflt(tid);
    long long rb0 = kg_thread_read_bytes(tid);
    atomic_store(&h.measuring, true);
    int64_t t0 = now_us();
    pthread_barrier_wait(&bar);
    int64_t cold_max_us = 0;
    for (int i = 0; i < ncold; i++) {
        pthread_join(ct[i], NULL);
        if (cc[i].dt_us > cold_max_us)
            cold_max_us = cc[i].dt_us;
    }
    int64_t cold_total_us = now_us() - t0;
    long flt1 = kg_thread_majflt(tid);
    long long rb1 = kg_thread_read_bytes(tid);
    atomic_store(&h.measuring, false);
    atomic_store(&h.stop, true);
    pthread_join(ht, NULL);
    pthread_barrier_destroy(&bar);
    size_t cold_bytes = 0;
    for (int i = 0; i < ncold; i++) {
        rl_slice recs = cc[i].recs;
        cold_bytes += recs.len;
        fprintf(stderr, "cold fetch at offset %" PRId64 ": %zu bytes in %.1f ms\n", cc[i].offset,
                recs.len, (double)cc[i].dt_us / 1000);
        assert_true(recs.len > ((size_t)SEG_BYTES / 2));
        check_same_bytes(fx, cc[i].offset, COLD_MAX, recs);
        assert_int_equal(kg_next_offset(recs), i + 1 < fx->nbases ? fx->bases[i + 1] : -1);
        rl_buf_free(&cc[i].resp);
    }

    kafka_server_stats ks;
    kafka_server_stats_get(fx->st.srv, &ks);
    assert_true(h.nlat > 0);
    qsort(h.lat_us, h.nlat, sizeof *h.lat_us, cmp_i64);
    int64_t p50 = h.lat_us[h.nlat / 2], p99 = h.lat_us[h.nlat * 99 / 100];
    int64_t mx = h.lat_us[h.nlat - 1];
    int64_t p999 = h.lat_us[h.nlat * 999 / 1000];
    size_t over5 = 0, over10 = 0;
    int64_t stall_us = 0;
    for (size_t i = 0; i < h.nlat; i++) {
        over5 += h.lat_us[i] > 5000;
        over10 += h.lat_us[i] > 10000;
        if (h.lat_us[i] > 5000)
            stall_us += h.lat_us[i];
    }
    fprintf(stderr, "hot: p99.9 %.2f ms, %zu over 5 ms, %zu over 10 ms, %.1f ms in those\n",
            (double)p999 / 1000, over5, over10, (double)stall_us / 1000);
    fprintf(stderr,
            "hot: %zu round trips during %.1f ms of cold fetches (slowest cold fetch %.1f ms): "
            "p50 %.2f ms, p99 %.2f ms, max %.2f ms; fetch_cold %" PRIu64
            ", fetch_warm_ns %.1f ms\n",
            h.nlat, (double)cold_total_us / 1000, (double)cold_max_us / 1000, (double)p50 / 1000,
            (double)p99 / 1000, (double)mx / 1000, ks.fetch_cold, (double)ks.fetch_warm_ns / 1e6);
    free(h.lat_us);
    fprintf(stderr,
            "loop thread: %ld major page faults, %lld bytes read from storage during the cold "
            "fetches\n",
            flt1 - flt0, rb1 - rb0);
    /* The point: the loop thread never waited for the disk. Every cold page was faulted in
     * by an I/O thread before the loop sent it, so the loop took no major fault (without
     * kafka_warm.c, RL_TEST_COLD_NO_WARM=1, it takes one per readahead window: this fails). */
    if (flt0 < 0 || flt1 < 0) {
        fprintf(stderr, "/proc/self/task/%d/stat unreadable: fault check skipped\n", tid);
    } else {
        assert_int_equal(flt1 - flt0, 0);
    }
    /* Records go out with sendfile, which reads missing pages on the calling thread without
     * a fault: the loop must not have read the cold bytes from storage either (without
     * kafka_warm.c it reads nearly all of them). Batch headers read by log_store_read on the
     * loop may cost a few readahead windows. */
    if (rb0 < 0 || rb1 < 0)
        fprintf(stderr, "/proc/self/task/%d/io unreadable: storage read check skipped\n", tid);
    else
        assert_true((unsigned long long)(rb1 - rb0) < cold_bytes / 8);
    assert_true(ks.fetch_cold >= (uint64_t)ncold);
    assert_true(ks.fetch_warm_ns > 0);
    /* And the hot client kept being answered meanwhile. */
    assert_true(h.nlat >= 10);
}

/* A fetch of resident data answers at once, with the same bytes and no warming counted. */
static void test_hot_fetch_same_bytes(void **state)
{
    fixture *fx = *state;
    int64_t log_start, hw;
    assert_int_equal(log_store_offsets(fx->store, TOPIC, 0, &log_start, &hw), 0);
    int fd = kt_connect(fx->st.port);
    rl_buf req = {0}, resp = {0};
    rl_slice recs;
    int64_t offset = hw - 100;
    (void)fetch(fd, 1, offset, 1 << 20, &req, &resp, &recs);
    check_same_bytes(fx, offset, 1 << 20, recs);
    kafka_server_stats before, after;
    kafka_server_stats_get(fx->st.srv, &before);
    (void)fetch(fd, 2, offset, 1 << 20, &req, &resp, &recs);
    check_same_bytes(fx, offset, 1 << 20, recs);
    assert_true(recs.len > 0);
    kafka_server_stats_get(fx->st.srv, &after);
    assert_int_equal(after.fetch_cold, before.fetch_cold);
    close(fd);
    rl_buf_free(&req);
    rl_buf_free(&resp);
}

static uint64_t cold_count(fixture *fx)
{
    kafka_server_stats ks;
    kafka_server_stats_get(fx->st.srv, &ks);
    return ks.fetch_cold;
}

/* Connections that go away while their response is warmed, and a server stopped while one
 * is: the pins move to the job and are released when the thread is done (ASan and the
 * store's "pin still held" check at close would see a leak or a use after free). */
static void test_close_and_stop_while_warming(void **state)
{
    fixture *fx = *state;
    evict(fx);
    uint64_t c0 = cold_count(fx);
    rl_buf req = {0}, resp = {0};
    /* B asks for a cold segment and hangs up at once. */
    int b = kt_connect(fx->st.port);
    kt_req_begin(&req, 1, 4, 7);
    rl_buf_put_be32(&req, (uint32_t)-1);
    rl_buf_put_be32(&req, 0);
    rl_buf_put_be32(&req, 0);
    rl_buf_put_be32(&req, (uint32_t)COLD_MAX);
    rl_buf_putc(&req, 0);
    rl_buf_put_be32(&req, 1);
    kt_put_str(&req, TOPIC);
    rl_buf_put_be32(&req, 1);
    rl_buf_put_be32(&req, 0);
    rl_buf_put_be64(&req, (uint64_t)fx->bases[1]);
    rl_buf_put_be32(&req, (uint32_t)COLD_MAX);
    kt_req_end(&req);
    assert_true(kt_send(b, req.p, req.len));
    for (int i = 0; i < 200 && cold_count(fx) == c0; i++)
        kt_sleep_ms(5);
    close(b);
    /* The server goes on: another client is answered, with the right bytes. */
    int c = kt_connect(fx->st.port);
    int64_t log_start, hw;
    assert_int_equal(log_store_offsets(fx->store, TOPIC, 0, &log_start, &hw), 0);
    rl_slice recs;
    (void)fetch(c, 1, hw - 1, HOT_MAX, &req, &resp, &recs);
    check_same_bytes(fx, hw - 1, HOT_MAX, recs);
    close(c);
    /* A asks for another cold segment and does not read: the group teardown stops the
     * server while it is (most likely) still being warmed. */
    int a = kt_connect(fx->st.port);
    kt_req_begin(&req, 1, 4, 8);
    rl_buf_put_be32(&req, (uint32_t)-1);
    rl_buf_put_be32(&req, 0);
    rl_buf_put_be32(&req, 0);
    rl_buf_put_be32(&req, (uint32_t)COLD_MAX);
    rl_buf_putc(&req, 0);
    rl_buf_put_be32(&req, 1);
    kt_put_str(&req, TOPIC);
    rl_buf_put_be32(&req, 1);
    rl_buf_put_be32(&req, 0);
    rl_buf_put_be64(&req, (uint64_t)fx->bases[2]);
    rl_buf_put_be32(&req, (uint32_t)COLD_MAX);
    kt_req_end(&req);
    assert_true(kt_send(a, req.p, req.len));
    uint64_t c1 = cold_count(fx);
    for (int i = 0; i < 200 && cold_count(fx) == c1; i++)
        kt_sleep_ms(5);
    assert_true(cold_count(fx) >= c0 + 2);
    fx->leave_open = a;
    rl_buf_free(&req);
    rl_buf_free(&resp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* In this order: the first needs the log cold, the second reads it warm. */
        cmocka_unit_test(test_cold_fetch_does_not_stall),
        cmocka_unit_test(test_hot_fetch_same_bytes),
        cmocka_unit_test(test_close_and_stop_while_warming),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
