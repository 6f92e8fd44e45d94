/*
 * XA transactions in the decoder (binlog_xa_handler, binlog_xid_parse): the MariaDB fixture
 * local-mariadb-10.11__binlog.000013 (XA START/PREPARE/COMMIT, then XA START/PREPARE/ROLLBACK;
 * skipped when RL_FIXTURES_DIR is absent) and hand-built MySQL events (no MySQL-written
 * XA_PREPARE exists among the fixtures, MANIFEST.md).
 *
 * Expected values come from outside the decoder: GTIDs, positions and statements from the
 * mariadb-binlog decode saved next to the fixture (local-mariadb-10.11__binlog.000013
 * .mariadb-binlog.txt: GTID 0-1-55 XA START X'78696431',X'',1 ... XA PREPARE ending at 1185,
 * GTID 0-1-56 XA COMMIT ending at 1321, GTID 0-1-57 XA START X'78696432',X'',1 (UPDATE ...
 * v = 'xa2') ... XA PREPARE ending at 1688, GTID 0-1-58 XA ROLLBACK ending at 1826); the
 * hand-built events follow control_events.h (Query_event, XA_prepare_event).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "reader/binlog.h"

/* What the callbacks saw, one line per call:
 *   "change <op> <xid or -> <topic>", "prepare <xid> <gtid> <pos>",
 *   "end <xid> <commit|rollback> <gtid> <pos>", "commit <gtid> <pos>". */
typedef struct seen {
    char lines[64][400];
    size_t n;
    /* A consumer that applies the XA contract: held values per xid, published ones. */
    char held[16][2048];
    char held_xid[16][BINLOG_XID_TEXT_MAX];
    size_t nheld;
    char published[8192];
} seen;

static void add(seen *s, const char *fmt, ...)
{
    if (s->n >= 64)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->lines[s->n++], sizeof s->lines[0], fmt, ap);
    va_end(ap);
}

static int on_change(void *ctx, const binlog_change *ch)
{
    seen *s = ctx;
    add(s, "change %c %s %.*s", ch->op, ch->xid ? ch->xid : "-", (int)ch->topic.len,
        (const char *)ch->topic.p);
    if (ch->xid) {
        size_t i = 0;
        while (i < s->nheld && strcmp(s->held_xid[i], ch->xid) != 0)
            i++;
        if (i == s->nheld && s->nheld < 16) {
            snprintf(s->held_xid[i], sizeof s->held_xid[i], "%s", ch->xid);
            s->held[i][0] = '\0';
            s->nheld++;
        }
        if (i < 16)
            strncat(s->held[i], (const char *)ch->value.p,
                    ch->value.len < sizeof s->held[i] - strlen(s->held[i]) - 1
                        ? ch->value.len
                        : sizeof s->held[i] - strlen(s->held[i]) - 1);
    } else {
        strncat(s->published, (const char *)ch->value.p,
                ch->value.len < sizeof s->published - strlen(s->published) - 1
                    ? ch->value.len
                    : sizeof s->published - strlen(s->published) - 1);
    }
    return 0;
}

static int on_commit(void *ctx, const binlog_checkpoint *cp)
{
    add(ctx, "commit %s %llu", cp->gtid, (unsigned long long)cp->pos);
    return 0;
}

static int on_xa_prepare(void *ctx, const char *xid, const binlog_checkpoint *cp)
{
    add(ctx, "prepare %s %s %llu", xid, cp->gtid, (unsigned long long)cp->pos);
    return 0;
}

static int on_xa_end(void *ctx, const char *xid, bool commit, const binlog_checkpoint *cp)
{
    seen *s = ctx;
    add(s, "end %s %s %s %llu", xid, commit ? "commit" : "rollback", cp->gtid,
        (unsigned long long)cp->pos);
    for (size_t i = 0; i < s->nheld; i++) {
        if (strcmp(s->held_xid[i], xid) != 0)
            continue;
        if (commit)
            strncat(s->published, s->held[i], sizeof s->published - strlen(s->published) - 1);
        s->held_xid[i][0] = '\0';
    }
    return 0;
}

