/*
 * GTID sets (reader/gtid_set.h): parsing and canonical text of both flavors, written out by
 * hand from MySQL's and MariaDB's documented forms; the binary encoding against bytes built
 * here from the layout of sql/rpl_gtid_set.cc; and property tests of random sets against a
 * naive model (a bitmap per (uuid, tag) over gnos 1..64; per MariaDB domain the last GTID).
 * The seed is printed; GTID_SET_SEED=<n> reproduces a run.
 */
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

#include "reader/gtid_set.h"

static const char *U1 = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
static const char *U2 = "00000000-0000-0000-0000-00000000000a";

static binlog_gtid_set *mk(const char *text)
{
    binlog_gtid_set *s;
    rl_err err;
    assert_int_equal(binlog_gtid_set_new(&s), 0);
    memset(&err, 0, sizeof err);
    int rc = binlog_gtid_set_parse(s, text, &err);
    if (rc != 0)
        fail_msg("parse \"%s\": %s", text, err.msg);
    return s;
}

/* Canonical text into a static buffer. */
static const char *fmt(const binlog_gtid_set *s)
{
    static char out[4096];
    rl_buf b = RL_BUF_INIT;
    assert_int_equal(binlog_gtid_set_format(s, &b), 0);
    snprintf(out, sizeof out, "%.*s", (int)b.len, b.p ? (const char *)b.p : "");
    rl_buf_free(&b);
    return out;
}

static void check_canon(const char *in, const char *want)
{
    binlog_gtid_set *s = mk(in);
    if (strcmp(fmt(s), want) != 0)
        fail_msg("\"%s\" formats as \"%s\", want \"%s\"", in, fmt(s), want);
    binlog_gtid_set_free(s);
}

static void test_mysql_text(void **state)
{
    (void)state;
    char in[512], want[512];
    /* Order-insensitive, overlapping and adjacent intervals merge; upper case folds. */
    snprintf(in, sizeof in, "3E11FA47-71CA-11E1-9E33-C80AA9429562:7-9:1-5, %s:6", U1);
    snprintf(want, sizeof want, "%s:1-9", U1);
    check_canon(in, want);
    /* Several uuids: sorted by their bytes; newlines after commas as MySQL prints them. */
    snprintf(in, sizeof in, "%s:3:1,\n%s:10-12:20", U1, U2);
    snprintf(want, sizeof want, "%s:10-12:20,%s:1:3", U2, U1);
    check_canon(in, want);
    /* Tags: untagged intervals first, then tags in order, each with its intervals. */
    snprintf(in, sizeof in, "%s:tag_b:3:1-2:TAG_A:5:7,%s:4", U1, U1);
    snprintf(want, sizeof want, "%s:4:tag_a:5:7:tag_b:1-3", U1);
    check_canon(in, want);
    /* 32 hex digits without dashes are read too. */
    check_canon("3e11fa4771ca11e19e33c80aa9429562:1", "3e11fa47-71ca-11e1-9e33-c80aa9429562:1");
    check_canon("", "");
    check_canon("  ", "");
    check_canon(NULL, "");

    static const char *bad[] = {
        "3e11fa47-71ca-11e1-9e33-c80aa942956:1",  /* short uuid */
        "3e11fa47-71ca-11e1-9e33-c80aa9429562",   /* no interval */
        "3e11fa47-71ca-11e1-9e33-c80aa9429562:0", /* gno 0 */
        "3e11fa47-71ca-11e1-9e33-c80aa9429562:5-3",
        "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-9223372036854775807", /* GNO_END */
        "3e11fa47-71ca-11e1-9e33-c80aa9429562:tag",                   /* tag, no interval */
        "3e11fa47-71ca-11e1-9e33-c80aa9429562:1,",
        "3e11fa47-71ca-11e1-9e33-c80aa9429562:1:x",
        "3e11fa47-71ca-11e1-9e33-c80aa9429562:1:9tag:1",
        "3e11fa47-71ca-11e1-9e33-c80aa9429562:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:1", /* 33 */
        "3e11fa47-71ca-11e1-9e33-c80aa9429562:1 junk",
        "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-",
    };
    binlog_gtid_set *s = mk("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-3");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rl_err err;
        memset(&err, 0, sizeof err);
        if (binlog_gtid_set_parse(s, bad[i], &err) != RL_ECONFIG)
            fail_msg("\"%s\" was accepted", bad[i]);
        assert_true(err.msg[0] != '\0');
        /* A failed parse leaves the set as it was. */
        assert_string_equal(fmt(s), "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-3");
    }
    /* A 32-character tag is the longest. */
    snprintf(in, sizeof in, "%s:abcdefghijklmnopqrstuvwxyz012345:1", U1);
    check_canon(in, in);
    binlog_gtid_set_free(s);
}

