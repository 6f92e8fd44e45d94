/*
 * Every fixture with a `mariadb-binlog -vv` decode (<file>.mariadb-binlog.txt, MySQL 5.1-8.0
 * and MariaDB alike): each row image rowlog emits is compared, column by column, with the
 * oracle's, reading the column type from the oracle's own comment ("/ * INT meta=0 ... * /"),
 * so no schema is needed. The oracle's notations (test_reader_oracle.c has the details):
 * unsigned integers as "signed (unsigned)"; DATE 'YYYY:MM:DD'; DATETIME with a space;
 * TIMESTAMP as epoch seconds; YEAR 0 as 1900; strings as raw bytes with bytes below 0x20 as
 * \xNN (and BINARY without its trailing 0x00); BIT as b'...'; FLOAT with 6 significant digits.
 * Text is compared as UTF-8, as cp1252 (latin1 columns) or as base64 bytes (binary columns);
 * ENUM and SET are compared when rowlog has no labels (their numbers). Images are matched in
 * order: INSERT (after), DELETE (before), UPDATE (before, after); an update rowlog splits into
 * a delete and a create yields the same two images. Fixtures rowlog stops in (MANIFEST.md)
 * compare the images before the stop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reader/binlog.h"
#include "tests/unit/reader/json_mini.h"

typedef struct ocol {
    char *val; /* NULL for SQL NULL; raw bytes for quoted values */
    size_t vlen;
    bool quoted;
    char type[32];
} ocol;

typedef struct oimg {
    ocol *c;
    size_t n, cap;
} oimg;

typedef struct imgs {
    oimg *v;
    size_t n, cap;
} imgs;

static void oimg_add(oimg *im, ocol c)
{
    if (im->n == im->cap) {
        im->cap = im->cap ? im->cap * 2 : 16;
        im->c = realloc(im->c, im->cap * sizeof *im->c);
        assert_non_null(im->c);
    }
    im->c[im->n++] = c;
}

static oimg *imgs_new(imgs *s)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        assert_non_null(s->v);
    }
    memset(&s->v[s->n], 0, sizeof s->v[0]);
    return &s->v[s->n++];
}

static void imgs_free(imgs *s)
{
    for (size_t i = 0; i < s->n; i++) {
        for (size_t j = 0; j < s->v[i].n; j++)
            free(s->v[i].c[j].val);
        free(s->v[i].c);
    }
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* "###   @N=VALUE /\* TYPE meta=... *\/" */
static void parse_col(oimg *im, const char *l, const char *e)
{
    ocol oc;
    memset(&oc, 0, sizeof oc);
    const char *eq = memchr(l, '=', (size_t)(e - l));
    assert_non_null(eq);
    const char *cm = NULL;
    for (const char *q = eq; q + 4 <= e; q++)
        if (memcmp(q, " /* ", 4) == 0)
            cm = q;
    assert_non_null(cm);
    const char *t = cm + 4;
    size_t tl = 0;
    while (t + tl < e && t[tl] != ' ' && t[tl] != '(' && tl < sizeof oc.type - 1)
        tl++;
    memcpy(oc.type, t, tl);
    const char *v = eq + 1, *ve = cm;
    if (ve - v == 4 && memcmp(v, "NULL", 4) == 0) {
        oimg_add(im, oc);
        return;
    }
    oc.val = malloc((size_t)(ve - v) + 1);
    assert_non_null(oc.val);
    if (*v == '\'' && ve - v >= 2 && ve[-1] == '\'') {
        oc.quoted = true;
        v++;
        ve--;
    }
    size_t k = 0;
    for (const char *q = v; q < ve; q++) {
        if (oc.quoted && q + 4 <= ve && q[0] == '\\' && q[1] == 'x') {
            char hx[3] = {q[2], q[3], 0};
            oc.val[k++] = (char)strtol(hx, NULL, 16);
            q += 3;
        } else {
            oc.val[k++] = *q;
        }
    }
    oc.val[k] = '\0';
    oc.vlen = k;
    oimg_add(im, oc);
}

static bool oracle_load(const char *path, imgs *o)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    oimg *cur = NULL;
    while ((n = getline(&line, &cap, f)) >= 0) {
        const char *e = line + n;
        while (e > line && (e[-1] == '\n' || e[-1] == '\r'))
            e--;
        if ((e - line == 7 && memcmp(line, "### SET", 7) == 0) ||
            (e - line == 9 && memcmp(line, "### WHERE", 9) == 0))
            cur = imgs_new(o);
        else if (cur && e - line > 7 && memcmp(line, "###   @", 7) == 0)
            parse_col(cur, line, e);
        else if (memcmp(line, "###", 3) != 0)
            cur = NULL;
    }
    free(line);
    fclose(f);
    return true;
}

