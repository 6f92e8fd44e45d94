/*
 * schema.c - the schema history (schema.h): table definitions by binlog position, the DDL
 * table-name parser, the schema-change event (build and restore), and the decoder's side:
 * definitions for TABLE_MAPs without column metadata and versions at DDL QUERY events.
 * Design and event format: docs/schema.md.
 *
 * Schema-change event (binlog_change.op 's', topic PREFIX), one per table changed (read back
 * by server/rowlogd_schema.c, which restores the history from the log):
 *   key   {"databaseName":"shop"}
 *   value {"source":{"name","server_id","file","pos" (start of the DDL or TABLE_MAP event),
 *          "row":0,"gtid","db","table","ts_ms","snapshot":false},"op":"s","ts_ms",
 *          "databaseName","ddl" (the statement, or null for a definition read at a table's
 *          first TABLE_MAP),"tableChanges":[{"type":"CREATE|ALTER|DROP|TRUNCATE","id":"db.t",
 *          "db","tableName",["previousDb","previousTableName" for a rename,]
 *          "table":null (dropped, or definition unknown) | {"primaryKeyColumnNames":[..],
 *          "columns":[{"name","typeName" (DATA_TYPE upper case),"typeExpression"
 *          (COLUMN_TYPE),"position" (1-based),"optional","unsigned","charsetName",
 *          "collationName","collationId","json","enumValues":[..]}]}}]}
 */
#include "reader/schema.h"

#include "reader/binlog_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

/* ------------------------------------------------------------------ definitions */

binlog_schema_table *binlog_schema_table_new(const char *db, const char *table)
{
    binlog_schema_table *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->db = strdup(db ? db : "");
    t->table = strdup(table ? table : "");
    if (!t->db || !t->table) {
        binlog_schema_table_free(t);
        return NULL;
    }
    return t;
}

static void col_free(binlog_schema_col *c)
{
    free(c->name);
    free(c->data_type);
    free(c->column_type);
    free(c->charset);
    free(c->collation);
    for (uint32_t i = 0; i < c->nstrs; i++)
        free(c->strs[i]);
    free(c->strs);
}

void binlog_schema_table_free(binlog_schema_table *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->ncols; i++)
        col_free(&t->cols[i]);
    free(t->cols);
    free(t->keys);
    free(t->db);
    free(t->table);
    free(t);
}

static char *dup_or_null(const char *s, bool *oom)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = true;
    return d;
}

/* ENUM/SET values from COLUMN_TYPE "enum('a','it''s')" (information_schema doubles quotes
 * inside values). Returns 0, RL_ECONFIG, -ENOMEM. */
static int parse_strs(binlog_schema_col *c)
{
    const char *s = strchr(c->column_type, '(');
    if (!s)
        return RL_ECONFIG;
    s++;
    size_t cap = 0;
    for (;;) {
        if (*s != '\'')
            return RL_ECONFIG;
        s++;
        size_t n = 0;
        const char *q = s;
        for (;;) {
            if (!*q)
                return RL_ECONFIG;
            if (*q == '\'' && q[1] == '\'') {
                q += 2;
                n++;
                continue;
            }
            if (*q == '\'')
                break;
            q++;
            n++;
        }
        char *v = malloc(n + 1);
        if (!v)
            return -ENOMEM;
        size_t k = 0;
        for (const char *p = s; p < q;) {
            v[k++] = *p;
            p += (*p == '\'') ? 2 : 1;
        }
        v[k] = '\0';
        if (c->nstrs == cap) {
            size_t nc = cap ? cap * 2 : 8;
            char **ns = realloc(c->strs, nc * sizeof *ns);
            if (!ns) {
                free(v);
                return -ENOMEM;
            }
            c->strs = ns;
            cap = nc;
        }
        c->strs[c->nstrs++] = v;
        s = q + 1;
        if (*s == ',') {
            s++;
            continue;
        }
        return *s == ')' ? 0 : RL_ECONFIG;
    }
}

int binlog_schema_table_add_col(binlog_schema_table *t, const binlog_schema_col *spec,
                                rl_err *err)
{
    if (!spec->name || !spec->data_type)
        return rl_err_set(err, RL_ECONFIG, "`%s`.`%s`: column %u without a name or type", t->db,
                          t->table, t->ncols + 1);
    if (t->ncols >= BINLOG_MAX_COLUMNS)
        return rl_err_set(err, RL_ECONFIG, "`%s`.`%s`: more than %d columns", t->db, t->table,
                          BINLOG_MAX_COLUMNS);
    binlog_schema_col *nc = realloc(t->cols, ((size_t)t->ncols + 1) * sizeof *nc);
    if (!nc)
        return rl_err_set(err, -ENOMEM, "out of memory");
    t->cols = nc;
    binlog_schema_col *c = &t->cols[t->ncols];
    memset(c, 0, sizeof *c);
    bool oom = false;
    c->name = dup_or_null(spec->name, &oom);
    c->data_type = dup_or_null(spec->data_type, &oom);
    c->column_type = dup_or_null(spec->column_type ? spec->column_type : spec->data_type, &oom);
    c->charset = dup_or_null(spec->charset, &oom);
    c->collation = dup_or_null(spec->collation, &oom);
    c->collation_id = spec->collation_id;
    c->is_unsigned = spec->is_unsigned;
    c->nullable = spec->nullable;
    c->json = spec->json;
    if (!oom) {
        for (char *p = c->data_type; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    }
    int rc = oom ? -ENOMEM : 0;
    if (rc == 0 && (strcmp(c->data_type, "enum") == 0 || strcmp(c->data_type, "set") == 0))
        rc = parse_strs(c);
    if (rc < 0) {
        col_free(c);
        if (rc == -ENOMEM)
            return rl_err_set(err, -ENOMEM, "out of memory");
        return rl_err_set(err, rc, "`%s`.`%s` column `%s`: cannot read the values of \"%s\"",
                          t->db, t->table, spec->name, spec->column_type ? spec->column_type : "");
    }
    t->ncols++;
    return 0;
}

int binlog_schema_table_add_key(binlog_schema_table *t, const char *column, rl_err *err)
{
    uint32_t i = 0;
    while (i < t->ncols && strcmp(t->cols[i].name, column) != 0)
        i++;
    if (i == t->ncols)
        return rl_err_set(err, RL_ENOTFOUND, "`%s`.`%s`: primary-key column `%s` is not a column",
                          t->db, t->table, column);
    uint32_t *nk = realloc(t->keys, ((size_t)t->nkeys + 1) * sizeof *nk);
    if (!nk)
        return rl_err_set(err, -ENOMEM, "out of memory");
    t->keys = nk;
    t->keys[t->nkeys++] = i;
    return 0;
}

/* ------------------------------------------------------------------ history */

typedef struct sversion {
    binlog_schema_version v;
    binlog_schema_table *def;
    bool pending;
} sversion;

typedef struct stable {
    char *db, *table;
    sversion *vers;
    size_t n, cap;
} stable;

struct binlog_schema {
    binlog_schema_provider prov;
    stable **slots; /* open addressing on (db, table) */
    size_t cap, ntables;
    size_t nversions, npending;
    bool live; /* binlog_schema_set_live */
};

int binlog_schema_new(binlog_schema_t **out, const binlog_schema_provider *provider)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return -ENOMEM;
    if (provider)
        (*out)->prov = *provider;
    return 0;
}