static void test_mysql_ops(void **state)
{
    (void)state;
    char t[512];
    snprintf(t, sizeof t, "%s:1-5:10:tg:2", U1);
    binlog_gtid_set *a = mk(t);
    assert_int_equal(binlog_gtid_set_flavor(a), BINLOG_GTID_MYSQL);
    snprintf(t, sizeof t, "%s:5", U1);
    assert_int_equal(binlog_gtid_set_contains_text(a, t), 1);
    snprintf(t, sizeof t, "%s:6", U1);
    assert_int_equal(binlog_gtid_set_contains_text(a, t), 0);
    snprintf(t, sizeof t, "%s:TG:2", U1);
    assert_int_equal(binlog_gtid_set_contains_text(a, t), 1);
    snprintf(t, sizeof t, "%s:tg:1", U1);
    assert_int_equal(binlog_gtid_set_contains_text(a, t), 0);
    assert_int_equal(binlog_gtid_set_contains_text(a, "0-1-5"), 0);
    assert_int_equal(binlog_gtid_set_contains_text(a, "nonsense"), RL_ECONFIG);
    /* add fills the gap 6-9 one by one and joins 1-5 and 10. */
    rl_err err;
    for (int g = 6; g <= 9; g++) {
        snprintf(t, sizeof t, "%s:%d", U1, g);
        assert_int_equal(binlog_gtid_set_add_text(a, t, &err), 0);
    }
    snprintf(t, sizeof t, "%s:1-10:tg:2", U1);
    assert_string_equal(fmt(a), t);
    /* A MariaDB GTID does not mix in. */
    assert_int_equal(binlog_gtid_set_add_text(a, "0-1-2", &err), RL_ECONFIG);
    binlog_gtid_set *m = mk("0-1-2");
    assert_int_equal(binlog_gtid_set_union(a, m), RL_ECONFIG);
    assert_int_equal(binlog_gtid_set_subtract(a, m), RL_ECONFIG);
    /* subtract splits intervals. */
    snprintf(t, sizeof t, "%s:3-4:8:tg:2", U1);
    binlog_gtid_set *b = mk(t);
    assert_int_equal(binlog_gtid_set_subtract(a, b), 0);
    snprintf(t, sizeof t, "%s:1-2:5-7:9-10", U1);
    assert_string_equal(fmt(a), t);
    /* An empty set takes either flavor. */
    binlog_gtid_set *e = mk("");
    assert_int_equal(binlog_gtid_set_flavor(e), BINLOG_GTID_NONE);
    assert_int_equal(binlog_gtid_set_union(e, m), 0);
    assert_string_equal(fmt(e), "0-1-2");
    binlog_gtid_set_free(a);
    binlog_gtid_set_free(b);
    binlog_gtid_set_free(m);
    binlog_gtid_set_free(e);
}

