/*
 * MySQL binary JSON (reader/json_binary.c): hand-built documents, encoded here from the format
 * of mysql-server sql-common/json_binary.cc (small and large containers, inlined scalars,
 * variable-length string sizes, opaque values), printed and compared with the text MySQL
 * prints for them (sql-common/json_dom.cc wrapper_to_string, strings/dtoa.cc my_gcvt);
 * corrupt documents (every truncation of a valid one, offsets out of bounds, nesting deeper
 * than 100) must fail with RL_ECORRUPT and never read outside the document (ASan run); JSON
 * diffs (sql/json_diff.cc) applied to a before image. Through the decoder: the MySQL fixtures
 * with binary JSON and VECTOR columns, and PARTIAL_UPDATE_ROWS events built on the table of
 * rust_mysql_common__json.binlog.000001 (its own partial update has a MINIMAL before image
 * and must stop with RL_EUNSUPPORTED naming the settings to change).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reader/rows_int.h"
#include "tests/unit/reader/json_mini.h"

#include <sys/stat.h>

/* ------------------------------------------------------------------ encoder */

typedef struct val {
    uint8_t type;
    uint8_t *b; /* value bytes, without the type byte */
    size_t n;
} val;

static val v_bytes(uint8_t type, const void *p, size_t n)
{
    val v = {type, malloc(n ? n : 1), n};
    assert_non_null(v.b);
    if (n)
        memcpy(v.b, p, n);
    return v;
}

static val v_le(uint8_t type, uint64_t x, size_t n)
{
    uint8_t t[8];
    for (size_t i = 0; i < n; i++)
        t[i] = (uint8_t)(x >> (8 * i));
    return v_bytes(type, t, n);
}

static val v_lit(int l)
{
    return v_le(0x04, (uint64_t)l, 1);
}
static val v_i16(int16_t x)
{
    return v_le(0x05, (uint16_t)x, 2);
}
static val v_u16(uint16_t x)
{
    return v_le(0x06, x, 2);
}
static val v_i32(int32_t x)
{
    return v_le(0x07, (uint32_t)x, 4);
}
static val v_u32(uint32_t x)
{
    return v_le(0x08, x, 4);
}
static val v_i64(int64_t x)
{
    return v_le(0x09, (uint64_t)x, 8);
}
static val v_u64(uint64_t x)
{
    return v_le(0x0a, x, 8);
}

static val v_double(double d)
{
    uint64_t x;
    memcpy(&x, &d, 8);
    return v_le(0x0b, x, 8);
}

static size_t put_varlen(uint8_t *o, size_t n)
{
    size_t k = 0;
    do {
        uint8_t c = (uint8_t)(n & 0x7f);
        n >>= 7;
        o[k++] = (uint8_t)(c | (n ? 0x80 : 0));
    } while (n);
    return k;
}

static val v_strn(const char *s, size_t n)
{
    uint8_t *t = malloc(n + 5);
    assert_non_null(t);
    size_t k = put_varlen(t, n);
    memcpy(t + k, s, n);
    val v = v_bytes(0x0c, t, k + n);
    free(t);
    return v;
}
static val v_str(const char *s)
{
    return v_strn(s, strlen(s));
}

static val v_opaque(uint8_t ftype, const void *p, size_t n)
{
    uint8_t *t = malloc(n + 6);
    assert_non_null(t);
    t[0] = ftype;
    size_t k = 1 + put_varlen(t + 1, n);
    memcpy(t + k, p, n);
    val v = v_bytes(0x0f, t, k + n);
    free(t);
    return v;
}

static bool inlined(uint8_t t, bool large)
{
    return t == 0x04 || t == 0x05 || t == 0x06 || (large && (t == 0x07 || t == 0x08));
}

static void put_off(uint8_t *o, size_t x, bool large)
{
    for (size_t i = 0; i < (large ? 4u : 2u); i++)
        o[i] = (uint8_t)(x >> (8 * i));
}