void binlog_schema_free(binlog_schema_t *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->cap; i++) {
        stable *st = h->slots[i];
        if (!st)
            continue;
        for (size_t k = 0; k < st->n; k++)
            binlog_schema_table_free(st->vers[k].def);
        free(st->vers);
        free(st->db);
        free(st->table);
        free(st);
    }
    free(h->slots);
    free(h);
}

static uint32_t name_hash(const char *db, const char *table)
{
    uint32_t a = rl_murmur2(db, strlen(db)), b = rl_murmur2(table, strlen(table));
    return a * 31u ^ b;
}

static stable *table_get(const binlog_schema_t *h, const char *db, const char *table)
{
    if (!h->cap)
        return NULL;
    for (size_t i = name_hash(db, table) & (h->cap - 1);; i = (i + 1) & (h->cap - 1)) {
        stable *st = h->slots[i];
        if (!st || (strcmp(st->db, db) == 0 && strcmp(st->table, table) == 0))
            return st;
    }
}

static int slots_grow(binlog_schema_t *h)
{
    size_t cap = h->cap ? h->cap * 2 : 64;
    stable **s = calloc(cap, sizeof *s);
    if (!s)
        return -ENOMEM;
    for (size_t i = 0; i < h->cap; i++) {
        stable *st = h->slots[i];
        if (!st)
            continue;
        size_t k = name_hash(st->db, st->table) & (cap - 1);
        while (s[k])
            k = (k + 1) & (cap - 1);
        s[k] = st;
    }
    free(h->slots);
    h->slots = s;
    h->cap = cap;
    return 0;
}

static stable *table_make(binlog_schema_t *h, const char *db, const char *table)
{
    stable *st = table_get(h, db, table);
    if (st)
        return st;
    if ((h->ntables + 1) * 2 > h->cap && slots_grow(h) < 0)
        return NULL;
    st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->db = strdup(db);
    st->table = strdup(table);
    if (!st->db || !st->table) {
        free(st->db);
        free(st->table);
        free(st);
        return NULL;
    }
    size_t k = name_hash(db, table) & (h->cap - 1);
    while (h->slots[k])
        k = (k + 1) & (h->cap - 1);
    h->slots[k] = st;
    h->ntables++;
    return st;
}

/* Number after the last '.' of a binlog file name, or -1. */
static long long file_seq(const char *f, size_t *prefix_len)
{
    const char *dot = strrchr(f, '.');
    if (!dot || !dot[1])
        return -1;
    long long v = 0;
    for (const char *p = dot + 1; *p; p++) {
        if (*p < '0' || *p > '9' || v > (1LL << 50))
            return -1;
        v = v * 10 + (*p - '0');
    }
    *prefix_len = (size_t)(dot - f);
    return v;
}

