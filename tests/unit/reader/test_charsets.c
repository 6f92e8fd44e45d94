/*
 * Character sets of text columns (reader/charset.c): collation ids mapped to their character
 * set as mysql-server and MariaDB number them (information_schema.COLLATIONS), text converted
 * to UTF-8 through one cached iconv converter per character set, and bytes that do not
 * convert kept as {"_bytes_base64","_charset"} (docs/events.md). The expected UTF-8 of each
 * sample is written here from the Unicode code charts, not computed. Then through the decoder:
 * a hand-built TABLE_MAP (COLUMN_CHARSET, ENUM_AND_SET_COLUMN_CHARSET, ENUM_STR_VALUE,
 * COLUMN_NAME; mysql-server rows_event.h) and WRITE_ROWS event with gbk, ucs2 and an unknown
 * collation; and a MySQL 9 VECTOR column (VECTOR_DIMENSIONALITY) with values of the right and
 * the wrong size. charsets_mariadb.txt (next to this file) holds how MariaDB 10.11 itself
 * reads a sample of the 2-byte codes of big5, gbk, gb2312, euckr, sjis, cp932, ujis and
 * eucjpms: each must convert to that code point or keep its bytes, never to another one.
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

static void test_collation_ids(void **state)
{
    (void)state;
    static const struct {
        uint32_t id;
        int cs;
    } t[] = {
        {1, BINLOG_CS_BIG5},       {8, BINLOG_CS_LATIN1},      {11, BINLOG_CS_ASCII},
        {13, BINLOG_CS_SJIS},      {19, BINLOG_CS_EUCKR},      {24, BINLOG_CS_GB2312},
        {28, BINLOG_CS_GBK},       {33, BINLOG_CS_UTF8},       {35, BINLOG_CS_UCS2},
        {45, BINLOG_CS_UTF8},      {51, BINLOG_CS_CP1251},     {54, BINLOG_CS_UTF16},
        {56, BINLOG_CS_UTF16LE},   {57, BINLOG_CS_CP1256},     {59, BINLOG_CS_CP1257},
        {60, BINLOG_CS_UTF32},     {63, BINLOG_CS_BINARY},     {95, BINLOG_CS_CP932},
        {97, BINLOG_CS_EUCJPMS},   {101, BINLOG_CS_UTF16},     {128, BINLOG_CS_UCS2},
        {160, BINLOG_CS_UTF32},    {192, BINLOG_CS_UTF8},      {224, BINLOG_CS_UTF8},
        {248, BINLOG_CS_GB18030},  {255, BINLOG_CS_UTF8},      {309, BINLOG_CS_UTF8},
        {1032, BINLOG_CS_LATIN1},  {1052, BINLOG_CS_GBK},      {1069, BINLOG_CS_UTF8},
        {2048, BINLOG_CS_UTF8},    {2304, BINLOG_CS_UTF8},     {2560, BINLOG_CS_UCS2},
        {17, BINLOG_CS_UNKNOWN},   {100, BINLOG_CS_UNKNOWN},   {400, BINLOG_CS_UNKNOWN},
        {5000, BINLOG_CS_UNKNOWN}, {65535, BINLOG_CS_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (binlog__charset_of(t[i].id) != t[i].cs)
            fail_msg("collation %u: charset %d (%s), want %d (%s)", t[i].id,
                     binlog__charset_of(t[i].id), binlog__charset_name(binlog__charset_of(t[i].id)),
                     t[i].cs, binlog__charset_name(t[i].cs));
}

static void check(binlog_decoder_t *dec, int cs, const char *in, size_t n, const char *want)
{
    rl_buf b = RL_BUF_INIT;
    assert_int_equal(binlog__put_charset_text(dec, &b, cs, (const uint8_t *)in, n), 0);
    const char *got = rl_buf_cstr(&b);
    if (strcmp(got, want) != 0)
        fail_msg("%s: got %s, want %s", binlog__charset_name(cs), got, want);
    rl_buf_free(&b);
}

static void test_conversions(void **state)
{
    (void)state;
    binlog_decoder_t *dec;
    assert_int_equal(binlog_decoder_new(&dec, NULL, &(binlog_handler){0}), 0);
    /* U+4E2D U+6587 (zhong wen) in GBK, GB18030, Big5 (U+4E2D U+6587 = A4A4 A4E5). */
    check(dec, BINLOG_CS_GBK, "\xd6\xd0\xce\xc4", 4, "\"\xe4\xb8\xad\xe6\x96\x87\"");
    check(dec, BINLOG_CS_GB18030, "\xd6\xd0\xce\xc4", 4, "\"\xe4\xb8\xad\xe6\x96\x87\"");
    check(dec, BINLOG_CS_GB2312, "\xd6\xd0\xce\xc4", 4, "\"\xe4\xb8\xad\xe6\x96\x87\"");
    check(dec, BINLOG_CS_BIG5, "\xa4\xa4\xa4\xe5", 4, "\"\xe4\xb8\xad\xe6\x96\x87\"");
    /* U+65E5 U+672C (ni hon) in Shift_JIS, cp932, EUC-JP. */
    check(dec, BINLOG_CS_SJIS, "\x93\xfa\x96\x7b", 4, "\"\xe6\x97\xa5\xe6\x9c\xac\"");
    check(dec, BINLOG_CS_CP932, "\x93\xfa\x96\x7b", 4, "\"\xe6\x97\xa5\xe6\x9c\xac\"");
    check(dec, BINLOG_CS_UJIS, "\xc6\xfc\xcb\xdc", 4, "\"\xe6\x97\xa5\xe6\x9c\xac\"");
    /* MySQL's sjis keeps 0x5C and 0x7E ASCII (backslash, tilde), next to U+65E5. */
    check(dec, BINLOG_CS_SJIS, "\x5c\x7e\x93\xfa", 4, "\"\\\\~\xe6\x97\xa5\"");
    /* Pure ASCII in an ASCII-compatible charset needs no converter. */
    check(dec, BINLOG_CS_BIG5, "plain", 5, "\"plain\"");
    /* U+AC00 (ga) in EUC-KR: B0 A1. */
    check(dec, BINLOG_CS_EUCKR, "\xb0\xa1", 2, "\"\xea\xb0\x80\"");
    /* "A" + U+00E9 in UCS-2BE, UTF-16BE, UTF-16LE, UTF-32BE; U+1F600 as a surrogate pair. */
    check(dec, BINLOG_CS_UCS2, "\x00\x41\x00\xe9", 4, "\"A\xc3\xa9\"");
    check(dec, BINLOG_CS_UTF16, "\x00\x41\xd8\x3d\xde\x00", 6, "\"A\xf0\x9f\x98\x80\"");
    check(dec, BINLOG_CS_UTF16LE, "\x41\x00\xe9\x00", 4, "\"A\xc3\xa9\"");
    check(dec, BINLOG_CS_UTF32, "\x00\x01\xf6\x00", 4, "\"\xf0\x9f\x98\x80\"");
    /* Single-byte sets: cp1251 0xC0 = U+0410, koi8r 0xC1 = U+0430, latin2 0xB1 = U+0105,
     * greek 0xE1 = U+03B1, hebrew 0xE0 = U+05D0, cp1256 0xC7 = U+0627, tis620 0xA1 = U+0E01. */
    check(dec, BINLOG_CS_CP1251, "\xc0", 1, "\"\xd0\x90\"");
    check(dec, BINLOG_CS_KOI8R, "\xc1", 1, "\"\xd0\xb0\"");
    check(dec, BINLOG_CS_LATIN2, "\xb1", 1, "\"\xc4\x85\"");
    check(dec, BINLOG_CS_GREEK, "\xe1", 1, "\"\xce\xb1\"");
    check(dec, BINLOG_CS_HEBREW, "\xe0", 1, "\"\xd7\x90\"");
    check(dec, BINLOG_CS_CP1256, "\xc7", 1, "\"\xd8\xa7\"");
    check(dec, BINLOG_CS_TIS620, "\xa1", 1, "\"\xe0\xb8\x81\"");
    /* JSON escaping applies after conversion. */
    check(dec, BINLOG_CS_UCS2, "\x00\x22\x00\x0a", 4, "\"\\\"\\n\"");
    /* latin1 is cp1252 (0x80 = U+20AC), binary is base64, utf8 is copied. */
    check(dec, BINLOG_CS_LATIN1, "\x80", 1, "\"\xe2\x82\xac\"");
    check(dec, BINLOG_CS_BINARY, "\x00\xff", 2, "\"AP8=\"");
    check(dec, BINLOG_CS_UTF8, "\xc3\xa9", 2, "\"\xc3\xa9\"");
    check(dec, BINLOG_CS_GBK, "", 0, "\"\"");

    /* Bytes that do not convert keep their original bytes: a GBK lead byte alone, an odd
     * UCS-2 length, a lone UTF-16 surrogate, a byte above 0x7F in ascii, and a charset
     * without a converter (keybcs2). */
    check(dec, BINLOG_CS_GBK, "a\x81", 2, "{\"_bytes_base64\":\"YYE=\",\"_charset\":\"gbk\"}");
    check(dec, BINLOG_CS_UCS2, "\x00\x41\x00", 3,
          "{\"_bytes_base64\":\"AEEA\",\"_charset\":\"ucs2\"}");
    check(dec, BINLOG_CS_UTF16, "\xd8\x3d", 2,
          "{\"_bytes_base64\":\"2D0=\",\"_charset\":\"utf16\"}");
    check(dec, BINLOG_CS_ASCII, "\xe9", 1, "{\"_bytes_base64\":\"6Q==\",\"_charset\":\"ascii\"}");
    check(dec, BINLOG_CS_CP1250, "a\x81", 2,
          "{\"_bytes_base64\":\"YYE=\",\"_charset\":\"cp1250\"}");
    /* Single-byte sets follow MySQL's tables where glibc's differ: keybcs2 0x80 = U+010C,
     * hebrew 0xAF = U+203E, koi8u 0x95 = U+2022, geostd8 0x80 = U+20AC. */
    check(dec, BINLOG_CS_KEYBCS2, "a\x80", 2, "\"a\xc4\x8c\"");
    check(dec, BINLOG_CS_HEBREW, "\xaf", 1, "\"\xe2\x80\xbe\"");
    check(dec, BINLOG_CS_KOI8U, "\x95", 1, "\"\xe2\x80\xa2\"");
    check(dec, BINLOG_CS_GEOSTD8, "\x80", 1, "\"\xe2\x82\xac\"");
    /* MySQL's sjis and ujis read 0x815F / 0xA1C1 and 0x8160 as JIS X 0208 does (U+005C,
     * U+301C); cp932 keeps Microsoft's U+FF3C. */
    check(dec, BINLOG_CS_SJIS, "\x81\x5f\x81\x60", 4, "\"\\\\\xe3\x80\x9c\"");
    check(dec, BINLOG_CS_UJIS, "\xa1\xc0\xa1\xc1", 4, "\"\\\\\xe3\x80\x9c\"");
    check(dec, BINLOG_CS_CP932, "\x81\x5f", 2, "\"\xef\xbc\xbc\"");
    /* big5 codes MySQL reads its own way: 0xA145 is U+2022 (glibc: U+2027); 0xA15A has no
     * character in MySQL (U+FFFD), so the bytes are kept. cp932's user-defined row 0xF040 is
     * U+E000 in both. */
    check(dec, BINLOG_CS_BIG5, "a\xa1\x45\xa4\xa4", 5, "\"a\xe2\x80\xa2\xe4\xb8\xad\"");
    check(dec, BINLOG_CS_BIG5, "\xa1\x5a", 2, "{\"_bytes_base64\":\"oVo=\",\"_charset\":\"big5\"}");
    check(dec, BINLOG_CS_CP932, "\xf0\x40", 2, "\"\xee\x80\x80\"");
    /* big5 0xC7CF is U+0436 in MySQL (an ETEN extension) but Private Use in glibc: the bytes
     * are kept rather than guessed. */
    check(dec, BINLOG_CS_BIG5, "\xc7\xcf", 2, "{\"_bytes_base64\":\"x88=\",\"_charset\":\"big5\"}");

    /* swe7 is not ASCII: 0x5B is U+00C4 (ISO 646-SE). */
    check(dec, BINLOG_CS_SWE7, "\x5b", 1, "\"\xc3\x84\"");

    /* One converter per charset, reused (and still right after a failed conversion). */
    struct binlog_charsets *cs = binlog__charsets_get(dec);
    assert_non_null(cs);
    void *cd = cs->cd[BINLOG_CS_GBK];
    assert_non_null(cd);
    for (int i = 0; i < 1000; i++)
        check(dec, BINLOG_CS_GBK, "\xd6\xd0", 2, "\"\xe4\xb8\xad\"");
    assert_ptr_equal(cs->cd[BINLOG_CS_GBK], cd);
    binlog_decoder_free(dec);
}

