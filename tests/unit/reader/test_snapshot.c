/*
 * test_snapshot.c - the snapshot engine (reader/snapshot.h) against a throwaway MariaDB
 * started with scripts/mariadb-sandbox.sh (skipped when mariadbd is not installed).
 *
 *   - exactness: every column type, snapshot records vs the binlog decoder's INSERT records
 *     of the same rows (topic, key and `after` byte-identical);
 *   - alignment: a writer changes the table during the snapshot; the snapshot's records plus
 *     the binlog's transactions after the snapshot point give exactly the final SELECT, and
 *     each streamed change's before image equals the state it applies to (nothing missing,
 *     nothing doubled);
 *   - chunking and resume: chunk size 7, composite key, stop after 20 chunks, resume from the
 *     token: every row once; with writes between the two parts, the stream from the FIRST
 *     point still gives the final SELECT;
 *   - filters, a table without a primary key, an empty table, a table dropped during the
 *     snapshot, several aligned connections (and the fallback to one without RELOAD).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "reader/snapshot.h"
#include "tests/unit/reader/json_mini.h"

#include <errno.h>
#include <mysql.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#ifndef RL_SOURCE_DIR
#define RL_SOURCE_DIR "."
#endif

static char g_dir[64];
static unsigned g_port;
static bool g_up;

/* ------------------------------------------------------------------ sandbox */

static unsigned free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &l) != 0) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static MYSQL *root_conn(void)
{
    char sock[128];
    snprintf(sock, sizeof sock, "%s/s.sock", g_dir);
    MYSQL *m = mysql_init(NULL);
    assert_non_null(m);
    mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (!mysql_real_connect(m, NULL, "root", "rootpw", NULL, 0, sock, 0))
        fail_msg("root connect: %s", mysql_error(m));
    return m;
}

static void sqlf(MYSQL *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sqlf(MYSQL *m, const char *fmt, ...)
{
    char q[65536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q, sizeof q, fmt, ap);
    va_end(ap);
    if (mysql_query(m, q) != 0)
        fail_msg("%s: %s", q, mysql_error(m));
    MYSQL_RES *r = mysql_store_result(m);
    if (r)
        mysql_free_result(r);
}

static int group_setup(void **state)
{
    (void)state;
    if (access("/usr/sbin/mariadbd", X_OK) != 0 && system("command -v mariadbd >/dev/null") != 0)
        return 0;
    snprintf(g_dir, sizeof g_dir, "/tmp/rlsnap.XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    g_port = free_port();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "bash %s/scripts/mariadb-sandbox.sh start %s %u >%s/sandbox.out 2>&1",
             RL_SOURCE_DIR, g_dir, g_port, g_dir);
    if (system(cmd) != 0) {
        snprintf(cmd, sizeof cmd, "cat %s/sandbox.out >&2", g_dir);
        (void)system(cmd);
        return -1;
    }
    g_up = true;
    mysql_library_init(0, NULL, NULL);
    MYSQL *m = root_conn();
    sqlf(m, "CREATE USER 'snap'@'127.0.0.1' IDENTIFIED BY 'snappw'");
    sqlf(m, "GRANT SELECT, RELOAD, BINLOG MONITOR, REPLICATION CLIENT ON *.* TO "
            "'snap'@'127.0.0.1'");
    sqlf(m, "CREATE USER 'snap1'@'127.0.0.1' IDENTIFIED BY 'snappw'");
    sqlf(m, "GRANT SELECT, BINLOG MONITOR ON *.* TO 'snap1'@'127.0.0.1'");
    mysql_close(m);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (!g_up)
        return 0;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "bash %s/scripts/mariadb-sandbox.sh stop %s >/dev/null 2>&1",
             RL_SOURCE_DIR, g_dir);
    int rc = system(cmd);
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    (void)system(cmd);
    return rc == 0 ? 0 : -1;
}

#define NEED_SERVER()                                                                              \
    do {                                                                                           \
        if (!g_up)                                                                                 \
            skip();                                                                                \
    } while (0)

static binlog_snapshot_opts opts_for(const char *user, const char *include, unsigned threads,
                                     unsigned chunk)
{
    binlog_snapshot_opts o;
    memset(&o, 0, sizeof o);
    snprintf(o.source.host, sizeof o.source.host, "127.0.0.1");
    o.source.port = g_port;
    snprintf(o.source.user, sizeof o.source.user, "%s", user);
    snprintf(o.source.password, sizeof o.source.password, "snappw");
    o.include = include;
    o.threads = threads;
    o.chunk_rows = chunk;
    return o;
}

/* ------------------------------------------------------------------ a key -> row state */

typedef struct entry {
    char *k;     /* topic + '\n' + key */
    char *after; /* raw `after` object, NULL when deleted */
    unsigned seen;
} entry;

typedef struct kvstate {
    entry *e;
    size_t n, cap;
} kvstate;

static entry *st_find(kvstate *s, const char *k)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->e[i].k, k) == 0)
            return &s->e[i];
    return NULL;
}

static entry *st_put(kvstate *s, const char *k)
{
    entry *e = st_find(s, k);
    if (e)
        return e;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->e = realloc(s->e, s->cap * sizeof *s->e);
        assert_non_null(s->e);
    }
    e = &s->e[s->n++];
    memset(e, 0, sizeof *e);
    e->k = strdup(k);
    return e;
}

static size_t st_live(const kvstate *s)
{
    size_t c = 0;
    for (size_t i = 0; i < s->n; i++)
        c += s->e[i].after != NULL;
    return c;
}

static void st_free(kvstate *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->e[i].k);
        free(s->e[i].after);
    }
    free(s->e);
    memset(s, 0, sizeof *s);
}

/* End of the JSON value starting at p (an object, null, or scalar), strings respected. */
static const char *json_end(const char *p, const char *end)
{
    if (*p != '{' && *p != '[') {
        while (p < end && *p != ',' && *p != '}' && *p != ']')
            p++;
        return p;
    }
    int depth = 0;
    bool str = false;
    for (; p < end; p++) {
        if (str) {
            if (*p == '\\')
                p++;
            else if (*p == '"')
                str = false;
            continue;
        }
        if (*p == '"')
            str = true;
        else if (*p == '{' || *p == '[')
            depth++;
        else if ((*p == '}' || *p == ']') && --depth == 0)
            return p + 1;
    }
    fail_msg("unterminated JSON");
    return end;
}