static int pos_cmp(const binlog_pos *a, const binlog_pos *b)
{
    size_t pa = 0, pb = 0;
    long long sa = file_seq(a->file, &pa), sb = file_seq(b->file, &pb);
    int c;
    if (sa >= 0 && sb >= 0 && pa == pb && memcmp(a->file, b->file, pa) == 0)
        c = sa < sb ? -1 : sa > sb;
    else
        c = strcmp(a->file, b->file);
    if (c)
        return c < 0 ? -1 : 1;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

int binlog_schema_add(binlog_schema_t *h, const char *db, const char *table, const binlog_pos *at,
                      const char *gtid, binlog_schema_table *def, bool pending)
{
    stable *st = table_make(h, db, table);
    if (!st) {
        binlog_schema_table_free(def);
        return -ENOMEM;
    }
    sversion *sv;
    if (st->n && pos_cmp(&st->vers[st->n - 1].v.at, at) == 0) {
        sv = &st->vers[st->n - 1];
        binlog_schema_table_free(sv->def);
        if (sv->pending)
            h->npending--;
    } else {
        if (st->n == st->cap) {
            size_t nc = st->cap ? st->cap * 2 : 4;
            sversion *nv = realloc(st->vers, nc * sizeof *nv);
            if (!nv) {
                binlog_schema_table_free(def);
                return -ENOMEM;
            }
            st->vers = nv;
            st->cap = nc;
        }
        sv = &st->vers[st->n++];
        h->nversions++;
    }
    memset(sv, 0, sizeof *sv);
    sv->v.at = *at;
    snprintf(sv->v.gtid, sizeof sv->v.gtid, "%s", gtid ? gtid : "");
    sv->def = def;
    sv->v.def = def;
    sv->pending = pending;
    if (pending)
        h->npending++;
    return 0;
}

const binlog_schema_version *binlog_schema_lookup(const binlog_schema_t *h, const char *db,
                                                  const char *table, const binlog_pos *at)
{
    const stable *st = table_get(h, db, table);
    if (!st || !st->n)
        return NULL;
    if (!at)
        return &st->vers[st->n - 1].v;
    for (size_t k = st->n; k-- > 0;)
        if (pos_cmp(&st->vers[k].v.at, at) <= 0)
            return &st->vers[k].v;
    return NULL;
}

void binlog_schema_set_live(binlog_schema_t *h, bool live)
{
    h->live = live;
}

void binlog_schema_commit(binlog_schema_t *h)
{
    if (!h->npending)
        return;
    for (size_t i = 0; i < h->cap; i++) {
        stable *st = h->slots[i];
        for (size_t k = 0; st && k < st->n; k++)
            st->vers[k].pending = false;
    }
    h->npending = 0;
}

void binlog_schema_rollback(binlog_schema_t *h)
{
    if (!h->npending)
        return;
    for (size_t i = 0; i < h->cap; i++) {
        stable *st = h->slots[i];
        if (!st)
            continue;
        size_t keep = 0;
        for (size_t k = 0; k < st->n; k++) {
            if (st->vers[k].pending) {
                binlog_schema_table_free(st->vers[k].def);
                h->nversions--;
            } else {
                st->vers[keep++] = st->vers[k];
            }
        }
        st->n = keep;
    }
    h->npending = 0;
}

size_t binlog_schema_count(const binlog_schema_t *h)
{
    return h->nversions;
}

int binlog_schema_each_table(const binlog_schema_t *h, const char *db,
                             int (*fn)(void *ctx, const char *table), void *ctx)
{
    for (size_t i = 0; i < h->cap; i++) {
        const stable *st = h->slots[i];
        if (!st || !st->n || strcmp(st->db, db) != 0 || !st->vers[st->n - 1].def)
            continue;
        int rc = fn(ctx, st->table);
        if (rc)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ DDL parser */

enum { TK_END, TK_WORD, TK_QID, TK_STR, TK_PUNCT };

typedef struct sqlscan {
    const uint8_t *p, *end;
    bool in_exec_comment; /* inside a MySQL executable comment (slash-star-bang) */
} sqlscan;

typedef struct sqltok {
    int type;
    char text[256]; /* WORD/QID: the identifier (unquoted); PUNCT: the character */
    size_t len;
} sqltok;

static bool id_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '$' || c >= 0x80;
}

static void scan_space(sqlscan *s)
{
    for (;;) {
        while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' ||
                                 *s->p == '\r' || *s->p == '\f'))
            s->p++;
        size_t left = (size_t)(s->end - s->p);
        if (left >= 2 && s->p[0] == '/' && s->p[1] == '*') {
            const uint8_t *q = s->p + 2;
            /* Executable comments: their text is part of the statement. */
            if (q < s->end && (*q == '!' || (*q == 'M' && q + 1 < s->end && q[1] == '!'))) {
                q += *q == 'M' ? 2 : 1;
                while (q < s->end && *q >= '0' && *q <= '9')
                    q++;
                s->p = q;
                s->in_exec_comment = true;
                continue;
            }
            while (q + 1 < s->end && !(q[0] == '*' && q[1] == '/'))
                q++;
            s->p = q + 1 < s->end ? q + 2 : s->end;
            continue;
        }
        if (s->in_exec_comment && left >= 2 && s->p[0] == '*' && s->p[1] == '/') {
            s->p += 2;
            s->in_exec_comment = false;
            continue;
        }
        if ((left >= 1 && s->p[0] == '#') ||
            (left >= 3 && s->p[0] == '-' && s->p[1] == '-' &&
             (s->p[2] == ' ' || s->p[2] == '\t' || s->p[2] == '\n' || s->p[2] == '\r')) ||
            (left == 2 && s->p[0] == '-' && s->p[1] == '-')) {
            while (s->p < s->end && *s->p != '\n')
                s->p++;
            continue;
        }
        return;
    }
}

static void scan_next(sqlscan *s, sqltok *t)
{
    scan_space(s);
    t->len = 0;
    t->text[0] = '\0';
    if (s->p >= s->end) {
        t->type = TK_END;
        return;
    }
    uint8_t c = *s->p;
    if (c == '`') {
        t->type = TK_QID;
        s->p++;
        while (s->p < s->end) {
            if (*s->p == '`') {
                if (s->p + 1 < s->end && s->p[1] == '`') {
                    s->p++;
                } else {
                    s->p++;
                    break;
                }
            }
            if (t->len + 1 < sizeof t->text)
                t->text[t->len++] = (char)*s->p;
            s->p++;
        }
        t->text[t->len] = '\0';
        return;
    }
    if (c == '\'' || c == '"') {
        t->type = TK_STR;
        s->p++;
        while (s->p < s->end) {
            if (*s->p == '\\' && s->p + 1 < s->end) {
                s->p += 2;
                continue;
            }
            if (*s->p == c) {
                if (s->p + 1 < s->end && s->p[1] == c) {
                    s->p += 2;
                    continue;
                }
                s->p++;
                break;
            }
            s->p++;
        }
        return;
    }
    if (id_char(c)) {
        t->type = TK_WORD;
        while (s->p < s->end && id_char(*s->p)) {
            if (t->len + 1 < sizeof t->text)
                t->text[t->len++] = (char)*s->p;
            s->p++;
        }
        t->text[t->len] = '\0';
        return;
    }
    t->type = TK_PUNCT;
    t->text[0] = (char)c;
    t->text[1] = '\0';
    t->len = 1;
    s->p++;
}

static bool tok_is(const sqltok *t, const char *kw)
{
    return t->type == TK_WORD && strcasecmp(t->text, kw) == 0;
}

