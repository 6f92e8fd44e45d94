/* The watermark window of on-demand snapshots (reader/snapshot_window.c), no server: keys
 * changed by streamed transactions outside the low watermark are dropped from a chunk, keys
 * changed inside it (or never) are kept; readiness is GTID-state containment, for MariaDB
 * (per-domain sequence numbers) and MySQL (sets, with gaps); open transactions do not count
 * until committed and vanish on rollback; prune forgets exactly the transactions the low
 * watermark contains; thousands of keys (bucket growth) stay exact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "reader/snapshot.h"

static rl_slice k(const char *s)
{
    return rl_slice_str(s);
}

static void test_mariadb_window(void **state)
{
    (void)state;
    binlog_snapshot_window *w = NULL;
    rl_err err = {0};
    assert_int_equal(binlog_snapshot_window_new(&w), 0);
    /* Stream: txn 0-1-10 changes id 1, txn 0-1-11 changes id 2 and id 3. */
    assert_int_equal(binlog_snapshot_window_note(w, k("{\"id\":1}")), 0);
    assert_int_equal(binlog_snapshot_window_commit(w, "0-1-10", "0-1-10", &err), 0);
    assert_int_equal(binlog_snapshot_window_note(w, k("{\"id\":2}")), 0);
    assert_int_equal(binlog_snapshot_window_note(w, k("{\"id\":3}")), 0);
    assert_int_equal(binlog_snapshot_window_commit(w, "0-1-11", "0-1-11", &err), 0);
    assert_int_equal(binlog_snapshot_window_size(w), 3);

    /* Ready when the stream contains high. */
    assert_int_equal(binlog_snapshot_window_ready(w, "0-1-11", &err), 1);
    assert_int_equal(binlog_snapshot_window_ready(w, "0-1-9", &err), 1);
    assert_int_equal(binlog_snapshot_window_ready(w, "0-1-12", &err), 0);
    assert_int_equal(binlog_snapshot_window_ready(w, "0-2-11", &err), 1); /* any server */
    assert_int_equal(binlog_snapshot_window_ready(w, "0-1-11,1-1-1", &err), 0); /* domain 1 */
    assert_int_equal(binlog_snapshot_window_ready(w, "", &err), 1);

    /* Chunk read at 0-1-10: id 2 and 3 changed after it (dropped), id 1 before (kept). */
    assert_int_equal(binlog_snapshot_window_set_low(w, "0-1-10", &err), 0);
    assert_true(binlog_snapshot_window_keep(w, k("{\"id\":1}")));
    assert_false(binlog_snapshot_window_keep(w, k("{\"id\":2}")));
    assert_false(binlog_snapshot_window_keep(w, k("{\"id\":3}")));
    assert_true(binlog_snapshot_window_keep(w, k("{\"id\":4}")));
    assert_true(binlog_snapshot_window_keep(w, k("{\"id\":22}"))); /* bytes, not prefixes */
    /* Read at 0-1-9: all three changed inside. */
    assert_int_equal(binlog_snapshot_window_set_low(w, "0-1-9", &err), 0);
    assert_false(binlog_snapshot_window_keep(w, k("{\"id\":1}")));
    /* Read at 0-1-11: none inside. */
    assert_int_equal(binlog_snapshot_window_set_low(w, "0-1-11", &err), 0);
    assert_true(binlog_snapshot_window_keep(w, k("{\"id\":2}")));

    /* Two domains: a transaction of domain 1 is inside a window whose low has domain 1
     * behind it, whatever domain 0 says. */
    assert_int_equal(binlog_snapshot_window_note(w, k("{\"id\":5}")), 0);
    assert_int_equal(binlog_snapshot_window_commit(w, "1-2-7", "0-1-11,1-2-7", &err), 0);
    assert_int_equal(binlog_snapshot_window_set_low(w, "0-1-11,1-2-6", &err), 0);
    assert_false(binlog_snapshot_window_keep(w, k("{\"id\":5}")));
    assert_true(binlog_snapshot_window_keep(w, k("{\"id\":2}")));
    assert_int_equal(binlog_snapshot_window_ready(w, "0-1-11,1-2-7", &err), 1);
    assert_int_equal(binlog_snapshot_window_ready(w, "0-1-11,1-2-8", &err), 0);

    /* Prune at 0-1-10,1-2-6: forgets txn 0-1-10 (id 1) only. */
    assert_int_equal(binlog_snapshot_window_set_low(w, "0-1-10,1-2-6", &err), 0);
    assert_int_equal(binlog_snapshot_window_prune(w), 3);
    assert_true(binlog_snapshot_window_keep(w, k("{\"id\":1}")));
    assert_false(binlog_snapshot_window_keep(w, k("{\"id\":2}")));
    assert_false(binlog_snapshot_window_keep(w, k("{\"id\":5}")));
    /* A later low forgets the rest. */
    assert_int_equal(binlog_snapshot_window_set_low(w, "0-1-11,1-2-7", &err), 0);
    assert_int_equal(binlog_snapshot_window_prune(w), 0);
    assert_int_equal(binlog_snapshot_window_set_low(w, "0-1-0,1-2-0", &err), 0);
    assert_true(binlog_snapshot_window_keep(w, k("{\"id\":5}")));

    /* Flavor mismatch is an error, not a verdict. */
    assert_int_equal(binlog_snapshot_window_ready(
                         w, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5", &err),
                     RL_ECONFIG);
    binlog_snapshot_window_free(w);
}