/* Raw text of `before` or `after` of an envelope; NULL for null. */
static char *raw_image(rl_slice v, bool after)
{
    const char *p = (const char *)v.p, *end = p + v.len;
    assert_true(v.len > 11 && memcmp(p, "{\"before\":", 10) == 0);
    p += 10;
    const char *e = json_end(p, end);
    if (after) {
        assert_true(end - e > 9 && memcmp(e, ",\"after\":", 9) == 0);
        p = e + 9;
        e = json_end(p, end);
    }
    if (e - p == 4 && memcmp(p, "null", 4) == 0)
        return NULL;
    char *s = malloc((size_t)(e - p) + 1);
    memcpy(s, p, (size_t)(e - p));
    s[e - p] = 0;
    return s;
}

static char *state_key(const binlog_change *ch)
{
    char *k = malloc(ch->topic.len + ch->key.len + 2);
    memcpy(k, ch->topic.p, ch->topic.len);
    k[ch->topic.len] = '\n';
    memcpy(k + ch->topic.len + 1, ch->key.p, ch->key.len);
    k[ch->topic.len + 1 + ch->key.len] = 0;
    return k;
}

/* ------------------------------------------------------------------ snapshot capture */

typedef struct snapcap {
    kvstate st;
    size_t records, lasts, notices;
    const binlog_snapshot_point *pt;
    char token[4096]; /* last notice's token */
    uint64_t rows_done, chunks_done;
    size_t stop_after; /* on_progress returns RL_ESTOPPED after this many notices (0 = never) */
    size_t done_tables, skipped_tables;
    char skipped_name[128];
    MYSQL *drop_conn; /* drop `drop_db`.`drop_table` at the first record */
    const char *drop_what;
    bool last_seen_at_end; /* "last" was on the final record */
    uint64_t expect_row;   /* next source.row (one-table runs) */
    bool check_rows;
    binlog_snapshot_t *isnap; /* interrupted after interrupt_after records */
    size_t interrupt_after;
    bool resume_done; /* resume the table as done instead of from a token */
} snapcap;

static int cap_change(void *ctx, const binlog_change *ch)
{
    snapcap *c = ctx;
    assert_int_equal(ch->op, 'r');
    jv v;
    if (jparse(ch->value.p, ch->value.len, &v) != 0)
        fail_msg("snapshot value is not JSON: %.*s", (int)ch->value.len, ch->value.p);
    jv k;
    if (jparse(ch->key.p, ch->key.len, &k) != 0)
        fail_msg("snapshot key is not JSON: %.*s", (int)ch->key.len, ch->key.p);
    jfree(&k);
    assert_int_equal(jget(&v, "before")->type, JNULL);
    assert_string_equal(jget(&v, "op")->s, "r");
    const jv *src = jget(&v, "source");
    const jv *sn = jget(src, "snapshot");
    bool last = sn->type == JSTR;
    if (last) {
        assert_string_equal(sn->s, "last");
        c->lasts++;
    } else {
        assert_int_equal(sn->type, JBOOL);
        assert_true(sn->b);
    }
    c->last_seen_at_end = last;
    if (c->pt) {
        assert_string_equal(jget(src, "file")->s, c->pt->at.file);
        assert_int_equal(strtoull(jget(src, "pos")->s, NULL, 10), c->pt->at.pos);
        if (c->pt->gtid_state[0])
            assert_string_equal(jget(src, "gtid")->s, c->pt->gtid_state);
    }
    if (c->check_rows) {
        assert_int_equal(strtoull(jget(src, "row")->s, NULL, 10), c->expect_row);
        c->expect_row++;
    }
    jfree(&v);
    char *key = state_key(ch);
    entry *e = st_put(&c->st, key);
    free(key);
    e->seen++;
    free(e->after);
    e->after = raw_image(ch->value, true);
    assert_non_null(e->after);
    c->records++;
    if (c->isnap && c->records == c->interrupt_after)
        binlog_snapshot_interrupt(c->isnap);
    if (c->drop_conn && c->drop_what) {
        sqlf(c->drop_conn, "DROP TABLE %s", c->drop_what);
        c->drop_what = NULL;
    }
    return 0;
}

static int cap_progress(void *ctx, const binlog_snapshot_progress *pr)
{
    snapcap *c = ctx;
    c->notices++;
    snprintf(c->token, sizeof c->token, "%s", pr->resume_token);
    c->rows_done = pr->rows_done;
    c->chunks_done = pr->chunks_done;
    if (pr->table_done)
        c->done_tables++;
    if (pr->skipped) {
        c->skipped_tables++;
        snprintf(c->skipped_name, sizeof c->skipped_name, "%s.%s", pr->db, pr->table);
    }
    if (c->stop_after && c->notices == c->stop_after)
        return RL_ESTOPPED;
    return 0;
}

static int run_snapshot(const binlog_snapshot_opts *o, snapcap *c, binlog_snapshot_point *pt,
                        const char *resume_db, const char *resume_table, const char *token)
{
    binlog_snapshot_t *snap = NULL;
    rl_err err;
    memset(&err, 0, sizeof err);
    int rc = binlog_snapshot_open(&snap, o, &err);
    if (rc != 0)
        fail_msg("snapshot open: %s: %s", rl_errname(rc), err.msg);
    *pt = *binlog_snapshot_get_point(snap);
    c->pt = pt;
    if (resume_db) {
        rc = binlog_snapshot_resume_table(snap, resume_db, resume_table, token, c->resume_done,
                                          &err);
        if (rc != 0)
            fail_msg("resume: %s: %s", rl_errname(rc), err.msg);
    }
    if (c->interrupt_after)
        c->isnap = snap;
    binlog_snapshot_handler h = {c, cap_change, cap_progress};
    rc = binlog_snapshot_run(snap, &h, &err);
    c->isnap = NULL;
    if (rc != 0 && rc != RL_ESTOPPED)
        fail_msg("snapshot run: %s: %s", rl_errname(rc), err.msg);
    binlog_snapshot_close(snap);
    return rc;
}

/* ------------------------------------------------------------------ binlog decoding */

typedef struct streamcap {
    kvstate *st; /* state to apply to (NULL: collect inserts into ins) */
    kvstate ins; /* key -> after of every INSERT (exactness test) */
    const char *from_file;
    uint64_t from_pos; /* apply transactions whose commit position is after this */
    const char *topic; /* only this topic */
    bool lenient;      /* apply as a compacted topic is read: last record per key wins */
    /* current transaction */
    char **tk, **tbefore, **tafter;
    char *top;
    size_t tn, tcap;
    size_t applied_txns, applied_changes;
} streamcap;

