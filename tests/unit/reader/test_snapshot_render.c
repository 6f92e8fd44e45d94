/*
 * test_snapshot_render.c - snapshot value rendering (reader/snapshot_render.c) without a
 * server: text-protocol values to the decoder's JSON (expected texts from docs/events.md),
 * malformed values refused with RL_ECORRUPT naming table and column, key literals and
 * identifiers quoted safely.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "reader/schema.h"
#include "reader/snapshot_int.h"

#include <stdio.h>

static snap_col g_col;
static snap_table g_t;

static snap_table *table_of(uint8_t kind)
{
    memset(&g_col, 0, sizeof g_col);
    memset(&g_t, 0, sizeof g_t);
    g_col.name = "c1";
    g_col.kind = kind;
    g_t.db = "db";
    g_t.name = "tb";
    g_t.cols = &g_col;
    g_t.ncols = 1;
    return &g_t;
}

/* Renders (p, n) as `kind` and compares with want (NULL: must fail with RL_ECORRUPT). */
static void check_n(uint8_t kind, const char *p, size_t n, const char *want)
{
    snap_table *t = table_of(kind);
    rl_buf b = RL_BUF_INIT;
    rl_err err;
    memset(&err, 0, sizeof err);
    int rc = binlog__snap_value(&b, NULL, NULL, t, 0, p, n, &err);
    if (!want) {
        assert_int_equal(rc, RL_ECORRUPT);
        /* The message names table and column. */
        assert_non_null(strstr(err.msg, "`db`.`tb` column 1 `c1`"));
    } else {
        if (rc != 0)
            fail_msg("'%.*s': %s", (int)n, p, err.msg);
        const char *got = rl_buf_cstr(&b);
        if (strcmp(got, want) != 0)
            fail_msg("'%.*s': got %s want %s", (int)n, p, got, want);
    }
    rl_buf_free(&b);
}

static void check(uint8_t kind, const char *p, const char *want)
{
    check_n(kind, p, strlen(p), want);
}

static void test_numbers(void **state)
{
    (void)state;
    check(SNAP_K_INT, "-128", "-128");
    check(SNAP_K_INT, "18446744073709551615", "18446744073709551615");
    check(SNAP_K_INT, "12a", NULL);
    check(SNAP_K_INT, "", NULL);
    check(SNAP_K_DECIMAL, "-12345678901234567890.1234567890",
          "\"-12345678901234567890.1234567890\"");
    check(SNAP_K_DECIMAL, "0.01", "\"0.01\"");
    check(SNAP_K_DECIMAL, "1e5", NULL);
    /* FLOAT arrives as CAST(c AS DOUBLE): the float's exact value. */
    check(SNAP_K_FLOAT, "0.3333333432674408", "0.33333334");
    check(SNAP_K_FLOAT, "0.10000000149011612", "0.1");
    check(SNAP_K_FLOAT, "3.3999999521443642e38", "3.4e+38");
    check(SNAP_K_FLOAT, "0.1", NULL); /* not a float's exact value */
    check(SNAP_K_DOUBLE, "-1.7976931348623157e308", "-1.7976931348623157e+308");
    check(SNAP_K_DOUBLE, "19.99", "19.99");
    check(SNAP_K_DOUBLE, "0.30000000000000004", "0.30000000000000004");
    check(SNAP_K_DOUBLE, "1e400", NULL);
    check(SNAP_K_DOUBLE, "nan", NULL);
    check(SNAP_K_YEAR, "0000", "0");
    check(SNAP_K_YEAR, "2155", "2155");
    check(SNAP_K_YEAR, "21x5", NULL);
}

static void test_temporal(void **state)
{
    (void)state;
    check(SNAP_K_DATE, "2024-02-29", "\"2024-02-29\"");
    check(SNAP_K_DATE, "0000-00-00", "\"0000-00-00\"");
    check(SNAP_K_DATE, "2024/02/29", NULL);
    check(SNAP_K_TIME, "-838:59:59.000000", "\"-838:59:59.000000\"");
    check(SNAP_K_TIME, "-00:00:01.50", "\"-00:00:01.50\"");
    check(SNAP_K_TIME, "12:00", NULL);
    check(SNAP_K_DATETIME, "9999-12-31 23:59:59.999999", "\"9999-12-31T23:59:59.999999\"");
    check(SNAP_K_DATETIME, "1000-01-01 00:00:00", "\"1000-01-01T00:00:00\"");
    check(SNAP_K_DATETIME, "2024-02-29T12:34:56", NULL);
    check(SNAP_K_DATETIME, "2024-02-29 12:34:56.", NULL);
    check(SNAP_K_DATETIME, "2024-02-29 12:34:56.1234567", NULL);
    check(SNAP_K_TIMESTAMP, "2038-01-19 03:14:07.999999", "\"2038-01-19T03:14:07.999999Z\"");
    check(SNAP_K_TIMESTAMP, "0000-00-00 00:00:00", "\"1970-01-01T00:00:00Z\"");
    check(SNAP_K_TIMESTAMP, "0000-00-00 00:00:00.000", "\"1970-01-01T00:00:00.000Z\"");
}

