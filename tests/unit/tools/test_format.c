/* Unit tests of the pure helpers behind `rowlog tail` and `rowlog offsets`: the JSON walker
 * (json_walk.c), TIME arguments (time_arg.c, checked against hand-computed epochs and against
 * glibc's timegm) and the pretty printer (pretty.c). Expected lines are written by hand from
 * the layout documented in pretty.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/tools.h"

static rl_slice S(const char *s)
{
    return rl_slice_str(s);
}

static void expect_slice(rl_slice got, const char *want)
{
    if (got.len != strlen(want) || memcmp(got.p, want, got.len) != 0)
        fail_msg("got '%.*s', want '%s'", (int)got.len, (const char *)got.p, want);
}

static void test_json_walk_object(void **state)
{
    (void)state;
    const char *t = " { \"a\" : 1 , \"b\":{\"x\":[1,{\"y\":\"}\"}]},\"c\":\"q\\\"}\" ,\"d\":null} ";
    size_t pos = 0;
    rl_slice k, v;
    assert_true(tool_json_object_next(S(t), &pos, &k, &v));
    expect_slice(k, "a");
    expect_slice(v, "1");
    assert_true(tool_json_object_next(S(t), &pos, &k, &v));
    expect_slice(k, "b");
    expect_slice(v, "{\"x\":[1,{\"y\":\"}\"}]}");
    assert_true(tool_json_object_next(S(t), &pos, &k, &v));
    expect_slice(k, "c");
    expect_slice(v, "\"q\\\"}\"");
    assert_true(tool_json_object_next(S(t), &pos, &k, &v));
    expect_slice(k, "d");
    expect_slice(v, "null");
    assert_false(tool_json_object_next(S(t), &pos, &k, &v));

    assert_true(tool_json_member(S(t), "d", &v));
    expect_slice(v, "null");
    assert_false(tool_json_member(S(t), "x", &v)); /* nested members are not top-level */
    pos = 0;
    assert_false(tool_json_object_next(S("{}"), &pos, &k, &v));
    pos = 0;
    assert_false(tool_json_object_next(S("[1]"), &pos, &k, &v));

    /* Truncated or broken texts end the walk without reading past the slice. */
    static const char *const bad[] = {"{",          "{\"a",      "{\"a\":", "{\"a\":{",
                                      "{\"a\":\"x", "{\"a\" 1}", "{1:2}",   ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        /* Copy to a heap block of the exact size so ASan flags any over-read. */
        size_t n = strlen(bad[i]);
        char *p = malloc(n ? n : 1);
        memcpy(p, bad[i], n);
        pos = 0;
        assert_false(tool_json_object_next(rl_slice_make(p, n), &pos, &k, &v));
        free(p);
    }
}

static void test_json_walk_array_int(void **state)
{
    (void)state;
    const char *t = "[{\"partition\":0,\"offset\":17}, {\"partition\":3,\"offset\":-1}]";
    size_t pos = 0;
    rl_slice v, off;
    int64_t n;
    assert_true(tool_json_array_next(S(t), &pos, &v));
    assert_true(tool_json_member(v, "offset", &off));
    assert_true(tool_json_int(off, &n));
    assert_int_equal(n, 17);
    assert_true(tool_json_array_next(S(t), &pos, &v));
    assert_true(tool_json_member(v, "offset", &off));
    assert_true(tool_json_int(off, &n));
    assert_int_equal(n, -1);
    assert_false(tool_json_array_next(S(t), &pos, &v));
    pos = 0;
    assert_false(tool_json_array_next(S("[]"), &pos, &v));

    assert_true(tool_json_int(S("9223372036854775807"), &n));
    assert_true(n == INT64_MAX);
    assert_false(tool_json_int(S("9223372036854775808"), &n));
    assert_false(tool_json_int(S("1.5"), &n));
    assert_false(tool_json_int(S("\"1\""), &n));
    assert_false(tool_json_int(S("-"), &n));
    assert_false(tool_json_int(S(""), &n));
}

