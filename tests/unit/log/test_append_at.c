/*
 * test_append_at.c - log_store_append_at says where each record went: per partition the
 * offsets run 0, 1, 2, ... with no gap; each equals the partition's log end offset minus one
 * right after the append (log_store_log_end_offset, how callers found it before); the
 * partition is the key's (the same key always lands in the same one), also across batches
 * written in the middle of an append (small batch_bytes) and commits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/rl.h"
#include "log/log.h"

#define PARTS 4
#define N 5000

static void test_offsets(void **state)
{
    (void)state;
    char dir[] = "/tmp/rowlog-aat-XXXXXX";
    assert_non_null(mkdtemp(dir));
    log_store_opts lo;
    memset(&lo, 0, sizeof lo);
    lo.partitions = PARTS;
    lo.batch_bytes = 4096; /* batches written in the middle of appends */
    lo.flush = LOG_FLUSH_OS;
    log_store_t *st;
    rl_err err = {0};
    assert_int_equal(log_store_open(&st, dir, &lo, &err), 0);
    int64_t next[PARTS] = {0};
    uint32_t part_of[50];
    char val[300];
    memset(val, 'v', sizeof val);
    for (int i = 0; i < N; i++) {
        char key[16];
        int kl = snprintf(key, sizeof key, "k%d", i % 50);
        uint32_t p = UINT32_MAX;
        int64_t off = -1;
        assert_int_equal(log_store_append_at(st, rl_slice_str("t"),
                                             rl_slice_make((uint8_t *)key, (size_t)kl),
                                             rl_slice_make((uint8_t *)val, 50 + (size_t)(i % 250)),
                                             i, &p, &off, &err),
                         0);
        assert_true(p < PARTS);
        if (i < 50)
            part_of[i] = p;
        else
            assert_int_equal(p, part_of[i % 50]);
        assert_int_equal(off, next[p]);
        next[p]++;
        int64_t leo = -1;
        assert_int_equal(log_store_log_end_offset(st, "t", p, &leo), 0);
        assert_int_equal(off, leo - 1);
        if (i % 777 == 776)
            assert_int_equal(log_store_commit(st, rl_slice_str("t"), &err), 0);
    }
    /* NULL outputs are fine. */
    assert_int_equal(log_store_append_at(st, rl_slice_str("t"), rl_slice_str("k0"),
                                         rl_slice_str("x"), 1, NULL, NULL, &err),
                     0);
    next[part_of[0]]++;
    assert_int_equal(log_store_commit(st, rl_slice_str("t"), &err), 0);
    int64_t total = 0;
    for (uint32_t p = 0; p < PARTS; p++) {
        int64_t ls, hw;
        assert_int_equal(log_store_offsets(st, "t", p, &ls, &hw), 0);
        assert_int_equal(hw, next[p]);
        total += hw;
    }
    assert_int_equal(total, N + 1);
    log_store_close(st);
    char cmd[100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_offsets)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