/* A long value converts in one call (the output buffer is sized from the input). */
static void test_long_value(void **state)
{
    (void)state;
    binlog_decoder_t *dec;
    assert_int_equal(binlog_decoder_new(&dec, NULL, &(binlog_handler){0}), 0);
    size_t n = 100000;
    char *in = malloc(n * 2);
    char *want = malloc(n * 3 + 3);
    assert_non_null(in);
    assert_non_null(want);
    want[0] = '"';
    for (size_t i = 0; i < n; i++) {
        memcpy(in + 2 * i, "\xd6\xd0", 2);
        memcpy(want + 1 + 3 * i, "\xe4\xb8\xad", 3);
    }
    memcpy(want + 1 + 3 * n, "\"", 2);
    check(dec, BINLOG_CS_GBK, in, n * 2, want);
    free(in);
    free(want);
    binlog_decoder_free(dec);
}

/* ------------------------------------------------------------------ through the decoder */

typedef struct evb {
    uint8_t p[4096];
    size_t n;
} evb;

static void put(evb *e, const void *p, size_t n)
{
    assert_true(e->n + n <= sizeof e->p);
    memcpy(e->p + e->n, p, n);
    e->n += n;
}

static void put_le(evb *e, uint64_t x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)(x >> (8 * i));
        put(e, &b, 1);
    }
}

