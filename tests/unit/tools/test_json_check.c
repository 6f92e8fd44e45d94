/* Unit tests for tools/json_check.c: the strict JSON validator (RFC 8259, UTF-8 per RFC 3629
 * section 4) and the embedding rule of `rowlog tail`. Cases are written from the RFCs, not
 * from the implementation; a seeded random generator adds documents whose every proper
 * prefix must be rejected (the seed is printed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/tools.h"

static bool valid_n(const char *s, size_t n)
{
    return tool_json_valid(s, n, NULL);
}

static bool valid(const char *s)
{
    return valid_n(s, strlen(s));
}

static void test_valid_texts(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "0",
        "-0",
        "1",
        "-1",
        "123456789012345678901234567890",
        "0.5",
        "-0.0",
        "1e5",
        "1E5",
        "1e+5",
        "1e-5",
        "1.25e-300",
        "-12.5E+10",
        "true",
        "false",
        "null",
        "\"\"",
        "\"a\"",
        "\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"",
        "\"\\u0000\\u00e9\\uFFFF\\uD83D\\uDE00\"",
        "\"\\uD800\"", /* unpaired surrogate escape: allowed by the RFC 8259 grammar */
        "{}",
        "[]",
        "[[]]",
        "{\"a\":{}}",
        " \t\r\n{ \"a\" : [ 1 , 2 , { } ] }\n\t ",
        "{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"},\"a\":2}",
        "[1,\"x\",-2.5e3,[],{},null]",
        "\"caf\xc3\xa9\"",      /* 2-byte UTF-8 */
        "\"\xe2\x9c\x93\"",     /* U+2713, 3 bytes */
        "\"\xef\xbf\xbf\"",     /* U+FFFF */
        "\"\xf0\x9f\x98\x80\"", /* U+1F600, 4 bytes */
        "\"\xf4\x8f\xbf\xbf\"", /* U+10FFFF, the last one */
        "\"\xe0\xa0\x80\"",     /* U+0800, smallest 3-byte */
        "\"\xf0\x90\x80\x80\"", /* U+10000, smallest 4-byte */
        "\"\xed\x9f\xbf\"",     /* U+D7FF, just below surrogates */
        "\"\xee\x80\x80\"",     /* U+E000, just above */
        "\"\x7f\"",             /* DEL is not a control char in JSON */
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        size_t bad = 12345;
        if (!tool_json_valid(ok[i], strlen(ok[i]), &bad))
            fail_msg("rejected valid JSON #%zu <%s> at %zu", i, ok[i], bad);
        assert_int_equal(bad, 12345); /* untouched when valid */
    }
}

static void test_invalid_texts(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        " ",
        "\n",
        "01",
        "-01",
        "00",
        "1.",
        ".5",
        "+1",
        "1e",
        "1e+",
        "-",
        "--1",
        "0x10",
        "1.e5",
        "NaN",
        "Infinity",
        "-Infinity",
        "tru",
        "truex",
        "nul",
        "True",
        "NULL",
        "[1,]",
        "[,1]",
        "[1 2]",
        "{\"a\":1,}",
        "{,}",
        "{a:1}",
        "{\"a\" 1}",
        "{\"a\":}",
        "{1:2}",
        "{\"a\"}",
        "['a']",
        "'a'",
        "\"\\x\"",
        "\"\\u12G4\"",
        "\"\\u123\"",
        "\"\\U0041\"",
        "\"a",
        "\"a\\\"",
        "[",
        "]",
        "{",
        "}",
        "{\"a\":1]",
        "[1}",
        "[1]]",
        "{}}",
        "{} {}",
        "1 2",
        "[] x",
        "/* c */ 1",
        "1 // c",
        "\xef\xbb\xbf{}", /* UTF-8 byte-order mark */
        "\"tab\there\"",  /* raw control character */
        "\"nl\nhere\"",
        "\"\x1f\"",
        "\"\xc0\x80\"",         /* overlong NUL */
        "\"\xc1\xbf\"",         /* overlong 2-byte */
        "\"\xe0\x80\x80\"",     /* overlong 3-byte */
        "\"\xe0\x9f\xbf\"",     /* overlong, just below U+0800 */
        "\"\xed\xa0\x80\"",     /* encoded surrogate U+D800 */
        "\"\xed\xbf\xbf\"",     /* encoded surrogate U+DFFF */
        "\"\xf0\x80\x80\x80\"", /* overlong 4-byte */
        "\"\xf0\x8f\xbf\xbf\"", /* overlong, just below U+10000 */
        "\"\xf4\x90\x80\x80\"", /* above U+10FFFF */
        "\"\xf5\x80\x80\x80\"",
        "\"\xff\"",
        "\"\xfe\"",
        "\"\x80\"", /* stray continuation */
        "\"\xc3\"", /* sequence cut by the closing quote */
        "\"\xe2\x9c\"",
        "\"\xc3\x28\"",
        "\xc3\xa9", /* UTF-8 outside a string */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (valid(bad[i]))
            fail_msg("accepted invalid JSON #%zu <%s>", i, bad[i]);
    }
    /* Embedded NUL bytes, inside and after a value. */
    assert_false(valid_n("\"a\0b\"", 5));
    assert_false(valid_n("{}\0", 3));
    assert_false(valid_n("1\0", 2));
    assert_false(tool_json_valid(NULL, 0, NULL));
}

