/*
 * rowlogd_xa.c: prepared XA transactions held in the log's internal topic, on a real log
 * store (3 partitions, so the held changes of one transaction spread over several): held
 * changes survive a reopen only once committed, come back in their order at XA COMMIT with
 * their topic, key, value, op and timestamp, are dropped at XA ROLLBACK, and are gone after
 * either outcome is committed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/rowlogd_int.h"

typedef struct pub {
    char lines[64][256];
    size_t n;
} pub;

static int publish(void *ctx, const binlog_change *ch)
{
    pub *p = ctx;
    if (p->n < 64)
        snprintf(p->lines[p->n++], sizeof p->lines[0], "%c %lld %.*s %.*s %.*s", ch->op,
                 (long long)ch->ts_ms, (int)ch->topic.len, (const char *)ch->topic.p,
                 (int)ch->key.len, ch->key.p ? (const char *)ch->key.p : "",
                 (int)ch->value.len, (const char *)ch->value.p);
    return 0;
}

static log_store_t *open_store(const char *dir)
{
    static log_topic_config tc = {.retention_ms = -1, .retention_bytes = -1,
                                  .cleanup = LOG_CLEANUP_DELETE};
    log_store_opts lopts = {.partitions = 3, .topic_defaults = &tc};
    log_store_t *store = NULL;
    rl_err err = {0};
    if (log_store_open(&store, dir, &lopts, &err) != 0)
        fail_msg("open: %s", err.msg);
    return store;
}

static void hold(rowlogd_xa *xa, const char *xid, char op, int i)
{
    char key[64], val[128], topic[64];
    snprintf(topic, sizeof topic, "rowlog.db.t%d", i % 2);
    snprintf(key, sizeof key, "{\"id\":%d}", i);
    snprintf(val, sizeof val, "{\"after\":{\"id\":%d},\"op\":\"%c\"}", i, op);
    binlog_change ch = {.topic = rl_slice_str(topic), .key = rl_slice_str(key),
                        .value = rl_slice_str(val), .ts_ms = 1000 + i, .op = op, .xid = xid};
    rl_err err = {0};
    if (rowlogd_xa_hold(xa, &ch, &err) != 0)
        fail_msg("hold: %s", err.msg);
}

static void commit(log_store_t *store, const char *cp)
{
    rl_err err = {0};
    if (log_store_commit(store, rl_slice_str(cp), &err) != 0)
        fail_msg("commit: %s", err.msg);
}

static void test_hold_reopen_commit_rollback(void **state)
{
    (void)state;
    char dir[] = "/tmp/rowlogd-xa-XXXXXX";
    assert_non_null(mkdtemp(dir));
    const char *A = "X'61',X'',1", *B = "X'62',X'',1", *C = "X'63',X'',1";
    log_store_t *store = open_store(dir);
    rowlogd_xa *xa = NULL;
    rl_err err = {0};
    assert_int_equal(rowlogd_xa_open(&xa, store, &err), 0);
    assert_int_equal(rowlogd_xa_held(xa), 0);
    for (int i = 0; i < 20; i++)
        hold(xa, A, i % 3 == 2 ? 'd' : 'c', i);
    rowlogd_xa_prepared(xa, A);
    hold(xa, B, 'u', 100);
    rowlogd_xa_prepared(xa, B);
    assert_true(rowlogd_xa_needs_commit(xa, A));
    commit(store, "cp1");
    assert_false(rowlogd_xa_needs_commit(xa, A));
    /* Held but never committed: lost with the crash, as its prepare's checkpoint is. */
    hold(xa, C, 'c', 200);
    rowlogd_xa_free(xa);
    log_store_close(store); /* drops the uncommitted append */

    store = open_store(dir);
    assert_int_equal(rowlogd_xa_open(&xa, store, &err), 0);
    assert_int_equal(rowlogd_xa_held(xa), 2);
    pub *p = calloc(1, sizeof *p);
    assert_non_null(p);
    assert_int_equal(rowlogd_xa_end(xa, C, true, publish, p, &err), 0);
    assert_int_equal(p->n, 0);
    /* XA COMMIT of A: its 20 changes, in order, as held. */
    assert_int_equal(rowlogd_xa_end(xa, A, true, publish, p, &err), 20);
    assert_int_equal(p->n, 20);
    for (int i = 0; i < 20; i++) {
        char op = i % 3 == 2 ? 'd' : 'c';
        char want[256];
        snprintf(want, sizeof want, "%c %d rowlog.db.t%d {\"id\":%d} {\"after\":{\"id\":%d},\"op\":\"%c\"}",
                 op, 1000 + i, i % 2, i, i, op);
        assert_string_equal(p->lines[i], want);
    }
    assert_int_equal(rowlogd_xa_held(xa), 1);
    /* XA ROLLBACK of B: nothing published. */
    p->n = 0;
    assert_int_equal(rowlogd_xa_end(xa, B, false, publish, p, &err), 0);
    assert_int_equal(p->n, 0);
    assert_int_equal(rowlogd_xa_held(xa), 0);
    commit(store, "cp2");
    rowlogd_xa_free(xa);
    log_store_close(store);

    /* After the outcomes' commit nothing is held any more; an XID can be used again. */
    store = open_store(dir);
    assert_int_equal(rowlogd_xa_open(&xa, store, &err), 0);
    assert_int_equal(rowlogd_xa_held(xa), 0);
    hold(xa, A, 'u', 7);
    rowlogd_xa_prepared(xa, A);
    commit(store, "cp3");
    rowlogd_xa_free(xa);
    log_store_close(store);
    store = open_store(dir);
    assert_int_equal(rowlogd_xa_open(&xa, store, &err), 0);
    assert_int_equal(rowlogd_xa_held(xa), 1);
    assert_int_equal(rowlogd_xa_end(xa, A, true, publish, p, &err), 1);
    assert_string_equal(p->lines[0], "u 1007 rowlog.db.t1 {\"id\":7} {\"after\":{\"id\":7},\"op\":\"u\"}");
    rowlogd_xa_free(xa);
    log_store_close(store);
    free(p);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hold_reopen_commit_rollback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
