/* Tests of `rowlog binlog dump` (the built binary, ROWLOG_BIN) on the all-types MariaDB fixture
 * RL_FIXTURES_DIR/local-mariadb-10.11__binlog.000004. The expected changes come from the
 * fixture's mariadb-binlog oracle (`### INSERT INTO` / `### UPDATE` / `### DELETE FROM` blocks),
 * not from rowlog: their number, order, table and op. An UPDATE whose primary-key columns
 * differ between the WHERE and SET images is a 'd' followed by a 'c' (README, "The change
 * event"); a table without a primary key has all columns as its key, and its UPDATEs stay 'u'.
 * Each line is also checked for shape: valid JSON, exactly topic/key/value, before/after per op.
 * Also: a truncated copy and a copy with one flipped byte must stop with exit status 1, an error
 * naming the file, and exactly the changes before the damage on stdout.
 * Skips cleanly when the fixtures directory is absent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

#include "run_cmd.h"
#include "tools/tools.h"

#define FIXTURE_NAME "local-mariadb-10.11__binlog.000004"
#define FIXTURE RL_FIXTURES_DIR "/" FIXTURE_NAME
#define ORACLE FIXTURE ".mariadb-binlog.txt"
#define MAX_CHANGES 256

/* Primary keys of the fixture's tables, from the CREATE TABLE statements in the oracle:
 * all_types has `id` (column 1) as PRIMARY KEY; nopk has none. */
typedef struct table_key {
    const char *table;
    int pk_col; /* 1-based column, or 0 when the table has no primary key */
} table_key;
static const table_key fixture_keys[] = {{"all_types", 1}, {"nopk", 0}};

typedef struct change {
    char table[64];
    char op;          /* 'c', 'u', 'd' */
    uint64_t end_pos; /* end_log_pos of the rows event holding the row */
} change;

typedef struct oracle {
    change ch[MAX_CHANGES];
    size_t n;
} oracle;

static char rowlog_bin[] = ROWLOG_BIN;

static bool have_fixture(void)
{
    struct stat st;
    return stat(FIXTURE, &st) == 0 && stat(ORACLE, &st) == 0;
}

/* "###   @N=VALUE <type comment>" -> N, and VALUE as [*v, *v + *vlen). */
static int column_of(const char *line, const char **v, size_t *vlen)
{
    const char *at = strstr(line, "@");
    if (!at)
        return 0;
    int col = (int)strtol(at + 1, NULL, 10);
    const char *eq = strchr(at, '=');
    if (!eq)
        return 0;
    const char *cm = NULL;
    for (const char *s = strstr(eq, " /* "); s; s = strstr(s + 1, " /* "))
        cm = s; /* the last comment is the type annotation */
    *v = eq + 1;
    *vlen = cm ? (size_t)(cm - (eq + 1)) : strlen(eq + 1);
    return col;
}

static int pk_col_of(const char *table)
{
    for (size_t i = 0; i < sizeof fixture_keys / sizeof fixture_keys[0]; i++) {
        if (strcmp(fixture_keys[i].table, table) == 0)
            return fixture_keys[i].pk_col;
    }
    fail_msg("table %s is not in fixture_keys", table);
    return -1;
}

static void add_change(oracle *o, const char *table, char op, uint64_t end_pos)
{
    assert_true(o->n < MAX_CHANGES);
    change *c = &o->ch[o->n++];
    snprintf(c->table, sizeof c->table, "%s", table);
    c->op = op;
    c->end_pos = end_pos;
}

/* Image lines of one UPDATE row: column values as text, by column number. */
typedef struct image {
    char *val[128];
} image;

static void image_free(image *im)
{
    for (size_t i = 0; i < 128; i++) {
        free(im->val[i]);
        im->val[i] = NULL;
    }
}

static bool pk_changed(const image *before, const image *after, int pk_col)
{
    if (pk_col <= 0)
        return false; /* no primary key */
    const char *b = before->val[pk_col], *a = after->val[pk_col];
    return (b == NULL) != (a == NULL) || (b && strcmp(a, b) != 0);
}