static bool has(const seen *s, const char *line)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->lines[i], line) == 0)
            return true;
    return false;
}

static size_t index_of(const seen *s, const char *prefix)
{
    for (size_t i = 0; i < s->n; i++)
        if (strncmp(s->lines[i], prefix, strlen(prefix)) == 0)
            return i;
    return SIZE_MAX;
}

/* ------------------------------------------------------------------ the MariaDB fixture */

static const char XID1[] = "X'78696431',X'',1"; /* 'xid1' */
static const char XID2[] = "X'78696432',X'',1"; /* 'xid2' */

static int decode_fixture(seen *s, bool xa, binlog_decoder_stats *st, rl_err *err)
{
    const char *name = "local-mariadb-10.11__binlog.000013";
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", RL_FIXTURES_DIR, name);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        print_message("fixture %s not found: skipped\n", path);
        skip();
    }
    memset(s, 0, sizeof *s);
    memset(err, 0, sizeof *err);
    binlog_handler h = {.ctx = s, .on_change = on_change, .on_commit = on_commit};
    binlog_decoder_t *dec;
    assert_int_equal(binlog_decoder_new(&dec, NULL, &h), 0);
    if (xa) {
        binlog_xa_handler xh = {.on_xa_prepare = on_xa_prepare, .on_xa_end = on_xa_end};
        binlog_decoder_set_xa_handler(dec, &xh);
    }
    binlog_decoder_set_file(dec, name);
    binlog_file_t *f;
    assert_int_equal(binlog_file_open(&f, path, err), 0);
    rl_slice ev;
    int rc;
    while ((rc = binlog_file_next(f, &ev, err)) == 1)
        if ((rc = binlog_decoder_feed(dec, ev, err)) < 0)
            break;
    binlog_decoder_stats_get(dec, st);
    binlog_file_close(f);
    binlog_decoder_free(dec);
    return rc;
}

static void test_fixture_xa(void **state)
{
    (void)state;
    seen *s = calloc(1, sizeof *s);
    assert_non_null(s);
    binlog_decoder_stats st;
    rl_err err;
    int rc = decode_fixture(s, true, &st, &err);
    if (rc != 0)
        fail_msg("decode: %s", err.msg);
    char want[512];
    /* The prepared insert carries its XID, then the prepare ends its group. */
    snprintf(want, sizeof want, "change c %s rowlog.fixturedb.misc", XID1);
    assert_true(has(s, want));
    snprintf(want, sizeof want, "prepare %s 0-1-55 1185", XID1);
    assert_true(has(s, want));
    snprintf(want, sizeof want, "end %s commit 0-1-56 1321", XID1);
    assert_true(has(s, want));
    snprintf(want, sizeof want, "change u %s rowlog.fixturedb.misc", XID2);
    assert_true(has(s, want));
    snprintf(want, sizeof want, "prepare %s 0-1-57 1688", XID2);
    assert_true(has(s, want));
    snprintf(want, sizeof want, "end %s rollback 0-1-58 1826", XID2);
    assert_true(has(s, want));
    /* No on_commit for the four XA groups. */
    assert_false(has(s, "commit 0-1-55 1185"));
    assert_false(has(s, "commit 0-1-56 1321"));
    assert_false(has(s, "commit 0-1-57 1688"));
    assert_false(has(s, "commit 0-1-58 1826"));
    /* Order: the commit of xid1 comes after its prepare, before the next group. */
    snprintf(want, sizeof want, "prepare %s", XID1);
    size_t p1 = index_of(s, want);
    snprintf(want, sizeof want, "end %s", XID1);
    size_t e1 = index_of(s, want);
    snprintf(want, sizeof want, "change u %s", XID2);
    size_t c2 = index_of(s, want);
    assert_true(p1 < e1 && e1 < c2);
    /* Ordinary groups around them still commit (GTID 0-1-59 follows the rollback). */
    assert_true(index_of(s, "commit 0-1-59") != SIZE_MAX);
    assert_true(index_of(s, "commit 7-1-2") != SIZE_MAX);
    /* Applying the contract: the rolled-back update (v = 'xa2') is never published; the
     * committed insert (id 3, v 'xa') is. */
    assert_null(strstr(s->published, "\"xa2\""));
    assert_non_null(strstr(s->published, "\"v\":\"xa\""));
    /* Only the XA changes carry an XID. */
    size_t with_xid = 0;
    for (size_t i = 0; i < s->n; i++)
        if (strncmp(s->lines[i], "change ", 7) == 0 && strstr(s->lines[i], " X'"))
            with_xid++;
    assert_int_equal(with_xid, 2);
    free(s);
}