#define U1 "3e11fa47-71ca-11e1-9e33-c80aa9429562"
#define U2 "4e11fa47-71ca-11e1-9e33-c80aa9429562"

static void test_mysql_window(void **state)
{
    (void)state;
    binlog_snapshot_window *w = NULL;
    rl_err err = {0};
    assert_int_equal(binlog_snapshot_window_new(&w), 0);
    assert_int_equal(binlog_snapshot_window_note(w, k("{\"id\":1}")), 0);
    assert_int_equal(binlog_snapshot_window_commit(w, U1 ":9", U1 ":1-9", &err), 0);
    assert_int_equal(binlog_snapshot_window_note(w, k("{\"id\":2}")), 0);
    assert_int_equal(binlog_snapshot_window_commit(w, U2 ":3", U1 ":1-9," U2 ":1-3", &err), 0);
    assert_int_equal(binlog_snapshot_window_ready(w, U1 ":1-9", &err), 1);
    assert_int_equal(binlog_snapshot_window_ready(w, U1 ":1-10", &err), 0);
    assert_int_equal(binlog_snapshot_window_ready(w, U1 ":1-9," U2 ":2", &err), 1);
    assert_int_equal(binlog_snapshot_window_ready(w, U2 ":4", &err), 0);
    /* A set with a gap: 9 missing, so id 1 changed inside; U2:3 contained. */
    assert_int_equal(binlog_snapshot_window_set_low(w, U1 ":1-8:10," U2 ":1-3", &err), 0);
    assert_false(binlog_snapshot_window_keep(w, k("{\"id\":1}")));
    assert_true(binlog_snapshot_window_keep(w, k("{\"id\":2}")));
    assert_int_equal(binlog_snapshot_window_prune(w), 1);
    assert_false(binlog_snapshot_window_keep(w, k("{\"id\":1}")));
    assert_true(binlog_snapshot_window_keep(w, k("{\"id\":2}")));
    binlog_snapshot_window_free(w);
}