static void test_mariadb(void **state)
{
    (void)state;
    check_canon("5-1-100, 1-2-3,0-7-10", "0-7-10,1-2-3,5-1-100");
    binlog_gtid_set *s = mk("0-1-10,7-2-5");
    assert_int_equal(binlog_gtid_set_flavor(s), BINLOG_GTID_MARIADB);
    /* A domain position stands for every earlier seq_no, whichever server. */
    assert_int_equal(binlog_gtid_set_contains_text(s, "0-1-10"), 1);
    assert_int_equal(binlog_gtid_set_contains_text(s, "0-9-3"), 1);
    assert_int_equal(binlog_gtid_set_contains_text(s, "0-1-11"), 0);
    assert_int_equal(binlog_gtid_set_contains_text(s, "3-1-1"), 0);
    rl_err err;
    assert_int_equal(binlog_gtid_set_add_text(s, "0-3-11", &err), 0);
    assert_int_equal(binlog_gtid_set_add_text(s, "2-1-1", &err), 0);
    assert_string_equal(fmt(s), "0-3-11,2-1-1,7-2-5");
    binlog_gtid_set *o = mk("0-1-4,7-2-9,9-9-9");
    binlog_gtid_set *u = mk("");
    assert_int_equal(binlog_gtid_set_copy(u, s), 0);
    assert_int_equal(binlog_gtid_set_union(u, o), 0);
    assert_string_equal(fmt(u), "0-3-11,2-1-1,7-2-9,9-9-9");
    assert_int_equal(binlog_gtid_set_subtract(u, s), 0);
    assert_string_equal(fmt(u), "7-2-9,9-9-9");
    static const char *bad[] = {"1-2",
                                "a-b-c",
                                "1-2-3,",
                                "1-2-3,1-4-5",
                                "1-2-3 x",
                                "4294967296-1-1",
                                "1-1-18446744073709551616"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (binlog_gtid_set_parse(s, bad[i], &err) != RL_ECONFIG)
            fail_msg("\"%s\" was accepted", bad[i]);
    uint8_t uu[16] = {0};
    assert_int_equal(binlog_gtid_set_add_mysql(s, uu, NULL, 0, 1), RL_ECONFIG);
    rl_buf b = RL_BUF_INIT;
    assert_int_equal(binlog_gtid_set_encode(s, &b), RL_ECONFIG);
    rl_buf_free(&b);
    binlog_gtid_set_free(s);
    binlog_gtid_set_free(o);
    binlog_gtid_set_free(u);
}

/* ------------------------------------------------------------------ binary encoding */

static void le64(rl_buf *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        rl_buf_putc(b, (char)(v >> (8 * i)));
}

static void test_encoding(void **state)
{
    (void)state;
    static const uint8_t u1[16] = {0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1,
                                   0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42, 0x95, 0x62};
    /* Untagged: n_sids 1; uuid; 2 intervals [1,6) [10,11). */
    rl_buf want = RL_BUF_INIT;
    le64(&want, 1);
    rl_buf_append(&want, u1, 16);
    le64(&want, 2);
    le64(&want, 1);
    le64(&want, 6);
    le64(&want, 10);
    le64(&want, 11);
    char t[256];
    snprintf(t, sizeof t, "%s:10:1-5", U1);
    binlog_gtid_set *s = mk(t);
    rl_buf got = RL_BUF_INIT;
    assert_int_equal(binlog_gtid_set_encode(s, &got), 0);
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.p, want.p, want.len);
    binlog_gtid_set *d = mk("");
    rl_err err;
    assert_int_equal(binlog_gtid_set_decode_add(d, rl_buf_slice(&want), &err), 0);
    assert_true(binlog_gtid_set_equal(s, d));

    /* Tagged (any tag switches the whole set): (1<<56)|(2<<8)|1; "" then "ab". */
    rl_buf_reset(&want);
    le64(&want, (1ull << 56) | (2ull << 8) | 1);
    rl_buf_append(&want, u1, 16);
    rl_buf_putc(&want, 0);
    le64(&want, 1);
    le64(&want, 3);
    le64(&want, 4);
    rl_buf_append(&want, u1, 16);
    rl_buf_putc(&want, 2 << 1);
    rl_buf_append(&want, "ab", 2);
    le64(&want, 1);
    le64(&want, 7);
    le64(&want, 9);
    snprintf(t, sizeof t, "%s:3:AB:7-8", U1);
    binlog_gtid_set_free(s);
    s = mk(t);
    rl_buf_reset(&got);
    assert_int_equal(binlog_gtid_set_encode(s, &got), 0);
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.p, want.p, want.len);
    binlog_gtid_set_clear(d);
    assert_int_equal(binlog_gtid_set_decode_add(d, rl_buf_slice(&want), &err), 0);
    assert_true(binlog_gtid_set_equal(s, d));

    /* Empty set: 8 zero bytes. */
    binlog_gtid_set_clear(s);
    rl_buf_reset(&got);
    assert_int_equal(binlog_gtid_set_encode(s, &got), 0);
    assert_int_equal(got.len, 8);
    static const uint8_t zero[8] = {0};
    assert_memory_equal(got.p, zero, 8);

    /* Malformed encodings: every truncation, intervals out of order, a bad format byte. The
     * set is left unchanged. */
    binlog_gtid_set_clear(d);
    for (size_t n = 0; n < want.len; n++) {
        int rc = binlog_gtid_set_decode_add(d, rl_slice_make(want.p, n), &err);
        if (rc != RL_ECORRUPT)
            fail_msg("truncation to %zu bytes gave %d", n, rc);
        assert_true(binlog_gtid_set_is_empty(d));
    }
    rl_buf bad = RL_BUF_INIT;
    le64(&bad, 1);
    rl_buf_append(&bad, u1, 16);
    le64(&bad, 2);
    le64(&bad, 5);
    le64(&bad, 8);
    le64(&bad, 3);
    le64(&bad, 4);
    assert_int_equal(binlog_gtid_set_decode_add(d, rl_buf_slice(&bad), &err), RL_ECORRUPT);
    bad.p[7] = 2; /* format 2 */
    assert_int_equal(binlog_gtid_set_decode_add(d, rl_buf_slice(&bad), &err), RL_ECORRUPT);
    rl_buf_free(&bad);
    rl_buf_free(&want);
    rl_buf_free(&got);
    binlog_gtid_set_free(s);
    binlog_gtid_set_free(d);
}

