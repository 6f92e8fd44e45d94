/* rowlogd_source.c's static pieces, through the file itself (STYLE rule 24: a test may
 * include the .c): the checkpoint parser refuses a GTID state or a binlog file name that does
 * not fit instead of cutting it (a shortened state would resume from another position), and
 * accepts one that just fits; on_change counts a schema-change event (op 's') as such, never
 * as a row operation, and appends no tombstone after it even on a compacted topic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/rowlogd_source.c"

#include <unistd.h>

static void test_checkpoint_overlong_gtid_state(void **state)
{
    (void)state;
    binlog_start start;
    rl_err err = {0};
    /* A state of exactly the maximum length minus the NUL: accepted, byte for byte. */
    size_t fit = sizeof start.gtid_state - 1;
    rl_buf blob = RL_BUF_INIT;
    rl_buf_puts(&blob, "file=binlog.000001\npos=4\ngtid_state=");
    for (size_t i = 0; i < fit; i++)
        rl_buf_putc(&blob, (char)('0' + i % 10));
    rl_buf_puts(&blob, "\n");
    assert_true(rl_buf_ok(&blob));
    assert_int_equal(checkpoint_parse(rl_buf_slice(&blob), &start, NULL, NULL, &err), 0);
    assert_int_equal(strlen(start.gtid_state), fit);
    assert_int_equal(start.gtid_state[fit - 1], (char)('0' + (fit - 1) % 10));

    /* One byte more: refused as corrupt, the message says how long and the limit. */
    rl_buf_reset(&blob);
    rl_buf_puts(&blob, "file=binlog.000001\npos=4\ngtid_state=");
    for (size_t i = 0; i < fit + 1; i++)
        rl_buf_putc(&blob, '7');
    rl_buf_puts(&blob, "\n");
    memset(&err, 0, sizeof err);
    assert_int_equal(checkpoint_parse(rl_buf_slice(&blob), &start, NULL, NULL, &err), RL_ECORRUPT);
    char want[64];
    snprintf(want, sizeof want, "GTID state of %zu bytes (at most %zu)", fit + 1, fit);
    assert_non_null(strstr(err.msg, want));

    /* The same for an over-long file name. */
    rl_buf_reset(&blob);
    rl_buf_puts(&blob, "file=");
    for (size_t i = 0; i < sizeof start.at.file; i++)
        rl_buf_putc(&blob, 'f');
    rl_buf_puts(&blob, "\npos=4\n");
    memset(&err, 0, sizeof err);
    assert_int_equal(checkpoint_parse(rl_buf_slice(&blob), &start, NULL, NULL, &err), RL_ECORRUPT);
    assert_non_null(strstr(err.msg, "binlog file name"));

    /* No position at all: corrupt too. */
    memset(&err, 0, sizeof err);
    assert_int_equal(checkpoint_parse(rl_slice_str("snapshot=done\n"), &start, NULL, NULL, &err),
                     RL_ECORRUPT);
    rl_buf_free(&blob);
}

static void test_schema_change_not_a_row(void **state)
{
    (void)state;
    char dir[] = "/tmp/rowlogd-seams-XXXXXX";
    assert_non_null(mkdtemp(dir));
    log_topic_config tc = {.cleanup = LOG_CLEANUP_COMPACT};
    log_store_opts lopts = {.partitions = 1, .topic_defaults = &tc};
    log_store_t *store = NULL;
    rl_err err = {0};
    assert_int_equal(log_store_open(&store, dir, &lopts, &err), 0);
    rowlogd_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.topic_defaults = tc;
    rowlogd_source src;
    memset(&src, 0, sizeof src);
    src.opts = &opts;
    src.store = store;
    rowlogd_source_init(&src);
    source_run run = {.src = &src, .checkpoint = RL_BUF_INIT, .err = &err};

    binlog_change ch = {.topic = rl_slice_str("rowlog"),
                        .key = rl_slice_str("{\"db\":\"shop\",\"table\":\"t\"}"),
                        .value = rl_slice_str("{\"ddl\":\"ALTER TABLE t ADD c INT\"}"),
                        .ts_ms = 1700000000000,
                        .op = 's'};
    assert_int_equal(on_change(&run, &ch), 0);
    assert_int_equal(atomic_load(&src.stats.schema_changes), 1);
    for (int i = 0; i < ROWLOGD_OPS; i++)
        assert_int_equal(atomic_load(&src.stats.rows[i]), 0);
    assert_int_equal(run.rows, 0);
    int64_t leo = -1;
    assert_int_equal(log_store_log_end_offset(store, "rowlog", 0, &leo), 0);
    assert_int_equal(leo, 1); /* the event alone: no tombstone after it */

    /* A delete on the same compacted store does get its tombstone (the check above can
     * fail). */
    binlog_change del = {.topic = rl_slice_str("rowlog.shop.t"),
                         .key = rl_slice_str("{\"id\":1}"),
                         .value = rl_slice_str("{\"op\":\"d\"}"),
                         .ts_ms = 1700000000001,
                         .op = 'd'};
    assert_int_equal(on_change(&run, &del), 0);
    assert_int_equal(atomic_load(&src.stats.rows[ROWLOGD_OP_DELETE]), 1);
    assert_int_equal(atomic_load(&src.stats.schema_changes), 1);
    assert_int_equal(log_store_log_end_offset(store, "rowlog.shop.t", 0, &leo), 0);
    assert_int_equal(leo, 2);

    assert_int_equal(log_store_abort(store, &err), 0);
    log_store_close(store);
    rowlogd_source_destroy(&src);
    rl_buf_free(&run.checkpoint);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoint_overlong_gtid_state),
        cmocka_unit_test(test_schema_change_not_a_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
