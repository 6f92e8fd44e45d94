/*
 * reader/rows.c renderings chosen by the decoder's state rather than by the binlog alone:
 *   - BINLOG_COL_JSON_TEXT: a text column the schema declares JSON is emitted as the JSON value
 *     its text holds (whitespace between tokens removed) when the text parses, else as the
 *     JSON string it is otherwise;
 *   - source.query: with the decoder's source_query on and a statement held in rows_query,
 *     the envelope's source block ends with "query";
 *   - check-only decoding (binlog__rows_set_check_only, the benchmark's "decode alone"): the
 *     same rows walked and validated, nothing rendered, the same errors.
 *
 * Events are built by hand from the layouts in docs/format-binlog.md (mysql-server
 * libs/mysql/binlog/event/rows_event.h); the flag and rows_query are set the way the schema
 * tracker and event.c set them (on the decoder's cached table map and its rows_query buffer).
 * Expected JSON is written out by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reader/rows_int.h"
#include "tests/unit/reader/json_mini.h"

/* ------------------------------------------------------------------ event builder */

typedef struct gen {
    rl_buf ev;
    uint64_t pos;
} gen;

static void put_le(rl_buf *b, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        rl_buf_putc(b, (char)(v >> (8 * i)));
}

static void g_begin(gen *g, uint8_t type)
{
    rl_buf_reset(&g->ev);
    put_le(&g->ev, 1700000000, 4);
    put_le(&g->ev, type, 1);
    put_le(&g->ev, 7, 4); /* server id */
    put_le(&g->ev, 0, 4); /* size, patched */
    put_le(&g->ev, 0, 4); /* log_pos, patched */
    put_le(&g->ev, 0, 2);
}

/* Patches size and log_pos; appends a CRC32 when crc (only the FDE below: it announces
 * algorithm 0, none, for the events after it, but carries its own checksum). */
static rl_slice g_end_crc(gen *g, bool crc)
{
    size_t size = g->ev.len + (crc ? 4 : 0);
    for (int i = 0; i < 4; i++) {
        g->ev.p[9 + i] = (uint8_t)(size >> (8 * i));
        g->ev.p[13 + i] = (uint8_t)((g->pos + size) >> (8 * i));
    }
    if (crc)
        put_le(&g->ev, rl_crc32(0, g->ev.p, g->ev.len), 4);
    g->pos += size;
    assert_true(rl_buf_ok(&g->ev));
    return rl_buf_slice(&g->ev);
}

static rl_slice g_end(gen *g)
{
    return g_end_crc(g, false);
}

/* MariaDB FORMAT_DESCRIPTION, checksum algorithm 0 (none). */
static rl_slice g_fde(gen *g)
{
    uint8_t pl[171];
    memset(pl, 0, sizeof pl);
    pl[2 - 1] = 13;
    pl[4 - 1] = 8;
    pl[15 - 1] = 84;
    pl[19 - 1] = 8;
    pl[23 - 1] = pl[24 - 1] = pl[25 - 1] = 8;
    pl[30 - 1] = pl[31 - 1] = pl[32 - 1] = 10;
    pl[161 - 1] = 4;
    pl[162 - 1] = 19;
    pl[163 - 1] = 4;
    g_begin(g, 15);
    put_le(&g->ev, 4, 2);
    char ver[50];
    memset(ver, 0, sizeof ver);
    snprintf(ver, sizeof ver, "10.11.19-MariaDB-log");
    rl_buf_append(&g->ev, ver, 50);
    put_le(&g->ev, 1700000000, 4);
    put_le(&g->ev, 19, 1);
    rl_buf_append(&g->ev, pl, sizeof pl);
    put_le(&g->ev, 0, 1);
    return g_end_crc(g, true);
}

/* TABLE_MAP of table id 1, `db`.`t`, one column of `type` with metadata and the optional
 * metadata (TLVs) given. */
static rl_slice g_table_map(gen *g, uint8_t type, const uint8_t *meta, size_t mlen,
                            const uint8_t *opt, size_t olen)
{
    g_begin(g, 19);
    put_le(&g->ev, 1, 6);
    put_le(&g->ev, 1, 2);
    rl_buf_append(&g->ev, "\x02" "db\0", 4);
    rl_buf_append(&g->ev, "\x01" "t\0", 3);
    put_le(&g->ev, 1, 1); /* one column */
    rl_buf_putc(&g->ev, (char)type);
    put_le(&g->ev, mlen, 1);
    rl_buf_append(&g->ev, meta, mlen);
    rl_buf_putc(&g->ev, (char)0xff); /* nullable */
    rl_buf_append(&g->ev, opt, olen);
    return g_end(g);
}