/* ------------------------------------------------------------------ properties */

enum { NU = 3, NT = 2, NG = 64, ND = 4 };
static const char *const TAGS[NT] = {"", "tq"};

typedef struct model {
    uint64_t bits[NU][NT]; /* bit g-1 = gno g */
} model;

static uint64_t rng_state;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void uuid_of(int u, uint8_t *out)
{
    memset(out, 0, 16);
    out[0] = (uint8_t)(0x10 * (NU - u)); /* byte order differs from index order */
    out[15] = (uint8_t)u;
}

static void random_mysql(binlog_gtid_set *s, model *m)
{
    memset(m, 0, sizeof *m);
    binlog_gtid_set_clear(s);
    int n = (int)(rnd() % 12);
    for (int i = 0; i < n; i++) {
        int u = (int)(rnd() % NU), t = (int)(rnd() % NT);
        int a = 1 + (int)(rnd() % NG), len = 1 + (int)(rnd() % 8);
        uint8_t uu[16];
        uuid_of(u, uu);
        for (int g = a; g < a + len && g <= NG; g++) {
            assert_int_equal(
                binlog_gtid_set_add_mysql(s, uu, TAGS[t], strlen(TAGS[t]), (uint64_t)g), 0);
            m->bits[u][t] |= 1ull << (g - 1);
        }
    }
}

static void check_model(const binlog_gtid_set *s, const model *m, const char *what)
{
    for (int u = 0; u < NU; u++)
        for (int t = 0; t < NT; t++) {
            uint8_t uu[16];
            uuid_of(u, uu);
            for (int g = 1; g <= NG + 1; g++) {
                bool want = g <= NG && (m->bits[u][t] >> (g - 1) & 1);
                bool got =
                    binlog_gtid_set_contains_mysql(s, uu, TAGS[t], strlen(TAGS[t]), (uint64_t)g);
                if (want != got)
                    fail_msg("%s: uuid %d tag '%s' gno %d: model %d, set %d (%s)", what, u, TAGS[t],
                             g, want, got, fmt(s));
            }
        }
}

