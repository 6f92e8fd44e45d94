/*
 * The decoder's MySQL GTID state, GTID_TAGGED, decoder counters, statement-format DML and
 * XA PREPARE, on real binlogs from the fixtures (skipped when RL_FIXTURES_DIR is absent).
 *
 * Expected values come from outside the decoder: GTIDs and PREVIOUS_GTIDS are read here from
 * the raw event bytes (control_events.h layouts; the GTID_TAGGED fixture's values were read
 * by hand from its bytes: PREVIOUS_GTIDS in the tagged format holds uuid:1-13 and
 * uuid:mytag:1-2, and the tagged GTID is mytag:3), event counts come from MANIFEST.md, and the
 * statement counts from the mariadb-binlog decode saved next to the fixture.
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

typedef struct cap {
    size_t changes, commits;
    char gtid[128];
    char state[4096];
} cap;

static int on_change(void *ctx, const binlog_change *ch)
{
    (void)ch;
    ((cap *)ctx)->changes++;
    return 0;
}

static int on_commit(void *ctx, const binlog_checkpoint *cp)
{
    cap *k = ctx;
    k->commits++;
    snprintf(k->gtid, sizeof k->gtid, "%s", cp->gtid);
    snprintf(k->state, sizeof k->state, "%s", cp->gtid_state);
    return 0;
}

static bool fixture(const char *name, char *path, size_t cap_)
{
    snprintf(path, cap_, "%s/%s", RL_FIXTURES_DIR, name);
    struct stat st;
    return stat(path, &st) == 0;
}

/* Decodes a whole file; returns the decoder's code and leaves stats and err filled. */
static int decode(const char *name, const char *seed, cap *k, binlog_decoder_stats *st, rl_err *err)
{
    char path[4096];
    if (!fixture(name, path, sizeof path)) {
        print_message("fixture %s not found: skipped\n", path);
        skip();
    }
    memset(k, 0, sizeof *k);
    memset(err, 0, sizeof *err);
    binlog_handler h = {k, on_change, on_commit};
    binlog_decoder_t *dec;
    assert_int_equal(binlog_decoder_new(&dec, NULL, &h), 0);
    binlog_decoder_set_file(dec, name);
    if (seed)
        assert_int_equal(binlog_decoder_set_gtid_state(dec, seed, err), 0);
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

static void uuid_text(const uint8_t *u, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *out++ = '-';
        *out++ = hex[u[i] >> 4];
        *out++ = hex[u[i] & 15];
    }
    *out = '\0';
}

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void test_gtid_tagged(void **state)
{
    (void)state;
    cap k;
    binlog_decoder_stats st;
    rl_err err;
    int rc =
        decode("rust_mysql_common__binlog_transaction_with_GTID_TAG.000001", NULL, &k, &st, &err);
    if (rc != 0)
        fail_msg("decode: %s", err.msg);
    assert_int_equal(k.changes, 1);
    assert_string_equal(k.gtid, "55778904-0299-11f1-b1b8-4ef0c4956feb:mytag:3");
    /* PREVIOUS_GTIDS (uuid:1-13, uuid:mytag:1-2) plus the transaction. */
    assert_string_equal(k.state, "55778904-0299-11f1-b1b8-4ef0c4956feb:1-13:mytag:1-3");
    assert_int_equal(st.events[42], 1);
    assert_int_equal(st.events[35], 1);
    assert_int_equal(st.rows, 1);
}

/* maxwell__binlog.000004 (MySQL 8.0.29): one uuid. The GTIDs and PREVIOUS_GTIDS are read
 * from the raw events (untagged layouts) and the expected text is built from them. */
