/* Unit tests for tools/util.c: strict decimal parsing (option values) and signal collection
 * without handlers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <unistd.h>

#include "tools/tools.h"

static void test_parse_u64(void **state)
{
    (void)state;
    uint64_t v = 7;
    assert_int_equal(tool_parse_u64("0", 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(tool_parse_u64("10", 10, &v), 0);
    assert_int_equal(v, 10);
    assert_int_equal(tool_parse_u64("007", 10, &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(tool_parse_u64("18446744073709551615", UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);
    assert_int_equal(tool_parse_u64("9223372036854775807", INT64_MAX, &v), 0);
    assert_true(v == (uint64_t)INT64_MAX);

    v = 42;
    static const char *const bad[] = {"", "-1", "+1", " 1", "1 ", "1a", "0x10", "1.5", "11"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (tool_parse_u64(bad[i], 10, &v) != -EINVAL)
            fail_msg("accepted '%s'", bad[i]);
    }
    assert_int_equal(v, 42); /* untouched on failure */
    assert_int_equal(tool_parse_u64(NULL, 10, &v), -EINVAL);
    assert_int_equal(tool_parse_u64("18446744073709551616", UINT64_MAX, &v), -EINVAL);
    assert_int_equal(tool_parse_u64("99999999999999999999", UINT64_MAX, &v), -EINVAL);
    assert_int_equal(tool_parse_u64("9223372036854775808", INT64_MAX, &v), -EINVAL);
    assert_int_equal(tool_parse_u64("5", 3, &v), -EINVAL); /* a digit above a small max */
    assert_int_equal(tool_parse_u64("3", 3, &v), 0);
}

static void test_signals(void **state)
{
    (void)state;
    sigset_t set;
    assert_int_equal(tool_signals_block(&set), 0);
    assert_int_equal(tool_signals_pending(&set), 0);
    /* Blocked, so the process survives and the signal waits to be collected, once. */
    assert_int_equal(kill(getpid(), SIGTERM), 0);
    assert_int_equal(tool_signals_pending(&set), SIGTERM);
    assert_int_equal(tool_signals_pending(&set), 0);
    assert_int_equal(kill(getpid(), SIGINT), 0);
    assert_int_equal(tool_signals_pending(&set), SIGINT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_u64),
        cmocka_unit_test(test_signals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