static void test_strings_and_bytes(void **state)
{
    (void)state;
    check(SNAP_K_TEXT, "h\xc3\xa9llo \"q\"\n", "\"h\xc3\xa9llo \\\"q\\\"\\n\"");
    check_n(SNAP_K_BYTES, "\x01\x00\x00\x00", 4, "\"AQAAAA==\"");
    check(SNAP_K_BYTES, "\xde\xad\xbe\xef", "\"3q2+7w==\"");
    check(SNAP_K_ENUM, "blue", "\"blue\"");
    check(SNAP_K_ENUM, "", "\"\"");
    check(SNAP_K_SET, "a,c", "[\"a\",\"c\"]");
    check(SNAP_K_SET, "", "[]");
    /* Printable ASCII is copied as it is (a fast path); every other ASCII byte still goes
     * through the escaping: each byte 1-127 between two letters renders as rl_buf_json_str
     * renders it, for UTF-8 and latin1 columns alike. */
    for (int latin1 = 0; latin1 < 2; latin1++) {
        for (unsigned ch = 1; ch < 128; ch++) {
            char in[3] = {'a', (char)ch, 'z'};
            rl_buf want = RL_BUF_INIT, got = RL_BUF_INIT;
            rl_buf_json_str(&want, in, 3);
            snap_table *tt = table_of(SNAP_K_TEXT);
            g_col.latin1 = latin1;
            assert_int_equal(binlog__snap_value(&got, NULL, NULL, tt, 0, in, 3, NULL), 0);
            if (strcmp(rl_buf_cstr(&got), rl_buf_cstr(&want)) != 0)
                fail_msg("byte 0x%02x latin1 %d: got %s want %s", ch, latin1, rl_buf_cstr(&got),
                         rl_buf_cstr(&want));
            rl_buf_free(&want);
            rl_buf_free(&got);
        }
    }
    check(SNAP_K_TEXT, "customer-42 ~!", "\"customer-42 ~!\"");
    /* latin1 is read as cp1252, as the decoder does: 80 E9 -> "€é". */
    snap_table *t = table_of(SNAP_K_TEXT);
    g_col.latin1 = true;
    rl_buf b = RL_BUF_INIT;
    assert_int_equal(binlog__snap_value(&b, NULL, NULL, t, 0, "\x80\xe9", 2, NULL), 0);
    assert_string_equal(rl_buf_cstr(&b), "\"\xe2\x82\xac\xc3\xa9\"");
    rl_buf_reset(&b);
    /* BIT(17): the server may send fewer bytes; left-padded to 3. */
    t = table_of(SNAP_K_BIT);
    g_col.bits = 17;
    assert_int_equal(binlog__snap_value(&b, NULL, NULL, t, 0, "\x01\x55\x55", 3, NULL), 0);
    assert_string_equal(rl_buf_cstr(&b), "\"AVVV\"");
    rl_buf_reset(&b);
    assert_int_equal(binlog__snap_value(&b, NULL, NULL, t, 0, "\x55\x55", 2, NULL), 0);
    assert_string_equal(rl_buf_cstr(&b), "\"AFVV\"");
    rl_buf_reset(&b);
    assert_int_equal(binlog__snap_value(&b, NULL, NULL, t, 0, "\x01\x02\x03\x04", 4, NULL), RL_ECORRUPT);
    g_col.bits = 1;
    rl_buf_reset(&b);
    assert_int_equal(binlog__snap_value(&b, NULL, NULL, t, 0, "\x01", 1, NULL), 0);
    assert_string_equal(rl_buf_cstr(&b), "\"AQ==\"");
    rl_buf_free(&b);
}

/* Renders (p, n) as a MariaDB JSON column (snap_col.json) with scratch buffers. */
static void check_json(const char *p, bool latin1, const char *want)
{
    snap_table *t = table_of(SNAP_K_TEXT);
    g_col.json = true;
    g_col.latin1 = latin1;
    rl_buf b = RL_BUF_INIT, scratch[2] = {RL_BUF_INIT, RL_BUF_INIT};
    /* Twice over the same scratch: nothing of the first value is left behind. */
    for (int round = 0; round < 2; round++) {
        rl_buf_reset(&b);
        assert_int_equal(binlog__snap_value(&b, NULL, scratch, t, 0, p, strlen(p), NULL), 0);
        const char *got = rl_buf_cstr(&b);
        if (strcmp(got, want) != 0)
            fail_msg("'%s': got %s want %s", p, got, want);
    }
    rl_buf_free(&b);
    rl_buf_free(&scratch[0]);
    rl_buf_free(&scratch[1]);
}