static bool tok_punct(const sqltok *t, char c)
{
    return t->type == TK_PUNCT && t->text[0] == c;
}

/* Reads [db.]name starting at t (already scanned); t holds the token after it on return.
 * Returns false when t is not a name. */
static bool scan_name(sqlscan *s, sqltok *t, const char *default_db, char *db, char *table)
{
    if (t->type != TK_WORD && t->type != TK_QID)
        return false;
    char first[256];
    memcpy(first, t->text, t->len + 1);
    scan_next(s, t);
    if (tok_punct(t, '.')) {
        scan_next(s, t);
        if (t->type != TK_WORD && t->type != TK_QID)
            return false;
        snprintf(db, 256, "%s", first);
        snprintf(table, 256, "%s", t->text);
        scan_next(s, t);
        return true;
    }
    snprintf(db, 256, "%s", default_db ? default_db : "");
    snprintf(table, 256, "%s", first);
    return true;
}

typedef struct itemlist {
    binlog_ddl_item *v;
    size_t n, cap;
    bool oom;
} itemlist;

static binlog_ddl_item *item_add(itemlist *l, char kind, const char *db, const char *table)
{
    if (!db[0] || !table[0])
        return NULL; /* no database: nothing to key a version on */
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 4;
        binlog_ddl_item *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) {
            l->oom = true;
            return NULL;
        }
        l->v = nv;
        l->cap = nc;
    }
    binlog_ddl_item *it = &l->v[l->n++];
    memset(it, 0, sizeof *it);
    it->kind = kind;
    snprintf(it->db, sizeof it->db, "%s", db);
    snprintf(it->table, sizeof it->table, "%s", table);
    return it;
}

/* Skips IF [NOT] EXISTS at t. */
static void skip_if_exists(sqlscan *s, sqltok *t)
{
    if (!tok_is(t, "IF"))
        return;
    scan_next(s, t);
    if (tok_is(t, "NOT"))
        scan_next(s, t);
    if (tok_is(t, "EXISTS"))
        scan_next(s, t);
}

/* MariaDB's [WAIT n | NOWAIT] after a table name. */
static void skip_wait(sqlscan *s, sqltok *t)
{
    if (tok_is(t, "NOWAIT")) {
        scan_next(s, t);
    } else if (tok_is(t, "WAIT")) {
        scan_next(s, t);
        scan_next(s, t);
    }
}

/* ALTER TABLE name ...: a top-level RENAME [TO|AS] makes it a rename (RENAME COLUMN, INDEX and
 * KEY do not). */
static void parse_alter(sqlscan *s, sqltok *t, const char *ddb, itemlist *l)
{
    char db[256], table[256];
    if (!scan_name(s, t, ddb, db, table))
        return;
    skip_wait(s, t);
    int depth = 0;
    while (t->type != TK_END) {
        if (tok_punct(t, '('))
            depth++;
        else if (tok_punct(t, ')'))
            depth--;
        else if (depth == 0 && tok_is(t, "RENAME")) {
            scan_next(s, t);
            if (tok_is(t, "COLUMN") || tok_is(t, "INDEX") || tok_is(t, "KEY") ||
                tok_is(t, "CONSTRAINT"))
                continue;
            if (tok_is(t, "TO") || tok_is(t, "AS"))
                scan_next(s, t);
            char ndb[256], ntable[256];
            if (!scan_name(s, t, db, ndb, ntable))
                continue;
            binlog_ddl_item *it = item_add(l, BINLOG_DDL_RENAME, db, table);
            if (it) {
                snprintf(it->new_db, sizeof it->new_db, "%s", ndb);
                snprintf(it->new_table, sizeof it->new_table, "%s", ntable);
            }
            return;
        }
        scan_next(s, t);
    }
    item_add(l, BINLOG_DDL_ALTER, db, table);
}