/* WRITE_ROWS v1 (23) of one column, STMT_END not set (the table stays mapped). */
static rl_slice g_write(gen *g, const uint8_t *rows, size_t rlen, bool stmt_end)
{
    g_begin(g, 23);
    put_le(&g->ev, 1, 6);
    put_le(&g->ev, stmt_end ? 1 : 0, 2);
    put_le(&g->ev, 1, 1);    /* width */
    rl_buf_putc(&g->ev, 1); /* columns present */
    rl_buf_append(&g->ev, rows, rlen);
    return g_end(g);
}

/* ------------------------------------------------------------------ capture */

typedef struct cap {
    char *value[8];
    size_t n;
} cap;

static int cap_change(void *ctx, const binlog_change *c)
{
    cap *k = ctx;
    assert_true(k->n < 8);
    k->value[k->n++] = strndup((const char *)c->value.p, c->value.len);
    return 0;
}

typedef struct env {
    gen g;
    cap c;
    binlog_decoder_t *dec;
} env;

static env *env_new(const binlog_decoder_opts *opts)
{
    env *e = calloc(1, sizeof *e);
    assert_non_null(e);
    e->g.pos = 4;
    binlog_handler h = {&e->c, cap_change, NULL};
    assert_int_equal(binlog_decoder_new(&e->dec, opts, &h), 0);
    binlog_decoder_set_file(e->dec, "binlog.000001");
    assert_int_equal(binlog_decoder_feed(e->dec, g_fde(&e->g), NULL), 0);
    return e;
}

static void env_free(env *e)
{
    for (size_t i = 0; i < e->c.n; i++)
        free(e->c.value[i]);
    binlog_decoder_free(e->dec);
    rl_buf_free(&e->g.ev);
    free(e);
}

static void feed_ok(env *e, rl_slice ev)
{
    rl_err err;
    memset(&err, 0, sizeof err);
    int rc = binlog_decoder_feed(e->dec, ev, &err);
    if (rc != 0)
        fail_msg("feed: %s: %s", rl_errname(rc), err.msg);
}

/* The text between `"after":{"@1":` and `},"source"` of a captured value. */
static void after_value(const char *value, char *out, size_t cap_len)
{
    const char *a = strstr(value, "\"after\":{\"@1\":");
    assert_non_null(a);
    a += strlen("\"after\":{\"@1\":");
    const char *end = strstr(a, "},\"source\"");
    assert_non_null(end);
    snprintf(out, cap_len, "%.*s", (int)(end - a), a);
}

static bool g_no_parse; /* check_json_text: skip parsing the envelope back */

/* Maps a one-column table, sets JSON_TEXT on its column as the schema tracker would, decodes
 * one row holding `text` (n bytes) and checks the after image's value and that the whole
 * envelope is valid JSON. */
static void check_json_text(uint8_t type, const uint8_t *meta, size_t mlen, uint16_t collation,
                            const void *text, size_t n, const char *want)
{
    env *e = env_new(NULL);
    /* COLUMN_CHARSET (3): length, then the packed collation id (252 + u16 from 251 up). */
    uint8_t optbuf[8];
    size_t olen;
    if (collation < 251) {
        optbuf[0] = 3;
        optbuf[1] = 1;
        optbuf[2] = (uint8_t)collation;
        olen = 3;
    } else {
        optbuf[0] = 3;
        optbuf[1] = 3;
        optbuf[2] = 252;
        optbuf[3] = (uint8_t)collation;
        optbuf[4] = (uint8_t)(collation >> 8);
        olen = 5;
    }
    feed_ok(e, g_table_map(&e->g, type, meta, mlen, optbuf, olen));
    binlog_table *t = binlog__table_find(e->dec, 1);
    assert_non_null(t);
    assert_int_equal(t->ncols, 1);
    assert_true(t->cols[0].flags & BINLOG_COL_CHARSET);
    t->cols[0].flags |= BINLOG_COL_JSON_TEXT;

    uint8_t row[4096];
    size_t rl = 0;
    row[rl++] = 0; /* null bitmap: not NULL */
    if (type == 252) { /* BLOB, 2-byte length (meta 2) */
        row[rl++] = (uint8_t)n;
        row[rl++] = (uint8_t)(n >> 8);
    } else { /* VARCHAR of at most 255 bytes: 1-byte length */
        row[rl++] = (uint8_t)n;
    }
    assert_true(rl + n <= sizeof row);
    memcpy(row + rl, text, n);
    rl += n;
    feed_ok(e, g_write(&e->g, row, rl, true));
    assert_int_equal(e->c.n, 1);
    char got[4096];
    after_value(e->c.value[0], got, sizeof got);
    if (strcmp(got, want) != 0)
        fail_msg("JSON text %.*s: got %s, want %s", (int)n, (const char *)text, got, want);
    jv root;
    if (!g_no_parse) {
        if (jparse(e->c.value[0], strlen(e->c.value[0]), &root) != 0)
            fail_msg("invalid JSON: %s", e->c.value[0]);
        jfree(&root);
    }
    env_free(e);
}