static int sc_change(void *ctx, const binlog_change *ch)
{
    streamcap *s = ctx;
    if (s->topic &&
        (ch->topic.len < strlen(s->topic) || memcmp(ch->topic.p, s->topic, strlen(s->topic)) != 0))
        return 0;
    if (s->tn == s->tcap) {
        s->tcap = s->tcap ? s->tcap * 2 : 16;
        s->tk = realloc(s->tk, s->tcap * sizeof *s->tk);
        s->tbefore = realloc(s->tbefore, s->tcap * sizeof *s->tbefore);
        s->tafter = realloc(s->tafter, s->tcap * sizeof *s->tafter);
        s->top = realloc(s->top, s->tcap);
    }
    s->tk[s->tn] = state_key(ch);
    s->tbefore[s->tn] = raw_image(ch->value, false);
    s->tafter[s->tn] = raw_image(ch->value, true);
    s->top[s->tn] = ch->op;
    s->tn++;
    return 0;
}

static void sc_drop_txn(streamcap *s)
{
    for (size_t i = 0; i < s->tn; i++) {
        free(s->tk[i]);
        free(s->tbefore[i]);
        free(s->tafter[i]);
    }
    s->tn = 0;
}

static int sc_commit(void *ctx, const binlog_checkpoint *cp)
{
    streamcap *s = ctx;
    bool after = strcmp(cp->file, s->from_file) > 0 ||
                 (strcmp(cp->file, s->from_file) == 0 && cp->pos > s->from_pos);
    if (after && s->tn)
        s->applied_txns++;
    for (size_t i = 0; after && i < s->tn; i++) {
        s->applied_changes++;
        if (!s->st) {
            entry *e = st_put(&s->ins, s->tk[i]);
            assert_int_equal(s->top[i], 'c');
            free(e->after);
            e->after = strdup(s->tafter[i]);
            e->seen++;
            continue;
        }
        entry *e = st_find(s->st, s->tk[i]);
        if (s->lenient) {
            e = st_put(s->st, s->tk[i]);
            free(e->after);
            e->after = s->top[i] == 'd' ? NULL : strdup(s->tafter[i]);
            continue;
        }
        switch (s->top[i]) {
        case 'c':
            /* An insert of a key the snapshot already holds would be a doubled change. */
            if (e && e->after)
                fail_msg("stream inserts %s which the state already holds", s->tk[i]);
            e = st_put(s->st, s->tk[i]);
            e->after = strdup(s->tafter[i]);
            break;
        case 'u':
        case 'd':
            if (!e || !e->after)
                fail_msg("stream changes %s which the state lacks (missed insert)", s->tk[i]);
            /* The before image must be the state it applies to: a missed or doubled change
             * shows here. */
            if (strcmp(e->after, s->tbefore[i]) != 0)
                fail_msg("%s: before %s, state %s", s->tk[i], s->tbefore[i], e->after);
            free(e->after);
            e->after = s->top[i] == 'u' ? strdup(s->tafter[i]) : NULL;
            break;
        default:
            fail_msg("op %c", s->top[i]);
        }
    }
    sc_drop_txn(s);
    return 0;
}

/* Decodes the sandbox's binlog files from `from_file` on. */
static void decode_binlog(streamcap *s, const char *from_file)
{
    MYSQL *m = root_conn();
    sqlf(m, "FLUSH BINARY LOGS");
    MYSQL_RES *r;
    assert_int_equal(mysql_query(m, "SHOW BINARY LOGS"), 0);
    r = mysql_store_result(m);
    assert_non_null(r);
    MYSQL_ROW row;
    binlog_handler h = {.ctx = s, .on_change = sc_change, .on_commit = sc_commit};
    binlog_decoder_t *dec;
    assert_int_equal(binlog_decoder_new(&dec, NULL, &h), 0);
    while ((row = mysql_fetch_row(r))) {
        if (strcmp(row[0], from_file) < 0)
            continue;
        char path[256];
        snprintf(path, sizeof path, "%s/data/%s", g_dir, row[0]);
        binlog_file_t *f;
        rl_err err;
        memset(&err, 0, sizeof err);
        if (binlog_file_open(&f, path, &err) != 0)
            fail_msg("%s", err.msg);
        binlog_decoder_set_file(dec, row[0]);
        rl_slice ev;
        int rc;
        while ((rc = binlog_file_next(f, &ev, &err)) == 1)
            if ((rc = binlog_decoder_feed(dec, ev, &err)) != 0)
                fail_msg("decode %s: %s", row[0], err.msg);
        assert_int_equal(rc, 0);
        binlog_file_close(f);
    }
    binlog_decoder_free(dec);
    mysql_free_result(r);
    mysql_close(m);
    sc_drop_txn(s);
    free(s->tk);
    free(s->tbefore);
    free(s->tafter);
    free(s->top);
    s->tk = s->tbefore = s->tafter = NULL;
    s->top = NULL;
    s->tcap = 0;
}

static void current_binlog(MYSQL *m, char *file, size_t cap)
{
    assert_int_equal(mysql_query(m, "SHOW MASTER STATUS"), 0);
    MYSQL_RES *r = mysql_store_result(m);
    MYSQL_ROW row = mysql_fetch_row(r);
    assert_non_null(row);
    snprintf(file, cap, "%s", row[0]);
    mysql_free_result(r);
}

/* ------------------------------------------------------------------ exactness */