static void expect_bad_at(const char *s, size_t want)
{
    size_t at = 999;
    assert_false(tool_json_valid(s, strlen(s), &at));
    if (at != want)
        fail_msg("<%s>: bad_at %zu, want %zu", s, at, want);
}

static void test_error_offsets(void **state)
{
    (void)state;
    expect_bad_at("01", 1);
    expect_bad_at("[1,]", 3);
    expect_bad_at("{\"a\":1,}", 7);
    expect_bad_at("{\"a\" 1}", 5);
    expect_bad_at("[1 2]", 3);
    expect_bad_at("\"ab\\q\"", 4);
    expect_bad_at("\"\\u12x4\"", 5);
    expect_bad_at("\"a\xed\xa0\x80\"", 3); /* the byte after ED is out of range */
    expect_bad_at("\"\xff\"", 1);
    expect_bad_at("{} x", 3);
    /* Ended too early: the length. */
    expect_bad_at("", 0);
    expect_bad_at("[1,2", 4);
    expect_bad_at("{\"a\":", 5);
    expect_bad_at("\"abc", 4);
    expect_bad_at("tr", 2);
    expect_bad_at("-", 1);
    expect_bad_at("1e", 2);
    expect_bad_at("[\"\xe2\x9c", 4);
}

static void test_depth_limit(void **state)
{
    (void)state;
    static char s[6 * TOOL_JSON_MAX_DEPTH];
    static char full[8 * TOOL_JSON_MAX_DEPTH];
    size_t d = TOOL_JSON_MAX_DEPTH;
    /* Exactly the limit: valid. */
    memset(s, '[', d);
    memset(s + d, ']', d);
    assert_true(valid_n(s, 2 * d));
    /* One deeper: refused at the opening bracket past the limit. */
    memset(s, '[', d + 1);
    memset(s + d + 1, ']', d + 1);
    size_t at = 0;
    assert_false(tool_json_valid(s, 2 * d + 2, &at));
    assert_int_equal(at, d);
    /* Mixed containers at the limit: objects and arrays alternate. */
    size_t n = 0;
    for (size_t i = 0; i < d; i++) {
        if (i % 2 == 0) {
            memcpy(s + n, "{\"k\":", 5);
            n += 5;
        } else {
            s[n++] = '[';
        }
    }
    memcpy(full, s, n);
    size_t m = n;
    full[m++] = '0';
    for (size_t i = d; i-- > 0;)
        full[m++] = i % 2 == 0 ? '}' : ']';
    assert_true(valid_n(full, m));
    /* A wrong closer deep inside is caught. */
    full[m - 3] = full[m - 3] == '}' ? ']' : '}';
    assert_false(valid_n(full, m));
}

/* Random documents (valid by construction); every proper prefix of a container is invalid
 * and reported at the end of the text. */
typedef struct gen {
    uint64_t x;
    rl_buf b;
} gen;

static uint32_t gen_next(gen *g)
{
    g->x ^= g->x << 13;
    g->x ^= g->x >> 7;
    g->x ^= g->x << 17;
    return (uint32_t)(g->x >> 11);
}

static void gen_ws(gen *g)
{
    static const char ws[] = " \t\r\n";
    while (gen_next(g) % 4 == 0)
        rl_buf_putc(&g->b, ws[gen_next(g) % 4]);
}

static void gen_string(gen *g)
{
    static const char *const pieces[] = {"a",
                                         "Z",
                                         "\\n",
                                         "\\\"",
                                         "\\u00e9",
                                         "\\uD83D\\uDE00",
                                         "\xc3\xa9",
                                         "\xe2\x9c\x93",
                                         "\xf0\x9f\x98\x80",
                                         " ",
                                         "\\/",
                                         "\\\\"};
    rl_buf_putc(&g->b, '"');
    unsigned n = gen_next(g) % 6;
    for (unsigned i = 0; i < n; i++)
        rl_buf_puts(&g->b, pieces[gen_next(g) % (sizeof pieces / sizeof pieces[0])]);
    rl_buf_putc(&g->b, '"');
}

