/* rowlogd_source.c's and rowlogd_ondemand.c's static pieces, through the files themselves
 * (STYLE rule 24: a test may include the .c): the checkpoint parser refuses a GTID state or a
 * binlog file name that does not fit instead of cutting it (a shortened state would resume from
 * another position), and accepts one that just fits; on_change counts a schema-change event (op
 * 's') as such, never as a row operation, and appends no tombstone after it even on a compacted
 * topic; the changes of an XA transaction reach an on-demand snapshot's window at their XA COMMIT
 * (with the commit's GTID), never at XA PREPARE, so an XA ROLLBACK inside a chunk's window keeps
 * the chunk's row and an XA COMMIT inside it lets the stream's version win. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "server/rowlogd_source.c"
#include "server/rowlogd_ondemand.c"

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

/* One XA transaction changing key 1 of the table an on-demand snapshot reads, ending with
 * commit (true) or rollback (false), and a plain transaction changing key 2, all after the
 * chunk's read view "0-1-10": what the window then decides for the chunk's rows of keys 1
 * and 2, for that chunk and for a chunk read after the XA outcome ("0-1-13"). */
static void xa_window_case(bool commit, bool *keep1, bool *keep2, bool *keep1_late,
                           int64_t *published)
{
    char dir[] = "/tmp/rowlogd-seams-XXXXXX";
    assert_non_null(mkdtemp(dir));
    log_topic_config tc = {
        .retention_ms = -1, .retention_bytes = -1, .cleanup = LOG_CLEANUP_DELETE};
    log_store_opts lopts = {.partitions = 1, .topic_defaults = &tc};
    log_store_t *store = NULL;
    rl_err err = {0};
    assert_int_equal(log_store_open(&store, dir, &lopts, &err), 0);
    rowlogd_opts opts;
    memset(&opts, 0, sizeof opts);
    opts.topic_defaults = tc;
    opts.commit_interval_ms = 0;
    rowlogd_source src;
    memset(&src, 0, sizeof src);
    src.opts = &opts;
    src.store = store;
    rowlogd_source_init(&src);
    source_run run = {.src = &src, .checkpoint = RL_BUF_INIT, .err = &err};
    assert_int_equal(rowlogd_xa_open(&run.xa, store, &err), 0);
    od_run od;
    memset(&od, 0, sizeof od);
    od_reader rd; /* a chunk reader is running: only its presence is looked at */
    memset(&rd, 0, sizeof rd);
    od.rd = &rd;
    assert_int_equal(binlog_snapshot_window_new(&od.win), 0);
    rl_buf_puts(&od.topic, "rowlog.shop.t");
    run.od = &od;
    /* The table's reading starts with the stream at 0-1-10 (od_next_table does the same). */
    assert_int_equal(binlog_snapshot_window_commit(od.win, "", "0-1-10", &err), 0);

    const char *xid = "X'7831',X'',1";
    binlog_change xa_row = {.topic = rl_slice_str("rowlog.shop.t"),
                            .key = rl_slice_str("{\"id\":1}"),
                            .value = rl_slice_str("{\"op\":\"u\",\"after\":{\"id\":1}}"),
                            .ts_ms = 1700000000000,
                            .op = 'u',
                            .xid = xid};
    assert_int_equal(on_change(&run, &xa_row), 0);
    binlog_checkpoint prep = {
        .file = "binlog.000001", .pos = 1000, .gtid_state = "0-1-11", .gtid = "0-1-11"};
    assert_int_equal(on_xa_prepare(&run, xid, &prep), 0);
    binlog_checkpoint end = {
        .file = "binlog.000001", .pos = 2000, .gtid_state = "0-1-12", .gtid = "0-1-12"};
    assert_true(on_xa_end(&run, xid, commit, &end) >= 0);
    binlog_change plain = {.topic = rl_slice_str("rowlog.shop.t"),
                           .key = rl_slice_str("{\"id\":2}"),
                           .value = rl_slice_str("{\"op\":\"d\"}"),
                           .ts_ms = 1700000000001,
                           .op = 'd'};
    assert_int_equal(on_change(&run, &plain), 0);
    binlog_checkpoint last = {
        .file = "binlog.000001", .pos = 3000, .gtid_state = "0-1-13", .gtid = "0-1-13"};
    assert_int_equal(on_commit(&run, &last), 0);

    /* The chunk read at 0-1-10: the stream has passed it. */
    assert_int_equal(binlog_snapshot_window_ready(od.win, "0-1-10", &err), 1);
    assert_int_equal(binlog_snapshot_window_set_low(od.win, "0-1-10", &err), 0);
    *keep1 = binlog_snapshot_window_keep(od.win, rl_slice_str("{\"id\":1}"));
    *keep2 = binlog_snapshot_window_keep(od.win, rl_slice_str("{\"id\":2}"));
    /* A chunk read at 0-1-13 saw every outcome: the stream changed nothing after it. */
    assert_int_equal(binlog_snapshot_window_set_low(od.win, "0-1-13", &err), 0);
    *keep1_late = binlog_snapshot_window_keep(od.win, rl_slice_str("{\"id\":1}"));
    assert_true(binlog_snapshot_window_keep(od.win, rl_slice_str("{\"id\":2}")));
    assert_int_equal(log_store_log_end_offset(store, "rowlog.shop.t", 0, published), 0);

    binlog_snapshot_window_free(od.win);
    rl_buf_free(&od.topic);
    rowlogd_xa_free(run.xa);
    log_store_close(store);
    rowlogd_source_destroy(&src);
    rl_buf_free(&run.checkpoint);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_xa_rollback_in_ondemand_window(void **state)
{
    (void)state;
    bool keep1, keep2, keep1_late;
    int64_t published = -1;
    xa_window_case(false, &keep1, &keep2, &keep1_late, &published);
    /* Rolled back: the stream carries nothing for key 1, so the chunk's row stays. */
    assert_true(keep1);
    assert_false(keep2); /* the plain transaction inside the window: the stream's wins */
    assert_true(keep1_late);
    assert_int_equal(published, 1); /* only the plain delete reached the table's topic */
}

static void test_xa_commit_in_ondemand_window(void **state)
{
    (void)state;
    bool keep1, keep2, keep1_late;
    int64_t published = -1;
    xa_window_case(true, &keep1, &keep2, &keep1_late, &published);
    /* Committed inside the window: the stream's version (published at XA COMMIT) wins. */
    assert_false(keep1);
    assert_false(keep2);
    /* A chunk whose read view contains the XA COMMIT keeps its row (it is the committed
     * state). */
    assert_true(keep1_late);
    assert_int_equal(published, 2); /* the XA change at its commit, then the delete */
}

/* The one checkpoint table-line writer: snapshot_table, snapshot_done and ondemand_table
 * lines of names with bytes outside [A-Za-z0-9_$-] are read back by checkpoint_parse into the
 * same names, tokens and done flags. */
static void test_checkpoint_table_lines_round_trip(void **state)
{
    (void)state;
    rl_err err = {0};
    snap_state in = {0}, od_in = {0};
    snap_entry *a = rowlogd__snap_state_add(&in, "shop db", 7, "t.1%", 4);
    snap_entry *b = rowlogd__snap_state_add(&in, "x", 1, "y z", 3);
    snap_entry *c = rowlogd__snap_state_add(&od_in, "caf\xc3\xa9", 5, "o=d", 3);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    free(a->token);
    a->token = strdup("12:3:0400000031323334");
    b->done = true;
    free(c->token);
    c->token = strdup("");
    binlog_start p1 = {.at = {.file = "binlog.000007", .pos = 1234}};
    snprintf(p1.gtid_state, sizeof p1.gtid_state, "0-1-42");
    rl_buf blob = RL_BUF_INIT;
    checkpoint_format_snapshot(&blob, &p1, &in);
    for (size_t i = 0; i < od_in.n; i++)
        rowlogd__checkpoint_table_line(&blob, "ondemand_table", &od_in.e[i], true);
    assert_true(rl_buf_ok(&blob));
    /* Names are encoded: no raw space, dot or '=' of a name in the lines. */
    assert_non_null(strstr((const char *)blob.p, "snapshot_table=shop%20db.t%2E1%25 12:3:"));
    assert_non_null(strstr((const char *)blob.p, "snapshot_done=x.y%20z\n"));
    assert_non_null(strstr((const char *)blob.p, "ondemand_table=caf%C3%A9.o%3Dd \n"));

    binlog_start back;
    snap_state out = {0}, od_out = {0};
    assert_int_equal(checkpoint_parse(rl_buf_slice(&blob), &back, &out, &od_out, &err), 0);
    assert_string_equal(back.at.file, "binlog.000007");
    assert_int_equal(back.at.pos, 1234);
    assert_string_equal(back.gtid_state, "0-1-42");
    assert_true(out.running);
    assert_int_equal(out.n, 2);
    assert_string_equal(out.e[0].db, "shop db");
    assert_string_equal(out.e[0].table, "t.1%");
    assert_string_equal(out.e[0].token, "12:3:0400000031323334");
    assert_false(out.e[0].done);
    assert_string_equal(out.e[1].table, "y z");
    assert_true(out.e[1].done);
    assert_int_equal(od_out.n, 1);
    assert_string_equal(od_out.e[0].db, "caf\xc3\xa9");
    assert_string_equal(od_out.e[0].table, "o=d");
    assert_string_equal(od_out.e[0].token, "");
    rowlogd__snap_state_free(&in);
    rowlogd__snap_state_free(&od_in);
    rowlogd__snap_state_free(&out);
    rowlogd__snap_state_free(&od_out);
    rl_buf_free(&blob);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoint_overlong_gtid_state),
        cmocka_unit_test(test_schema_change_not_a_row),
        cmocka_unit_test(test_xa_rollback_in_ondemand_window),
        cmocka_unit_test(test_xa_commit_in_ondemand_window),
        cmocka_unit_test(test_checkpoint_table_lines_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