static void test_mysql_state(void **state)
{
    (void)state;
    static const char *name = "maxwell__binlog.000004";
    char path[4096];
    if (!fixture(name, path, sizeof path)) {
        print_message("fixture %s not found: skipped\n", path);
        skip();
    }
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    static uint8_t data[1 << 20];
    size_t n = fread(data, 1, sizeof data, fp);
    fclose(fp);
    static bool have[1024];
    memset(have, 0, sizeof have);
    char uuid[40] = "";
    size_t ngtid = 0;
    for (size_t p = 4; p + 19 <= n;) {
        uint8_t type = data[p + 4];
        uint32_t size = (uint32_t)le(data + p + 9, 4);
        const uint8_t *b = data + p + 19;
        char u[40];
        if (type == 33) {
            uuid_text(b + 1, u);
            uint64_t g = le(b + 17, 8);
            assert_true(g < 1024);
            have[g] = true;
            ngtid++;
            if (uuid[0])
                assert_string_equal(u, uuid);
            snprintf(uuid, sizeof uuid, "%s", u);
        } else if (type == 35) {
            assert_int_equal(le(b, 8), 1); /* one uuid */
            uint64_t niv = le(b + 24, 8);
            for (uint64_t i = 0; i < niv; i++) {
                uint64_t s = le(b + 32 + 16 * i, 8), e = le(b + 40 + 16 * i, 8);
                assert_true(e <= 1024);
                for (uint64_t g = s; g < e; g++)
                    have[g] = true;
            }
        }
        p += size;
    }
    assert_int_equal(ngtid, 21); /* MANIFEST.md: GTID 21 */
    char want[512];
    int o = snprintf(want, sizeof want, "%s", uuid);
    for (int g = 1; g < 1024; g++) {
        if (!have[g] || have[g - 1])
            continue;
        int e = g;
        while (e + 1 < 1024 && have[e + 1])
            e++;
        o += e == g ? snprintf(want + o, sizeof want - (size_t)o, ":%d", g)
                    : snprintf(want + o, sizeof want - (size_t)o, ":%d-%d", g, e);
    }
    cap k;
    binlog_decoder_stats st;
    rl_err err;
    if (decode(name, NULL, &k, &st, &err) != 0)
        fail_msg("decode: %s", err.msg);
    assert_string_equal(k.state, want);
    /* Counters against MANIFEST.md: FDE 1, GTID 21, PREVIOUS_GTIDS 1, QUERY 21, TABLE_MAP 5,
     * UPDATE_ROWS_V2 2, WRITE_ROWS_V2 3, XID 5. */
    assert_int_equal(st.events[15], 1);
    assert_int_equal(st.events[33], 21);
    assert_int_equal(st.events[35], 1);
    assert_int_equal(st.events[2], 21);
    assert_int_equal(st.events[19], 5);
    assert_int_equal(st.events[31], 2);
    assert_int_equal(st.events[30], 3);
    assert_int_equal(st.events[16], 5);
    assert_int_equal(st.transactions, 21);
    assert_int_equal(st.transactions, k.commits);
    assert_int_equal(st.rows, k.changes);
    assert_true(st.rows > 0);
    assert_int_equal(st.statement_dml_skipped, 0);

    /* A seed replaces PREVIOUS_GTIDS: the state is the seed plus the file's GTIDs. */
    char seed[256];
    snprintf(seed, sizeof seed, "%s:1-3, 00000000-0000-0000-0000-000000000001:7", uuid);
    if (decode(name, seed, &k, &st, &err) != 0)
        fail_msg("decode: %s", err.msg);
    char want2[512];
    int first = 0;
    for (int g = 1; g < 1024 && !first; g++)
        if (have[g] && g > 5)
            first = g;
    int last = first;
    while (have[last + 1])
        last++;
    snprintf(want2, sizeof want2, "00000000-0000-0000-0000-000000000001:7,%s:1-3:%d-%d", uuid,
             first, last);
    assert_string_equal(k.state, want2);
}

/* percona-toolkit__raw_binlog.log (MySQL 5.5, statement format): its mariadb-binlog decode
 * shows 13 "insert into nokey" statements in database test. */
static void test_statement_dml(void **state)
{
    (void)state;
    char path[4096];
    if (!fixture("percona-toolkit__raw_binlog.log.mariadb-binlog.txt", path, sizeof path)) {
        print_message("oracle %s not found: skipped\n", path);
        skip();
    }
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char line[4096];
    size_t want = 0;
    while (fgets(line, sizeof line, fp))
        if (strncmp(line, "insert ", 7) == 0 || strncmp(line, "update ", 7) == 0 ||
            strncmp(line, "delete ", 7) == 0 || strncmp(line, "replace ", 8) == 0)
            want++;
    fclose(fp);
    assert_true(want > 0);
    cap k;
    binlog_decoder_stats st;
    rl_err err;
    if (decode("percona-toolkit__raw_binlog.log", NULL, &k, &st, &err) != 0)
        fail_msg("decode: %s", err.msg);
    assert_int_equal(st.statement_dml_skipped, want);
    assert_int_equal(k.changes, 0);
    assert_true(k.commits > 0);
}

/* local-mariadb-10.11__binlog.000013 holds an XA PREPARE: the stream stops there, loudly,
 * before anything of the prepared transaction is committed. */
static void test_xa_prepare(void **state)
{
    (void)state;
    cap k;
    binlog_decoder_stats st;
    rl_err err;
    int rc = decode("local-mariadb-10.11__binlog.000013", NULL, &k, &st, &err);
    assert_int_equal(rc, RL_EUNSUPPORTED);
    print_message("%s\n", err.msg);
    assert_non_null(strstr(err.msg, "XA PREPARE"));
    assert_non_null(strstr(err.msg, "XA_PREPARE"));
    assert_int_equal(st.events[38], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gtid_tagged),
        cmocka_unit_test(test_mysql_state),
        cmocka_unit_test(test_statement_dml),
        cmocka_unit_test(test_xa_prepare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