/* A container of n values (keys != NULL: an object); frees the values. */
static val v_cont(bool large, size_t n, const char *const *keys, val *vals)
{
    size_t os = large ? 4 : 2;
    size_t hdr = 2 * os + (keys ? n * (os + 2) : 0) + n * (1 + os);
    size_t size = hdr;
    for (size_t i = 0; keys && i < n; i++)
        size += strlen(keys[i]);
    for (size_t i = 0; i < n; i++)
        if (!inlined(vals[i].type, large))
            size += vals[i].n + 1 - 1;
    uint8_t *o = calloc(1, size);
    assert_non_null(o);
    put_off(o, n, large);
    put_off(o + os, size, large);
    size_t at = hdr;
    for (size_t i = 0; keys && i < n; i++) {
        size_t kl = strlen(keys[i]);
        uint8_t *e = o + 2 * os + i * (os + 2);
        put_off(e, at, large);
        e[os] = (uint8_t)kl;
        e[os + 1] = (uint8_t)(kl >> 8);
        memcpy(o + at, keys[i], kl);
        at += kl;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t *e = o + 2 * os + (keys ? n * (os + 2) : 0) + i * (1 + os);
        e[0] = vals[i].type;
        if (inlined(vals[i].type, large)) {
            memcpy(e + 1, vals[i].b, vals[i].n);
        } else {
            put_off(e + 1, at, large);
            memcpy(o + at, vals[i].b, vals[i].n);
            at += vals[i].n;
        }
        free(vals[i].b);
    }
    assert_int_equal(at, size);
    uint8_t type = (uint8_t)((keys ? 0 : 2) + (large ? 1 : 0));
    val v = {type, o, size};
    return v;
}

/* The document: type byte + value. Frees v. */
static rl_slice doc_of(val v, uint8_t **store)
{
    uint8_t *d = malloc(v.n + 1);
    assert_non_null(d);
    d[0] = v.type;
    memcpy(d + 1, v.b, v.n);
    free(v.b);
    *store = d;
    return rl_slice_make(d, v.n + 1);
}

static void check_doc(val v, const char *want)
{
    uint8_t *d;
    rl_slice doc = doc_of(v, &d);
    rl_buf out = RL_BUF_INIT;
    rl_err err;
    memset(&err, 0, sizeof err);
    int rc = binlog__json_print(&out, doc, &err);
    if (rc != 0)
        fail_msg("want %s, got %s: %s", want, rl_errname(rc), err.msg);
    const char *got = rl_buf_cstr(&out);
    if (strcmp(got, want) != 0)
        fail_msg("got [%s], want [%s]", got, want);
    rl_buf_free(&out);
    free(d);
}

static void check_corrupt(const uint8_t *p, size_t n, const char *what)
{
    /* A copy of exactly n bytes, so ASan sees any read past it. */
    uint8_t *d = malloc(n ? n : 1);
    assert_non_null(d);
    memcpy(d, p, n);
    rl_buf out = RL_BUF_INIT;
    rl_err err;
    memset(&err, 0, sizeof err);
    int rc = binlog__json_print(&out, rl_slice_make(d, n), &err);
    if (rc != RL_ECORRUPT)
        fail_msg("%s: want RL_ECORRUPT, got %s (%s)", what, rl_errname(rc),
                 rc == 0 ? rl_buf_cstr(&out) : err.msg);
    assert_non_null(strstr(err.msg, "binary JSON"));
    rl_buf_free(&out);
    free(d);
}

/* ------------------------------------------------------------------ tests */

static void test_scalars(void **state)
{
    (void)state;
    check_doc(v_lit(0), "null");
    check_doc(v_lit(1), "true");
    check_doc(v_lit(2), "false");
    check_doc(v_i16(-32768), "-32768");
    check_doc(v_u16(65535), "65535");
    check_doc(v_i32(INT32_MIN), "-2147483648");
    check_doc(v_u32(UINT32_MAX), "4294967295");
    check_doc(v_i64(INT64_MIN), "-9223372036854775808");
    check_doc(v_u64(UINT64_MAX), "18446744073709551615");
    check_doc(v_str(""), "\"\"");
    check_doc(v_str("h\xc3\xa9llo \xf0\x9f\x98\x80"), "\"h\xc3\xa9llo \xf0\x9f\x98\x80\"");
    /* double_quote: \" \\ \b \f \n \r \t, other control bytes \u00xx, '/' and 0x7f as is. */
    check_doc(v_strn("a\"b\\c\b\f\n\r\t\x01\x1f/\x7f", 14),
              "\"a\\\"b\\\\c\\b\\f\\n\\r\\t\\u0001\\u001f/\x7f\"");
    /* A string longer than 127 bytes has a two-byte size. */
    char big[300];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char want[310];
    snprintf(want, sizeof want, "\"%s\"", big);
    check_doc(v_str(big), want);
    /* An empty document is the null literal. */
    rl_buf out = RL_BUF_INIT;
    assert_int_equal(binlog__json_print(&out, rl_slice_make("", 0), NULL), 0);
    assert_string_equal(rl_buf_cstr(&out), "null");
    rl_buf_free(&out);
}