static void test_json_text(void **state)
{
    (void)state;
    uint8_t blob2 = 2;              /* LONGTEXT would be 4; 2 keeps the rows short */
    uint8_t vc[2] = {0xff, 0x00};   /* VARCHAR(255) bytes */
    const uint16_t utf8mb4 = 45, latin1 = 8, utf16 = 54, gbk = 28;
    /* Objects, arrays and scalars are values; whitespace between tokens goes, whitespace
     * inside strings stays. */
    static const char obj[] = "{ \"a\" : [1, 2.50, -3e2],\n\t\"b\": {\"c\": null} }";
    check_json_text(252, &blob2, 1, utf8mb4, obj, strlen(obj),
                    "{\"a\":[1,2.50,-3e2],\"b\":{\"c\":null}}");
    static const char str_ws[] = "[\"x  y\", \"q\\\"  \\\\\", true ,false]";
    check_json_text(252, &blob2, 1, utf8mb4, str_ws, strlen(str_ws),
                    "[\"x  y\",\"q\\\"  \\\\\",true,false]");
    check_json_text(15, vc, 2, utf8mb4, " 42 ", 4, "42");
    check_json_text(15, vc, 2, utf8mb4, "\"s\"", 3, "\"s\"");
    /* The document null is the string "null": the value null is SQL NULL. */
    check_json_text(15, vc, 2, utf8mb4, "null", 4, "\"null\"");
    check_json_text(15, vc, 2, utf8mb4, " null ", 6, "\"null\"");
    /* An integer longer than any int64 is valid JSON and keeps its spelling. */
    static const char big[] = "[123456789012345678901234567890]";
    check_json_text(252, &blob2, 1, utf8mb4, big, strlen(big), big);
    /* UTF-8 in strings kept; \u0000 escapes in values are valid JSON. */
    static const char uni[] = "{\"k\":\"\xc3\xa9\\u0000\"}";
    check_json_text(252, &blob2, 1, utf8mb4, uni, strlen(uni), uni);
    /* \u0000 in a key (which jansson refuses), a number beyond the double range, surrogate
     * pairs: valid JSON, kept. */
    static const char nulkey[] = "{\"\\u0000\":1e400,\"\\ud83d\\ude00\":-0.0E-7}";
    check_json_text(252, &blob2, 1, utf8mb4, nulkey, strlen(nulkey), nulkey);

    /* Not JSON: the string it is without the flag. */
    check_json_text(15, vc, 2, utf8mb4, "{a:1}", 5, "\"{a:1}\"");
    check_json_text(15, vc, 2, utf8mb4, "[1,]", 4, "\"[1,]\"");
    check_json_text(15, vc, 2, utf8mb4, "1 2", 3, "\"1 2\"");
    check_json_text(15, vc, 2, utf8mb4, "", 0, "\"\"");
    check_json_text(15, vc, 2, utf8mb4, "   ", 3, "\"   \"");
    /* Invalid UTF-8 inside a string is not JSON: the string, each bad byte as \u00XX. */
    check_json_text(15, vc, 2, utf8mb4, "\"\xff\"", 3, "\"\\\"\\u00ff\\\"\"");
    /* Lone surrogate escapes, bad escapes, bad numbers, trailing text: strings. */
    check_json_text(15, vc, 2, utf8mb4, "\"\\ud800\"", 8, "\"\\\"\\\\ud800\\\"\"");
    check_json_text(15, vc, 2, utf8mb4, "\"\\x\"", 4, "\"\\\"\\\\x\\\"\"");
    check_json_text(15, vc, 2, utf8mb4, "01", 2, "\"01\"");
    check_json_text(15, vc, 2, utf8mb4, "1.", 2, "\"1.\"");
    check_json_text(15, vc, 2, utf8mb4, "-", 1, "\"-\"");
    check_json_text(15, vc, 2, utf8mb4, "1e", 2, "\"1e\"");
    check_json_text(15, vc, 2, utf8mb4, "tru", 3, "\"tru\"");
    check_json_text(15, vc, 2, utf8mb4, "{}x", 3, "\"{}x\"");
    check_json_text(15, vc, 2, utf8mb4, "{\"a\"}", 5, "\"{\\\"a\\\"}\"");
    check_json_text(15, vc, 2, utf8mb4, "[1", 2, "\"[1\"");
    check_json_text(15, vc, 2, utf8mb4, "\"abc", 4, "\"\\\"abc\"");
    /* Nesting: BINLOG_JSON_MAX_DEPTH levels pass, one more stays a string (json_mini reads
     * only 64 levels: the envelope is not parsed back for these two). */
    {
        char deep[2 * BINLOG_JSON_MAX_DEPTH + 8];
        g_no_parse = true;
        for (int d = BINLOG_JSON_MAX_DEPTH; d <= BINLOG_JSON_MAX_DEPTH + 1; d++) {
            memset(deep, '[', (size_t)d);
            memset(deep + d, ']', (size_t)d);
            char want[2 * BINLOG_JSON_MAX_DEPTH + 8];
            if (d == BINLOG_JSON_MAX_DEPTH) {
                memcpy(want, deep, (size_t)(2 * d));
                want[2 * d] = 0;
            } else {
                want[0] = '"';
                memcpy(want + 1, deep, (size_t)(2 * d));
                want[2 * d + 1] = '"';
                want[2 * d + 2] = 0;
            }
            uint8_t m2 = 2;
            check_json_text(252, &m2, 1, utf8mb4, deep, (size_t)(2 * d), want);
        }
        g_no_parse = false;
    }
    /* A raw newline inside a string is not JSON either. */
    check_json_text(15, vc, 2, utf8mb4, "\"a\nb\"", 5, "\"\\\"a\\nb\\\"\"");

    /* Other character sets are converted to UTF-8 first: latin1 (cp1252) e-acute and euro. */
    static const char l1[] = "{\"e\": \"\xe9\x80\"}";
    check_json_text(15, vc, 2, latin1, l1, strlen(l1), "{\"e\":\"\xc3\xa9\xe2\x82\xac\"}");
    check_json_text(15, vc, 2, latin1, "\xe9", 1, "\"\xc3\xa9\"");
    /* utf16 (big-endian units): [1] */
    static const char u16[] = {0, '[', 0, '1', 0, ']'};
    check_json_text(15, vc, 2, utf16, u16, sizeof u16, "[1]");
    /* gbk, ASCII only: converted without iconv. */
    check_json_text(15, vc, 2, gbk, "{\"g\" : 1}", 9, "{\"g\":1}");
    /* gbk bytes that do not convert keep the {"_bytes_base64"} object. */
    check_json_text(15, vc, 2, gbk, "\x81", 1, "{\"_bytes_base64\":\"gQ==\",\"_charset\":\"gbk\"}");
}

