/* Unit tests for write failures (issue: disk full, EIO, fsync failure), injected through the
 * store's log_io hooks: the store refuses further appends and commits with the first error
 * (naming the segment), never publishes what was not made durable, keeps what was written
 * readable, and a reopen resumes from the last durable checkpoint. */
#include "log_test_util.h"

typedef struct fault {
    int pwrite_ok;    /* pwrite calls that succeed before the failing one (-1: all) */
    bool partial;     /* the failing call first writes half of its bytes */
    int pwrite_errno; /* errno of the failing pwrite */
    int sync_ok;      /* syncs that succeed before failures start (-1: all) */
    int sync_errno;
    bool only_full_fsync; /* fail fsync (segment seal) but not fdatasync */
    int pwrites, syncs;   /* calls seen */
} fault;

static ssize_t fault_pwrite(void *ctx, int fd, const void *p, size_t n, off_t at)
{
    fault *f = ctx;
    f->pwrites++;
    if (f->pwrite_ok < 0 || f->pwrites <= f->pwrite_ok)
        return pwrite(fd, p, n, at);
    if (f->partial && n > 1) {
        f->partial = false;
        return pwrite(fd, p, n / 2, at); /* a short write; the next call fails */
    }
    errno = f->pwrite_errno;
    return -1;
}

static int fault_sync(void *ctx, int fd, bool data_only)
{
    fault *f = ctx;
    f->syncs++;
    if (f->sync_ok < 0 || (f->only_full_fsync && data_only) || f->syncs <= f->sync_ok)
        return data_only ? fdatasync(fd) : fsync(fd);
    errno = f->sync_errno;
    return -1;
}

static void inject(log_store_t *st, fault *f)
{
    st->io.pwrite = fault_pwrite;
    st->io.sync = fault_sync;
    st->io.ctx = f;
}

static void expect_ckpt(log_store_t *st, const char *want)
{
    rl_buf blob = RL_BUF_INIT;
    assert_int_equal(log_store_checkpoint(st, &blob), 0);
    assert_int_equal(blob.len, strlen(want));
    assert_memory_equal(blob.p, want, blob.len);
    rl_buf_free(&blob);
}

static void add(log_store_t *st, tu_recs *model, int64_t i)
{
    char v[600];
    int n = snprintf(v, sizeof v, "{\"id\":%lld,\"pad\":\"", (long long)i);
    for (int k = n; k < 540; k++)
        v[k] = (char)('a' + (i + k) % 26);
    rl_slice vs = rl_slice_make(v, 540);
    tu_append(st, "t", rl_slice_str("k"), vs, i);
    if (model)
        tu_push(model, i, i, rl_slice_str("k"), vs);
}

static void expect_contents(log_store_t *st, const tu_recs *model)
{
    tu_recs got = {0};
    tu_read_partition(st, "t", 0, 1 << 20, &got);
    tu_assert_same(&got, model);
    tu_recs_free(&got);
}

/* Disk full in the middle of a batch write (a short write, then ENOSPC). */
static void test_disk_full(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    log_store_opts o = {.compression = LOG_COMPRESSION_NONE, .batch_bytes = 4096};
    log_store_t *st = tu_open(dir, &o);
    tu_recs model = {0};
    for (int64_t i = 0; i < 200; i++)
        add(st, &model, i);
    tu_commit(st, "a");
    log_store_stats ss;
    log_store_stats_get(st, &ss);
    assert_int_equal(ss.records, 200);
    assert_true(ss.batches >= 200 * 540 / 4096);
    assert_true(ss.bytes > 200 * 540);
    assert_int_equal(ss.commits, 1);
    assert_true(ss.syncs >= 1);
    assert_int_equal(ss.error, 0);
    fault f = {.pwrite_ok = 3, .partial = true, .pwrite_errno = ENOSPC, .sync_ok = -1};
    inject(st, &f);
    rl_err err = {0, ""};
    int rc = 0;
    char v[540];
    memset(v, 'x', sizeof v);
    for (int64_t i = 200; i < 400 && rc == 0; i++)
        rc = log_store_append(st, rl_slice_str("t"), rl_slice_str("k"), rl_slice_make(v, 540), i,
                              &err);
    if (rc == 0)
        rc = log_store_commit(st, rl_slice_str("b"), &err);
    assert_int_equal(rc, -ENOSPC);
    assert_non_null(strstr(err.msg, "00000000000000000000.log"));
    assert_non_null(strstr(err.msg, "No space left"));
    /* Sticky: every later call fails the same way, and nothing was published. */
    assert_int_equal(
        log_store_append(st, rl_slice_str("t"), rl_slice_str("k"), rl_slice_str("v"), 1, &err),
        -ENOSPC);
    assert_non_null(strstr(err.msg, "earlier error"));
    assert_int_equal(log_store_commit(st, rl_slice_str("b"), &err), -ENOSPC);
    assert_int_equal(log_store_sync(st, &err), -ENOSPC);
    assert_int_equal(log_store_abort(st, &err), -ENOSPC);
    assert_int_equal(tu_hwm(st, "t"), 200);
    log_store_stats_get(st, &ss);
    assert_int_equal(ss.error, -ENOSPC); /* the metric of a store refusing writes */
    assert_int_equal(ss.commits, 1);
    expect_ckpt(st, "a");
    expect_contents(st, &model); /* what was committed stays readable */
    log_store_close(st);

    /* Space is back: a reopen resumes from the last durable position. */
    st = tu_open(dir, &o);
    expect_ckpt(st, "a");
    expect_contents(st, &model);
    for (int64_t i = 200; i < 300; i++)
        add(st, &model, i);
    tu_commit(st, "b");
    log_store_close(st);
    st = tu_open(dir, &o);
    expect_ckpt(st, "b");
    expect_contents(st, &model);
    log_store_close(st);
    tu_recs_free(&model);
    tu_rm_rf(dir);
    free(dir);
}