static void test_parse_time(void **state)
{
    (void)state;
    int64_t ms = -1;
    /* Epochs computed with `date -u -d ... +%s`. */
    assert_int_equal(tool_parse_time("1970-01-01T00:00:00Z", 0, &ms), 0);
    assert_true(ms == 0);
    assert_int_equal(tool_parse_time("2026-11-23T10:00:00Z", 0, &ms), 0);
    assert_true(ms == 1795428000000LL);
    assert_int_equal(tool_parse_time("2026-11-23t10:00:00z", 0, &ms), 0);
    assert_true(ms == 1795428000000LL);
    assert_int_equal(tool_parse_time("2026-11-23 11:30:00+01:30", 0, &ms), 0);
    assert_true(ms == 1795428000000LL);
    assert_int_equal(tool_parse_time("2000-02-29T00:00:00.25-00:00", 0, &ms), 0);
    assert_true(ms == 951782400250LL);
    assert_int_equal(tool_parse_time("1999-12-31T23:59:59.123456789Z", 0, &ms), 0);
    assert_true(ms == 946684799123LL);
    assert_int_equal(tool_parse_time("2000-02-29", 0, &ms), 0);
    assert_true(ms == 951782400000LL);

    /* Relative to now. */
    assert_int_equal(tool_parse_time("-10m", 5000000, &ms), 0);
    assert_true(ms == 5000000 - 600000);
    assert_int_equal(tool_parse_time("-2h", 86400000, &ms), 0);
    assert_true(ms == 86400000 - 7200000);
    assert_int_equal(tool_parse_time("-1d", 86400000, &ms), 0);
    assert_true(ms == 0);
    assert_int_equal(tool_parse_time("-1500ms", 2000, &ms), 0);
    assert_true(ms == 500);
    assert_int_equal(tool_parse_time("-30s", 60000, &ms), 0);
    assert_true(ms == 30000);

    static const char *const bad[] = {"",
                                      "-",
                                      "-10",
                                      "-10x",
                                      "--10m",
                                      "-m",
                                      "-2d" /* before the epoch with now=1 day */,
                                      "2026-11-23T10:00:00",
                                      /* no offset */ "2026-11-23T10:00Z",
                                      "2026-13-01",
                                      "2026-00-10",
                                      "2001-02-29",
                                      "1900-02-29",
                                      "2026-04-31",
                                      "2026-11-23T24:00:00Z",
                                      "2026-11-23T10:60:00Z",
                                      "2026-11-23T10:00:00+25:00",
                                      "2026-11-23T10:00:00Zx",
                                      "2026-11-23T10:00:00.Z",
                                      "1969-12-31T23:59:59Z",
                                      "26-11-23",
                                      "2026/11/23",
                                      "2026-11-23X10:00:00Z",
                                      "123"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (tool_parse_time(bad[i], 86400000, &ms) != -EINVAL)
            fail_msg("'%s' accepted", bad[i]);
    }
}

