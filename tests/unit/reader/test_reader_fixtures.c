/*
 * Every binlog fixture (RL_FIXTURES_DIR, all files but the .txt decodes and MANIFEST.md) runs
 * through binlog_file_* and the decoder: each must decode to the end or stop with
 * RL_EUNSUPPORTED, RL_ECORRUPT, RL_ECHECKSUM or RL_EINCIDENT and a message; nothing else, no
 * crash (this test also runs under ASan/UBSan). Every key and value emitted must be valid JSON
 * with the envelope's fields in order. Per-file outcomes are printed.
 *
 * Then every event of a few fixtures is fed truncated at every length (size field and CRC
 * made consistent, so the body parsers see the short data) and with random byte flips, to a
 * decoder primed with the file's FORMAT_DESCRIPTION and TABLE_MAPs: any result but a crash or
 * a sanitizer report is accepted, errors must carry a message. The seed is printed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "reader/binlog.h"
#include "tests/unit/reader/json_mini.h"

typedef struct stats {
    size_t changes, commits;
    const char *file;
    bool bad_json;
    char bad[300];
} stats;

static int on_change(void *ctx, const binlog_change *c)
{
    stats *s = ctx;
    s->changes++;
    jv v, k;
    if (jparse(c->value.p, c->value.len, &v) != 0) {
        s->bad_json = true;
        snprintf(s->bad, sizeof s->bad, "value: %.*s",
                 (int)(c->value.len > 200 ? 200 : c->value.len), (const char *)c->value.p);
        return 0;
    }
    if (jparse(c->key.p, c->key.len, &k) != 0) {
        s->bad_json = true;
        snprintf(s->bad, sizeof s->bad, "key: %.*s", (int)(c->key.len > 200 ? 200 : c->key.len),
                 (const char *)c->key.p);
        jfree(&v);
        return 0;
    }
    static const char *const fields[] = {"before", "after", "source", "op", "ts_ms"};
    bool ok = v.type == JOBJ && v.n == 5 && k.type == JOBJ;
    for (int i = 0; ok && i < 5; i++)
        ok = strcmp(v.keys[i], fields[i]) == 0;
    if (ok) {
        const jv *op = jget(&v, "op");
        ok = op->type == JSTR && op->slen == 1 && op->s[0] == c->op;
    }
    if (!ok) {
        s->bad_json = true;
        snprintf(s->bad, sizeof s->bad, "envelope: %.*s",
                 (int)(c->value.len > 200 ? 200 : c->value.len), (const char *)c->value.p);
    }
    jfree(&v);
    jfree(&k);
    return 0;
}

static int on_commit(void *ctx, const binlog_checkpoint *cp)
{
    stats *s = ctx;
    s->commits++;
    if (!cp->file || !cp->gtid || !cp->gtid_state)
        s->bad_json = true;
    return 0;
}

typedef struct outcome {
    char name[256];
    int rc;
    size_t changes;
} outcome;

static int decode(const char *dir, const char *name, stats *s, rl_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    binlog_file_t *f = NULL;
    binlog_decoder_t *dec = NULL;
    int rc = binlog_file_open(&f, path, err);
    if (rc < 0)
        return rc;
    binlog_handler h = {s, on_change, on_commit};
    assert_int_equal(binlog_decoder_new(&dec, NULL, &h), 0);
    binlog_decoder_set_file(dec, name);
    rl_slice ev;
    bool from_decoder = false;
    while ((rc = binlog_file_next(f, &ev, err)) == 1) {
        rc = binlog_decoder_feed(dec, ev, err);
        if (rc < 0) {
            from_decoder = true;
            break;
        }
    }
    if (from_decoder) {
        /* Errors stick: a later event, even a valid one, gets the same code. */
        rl_err again;
        int rc2 = binlog_decoder_feed(dec, ev, &again);
        if (rc2 != rc || again.code != rc || strcmp(again.msg, err->msg) != 0)
            fail_msg("%s: error did not stick (%d then %d)", name, rc, rc2);
    }
    binlog_decoder_free(dec);
    binlog_file_close(f);
    return rc;
}