/* fdatasync fails: the commit is not published, the checkpoint not replaced, and the failure
 * is never forgotten (a later commit does not retry it as if it had worked). */
static void test_fsync_failure(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    log_store_opts o = {.compression = LOG_COMPRESSION_LZ4};
    log_store_t *st = tu_open(dir, &o);
    tu_recs model = {0};
    for (int64_t i = 0; i < 50; i++)
        add(st, &model, i);
    tu_commit(st, "a");
    fault f = {.pwrite_ok = -1, .sync_ok = 0, .sync_errno = EIO};
    inject(st, &f);
    for (int64_t i = 50; i < 80; i++)
        add(st, NULL, i);
    rl_err err = {0, ""};
    assert_int_equal(log_store_commit(st, rl_slice_str("b"), &err), -EIO);
    assert_non_null(strstr(err.msg, "fdatasync"));
    assert_int_equal(f.syncs, 1);
    assert_int_equal(tu_hwm(st, "t"), 50);
    expect_ckpt(st, "a");
    /* The disk "recovers": still refused until reopened. */
    f.sync_ok = -1;
    assert_int_equal(log_store_commit(st, rl_slice_str("b"), &err), -EIO);
    assert_int_equal(f.syncs, 1); /* no second fsync pretending the first one worked */
    assert_int_equal(tu_hwm(st, "t"), 50);
    log_store_close(st);
    st = tu_open(dir, &o);
    expect_ckpt(st, "a");
    expect_contents(st, &model);
    log_store_close(st);
    tu_recs_free(&model);
    tu_rm_rf(dir);
    free(dir);
}

/* The fsync of a segment sealed at a roll fails; and under the interval policy, the deferred
 * fdatasync fails at log_store_sync. */
static void test_seal_and_interval_failures(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    log_store_opts o = {
        .compression = LOG_COMPRESSION_NONE, .segment_bytes = 1u << 20, .batch_bytes = 16384};
    log_store_t *st = tu_open(dir, &o);
    tu_recs model = {0};
    int64_t i = 0;
    for (; i < 1500; i++)
        add(st, &model, i);
    tu_commit(st, "a");
    fault f = {.pwrite_ok = -1, .sync_ok = 0, .sync_errno = EIO, .only_full_fsync = true};
    inject(st, &f);
    rl_err err = {0, ""};
    int rc = 0;
    char v[540];
    memset(v, 'y', sizeof v);
    for (; i < 4000 && rc == 0; i++)
        rc = log_store_append(st, rl_slice_str("t"), rl_slice_str("k"), rl_slice_make(v, 540), i,
                              &err);
    assert_int_equal(rc, -EIO);
    assert_non_null(strstr(err.msg, "fsync"));
    assert_int_equal(tu_hwm(st, "t"), 1500);
    log_store_close(st);
    st = tu_open(dir, &o);
    expect_ckpt(st, "a");
    expect_contents(st, &model);
    log_store_close(st);

    log_store_opts oi = o;
    oi.flush = LOG_FLUSH_INTERVAL;
    oi.flush_interval_ms = 3600000;
    st = tu_open(dir, &oi);
    for (int64_t k = 1500; k < 1600; k++)
        add(st, NULL, k);
    tu_commit(st, "pending");
    fault g = {.pwrite_ok = -1, .sync_ok = 0, .sync_errno = EIO};
    inject(st, &g);
    assert_int_equal(log_store_sync(st, &err), -EIO);
    assert_int_equal(tu_hwm(st, "t"), 1500);
    expect_ckpt(st, "a");
    log_store_close(st);
    st = tu_open(dir, &o);
    expect_ckpt(st, "a");
    expect_contents(st, &model);
    log_store_close(st);
    tu_recs_free(&model);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_fsync_failure),
        cmocka_unit_test(test_seal_and_interval_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