/* Header (19 bytes, size and log_pos patched by finish). */
static void begin(evb *e, uint8_t type)
{
    e->n = 0;
    put_le(e, 1700000000, 4);
    put_le(e, type, 1);
    put_le(e, 1, 4);
    put_le(e, 0, 4);
    put_le(e, 0, 4);
    put_le(e, 0, 2);
}

static rl_slice finish(evb *e, bool crc, uint64_t *pos)
{
    if (crc)
        e->n += 4;
    *pos += e->n;
    for (int i = 0; i < 4; i++) {
        e->p[9 + i] = (uint8_t)(e->n >> (8 * i));
        e->p[13 + i] = (uint8_t)(*pos >> (8 * i));
    }
    if (crc) {
        uint32_t c = rl_crc32(0, e->p, e->n - 4);
        for (int i = 0; i < 4; i++)
            e->p[e->n - 4 + i] = (uint8_t)(c >> (8 * i));
    }
    return rl_slice_make(e->p, e->n);
}

typedef struct capv {
    int n;
    char after[4][512];
} capv;

static int on_change(void *ctx, const binlog_change *c)
{
    capv *k = ctx;
    const char *a = strstr((const char *)c->value.p, "\"after\":");
    const char *end = strstr((const char *)c->value.p, ",\"source\":");
    assert_non_null(a);
    assert_non_null(end);
    if (k->n < 4)
        snprintf(k->after[k->n], sizeof k->after[0], "%.*s", (int)(end - a - 8), a + 8);
    k->n++;
    return 0;
}