static void test_exact_types(void **state)
{
    (void)state;
    NEED_SERVER();
    MYSQL *m = root_conn();
    sqlf(m, "CREATE DATABASE snapx");
    sqlf(m, "SET SESSION sql_mode = 'NO_ENGINE_SUBSTITUTION'");
    sqlf(m, "CREATE TABLE snapx.types ("
            "id INT NOT NULL PRIMARY KEY, ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, "
            "siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, "
            "bi BIGINT, biu BIGINT UNSIGNED, d0 DECIMAL(10,0), d2 DECIMAL(5,2), "
            "dbig DECIMAL(30,10), f FLOAT, dbl DOUBLE, dt DATE, tm0 TIME, tm2 TIME(2), "
            "tm6 TIME(6), dtm0 DATETIME, dtm3 DATETIME(3), dtm6 DATETIME(6), ts0 TIMESTAMP NULL, "
            "ts6 TIMESTAMP(6) NULL, y YEAR, c5 CHAR(5), vc VARCHAR(40), tx TEXT, "
            "lat VARCHAR(20) CHARACTER SET latin1, latc CHAR(4) CHARACTER SET latin1, "
            "bn BINARY(4), vb VARBINARY(10), bl BLOB, js JSON, e ENUM('red','green','blue'), "
            "elat ENUM('caf\xc3\xa9','b') CHARACTER SET latin1, s SET('a','b','c','d'), "
            "b1 BIT(1), b17 BIT(17), b64 BIT(64), g GEOMETRY, pt POINT) "
            "DEFAULT CHARSET=utf8mb4");
    char file[256];
    current_binlog(m, file, sizeof file);
    sqlf(m, "INSERT INTO snapx.types VALUES (1, -128, 255, -32768, 65535, -8388608, 16777215, "
            "-2147483648, 4294967295, -9223372036854775808, 18446744073709551615, -1234567890, "
            "-999.99, -12345678901234567890.1234567890, 3.4e38, -1.7976931348623157e308, "
            "'2024-02-29', '-838:59:59', '-00:00:01.50', '838:59:59.999999', "
            "'1000-01-01 00:00:00', '2024-02-29 12:34:56.789', '9999-12-31 23:59:59.999999', "
            "'1970-01-01 00:00:01', '2038-01-19 03:14:07.999999', 2155, 'abc', "
            "'h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xf0\x9f\x98\x80', 'multi\nline \"q\" \\\\', "
            "x'80E9', 'ab', x'01', x'DEADBEEF', x'000102FF', '{\"a\": 1, \"b\": [1, 2]}', "
            "'blue', 'caf\xc3\xa9', 'a,c', b'1', b'10101010101010101', "
            "b'1111111111111111111111111111111111111111111111111111111111111111', "
            "ST_GeomFromText('POINT(1 1)'), POINT(-2.5, 3))");
    sqlf(m, "INSERT INTO snapx.types (id, f, dbl, d2, dbig, y, s, tm2, ts0, e) VALUES "
            "(2, 0.1, 19.99, 0.01, 0, 0, '', '00:00:00', '0000-00-00 00:00:00', ''), "
            "(3, 0.33333334, 0.30000000000000004, -0.5, 1.5, 1901, 'a,b,c,d', '-12:00:00.01', "
            "NULL, 'red'), (4, -1.17549435e-38, 1e-300, 999.99, -0.0000000001, NULL, NULL, NULL, "
            "'1970-01-01 00:00:00', NULL)");
    /* Zero dates where the mode allows them. */
    sqlf(m, "INSERT INTO snapx.types (id, dt, dtm0, dtm6) VALUES (5, '0000-00-00', "
            "'0000-00-00 00:00:00', '0000-00-00 00:00:00.000000')");
    /* Composite key with a string part, latin1 table, table without a primary key. */
    sqlf(m, "CREATE TABLE snapx.comp (a VARCHAR(10) NOT NULL, b INT NOT NULL, v TEXT, "
            "PRIMARY KEY (b, a)) DEFAULT CHARSET=utf8mb4");
    sqlf(m, "INSERT INTO snapx.comp VALUES ('x', 2, 'one'), ('y', 1, NULL), "
            "('\xc3\xa9', 1, 'accent')");
    sqlf(m, "CREATE TABLE snapx.`we!rd-name` (id BIGINT UNSIGNED PRIMARY KEY, t VARCHAR(10)) "
            "DEFAULT CHARSET=latin1");
    sqlf(m, "INSERT INTO snapx.`we!rd-name` VALUES (18446744073709551615, x'80E9FF'), (0, '')");
    sqlf(m, "CREATE TABLE snapx.nopk (a INT, b VARCHAR(5))");
    sqlf(m, "INSERT INTO snapx.nopk VALUES (1, 'x'), (NULL, 'y'), (2, NULL)");
    /* No primary key: the server promotes the first UNIQUE index of NOT NULL columns (zz,
     * in definition order, not aa); a UNIQUE index with a nullable column is not a key. */
    sqlf(m, "CREATE TABLE snapx.uq (n INT NULL, a INT, b INT NOT NULL, c VARCHAR(5) NOT NULL, "
            "UNIQUE KEY nn (n), UNIQUE KEY zz (c, b), UNIQUE KEY aa (b))");
    sqlf(m, "INSERT INTO snapx.uq VALUES (1, 1, 2, 'x'), (NULL, NULL, 3, 'y')");
    /* Other character sets: the decoder converts them to UTF-8 (reader/charset.c), the
     * snapshot lets the server convert. */
    sqlf(m, "CREATE TABLE snapx.cs (k VARCHAR(10) CHARACTER SET ucs2 NOT NULL PRIMARY KEY, "
            "g VARCHAR(10) CHARACTER SET gbk, s TEXT CHARACTER SET sjis, "
            "r CHAR(5) CHARACTER SET cp1251, e ENUM('\xc3\xa9t\xc3\xa9','x') CHARACTER SET utf16, "
            "eb ENUM('a','b') CHARACTER SET binary, "
            "st SET('\xd0\xb4\xd0\xb0','\xd0\xbd\xd0\xb5\xd1\x82') CHARACTER SET cp1251)");
    sqlf(m, "INSERT INTO snapx.cs VALUES ('\xc3\xa9\xe2\x9c\x93', '\xe4\xb8\xad\xe6\x96\x87', "
            "'\xe6\x97\xa5\xe6\x9c\xac', '\xd0\x9f\xd1\x80\xd0\xb8', '\xc3\xa9t\xc3\xa9', 'b', "
            "'\xd0\xb4\xd0\xb0,\xd0\xbd\xd0\xb5\xd1\x82'), ('a', NULL, NULL, NULL, 'x', 'a', '')");
    sqlf(m, "CREATE TABLE snapx.uqnull (n INT NULL, UNIQUE KEY nn (n))");
    sqlf(m, "INSERT INTO snapx.uqnull VALUES (1), (NULL)");

    streamcap sc;
    memset(&sc, 0, sizeof sc);
    sc.from_file = file;
    decode_binlog(&sc, file);
    assert_int_equal(sc.ins.n, 5 + 3 + 2 + 3 + 2 + 2 + 2);

    snapcap c;
    memset(&c, 0, sizeof c);
    binlog_snapshot_point pt;
    binlog_snapshot_opts o = opts_for("snap", "snapx\\..*", 1, 2);
    assert_int_equal(run_snapshot(&o, &c, &pt, NULL, NULL, NULL), 0);
    assert_int_equal(c.records, sc.ins.n);
    assert_int_equal(c.lasts, 1);
    assert_true(c.last_seen_at_end);
    assert_int_equal(c.done_tables, 7);
    for (size_t i = 0; i < c.st.n; i++) {
        entry *e = st_find(&sc.ins, c.st.e[i].k);
        if (!e)
            fail_msg("snapshot key %s not among the binlog's", c.st.e[i].k);
        if (strcmp(e->after, c.st.e[i].after) != 0)
            fail_msg("%s:\n snapshot %s\n binlog   %s", c.st.e[i].k, c.st.e[i].after, e->after);
        assert_int_equal(c.st.e[i].seen, 1);
    }
    /* Spot checks against docs/events.md examples (not derived from the code). */
    entry *e1 = st_find(&c.st, "rowlog.snapx.types\n{\"id\":1}");
    assert_non_null(e1);
    static const char *const expect[] = {"\"g\":\"AAAAAAEBAAAAAAAAAAAA8D8AAAAAAADwPw==\"",
                                         "\"b17\":\"AVVV\"",
                                         "\"b1\":\"AQ==\"",
                                         "\"lat\":\"€é\"",
                                         "\"s\":[\"a\",\"c\"]",
                                         "\"biu\":18446744073709551615",
                                         "\"dbl\":-1.7976931348623157e+308",
                                         "\"f\":3.4e+38",
                                         "\"ts6\":\"2038-01-19T03:14:07.999999Z\"",
                                         "\"tm2\":\"-00:00:01.50\"",
                                         "\"bn\":\"AQAAAA==\"",
                                         "\"dbig\":\"-12345678901234567890.1234567890\"",
                                         NULL};
    for (size_t i = 0; expect[i]; i++)
        if (!strstr(e1->after, expect[i]))
            fail_msg("%s not in %s", expect[i], e1->after);
    entry *e3 = st_find(&c.st, "rowlog.snapx.types\n{\"id\":3}");
    assert_non_null(e3);
    assert_non_null(strstr(e3->after, "\"f\":0.33333334,"));
    assert_non_null(strstr(e3->after, "\"dbl\":0.30000000000000004,"));
    assert_non_null(st_find(&c.st, "rowlog.snapx.we_rd-name\n{\"id\":18446744073709551615}"));
    assert_non_null(st_find(&c.st, "rowlog.snapx.comp\n{\"b\":1,\"a\":\"é\"}"));
    assert_non_null(st_find(&c.st, "rowlog.snapx.uq\n{\"c\":\"y\",\"b\":3}"));
    assert_non_null(st_find(&c.st, "rowlog.snapx.uqnull\n{\"n\":null}"));
    /* Without the schema history a MariaDB JSON column is its text (docs/events.md). */
    assert_non_null(strstr(e1->after, "\"js\":\"{\\\"a\\\": 1, \\\"b\\\": [1, 2]}\","));

    /* With it (source.schema_history), the column is marked from CHECK (json_valid(`js`)) and
     * renders as the stream does: the document minified, the document null as the string
     * "null", SQL NULL as null; the other columns as before. */
    sqlf(m, "INSERT INTO snapx.types (id, js) VALUES (6, 'null'), (7, ' [1, \"x y\" ] '), "
            "(8, NULL)");
    snapcap cj;
    memset(&cj, 0, sizeof cj);
    binlog_snapshot_opts oj = opts_for("snap", "snapx\\.types", 1, 3);
    oj.source.schema_history = true;
    assert_int_equal(run_snapshot(&oj, &cj, &pt, NULL, NULL, NULL), 0);
    assert_int_equal(cj.records, 8);
    entry *j1 = st_find(&cj.st, "rowlog.snapx.types\n{\"id\":1}");
    assert_non_null(j1);
    assert_non_null(strstr(j1->after, "\"js\":{\"a\":1,\"b\":[1,2]},"));
    for (size_t i = 0; expect[i]; i++)
        if (!strstr(j1->after, expect[i]))
            fail_msg("%s not in %s", expect[i], j1->after);
    static const char *const jexpect[][2] = {{"6", "\"js\":\"null\","},
                                             {"7", "\"js\":[1,\"x y\"],"},
                                             {"8", "\"js\":null,"}};
    for (size_t i = 0; i < 3; i++) {
        char k[64];
        snprintf(k, sizeof k, "rowlog.snapx.types\n{\"id\":%s}", jexpect[i][0]);
        entry *ej = st_find(&cj.st, k);
        assert_non_null(ej);
        if (!strstr(ej->after, jexpect[i][1]))
            fail_msg("%s not in %s", jexpect[i][1], ej->after);
    }
    st_free(&cj.st);
    st_free(&c.st);
    st_free(&sc.ins);
    sqlf(m, "DROP DATABASE snapx");
    mysql_close(m);
}