static void test_mysql_properties(void **state)
{
    (void)state;
    binlog_gtid_set *a, *b, *c, *p;
    assert_int_equal(binlog_gtid_set_new(&a), 0);
    assert_int_equal(binlog_gtid_set_new(&b), 0);
    assert_int_equal(binlog_gtid_set_new(&c), 0);
    assert_int_equal(binlog_gtid_set_new(&p), 0);
    rl_err err;
    rl_buf txt = RL_BUF_INIT, enc = RL_BUF_INIT;
    for (int iter = 0; iter < 2000; iter++) {
        model ma, mb, mc;
        random_mysql(a, &ma);
        random_mysql(b, &mb);
        check_model(a, &ma, "add");
        /* format(parse(x)) round trip, and the encoding round trip. */
        rl_buf_reset(&txt);
        assert_int_equal(binlog_gtid_set_format(a, &txt), 0);
        assert_int_equal(binlog_gtid_set_parse(p, rl_buf_cstr(&txt), &err), 0);
        if (!binlog_gtid_set_equal(a, p))
            fail_msg("round trip of \"%s\" gave \"%s\"", rl_buf_cstr(&txt), fmt(p));
        rl_buf_reset(&enc);
        assert_int_equal(binlog_gtid_set_encode(a, &enc), 0);
        binlog_gtid_set_clear(p);
        assert_int_equal(binlog_gtid_set_decode_add(p, rl_buf_slice(&enc), &err), 0);
        assert_true(binlog_gtid_set_equal(a, p));
        /* Union: the model's OR; A is a subset of A U B. */
        assert_int_equal(binlog_gtid_set_copy(c, a), 0);
        assert_int_equal(binlog_gtid_set_union(c, b), 0);
        for (int u = 0; u < NU; u++)
            for (int t = 0; t < NT; t++)
                mc.bits[u][t] = ma.bits[u][t] | mb.bits[u][t];
        check_model(c, &mc, "union");
        assert_int_equal(binlog_gtid_set_copy(p, a), 0);
        assert_int_equal(binlog_gtid_set_subtract(p, c), 0);
        assert_true(binlog_gtid_set_is_empty(p)); /* A - (A U B) = empty: A within A U B */
        /* (A U B) - B: the model's AND NOT, and nothing of it in B. */
        assert_int_equal(binlog_gtid_set_subtract(c, b), 0);
        for (int u = 0; u < NU; u++)
            for (int t = 0; t < NT; t++)
                mc.bits[u][t] = (ma.bits[u][t] | mb.bits[u][t]) & ~mb.bits[u][t];
        check_model(c, &mc, "subtract");
        assert_int_equal(binlog_gtid_set_copy(p, c), 0);
        assert_int_equal(binlog_gtid_set_subtract(p, b), 0);
        assert_true(binlog_gtid_set_equal(p, c)); /* disjoint from B */
        /* A - A = empty; equality is the model's. */
        assert_int_equal(binlog_gtid_set_copy(p, a), 0);
        assert_int_equal(binlog_gtid_set_subtract(p, p), 0);
        assert_true(binlog_gtid_set_is_empty(p));
        assert_int_equal(binlog_gtid_set_equal(a, b), memcmp(&ma, &mb, sizeof ma) == 0);
    }
    rl_buf_free(&txt);
    rl_buf_free(&enc);
    binlog_gtid_set_free(a);
    binlog_gtid_set_free(b);
    binlog_gtid_set_free(c);
    binlog_gtid_set_free(p);
}

typedef struct dmodel {
    bool has[ND];
    uint32_t server[ND];
    uint64_t seq[ND];
} dmodel;

static void random_mariadb(binlog_gtid_set *s, dmodel *m)
{
    memset(m, 0, sizeof *m);
    binlog_gtid_set_clear(s);
    int n = (int)(rnd() % 8);
    for (int i = 0; i < n; i++) {
        uint32_t d = (uint32_t)(rnd() % ND), sv = (uint32_t)(rnd() % 3);
        uint64_t q = rnd() % 20;
        assert_int_equal(binlog_gtid_set_add_mariadb(s, d, sv, q), 0);
        m->has[d] = true;
        m->server[d] = sv;
        m->seq[d] = q;
        /* contains after add */
        assert_true(binlog_gtid_set_contains_mariadb(s, d, sv, q));
    }
}