/* ------------------------------------------------------------------ rowlog's side */

typedef struct ours {
    imgs *o;
    jv *vals; /* the parsed envelopes, freed at the end */
    size_t n, cap;
} ours;

static int on_change(void *ctx, const binlog_change *c)
{
    ours *u = ctx;
    if (u->n == u->cap) {
        u->cap = u->cap ? u->cap * 2 : 64;
        u->vals = realloc(u->vals, u->cap * sizeof *u->vals);
        assert_non_null(u->vals);
    }
    jv *v = &u->vals[u->n++];
    assert_int_equal(jparse(c->value.p, c->value.len, v), 0);
    return 0;
}

static int on_commit(void *ctx, const binlog_checkpoint *cp)
{
    (void)ctx;
    (void)cp;
    return 0;
}

/* The image objects in oracle order. */
static size_t our_images(const ours *u, const jv **out, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < u->n && k + 2 <= max; i++) {
        const jv *op = jget(&u->vals[i], "op");
        assert_non_null(op);
        if (op->s[0] == 'c') {
            out[k++] = jget(&u->vals[i], "after");
        } else if (op->s[0] == 'd') {
            out[k++] = jget(&u->vals[i], "before");
        } else {
            out[k++] = jget(&u->vals[i], "before");
            out[k++] = jget(&u->vals[i], "after");
        }
    }
    return k;
}

/* ------------------------------------------------------------------ comparison */

static const uint16_t cp1252_hi[32] = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