static int cmp_outcome(const void *a, const void *b)
{
    return strcmp(((const outcome *)a)->name, ((const outcome *)b)->name);
}

static const outcome *find(const outcome *o, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(o[i].name, name) == 0)
            return &o[i];
    return NULL;
}

static void test_all_fixtures(void **state)
{
    (void)state;
    DIR *d = opendir(RL_FIXTURES_DIR);
    if (!d) {
        print_message("no fixtures at %s: skipped\n", RL_FIXTURES_DIR);
        skip();
    }
    outcome *out = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || strcmp(de->d_name, "MANIFEST.md") == 0 ||
            (l > 4 && strcmp(de->d_name + l - 4, ".txt") == 0))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 128;
            out = realloc(out, cap * sizeof *out);
            assert_non_null(out);
        }
        snprintf(out[n].name, sizeof out[n].name, "%s", de->d_name);
        n++;
    }
    closedir(d);
    qsort(out, n, sizeof *out, cmp_outcome);
    size_t full = 0;
    for (size_t i = 0; i < n; i++) {
        stats s;
        memset(&s, 0, sizeof s);
        rl_err err;
        memset(&err, 0, sizeof err);
        int rc = decode(RL_FIXTURES_DIR, out[i].name, &s, &err);
        out[i].rc = rc;
        out[i].changes = s.changes;
        print_message("%-66s %-16s %6zu changes %5zu commits %s\n", out[i].name,
                      rc == 0 ? "OK" : rl_errname(rc), s.changes, s.commits, rc ? err.msg : "");
        if (s.bad_json)
            fail_msg("%s: invalid output: %s", out[i].name, s.bad);
        if (rc == 0) {
            full++;
            continue;
        }
        if (rc != RL_EUNSUPPORTED && rc != RL_ECORRUPT && rc != RL_ECHECKSUM && rc != RL_EINCIDENT)
            fail_msg("%s: unexpected outcome %s: %s", out[i].name, rl_errname(rc), err.msg);
        if (err.code != rc || err.msg[0] == '\0')
            fail_msg("%s: %s without a message", out[i].name, rl_errname(rc));
    }
    print_message("%zu fixtures, %zu decoded to the end\n", n, full);
    assert_true(n >= 100);

    /* Files that must decode fully: the MariaDB all-types file and MySQL 5.7 / 8.0 files
     * without binary JSON or compressed transactions (MANIFEST.md). */
    static const char *const must_decode[] = {
        "local-mariadb-10.11__binlog.000004", /* MariaDB 10.11, every type */
        "MyFlash__haha.000041",               /* MySQL 5.7.18 */
        "rust-mysql-binlog__bin-log.000001",  /* Percona 5.7.24 */
        "mysql-binlog-connector-java__mysql-bin.checksum-crc32",
        "maxwell__binlog.000004",                          /* MySQL 8.0.29 */
        "mysql-cdc-rs__8.0-folder-binlog.000693",          /* MySQL 8.0.31, ~1000 transactions */
        "rust_mysql_common__mysql-enum-string-set.000001", /* MySQL 8.0.28, FULL metadata */
        "local-mariadb-10.11__binlog.000006", /* MariaDB compressed QUERY and rows events */
        "mysql-binlog-connector-java__mysql-bin.compressed", /* TRANSACTION_PAYLOAD (zstd) */
        "rust_mysql_common__transaction_compression.000001", /* TRANSACTION_PAYLOAD (zstd) */
        "rust_mysql_common__binlog_transaction_with_GTID_TAG.000001", /* GTID_TAGGED (42) */
    };
    for (size_t i = 0; i < sizeof must_decode / sizeof must_decode[0]; i++) {
        const outcome *o = find(out, n, must_decode[i]);
        if (!o)
            fail_msg("fixture %s missing", must_decode[i]);
        if (o->rc != 0 || o->changes == 0)
            fail_msg("%s: expected a full decode with changes, got %s and %zu changes", o->name,
                     rl_errname(o->rc), o->changes);
    }
    /* Known stops (MANIFEST.md): each for the right reason. */
    static const struct {
        const char *name;
        int rc;
    } stops[] = {
        {"rust_mysql_common__bug40482-bin.000001", RL_EINCIDENT},
        {"rust_mysql_common__binlog_truncated_event.000001", RL_ECORRUPT},
        /* PARTIAL_UPDATE_ROWS under binlog_row_image=MINIMAL (test_json_binary.c). */
        {"rust_mysql_common__json.binlog.000001", RL_EUNSUPPORTED},
    };
    for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++) {
        const outcome *o = find(out, n, stops[i].name);
        if (!o)
            fail_msg("fixture %s missing", stops[i].name);
        if (o->rc != stops[i].rc)
            fail_msg("%s: expected %s, got %s", o->name, rl_errname(stops[i].rc),
                     rl_errname(o->rc));
    }
    free(out);
}