static void test_open_transactions(void **state)
{
    (void)state;
    binlog_snapshot_window *w = NULL;
    rl_err err = {0};
    assert_int_equal(binlog_snapshot_window_new(&w), 0);
    assert_int_equal(binlog_snapshot_window_set_low(w, "0-1-1", &err), 0);
    assert_int_equal(binlog_snapshot_window_note(w, k("{\"id\":7}")), 0);
    /* Not committed yet: not in the stream, not a reason to drop. */
    assert_true(binlog_snapshot_window_keep(w, k("{\"id\":7}")));
    assert_int_equal(binlog_snapshot_window_size(w), 0);
    binlog_snapshot_window_rollback(w);
    assert_int_equal(binlog_snapshot_window_commit(w, "0-1-2", "0-1-2", &err), 0);
    assert_true(binlog_snapshot_window_keep(w, k("{\"id\":7}"))); /* rolled back: gone */
    assert_int_equal(binlog_snapshot_window_size(w), 0);
    /* An open transaction survives a prune and commits afterwards. */
    assert_int_equal(binlog_snapshot_window_note(w, k("{\"id\":8}")), 0);
    assert_int_equal(binlog_snapshot_window_commit(w, "0-1-3", "0-1-3", &err), 0);
    assert_int_equal(binlog_snapshot_window_note(w, k("{\"id\":9}")), 0);
    assert_int_equal(binlog_snapshot_window_set_low(w, "0-1-3", &err), 0);
    assert_int_equal(binlog_snapshot_window_prune(w), 0);
    assert_int_equal(binlog_snapshot_window_commit(w, "0-1-4", "0-1-4", &err), 0);
    assert_int_equal(binlog_snapshot_window_size(w), 1);
    assert_false(binlog_snapshot_window_keep(w, k("{\"id\":9}")));
    assert_true(binlog_snapshot_window_keep(w, k("{\"id\":8}")));
    /* A transaction without a GTID is inside every window. */
    assert_int_equal(binlog_snapshot_window_note(w, k("{\"id\":10}")), 0);
    assert_int_equal(binlog_snapshot_window_commit(w, "", "0-1-4", &err), 0);
    assert_int_equal(binlog_snapshot_window_set_low(w, "0-1-100", &err), 0);
    assert_false(binlog_snapshot_window_keep(w, k("{\"id\":10}")));
    assert_true(binlog_snapshot_window_keep(w, k("{\"id\":9}")));
    /* Malformed states are refused. */
    assert_int_equal(binlog_snapshot_window_commit(w, "0-1-5", "zz", &err), RL_ECONFIG);
    assert_int_equal(binlog_snapshot_window_set_low(w, "0-1", &err), RL_ECONFIG);
    binlog_snapshot_window_reset(w);
    assert_int_equal(binlog_snapshot_window_size(w), 0);
    binlog_snapshot_window_free(w);
}

/* 20000 keys over 2000 transactions: every key changed in transaction seq s is dropped
 * exactly when low < s, checked for every key against a model. */
static void test_many_keys(void **state)
{
    (void)state;
    binlog_snapshot_window *w = NULL;
    rl_err err = {0};
    assert_int_equal(binlog_snapshot_window_new(&w), 0);
    char key[64], gtid[32];
    for (int t = 1; t <= 2000; t++) {
        for (int j = 0; j < 10; j++) {
            snprintf(key, sizeof key, "{\"id\":%d}", (t - 1) * 10 + j);
            assert_int_equal(binlog_snapshot_window_note(w, k(key)), 0);
        }
        snprintf(gtid, sizeof gtid, "0-1-%d", t);
        assert_int_equal(binlog_snapshot_window_commit(w, gtid, gtid, &err), 0);
    }
    assert_int_equal(binlog_snapshot_window_size(w), 20000);
    for (int low = 0; low <= 2000; low += 500) {
        snprintf(gtid, sizeof gtid, "0-1-%d", low);
        assert_int_equal(binlog_snapshot_window_set_low(w, gtid, &err), 0);
        if (low == 1000)
            assert_int_equal(binlog_snapshot_window_prune(w), 10000);
        for (int id = 0; id < 20000; id++) {
            snprintf(key, sizeof key, "{\"id\":%d}", id);
            bool changed_inside = id / 10 + 1 > low;
            assert_int_equal(binlog_snapshot_window_keep(w, k(key)), !changed_inside);
        }
    }
    binlog_snapshot_window_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mariadb_window),
        cmocka_unit_test(test_mysql_window),
        cmocka_unit_test(test_open_transactions),
        cmocka_unit_test(test_many_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