int binlog_schema_parse_ddl(rl_slice sql, const char *default_db, binlog_ddl_item **items,
                            size_t *n)
{
    *items = NULL;
    *n = 0;
    itemlist l = {0};
    sqlscan s = {sql.p, sql.p + sql.len, false};
    sqltok t;
    char db[256], table[256];
    const char *ddb = default_db ? default_db : "";
    scan_next(&s, &t);
    if (tok_is(&t, "CREATE")) {
        scan_next(&s, &t);
        if (tok_is(&t, "OR")) { /* MariaDB CREATE OR REPLACE */
            scan_next(&s, &t);
            if (!tok_is(&t, "REPLACE"))
                goto done;
            scan_next(&s, &t);
        }
        if (tok_is(&t, "TEMPORARY"))
            goto done; /* not logged as DDL in row format; not a table of the stream */
        if (tok_is(&t, "UNIQUE") || tok_is(&t, "FULLTEXT") || tok_is(&t, "SPATIAL"))
            scan_next(&s, &t);
        if (tok_is(&t, "INDEX")) {
            /* CREATE INDEX i [USING ..] ON t: the primary key cannot change this way, but a
             * version keeps every DDL of the table visible. */
            while (t.type != TK_END && !tok_is(&t, "ON"))
                scan_next(&s, &t);
            if (t.type == TK_END)
                goto done;
            scan_next(&s, &t);
            if (scan_name(&s, &t, ddb, db, table))
                item_add(&l, BINLOG_DDL_ALTER, db, table);
            goto done;
        }
        if (!tok_is(&t, "TABLE"))
            goto done;
        scan_next(&s, &t);
        skip_if_exists(&s, &t);
        if (scan_name(&s, &t, ddb, db, table))
            item_add(&l, BINLOG_DDL_CREATE, db, table);
    } else if (tok_is(&t, "ALTER")) {
        scan_next(&s, &t);
        if (tok_is(&t, "ONLINE"))
            scan_next(&s, &t);
        if (tok_is(&t, "IGNORE"))
            scan_next(&s, &t);
        if (!tok_is(&t, "TABLE"))
            goto done;
        scan_next(&s, &t);
        skip_if_exists(&s, &t);
        parse_alter(&s, &t, ddb, &l);
    } else if (tok_is(&t, "DROP")) {
        scan_next(&s, &t);
        if (tok_is(&t, "DATABASE") || tok_is(&t, "SCHEMA")) {
            scan_next(&s, &t);
            skip_if_exists(&s, &t);
            if (t.type == TK_WORD || t.type == TK_QID) {
                if (l.cap == 0) {
                    l.v = calloc(1, sizeof *l.v);
                    if (!l.v) {
                        l.oom = true;
                        goto done;
                    }
                    l.cap = 1;
                }
                memset(&l.v[0], 0, sizeof l.v[0]);
                l.v[0].kind = BINLOG_DDL_DROP_DB;
                snprintf(l.v[0].db, sizeof l.v[0].db, "%s", t.text);
                l.n = 1;
            }
            goto done;
        }
        if (tok_is(&t, "INDEX")) {
            while (t.type != TK_END && !tok_is(&t, "ON"))
                scan_next(&s, &t);
            if (t.type == TK_END)
                goto done;
            scan_next(&s, &t);
            if (scan_name(&s, &t, ddb, db, table))
                item_add(&l, BINLOG_DDL_ALTER, db, table);
            goto done;
        }
        if (tok_is(&t, "TEMPORARY"))
            goto done;
        if (!tok_is(&t, "TABLE") && !tok_is(&t, "TABLES"))
            goto done;
        scan_next(&s, &t);
        skip_if_exists(&s, &t);
        while (scan_name(&s, &t, ddb, db, table)) {
            item_add(&l, BINLOG_DDL_DROP, db, table);
            if (!tok_punct(&t, ','))
                break;
            scan_next(&s, &t);
        }
    } else if (tok_is(&t, "RENAME")) {
        scan_next(&s, &t);
        if (!tok_is(&t, "TABLE") && !tok_is(&t, "TABLES"))
            goto done;
        scan_next(&s, &t);
        skip_if_exists(&s, &t);
        for (;;) {
            char ndb[256], ntable[256];
            if (!scan_name(&s, &t, ddb, db, table))
                break;
            skip_wait(&s, &t);
            if (!tok_is(&t, "TO"))
                break;
            scan_next(&s, &t);
            if (!scan_name(&s, &t, ddb, ndb, ntable))
                break;
            binlog_ddl_item *it = item_add(&l, BINLOG_DDL_RENAME, db, table);
            if (it) {
                snprintf(it->new_db, sizeof it->new_db, "%s", ndb);
                snprintf(it->new_table, sizeof it->new_table, "%s", ntable);
            }
            if (!tok_punct(&t, ','))
                break;
            scan_next(&s, &t);
        }
    } else if (tok_is(&t, "TRUNCATE")) {
        scan_next(&s, &t);
        if (tok_is(&t, "TABLE"))
            scan_next(&s, &t);
        if (scan_name(&s, &t, ddb, db, table))
            item_add(&l, BINLOG_DDL_TRUNCATE, db, table);
    }
done:
    if (l.oom) {
        free(l.v);
        return -ENOMEM;
    }
    if (l.n == 0) {
        free(l.v);
        return 0;
    }
    *items = l.v;
    *n = l.n;
    return 0;
}

/* ------------------------------------------------------------------ decoder side */

/* Binlog types a DATA_TYPE may be written as (the real type after ENUM/SET/STRING
 * resolution, binlog_col.type). Unknown DATA_TYPEs (plugin types) are not checked. */
static bool type_matches(const char *dt, uint8_t ty)
{
    static const struct {
        const char *name;
        uint8_t t1, t2;
    } map[] = {
        {"tinyint", BINLOG_T_TINY, BINLOG_T_TINY},
        {"bool", BINLOG_T_TINY, BINLOG_T_TINY},
        {"boolean", BINLOG_T_TINY, BINLOG_T_TINY},
        {"smallint", BINLOG_T_SHORT, BINLOG_T_SHORT},
        {"mediumint", BINLOG_T_INT24, BINLOG_T_INT24},
        {"int", BINLOG_T_LONG, BINLOG_T_LONG},
        {"integer", BINLOG_T_LONG, BINLOG_T_LONG},
        {"bigint", BINLOG_T_LONGLONG, BINLOG_T_LONGLONG},
        {"decimal", BINLOG_T_NEWDECIMAL, BINLOG_T_DECIMAL},
        {"numeric", BINLOG_T_NEWDECIMAL, BINLOG_T_DECIMAL},
        {"float", BINLOG_T_FLOAT, BINLOG_T_FLOAT},
        {"double", BINLOG_T_DOUBLE, BINLOG_T_DOUBLE},
        {"real", BINLOG_T_DOUBLE, BINLOG_T_DOUBLE},
        {"bit", BINLOG_T_BIT, BINLOG_T_BIT},
        {"date", BINLOG_T_DATE, BINLOG_T_NEWDATE},
        {"time", BINLOG_T_TIME2, BINLOG_T_TIME},
        {"datetime", BINLOG_T_DATETIME2, BINLOG_T_DATETIME},
        {"timestamp", BINLOG_T_TIMESTAMP2, BINLOG_T_TIMESTAMP},
        {"year", BINLOG_T_YEAR, BINLOG_T_YEAR},
        {"char", BINLOG_T_STRING, BINLOG_T_STRING},
        {"binary", BINLOG_T_STRING, BINLOG_T_STRING},
        {"varchar", BINLOG_T_VARCHAR, BINLOG_T_VAR_STRING},
        {"varbinary", BINLOG_T_VARCHAR, BINLOG_T_VAR_STRING},
        {"tinytext", BINLOG_T_BLOB, BINLOG_T_TINY_BLOB},
        {"text", BINLOG_T_BLOB, BINLOG_T_BLOB},
        {"mediumtext", BINLOG_T_BLOB, BINLOG_T_MEDIUM_BLOB},
        {"longtext", BINLOG_T_BLOB, BINLOG_T_LONG_BLOB},
        {"tinyblob", BINLOG_T_BLOB, BINLOG_T_TINY_BLOB},
        {"blob", BINLOG_T_BLOB, BINLOG_T_BLOB},
        {"mediumblob", BINLOG_T_BLOB, BINLOG_T_MEDIUM_BLOB},
        {"longblob", BINLOG_T_BLOB, BINLOG_T_LONG_BLOB},
        {"json", BINLOG_T_JSON, BINLOG_T_BLOB}, /* MariaDB's JSON is LONGTEXT */
        {"enum", BINLOG_T_ENUM, BINLOG_T_ENUM},
        {"set", BINLOG_T_SET, BINLOG_T_SET},
        {"geometry", BINLOG_T_GEOMETRY, BINLOG_T_GEOMETRY},
        {"point", BINLOG_T_GEOMETRY, BINLOG_T_GEOMETRY},
        {"linestring", BINLOG_T_GEOMETRY, BINLOG_T_GEOMETRY},
        {"polygon", BINLOG_T_GEOMETRY, BINLOG_T_GEOMETRY},
        {"multipoint", BINLOG_T_GEOMETRY, BINLOG_T_GEOMETRY},
        {"multilinestring", BINLOG_T_GEOMETRY, BINLOG_T_GEOMETRY},
        {"multipolygon", BINLOG_T_GEOMETRY, BINLOG_T_GEOMETRY},
        {"geometrycollection", BINLOG_T_GEOMETRY, BINLOG_T_GEOMETRY},
        {"geomcollection", BINLOG_T_GEOMETRY, BINLOG_T_GEOMETRY},
        {"vector", BINLOG_T_VECTOR, BINLOG_T_VECTOR},
        {"inet6", BINLOG_T_STRING, BINLOG_T_STRING}, /* MariaDB fixed binary types */
        {"inet4", BINLOG_T_STRING, BINLOG_T_STRING},
        {"uuid", BINLOG_T_STRING, BINLOG_T_STRING},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(map[i].name, dt) == 0)
            return ty == map[i].t1 || ty == map[i].t2;
    return true;
}