/* ------------------------------------------------------------------ TRANSACTION_PAYLOAD */

typedef struct pl_cap {
    size_t n, commits;
    char op[16];
    uint64_t pos[16], row[16];
    uint64_t commit_pos[16];
} pl_cap;

static int pl_change(void *ctx, const binlog_change *c)
{
    pl_cap *k = ctx;
    assert_true(k->n < 16);
    jv v;
    assert_int_equal(jparse(c->value.p, c->value.len, &v), 0);
    const jv *src = jget(&v, "source");
    assert_non_null(src);
    k->op[k->n] = c->op;
    k->pos[k->n] = strtoull(jget(src, "pos")->s, NULL, 10);
    k->row[k->n] = strtoull(jget(src, "row")->s, NULL, 10);
    k->n++;
    jfree(&v);
    return 0;
}

static int pl_commit(void *ctx, const binlog_checkpoint *cp)
{
    pl_cap *k = ctx;
    assert_true(k->commits < 16);
    k->commit_pos[k->commits++] = cp->pos;
    return 0;
}

/* Start offset and log_pos of the idx-th TRANSACTION_PAYLOAD of a file, read from the event
 * headers alone. */
static bool find_payload(const char *path, int idx, uint64_t *start, uint64_t *end)
{
    binlog_file_t *f;
    rl_err err;
    if (binlog_file_open(&f, path, &err) != 0)
        return false;
    rl_slice ev;
    bool found = false;
    uint64_t at = binlog_file_offset(f);
    while (binlog_file_next(f, &ev, &err) == 1) {
        if (ev.p[4] == 40 && idx-- == 0) {
            *start = at;
            *end = (uint64_t)ev.p[13] | (uint64_t)ev.p[14] << 8 | (uint64_t)ev.p[15] << 16 |
                   (uint64_t)ev.p[16] << 24;
            found = true;
            break;
        }
        at = binlog_file_offset(f);
    }
    binlog_file_close(f);
    return found;
}

/* MySQL binlog_transaction_compression: the events inside each zstd payload are decoded as if
 * inline; changes name the payload event (source.pos) and count rows across it, and the
 * transaction's checkpoint is the payload's log_pos. Row counts were counted independently
 * from the decompressed payloads (zstd -d, then the inner rows events walked by hand): one
 * UPDATE row, one WRITE row; 000057's first payload holds one WRITE row and its second an
 * UPDATE row and a WRITE row with MySQL binary JSON values. */