static void load_oracle(oracle *o)
{
    FILE *f = fopen(ORACLE, "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint64_t end_pos = 0;
    /* State of an UPDATE row being read: 0 none, 1 in WHERE, 2 in SET. */
    int upd = 0;
    char upd_table[64] = "";
    image before = {{0}}, after = {{0}};
    o->n = 0;
    for (;;) {
        len = getline(&line, &cap, f);
        bool is_col = len > 0 && strncmp(line, "###   @", 7) == 0;
        if (upd == 2 && !is_col) {
            /* End of an UPDATE row. */
            if (pk_changed(&before, &after, pk_col_of(upd_table))) {
                add_change(o, upd_table, 'd', end_pos);
                add_change(o, upd_table, 'c', end_pos);
            } else {
                add_change(o, upd_table, 'u', end_pos);
            }
            image_free(&before);
            image_free(&after);
            upd = 0;
            upd_table[0] = '\0';
        }
        if (len <= 0)
            break;
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        const char *ep = strstr(line, " end_log_pos ");
        if (line[0] == '#' && line[1] != '#' && ep)
            end_pos = strtoull(ep + 13, NULL, 10);
        char db[64], table[64];
        if (sscanf(line, "### INSERT INTO `%63[^`]`.`%63[^`]`", db, table) == 2) {
            add_change(o, table, 'c', end_pos);
        } else if (sscanf(line, "### DELETE FROM `%63[^`]`.`%63[^`]`", db, table) == 2) {
            add_change(o, table, 'd', end_pos);
        } else if (sscanf(line, "### UPDATE `%63[^`]`.`%63[^`]`", db, table) == 2) {
            snprintf(upd_table, sizeof upd_table, "%s", table);
            upd = 0;
        } else if (strcmp(line, "### WHERE") == 0 && upd_table[0]) {
            upd = 1;
        } else if (strcmp(line, "### SET") == 0 && upd == 1) {
            upd = 2;
        } else if (is_col && upd) {
            const char *v = NULL;
            size_t vlen = 0;
            int col = column_of(line, &v, &vlen);
            assert_true(col > 0 && col < 128);
            image *im = upd == 1 ? &before : &after;
            free(im->val[col]);
            im->val[col] = strndup(v, vlen);
        }
    }
    free(line);
    fclose(f);
}

/* ---- a minimal walk over a valid JSON object's top-level members (input already validated
 * with tool_json_valid) ---- */

static size_t skip_string(const char *s, size_t i)
{
    for (i++; s[i] != '"'; i++) {
        if (s[i] == '\\')
            i++;
    }
    return i + 1;
}

static size_t skip_value(const char *s, size_t i)
{
    if (s[i] == '"')
        return skip_string(s, i);
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        do {
            if (s[i] == '"') {
                i = skip_string(s, i);
                continue;
            }
            if (s[i] == '{' || s[i] == '[')
                depth++;
            else if (s[i] == '}' || s[i] == ']')
                depth--;
            i++;
        } while (depth > 0);
        return i;
    }
    while (s[i] && s[i] != ',' && s[i] != '}' && s[i] != ']')
        i++;
    return i;
}

typedef struct member {
    char name[32];
    const char *v;
    size_t vlen;
} member;

/* Top-level members of the object at s (no whitespace: rowlog's lines have none outside
 * embedded values, which skip_value handles). Returns the count. */
static size_t members_of(const char *s, member *m, size_t max)
{
    size_t n = 0, i = 1;
    assert_int_equal(s[0], '{');
    while (s[i] != '}' && n < max) {
        while (s[i] == ' ')
            i++;
        size_t ks = i, ke = skip_string(s, i);
        snprintf(m[n].name, sizeof m[n].name, "%.*s", (int)(ke - ks - 2), s + ks + 1);
        i = ke;
        while (s[i] == ' ' || s[i] == ':')
            i++;
        m[n].v = s + i;
        i = skip_value(s, i);
        m[n].vlen = (size_t)(s + i - m[n].v);
        while (s[i] == ' ' || s[i] == ',')
            i++;
        n++;
    }
    return n;
}

static const member *find_member(const member *m, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(m[i].name, name) == 0)
            return &m[i];
    }
    return NULL;
}

static bool value_is(const member *m, const char *text)
{
    return m && m->vlen == strlen(text) && memcmp(m->v, text, m->vlen) == 0;
}