/* Event start position of ev (the key of versions). */
static binlog_pos event_pos(const binlog_decoder_t *dec, const binlog_event *ev)
{
    binlog_pos p;
    memcpy(p.file, dec->file, sizeof p.file);
    if (ev->inner)
        p.pos = ev->src_pos;
    else
        p.pos = ev->log_pos >= ev->size && ev->log_pos ? ev->log_pos - ev->size : dec->pos;
    return p;
}

static void put_str_or_null(rl_buf *b, const char *s)
{
    if (s)
        rl_buf_json_str(b, s, strlen(s));
    else
        rl_buf_puts(b, "null");
}

static void put_table_json(rl_buf *b, const binlog_schema_table *t)
{
    if (!t) {
        rl_buf_puts(b, "null");
        return;
    }
    rl_buf_puts(b, "{\"primaryKeyColumnNames\":[");
    for (uint32_t k = 0; k < t->nkeys; k++) {
        if (k)
            rl_buf_putc(b, ',');
        put_str_or_null(b, t->cols[t->keys[k]].name);
    }
    rl_buf_puts(b, "],\"columns\":[");
    for (uint32_t i = 0; i < t->ncols; i++) {
        const binlog_schema_col *c = &t->cols[i];
        if (i)
            rl_buf_putc(b, ',');
        rl_buf_puts(b, "{\"name\":");
        put_str_or_null(b, c->name);
        rl_buf_puts(b, ",\"typeName\":\"");
        for (const char *p = c->data_type; *p; p++) {
            char ch = *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
            if (ch == '"' || ch == '\\' || (unsigned char)ch < 0x20)
                ch = '_';
            rl_buf_putc(b, ch);
        }
        rl_buf_puts(b, "\",\"typeExpression\":");
        put_str_or_null(b, c->column_type);
        rl_buf_printf(b, ",\"position\":%u,\"optional\":%s,\"unsigned\":%s,\"charsetName\":", i + 1,
                      c->nullable ? "true" : "false", c->is_unsigned ? "true" : "false");
        put_str_or_null(b, c->charset);
        rl_buf_puts(b, ",\"collationName\":");
        put_str_or_null(b, c->collation);
        rl_buf_printf(b, ",\"collationId\":%u,\"json\":%s", c->collation_id,
                      c->json ? "true" : "false");
        if (c->nstrs) {
            rl_buf_puts(b, ",\"enumValues\":[");
            for (uint32_t k = 0; k < c->nstrs; k++) {
                if (k)
                    rl_buf_putc(b, ',');
                put_str_or_null(b, c->strs[k]);
            }
            rl_buf_putc(b, ']');
        }
        rl_buf_putc(b, '}');
    }
    rl_buf_puts(b, "]}");
}