/* ------------------------------------------------------------------ alignment */

typedef struct writer {
    pthread_t th;
    volatile int stop;
    unsigned seed;
    const char *table;
    unsigned ops;
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;
    MYSQL *m = root_conn();
    unsigned next_id = 100000;
    while (!w->stop) {
        unsigned r = (unsigned)rand_r(&w->seed);
        unsigned id = 1 + r % 2000;
        switch ((r >> 12) % 4) {
        case 0:
            sqlf(m, "INSERT INTO %s VALUES (%u, %u, 'ins%u')", w->table, next_id, r % 1000,
                 next_id);
            next_id++;
            break;
        case 1:
            sqlf(m, "DELETE FROM %s WHERE id = %u", w->table, id);
            break;
        case 2:
            sqlf(m, "BEGIN");
            sqlf(m, "UPDATE %s SET v = v + 1, s = 'upd%u' WHERE id = %u", w->table, r % 97, id);
            sqlf(m, "UPDATE %s SET v = v - 1 WHERE id = %u", w->table, 1 + (r >> 3) % 2000);
            sqlf(m, "COMMIT");
            break;
        default:
            sqlf(m, "UPDATE %s SET s = 'u%u' WHERE id BETWEEN %u AND %u", w->table, r % 1000, id,
                 id + 3);
            break;
        }
        w->ops++;
    }
    mysql_close(m);
    return NULL;
}