/* A NULL JSON_TEXT column is null; the flag on a binary column changes nothing (base64). */
static void test_json_text_null_and_binary(void **state)
{
    (void)state;
    uint8_t vc[2] = {0xff, 0x00};
    env *e = env_new(NULL);
    uint8_t opt[3] = {3, 1, 63}; /* binary */
    feed_ok(e, g_table_map(&e->g, 15, vc, 2, opt, sizeof opt));
    binlog_table *t = binlog__table_find(e->dec, 1);
    assert_non_null(t);
    t->cols[0].flags |= BINLOG_COL_JSON_TEXT;
    uint8_t rows[] = {1, /* NULL */ 0, 2, '{', '}'};
    feed_ok(e, g_write(&e->g, rows, sizeof rows, true));
    assert_int_equal(e->c.n, 2);
    char got[256];
    after_value(e->c.value[0], got, sizeof got);
    assert_string_equal(got, "null");
    after_value(e->c.value[1], got, sizeof got);
    assert_string_equal(got, "\"e30=\"");
    env_free(e);
}

/* ------------------------------------------------------------------ source.query */

static void test_source_query(void **state)
{
    (void)state;
    uint8_t vc[2] = {0xff, 0x00};
    uint8_t opt[3] = {3, 1, 45};
    uint8_t row[] = {0, 2, 'h', 'i'};
    const char *stmt = "INSERT INTO t VALUES ('hi') /* \"q\" */";
    for (int on = 0; on < 2; on++) {
        for (int have = 0; have < 2; have++) {
            binlog_decoder_opts o = {.source_query = on != 0};
            env *e = env_new(&o);
            feed_ok(e, g_table_map(&e->g, 15, vc, 2, opt, sizeof opt));
            /* What event.c holds after an ANNOTATE_ROWS / ROWS_QUERY: a quoted JSON string. */
            rl_buf_reset(&e->dec->rows_query);
            if (have)
                rl_buf_json_str(&e->dec->rows_query, stmt, strlen(stmt));
            feed_ok(e, g_write(&e->g, row, sizeof row, true));
            assert_int_equal(e->c.n, 1);
            jv root;
            if (jparse(e->c.value[0], strlen(e->c.value[0]), &root) != 0)
                fail_msg("invalid JSON: %s", e->c.value[0]);
            const jv *src = jget(&root, "source");
            assert_non_null(src);
            assert_int_equal(src->type, JOBJ);
            const jv *q = jget(src, "query");
            if (on && have) {
                assert_non_null(q);
                assert_int_equal(q->type, JSTR);
                assert_string_equal(q->s, stmt);
                /* Last member of source, after snapshot. */
                assert_string_equal(src->keys[src->n - 1], "query");
                assert_string_equal(src->keys[src->n - 2], "snapshot");
            } else {
                assert_null(q);
                assert_string_equal(src->keys[src->n - 1], "snapshot");
            }
            /* The rest of the envelope is unchanged. */
            assert_non_null(jget(&root, "op"));
            assert_string_equal(jget(&root, "op")->s, "c");
            jfree(&root);
            env_free(e);
        }
    }
}