/* Publishes one schema-change event through the caller's on_change (docs/schema.md). */
static int emit(binlog_decoder_t *dec, const binlog_event *ev, const binlog_pos *at,
                const char *type, const char *db, const char *table, const char *pdb,
                const char *ptable, rl_slice ddl, const binlog_schema_table *def, rl_err *err)
{
    rl_buf *k = &dec->schema_key, *v = &dec->schema_value;
    rl_buf_reset(k);
    rl_buf_reset(v);
    rl_buf_puts(k, "{\"databaseName\":");
    rl_buf_json_str(k, db, strlen(db));
    rl_buf_putc(k, '}');
    uint64_t ts = (uint64_t)ev->timestamp * 1000;
    rl_buf_putc(v, '{');
    /* source_json starts with `,"source":{"name":..,"server_id":` */
    rl_buf_append(v, dec->source_json.p + 1, dec->source_json.len - 1);
    rl_buf_put_u64(v, ev->server_id);
    rl_buf_puts(v, ",\"file\":");
    rl_buf_append(v, dec->file_json.p, dec->file_json.len);
    rl_buf_puts(v, ",\"pos\":");
    rl_buf_put_u64(v, at->pos);
    rl_buf_puts(v, ",\"row\":0,\"gtid\":");
    put_str_or_null(v, dec->gtid[0] ? dec->gtid : NULL);
    rl_buf_puts(v, ",\"db\":");
    rl_buf_json_str(v, db, strlen(db));
    rl_buf_puts(v, ",\"table\":");
    rl_buf_json_str(v, table, strlen(table));
    rl_buf_puts(v, ",\"ts_ms\":");
    rl_buf_put_u64(v, ts);
    rl_buf_puts(v, ",\"snapshot\":false},\"op\":\"s\",\"ts_ms\":");
    rl_buf_put_u64(v, ts);
    rl_buf_puts(v, ",\"databaseName\":");
    rl_buf_json_str(v, db, strlen(db));
    rl_buf_puts(v, ",\"ddl\":");
    if (ddl.p)
        rl_buf_json_str(v, ddl.p, ddl.len);
    else
        rl_buf_puts(v, "null");
    rl_buf_puts(v, ",\"tableChanges\":[{\"type\":\"");
    rl_buf_puts(v, type);
    rl_buf_puts(v, "\",\"id\":");
    rl_buf_reset(&dec->schema_tmp);
    rl_buf_printf(&dec->schema_tmp, "%s.%s", db, table);
    rl_buf_json_str(v, dec->schema_tmp.p, dec->schema_tmp.len);
    rl_buf_puts(v, ",\"db\":");
    rl_buf_json_str(v, db, strlen(db));
    rl_buf_puts(v, ",\"tableName\":");
    rl_buf_json_str(v, table, strlen(table));
    if (pdb && ptable) {
        rl_buf_puts(v, ",\"previousDb\":");
        rl_buf_json_str(v, pdb, strlen(pdb));
        rl_buf_puts(v, ",\"previousTableName\":");
        rl_buf_json_str(v, ptable, strlen(ptable));
    }
    rl_buf_puts(v, ",\"table\":");
    put_table_json(v, def);
    rl_buf_puts(v, "}]}");
    if (!rl_buf_ok(k) || !rl_buf_ok(v) || !rl_buf_ok(&dec->schema_tmp))
        return rl_err_set(err, -ENOMEM, "out of memory");
    dec->stats.schema_changes++;
    if (!dec->user_h.on_change)
        return 0;
    binlog_change ch;
    ch.topic = rl_slice_str(dec->topic_prefix);
    ch.key = rl_buf_slice(k);
    ch.value = rl_buf_slice(v);
    ch.ts_ms = (int64_t)ts;
    ch.op = 's';
    int rc = dec->user_h.on_change(dec->user_h.ctx, &ch);
    if (rc < 0)
        return rl_err_set(err, rc, "on_change handler returned %d (%s) for a schema change", rc,
                          rl_strerror(rc));
    return 0;
}

/* Fetches db.table's current definition. *def NULL (and 0) when the table does not exist. */
static int fetch(binlog_decoder_t *dec, const char *db, const char *table,
                 binlog_schema_table **def, rl_err *err)
{
    *def = NULL;
    if (!dec->schema->prov.fetch)
        return 0;
    int rc = dec->schema->prov.fetch(dec->schema->prov.ctx, db, table, def, err);
    if (rc == RL_ENOTFOUND) {
        *def = NULL;
        return 0;
    }
    if (rc < 0)
        return rl_err_wrap(err, rc, "reading the definition of `%s`.`%s`", db, table);
    return 0;
}

/* Records and publishes a new version of db.table (def taken over; NULL = gone). */
static int new_version(binlog_decoder_t *dec, const binlog_event *ev, const binlog_pos *at,
                       const char *type, const char *db, const char *table, const char *pdb,
                       const char *ptable, rl_slice ddl, binlog_schema_table *def, rl_err *err)
{
    int rc = emit(dec, ev, at, type, db, table, pdb, ptable, ddl, def, err);
    if (rc < 0) {
        binlog_schema_table_free(def);
        return rc;
    }
    if (binlog_schema_add(dec->schema, db, table, at, dec->gtid, def, true) < 0)
        return rl_err_set(err, -ENOMEM, "out of memory");
    return 0;
}

typedef struct dropdb_ctx {
    binlog_decoder_t *dec;
    const binlog_event *ev;
    const binlog_pos *at;
    const char *db;
    rl_slice ddl;
    rl_err *err;
    char (*names)[256];
    size_t n, cap;
} dropdb_ctx;

static int collect_table(void *ctx, const char *table)
{
    dropdb_ctx *c = ctx;
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 16;
        char(*nn)[256] = realloc(c->names, nc * sizeof *nn);
        if (!nn)
            return -ENOMEM;
        c->names = nn;
        c->cap = nc;
    }
    snprintf(c->names[c->n++], 256, "%s", table);
    return 0;
}