/* The table's rows as the decoder renders them (columns id INT, v INT, s VARCHAR). */
static void select_state(MYSQL *m, const char *db, const char *table, kvstate *out)
{
    char q[256];
    snprintf(q, sizeof q, "SELECT id, v, s FROM %s.%s", db, table);
    assert_int_equal(mysql_query(m, q), 0);
    MYSQL_RES *r = mysql_store_result(m);
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(r))) {
        char k[256], a[512];
        snprintf(k, sizeof k, "rowlog.%s.%s\n{\"id\":%s}", db, table, row[0]);
        snprintf(a, sizeof a, "{\"id\":%s,\"v\":%s,\"s\":\"%s\"}", row[0], row[1],
                 row[2] ? row[2] : "");
        entry *e = st_put(out, k);
        e->after = strdup(a);
    }
    mysql_free_result(r);
}

static void assert_same_state(kvstate *got, kvstate *want)
{
    assert_int_equal(st_live(got), st_live(want));
    for (size_t i = 0; i < want->n; i++) {
        if (!want->e[i].after)
            continue;
        entry *e = st_find(got, want->e[i].k);
        if (!e || !e->after)
            fail_msg("%s missing", want->e[i].k);
        if (strcmp(e->after, want->e[i].after) != 0)
            fail_msg("%s: got %s want %s", want->e[i].k, e->after, want->e[i].after);
    }
}

static void seed_table(MYSQL *m, const char *db, const char *table, unsigned n)
{
    sqlf(m, "CREATE DATABASE IF NOT EXISTS %s", db);
    sqlf(m, "CREATE TABLE %s.%s (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(20) NOT NULL)", db,
         table);
    sqlf(m, "INSERT INTO %s.%s SELECT seq, seq %% 100, CONCAT('s', seq) FROM %s.seq_1_to_%u", db,
         table, db, n);
}

static void test_alignment_under_writes(void **state)
{
    (void)state;
    NEED_SERVER();
    MYSQL *m = root_conn();
    seed_table(m, "snapa", "t", 2000);
    seed_table(m, "snapa", "u", 2000);
    writer w1 = {.seed = 12345, .table = "snapa.t"};
    writer w2 = {.seed = 777, .table = "snapa.u"};
    print_message("writer seeds %u %u\n", w1.seed, w2.seed);
    assert_int_equal(pthread_create(&w1.th, NULL, writer_main, &w1), 0);
    assert_int_equal(pthread_create(&w2.th, NULL, writer_main, &w2), 0);
    while (w1.ops < 50 || w2.ops < 50)
        usleep(1000);
    snapcap c;
    memset(&c, 0, sizeof c);
    binlog_snapshot_point pt;
    /* Two aligned connections (FLUSH TABLES WITH READ LOCK while the writers run), small
     * chunks so the snapshot lasts while the writers change the tables. */
    binlog_snapshot_opts o = opts_for("snap", "snapa\\..*", 2, 7);
    unsigned before = w1.ops + w2.ops;
    assert_int_equal(run_snapshot(&o, &c, &pt, NULL, NULL, NULL), 0);
    unsigned during = w1.ops + w2.ops - before;
    assert_int_equal(pt.connections, 2);
    unsigned at_end = w1.ops + w2.ops;
    while (w1.ops + w2.ops < at_end + 100)
        usleep(1000);
    w1.stop = w2.stop = 1;
    pthread_join(w1.th, NULL);
    pthread_join(w2.th, NULL);
    print_message("snapshot at %s:%llu gtid %s, %zu rows; %u writes during it, %u in all\n",
                  pt.at.file, (unsigned long long)pt.at.pos, pt.gtid_state, c.records, during,
                  w1.ops + w2.ops);

    streamcap sc;
    memset(&sc, 0, sizeof sc);
    sc.st = &c.st;
    sc.from_file = pt.at.file;
    sc.from_pos = pt.at.pos;
    sc.topic = "rowlog.snapa.";
    decode_binlog(&sc, pt.at.file);
    assert_true(sc.applied_txns > 0);
    kvstate want;
    memset(&want, 0, sizeof want);
    select_state(m, "snapa", "t", &want);
    select_state(m, "snapa", "u", &want);
    assert_same_state(&c.st, &want);
    st_free(&want);
    st_free(&c.st);
    sqlf(m, "DROP DATABASE snapa");
    mysql_close(m);
}

/* ------------------------------------------------------------------ chunks and resume */

static void test_chunks_and_resume(void **state)
{
    (void)state;
    NEED_SERVER();
    MYSQL *m = root_conn();
    sqlf(m, "CREATE DATABASE snapc");
    sqlf(m, "CREATE TABLE snapc.t (a INT NOT NULL, b VARCHAR(10) NOT NULL, v INT, "
            "PRIMARY KEY (a, b))");
    /* 1000 rows, 10 per value of a, b strings that sort differently as numbers. */
    sqlf(m, "INSERT INTO snapc.t SELECT seq DIV 10, CONCAT('k', (seq %% 10) * 7), seq FROM "
            "snapc.seq_0_to_999");
    snapcap c;
    memset(&c, 0, sizeof c);
    c.stop_after = 20;
    c.check_rows = true;
    binlog_snapshot_point p1, p2;
    binlog_snapshot_opts o = opts_for("snap", "snapc\\.t", 1, 7);
    assert_int_equal(run_snapshot(&o, &c, &p1, NULL, NULL, NULL), RL_ESTOPPED);
    assert_int_equal(c.records, 20 * 7);
    assert_int_equal(c.rows_done, 140);
    assert_int_equal(c.chunks_done, 20);
    assert_int_equal(c.lasts, 0);
    char token[4096];
    snprintf(token, sizeof token, "%s", c.token);
    print_message("token after 20 chunks: %s\n", token);

    c.stop_after = 0;
    c.notices = 0;
    assert_int_equal(run_snapshot(&o, &c, &p2, "snapc", "t", token), 0);
    assert_int_equal(c.records, 1000);
    assert_int_equal(c.st.n, 1000);
    for (size_t i = 0; i < c.st.n; i++)
        assert_int_equal(c.st.e[i].seen, 1);
    assert_int_equal(c.rows_done, 1000);
    assert_int_equal(c.chunks_done, 143); /* ceil(1000 / 7) = 143, the last one with 6 rows */
    assert_int_equal(c.lasts, 1);
    assert_true(c.last_seen_at_end);
    st_free(&c.st);

    /* A table resumed as done is not read again. */
    memset(&c, 0, sizeof c);
    c.resume_done = true;
    assert_int_equal(run_snapshot(&o, &c, &p2, "snapc", "t", ""), 0);
    assert_int_equal(c.records, 0);
    assert_int_equal(c.notices, 0);

    /* A malformed token is refused. */
    binlog_snapshot_t *snap;
    rl_err err;
    assert_int_equal(binlog_snapshot_open(&snap, &o, &err), 0);
    assert_int_equal(binlog_snapshot_resume_table(snap, "snapc", "t", "12:3:zz", false, &err),
                     RL_ECONFIG);
    assert_int_equal(binlog_snapshot_resume_table(snap, "snapc", "nope", "", false, &err),
                     RL_ENOTFOUND);
    binlog_snapshot_close(snap);
    sqlf(m, "DROP DATABASE snapc");
    mysql_close(m);
}