static void test_transaction_payload(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int rc;
        size_t rows;
        char op;
    } cases[] = {
        {"mysql-binlog-connector-java__mysql-bin.compressed", 0, 1, 'u'},
        {"rust_mysql_common__transaction_compression.000001", 0, 1, 'c'},
        {"mysql-binlog-connector-rust__mysql-bin.000057", 0, 1, 'c'},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", RL_FIXTURES_DIR, cases[i].name);
        struct stat st;
        if (stat(path, &st) != 0) {
            print_message("fixture %s not found: skipped\n", path);
            skip();
        }
        uint64_t start = 0, end = 0;
        assert_true(find_payload(path, 0, &start, &end));
        pl_cap k;
        memset(&k, 0, sizeof k);
        binlog_handler h = {&k, pl_change, pl_commit};
        binlog_decoder_t *dec;
        binlog_file_t *f;
        rl_err err;
        memset(&err, 0, sizeof err);
        assert_int_equal(binlog_decoder_new(&dec, NULL, &h), 0);
        binlog_decoder_set_file(dec, cases[i].name);
        assert_int_equal(binlog_file_open(&f, path, &err), 0);
        rl_slice ev;
        int rc;
        while ((rc = binlog_file_next(f, &ev, &err)) == 1)
            if ((rc = binlog_decoder_feed(dec, ev, &err)) < 0)
                break;
        print_message("%s: %s %zu changes %zu commits %s\n", cases[i].name,
                      rc ? rl_errname(rc) : "OK", k.n, k.commits, rc ? err.msg : "");
        assert_int_equal(rc, cases[i].rc);
        /* 000057's second payload (an UPDATE row then a WRITE row, with MySQL binary JSON)
         * names that payload and numbers its rows across its two rows events. */
        uint64_t s2 = 0, e2 = 0;
        if (find_payload(path, 1, &s2, &e2)) {
            assert_int_equal(k.n, cases[i].rows + 2);
            assert_int_equal(k.op[cases[i].rows], 'u');
            assert_int_equal(k.op[cases[i].rows + 1], 'c');
            for (size_t j = 0; j < 2; j++) {
                assert_int_equal(k.pos[cases[i].rows + j], s2);
                assert_int_equal(k.row[cases[i].rows + j], j);
            }
            k.n = cases[i].rows;
        }
        assert_int_equal(k.n, cases[i].rows);
        for (size_t j = 0; j < k.n; j++) {
            assert_int_equal(k.op[j], cases[i].op);
            assert_int_equal(k.pos[j], start);
            assert_int_equal(k.row[j], j);
        }
        /* The payload's transaction commits at the payload's log_pos. */
        bool seen = false;
        for (size_t j = 0; j < k.commits; j++)
            seen = seen || k.commit_pos[j] == end;
        assert_true(seen);
        binlog_file_close(f);
        binlog_decoder_free(dec);
    }
}

/* ------------------------------------------------------------------ damaged events */

static int null_change(void *ctx, const binlog_change *c)
{
    (void)ctx;
    (void)c;
    return 0;
}

static int null_commit(void *ctx, const binlog_checkpoint *cp)
{
    (void)ctx;
    (void)cp;
    return 0;
}

/* Sets event_size to the slice length and recomputes the CRC32 when the file uses one. */
static void fix_event(uint8_t *p, size_t len, bool crc)
{
    p[9] = (uint8_t)len;
    p[10] = (uint8_t)(len >> 8);
    p[11] = (uint8_t)(len >> 16);
    p[12] = (uint8_t)(len >> 24);
    if (crc && len >= 23) {
        uint32_t c = rl_crc32(0, p, len - 4);
        p[len - 4] = (uint8_t)c;
        p[len - 3] = (uint8_t)(c >> 8);
        p[len - 2] = (uint8_t)(c >> 16);
        p[len - 1] = (uint8_t)(c >> 24);
    }
}

typedef struct primed {
    rl_slice fde;
    rl_slice maps[64];
    size_t nmaps;
} primed;

static binlog_decoder_t *primed_decoder(const primed *pr)
{
    binlog_decoder_t *dec;
    binlog_handler h = {NULL, null_change, null_commit};
    assert_int_equal(binlog_decoder_new(&dec, NULL, &h), 0);
    binlog_decoder_set_file(dec, "damaged");
    assert_int_equal(binlog_decoder_feed(dec, pr->fde, NULL), 0);
    for (size_t i = 0; i < pr->nmaps; i++)
        (void)binlog_decoder_feed(dec, pr->maps[i], NULL);
    return dec;
}