static void check_dmodel(const binlog_gtid_set *s, const dmodel *m, const char *what)
{
    for (uint32_t d = 0; d < ND; d++)
        for (uint64_t q = 0; q < 22; q++) {
            bool want = m->has[d] && q <= m->seq[d];
            if (binlog_gtid_set_contains_mariadb(s, d, 1, q) != want)
                fail_msg("%s: %u-*-%llu: model %d (%s)", what, d, (unsigned long long)q, want,
                         fmt(s));
        }
}

static void test_mariadb_properties(void **state)
{
    (void)state;
    binlog_gtid_set *a, *b, *c, *p;
    assert_int_equal(binlog_gtid_set_new(&a), 0);
    assert_int_equal(binlog_gtid_set_new(&b), 0);
    assert_int_equal(binlog_gtid_set_new(&c), 0);
    assert_int_equal(binlog_gtid_set_new(&p), 0);
    rl_err err;
    rl_buf txt = RL_BUF_INIT;
    for (int iter = 0; iter < 3000; iter++) {
        dmodel ma, mb, mc;
        random_mariadb(a, &ma);
        random_mariadb(b, &mb);
        check_dmodel(a, &ma, "add");
        rl_buf_reset(&txt);
        assert_int_equal(binlog_gtid_set_format(a, &txt), 0);
        assert_int_equal(binlog_gtid_set_parse(p, rl_buf_cstr(&txt), &err), 0);
        assert_true(binlog_gtid_set_equal(a, p));
        assert_int_equal(binlog_gtid_set_copy(c, a), 0);
        assert_int_equal(binlog_gtid_set_union(c, b), 0);
        for (int d = 0; d < ND; d++) {
            mc.has[d] = ma.has[d] || mb.has[d];
            mc.seq[d] = ma.has[d] && (!mb.has[d] || ma.seq[d] >= mb.seq[d]) ? ma.seq[d] : mb.seq[d];
        }
        check_dmodel(c, &mc, "union");
        assert_int_equal(binlog_gtid_set_copy(p, a), 0);
        assert_int_equal(binlog_gtid_set_subtract(p, c), 0);
        assert_true(binlog_gtid_set_is_empty(p));
        assert_int_equal(binlog_gtid_set_subtract(c, b), 0);
        /* Nothing left in (A U B) - B is contained in B. */
        rl_buf_reset(&txt);
        assert_int_equal(binlog_gtid_set_format(c, &txt), 0);
        const char *s = rl_buf_cstr(&txt);
        while (s && *s) {
            char one[64];
            size_t n = strcspn(s, ",");
            snprintf(one, sizeof one, "%.*s", (int)n, s);
            assert_int_equal(binlog_gtid_set_contains_text(b, one), 0);
            s += n + (s[n] == ',');
        }
        assert_int_equal(binlog_gtid_set_copy(p, a), 0);
        assert_int_equal(binlog_gtid_set_subtract(p, p), 0);
        assert_true(binlog_gtid_set_is_empty(p));
    }
    rl_buf_free(&txt);
    binlog_gtid_set_free(a);
    binlog_gtid_set_free(b);
    binlog_gtid_set_free(c);
    binlog_gtid_set_free(p);
}

int main(void)
{
    const char *env = getenv("GTID_SET_SEED");
    rng_state = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    if (rng_state == 0)
        rng_state = 1;
    printf("GTID_SET_SEED=%llu\n", (unsigned long long)rng_state);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mysql_text),       cmocka_unit_test(test_mysql_ops),
        cmocka_unit_test(test_mariadb),          cmocka_unit_test(test_encoding),
        cmocka_unit_test(test_mysql_properties), cmocka_unit_test(test_mariadb_properties),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