/* Checks each output line against the oracle's changes 0..nlines-1. */
static void check_lines(const rl_buf *out, const oracle *o, size_t nlines, const char *prefix)
{
    const char *s = (const char *)out->p;
    for (size_t i = 0; i < nlines; i++) {
        const char *nl = strchr(s, '\n');
        assert_non_null(nl);
        size_t len = (size_t)(nl - s);
        char *ln = strndup(s, len);
        size_t bad = 0;
        if (!tool_json_valid(ln, len, &bad))
            fail_msg("line %zu is not valid JSON (byte %zu): %.300s", i + 1, bad, ln);
        member top[8];
        size_t nt = members_of(ln, top, 8);
        if (nt != 3 || strcmp(top[0].name, "topic") != 0 || strcmp(top[1].name, "key") != 0 ||
            strcmp(top[2].name, "value") != 0)
            fail_msg("line %zu: members are not topic, key, value: %.300s", i + 1, ln);
        char want_topic[160];
        snprintf(want_topic, sizeof want_topic, "\"%s.fixturedb.%s\"", prefix, o->ch[i].table);
        if (!value_is(&top[0], want_topic))
            fail_msg("line %zu: topic %.*s, the oracle has %s", i + 1, (int)top[0].vlen, top[0].v,
                     want_topic);
        if (top[1].v[0] != '{')
            fail_msg("line %zu: key is not an object: %.300s", i + 1, ln);
        if (top[2].v[0] != '{')
            fail_msg("line %zu: value is not an object: %.300s", i + 1, ln);
        char *val = strndup(top[2].v, top[2].vlen);
        member env[16];
        size_t ne = members_of(val, env, 16);
        char want_op[8];
        snprintf(want_op, sizeof want_op, "\"%c\"", o->ch[i].op);
        const member *op = find_member(env, ne, "op");
        const member *bef = find_member(env, ne, "before");
        const member *aft = find_member(env, ne, "after");
        if (!value_is(op, want_op))
            fail_msg("line %zu: op %.*s, the oracle has %s", i + 1, op ? (int)op->vlen : 0,
                     op ? op->v : "", want_op);
        assert_non_null(bef);
        assert_non_null(aft);
        bool bnull = value_is(bef, "null"), anull = value_is(aft, "null");
        if (bnull != (o->ch[i].op == 'c') || anull != (o->ch[i].op == 'd'))
            fail_msg("line %zu: op %c with before %s and after %s", i + 1, o->ch[i].op,
                     bnull ? "null" : "set", anull ? "null" : "set");
        free(val);
        free(ln);
        s = nl + 1;
    }
    assert_int_equal((size_t)(s - (const char *)out->p), out->len); /* nothing after */
}

static void test_oracle_parse(void **state)
{
    (void)state;
    if (!have_fixture())
        skip();
    oracle o;
    load_oracle(&o);
    /* Cross-check of the block parser: the rows counted from the `### ...` blocks equal the
     * sum of the oracle's "# Number of rows" lines, plus one per PK-changing UPDATE row. */
    FILE *f = fopen(ORACLE, "r");
    assert_non_null(f);
    char line[4096];
    size_t rows = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "# Number of rows: ", 18) == 0)
            rows += strtoul(line + 18, NULL, 10);
    }
    fclose(f);
    size_t pairs = 0;
    for (size_t i = 0; i + 1 < o.n; i++)
        pairs +=
            o.ch[i].op == 'd' && o.ch[i + 1].op == 'c' && o.ch[i].end_pos == o.ch[i + 1].end_pos;
    assert_true(rows > 0);
    assert_int_equal(o.n, rows + pairs);
}