/* Part 1 at P1, writes, part 2 resumed at P2: the log's records plus the stream from P1 give
 * the final table (docs/snapshots.md, "Resumed snapshots"). */
static void test_resume_alignment(void **state)
{
    (void)state;
    NEED_SERVER();
    MYSQL *m = root_conn();
    seed_table(m, "snapr", "t", 300);
    snapcap c;
    memset(&c, 0, sizeof c);
    c.stop_after = 10; /* rows 1..100 */
    binlog_snapshot_point p1, p2;
    binlog_snapshot_opts o = opts_for("snap", "snapr\\.t", 1, 10);
    assert_int_equal(run_snapshot(&o, &c, &p1, NULL, NULL, NULL), RL_ESTOPPED);
    assert_int_equal(c.records, 100);
    char token[4096];
    snprintf(token, sizeof token, "%s", c.token);
    /* Changes in (P1, P2]: in the part already read, in the part still to read, inserts and
     * deletes on both sides. */
    sqlf(m, "UPDATE snapr.t SET v = 1000 WHERE id IN (5, 250)");
    sqlf(m, "DELETE FROM snapr.t WHERE id IN (7, 260)");
    sqlf(m, "INSERT INTO snapr.t VALUES (1000, 1, 'new'), (-1, 2, 'neg')");
    sqlf(m, "UPDATE snapr.t SET id = 2000 WHERE id = 150");
    c.stop_after = 0;
    c.notices = 0;
    assert_int_equal(run_snapshot(&o, &c, &p2, "snapr", "t", token), 0);
    assert_true(p2.at.pos > p1.at.pos || strcmp(p2.at.file, p1.at.file) != 0);
    /* The stream starts at P1: changes in (P1, P2] meet rows read at P2 already changed. So
     * the strict before-image check of the plain alignment test does not hold here; the
     * state is applied the way a compacted topic is read: last record per key wins. */
    /* Part 2 read at P2: ids 101..300 without 150 and 260, plus 1000 and 2000. */
    assert_int_equal(c.records, 100 + 200);
    streamcap sc;
    memset(&sc, 0, sizeof sc);
    sc.st = &c.st;
    sc.lenient = true;
    sc.from_file = p1.at.file;
    sc.from_pos = p1.at.pos;
    sc.topic = "rowlog.snapr.t";
    decode_binlog(&sc, p1.at.file);
    assert_int_equal(sc.applied_txns, 4);
    kvstate want;
    memset(&want, 0, sizeof want);
    select_state(m, "snapr", "t", &want);
    assert_same_state(&c.st, &want);
    /* The stream from P2 instead would miss the changes in (P1, P2] to rows read at P1. */
    st_free(&want);
    st_free(&c.st);
    sqlf(m, "DROP DATABASE snapr");
    mysql_close(m);
}

/* ------------------------------------------------------------------ filters and edge cases */

static void test_filters_nopk_empty_dropped(void **state)
{
    (void)state;
    NEED_SERVER();
    MYSQL *m = root_conn();
    sqlf(m, "CREATE DATABASE snapf");
    sqlf(m, "CREATE DATABASE snapf2");
    sqlf(m, "CREATE TABLE snapf.a (id INT PRIMARY KEY, v INT)");
    sqlf(m, "INSERT INTO snapf.a VALUES (1, 1), (2, 2), (3, 3)");
    sqlf(m, "CREATE TABLE snapf.empty (id INT PRIMARY KEY)");
    sqlf(m, "CREATE TABLE snapf.nopk (x INT, y VARCHAR(3))");
    sqlf(m, "INSERT INTO snapf.nopk SELECT seq %% 4, 'v' FROM snapf.seq_1_to_25");
    sqlf(m, "CREATE TABLE snapf.skip_me (id INT PRIMARY KEY)");
    sqlf(m, "INSERT INTO snapf.skip_me VALUES (1)");
    sqlf(m, "CREATE TABLE snapf.zdrop (id INT PRIMARY KEY)");
    sqlf(m, "INSERT INTO snapf.zdrop VALUES (1), (2)");
    sqlf(m, "CREATE TABLE snapf2.other (id INT PRIMARY KEY)");
    sqlf(m, "INSERT INTO snapf2.other VALUES (1)");
    sqlf(m, "CREATE VIEW snapf.view1 AS SELECT * FROM snapf.a");

    binlog_snapshot_opts o = opts_for("snap", "snapf\\..*", 1, 10);
    o.exclude = ".*\\.skip_me";
    binlog_snapshot_t *snap;
    rl_err err;
    memset(&err, 0, sizeof err);
    assert_int_equal(binlog_snapshot_open(&snap, &o, &err), 0);
    assert_int_equal(binlog_snapshot_table_count(snap), 4); /* a, empty, nopk, zdrop */
    const char *want[] = {"a", "empty", "nopk", "zdrop"};
    for (size_t i = 0; i < 4; i++) {
        binlog_snapshot_table_info ti;
        assert_int_equal(binlog_snapshot_table(snap, i, &ti), 0);
        assert_string_equal(ti.db, "snapf");
        assert_string_equal(ti.table, want[i]);
        assert_int_equal(ti.key_columns, strcmp(want[i], "nopk") == 0 ? 0 : 1);
    }
    binlog_snapshot_table_info ti;
    assert_int_equal(binlog_snapshot_table(snap, 4, &ti), RL_ENOTFOUND);
    snapcap c;
    memset(&c, 0, sizeof c);
    c.pt = binlog_snapshot_get_point(snap);
    c.drop_conn = m;
    c.drop_what = "snapf.zdrop";
    binlog_snapshot_handler h = {&c, cap_change, cap_progress};
    int rc = binlog_snapshot_run(snap, &h, &err);
    if (rc != 0)
        fail_msg("run: %s", err.msg);
    binlog_snapshot_close(snap);
    assert_int_equal(c.records, 3 + 25);
    assert_int_equal(c.st.n, 3 + 4); /* nopk: the key is every column: 4 distinct rows */
    assert_int_equal(c.done_tables, 4);
    assert_int_equal(c.skipped_tables, 1);
    assert_string_equal(c.skipped_name, "snapf.zdrop");
    assert_int_equal(c.lasts, 1);
    assert_non_null(st_find(&c.st, "rowlog.snapf.nopk\n{\"x\":1,\"y\":\"v\"}"));
    st_free(&c.st);

    /* A bad regex is a configuration error. */
    o.exclude = "(";
    assert_int_equal(binlog_snapshot_open(&snap, &o, &err), RL_ECONFIG);
    sqlf(m, "DROP DATABASE snapf");
    sqlf(m, "DROP DATABASE snapf2");
    mysql_close(m);
}