static void test_doubles(void **state)
{
    (void)state;
    /* my_gcvt with MY_GCVT_MAX_FIELD_WIDTH and shortest digits, ".0" after integral values. */
    static const struct {
        double d;
        const char *want;
    } t[] = {
        {1.0, "1.0"},
        {-2.0, "-2.0"},
        {0.0, "0.0"},
        {0.1, "0.1"},
        {-0.5, "-0.5"},
        {3.14159, "3.14159"},
        {0.1 + 0.2, "0.30000000000000004"},
        {1e14, "100000000000000.0"},
        {1e15, "1e15"},
        {123456789012345678.0, "1.2345678901234568e17"},
        {1234567890123456.7, "1234567890123456.8"},
        {1e100, "1e100"},
        {-1.5e300, "-1.5e300"},
        {0.0001, "0.0001"},
        {0.00001, "0.00001"},
        {1e-15, "0.000000000000001"},
        {1.5e-16, "1.5e-16"},
        {2.5e-100, "2.5e-100"},
        {1.7976931348623157e308, "1.7976931348623157e308"},
        {5e-324, "5e-324"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        check_doc(v_double(t[i].d), t[i].want);
}

static void test_containers(void **state)
{
    (void)state;
    for (int large = 0; large < 2; large++) {
        /* {"a": 1, "bb": [true, null, "x", 70000, -1.5], "ccc": {}} */
        val arr[5] = {v_lit(1), v_lit(0), v_str("x"), v_u32(70000), v_double(-1.5)};
        val obj[3];
        obj[0] = v_i16(1);
        obj[1] = v_cont(large, 5, NULL, arr);
        obj[2] = v_cont(large, 0, (const char *const[]){NULL}, NULL);
        static const char *const keys[] = {"a", "bb", "ccc"};
        check_doc(v_cont(large, 3, keys, obj),
                  "{\"a\": 1, \"bb\": [true, null, \"x\", 70000, -1.5], \"ccc\": {}}");
        val e[1];
        check_doc(v_cont(large, 0, NULL, e), "[]");
        /* Keys needing escapes. */
        val kv[1] = {v_str("v")};
        static const char *const qk[] = {"a\"b\n"};
        check_doc(v_cont(large, 1, qk, kv), "{\"a\\\"b\\n\": \"v\"}");
    }
    /* Nesting to depth 100 prints; the depth check is MySQL's. */
    val v = v_i16(7);
    for (int d = 0; d < 100; d++) {
        val one[1] = {v};
        v = v_cont(false, 1, NULL, one);
    }
    char *want = malloc(400);
    assert_non_null(want);
    memset(want, '[', 100);
    memcpy(want + 100, "7", 1);
    memset(want + 101, ']', 100);
    want[201] = '\0';
    check_doc(v, want);
    free(want);
}

static void test_opaque(void **state)
{
    (void)state;
    /* DECIMAL(3,2) 1.50: precision, scale, then bin2decimal bytes (sign bit set = positive). */
    uint8_t d1[] = {3, 2, 0x81, 0x32};
    check_doc(v_opaque(246, d1, sizeof d1), "1.50");
    /* DECIMAL(5,2) -123.45: 3 integer digits in 2 bytes, 2 fraction digits in 1, negated. */
    uint8_t d2[] = {5, 2, (uint8_t) ~(0x80 | 0x00), (uint8_t)~123, (uint8_t)~45};
    check_doc(v_opaque(246, d2, sizeof d2), "-123.45");
    uint8_t d3[] = {4, 0, 0x80, 0x00}; /* DECIMAL(4,0) 0 */
    check_doc(v_opaque(246, d3, sizeof d3), "0");

    /* DATETIME 2015-01-15 23:24:25.000001 packed as MySQL's my_datetime_packed. */
    uint64_t ymd = ((uint64_t)(2015 * 13 + 1) << 5) | 15;
    uint64_t ip = (ymd << 17) | (23u << 12) | (24u << 6) | 25u;
    uint64_t packed = (ip << 24) | 1;
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(packed >> (8 * i));
    check_doc(v_opaque(12, b, 8), "\"2015-01-15 23:24:25.000001\"");
    check_doc(v_opaque(7, b, 8), "\"2015-01-15 23:24:25.000001\"");
    uint64_t dpacked = (ymd << 17) << 24;
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(dpacked >> (8 * i));
    check_doc(v_opaque(10, b, 8), "\"2015-01-15\"");
    /* TIME -838:59:59 (negated packed value) and 01:02:03.5. */
    int64_t t1 = -(int64_t)((((uint64_t)838 << 12) | (59u << 6) | 59u) << 24);
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)((uint64_t)t1 >> (8 * i));
    check_doc(v_opaque(11, b, 8), "\"-838:59:59.000000\"");
    uint64_t t2 = ((((uint64_t)1 << 12) | (2u << 6) | 3u) << 24) | 500000;
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(t2 >> (8 * i));
    check_doc(v_opaque(11, b, 8), "\"01:02:03.500000\"");

    /* VAR_STRING opaque prints as a string; other types as base64:typeN:. */
    check_doc(v_opaque(253, "a\"b", 3), "\"a\\\"b\"");
    check_doc(v_opaque(252, "abc", 3), "\"base64:type252:YWJj\"");
    /* MySQL's base64 breaks lines after 76 characters: 60 bytes give 76 + "\n" + 4. */
    uint8_t z[60];
    memset(z, 0, sizeof z);
    char want[200];
    snprintf(want, sizeof want, "\"base64:type15:%.*s\\n%s\"", 76,
             "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
             "AAAA");
    check_doc(v_opaque(15, z, sizeof z), want);
    /* Opaque values inside an array. */
    val arr[2] = {v_opaque(246, d1, sizeof d1), v_opaque(16, "\x05", 1)};
    check_doc(v_cont(false, 2, NULL, arr), "[1.50, \"base64:type16:BQ==\"]");
}

static void test_corrupt(void **state)
{
    (void)state;
    /* Every truncation of a valid document with nested containers fails cleanly. */
    val inner[2] = {v_str("hello"), v_double(2.5)};
    val obj[2] = {v_cont(false, 2, NULL, inner), v_u64(5)};
    static const char *const keys[] = {"k", "kk"};
    uint8_t *d;
    rl_slice doc = doc_of(v_cont(false, 2, keys, obj), &d);
    for (size_t n = 1; n < doc.len; n++)
        check_corrupt(doc.p, n, "truncated");
    free(d);

    static const uint8_t bad_type[] = {0x0d, 0};
    check_corrupt(bad_type, sizeof bad_type, "unknown type");
    static const uint8_t bad_lit[] = {0x04, 3};
    check_corrupt(bad_lit, sizeof bad_lit, "literal 3");
    /* Small array of 1 whose value offset points past its size. */
    static const uint8_t bad_off[] = {0x02, 1, 0, 7, 0, 0x0c, 0x20, 0x00};
    check_corrupt(bad_off, sizeof bad_off, "offset past the container");
    /* Size field larger than the data. */
    static const uint8_t bad_size[] = {0x02, 0, 0, 0x40, 0};
    check_corrupt(bad_size, sizeof bad_size, "size past the data");
    /* Header larger than the size. */
    static const uint8_t bad_hdr[] = {0x02, 5, 0, 4, 0, 0, 0, 0, 0};
    check_corrupt(bad_hdr, sizeof bad_hdr, "header larger than the container");
    /* Key outside its object. */
    static const uint8_t bad_key[] = {0x00, 1, 0, 11, 0, 10, 0, 9, 0, 0x04, 0, 0};
    check_corrupt(bad_key, sizeof bad_key, "key outside");
    /* String size of 6 variable-length bytes. */
    static const uint8_t bad_vl[] = {0x0c, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    check_corrupt(bad_vl, sizeof bad_vl, "varlen");
    /* Strings and keys must be UTF-8 (MySQL stores utf8mb4): a lone continuation byte, an
     * overlong '/', a surrogate, a truncated sequence. */
    static const uint8_t bad_utf8[][6] = {
        {0x0c, 2, 'a', 0x80}, {0x0c, 2, 0xc0, 0xaf}, {0x0c, 3, 0xed, 0xa0, 0x80}, {0x0c, 1, 0xe4}};
    static const size_t bad_utf8_len[] = {4, 4, 5, 3};
    for (size_t i = 0; i < 4; i++)
        check_corrupt(bad_utf8[i], bad_utf8_len[i], "invalid UTF-8 string");
    static const uint8_t bad_ukey[] = {0x00, 1, 0, 12, 0, 11, 0, 1, 0, 0x04, 0, 0, 0xff};
    check_corrupt(bad_ukey, sizeof bad_ukey, "invalid UTF-8 key");

    /* Non-finite double. */
    static const uint8_t nan[] = {0x0b, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f};
    check_corrupt(nan, sizeof nan, "NaN");
    /* Bad opaque DECIMAL and DATETIME. */
    static const uint8_t bad_dec[] = {0x0f, 246, 3, 3, 2, 0x81};
    check_corrupt(bad_dec, sizeof bad_dec, "short DECIMAL");
    static const uint8_t bad_dt[] = {0x0f, 12, 4, 1, 2, 3, 4};
    check_corrupt(bad_dt, sizeof bad_dt, "short DATETIME");

    /* 101 levels of nesting. */
    val v = v_lit(0);
    for (int k = 0; k < 101; k++) {
        val one[1] = {v};
        v = v_cont(true, 1, NULL, one);
    }
    rl_slice deep = doc_of(v, &d);
    check_corrupt(deep.p, deep.len, "depth 101");
    free(d);
}

/* ------------------------------------------------------------------ diffs */

static void put_lenenc(uint8_t *o, size_t *at, size_t n)
{
    if (n < 251) {
        o[(*at)++] = (uint8_t)n;
    } else {
        o[(*at)++] = 252;
        o[(*at)++] = (uint8_t)n;
        o[(*at)++] = (uint8_t)(n >> 8);
    }
}

/* Appends one diff: op, path, and for REPLACE/INSERT the value (a document; frees it). */
static void add_diff(uint8_t *o, size_t *at, uint8_t op, const char *path, val *v)
{
    o[(*at)++] = op;
    put_lenenc(o, at, strlen(path));
    memcpy(o + *at, path, strlen(path));
    *at += strlen(path);
    if (v) {
        put_lenenc(o, at, v->n + 1);
        o[(*at)++] = v->type;
        memcpy(o + *at, v->b, v->n);
        *at += v->n;
        free(v->b);
    }
}

static int apply(rl_slice before, const uint8_t *diffs, size_t n, char **text, rl_err *err)
{
    binlog_decoder_t *dec;
    assert_int_equal(binlog_decoder_new(&dec, NULL, &(binlog_handler){0}), 0);
    struct binlog_charsets *cs = binlog__charsets_get(dec);
    assert_non_null(cs);
    rl_buf out = RL_BUF_INIT;
    int rc = binlog__json_apply_diffs(cs, before, rl_slice_make(diffs, n), &out, err);
    *text = rc == 0 ? strdup(rl_buf_cstr(&out)) : NULL;
    rl_buf_free(&out);
    binlog_decoder_free(dec);
    return rc;
}

static rl_slice before_doc(uint8_t **store)
{
    /* {"a": 1, "b": [1, 2], "zz": {"q": "w"}} */
    val arr[2] = {v_i16(1), v_i16(2)};
    val in[1] = {v_str("w")};
    static const char *const ik[] = {"q"};
    val obj[3] = {v_i16(1), v_cont(false, 2, NULL, arr), v_cont(false, 1, ik, in)};
    static const char *const keys[] = {"a", "b", "zz"};
    return doc_of(v_cont(false, 3, keys, obj), store);
}

static void test_diffs(void **state)
{
    (void)state;
    uint8_t *bd;
    rl_slice before = before_doc(&bd);
    uint8_t diffs[1024];
    size_t at = 0;
    val x = v_str("x"), t = v_lit(1), five = v_i16(5), big = v_double(2.5), k2 = v_str("new");
    add_diff(diffs, &at, 0, "$.a", &x);           /* REPLACE */
    add_diff(diffs, &at, 1, "$.c", &t);           /* INSERT into the object, ordered */
    add_diff(diffs, &at, 1, "$.b[1]", &five);     /* INSERT into the array at 1 */
    add_diff(diffs, &at, 2, "$.b[0]", NULL);      /* REMOVE */
    add_diff(diffs, &at, 1, "$.b[9]", &big);      /* INSERT past the end appends */
    add_diff(diffs, &at, 1, "$.zz.\"k y\"", &k2); /* quoted member name */
    char *text;
    rl_err err;
    int rc = apply(before, diffs, at, &text, &err);
    if (rc)
        fail_msg("%s", err.msg);
    assert_string_equal(text, "{\"a\": \"x\", \"b\": [5, 2, 2.5], \"c\": true, "
                              "\"zz\": {\"q\": \"w\", \"k y\": \"new\"}}");
    free(text);

    /* Replacing the whole document. */
    at = 0;
    val whole = v_str("all");
    add_diff(diffs, &at, 0, "$", &whole);
    assert_int_equal(apply(before, diffs, at, &text, &err), 0);
    assert_string_equal(text, "\"all\"");
    free(text);

    /* A path the before image lacks, a bad path, a bad operation: RL_ECORRUPT. */
    at = 0;
    add_diff(diffs, &at, 2, "$.nope", NULL);
    assert_int_equal(apply(before, diffs, at, &text, &err), RL_ECORRUPT);
    assert_non_null(strstr(err.msg, "$.nope"));
    at = 0;
    add_diff(diffs, &at, 2, "a.b", NULL);
    assert_int_equal(apply(before, diffs, at, &text, &err), RL_ECORRUPT);
    at = 0;
    add_diff(diffs, &at, 7, "$.a", NULL);
    assert_int_equal(apply(before, diffs, at, &text, &err), RL_ECORRUPT);
    /* Truncated diff list. */
    at = 0;
    val y = v_str("y");
    add_diff(diffs, &at, 0, "$.a", &y);
    for (size_t n = 1; n < at; n++)
        assert_int_equal(apply(before, diffs, n, &text, &err), RL_ECORRUPT);
    free(bd);
}

/* ------------------------------------------------------------------ through the decoder */

typedef struct cap {
    size_t n;
    char *value[64];
} cap;

static int cap_change(void *ctx, const binlog_change *c)
{
    cap *k = ctx;
    if (k->n < 64) {
        k->value[k->n] = malloc(c->value.len + 1);
        assert_non_null(k->value[k->n]);
        memcpy(k->value[k->n], c->value.p, c->value.len);
        k->value[k->n][c->value.len] = '\0';
    }
    k->n++;
    return 0;
}

static int cap_commit(void *ctx, const binlog_checkpoint *cp)
{
    (void)ctx;
    (void)cp;
    return 0;
}

static void cap_free(cap *k)
{
    for (size_t i = 0; i < k->n && i < 64; i++)
        free(k->value[i]);
    k->n = 0;
}

/* after.<col> of change i, as JSON text (strings decoded). */
static char *after_col(const cap *k, size_t i, const char *col)
{
    jv v;
    assert_int_equal(jparse(k->value[i], strlen(k->value[i]), &v), 0);
    const jv *a = jget(&v, "after");
    assert_non_null(a);
    const jv *c = jget(a, col);
    assert_non_null(c);
    char *out;
    if (c->type == JSTR) {
        out = strdup(c->s);
    } else if (c->type == JARR) {
        char buf[512];
        size_t n = 0;
        buf[n++] = '[';
        for (size_t j = 0; j < c->n; j++)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", j ? "," : "", c->items[j].s);
        snprintf(buf + n, sizeof buf - n, "]");
        out = strdup(buf);
    } else {
        out = strdup(c->type == JNULL ? "null" : c->s);
    }
    jfree(&v);
    return out;
}

static bool fixture_path(const char *name, char *path, size_t n)
{
    snprintf(path, n, "%s/%s", RL_FIXTURES_DIR, name);
    struct stat st;
    return stat(path, &st) == 0;
}

/* Decodes a fixture (up to byte offset `stop` when not 0); returns the first error. */
static int decode_fixture(const char *name, binlog_decoder_t *dec, uint64_t stop, rl_err *err)
{
    char path[4096];
    assert_true(fixture_path(name, path, sizeof path));
    binlog_file_t *f;
    assert_int_equal(binlog_file_open(&f, path, err), 0);
    binlog_decoder_set_file(dec, name);
    rl_slice ev;
    int rc = 0;
    while ((stop == 0 || binlog_file_offset(f) < stop) && (rc = binlog_file_next(f, &ev, err)) == 1)
        if ((rc = binlog_decoder_feed(dec, ev, err)) < 0)
            break;
    if (rc > 0)
        rc = 0;
    binlog_file_close(f);
    return rc;
}

static void test_fixture_values(void **state)
{
    (void)state;
    char path[4096];
    if (!fixture_path("rust_mysql_common__json-opaque.binlog", path, sizeof path)) {
        print_message("no fixtures at %s: skipped\n", RL_FIXTURES_DIR);
        skip();
    }
    /* MySQL 9.0.1 `foo`.`test` (a JSON): opaque values as MySQL prints them: a VARCHAR (type
     * 15) as base64, DATE, DATETIME and TIME with 6 fractional digits, DECIMALs with their
     * scale, and ordinary values. */
    static const char *const opaque[] = {
        "{\"a\": \"base64:type15:VQ==\"}",
        "{\"b\": \"2012-03-18\"}",
        "{\"c\": \"2012-03-18 11:30:45.000000\"}",
        "{\"c\": \"87:31:46.654321\"}",
        "{\"d\": 123.456}",
        "{\"e\": 9.00}",
        "{\"e\": [0, 1, true, false]}",
        "{\"e\": null}",
    };
    cap k = {0};
    binlog_handler h = {&k, cap_change, cap_commit};
    binlog_decoder_t *dec;
    rl_err err;
    assert_int_equal(binlog_decoder_new(&dec, NULL, &h), 0);
    assert_int_equal(decode_fixture("rust_mysql_common__json-opaque.binlog", dec, 0, &err), 0);
    assert_int_equal(k.n, 8);
    for (size_t i = 0; i < 8; i++) {
        char *got = after_col(&k, i, "a");
        assert_string_equal(got, opaque[i]);
        free(got);
    }
    cap_free(&k);
    binlog_decoder_free(dec);

    /* MySQL 9.0.1 VECTOR(3), VECTOR(2), VECTOR(4): float32 elements, shortest form. */
    static const struct {
        const char *col, *want;
    } vec[] = {
        {"vector_column", "[1.1,2.2,3.3]"}, {"vector_column", "[1,-1,0]"},
        {"vector_column", "[1.1,2.2]"},     {"vector_column2", "[1.1,2.2,3.3,4.4]"},
        {"vector_column", "[1.01,-1.01]"},  {"vector_column2", "[42,43,44,45]"},
    };
    assert_int_equal(binlog_decoder_new(&dec, NULL, &h), 0);
    assert_int_equal(decode_fixture("rust_mysql_common__vector.binlog", dec, 0, &err), 0);
    assert_int_equal(k.n, 10);
    size_t rows[] = {0, 1, 2, 2, 3, 3};
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        char *got = after_col(&k, rows[i], vec[i].col);
        assert_string_equal(got, vec[i].want);
        free(got);
    }
    char *got = after_col(&k, 9, "vector_column2");
    assert_string_equal(got, "[42.1,43.2,44.3,45.4]");
    free(got);
    cap_free(&k);
    binlog_decoder_free(dec);

    /* MySQL 5.7 every-type table: the JSON column. */
    assert_int_equal(binlog_decoder_new(&dec, NULL, &h), 0);
    assert_int_equal(decode_fixture("MySqlCdc__mysql-bin.000001", dec, 0, &err), 0);
    assert_true(k.n >= 1);
    got = after_col(&k, 0, "@13");
    assert_string_equal(got, "{\"id\": 1, \"name\": \"John\"}");
    free(got);
    cap_free(&k);
    binlog_decoder_free(dec);
}

/* The PARTIAL_UPDATE_ROWS of rust_mysql_common__json.binlog.000001 starts here; the TABLE_MAP
 * of `mysql`.`t` (id INT, j JSON, name VARCHAR, age INT; table id 0x77) precedes it. */
enum { PARTIAL_AT = 3750, TABLE_ID = 0x77 };

static size_t ev_put(uint8_t *ev, size_t at, const void *p, size_t n)
{
    memcpy(ev + at, p, n);
    return at + n;
}

static size_t ev_u32(uint8_t *ev, size_t at, uint32_t x)
{
    uint8_t b[4] = {(uint8_t)x, (uint8_t)(x >> 8), (uint8_t)(x >> 16), (uint8_t)(x >> 24)};
    return ev_put(ev, at, b, 4);
}

/* A JSON column value: 4-byte length (the table map's pack length) + bytes. */
static size_t ev_json(uint8_t *ev, size_t at, const uint8_t *p, size_t n)
{
    at = ev_u32(ev, at, (uint32_t)n);
    return ev_put(ev, at, p, n);
}

static void test_partial_update(void **state)
{
    (void)state;
    char path[4096];
    if (!fixture_path("rust_mysql_common__json.binlog.000001", path, sizeof path)) {
        print_message("no fixtures at %s: skipped\n", RL_FIXTURES_DIR);
        skip();
    }
    /* The fixture's own event: binlog_row_image=MINIMAL leaves the JSON column out of the
     * before image, so the diff has nothing to apply to. */
    cap k = {0};
    binlog_handler h = {&k, cap_change, cap_commit};
    binlog_decoder_t *dec;
    rl_err err;
    assert_int_equal(binlog_decoder_new(&dec, NULL, &h), 0);
    assert_int_equal(decode_fixture("rust_mysql_common__json.binlog.000001", dec, 0, &err),
                     RL_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "binlog_row_image=FULL"));
    assert_non_null(strstr(err.msg, "binlog_row_value_options"));
    assert_non_null(strstr(err.msg, "at 3750 (PARTIAL_UPDATE_ROWS"));
    cap_free(&k);
    binlog_decoder_free(dec);

    /* Same table, FULL before images, three rows: a partial JSON column (REPLACE $.age), a
     * full document with the partial bit clear, and value options 0 (no partial bits). */
    assert_int_equal(binlog_decoder_new(&dec, NULL, &h), 0);
    assert_int_equal(decode_fixture("rust_mysql_common__json.binlog.000001", dec, PARTIAL_AT, &err),
                     0);
    size_t before_changes = k.n;
    val arr_keys_v[3] = {v_i16(25), v_str("xxxxxxxxxx"), v_str("Joe")};
    static const char *const keys[] = {"age", "data", "name"};
    uint8_t *bd;
    rl_slice before = doc_of(v_cont(false, 3, keys, arr_keys_v), &bd);
    uint8_t diff[32];
    size_t dn = 0;
    val twenty6 = v_i16(26);
    add_diff(diff, &dn, 0, "$.age", &twenty6);
    uint8_t *full;
    val fv[3] = {v_i16(30), v_str("q"), v_str("Al")};
    rl_slice fulldoc = doc_of(v_cont(false, 3, keys, fv), &full);

    uint8_t ev[1024];
    size_t at = 19;
    uint8_t post[10] = {TABLE_ID, 0, 0, 0, 0, 0, 1, 0, 2, 0}; /* STMT_END, no extra data */
    at = ev_put(ev, at, post, sizeof post);
    uint8_t head[3] = {4, 0x0f, 0x0f};
    at = ev_put(ev, at, head, sizeof head);
    for (int row = 0; row < 3; row++) {
        /* Before image: nulls, id, j, name, age. */
        ev[at++] = 0;
        at = ev_u32(ev, at, (uint32_t)row + 1);
        at = ev_json(ev, at, before.p, before.len);
        at = ev_put(ev, at, "\x03\x00Joe", 5);
        at = ev_u32(ev, at, 25);
        /* After image: value options, partial bits, nulls, values. */
        if (row == 0) {
            at = ev_put(ev, at, "\x01\x01\x00", 3);
            at = ev_u32(ev, at, 1);
            at = ev_json(ev, at, diff, dn);
        } else {
            at = ev_put(ev, at, row == 1 ? "\x01\x00\x00" : "\x00\x00", row == 1 ? 3 : 2);
            at = ev_u32(ev, at, (uint32_t)row + 1);
            at = ev_json(ev, at, fulldoc.p, fulldoc.len);
        }
        at = ev_put(ev, at, "\x03\x00Joe", 5);
        at = ev_u32(ev, at, 26);
    }
    size_t size = at + 4;
    uint8_t hdr[19] = {0x6d, 0x1e, 0x4f, 0x60, 39, 1, 0, 0, 0};
    ev_u32(hdr, 9, (uint32_t)size);
    ev_u32(hdr, 13, (uint32_t)(PARTIAL_AT + size));
    memcpy(ev, hdr, sizeof hdr);
    ev_u32(ev, at, rl_crc32(0, ev, at));
    int rc = binlog_decoder_feed(dec, rl_slice_make(ev, size), &err);
    if (rc)
        fail_msg("%s", err.msg);
    assert_int_equal(k.n, before_changes + 3);
    char *got = after_col(&k, before_changes, "@2");
    assert_string_equal(got, "{\"age\": 26, \"data\": \"xxxxxxxxxx\", \"name\": \"Joe\"}");
    free(got);
    for (size_t i = 1; i < 3; i++) {
        got = after_col(&k, before_changes + i, "@2");
        assert_string_equal(got, "{\"age\": 30, \"data\": \"q\", \"name\": \"Al\"}");
        free(got);
    }
    cap_free(&k);
    binlog_decoder_free(dec);
    free(bd);
    free(full);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalars),        cmocka_unit_test(test_doubles),
        cmocka_unit_test(test_containers),     cmocka_unit_test(test_opaque),
        cmocka_unit_test(test_corrupt),        cmocka_unit_test(test_diffs),
        cmocka_unit_test(test_fixture_values), cmocka_unit_test(test_partial_update),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