/* End to end: a MariaDB fixture with ANNOTATE_ROWS events through a decoder with source_query
 * on. Each statement mariadb-binlog prints as "#Q> " lines (its oracle decode beside the
 * fixture) must appear, in order, as source.query of the changes that follow it; with the
 * option off no change has a query. */
typedef struct qcap {
    char **q; /* source.query of each change, NULL when absent */
    size_t n, cap;
} qcap;

static int qcap_change(void *ctx, const binlog_change *c)
{
    qcap *k = ctx;
    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 64;
        k->q = realloc(k->q, k->cap * sizeof *k->q);
        assert_non_null(k->q);
    }
    jv root;
    if (jparse(c->value.p, c->value.len, &root) != 0)
        fail_msg("invalid JSON: %.*s", (int)c->value.len, (const char *)c->value.p);
    const jv *src = jget(&root, "source");
    assert_non_null(src);
    const jv *q = jget(src, "query");
    k->q[k->n++] = q ? strndup(q->s, q->slen) : NULL;
    jfree(&root);
    return 0;
}

static void decode_queries(const char *path, bool on, qcap *k)
{
    binlog_decoder_opts o = {.source_query = on};
    binlog_handler h = {k, qcap_change, NULL};
    binlog_decoder_t *dec = NULL;
    binlog_file_t *f = NULL;
    rl_err err;
    memset(&err, 0, sizeof err);
    assert_int_equal(binlog_file_open(&f, path, &err), 0);
    assert_int_equal(binlog_decoder_new(&dec, &o, &h), 0);
    binlog_decoder_set_file(dec, "binlog.000004");
    rl_slice ev;
    int rc;
    while ((rc = binlog_file_next(f, &ev, &err)) == 1)
        if ((rc = binlog_decoder_feed(dec, ev, &err)) < 0)
            fail_msg("%s: %s", path, err.msg);
    assert_int_equal(rc, 0);
    binlog_decoder_free(dec);
    binlog_file_close(f);
}