/* MariaDB JSON columns under source.schema_history (docs/events.md, "JSON"): the document
 * itself, whitespace between tokens removed; the document null as the string "null"; text
 * that is not one JSON document stays a string. */
static void test_json_columns(void **state)
{
    (void)state;
    check_json("{\"a\": 1, \"b\": [1, 2]}", false, "{\"a\":1,\"b\":[1,2]}");
    check_json(" [ \"x y\" , true,null ] ", false, "[\"x y\",true,null]");
    check_json("12.50", false, "12.50");
    check_json("\"caf\xc3\xa9\"", false, "\"caf\xc3\xa9\"");
    check_json("null", false, "\"null\"");
    check_json("{\"a\": 1", false, "\"{\\\"a\\\": 1\"");
    check_json("1 2", false, "\"1 2\"");
    /* latin1 text (cp1252) read back as UTF-8 first: 0xE9 is e-acute inside the document. */
    check_json("[\"\xe9\"]", true, "[\"\xc3\xa9\"]");
    /* Without scratch buffers a JSON column stays its string. */
    snap_table *t = table_of(SNAP_K_TEXT);
    g_col.json = true;
    rl_buf b = RL_BUF_INIT;
    assert_int_equal(binlog__snap_value(&b, NULL, NULL, t, 0, "[1]", 3, NULL), 0);
    assert_string_equal(rl_buf_cstr(&b), "\"[1]\"");
    rl_buf_free(&b);
}

static void test_clause_is_json_valid(void **state)
{
    (void)state;
    assert_true(binlog_schema_clause_is_json_valid("json_valid(`doc`)", "doc"));
    assert_true(binlog_schema_clause_is_json_valid("JSON_VALID(`doc`)", "doc"));
    assert_true(binlog_schema_clause_is_json_valid("json_valid(`a``b`)", "a`b"));
    assert_false(binlog_schema_clause_is_json_valid("json_valid(`a`b`)", "a`b"));
    assert_false(binlog_schema_clause_is_json_valid("json_valid(`doc`)", "do"));
    assert_false(binlog_schema_clause_is_json_valid("json_valid(`do`)", "doc"));
    assert_false(binlog_schema_clause_is_json_valid("json_valid(`doc`) and 1", "doc"));
    assert_false(binlog_schema_clause_is_json_valid("`doc` is not null", "doc"));
}

static void test_literals(void **state)
{
    (void)state;
    rl_buf b = RL_BUF_INIT;
    snap_col c;
    memset(&c, 0, sizeof c);
    c.name = "k";
    c.kind = SNAP_K_TEXT;
    c.charset = "utf8mb4";
    c.collation = "utf8mb4_general_ci";
    assert_int_equal(binlog__snap_literal(&b, &c, (const uint8_t *)"a'b", 3, NULL), 0);
    assert_string_equal(rl_buf_cstr(&b), "_utf8mb4 X'612762' COLLATE utf8mb4_general_ci");
    rl_buf_reset(&b);
    c.collation = "utf8mb4_bin; DROP TABLE x";
    assert_int_equal(binlog__snap_literal(&b, &c, (const uint8_t *)"a", 1, NULL), RL_ECORRUPT);
    rl_buf_reset(&b);
    c.kind = SNAP_K_BYTES;
    assert_int_equal(binlog__snap_literal(&b, &c, (const uint8_t *)"\x00\xff", 2, NULL), 0);
    assert_string_equal(rl_buf_cstr(&b), "X'00FF'");
    rl_buf_reset(&b);
    c.kind = SNAP_K_INT;
    assert_int_equal(binlog__snap_literal(&b, &c, (const uint8_t *)"-42", 3, NULL), 0);
    assert_string_equal(rl_buf_cstr(&b), "-42");
    rl_buf_reset(&b);
    assert_int_equal(binlog__snap_literal(&b, &c, (const uint8_t *)"1 OR 1", 6, NULL), RL_ECORRUPT);
    rl_buf_reset(&b);
    c.kind = SNAP_K_DATETIME;
    assert_int_equal(
        binlog__snap_literal(&b, &c, (const uint8_t *)"2024-02-29 12:00:00.5", 21, NULL), 0);
    assert_string_equal(rl_buf_cstr(&b), "'2024-02-29 12:00:00.5'");
    rl_buf_reset(&b);
    assert_int_equal(binlog__snap_literal(&b, &c, (const uint8_t *)"2024' --", 8, NULL),
                     RL_ECORRUPT);
    rl_buf_reset(&b);
    c.kind = SNAP_K_DOUBLE;
    assert_int_equal(binlog__snap_literal(&b, &c, (const uint8_t *)"1.5", 3, NULL), RL_ECORRUPT);
    rl_buf_reset(&b);
    binlog__snap_ident(&b, "we`ird");
    assert_string_equal(rl_buf_cstr(&b), "`we``ird`");
    rl_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_temporal),
        cmocka_unit_test(test_strings_and_bytes),
        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_json_columns),
        cmocka_unit_test(test_clause_is_json_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