/* Seeded sweep against glibc's timegm over years 1970-2400. */
static void test_parse_time_vs_timegm(void **state)
{
    (void)state;
    unsigned seed = (unsigned)time(NULL);
    printf("seed %u\n", seed);
    srand(seed);
    for (int i = 0; i < 20000; i++) {
        struct tm tm = {0};
        tm.tm_year = 70 + rand() % 431;
        tm.tm_mon = rand() % 12;
        tm.tm_mday = 1 + rand() % 28;
        tm.tm_hour = rand() % 24;
        tm.tm_min = rand() % 60;
        tm.tm_sec = rand() % 60;
        char s[64];
        snprintf(s, sizeof s, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        int64_t want = (int64_t)timegm(&tm) * 1000, got = -1;
        assert_int_equal(tool_parse_time(s, 0, &got), 0);
        if (got != want)
            fail_msg("%s: got %lld want %lld", s, (long long)got, (long long)want);
    }
}

static void expect_pretty(const char *key, const char *value, bool color, const char *want)
{
    rl_buf b = RL_BUF_INIT;
    tool_pretty_format(&b, "rowlog.shop.orders", 2, 41, key, key ? strlen(key) : 0, value,
                       value ? strlen(value) : 0, color);
    assert_true(rl_buf_ok(&b));
    const char *got = rl_buf_cstr(&b);
    if (strcmp(got, want) != 0)
        fail_msg("got  %s\nwant %s", got, want);
    rl_buf_free(&b);
}

#define SRC                                                                                        \
    "\"source\":{\"name\":\"rowlog\",\"server_id\":1,\"file\":\"binlog.000001\",\"pos\":4,"        \
    "\"row\":0,\"gtid\":\"0-1-7\",\"db\":\"shop\",\"table\":\"orders\",\"ts_ms\":1,"               \
    "\"snapshot\":false}"

static void test_pretty(void **state)
{
    (void)state;
    expect_pretty("{\"id\":3}",
                  "{\"before\":null,\"after\":{\"id\":3,\"qty\":2,\"note\":\"a b\"}," SRC
                  ",\"op\":\"c\",\"ts_ms\":5}",
                  false, "c shop.orders {\"id\":3} id=3 qty=2 note=\"a b\"\n");
    expect_pretty("{\"id\":3}",
                  "{\"before\":{\"id\":3,\"qty\":2,\"note\":\"a\"},\"after\":{\"id\":3,\"qty\":5,"
                  "\"note\":\"a\",\"extra\":null}," SRC ",\"op\":\"u\",\"ts_ms\":5}",
                  false, "u shop.orders {\"id\":3} qty=2->5 extra=null\n");
    expect_pretty("{\"id\":3}",
                  "{\"before\":{\"id\":3,\"qty\":2},\"after\":null," SRC
                  ",\"op\":\"d\",\"ts_ms\":5}",
                  false, "d shop.orders {\"id\":3} id=3 qty=2\n");
    /* Coloured: SGR sequences around op, table, key and values. */
    expect_pretty("{\"id\":3}",
                  "{\"before\":{\"id\":3,\"qty\":2},\"after\":{\"id\":3,\"qty\":5}," SRC
                  ",\"op\":\"u\",\"ts_ms\":5}",
                  true,
                  "\033[33mu\033[0m \033[1mshop.orders\033[0m \033[36m{\"id\":3}\033[0m "
                  "qty=\033[31m2\033[0m->\033[32m5\033[0m\n");
    /* Not envelopes: a tombstone, a plain value. */
    expect_pretty("{\"id\":3}", NULL, false, "rowlog.shop.orders[2]@41 {\"id\":3} (tombstone)\n");
    expect_pretty(NULL, "hello", false, "rowlog.shop.orders[2]@41 null \"hello\"\n");
    expect_pretty("k", "{\"op\":\"x\"}", false, "rowlog.shop.orders[2]@41 \"k\" {\"op\":\"x\"}\n");
}

static void test_envelope_op(void **state)
{
    (void)state;
    static const char *const vals[] = {"{\"op\":\"c\"}",  "{\"a\":{\"op\":\"d\"},\"op\":\"u\"}",
                                       "{\"op\":\"r\"}",  "{\"op\":\"x\"}",
                                       "{\"op\":\"cc\"}", "{\"op\":\"c\"",
                                       "[\"op\",\"c\"]",  "{}"};
    static const int want[] = {'c', 'u', 'r', 0, 0, 0, 0, 0};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        assert_int_equal(tool_envelope_op(vals[i], strlen(vals[i])), want[i]);
    assert_int_equal(tool_envelope_op(NULL, 0), 0);
}

static void test_url_escape(void **state)
{
    (void)state;
    rl_buf b = RL_BUF_INIT;
    tool_url_escape(&b, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,0-1-7 a&b=c/é~");
    assert_string_equal(rl_buf_cstr(&b),
                        "3e11fa47-71ca-11e1-9e33-c80aa9429562%3A1-5%2C0-1-7%20a%26b%3Dc%2F%C3%A9~");
    rl_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_walk_object), cmocka_unit_test(test_json_walk_array_int),
        cmocka_unit_test(test_parse_time),       cmocka_unit_test(test_parse_time_vs_timegm),
        cmocka_unit_test(test_pretty),           cmocka_unit_test(test_envelope_op),
        cmocka_unit_test(test_url_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