static void test_source_query_fixture(void **state)
{
    (void)state;
#ifndef RL_FIXTURES_DIR
    skip();
#else
    char path[1024], txt[1100];
    snprintf(path, sizeof path, "%s/local-mariadb-10.11__binlog.000004", RL_FIXTURES_DIR);
    snprintf(txt, sizeof txt, "%s.mariadb-binlog.txt", path);
    FILE *tf = fopen(txt, "r");
    if (!tf || access(path, R_OK) != 0) {
        if (tf)
            fclose(tf);
        skip();
    }
    /* The oracle's statements, in order: consecutive "#Q> " lines joined by '\n'. */
    char *stmts[256];
    size_t nst = 0;
    rl_buf cur = RL_BUF_INIT;
    bool in = false;
    char line[8192];
    while (fgets(line, sizeof line, tf)) {
        size_t ln = strlen(line);
        if (ln && line[ln - 1] == '\n')
            line[--ln] = 0;
        if (strncmp(line, "#Q> ", 4) == 0) {
            if (in)
                rl_buf_putc(&cur, '\n');
            rl_buf_append(&cur, line + 4, ln - 4);
            in = true;
        } else if (in) {
            assert_true(nst < 256);
            stmts[nst++] = strndup((const char *)cur.p, cur.len);
            rl_buf_reset(&cur);
            in = false;
        }
    }
    fclose(tf);
    rl_buf_free(&cur);
    assert_true(nst > 0);

    qcap on = {NULL, 0, 0}, off = {NULL, 0, 0};
    decode_queries(path, true, &on);
    decode_queries(path, false, &off);
    assert_true(on.n > 0);
    assert_int_equal(on.n, off.n);
    size_t si = 0, matched = 0;
    for (size_t i = 0; i < on.n; i++) {
        assert_null(off.q[i]);
        if (!on.q[i])
            fail_msg("change %zu has no source.query", i);
        /* The statement of this change is the current one or a later one. */
        while (si < nst && strcmp(stmts[si], on.q[i]) != 0)
            si++;
        if (si == nst)
            fail_msg("change %zu: source.query not among the oracle's statements (in order): "
                     "%s",
                     i, on.q[i]);
        matched++;
    }
    assert_int_equal(matched, on.n);
    for (size_t i = 0; i < on.n; i++)
        free(on.q[i]);
    free(on.q);
    free(off.q);
    for (size_t i = 0; i < nst; i++)
        free(stmts[i]);
#endif
}

/* ------------------------------------------------------------------ check-only decoding */

static void test_check_only(void **state)
{
    (void)state;
    uint8_t vc[2] = {0x10, 0x00}; /* VARCHAR(16) */
    uint8_t opt[3] = {3, 1, 45};
    uint8_t rows[] = {0, 2, 'h', 'i', 1, 0, 0};
    env *e = env_new(NULL);
    binlog__rows_set_check_only(e->dec, true);
    feed_ok(e, g_table_map(&e->g, 15, vc, 2, opt, sizeof opt));
    feed_ok(e, g_write(&e->g, rows, 5, true));
    /* Rows are walked, none rendered. */
    assert_int_equal(e->c.n, 0);
    assert_int_equal(binlog__rows_checked(e->dec), 2);
    /* A value longer than the column: the same error as when rendering. */
    feed_ok(e, g_table_map(&e->g, 15, vc, 2, opt, sizeof opt));
    uint8_t bad[20] = {0, 17};
    rl_err err;
    memset(&err, 0, sizeof err);
    int rc = binlog_decoder_feed(e->dec, g_write(&e->g, bad, 19, true), &err);
    assert_int_equal(rc, RL_ECORRUPT);
    assert_non_null(strstr(err.msg, "17 bytes in a column of at most 16"));
    env_free(e);
    /* A value running past the end of the event. */
    e = env_new(NULL);
    binlog__rows_set_check_only(e->dec, true);
    feed_ok(e, g_table_map(&e->g, 15, vc, 2, opt, sizeof opt));
    uint8_t shortrow[] = {0, 5, 'a'};
    memset(&err, 0, sizeof err);
    rc = binlog_decoder_feed(e->dec, g_write(&e->g, shortrow, sizeof shortrow, true), &err);
    assert_int_equal(rc, RL_ECORRUPT);
    assert_non_null(strstr(err.msg, "past the end"));
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_text),
        cmocka_unit_test(test_json_text_null_and_binary),
        cmocka_unit_test(test_source_query),
        cmocka_unit_test(test_source_query_fixture),
        cmocka_unit_test(test_check_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