/* Bytes read as cp1252 equal the UTF-8 string s? */
static bool eq_cp1252(const char *raw, size_t n, const char *s, size_t sl)
{
    char *u = malloc(n * 3 + 1);
    assert_non_null(u);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)raw[i];
        uint32_t cp = c >= 0x80 && c < 0xA0 ? cp1252_hi[c - 0x80] : c;
        if (cp < 0x80) {
            u[k++] = (char)cp;
        } else if (cp < 0x800) {
            u[k++] = (char)(0xC0 | (cp >> 6));
            u[k++] = (char)(0x80 | (cp & 0x3F));
        } else {
            u[k++] = (char)(0xE0 | (cp >> 12));
            u[k++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            u[k++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    bool eq = k == sl && memcmp(u, s, k) == 0;
    free(u);
    return eq;
}

static bool eq_base64(const char *raw, size_t n, const char *s, size_t sl, bool strip_zeros)
{
    uint8_t *b = malloc(sl + 3);
    assert_non_null(b);
    long bl = jm_base64_decode(s, sl, b);
    bool eq = false;
    if (bl >= 0) {
        size_t m = (size_t)bl;
        while (strip_zeros && m > n && b[m - 1] == 0)
            m--;
        eq = m == n && memcmp(b, raw, n) == 0;
    }
    free(b);
    return eq;
}

static bool is_type(const ocol *c, const char *t)
{
    return strcmp(c->type, t) == 0;
}

/* Returns true when equal; *skipped when the oracle's notation cannot say. */
static bool cmp_col(const ocol *oc, const jv *v, bool *skipped)
{
    *skipped = false;
    if (!oc->val)
        return v->type == JNULL;
    if (v->type == JNULL)
        return false;
    const char *t = oc->type;
    if (is_type(oc, "TINYINT") || is_type(oc, "SHORTINT") || is_type(oc, "MEDIUMINT") ||
        is_type(oc, "INT") || is_type(oc, "LONGINT")) {
        if (v->type != JNUM)
            return false;
        /* "-1 (255)" */
        char a[32] = "", b[32] = "";
        sscanf(oc->val, "%31s (%31[0-9])", a, b);
        return strcmp(v->s, a) == 0 || strcmp(v->s, b) == 0;
    }
    if (strcmp(t, "DECIMAL") == 0)
        return v->type == JSTR && strcmp(v->s, oc->val) == 0;
    if (strcmp(t, "YEAR") == 0)
        return v->type == JNUM && strtol(oc->val, NULL, 10) ==
                                      (strtol(v->s, NULL, 10) ? strtol(v->s, NULL, 10) : 1900);
    if (strcmp(t, "FLOAT") == 0 || strcmp(t, "DOUBLE") == 0) {
        if (v->type != JNUM)
            return false;
        double a = strtod(oc->val, NULL), b = strtod(v->s, NULL);
        double tol = strcmp(t, "FLOAT") == 0 ? 5e-6 : 1e-14;
        return fabs(a - b) <= tol * fmax(1.0, fabs(a));
    }
    if (strcmp(t, "DATE") == 0) {
        if (v->type != JSTR || strlen(v->s) != 10 || oc->vlen != 10)
            return false;
        for (int i = 0; i < 10; i++)
            if (v->s[i] != (oc->val[i] == ':' ? '-' : oc->val[i]))
                return false;
        return true;
    }
    if (strcmp(t, "DATETIME") == 0) {
        if (v->type != JSTR || strlen(v->s) != oc->vlen)
            return false;
        for (size_t i = 0; i < oc->vlen; i++)
            if (v->s[i] != (oc->val[i] == ' ' ? 'T' : oc->val[i]))
                return false;
        return true;
    }
    if (strcmp(t, "TIME") == 0)
        return v->type == JSTR && strcmp(v->s, oc->val) == 0;
    if (strcmp(t, "TIMESTAMP") == 0) {
        /* epoch[.frac] against "YYYY-MM-DDTHH:MM:SS[.frac]Z" */
        if (v->type != JSTR || strlen(v->s) < 20)
            return false;
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        if (sscanf(v->s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
            return false;
        tm.tm_year -= 1900;
        tm.tm_mon -= 1;
        char want[64];
        const char *frac = strchr(v->s, '.');
        int n = snprintf(want, sizeof want, "%lld", (long long)timegm(&tm));
        if (frac)
            snprintf(want + n, sizeof want - (size_t)n, "%.*s", (int)strcspn(frac, "Z"), frac);
        return strcmp(want, oc->val) == 0;
    }
    if (strcmp(t, "BIT") == 0) {
        /* b'0101' against base64 big-endian bytes */
        if (v->type != JSTR || oc->vlen < 3)
            return false;
        uint8_t by[16];
        long bl = jm_base64_decode(v->s, v->slen, by);
        if (bl <= 0 || bl > 8)
            return false;
        uint64_t ours_v = 0, theirs = 0;
        for (long i = 0; i < bl; i++)
            ours_v = ours_v << 8 | by[i];
        for (const char *q = oc->val + 2; *q == '0' || *q == '1'; q++)
            theirs = theirs << 1 | (uint64_t)(*q - '0');
        return ours_v == theirs;
    }
    if (strcmp(t, "ENUM") == 0 || strcmp(t, "SET") == 0) {
        if (v->type == JNUM) {
            /* ENUM as its index, SET as b'bits' */
            uint64_t x = 0;
            if (oc->vlen > 2 && oc->val[0] == 'b' && oc->val[1] == '\'')
                for (const char *q = oc->val + 2; *q == '0' || *q == '1'; q++)
                    x = x << 1 | (uint64_t)(*q - '0');
            else
                x = strtoull(oc->val, NULL, 10);
            return strtoull(v->s, NULL, 10) == x;
        }
        *skipped = true; /* labels: the oracle prints numbers */
        return true;
    }
    if (oc->quoted && v->type == JSTR) {
        /* Text or bytes: UTF-8 as is, latin1 as cp1252, binary as base64 (BINARY padded). */
        if (v->slen == oc->vlen && memcmp(v->s, oc->val, oc->vlen) == 0)
            return true;
        if (eq_cp1252(oc->val, oc->vlen, v->s, v->slen))
            return true;
        return eq_base64(oc->val, oc->vlen, v->s, v->slen, strcmp(t, "STRING") == 0);
    }
    *skipped = true;
    return true;
}

typedef struct totals {
    size_t files, images, cols, skipped;
} totals;

static void check_fixture(const char *name, totals *tot)
{
    char path[4096], opath[4200];
    snprintf(path, sizeof path, "%s/%s", RL_FIXTURES_DIR, name);
    snprintf(opath, sizeof opath, "%s.mariadb-binlog.txt", path);
    imgs o;
    memset(&o, 0, sizeof o);
    if (!oracle_load(opath, &o))
        return;
    ours u;
    memset(&u, 0, sizeof u);
    binlog_handler h = {&u, on_change, on_commit};
    binlog_decoder_t *dec;
    binlog_file_t *f;
    rl_err err;
    memset(&err, 0, sizeof err);
    assert_int_equal(binlog_decoder_new(&dec, NULL, &h), 0);
    binlog_decoder_set_file(dec, name);
    assert_int_equal(binlog_file_open(&f, path, &err), 0);
    rl_slice ev;
    int rc;
    while ((rc = binlog_file_next(f, &ev, &err)) == 1)
        if ((rc = binlog_decoder_feed(dec, ev, &err)) < 0)
            break;
    binlog_file_close(f);
    binlog_decoder_free(dec);

    size_t max = 2 * u.n + 2;
    const jv **mine = malloc(max * sizeof *mine);
    assert_non_null(mine);
    size_t nm = our_images(&u, mine, max);
    /* A full decode must yield every image; a stopped one (rc < 0) a prefix. */
    if (rc == 0 && nm != o.n)
        fail_msg("%s: %zu row images, the oracle has %zu", name, nm, o.n);
    if (nm > o.n)
        fail_msg("%s: %zu row images, more than the oracle's %zu", name, nm, o.n);
    for (size_t i = 0; i < nm; i++) {
        const jv *img = mine[i];
        assert_non_null(img);
        if (img->type != JOBJ || img->n != o.v[i].n)
            fail_msg("%s: image %zu has %zu columns, the oracle %zu", name, i, img->n, o.v[i].n);
        for (size_t j = 0; j < img->n; j++) {
            bool skipped;
            if (!cmp_col(&o.v[i].c[j], &img->items[j], &skipped))
                fail_msg("%s: image %zu column %zu (%s, %s): oracle [%.*s], rowlog %s %s", name, i,
                         j + 1, img->keys[j], o.v[i].c[j].type, (int)o.v[i].c[j].vlen,
                         o.v[i].c[j].val ? o.v[i].c[j].val : "NULL",
                         img->items[j].type == JSTR ? "string" : "value",
                         img->items[j].s ? img->items[j].s : "(null/object)");
            tot->cols++;
            tot->skipped += skipped;
        }
    }
    tot->images += nm;
    tot->files++;
    print_message("%-66s %5zu images %s\n", name, nm, rc ? rl_errname(rc) : "");
    free(mine);
    for (size_t i = 0; i < u.n; i++)
        jfree(&u.vals[i]);
    free(u.vals);
    imgs_free(&o);
}

static void test_all_oracles(void **state)
{
    (void)state;
    DIR *d = opendir(RL_FIXTURES_DIR);
    if (!d) {
        print_message("no fixtures at %s: skipped\n", RL_FIXTURES_DIR);
        skip();
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *suffix = ".mariadb-binlog.txt";
        size_t l = strlen(de->d_name), sl = strlen(suffix);
        if (l <= sl || strcmp(de->d_name + l - sl, suffix) != 0)
            continue;
        names = realloc(names, (n + 1) * sizeof *names);
        assert_non_null(names);
        names[n] = strndup(de->d_name, l - sl);
        assert_non_null(names[n]);
        n++;
    }
    closedir(d);
    totals tot;
    memset(&tot, 0, sizeof tot);
    for (size_t i = 0; i < n; i++) {
        check_fixture(names[i], &tot);
        free(names[i]);
    }
    free(names);
    print_message("%zu oracles, %zu row images, %zu values compared (%zu ENUM/SET labels or "
                  "unquoted values skipped)\n",
                  tot.files, tot.images, tot.cols, tot.skipped);
    assert_true(tot.files >= 50);
    assert_true(tot.cols > 5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_oracles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