int binlog__schema_on_query(binlog_decoder_t *dec, const binlog_event *ev, rl_slice db,
                            rl_slice sql, rl_err *err)
{
    char ddb[256];
    snprintf(ddb, sizeof ddb, "%.*s", (int)db.len, (const char *)db.p);
    binlog_ddl_item *items;
    size_t n;
    if (binlog_schema_parse_ddl(sql, ddb, &items, &n) < 0)
        return rl_err_set(err, -ENOMEM, "out of memory");
    if (n == 0)
        return 0;
    binlog_pos at = event_pos(dec, ev);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        binlog_ddl_item *it = &items[i];
        binlog_schema_table *def = NULL;
        switch (it->kind) {
        case BINLOG_DDL_CREATE:
        case BINLOG_DDL_ALTER:
        case BINLOG_DDL_TRUNCATE:
            rc = fetch(dec, it->db, it->table, &def, err);
            if (rc == 0)
                rc = new_version(dec, ev, &at,
                                 it->kind == BINLOG_DDL_CREATE  ? "CREATE"
                                 : it->kind == BINLOG_DDL_ALTER ? "ALTER"
                                                                : "TRUNCATE",
                                 it->db, it->table, NULL, NULL, sql, def, err);
            break;
        case BINLOG_DDL_DROP:
            rc = new_version(dec, ev, &at, "DROP", it->db, it->table, NULL, NULL, sql, NULL, err);
            break;
        case BINLOG_DDL_RENAME:
            rc = fetch(dec, it->new_db, it->new_table, &def, err);
            if (rc == 0)
                rc = new_version(dec, ev, &at, "ALTER", it->new_db, it->new_table, it->db,
                                 it->table, sql, def, err);
            if (rc == 0 && binlog_schema_add(dec->schema, it->db, it->table, &at, dec->gtid, NULL,
                                             true) < 0)
                rc = rl_err_set(err, -ENOMEM, "out of memory");
            break;
        case BINLOG_DDL_DROP_DB: {
            dropdb_ctx c = {0};
            if (binlog_schema_each_table(dec->schema, it->db, collect_table, &c) < 0)
                rc = rl_err_set(err, -ENOMEM, "out of memory");
            for (size_t k = 0; k < c.n && rc == 0; k++)
                rc = new_version(dec, ev, &at, "DROP", it->db, c.names[k], NULL, NULL, sql, NULL,
                                 err);
            free(c.names);
            break;
        }
        default:
            break;
        }
    }
    free(items);
    /* Table maps cached before the DDL are parsed again against the new versions. */
    dec->schema_gen++;
    return rc;
}

int binlog__schema_for_table(binlog_decoder_t *dec, const binlog_event *ev, const binlog_table *t,
                             bool have_names, const binlog_schema_table **out, rl_err *err)
{
    *out = NULL;
    char db[256], table[256];
    snprintf(db, sizeof db, "%.*s", (int)t->db.len, (const char *)t->db.p);
    snprintf(table, sizeof table, "%.*s", (int)t->table.len, (const char *)t->table.p);
    binlog_pos at = event_pos(dec, ev);
    const binlog_schema_version *v = binlog_schema_lookup(
        dec->schema, db, table, dec->file[0] && !dec->schema->live ? &at : NULL);
    bool fetched = false;
    if (!v || !v->def) {
        /* First sight of the table (or the table came back without a DDL seen): its current
         * definition, published so that a restart finds it in the log. */
        binlog_schema_table *def;
        int rc = fetch(dec, db, table, &def, err);
        if (rc < 0)
            return rc;
        if (!def) {
            if (have_names)
                return 0;
            rl_warn("%s at %llu: table `%s`.`%s` has no TABLE_MAP column names and no longer "
                    "exists on the source: its columns are named @1, @2, ... "
                    "(binlog_row_metadata=FULL avoids this; docs/schema.md)",
                    dec->file, (unsigned long long)at.pos, db, table);
            return 0;
        }
        rc = new_version(dec, ev, &at, "CREATE", db, table, NULL, NULL, rl_slice_make(NULL, 0),
                         def, err);
        if (rc < 0)
            return rc;
        v = binlog_schema_lookup(dec->schema, db, table, NULL);
        fetched = true;
    }
    const binlog_schema_table *def = v->def;
    const char *whence = fetched ? "read now from the source" : "recorded";
    rl_err local;
    rl_err *e = have_names ? &local : err;
    int rc = 0;
    if (def->ncols != t->ncols)
        rc = rl_err_set(e, RL_ECORRUPT,
                        "schema mismatch on `%s`.`%s`: the TABLE_MAP has %u columns, the "
                        "schema (%s, valid from %s:%llu) has %u: the table changed after "
                        "this binlog was written; set binlog_row_metadata=FULL on the source "
                        "(docs/schema.md)",
                        db, table, t->ncols, whence, v->at.file, (unsigned long long)v->at.pos,
                        def->ncols);
    for (uint32_t i = 0; rc == 0 && i < t->ncols; i++) {
        if (!type_matches(def->cols[i].data_type, t->cols[i].type))
            rc = rl_err_set(e, RL_ECORRUPT,
                            "schema mismatch on `%s`.`%s` column %u: the TABLE_MAP says %s, "
                            "the schema (%s, valid from %s:%llu) says `%s` %s: the table "
                            "changed after this binlog was written; set "
                            "binlog_row_metadata=FULL on the source (docs/schema.md)",
                            db, table, i + 1, binlog__type_name(t->cols[i].type), whence,
                            v->at.file, (unsigned long long)v->at.pos, def->cols[i].name,
                            def->cols[i].column_type);
    }
    if (rc < 0 && !have_names)
        return rc;
    if (rc < 0) {
        /* The TABLE_MAP names its columns itself (FULL metadata): it decodes without the
         * schema, which then only lends JSON flags, and not from a definition of another
         * time. */
        rl_warn("%s at %llu: %s; the TABLE_MAP's own metadata is used", dec->file,
                (unsigned long long)at.pos, local.msg);
        return 0;
    }
    *out = def;
    return 0;
}

void binlog_decoder_set_schema_commit(binlog_decoder_t *dec, bool by_caller)
{
    dec->schema_caller_commits = by_caller;
}

void binlog_decoder_set_schema(binlog_decoder_t *dec, binlog_schema_t *hist)
{
    dec->schema = hist;
    dec->schema_gen++;
    if (hist)
        binlog_schema_rollback(hist);
}

bool binlog_schema_clause_is_json_valid(const char *clause, const char *column)
{
    if (strncasecmp(clause, "json_valid(`", 12) != 0)
        return false;
    const char *p = clause + 12;
    for (const char *c = column; *c; c++) {
        if (*c == '`') {
            if (p[0] != '`' || p[1] != '`')
                return false;
            p += 2;
            continue;
        }
        if (*p++ != *c)
            return false;
    }
    return strcmp(p, "`)") == 0;
}