static int on_commit(void *ctx, const binlog_checkpoint *cp)
{
    (void)ctx;
    (void)cp;
    return 0;
}

static void put_lenstr(evb *e, const char *s, size_t n)
{
    put_le(e, n, 1);
    put(e, s, n);
}

static void test_decoder(void **state)
{
    (void)state;
    capv k;
    memset(&k, 0, sizeof k);
    binlog_handler h = {&k, on_change, on_commit};
    binlog_decoder_t *dec;
    assert_int_equal(binlog_decoder_new(&dec, NULL, &h), 0);
    binlog_decoder_set_file(dec, "binlog.000001");
    evb e;
    rl_err err;
    uint64_t pos = 4;

    /* FORMAT_DESCRIPTION of MySQL 8.0 without checksums (the FDE carries its own CRC slot). */
    begin(&e, 15);
    put_le(&e, 4, 2);
    char ver[50] = "8.0.32";
    put(&e, ver, 50);
    put_le(&e, 1700000000, 4);
    put_le(&e, 19, 1);
    uint8_t pl[41];
    memset(pl, 0, sizeof pl);
    pl[2 - 1] = 13;
    pl[15 - 1] = 84;
    pl[19 - 1] = 8;
    pl[30 - 1] = pl[31 - 1] = pl[32 - 1] = 10;
    put(&e, pl, sizeof pl);
    put_le(&e, 0, 1);
    assert_int_equal(binlog_decoder_feed(dec, finish(&e, true, &pos), &err), 0);

    /* `db`.`t` (c_gbk VARCHAR(100) gbk, c_enum ENUM('中','a') gbk, c_ucs2 CHAR(4) ucs2,
     * c_bad VARCHAR(10) with collation 400). */
    begin(&e, 19);
    put_le(&e, 7, 6);
    put_le(&e, 1, 2);
    put_lenstr(&e, "db", 2);
    put_le(&e, 0, 1);
    put_lenstr(&e, "t", 1);
    put_le(&e, 0, 1);
    put_le(&e, 4, 1);
    uint8_t types[4] = {15, 254, 254, 15};
    put(&e, types, 4);
    uint8_t meta[] = {200, 0, 247, 1, 254, 8, 40, 0};
    put_le(&e, sizeof meta, 1);
    put(&e, meta, sizeof meta);
    put_le(&e, 0x0f, 1); /* nullable */
    /* COLUMN_CHARSET over the character columns (c_gbk, c_ucs2, c_bad). */
    uint8_t colcs[] = {28, 35, 252, 0x90, 0x01};
    put_le(&e, 3, 1);
    put_le(&e, sizeof colcs, 1);
    put(&e, colcs, sizeof colcs);
    uint8_t enumcs[] = {28};
    put_le(&e, 11, 1);
    put_le(&e, sizeof enumcs, 1);
    put(&e, enumcs, sizeof enumcs);
    uint8_t enums[] = {2, 2, 0xd6, 0xd0, 1, 'a'};
    put_le(&e, 6, 1);
    put_le(&e, sizeof enums, 1);
    put(&e, enums, sizeof enums);
    static const char names[] = "\x05"
                                "c_gbk"
                                "\x06"
                                "c_enum"
                                "\x06"
                                "c_ucs2"
                                "\x05"
                                "c_bad";
    put_le(&e, 4, 1);
    put_le(&e, sizeof names - 1, 1);
    put(&e, names, sizeof names - 1);
    assert_int_equal(binlog_decoder_feed(dec, finish(&e, false, &pos), &err), 0);

    /* WRITE_ROWS v2: one row with c_bad NULL, one with a value in collation 400. */
    for (int row = 0; row < 2; row++) {
        begin(&e, 30);
        put_le(&e, 7, 6);
        put_le(&e, row == 1 ? 1 : 0, 2); /* the second event ends the statement */
        put_le(&e, 2, 2);
        put_le(&e, 4, 1);
        put_le(&e, 0x0f, 1);
        put_le(&e, row == 0 ? 0x08 : 0x00, 1);
        put(&e, "\x04\xd6\xd0\xce\xc4", 5);
        put(&e, "\x01", 1);
        put(&e, "\x04\x00\x41\x00\xe9", 5);
        if (row == 1)
            put(&e, "\x01x", 2);
        int rc = binlog_decoder_feed(dec, finish(&e, false, &pos), &err);
        if (row == 0) {
            assert_int_equal(rc, 0);
        } else {
            /* A collation id no server defines: the stream stops, naming column and id. */
            assert_int_equal(rc, RL_EUNSUPPORTED);
            assert_non_null(strstr(err.msg, "c_bad"));
            assert_non_null(strstr(err.msg, "unknown collation id 400"));
        }
    }
    assert_int_equal(k.n, 1);
    assert_string_equal(k.after[0],
                        "{\"c_gbk\":\"\xe4\xb8\xad\xe6\x96\x87\",\"c_enum\":\"\xe4\xb8\xad\","
                        "\"c_ucs2\":\"A\xc3\xa9\",\"c_bad\":null}");
    binlog_decoder_free(dec);
}