static void gen_value(gen *g, int depth)
{
    static const char *const scalars[] = {"0",    "-1",    "12.5", "1e9", "-0.25E-3",
                                          "true", "false", "null", "7"};
    unsigned kind = gen_next(g) % (depth > 6 ? 2 : 4);
    gen_ws(g);
    if (kind == 0) {
        rl_buf_puts(&g->b, scalars[gen_next(g) % (sizeof scalars / sizeof scalars[0])]);
    } else if (kind == 1) {
        gen_string(g);
    } else {
        bool obj = kind == 3;
        rl_buf_putc(&g->b, obj ? '{' : '[');
        unsigned n = gen_next(g) % 4;
        for (unsigned i = 0; i < n; i++) {
            if (i)
                rl_buf_putc(&g->b, ',');
            if (obj) {
                gen_ws(g);
                gen_string(g);
                gen_ws(g);
                rl_buf_putc(&g->b, ':');
            }
            gen_value(g, depth + 1);
        }
        gen_ws(g);
        rl_buf_putc(&g->b, obj ? '}' : ']');
    }
    gen_ws(g);
}

static void test_random_documents(void **state)
{
    (void)state;
    uint64_t seed = (uint64_t)time(NULL);
    const char *env = getenv("RL_TEST_SEED");
    if (env)
        seed = strtoull(env, NULL, 10);
    printf("test_random_documents seed %llu (set RL_TEST_SEED to repeat)\n",
           (unsigned long long)seed);
    gen g = {seed * 2654435761u + 1, RL_BUF_INIT};
    for (int doc = 0; doc < 2000; doc++) {
        rl_buf_reset(&g.b);
        rl_buf_putc(&g.b, gen_next(&g) % 2 ? '[' : '{');
        bool obj = g.b.p[0] == '{';
        if (obj) {
            gen_string(&g);
            rl_buf_putc(&g.b, ':');
        }
        gen_value(&g, 0);
        rl_buf_putc(&g.b, obj ? '}' : ']');
        assert_true(rl_buf_ok(&g.b));
        size_t at = 0;
        if (!tool_json_valid(g.b.p, g.b.len, &at))
            fail_msg("seed %llu doc %d: valid document rejected at %zu: %.*s",
                     (unsigned long long)seed, doc, at, (int)g.b.len, (const char *)g.b.p);
        for (size_t cut = 0; cut < g.b.len; cut++) {
            at = 999999;
            if (tool_json_valid(g.b.p, cut, &at))
                fail_msg("seed %llu doc %d: prefix of %zu bytes accepted", (unsigned long long)seed,
                         doc, cut);
            if (at != cut)
                fail_msg("seed %llu doc %d: prefix of %zu bytes reported at %zu: %.*s",
                         (unsigned long long)seed, doc, cut, at, (int)cut, (const char *)g.b.p);
        }
    }
    rl_buf_free(&g.b);
}

static void expect_embed(const char *in, size_t n, const char *want)
{
    rl_buf b = RL_BUF_INIT;
    tool_json_embed(&b, in, n);
    assert_true(rl_buf_ok(&b));
    const char *got = rl_buf_cstr(&b);
    if (strcmp(got, want) != 0)
        fail_msg("embed <%.*s>: got <%s>, want <%s>", (int)n, in ? in : "", got, want);
    /* Whatever went in, what comes out is one valid JSON value on one line. */
    assert_true(tool_json_valid(b.p, b.len, NULL));
    assert_null(memchr(b.p, '\n', b.len));
    rl_buf_free(&b);
}

static void test_embed(void **state)
{
    (void)state;
    expect_embed(NULL, 0, "null");
    expect_embed("{\"id\":1}", 8, "{\"id\":1}");
    expect_embed("{\"a\":\n 1,\r\n\"b\":2}", 17, "{\"a\":  1,  \"b\":2}");
    expect_embed("not json", 8, "\"not json\"");
    expect_embed("", 0, "\"\"");
    expect_embed("{\"a\":1", 6, "\"{\\\"a\\\":1\"");
    expect_embed("line1\nline2", 11, "\"line1\\nline2\"");
    expect_embed("\xff\x01", 2, "\"\\u00ff\\u0001\"");
    expect_embed("\"caf\xc3\xa9\"", 7, "\"caf\xc3\xa9\"");
    expect_embed("\"bad \xc3\"", 7, "\"\\\"bad \\u00c3\\\"\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_texts),      cmocka_unit_test(test_invalid_texts),
        cmocka_unit_test(test_error_offsets),    cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_random_documents), cmocka_unit_test(test_embed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
