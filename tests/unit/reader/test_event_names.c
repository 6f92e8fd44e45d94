/* binlog_event_type_name: the public names of event type bytes (reader/binlog.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "reader/binlog.h"

static void test_known_types(void **state)
{
    (void)state;
    /* Type bytes from mysql-server binlog_event.h and MariaDB log_event.h. */
    assert_string_equal(binlog_event_type_name(2), "QUERY");
    assert_string_equal(binlog_event_type_name(15), "FORMAT_DESCRIPTION");
    assert_string_equal(binlog_event_type_name(19), "TABLE_MAP");
    assert_string_equal(binlog_event_type_name(30), "WRITE_ROWS_V2");
    assert_string_equal(binlog_event_type_name(33), "GTID");
    assert_string_equal(binlog_event_type_name(40), "TRANSACTION_PAYLOAD");
    assert_string_equal(binlog_event_type_name(163), "GTID_LIST");
}

static void test_unknown_types(void **state)
{
    (void)state;
    assert_string_equal(binlog_event_type_name(0), "UNKNOWN");
    assert_string_equal(binlog_event_type_name(99), "UNKNOWN");
    assert_string_equal(binlog_event_type_name(256), "UNKNOWN");
    assert_string_equal(binlog_event_type_name(~0u), "UNKNOWN");
    /* Every byte has a non-empty name. */
    for (unsigned t = 0; t < 256; t++)
        assert_true(strlen(binlog_event_type_name(t)) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_types),
        cmocka_unit_test(test_unknown_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