/* Character sets other than utf8/latin1/binary: converted to UTF-8 by the server, as the
 * decoder converts them (docs/events.md); keys in them are read in one pass. */
static void test_other_charsets(void **state)
{
    (void)state;
    NEED_SERVER();
    MYSQL *m = root_conn();
    sqlf(m, "CREATE DATABASE snapo");
    sqlf(m, "CREATE TABLE snapo.t (k VARCHAR(10) CHARACTER SET ucs2 NOT NULL PRIMARY KEY, "
            "g VARCHAR(10) CHARACTER SET gbk, e ENUM('\xc3\xa9t\xc3\xa9','x') CHARACTER SET "
            "utf16)");
    sqlf(m,
         "INSERT INTO snapo.t VALUES ('\xc3\xa9\xe2\x9c\x93', '\xe4\xb8\xad\xe6\x96\x87', "
         "'\xc3\xa9t\xc3\xa9'), ('b', 'x', 'x'), ('a', NULL, 'x'), ('\xe4\xb8\xad', NULL, NULL), "
         "('B2', 'y', 'x')");
    snapcap c;
    memset(&c, 0, sizeof c);
    binlog_snapshot_point pt;
    binlog_snapshot_opts o = opts_for("snap", "snapo\\.t", 1, 2);
    assert_int_equal(run_snapshot(&o, &c, &pt, NULL, NULL, NULL), 0);
    assert_int_equal(c.records, 5); /* paginated by 2 on the ucs2 key: each row once */
    assert_int_equal(c.st.n, 5);
    entry *e = st_find(&c.st, "rowlog.snapo.t\n{\"k\":\"\xc3\xa9\xe2\x9c\x93\"}");
    assert_non_null(e);
    assert_string_equal(e->after,
                        "{\"k\":\"\xc3\xa9\xe2\x9c\x93\",\"g\":\"\xe4\xb8\xad\xe6\x96\x87\","
                        "\"e\":\"\xc3\xa9t\xc3\xa9\"}");
    st_free(&c.st);
    sqlf(m, "DROP DATABASE snapo");
    mysql_close(m);
}

static void test_parallel_connections(void **state)
{
    (void)state;
    NEED_SERVER();
    MYSQL *m = root_conn();
    sqlf(m, "CREATE DATABASE snapp");
    for (int i = 0; i < 5; i++) {
        sqlf(m,
             "CREATE TABLE snapp.t%d (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(20) NOT "
             "NULL)",
             i);
        sqlf(m, "INSERT INTO snapp.t%d SELECT seq, seq, 'x' FROM snapp.seq_1_to_%d", i,
             100 + 37 * i);
    }
    snapcap c;
    memset(&c, 0, sizeof c);
    binlog_snapshot_point pt;
    binlog_snapshot_opts o = opts_for("snap", "snapp\\..*", 3, 16);
    assert_int_equal(run_snapshot(&o, &c, &pt, NULL, NULL, NULL), 0);
    assert_int_equal(pt.connections, 3);
    assert_int_equal(c.records, 5 * 100 + 37 * 10);
    assert_int_equal(c.st.n, c.records);
    assert_int_equal(c.done_tables, 5);
    assert_int_equal(c.lasts, 1);
    assert_true(c.last_seen_at_end);
    st_free(&c.st);

    /* Interrupted during a streamed table (no primary key): stops at once with RL_ESTOPPED,
     * without reading the rest of the table. */
    sqlf(m, "CREATE TABLE snapp.zbig (v INT, s VARCHAR(20))");
    sqlf(m, "INSERT INTO snapp.zbig SELECT seq, 'x' FROM snapp.seq_1_to_200000");
    memset(&c, 0, sizeof c);
    c.interrupt_after = 100;
    o = opts_for("snap", "snapp\\.zbig", 1, 16);
    int64_t t0 = rl_mono_ns();
    assert_int_equal(run_snapshot(&o, &c, &pt, NULL, NULL, NULL), RL_ESTOPPED);
    assert_true(c.records >= 100 && c.records < 200000);
    assert_true(c.rows_done <= c.records);
    assert_int_equal(c.lasts, 0);
    print_message("interrupted after %zu records in %.3f s\n", c.records,
                  (double)(rl_mono_ns() - t0) / 1e9);
    st_free(&c.st);
    sqlf(m, "DROP TABLE snapp.zbig");

    /* Without RELOAD: one connection, same result. */
    memset(&c, 0, sizeof c);
    o = opts_for("snap1", "snapp\\..*", 3, 16);
    assert_int_equal(run_snapshot(&o, &c, &pt, NULL, NULL, NULL), 0);
    assert_int_equal(pt.connections, 1);
    assert_int_equal(c.records, 5 * 100 + 37 * 10);
    st_free(&c.st);
    sqlf(m, "DROP DATABASE snapp");
    mysql_close(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_types),
        cmocka_unit_test(test_alignment_under_writes),
        cmocka_unit_test(test_chunks_and_resume),
        cmocka_unit_test(test_resume_alignment),
        cmocka_unit_test(test_filters_nopk_empty_dropped),
        cmocka_unit_test(test_other_charsets),
        cmocka_unit_test(test_parallel_connections),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