/* Feeds FORMAT_DESCRIPTION (MySQL 8.0, no checksums) to a new decoder. */
static binlog_decoder_t *new_decoder(capv *k, uint64_t *pos)
{
    binlog_handler h = {k, on_change, on_commit};
    binlog_decoder_t *dec;
    assert_int_equal(binlog_decoder_new(&dec, NULL, &h), 0);
    binlog_decoder_set_file(dec, "binlog.000001");
    evb e;
    rl_err err;
    begin(&e, 15);
    put_le(&e, 4, 2);
    char ver[50] = "9.0.1";
    put(&e, ver, 50);
    put_le(&e, 1700000000, 4);
    put_le(&e, 19, 1);
    uint8_t pl[41];
    memset(pl, 0, sizeof pl);
    pl[2 - 1] = 13;
    pl[15 - 1] = 84;
    pl[19 - 1] = 8;
    pl[30 - 1] = pl[31 - 1] = pl[32 - 1] = 10;
    put(&e, pl, sizeof pl);
    put_le(&e, 0, 1);
    assert_int_equal(binlog_decoder_feed(dec, finish(&e, true, pos), &err), 0);
    return dec;
}

static void test_vector(void **state)
{
    (void)state;
    /* One VECTOR(3) column (4-byte length prefix): 12 bytes decode; 8 bytes (two elements)
     * and a NaN element stop the stream. */
    static const struct {
        const char *bytes;
        size_t n;
        int rc;
        const char *want;
    } t[] = {
        {"\x00\x00\x80\x3f\x00\x00\x00\xc0\x00\x00\x00\x00", 12, 0, "{\"v\":[1,-2,0]}"},
        {"\xcd\xcc\x8c\x3f\x00\x00\x80\x7f\x00\x00\x00\x00", 12, RL_ECORRUPT, "not finite"},
        {"\x00\x00\x80\x3f\x00\x00\x00\xc0", 8, RL_ECORRUPT, "dimension 3"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        capv k;
        memset(&k, 0, sizeof k);
        uint64_t pos = 4;
        binlog_decoder_t *dec = new_decoder(&k, &pos);
        evb e;
        rl_err err;
        begin(&e, 19);
        put_le(&e, 9, 6);
        put_le(&e, 1, 2);
        put_lenstr(&e, "db", 2);
        put_le(&e, 0, 1);
        put_lenstr(&e, "v", 1);
        put_le(&e, 0, 1);
        put_le(&e, 1, 1);
        put_le(&e, 242, 1);
        put_le(&e, 1, 1);
        put_le(&e, 4, 1);            /* metadata: 4-byte length */
        put_le(&e, 1, 1);            /* null bitmap */
        put(&e, "\x04\x02\x01v", 4); /* COLUMN_NAME */
        put(&e, "\x03\x01\x3f", 3);  /* COLUMN_CHARSET: binary (VECTOR is one) */
        put(&e, "\x0d\x01\x03", 3);  /* VECTOR_DIMENSIONALITY 3 */
        assert_int_equal(binlog_decoder_feed(dec, finish(&e, false, &pos), &err), 0);
        begin(&e, 30);
        put_le(&e, 9, 6);
        put_le(&e, 1, 2);
        put_le(&e, 2, 2);
        put_le(&e, 1, 1);
        put_le(&e, 1, 1);
        put_le(&e, 0, 1);
        put_le(&e, t[i].n, 4);
        put(&e, t[i].bytes, t[i].n);
        int rc = binlog_decoder_feed(dec, finish(&e, false, &pos), &err);
        assert_int_equal(rc, t[i].rc);
        if (rc == 0) {
            assert_int_equal(k.n, 1);
            assert_string_equal(k.after[0], t[i].want);
        } else {
            assert_non_null(strstr(err.msg, t[i].want));
            assert_non_null(strstr(err.msg, "VECTOR"));
        }
        binlog_decoder_free(dec);
    }
}

static int charset_by_name(const char *name)
{
    for (int cs = 0; cs < BINLOG_CS_COUNT; cs++)
        if (strcmp(binlog__charset_name(cs), name) == 0)
            return cs;
    return -1;
}

/* Decodes one UTF-8 code point of a JSON string "..." (no escapes expected); -1 otherwise. */
static long one_code_point(const char *s)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t n = strlen(s);
    if (n < 3 || p[0] != '"' || p[n - 1] != '"')
        return -1;
    p++;
    n -= 2;
    if (n == 2 && p[0] == '\\' && (p[1] == '\\' || p[1] == '"'))
        return p[1];
    long cp;
    size_t len;
    if (p[0] < 0x80) {
        cp = p[0];
        len = 1;
    } else if ((p[0] & 0xE0) == 0xC0) {
        cp = p[0] & 0x1F;
        len = 2;
    } else if ((p[0] & 0xF0) == 0xE0) {
        cp = p[0] & 0x0F;
        len = 3;
    } else {
        cp = p[0] & 0x07;
        len = 4;
    }
    if (len != n)
        return -1;
    for (size_t i = 1; i < len; i++)
        cp = cp << 6 | (p[i] & 0x3F);
    return cp;
}