static void test_dump_fixture(void **state)
{
    (void)state;
    if (!have_fixture())
        skip();
    oracle o;
    load_oracle(&o);
    char fixture[] = FIXTURE;
    char *argv[] = {rowlog_bin, "binlog", "dump", fixture, NULL};
    run_result r;
    run_cmd(argv, 120, &r);
    if (r.status != 0)
        fail_msg("exit %d, stderr: %s", r.status, (char *)r.err.p);
    assert_int_equal(r.err.len, 0);
    size_t n = run_count_lines(&r.out);
    if (n != o.n)
        fail_msg("%zu lines, the oracle has %zu row changes", n, o.n);
    check_lines(&r.out, &o, n, "rowlog");
    run_result_free(&r);

    /* --topic-prefix; the same file twice gives everything twice. */
    char prefix[] = "cdc";
    char *argv2[] = {rowlog_bin, "binlog", "dump",  "--topic-prefix",
                     prefix,     fixture,  fixture, NULL};
    run_cmd(argv2, 120, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(run_count_lines(&r.out), 2 * o.n);
    oracle twice;
    memcpy(twice.ch, o.ch, o.n * sizeof o.ch[0]);
    memcpy(twice.ch + o.n, o.ch, o.n * sizeof o.ch[0]);
    twice.n = 2 * o.n;
    check_lines(&r.out, &twice, twice.n, "cdc");
    run_result_free(&r);
}

/* Writes the fixture's first `len` bytes to dir/name, flipping the byte at `flip` (if < len). */
static void write_copy(const char *path, size_t len, size_t flip)
{
    FILE *in = fopen(FIXTURE, "rb");
    FILE *out = fopen(path, "wb");
    assert_non_null(in);
    assert_non_null(out);
    for (size_t i = 0; i < len; i++) {
        int c = fgetc(in);
        assert_true(c != EOF);
        if (i == flip)
            c ^= 0x40;
        fputc(c, out);
    }
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

static size_t changes_before(const oracle *o, uint64_t pos)
{
    size_t n = 0;
    while (n < o->n && o->ch[n].end_pos <= pos)
        n++;
    return n;
}

static void expect_damage(const char *path, const oracle *o, size_t want_lines)
{
    char p[512];
    snprintf(p, sizeof p, "%s", path);
    char *argv[] = {rowlog_bin, "binlog", "dump", p, NULL};
    run_result r;
    run_cmd(argv, 120, &r);
    if (r.status != 1)
        fail_msg("%s: exit %d, want 1; stderr: %s", path, r.status, (char *)r.err.p);
    const char *base = strrchr(path, '/') + 1;
    if (!strstr((char *)r.err.p, base))
        fail_msg("%s: the error does not name the file: %s", path, (char *)r.err.p);
    size_t n = run_count_lines(&r.out);
    if (n != want_lines)
        fail_msg("%s: %zu lines before the error, want %zu", path, n, want_lines);
    check_lines(&r.out, o, n, "rowlog");
    run_result_free(&r);
}

/* The XA fixture (XA START/PREPARE/COMMIT of 'xid1', then 'xid2' rolled back): every row of
 * an XA transaction carries its XID, each outcome is a line of its own after the prepared
 * rows, and the whole file decodes (exit 0). */
static void test_dump_xa(void **state)
{
    (void)state;
    char xa[] = RL_FIXTURES_DIR "/local-mariadb-10.11__binlog.000013";
    struct stat st;
    if (stat(xa, &st) != 0)
        skip();
    char *argv[] = {rowlog_bin, "binlog", "dump", xa, NULL};
    run_result r;
    run_cmd(argv, 120, &r);
    if (r.status != 0)
        fail_msg("exit %d, stderr: %s", r.status, (char *)r.err.p);
    const char *out = (const char *)r.out.p;
    const char *x1 = "\"xid\":\"X'78696431',X'',1\"}", *x2 = "\"xid\":\"X'78696432',X'',1\"}";
    const char *c1 = strstr(out, "{\"xa\":\"commit\",\"xid\":\"X'78696431',X'',1\"}\n");
    const char *r2 = strstr(out, "{\"xa\":\"rollback\",\"xid\":\"X'78696432',X'',1\"}\n");
    const char *p1 = strstr(out, x1), *p2 = strstr(out, x2);
    assert_non_null(c1);
    assert_non_null(r2);
    assert_non_null(p1);
    assert_non_null(p2);
    assert_true(p1 < c1); /* the prepared rows come before their outcome */
    assert_true(p2 < r2);
    assert_null(strstr(out, "\"xa\":\"commit\",\"xid\":\"X'78696432'"));
    run_result_free(&r);
}

static void test_dump_damaged(void **state)
{
    (void)state;
    if (!have_fixture())
        skip();
    oracle o;
    load_oracle(&o);
    assert_true(o.n >= 4);
    char dir[] = "/tmp/rowlog-dump-test.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[512];

    /* Cut inside the rows event of the last change: all earlier changes, then an error. */
    uint64_t last_end = o.ch[o.n - 1].end_pos;
    snprintf(path, sizeof path, "%s/truncated.000004", dir);
    write_copy(path, (size_t)last_end - 5, SIZE_MAX);
    expect_damage(path, &o, changes_before(&o, last_end - 5));
    unlink(path);

    /* One flipped byte inside the rows event of the second change: its CRC32 no longer
     * matches, so only the first change comes out. */
    uint64_t second_end = o.ch[1].end_pos;
    assert_true(second_end > o.ch[0].end_pos);
    struct stat st;
    assert_int_equal(stat(FIXTURE, &st), 0);
    snprintf(path, sizeof path, "%s/flipped.000004", dir);
    write_copy(path, (size_t)st.st_size, (size_t)second_end - 10);
    expect_damage(path, &o, changes_before(&o, second_end - 1));
    unlink(path);

    /* Not a binlog at all. */
    snprintf(path, sizeof path, "%s/notbinlog.000001", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("hello, world\n", f);
    fclose(f);
    expect_damage(path, &o, 0);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oracle_parse),
        cmocka_unit_test(test_dump_fixture),
        cmocka_unit_test(test_dump_damaged),
        cmocka_unit_test(test_dump_xa),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