static void check_rc(int rc, const rl_err *err)
{
    if (rc == 0)
        return;
    if (rc != RL_ECORRUPT && rc != RL_EUNSUPPORTED && rc != RL_ECHECKSUM && rc != RL_EINCIDENT &&
        rc != RL_ETOOBIG)
        fail_msg("unexpected %s: %s", rl_errname(rc), err->msg);
    if (err->msg[0] == '\0')
        fail_msg("%s without a message", rl_errname(rc));
}

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void damage_file(const char *name, unsigned seed)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", RL_FIXTURES_DIR, name);
    binlog_file_t *f;
    rl_err err;
    if (binlog_file_open(&f, path, &err) != 0) {
        print_message("%s not found: skipped\n", name);
        skip();
    }
    primed pr;
    memset(&pr, 0, sizeof pr);
    rl_slice ev;
    bool crc = false;
    size_t events = 0, feeds = 0;
    uint8_t *buf = malloc(1 << 20);
    assert_non_null(buf);
    uint64_t rs = (uint64_t)seed * 2654435761u + 1;
    while (binlog_file_next(f, &ev, &err) == 1) {
        uint8_t type = ev.p[4];
        if (type == 15) {
            pr.fde = ev;
            /* checksum_alg is the 5th byte from the end of a checksum-aware FDE */
            crc = ev.len > 24 && ev.p[ev.len - 5] == 1;
            continue;
        }
        if (ev.len > 8192 || !pr.fde.p)
            continue;
        events++;
        /* Truncated at every length, with size and CRC consistent. */
        for (size_t len = 0; len < ev.len; len++) {
            memcpy(buf, ev.p, len);
            if (len >= 19)
                fix_event(buf, len, crc);
            binlog_decoder_t *dec = primed_decoder(&pr);
            rl_err e;
            memset(&e, 0, sizeof e);
            int rc = binlog_decoder_feed(dec, rl_slice_make(buf, len), &e);
            if (len < 19 && rc != RL_ECORRUPT)
                fail_msg("%s: %zu-byte event accepted (%s)", name, len, rl_errname(rc));
            check_rc(rc, &e);
            binlog_decoder_free(dec);
            feeds++;
        }
        /* Random byte flips after the header (CRC recomputed so the parsers see them). */
        for (int k = 0; k < 64; k++) {
            memcpy(buf, ev.p, ev.len);
            int flips = 1 + (int)(xorshift(&rs) % 4);
            for (int j = 0; j < flips && ev.len > 19; j++)
                buf[19 + xorshift(&rs) % (ev.len - 19)] ^= (uint8_t)(1 + xorshift(&rs) % 255);
            fix_event(buf, ev.len, crc);
            binlog_decoder_t *dec = primed_decoder(&pr);
            rl_err e;
            memset(&e, 0, sizeof e);
            check_rc(binlog_decoder_feed(dec, rl_slice_make(buf, ev.len), &e), &e);
            binlog_decoder_free(dec);
            feeds++;
        }
        if (type == 19 && pr.nmaps < 64)
            pr.maps[pr.nmaps++] = ev;
    }
    print_message("%s: %zu events damaged, %zu feeds (seed %u)\n", name, events, feeds, seed);
    assert_true(events > 0);
    free(buf);
    binlog_file_close(f);
}

static unsigned test_seed(void)
{
    const char *s = getenv("RL_TEST_SEED");
    return s ? (unsigned)strtoul(s, NULL, 10) : (unsigned)time(NULL);
}

static void test_damaged_mariadb(void **state)
{
    (void)state;
    damage_file("local-mariadb-10.11__binlog.000007", test_seed());
    damage_file("local-mariadb-10.11__binlog.000008", test_seed());
    damage_file("local-mariadb-10.11__binlog.000006", test_seed()); /* zlib-compressed events */
}

static void test_damaged_mysql(void **state)
{
    (void)state;
    damage_file("rust_mysql_common__mysql-enum-string-set.000001", test_seed());
    damage_file("rust_mysql_common__binlog-invisible-columns.000001", test_seed());
    damage_file("mysql-binlog-connector-java__mysql-bin.checksum-crc32", test_seed());
    damage_file("mysql-binlog-connector-java__mysql-bin.compressed", test_seed()); /* zstd */
    damage_file("rust_mysql_common__transaction_compression.000001", test_seed());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_fixtures),
        cmocka_unit_test(test_transaction_payload),
        cmocka_unit_test(test_damaged_mariadb),
        cmocka_unit_test(test_damaged_mysql),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