static void test_mariadb_codes(void **state)
{
    (void)state;
    char path[4096];
    snprintf(path, sizeof path, "%s", __FILE__);
    char *slash = strrchr(path, '/');
    assert_non_null(slash);
    snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), "charsets_mariadb.txt");
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    binlog_decoder_t *dec;
    assert_int_equal(binlog_decoder_new(&dec, NULL, &(binlog_handler){0}), 0);
    size_t exact[BINLOG_CS_COUNT] = {0}, kept[BINLOG_CS_COUNT] = {0};
    char line[128];
    rl_buf b = RL_BUF_INIT;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#')
            continue;
        char name[16], hex[16], cps[16];
        assert_int_equal(sscanf(line, "%15s %15s %15s", name, hex, cps), 3);
        if (strcmp(cps, "-") == 0)
            continue; /* MariaDB defines no character: never stored */
        int cs = charset_by_name(name);
        assert_true(cs > 0);
        uint8_t by[2];
        unsigned v;
        assert_int_equal(sscanf(hex, "%4x", &v), 1);
        by[0] = (uint8_t)(v >> 8);
        by[1] = (uint8_t)v;
        long want = strtol(cps, NULL, 16);
        rl_buf_reset(&b);
        assert_int_equal(binlog__put_charset_text(dec, &b, cs, by, 2), 0);
        const char *got = rl_buf_cstr(&b);
        if (got[0] == '{') {
            kept[cs]++;
            continue;
        }
        if (want == 0xFFFD || one_code_point(got) != want)
            fail_msg("%s %s: MariaDB reads U+%04lX, rowlog wrote %s", name, hex, want, got);
        exact[cs]++;
    }
    fclose(f);
    rl_buf_free(&b);
    binlog_decoder_free(dec);
    /* Bytes are kept only in the few areas noted in charset.c (big5's ETEN rows and MySQL's
     * U+FFFD codes, ujis's user-defined rows, which glibc's EUC-JP refuses). */
    static const char *const sets[] = {"big5", "gbk",   "gb2312", "euckr",
                                       "sjis", "cp932", "ujis",   "eucjpms"};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) {
        int cs = charset_by_name(sets[i]);
        print_message("%-8s %5zu converted, %4zu kept as bytes\n", sets[i], exact[cs], kept[cs]);
        assert_true(exact[cs] > 300);
        if (cs == BINLOG_CS_BIG5 || cs == BINLOG_CS_UJIS)
            assert_true(kept[cs] * 4 < exact[cs]);
        else
            assert_int_equal(kept[cs], 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collation_ids), cmocka_unit_test(test_conversions),
        cmocka_unit_test(test_long_value),    cmocka_unit_test(test_decoder),
        cmocka_unit_test(test_vector),        cmocka_unit_test(test_mariadb_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
