/* Unit tests for the log store's policies: flush (commit / interval / os). Each test uses its
 * own temporary directory. */
#include <time.h>

#include "log_test_util.h"

static void count_hook(void *ctx)
{
    (*(int *)ctx)++;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void expect_ckpt(log_store_t *st, const char *want)
{
    rl_buf blob = RL_BUF_INIT;
    if (!want) {
        assert_int_equal(log_store_checkpoint(st, &blob), RL_ENOTFOUND);
    } else {
        assert_int_equal(log_store_checkpoint(st, &blob), 0);
        assert_int_equal(blob.len, strlen(want));
        assert_memory_equal(blob.p, want, blob.len);
    }
    rl_buf_free(&blob);
}

static void append_n(log_store_t *st, const char *topic, int n, int64_t ts)
{
    for (int i = 0; i < n; i++)
        tu_append(st, topic, rl_slice_str("k"), rl_slice_str("value"), ts + i);
}

/* Interval: commits are written but become durable and visible (checkpoint, high watermark,
 * hook) only at the interval or log_store_sync; a reopen keeps only what was synced. */
static void test_flush_interval(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    log_store_opts o = {
        .compression = LOG_COMPRESSION_LZ4, .flush = LOG_FLUSH_INTERVAL, .flush_interval_ms = 300};
    log_store_t *st = tu_open(dir, &o);
    int hooks = 0;
    log_store_set_commit_hook(st, count_hook, &hooks);
    assert_int_equal(log_store_sync_due(st), -1);
    append_n(st, "t", 10, 1000);
    tu_commit(st, "a");
    assert_int_equal(tu_hwm(st, "t"), 0); /* written, not fsynced: invisible */
    expect_ckpt(st, NULL);
    assert_int_equal(hooks, 0);
    int64_t due = log_store_sync_due(st);
    assert_true(due > 0 && due <= 300);
    append_n(st, "t", 5, 2000);
    tu_commit(st, "b"); /* still inside the interval: pending too */
    assert_int_equal(tu_hwm(st, "t"), 0);
    rl_err err = {0, ""};
    assert_int_equal(log_store_sync(st, &err), 0);
    assert_int_equal(tu_hwm(st, "t"), 15);
    expect_ckpt(st, "b");
    assert_int_equal(hooks, 1);
    assert_int_equal(log_store_sync_due(st), -1);
    assert_int_equal(log_store_sync(st, &err), 0); /* nothing pending */
    assert_int_equal(hooks, 1);

    /* A repeated commit (no appends, same checkpoint) syncs once the interval has passed. */
    append_n(st, "t", 3, 3000);
    tu_commit(st, "c");
    assert_int_equal(tu_hwm(st, "t"), 15);
    tu_commit(st, "c");
    assert_int_equal(tu_hwm(st, "t"), 15);
    sleep_ms(350);
    assert_int_equal(log_store_sync_due(st), 0);
    tu_commit(st, "c");
    assert_int_equal(tu_hwm(st, "t"), 18);
    expect_ckpt(st, "c");
    assert_int_equal(hooks, 2);

    /* A commit after the interval is durable at once. */
    sleep_ms(350);
    append_n(st, "t", 2, 4000);
    tu_commit(st, "d");
    assert_int_equal(tu_hwm(st, "t"), 20);
    expect_ckpt(st, "d");

    /* Abort drops pending commits too (the source re-reads from the durable checkpoint). */
    append_n(st, "t", 4, 5000);
    tu_commit(st, "e");
    assert_int_equal(log_store_abort(st, &err), 0);
    assert_int_equal(log_store_sync_due(st), -1);
    assert_int_equal(log_store_sync(st, &err), 0);
    assert_int_equal(tu_hwm(st, "t"), 20);
    expect_ckpt(st, "d");
    append_n(st, "t", 1, 6000);
    tu_commit(st, "f"); /* pending at close: lost, as in a crash */
    log_store_close(st);

    st = tu_open(dir, &o);
    expect_ckpt(st, "d");
    tu_recs got = {0};
    tu_read_partition(st, "t", 0, 1 << 20, &got);
    assert_int_equal(got.n, 20);
    assert_int_equal(got.r[19].ts, 4001);
    tu_recs_free(&got);
    log_store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

/* OS: every commit is visible at once and survives a reopen (no power loss here). */
static void test_flush_os(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    log_store_opts o = {.compression = LOG_COMPRESSION_ZSTD, .flush = LOG_FLUSH_OS};
    log_store_t *st = tu_open(dir, &o);
    append_n(st, "t", 7, 1);
    tu_commit(st, "x");
    assert_int_equal(tu_hwm(st, "t"), 7);
    expect_ckpt(st, "x");
    assert_int_equal(log_store_sync_due(st), -1);
    append_n(st, "t", 3, 100);
    tu_commit(st, "y");
    append_n(st, "t", 3, 200); /* never committed */
    log_store_close(st);
    st = tu_open(dir, &o);
    expect_ckpt(st, "y");
    assert_int_equal(tu_hwm(st, "t"), 10);
    log_store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

/* Segments roll by age at the first write after segment_ms, and not before. */
static void test_segment_ms(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    log_store_opts o = {.compression = LOG_COMPRESSION_NONE, .segment_ms = 200};
    log_store_t *st = tu_open(dir, &o);
    append_n(st, "t", 3, 1);
    tu_commit(st, "a");
    append_n(st, "t", 3, 2);
    tu_commit(st, "b");
    assert_int_equal(tu_part(st, "t", 0)->nsegs, 1);
    sleep_ms(250);
    assert_int_equal(tu_part(st, "t", 0)->nsegs, 1); /* no write, no roll */
    append_n(st, "t", 2, 3);
    tu_commit(st, "c");
    log_partition *p = tu_part(st, "t", 0);
    assert_int_equal(p->nsegs, 2);
    assert_int_equal(p->segs[1]->base, 6);
    append_n(st, "t", 2, 4);
    tu_commit(st, "d");
    assert_int_equal(p->nsegs, 2);
    tu_recs got = {0};
    tu_read_partition(st, "t", 0, 1 << 20, &got);
    assert_int_equal(got.n, 10);
    tu_recs_free(&got);
    log_store_close(st);
    /* A recovered active segment counts its age from the open. */
    st = tu_open(dir, &o);
    append_n(st, "t", 1, 5);
    tu_commit(st, "e");
    assert_int_equal(tu_part(st, "t", 0)->nsegs, 2);
    sleep_ms(250);
    append_n(st, "t", 1, 6);
    tu_commit(st, "f");
    assert_int_equal(tu_part(st, "t", 0)->nsegs, 3);
    tu_read_partition(st, "t", 0, 1 << 20, &got);
    assert_int_equal(got.n, 12);
    tu_recs_free(&got);
    log_store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

static void test_flush_opts(void **state)
{
    (void)state;
    assert_int_equal(log_flush_parse("commit"), LOG_FLUSH_COMMIT);
    assert_int_equal(log_flush_parse("Interval"), LOG_FLUSH_INTERVAL);
    assert_int_equal(log_flush_parse("os"), LOG_FLUSH_OS);
    assert_int_equal(log_flush_parse("never"), RL_ECONFIG);
    assert_int_equal(log_flush_parse(NULL), RL_ECONFIG);
    char *dir = tu_tmpdir();
    log_store_t *st = NULL;
    rl_err err = {0, ""};
    log_store_opts bad = {.flush = 7};
    assert_int_equal(log_store_open(&st, dir, &bad, &err), RL_ECONFIG);
    log_store_opts bad2 = {.flush = LOG_FLUSH_INTERVAL, .flush_interval_ms = 3600001};
    assert_int_equal(log_store_open(&st, dir, &bad2, &err), RL_ECONFIG);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flush_interval),
        cmocka_unit_test(test_flush_os),
        cmocka_unit_test(test_segment_ms),
        cmocka_unit_test(test_flush_opts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