/* Without the XA callbacks the stream still stops at the prepare, before any of its rows
 * could be taken for committed. */
static void test_fixture_without_xa_handler(void **state)
{
    (void)state;
    seen *s = calloc(1, sizeof *s);
    assert_non_null(s);
    binlog_decoder_stats st;
    rl_err err;
    int rc = decode_fixture(s, false, &st, &err);
    assert_int_equal(rc, RL_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, XID1));
    assert_false(has(s, "commit 0-1-55 1185"));
    free(s);
}

/* ------------------------------------------------------------------ binlog_xid_parse */

static void expect_xid(const char *sql, const char *want, const char *rest_want)
{
    char out[BINLOG_XID_TEXT_MAX];
    rl_slice rest;
    int rc = binlog_xid_parse(rl_slice_str(sql), out, &rest);
    if (rc != 0)
        fail_msg("%s: %d", sql, rc);
    assert_string_equal(out, want);
    assert_int_equal(rest.len, strlen(rest_want));
    assert_memory_equal(rest.p, rest_want, rest.len);
}

static void test_xid_parse(void **state)
{
    (void)state;
    /* MySQL's and MariaDB 10.5+'s binlog form, and what users type. */
    expect_xid(" X'78696431',X'',1", XID1, "");
    expect_xid("'xid1'", XID1, "");
    expect_xid("'xid1',''", XID1, "");
    expect_xid("'xid1', '' , 1 ONE PHASE", XID1, " ONE PHASE");
    expect_xid("0x78696431", XID1, "");
    expect_xid("x'78696431',X'',1", XID1, "");
    expect_xid("\"xid1\"", XID1, "");
    /* Upper-case hex in, lower-case out; bqual and formatID kept. */
    expect_xid("X'ABcd',X'0102',-5", "X'abcd',X'0102',-5", "");
    expect_xid("'g','b',7", "X'67',X'62',7", "");
    expect_xid("'g','b',-2147483648", "X'67',X'62',-2147483648", "");
    expect_xid("'g','b',2147483647", "X'67',X'62',2147483647", "");
    /* Quotes: doubled and escaped. */
    expect_xid("'a''b'", "X'612762',X'',1", "");
    expect_xid("'a\\'b'", "X'612762',X'',1", "");
    expect_xid("0xabc", "X'0abc',X'',1", "");
    expect_xid("''", "X'',X'',1", "");
    /* 64 bytes is the maximum. */
    char sql[200], want[300];
    snprintf(sql, sizeof sql, "'%s'", "0123456789012345678901234567890123456789012345678901234567890123");
    snprintf(want, sizeof want, "X'");
    for (int i = 0; i < 64; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%02x", '0' + i % 10);
    strcat(want, "',X'',1");
    expect_xid(sql, want, "");

    const char *bad[] = {
        "", "xid1", "X'1'", "X'7g'", "'unterminated", "X'01',", "X'01',X'02',",
        "X'01',X'02',1x", "'a'b", "'a',X'02',99999999999", "'a','',2147483648",
        "'01234567890123456789012345678901234567890123456789012345678901234'",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[BINLOG_XID_TEXT_MAX];
        if (binlog_xid_parse(rl_slice_str(bad[i]), out, NULL) != RL_ECORRUPT)
            fail_msg("\"%s\" parsed as %s", bad[i], out);
        assert_string_equal(out, "");
    }
}

/* ------------------------------------------------------------------ hand-built MySQL events */

typedef struct gen {
    uint8_t buf[1024];
    size_t len;
    uint64_t pos; /* end of the last event in the imagined file */
} gen;

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static rl_slice ev_make(gen *g, uint8_t type, const uint8_t *body, size_t len)
{
    g->len = 19 + len;
    g->pos += g->len;
    put_le(g->buf, 1700000000, 4);
    g->buf[4] = type;
    put_le(g->buf + 5, 1, 4);
    put_le(g->buf + 9, g->len, 4);
    put_le(g->buf + 13, g->pos, 4);
    put_le(g->buf + 17, 0, 2);
    memcpy(g->buf + 19, body, len);
    return rl_slice_make(g->buf, g->len);
}

/* QUERY (2): thread_id, exec_time, db_len, error_code, status_vars_len; "db\0"; SQL. */
static rl_slice ev_query(gen *g, const char *sql)
{
    uint8_t b[512] = {0};
    b[8] = 2;
    memcpy(b + 13, "db", 3);
    size_t n = strlen(sql);
    memcpy(b + 16, sql, n);
    return ev_make(g, 2, b, 16 + n);
}

/* XA_PREPARE (38): one_phase u8, formatID u32, gtrid_length u32, bqual_length u32, data. */
static rl_slice ev_xa_prepare(gen *g, bool one_phase, const char *gtrid)
{
    uint8_t b[256] = {0};
    b[0] = one_phase;
    put_le(b + 1, 1, 4);
    put_le(b + 5, strlen(gtrid), 4);
    put_le(b + 9, 0, 4);
    memcpy(b + 13, gtrid, strlen(gtrid));
    return ev_make(g, 38, b, 13 + strlen(gtrid));
}

static binlog_decoder_t *mysql_decoder(seen *s, bool xa)
{
    memset(s, 0, sizeof *s);
    binlog_handler h = {.ctx = s, .on_change = on_change, .on_commit = on_commit};
    binlog_decoder_t *dec;
    assert_int_equal(binlog_decoder_new(&dec, NULL, &h), 0);
    if (xa) {
        binlog_xa_handler xh = {.on_xa_prepare = on_xa_prepare, .on_xa_end = on_xa_end};
        binlog_decoder_set_xa_handler(dec, &xh);
    }
    binlog_decoder_set_file(dec, "binlog.000001");
    return dec;
}

static void feed_ok(binlog_decoder_t *dec, rl_slice ev)
{
    rl_err err = {0};
    int rc = binlog_decoder_feed(dec, ev, &err);
    if (rc != 0)
        fail_msg("feed: %s", err.msg);
}

/* Feeds XA START xid, XA END xid and the XA_PREPARE of gtrid (one phase: XA COMMIT ... ONE
 * PHASE). xid is the XID as the server writes it in the QUERY events. */
static void feed_xa_prepare(binlog_decoder_t *dec, gen *g, const char *xid, bool one_phase,
                            const char *gtrid)
{
    char sql[128];
    snprintf(sql, sizeof sql, "XA START %s", xid);
    feed_ok(dec, ev_query(g, sql));
    snprintf(sql, sizeof sql, "XA END %s", xid);
    feed_ok(dec, ev_query(g, sql));
    feed_ok(dec, ev_xa_prepare(g, one_phase, gtrid));
}

/* Asserts that callback line i of s is fmt with the event end position pos. */
static void expect_line(const seen *s, size_t i, const char *fmt, uint64_t pos)
{
    char want[256];
    snprintf(want, sizeof want, fmt, (unsigned long long)pos);
    assert_true(i < s->n);
    assert_string_equal(s->lines[i], want);
}

static void test_mysql_one_phase(void **state)
{
    (void)state;
    seen *s = calloc(1, sizeof *s);
    assert_non_null(s);
    gen g = {.pos = 4};
    binlog_decoder_t *dec = mysql_decoder(s, true);
    feed_xa_prepare(dec, &g, "X'6f6e65',X'',1", true, "one");
    uint64_t end = g.pos;
    binlog_decoder_stats st;
    binlog_decoder_stats_get(dec, &st);
    binlog_decoder_free(dec);
    assert_int_equal(s->n, 2);
    expect_line(s, 0, "prepare X'6f6e65',X'',1  %llu", end);
    expect_line(s, 1, "end X'6f6e65',X'',1 commit  %llu", end);
    assert_int_equal(st.transactions, 1);

    /* Without the XA callbacks a one-phase XA_PREPARE is an ordinary commit. */
    g.pos = 4;
    dec = mysql_decoder(s, false);
    feed_xa_prepare(dec, &g, "X'6f6e65',X'',1", true, "one");
    binlog_decoder_free(dec);
    assert_int_equal(s->n, 1);
    expect_line(s, 0, "commit  %llu", g.pos);
    free(s);
}

static void test_mysql_two_phase(void **state)
{
    (void)state;
    seen *s = calloc(1, sizeof *s);
    assert_non_null(s);
    gen g = {.pos = 4};
    binlog_decoder_t *dec = mysql_decoder(s, true);
    feed_xa_prepare(dec, &g, "X'74776f',X'',1", false, "two");
    uint64_t prep = g.pos;
    feed_ok(dec, ev_query(&g, "BEGIN"));
    feed_ok(dec, ev_query(&g, "COMMIT"));
    uint64_t other = g.pos;
    /* The outcome, spelled as a user would: same XID. */
    feed_ok(dec, ev_query(&g, "XA COMMIT 'two'"));
    uint64_t fin = g.pos;
    feed_ok(dec, ev_query(&g, "XA ROLLBACK X'6e6f',X'',1"));
    uint64_t rb = g.pos;
    binlog_decoder_stats st;
    binlog_decoder_stats_get(dec, &st);
    binlog_decoder_free(dec);
    assert_int_equal(s->n, 4);
    expect_line(s, 0, "prepare X'74776f',X'',1  %llu", prep);
    expect_line(s, 1, "commit  %llu", other);
    expect_line(s, 2, "end X'74776f',X'',1 commit  %llu", fin);
    expect_line(s, 3, "end X'6e6f',X'',1 rollback  %llu", rb);
    assert_int_equal(st.transactions, 3);

    /* Without the XA callbacks the prepare stops the stream, naming the XID. */
    g.pos = 4;
    dec = mysql_decoder(s, false);
    feed_ok(dec, ev_query(&g, "XA START X'74776f',X'',1"));
    rl_err err = {0};
    assert_int_equal(binlog_decoder_feed(dec, ev_xa_prepare(&g, false, "two"), &err),
                     RL_EUNSUPPORTED);
    assert_non_null(strstr(err.msg, "X'74776f',X'',1"));
    binlog_decoder_free(dec);

    /* A prepare whose XID differs from its XA START's is corrupt; so is an unreadable XID. */
    g.pos = 4;
    dec = mysql_decoder(s, true);
    feed_ok(dec, ev_query(&g, "XA START X'74776f',X'',1"));
    assert_int_equal(binlog_decoder_feed(dec, ev_xa_prepare(&g, false, "six"), &err),
                     RL_ECORRUPT);
    binlog_decoder_free(dec);
    g.pos = 4;
    dec = mysql_decoder(s, true);
    assert_int_equal(binlog_decoder_feed(dec, ev_query(&g, "XA COMMIT X'7'"), &err), RL_ECORRUPT);
    binlog_decoder_free(dec);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixture_xa),
        cmocka_unit_test(test_fixture_without_xa_handler),
        cmocka_unit_test(test_xid_parse),
        cmocka_unit_test(test_mysql_one_phase),
        cmocka_unit_test(test_mysql_two_phase),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
