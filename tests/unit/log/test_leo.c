/* log_store_log_end_offset: the log end offset runs ahead of the high watermark while appends
 * wait for their commit, meets it at the commit, falls back to it on abort, and equals it
 * after a reopen (uncommitted appends are cut back by recovery). */
#include "log_test_util.h"

static int64_t leo_of(log_store_t *st, const char *topic)
{
    int64_t leo = -1;
    assert_int_equal(log_store_log_end_offset(st, topic, 0, &leo), 0);
    return leo;
}

static void append_k(log_store_t *st, int n, int from)
{
    for (int i = 0; i < n; i++) {
        char key[32];
        int kl = snprintf(key, sizeof key, "k%d", from + i);
        tu_append(st, "t", rl_slice_make(key, (size_t)kl), rl_slice_make("v", 1), 1000 + i);
    }
}

static void test_leo(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    /* Small batches, so that some appends are flushed to the segment before the commit. */
    log_store_opts o = {.compression = LOG_COMPRESSION_NONE, .batch_bytes = 256};
    log_store_t *st = tu_open(dir, &o);
    append_k(st, 5, 0);
    tu_commit(st, "a");
    assert_int_equal(tu_hwm(st, "t"), 5);
    assert_int_equal(leo_of(st, "t"), 5);
    append_k(st, 30, 5); /* several flushed batches plus an open one, not committed */
    assert_int_equal(tu_hwm(st, "t"), 5);
    assert_int_equal(leo_of(st, "t"), 35);
    rl_err err = {0, ""};
    assert_int_equal(log_store_abort(st, &err), 0);
    assert_int_equal(leo_of(st, "t"), 5);
    append_k(st, 7, 100);
    assert_int_equal(leo_of(st, "t"), 12);
    tu_commit(st, "b");
    assert_int_equal(tu_hwm(st, "t"), 12);
    assert_int_equal(leo_of(st, "t"), 12);
    append_k(st, 3, 200); /* left uncommitted at close */
    assert_int_equal(leo_of(st, "t"), 15);
    log_store_close(st);
    st = tu_open(dir, &o);
    assert_int_equal(tu_hwm(st, "t"), 12);
    assert_int_equal(leo_of(st, "t"), 12);
    int64_t leo;
    assert_int_equal(log_store_log_end_offset(st, "t", 1, &leo), RL_ENOTFOUND);
    assert_int_equal(log_store_log_end_offset(st, "nope", 0, &leo), RL_ENOTFOUND);
    log_store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
