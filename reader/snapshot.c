/*
 * snapshot.c - consistent, chunked, resumable table snapshots aligned with the binlog
 * (reader/snapshot.h, docs/snapshots.md).
 *
 * Opening (one or more connections, all at one binlog point):
 *   MariaDB  [FLUSH TABLES WITH READ LOCK on connection 0 when threads > 1]
 *            per connection: SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ;
 *                            START TRANSACTION WITH CONSISTENT SNAPSHOT;
 *                            SHOW STATUS LIKE 'binlog_snapshot_%'   (all must be equal)
 *            [UNLOCK TABLES]; SELECT BINLOG_GTID_POS(file, pos)
 *            binlog_snapshot_file/position are the binlog coordinates of the snapshot itself
 *            (MariaDB sql/log.cc, set under LOCK_commit_ordered when the snapshot is taken),
 *            so no lock is needed for one connection.
 *   MySQL    FLUSH TABLES WITH READ LOCK; per connection the same START TRANSACTION; then
 *            @@global.gtid_executed and SHOW BINARY LOG STATUS (SHOW MASTER STATUS before
 *            8.2); UNLOCK TABLES (client/mysqldump.cc, --single-transaction --source-data).
 * Reading: reader threads take tables one at a time; a table with a primary key of orderable
 * types is read in key order from its resume key on, written as an OR of ranges
 * (k1 > v1 OR (k1 = v1 AND k2 > v2) ...) which every MariaDB/MySQL version turns into an
 * index range scan: one ordered unbuffered query cut into chunks of chunk_rows as rows arrive
 * (read_ordered), or, when a run reads only max_chunks chunks (on-demand snapshots), one
 * query per chunk with LIMIT (read_chunked); other tables are streamed in one pass with
 * mysql_use_result. Each thread
 * renders a chunk into one of its two buffers and hands it to the thread running
 * binlog_snapshot_run, which calls the callbacks, so callbacks never run concurrently and
 * memory is bounded by 2 chunks per thread.
 * "last": the record last handed out is held back until the next chunk with rows (or the
 * end) arrives, so the very last record of the snapshot can be marked; the progress notices
 * of its chunk are held back with it, so a notice never precedes a row of its chunk.
 */
#include "reader/rows_int.h"
#include "reader/schema.h"
#include "reader/snapshot_int.h"

#include <errno.h>
#include <inttypes.h>
#include <mysql.h>
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

enum {
    SNAP_MAX_THREADS = 64,
    SNAP_DEFAULT_CHUNK = 10000,
    SNAP_MAX_CHUNK = 10000000,
    ER_NO_SUCH_TABLE = 1146,   /* include/mysqld_error.h */
    ER_ACCESS_DENIED = 1227,   /* ER_SPECIFIC_ACCESS_DENIED_ERROR */
    ER_DBACCESS_DENIED = 1044, /* ER_DBACCESS_DENIED_ERROR */
    REC_FIELDS = 5,            /* per record: key off, key len, value off, value len, snap off */
};

/* One chunk of rendered records and the progress notice that follows them. */
typedef struct snap_chunk {
    rl_buf data;
    size_t *recs; /* REC_FIELDS per record */
    size_t nrecs, cap;
    snap_table *t;
    rl_buf token; /* full resume token, NUL-terminated */
    uint64_t rows_done, chunks_done;
    bool table_done, skipped;
} snap_chunk;

typedef struct snap_worker {
    binlog_snapshot_t *snap;
    MYSQL *conn;
    binlog_decoder_t *dec; /* used only for its character-set converters (this thread's) */
    pthread_t th;
    bool started, finished;
    snap_chunk bufs[2];
    int fill;          /* index of the buffer being filled */
    snap_chunk *ready; /* handed to the delivering thread, NULL when consumed */
    size_t *colpos;    /* per column: (offset, length) of its value in the chunk's data */
    size_t colpos_cap;
    rl_buf sql, keyraw; /* query text; raw bytes of the last key read (len-prefixed) */
    rl_buf scratch[2];  /* binlog__snap_value's, for MariaDB JSON columns */
    /* The end of every record of one chunk: the table's tail, the snapshot marker, ts_ms and
     * the closing brace, rendered once per (table, ts_ms) instead of once per row. */
    rl_buf post;
    const snap_table *post_t;
    int64_t post_now;
    bool post_set;
    int rc;
    rl_err err;
} snap_worker;

/* A progress notice held back behind the pending record. */
typedef struct snap_notice {
    snap_table *t;
    char *token;
    uint64_t rows_done, chunks_done;
    bool table_done, skipped;
} snap_notice;

struct binlog_snapshot {
    binlog_snapshot_opts opts;
    char *topic_prefix, *source_name;
    binlog_snapshot_point point;
    MYSQL *conns[SNAP_MAX_THREADS];
    unsigned nconns;
    snap_table *tables;
    size_t ntables;
    rl_buf head; /* `,"source":{"name":..,"server_id":..,"file":..,"pos":..,"row":` */

    /* Run state. */
    bool ran;
    atomic_bool stop;
    pthread_mutex_t lock;
    pthread_cond_t cond_main, cond_worker;
    size_t next_table; /* under lock */
    snap_worker *workers;

    /* Delivery (the run thread only). */
    rl_buf prow; /* pending record: topic, key, value */
    size_t p_topic, p_key, p_val, p_snap;
    bool have_prow;
    rl_buf lastval;
    snap_notice *notices;
    size_t nnotices, notices_cap;
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;
static void lib_init(void)
{
    mysql_library_init(0, NULL, NULL);
}

/* ------------------------------------------------------------------ SQL helpers */

static int sql_err(MYSQL *m, rl_err *err, const char *what)
{
    return rl_err_set(err, RL_ESOURCE, "%s: error %u: %s", what, mysql_errno(m), mysql_error(m));
}

static int query(MYSQL *m, const char *sql, rl_err *err)
{
    if (mysql_real_query(m, sql, strlen(sql)) != 0)
        return sql_err(m, err, sql);
    /* Statements without a result set; drain one if there is. */
    MYSQL_RES *res = mysql_store_result(m);
    if (res)
        mysql_free_result(res);
    else if (mysql_field_count(m) != 0)
        return sql_err(m, err, sql);
    return 0;
}

static int query_res(MYSQL *m, const char *sql, MYSQL_RES **res, rl_err *err)
{
    *res = NULL;
    if (mysql_real_query(m, sql, strlen(sql)) != 0)
        return sql_err(m, err, sql);
    *res = mysql_store_result(m);
    if (!*res)
        return sql_err(m, err, sql);
    return 0;
}

static char *dup_field(const char *p, unsigned long n)
{
    char *s = malloc(n + 1);
    if (s) {
        if (n)
            memcpy(s, p, n);
        s[n] = 0;
    }
    return s;
}

static int connect_one(const binlog_snapshot_opts *o, MYSQL **out, rl_err *err)
{
    *out = NULL;
    MYSQL *m = mysql_init(NULL);
    if (!m)
        return rl_err_set(err, -ENOMEM, "mysql_init: out of memory");
    unsigned timeout = o->source.connect_timeout_s ? o->source.connect_timeout_s : 10;
    bool off = false;
    mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_optionsv(m, MYSQL_OPT_RECONNECT, &off);
    mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    const char *host = o->source.host[0] ? o->source.host : "127.0.0.1";
    unsigned port = o->source.port ? o->source.port : 3306;
    if (!mysql_real_connect(m, host, o->source.user, o->source.password, NULL, port, NULL, 0)) {
        int rc = rl_err_set(err, RL_ESOURCE, "connect to %s:%u as %s: error %u: %s", host, port,
                            o->source.user, mysql_errno(m), mysql_error(m));
        mysql_close(m);
        return rc;
    }
    /* Results in each column's own character set (as the binlog stores them), TIMESTAMP as
     * UTC, CHAR without padding; long timeouts so a slow consumer does not lose the
     * connection in the middle of a streamed table. */
    int rc = query(m,
                   "SET SESSION sql_mode = '', time_zone = '+00:00', net_write_timeout = 3600, "
                   "net_read_timeout = 3600, wait_timeout = 86400, character_set_results = NULL",
                   err);
    if (rc != 0) {
        mysql_close(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* ------------------------------------------------------------------ the snapshot point */

static int start_txn(MYSQL *m, rl_err *err)
{
    int rc = query(m, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", err);
    if (rc == 0)
        rc = query(m, "START TRANSACTION WITH CONSISTENT SNAPSHOT", err);
    return rc;
}

/* MariaDB: binlog_snapshot_file / binlog_snapshot_position of this connection's snapshot. */
static int maria_snapshot_pos(MYSQL *m, binlog_pos *at, rl_err *err)
{
    MYSQL_RES *res;
    int rc = query_res(m, "SHOW STATUS LIKE 'binlog_snapshot_%'", &res, err);
    if (rc != 0)
        return rc;
    bool have_file = false, have_pos = false;
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res))) {
        unsigned long *len = mysql_fetch_lengths(res);
        if (!row[0] || !row[1])
            continue;
        if (strcmp(row[0], "Binlog_snapshot_file") == 0 && len[1] < sizeof at->file) {
            memcpy(at->file, row[1], len[1]);
            at->file[len[1]] = 0;
            have_file = len[1] > 0;
        } else if (strcmp(row[0], "Binlog_snapshot_position") == 0) {
            at->pos = strtoull(row[1], NULL, 10);
            have_pos = true;
        }
    }
    mysql_free_result(res);
    if (!have_file || !have_pos)
        return rl_err_set(err, RL_ESOURCE,
                          "SHOW STATUS LIKE 'binlog_snapshot_%%' gave no binlog position (is "
                          "the binary log enabled?)");
    return 0;
}

static int scalar(MYSQL *m, const char *sql, char *out, size_t cap, rl_err *err)
{
    MYSQL_RES *res;
    int rc = query_res(m, sql, &res, err);
    if (rc != 0)
        return rc;
    MYSQL_ROW row = mysql_fetch_row(res);
    unsigned long *len = row ? mysql_fetch_lengths(res) : NULL;
    out[0] = 0;
    if (row && row[0]) {
        if (len[0] >= cap) {
            mysql_free_result(res);
            return rl_err_set(err, RL_ESOURCE, "%s: %lu bytes of result, at most %zu", sql, len[0],
                              cap - 1);
        }
        memcpy(out, row[0], len[0]);
        out[len[0]] = 0;
    }
    mysql_free_result(res);
    return 0;
}

static int open_mariadb(binlog_snapshot_t *snap, rl_err *err)
{
    int rc;
    bool locked = false;
    if (snap->nconns > 1) {
        rc = query(snap->conns[0], "FLUSH TABLES WITH READ LOCK", err);
        if (rc != 0) {
            unsigned code = mysql_errno(snap->conns[0]);
            if (code != ER_ACCESS_DENIED && code != ER_DBACCESS_DENIED)
                return rc;
            rl_warn("snapshot: FLUSH TABLES WITH READ LOCK refused (%s): the RELOAD privilege is "
                    "needed to align %u connections; reading with one connection",
                    err ? err->msg : "", snap->nconns);
            for (unsigned i = 1; i < snap->nconns; i++) {
                mysql_close(snap->conns[i]);
                snap->conns[i] = NULL;
            }
            snap->nconns = 1;
            if (err)
                memset(err, 0, sizeof *err);
        } else {
            locked = true;
        }
    }
    for (unsigned i = 0; i < snap->nconns; i++) {
        binlog_pos at = {{0}, 0};
        if ((rc = start_txn(snap->conns[i], err)) != 0 ||
            (rc = maria_snapshot_pos(snap->conns[i], &at, err)) != 0)
            goto out;
        if (i == 0) {
            snap->point.at = at;
        } else if (strcmp(at.file, snap->point.at.file) != 0 || at.pos != snap->point.at.pos) {
            rc = rl_err_set(err, RL_ESOURCE,
                            "snapshot connections disagree: %s:%llu on the first, %s:%llu on "
                            "connection %u",
                            snap->point.at.file, (unsigned long long)snap->point.at.pos, at.file,
                            (unsigned long long)at.pos, i + 1);
            goto out;
        }
    }
    if (locked) {
        locked = false;
        if ((rc = query(snap->conns[0], "UNLOCK TABLES", err)) != 0)
            goto out;
    }
    char sql[512 + 2 * sizeof snap->point.at.file];
    char esc[2 * sizeof snap->point.at.file + 1];
    mysql_real_escape_string(snap->conns[0], esc, snap->point.at.file,
                             (unsigned long)strlen(snap->point.at.file));
    snprintf(sql, sizeof sql, "SELECT BINLOG_GTID_POS('%s', %llu)", esc,
             (unsigned long long)snap->point.at.pos);
    rc = scalar(snap->conns[0], sql, snap->point.gtid_state, sizeof snap->point.gtid_state, err);
out:
    if (locked) {
        rl_err ignore;
        (void)query(snap->conns[0], "UNLOCK TABLES", &ignore);
    }
    return rc;
}

static int open_mysql(binlog_snapshot_t *snap, rl_err *err)
{
    /* LOCK INSTANCE FOR BACKUP does not block commits, so it cannot freeze the binlog
     * position while the transactions start: only the global read lock aligns them. */
    int rc = query(snap->conns[0], "FLUSH TABLES WITH READ LOCK", err);
    if (rc != 0)
        return rl_err_wrap(err, rc,
                           "MySQL snapshot needs FLUSH TABLES WITH READ LOCK (RELOAD privilege)");
    for (unsigned i = 0; i < snap->nconns && rc == 0; i++)
        rc = start_txn(snap->conns[i], err);
    if (rc == 0)
        rc = scalar(snap->conns[0], "SELECT @@global.gtid_executed", snap->point.gtid_state,
                    sizeof snap->point.gtid_state, err);
    if (rc == 0) {
        MYSQL_RES *res = NULL;
        rl_err e2;
        rc = query_res(snap->conns[0], "SHOW BINARY LOG STATUS", &res, &e2);
        if (rc != 0)
            rc = query_res(snap->conns[0], "SHOW MASTER STATUS", &res, err);
        if (rc == 0) {
            MYSQL_ROW row = mysql_fetch_row(res);
            unsigned long *len = row ? mysql_fetch_lengths(res) : NULL;
            if (!row || !row[0] || !row[1] || len[0] >= sizeof snap->point.at.file) {
                rc = rl_err_set(err, RL_ESOURCE,
                                "SHOW MASTER STATUS gave no binlog position "
                                "(is the binary log enabled?)");
            } else {
                memcpy(snap->point.at.file, row[0], len[0]);
                snap->point.at.file[len[0]] = 0;
                snap->point.at.pos = strtoull(row[1], NULL, 10);
            }
            mysql_free_result(res);
        }
    }
    /* gtid_executed lists intervals with newlines after the commas. */
    char *w = snap->point.gtid_state;
    for (const char *r = snap->point.gtid_state; *r; r++)
        if (*r != '\n' && *r != '\r')
            *w++ = *r;
    *w = 0;
    rl_err ignore;
    (void)query(snap->conns[0], "UNLOCK TABLES", &ignore);
    return rc;
}

/* ------------------------------------------------------------------ catalog */

static void table_free(snap_table *t)
{
    for (uint32_t i = 0; i < t->ncols; i++) {
        free(t->cols[i].name);
        free(t->cols[i].charset);
        free(t->cols[i].collation);
    }
    free(t->cols);
    free(t->keys);
    free(t->db);
    free(t->name);
    free(t->select_sql);
    free(t->order_sql);
    rl_buf_free(&t->strs);
    rl_buf_free(&t->token);
}

static int cmp_table(const char *db, const char *name, const snap_table *t)
{
    int c = strcmp(db, t->db);
    return c ? c : strcmp(name, t->name);
}

static int table_sort_cmp(const void *a, const void *b)
{
    const snap_table *x = a, *y = b;
    return cmp_table(x->db, x->name, y);
}

static snap_table *table_find(binlog_snapshot_t *snap, const char *db, const char *name)
{
    size_t lo = 0, hi = snap->ntables;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_table(db, name, &snap->tables[mid]);
        if (c == 0)
            return &snap->tables[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static const char *const SYSTEM_DBS = "('mysql','sys','information_schema','performance_schema')";

static int compile_filter(const char *re, regex_t *out, bool *have, const char *what, rl_err *err)
{
    *have = false;
    if (!re || !*re)
        return 0;
    size_t n = strlen(re);
    char *anch = malloc(n + 5);
    if (!anch)
        return rl_err_set(err, -ENOMEM, "out of memory");
    snprintf(anch, n + 5, "^(%s)$", re);
    int r = regcomp(out, anch, REG_EXTENDED | REG_NOSUB);
    free(anch);
    if (r != 0) {
        char msg[128];
        regerror(r, out, msg, sizeof msg);
        return rl_err_set(err, RL_ECONFIG, "%s regex '%s': %s", what, re, msg);
    }
    *have = true;
    return 0;
}

static int list_tables(binlog_snapshot_t *snap, rl_err *err)
{
    regex_t inc, exc;
    bool have_inc = false, have_exc = false;
    MYSQL_RES *res = NULL;
    rl_buf name = RL_BUF_INIT;
    int rc = compile_filter(snap->opts.include, &inc, &have_inc, "include", err);
    if (rc == 0)
        rc = compile_filter(snap->opts.exclude, &exc, &have_exc, "exclude", err);
    if (rc != 0)
        goto out;
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_ROWS FROM information_schema.TABLES WHERE "
             "TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN %s",
             SYSTEM_DBS);
    if ((rc = query_res(snap->conns[0], sql, &res, err)) != 0)
        goto out;
    size_t cap = mysql_num_rows(res);
    snap->tables = calloc(cap ? cap : 1, sizeof *snap->tables);
    if (!snap->tables) {
        rc = rl_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res))) {
        unsigned long *len = mysql_fetch_lengths(res);
        if (!row[0] || !row[1])
            continue;
        rl_buf_reset(&name);
        rl_buf_append(&name, row[0], len[0]);
        rl_buf_putc(&name, '.');
        rl_buf_append(&name, row[1], len[1]);
        const char *full = rl_buf_cstr(&name);
        if (!full) {
            rc = rl_err_set(err, -ENOMEM, "out of memory");
            goto out;
        }
        if ((have_inc && regexec(&inc, full, 0, NULL, 0) != 0) ||
            (have_exc && regexec(&exc, full, 0, NULL, 0) == 0))
            continue;
        snap_table *t = &snap->tables[snap->ntables];
        t->db = dup_field(row[0], len[0]);
        t->name = dup_field(row[1], len[1]);
        t->rows_est = row[2] ? strtoull(row[2], NULL, 10) : 0;
        snap->ntables++;
        if (!t->db || !t->name) {
            rc = rl_err_set(err, -ENOMEM, "out of memory");
            goto out;
        }
    }
    qsort(snap->tables, snap->ntables, sizeof *snap->tables, table_sort_cmp);
out:
    if (res)
        mysql_free_result(res);
    if (have_inc)
        regfree(&inc);
    if (have_exc)
        regfree(&exc);
    rl_buf_free(&name);
    return rc;
}

static bool type_is(const char *dt, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(dt, *list) == 0)
            return true;
    return false;
}

/* Column kind from information_schema.COLUMNS (docs/events.md, per type). Returns 0 or
 * RL_EUNSUPPORTED. */
static int classify(snap_table *t, snap_col *c, const char *dt, const char *ctype, rl_err *err)
{
    static const char *const ints[] = {"tinyint", "smallint", "mediumint", "int", "bigint", NULL};
    static const char *const texts[] = {"char",       "varchar",  "tinytext", "text",
                                        "mediumtext", "longtext", NULL};
    static const char *const bytes[] = {"binary",     "varbinary", "tinyblob", "blob",
                                        "mediumblob", "longblob",  NULL};
    static const char *const geoms[] = {
        "geometry",        "point",        "linestring",         "polygon", "multipoint",
        "multilinestring", "multipolygon", "geometrycollection", NULL};
    bool key = false;
    if (type_is(dt, ints)) {
        c->kind = SNAP_K_INT;
        key = true;
    } else if (strcmp(dt, "decimal") == 0) {
        c->kind = SNAP_K_DECIMAL;
        key = true;
    } else if (strcmp(dt, "float") == 0) {
        c->kind = SNAP_K_FLOAT;
    } else if (strcmp(dt, "double") == 0) {
        c->kind = SNAP_K_DOUBLE;
    } else if (strcmp(dt, "date") == 0) {
        c->kind = SNAP_K_DATE;
        key = true;
    } else if (strcmp(dt, "time") == 0) {
        c->kind = SNAP_K_TIME;
        key = true;
    } else if (strcmp(dt, "datetime") == 0) {
        c->kind = SNAP_K_DATETIME;
        key = true;
    } else if (strcmp(dt, "timestamp") == 0) {
        c->kind = SNAP_K_TIMESTAMP;
        key = true;
    } else if (strcmp(dt, "year") == 0) {
        c->kind = SNAP_K_YEAR;
        key = true;
    } else if (strcmp(dt, "json") == 0) {
        /* MySQL's JSON type (no character set in information_schema): its text, as a string.
         * The decoder cannot read MySQL binary JSON yet (docs/events.md), so these records
         * have no binlog counterpart to match. */
        c->kind = SNAP_K_TEXT;
    } else if (type_is(dt, texts)) {
        /* A text type with the binary character set is bytes (collation 63 in the binlog). */
        c->kind = c->charset && strcmp(c->charset, "binary") != 0 ? SNAP_K_TEXT : SNAP_K_BYTES;
        key = true;
    } else if (type_is(dt, bytes) || type_is(dt, geoms)) {
        c->kind = SNAP_K_BYTES;
        key = !type_is(dt, geoms);
    } else if (strcmp(dt, "bit") == 0) {
        c->kind = SNAP_K_BIT;
        unsigned long bits = 1;
        const char *lp = strchr(ctype, '(');
        if (lp)
            bits = strtoul(lp + 1, NULL, 10);
        if (bits < 1 || bits > 64)
            return rl_err_set(err, RL_EUNSUPPORTED, "`%s`.`%s` column `%s`: %s", t->db, t->name,
                              c->name, ctype);
        c->bits = (uint32_t)bits;
    } else if (strcmp(dt, "enum") == 0) {
        c->kind = SNAP_K_ENUM;
    } else if (strcmp(dt, "set") == 0) {
        c->kind = SNAP_K_SET;
    } else {
        return rl_err_set(err, RL_EUNSUPPORTED,
                          "`%s`.`%s` column `%s` of type %s: the binlog decoder has no "
                          "rendering for it, so a snapshot cannot match the stream",
                          t->db, t->name, c->name, ctype);
    }
    c->latin1 = c->charset && strncmp(c->charset, "latin1", 6) == 0;
    c->keyset_ok = key;
    if ((c->kind == SNAP_K_ENUM || c->kind == SNAP_K_SET) && c->charset && !c->latin1) {
        /* binary: ENUM/SET labels of a binary collation stay text, as in the decoder. */
        static const char *const utf8[] = {"utf8mb4", "utf8mb3", "utf8", "ascii", "binary", NULL};
        /* Labels in other character sets (ucs2, gbk, ...): the server converts them to UTF-8
         * (labels are defined text, they always convert; the SET separator of a wide
         * character set is not the byte ','). */
        if (!type_is(c->charset, utf8))
            c->convert = true;
    }
    return 0;
}

static int load_columns(binlog_snapshot_t *snap, rl_err *err)
{
    MYSQL_RES *res = NULL;
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, "
             "CHARACTER_SET_NAME, COLLATION_NAME, (SELECT ID FROM information_schema.COLLATIONS "
             "l WHERE l.COLLATION_NAME = c.COLLATION_NAME) FROM information_schema.COLUMNS c "
             "WHERE TABLE_SCHEMA NOT IN %s ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION",
             SYSTEM_DBS);
    int rc = query_res(snap->conns[0], sql, &res, err);
    if (rc != 0)
        return rc;
    MYSQL_ROW row;
    char dt[64], ctype[64];
    while ((row = mysql_fetch_row(res))) {
        unsigned long *len = mysql_fetch_lengths(res);
        if (!row[0] || !row[1] || !row[2] || !row[3] || !row[4])
            continue;
        snap_table *t = table_find(snap, row[0], row[1]);
        if (!t)
            continue;
        if (t->ncols >= BINLOG_MAX_COLUMNS) {
            rc = rl_err_set(err, RL_ESOURCE, "`%s`.`%s`: more than %d columns", t->db, t->name,
                            BINLOG_MAX_COLUMNS);
            goto out;
        }
        snap_col *nc = realloc(t->cols, (t->ncols + 1) * sizeof *nc);
        if (!nc) {
            rc = rl_err_set(err, -ENOMEM, "out of memory");
            goto out;
        }
        t->cols = nc;
        snap_col *c = &t->cols[t->ncols++];
        memset(c, 0, sizeof *c);
        c->name = dup_field(row[2], len[2]);
        c->charset = row[5] ? dup_field(row[5], len[5]) : NULL;
        c->collation = row[6] ? dup_field(row[6], len[6]) : NULL;
        if (!c->name || (row[5] && !c->charset) || (row[6] && !c->collation)) {
            rc = rl_err_set(err, -ENOMEM, "out of memory");
            goto out;
        }
        snprintf(dt, sizeof dt, "%.*s", (int)len[3], row[3]);
        snprintf(ctype, sizeof ctype, "%.*s", (int)len[4], row[4]);
        for (char *q = dt; *q; q++)
            if (*q >= 'A' && *q <= 'Z')
                *q = (char)(*q - 'A' + 'a');
        /* The decoder's character set of the collation: text is converted by the decoder's
         * own code (binlog__put_charset_text), so both agree byte for byte. */
        c->cs = row[7] ? binlog__charset_of((uint32_t)strtoul(row[7], NULL, 10)) : 0;
        if ((rc = classify(t, c, dt, ctype, err)) != 0)
            goto out;
    }
out:
    mysql_free_result(res);
    return rc;
}

/* MariaDB JSON columns (LONGTEXT with CHECK (json_valid(`c`))), marked as the stream marks
 * them with source.schema_history on (server/rowlogd_schema.c reads the same view with the
 * same rule), so that their values render as JSON, not strings. Returns 0 or an error. */
static int load_json_checks(binlog_snapshot_t *snap, rl_err *err)
{
    MYSQL_RES *res = NULL;
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CHECK_CLAUSE FROM "
             "information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA NOT IN %s",
             SYSTEM_DBS);
    int rc = query_res(snap->conns[0], sql, &res, err);
    if (rc != 0)
        return rc;
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res))) {
        if (!row[0] || !row[1] || !row[2])
            continue;
        snap_table *t = table_find(snap, row[0], row[1]);
        for (uint32_t i = 0; t && i < t->ncols; i++)
            if (t->cols[i].kind == SNAP_K_TEXT &&
                binlog_schema_clause_is_json_valid(row[2], t->cols[i].name))
                t->cols[i].json = true;
    }
    mysql_free_result(res);
    return 0;
}

/* One index column from information_schema.STATISTICS, in the order the server lists them
 * (table by table, index by index in the server's key order). */
typedef struct idx_row {
    snap_table *t;
    char *index;
    bool usable; /* unique, NOT NULL, whole column (no prefix) */
    unsigned long seq;
    uint32_t ci;
    size_t ord; /* arrival order */
} idx_row;

static int idx_row_cmp(const void *a, const void *b)
{
    const idx_row *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->ord < y->ord ? -1 : x->ord > y->ord;
}

/* The key the binlog's table metadata names (SIMPLE_PRIMARY_KEY, docs/events.md): the
 * PRIMARY KEY, or without one the first UNIQUE index whose columns are all NOT NULL, which
 * the server promotes to primary key (MariaDB sql/table.cc and mysql-server sql/table.cc
 * open_binary_frm/TABLE_SHARE::primary_key; keys are sorted PRIMARY, UNIQUE NOT NULL, ...
 * by sql_table.cc sort_keys, the order STATISTICS lists them in). */
static int choose_key(snap_table *t, const idx_row *rows, size_t n, rl_err *err)
{
    const char *pick = NULL;
    for (size_t i = 0; i < n && !pick; i++)
        if (rows[i].t == t && strcmp(rows[i].index, "PRIMARY") == 0)
            pick = "PRIMARY";
    for (size_t i = 0; i < n && !pick; i++) {
        if (rows[i].t != t)
            continue;
        bool ok = true;
        for (size_t j = 0; j < n; j++)
            if (rows[j].t == t && strcmp(rows[j].index, rows[i].index) == 0 && !rows[j].usable)
                ok = false;
        if (ok)
            pick = rows[i].index;
    }
    if (!pick)
        return 0;
    t->keys = calloc(t->ncols, sizeof *t->keys);
    if (!t->keys)
        return rl_err_set(err, -ENOMEM, "out of memory");
    uint32_t count = 0;
    for (size_t i = 0; i < n; i++) {
        if (rows[i].t != t || strcmp(rows[i].index, pick) != 0)
            continue;
        if (rows[i].seq < 1 || rows[i].seq > t->ncols)
            return rl_err_set(err, RL_ESOURCE, "`%s`.`%s`: key %s column %lu of %u", t->db, t->name,
                              pick, rows[i].seq, t->ncols);
        t->keys[rows[i].seq - 1] = rows[i].ci;
        count++;
        if (rows[i].seq > t->nkeys)
            t->nkeys = (uint32_t)rows[i].seq;
    }
    if (count != t->nkeys)
        return rl_err_set(err, RL_ESOURCE, "`%s`.`%s`: key %s lists %u columns up to number %u",
                          t->db, t->name, pick, count, t->nkeys);
    return 0;
}

static int load_keys(binlog_snapshot_t *snap, rl_err *err)
{
    MYSQL_RES *res = NULL;
    idx_row *rows = NULL;
    size_t n = 0;
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, "
             "COLUMN_NAME, NULLABLE, SUB_PART FROM information_schema.STATISTICS WHERE "
             "NON_UNIQUE = 0 AND TABLE_SCHEMA NOT IN %s",
             SYSTEM_DBS);
    int rc = query_res(snap->conns[0], sql, &res, err);
    if (rc != 0)
        return rc;
    size_t cap = mysql_num_rows(res);
    rows = calloc(cap ? cap : 1, sizeof *rows);
    if (!rows) {
        rc = rl_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res)) && n < cap) {
        unsigned long *len = mysql_fetch_lengths(res);
        if (!row[0] || !row[1] || !row[2] || !row[4] || !row[5])
            continue;
        snap_table *t = table_find(snap, row[0], row[1]);
        if (!t || !t->ncols)
            continue;
        uint32_t ci = 0;
        while (ci < t->ncols && strcmp(t->cols[ci].name, row[5]) != 0)
            ci++;
        if (ci == t->ncols) {
            rc = rl_err_set(err, RL_ESOURCE,
                            "`%s`.`%s`: index column `%s` is not among the columns (changed "
                            "during the snapshot?)",
                            t->db, t->name, row[5]);
            goto out;
        }
        idx_row *r = &rows[n++];
        r->t = t;
        r->index = dup_field(row[2], len[2]);
        if (!r->index) {
            rc = rl_err_set(err, -ENOMEM, "out of memory");
            goto out;
        }
        r->seq = strtoul(row[4], NULL, 10);
        r->ci = ci;
        r->usable = (!row[6] || strcmp(row[6], "YES") != 0) && !row[7];
        r->ord = n - 1;
    }
    /* Each table's rows together, in arrival order. */
    qsort(rows, n, sizeof *rows, idx_row_cmp);
    for (size_t i = 0; i < n && rc == 0;) {
        size_t j = i;
        while (j < n && rows[j].t == rows[i].t)
            j++;
        rc = choose_key(rows[i].t, rows + i, j - i, err);
        i = j;
    }
out:
    for (size_t i = 0; i < n; i++)
        free(rows[i].index);
    free(rows);
    mysql_free_result(res);
    return rc;
}

/* Per-table strings and queries, once the point is known. */
static int table_prepare(binlog_snapshot_t *snap, snap_table *t, rl_err *err)
{
    rl_buf *s = &t->strs;
    rl_buf q = RL_BUF_INIT;
    if (t->ncols == 0)
        return rl_err_set(err, RL_ESOURCE, "`%s`.`%s` has no columns (dropped while opening?)",
                          t->db, t->name);
    t->topic_off = (uint32_t)s->len;
    binlog__put_topic(s, snap->topic_prefix, rl_slice_make(t->db, strlen(t->db)),
                      rl_slice_make(t->name, strlen(t->name)));
    t->topic_len = (uint32_t)(s->len - t->topic_off);
    for (uint32_t i = 0; i < t->ncols; i++) {
        snap_col *c = &t->cols[i];
        c->name_off = (uint32_t)s->len;
        rl_buf_json_str(s, c->name, strlen(c->name));
        rl_buf_putc(s, ':');
        c->name_len = (uint32_t)(s->len - c->name_off);
    }
    t->tail_off = (uint32_t)s->len;
    rl_buf_puts(s, ",\"gtid\":");
    if (snap->point.gtid_state[0])
        rl_buf_json_str(s, snap->point.gtid_state, strlen(snap->point.gtid_state));
    else
        rl_buf_puts(s, "null");
    rl_buf_puts(s, ",\"db\":");
    rl_buf_json_str(s, t->db, strlen(t->db));
    rl_buf_puts(s, ",\"table\":");
    rl_buf_json_str(s, t->name, strlen(t->name));
    rl_buf_puts(s, ",\"ts_ms\":");
    rl_buf_put_i64(s, snap->point.ts_ms);
    rl_buf_puts(s, ",\"snapshot\":");
    t->tail_len = (uint32_t)(s->len - t->tail_off);

    t->chunked = t->nkeys > 0;
    for (uint32_t k = 0; k < t->nkeys; k++)
        if (!t->cols[t->keys[k]].keyset_ok)
            t->chunked = false;
    if (t->nkeys && !t->chunked)
        rl_warn("snapshot: `%s`.`%s`: a primary-key column type cannot be paginated; the table "
                "is read in one streamed pass",
                t->db, t->name);
    rl_buf_puts(&q, "SELECT ");
    for (uint32_t i = 0; i < t->ncols; i++) {
        if (i)
            rl_buf_putc(&q, ',');
        if (t->cols[i].convert) {
            rl_buf_puts(&q, "CONVERT(");
            binlog__snap_ident(&q, t->cols[i].name);
            rl_buf_puts(&q, " USING utf8mb4)");
        } else if (t->cols[i].kind == SNAP_K_FLOAT) {
            rl_buf_puts(&q, "CAST(");
            binlog__snap_ident(&q, t->cols[i].name);
            rl_buf_puts(&q, " AS DOUBLE)");
        } else {
            binlog__snap_ident(&q, t->cols[i].name);
        }
    }
    rl_buf_puts(&q, " FROM ");
    binlog__snap_ident(&q, t->db);
    rl_buf_putc(&q, '.');
    binlog__snap_ident(&q, t->name);
    const char *sel = rl_buf_cstr(&q);
    t->select_sql = sel ? strdup(sel) : NULL;
    rl_buf_reset(&q);
    if (t->chunked) {
        rl_buf_puts(&q, " ORDER BY ");
        for (uint32_t k = 0; k < t->nkeys; k++) {
            if (k)
                rl_buf_putc(&q, ',');
            binlog__snap_ident(&q, t->cols[t->keys[k]].name);
        }
    }
    const char *ord = rl_buf_cstr(&q);
    t->order_sql = ord ? strdup(ord) : NULL;
    rl_buf_free(&q);
    if (!rl_buf_ok(s) || s->len > UINT32_MAX || !t->select_sql || !t->order_sql)
        return rl_err_set(err, -ENOMEM, "out of memory");
    return 0;
}

/* ------------------------------------------------------------------ open / close */

int binlog_snapshot_open(binlog_snapshot_t **out, const binlog_snapshot_opts *opts, rl_err *err)
{
    *out = NULL;
    unsigned threads = opts->threads ? opts->threads : 1;
    unsigned chunk = opts->chunk_rows ? opts->chunk_rows : SNAP_DEFAULT_CHUNK;
    if (threads > SNAP_MAX_THREADS || chunk > SNAP_MAX_CHUNK)
        return rl_err_set(err, RL_ECONFIG, "snapshot threads %u (1-%d) or chunk rows %u (1-%d)",
                          threads, SNAP_MAX_THREADS, chunk, SNAP_MAX_CHUNK);
    pthread_once(&lib_once, lib_init);
    binlog_snapshot_t *snap = calloc(1, sizeof *snap);
    if (!snap)
        return rl_err_set(err, -ENOMEM, "out of memory");
    int rc;
    snap->opts = *opts;
    snap->opts.threads = threads;
    snap->opts.chunk_rows = chunk;
    snap->opts.include = snap->opts.exclude = NULL; /* used only here */
    const char *prefix = opts->topic_prefix ? opts->topic_prefix : "rowlog";
    snap->topic_prefix = strdup(prefix);
    snap->source_name = strdup(opts->source_name ? opts->source_name : prefix);
    pthread_mutex_init(&snap->lock, NULL);
    pthread_cond_init(&snap->cond_main, NULL);
    pthread_cond_init(&snap->cond_worker, NULL);
    atomic_init(&snap->stop, false);
    if (!snap->topic_prefix || !snap->source_name) {
        rc = rl_err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    for (unsigned i = 0; i < threads; i++) {
        if ((rc = connect_one(opts, &snap->conns[i], err)) != 0)
            goto fail;
        snap->nconns++;
    }
    char version[128], sid[32];
    if ((rc = scalar(snap->conns[0], "SELECT VERSION()", version, sizeof version, err)) != 0 ||
        (rc = scalar(snap->conns[0], "SELECT @@server_id", sid, sizeof sid, err)) != 0)
        goto fail;
    snap->point.mariadb = strstr(version, "MariaDB") != NULL;
    snap->point.server_id = (uint32_t)strtoul(sid, NULL, 10);
    snap->point.ts_ms = rl_now_ms();
    rc = snap->point.mariadb ? open_mariadb(snap, err) : open_mysql(snap, err);
    if (rc != 0)
        goto fail;
    snap->point.connections = snap->nconns;

    snap->opts.include = opts->include;
    snap->opts.exclude = opts->exclude;
    rc = list_tables(snap, err);
    snap->opts.include = snap->opts.exclude = NULL;
    if (rc != 0 || (rc = load_columns(snap, err)) != 0 || (rc = load_keys(snap, err)) != 0)
        goto fail;
    if (snap->point.mariadb && opts->source.schema_history &&
        (rc = load_json_checks(snap, err)) != 0)
        goto fail;
    for (size_t i = 0; i < snap->ntables; i++)
        if ((rc = table_prepare(snap, &snap->tables[i], err)) != 0)
            goto fail;

    rl_buf *h = &snap->head;
    rl_buf_puts(h, ",\"source\":{\"name\":");
    rl_buf_json_str(h, snap->source_name, strlen(snap->source_name));
    rl_buf_puts(h, ",\"server_id\":");
    rl_buf_put_u64(h, snap->point.server_id);
    rl_buf_puts(h, ",\"file\":");
    rl_buf_json_str(h, snap->point.at.file, strlen(snap->point.at.file));
    rl_buf_puts(h, ",\"pos\":");
    rl_buf_put_u64(h, snap->point.at.pos);
    rl_buf_puts(h, ",\"row\":");
    if (!rl_buf_ok(h)) {
        rc = rl_err_set(err, -ENOMEM, "out of memory");
        goto fail;
    }
    rl_info("snapshot: %u connection(s) at %s:%llu gtid '%s', %zu tables", snap->nconns,
            snap->point.at.file, (unsigned long long)snap->point.at.pos, snap->point.gtid_state,
            snap->ntables);
    *out = snap;
    return 0;
fail:
    binlog_snapshot_close(snap);
    return rc;
}

const binlog_snapshot_point *binlog_snapshot_get_point(const binlog_snapshot_t *snap)
{
    return &snap->point;
}

size_t binlog_snapshot_table_count(const binlog_snapshot_t *snap)
{
    return snap->ntables;
}

int binlog_snapshot_table(const binlog_snapshot_t *snap, size_t i, binlog_snapshot_table_info *info)
{
    if (i >= snap->ntables)
        return RL_ENOTFOUND;
    const snap_table *t = &snap->tables[i];
    info->db = t->db;
    info->table = t->name;
    info->topic = rl_slice_make(t->strs.p + t->topic_off, t->topic_len);
    info->rows_estimated = t->rows_est;
    info->key_columns = t->nkeys;
    info->chunked = t->chunked;
    info->resumed = t->resumed;
    return 0;
}

void binlog_snapshot_interrupt(binlog_snapshot_t *snap)
{
    atomic_store(&snap->stop, true);
    pthread_mutex_lock(&snap->lock);
    pthread_cond_broadcast(&snap->cond_main);
    pthread_cond_broadcast(&snap->cond_worker);
    pthread_mutex_unlock(&snap->lock);
}

void binlog_snapshot_close(binlog_snapshot_t *snap)
{
    if (!snap)
        return;
    for (unsigned i = 0; i < SNAP_MAX_THREADS; i++) {
        if (!snap->conns[i])
            continue;
        /* The snapshot only read: ending its transaction changes nothing. */
        (void)mysql_real_query(snap->conns[i], "ROLLBACK", 8);
        mysql_close(snap->conns[i]);
    }
    for (size_t i = 0; i < snap->ntables; i++)
        table_free(&snap->tables[i]);
    free(snap->tables);
    free(snap->topic_prefix);
    free(snap->source_name);
    rl_buf_free(&snap->head);
    rl_buf_free(&snap->prow);
    rl_buf_free(&snap->lastval);
    for (size_t i = 0; i < snap->nnotices; i++)
        free(snap->notices[i].token);
    free(snap->notices);
    pthread_mutex_destroy(&snap->lock);
    pthread_cond_destroy(&snap->cond_main);
    pthread_cond_destroy(&snap->cond_worker);
    free(snap);
}

/* ------------------------------------------------------------------ resume tokens */

/* Token: "ROWS:CHUNKS:" then the hex of each key column's raw value, comma-separated
 * ("" values for a table without pagination). Printable, so it can sit in a text
 * checkpoint. */
static void token_format(rl_buf *b, uint64_t rows, uint64_t chunks, const rl_buf *keyraw)
{
    static const char hex[] = "0123456789abcdef";
    rl_buf_reset(b);
    rl_buf_printf(b, "%" PRIu64 ":%" PRIu64 ":", rows, chunks);
    rl_reader rd = rl_reader_make(rl_buf_slice(keyraw));
    bool first = true;
    while (rl_reader_left(&rd) >= 4) {
        uint32_t n = rl_get_u32le(&rd);
        rl_slice v = rl_get_bytes(&rd, n);
        if (!first)
            rl_buf_putc(b, ',');
        first = false;
        for (size_t i = 0; i < v.len; i++) {
            rl_buf_putc(b, hex[v.p[i] >> 4]);
            rl_buf_putc(b, hex[v.p[i] & 15]);
        }
    }
    (void)rl_buf_cstr(b);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parses a token into rows, chunks and keyraw (u32le length + bytes per key column). */
static int token_parse(const snap_table *t, const char *tok, uint64_t *rows, uint64_t *chunks,
                       rl_buf *keyraw, rl_err *err)
{
    char *end;
    rl_buf_reset(keyraw);
    *rows = strtoull(tok, &end, 10);
    if (*end != ':')
        goto bad;
    *chunks = strtoull(end + 1, &end, 10);
    if (*end != ':')
        goto bad;
    const char *p = end + 1;
    if (!*p) /* no key yet: from the start */
        return 0;
    if (!t->chunked)
        goto bad;
    for (uint32_t k = 0; k < t->nkeys; k++) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n % 2 || (k + 1 < t->nkeys) != (e != NULL))
            goto bad;
        uint32_t len = (uint32_t)(n / 2);
        uint8_t l4[4] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16),
                         (uint8_t)(len >> 24)};
        rl_buf_append(keyraw, l4, 4);
        for (size_t i = 0; i < n; i += 2) {
            int hi = hexval(p[i]), lo = hexval(p[i + 1]);
            if (hi < 0 || lo < 0)
                goto bad;
            uint8_t byte = (uint8_t)(hi << 4 | lo);
            rl_buf_append(keyraw, &byte, 1);
        }
        p = e ? e + 1 : p + n;
    }
    return rl_buf_ok(keyraw) ? 0 : rl_err_set(err, -ENOMEM, "out of memory");
bad:
    return rl_err_set(err, RL_ECONFIG, "`%s`.`%s`: malformed resume token '%.80s'", t->db, t->name,
                      tok);
}

int binlog_snapshot_resume_table(binlog_snapshot_t *snap, const char *db, const char *table,
                                 const char *token, bool done, rl_err *err)
{
    snap_table *t = table_find(snap, db, table);
    if (!t)
        return rl_err_set(err, RL_ENOTFOUND, "`%s`.`%s` is not among the snapshot's tables", db,
                          table);
    rl_buf keyraw = RL_BUF_INIT;
    uint64_t rows = 0, chunks = 0;
    int rc = 0;
    if (token && *token)
        rc = token_parse(t, token, &rows, &chunks, &keyraw, err);
    if (rc == 0) {
        rl_buf_reset(&t->token);
        rl_buf_append(&t->token, keyraw.p, keyraw.len);
        if (!rl_buf_ok(&t->token))
            rc = rl_err_set(err, -ENOMEM, "out of memory");
    }
    if (rc == 0) {
        t->rows_done = rows;
        t->chunks_done = chunks;
        t->resumed = true;
        t->done = done;
    }
    rl_buf_free(&keyraw);
    return rc;
}

/* ------------------------------------------------------------------ reader threads */

static int chunk_reserve(snap_chunk *c)
{
    if (c->nrecs < c->cap)
        return 0;
    size_t ncap = c->cap ? c->cap * 2 : 256;
    size_t *nr = realloc(c->recs, ncap * REC_FIELDS * sizeof *nr);
    if (!nr)
        return -ENOMEM;
    c->recs = nr;
    c->cap = ncap;
    return 0;
}

/* The record end for table t and ts_ms now (snap_worker.post). Returns 0 or -ENOMEM. */
static int post_prepare(snap_worker *w, const snap_table *t, int64_t now)
{
    if (w->post_set && w->post_t == t && w->post_now == now)
        return 0;
    rl_buf *p = &w->post;
    rl_buf_reset(p);
    rl_buf_append(p, t->strs.p + t->tail_off, t->tail_len);
    rl_buf_puts(p, w->snap->opts.incremental ? "\"incremental\"},\"op\":\"r\",\"ts_ms\":"
                                             : "true},\"op\":\"r\",\"ts_ms\":");
    rl_buf_put_i64(p, now);
    rl_buf_putc(p, '}');
    if (!rl_buf_ok(p))
        return -ENOMEM;
    w->post_t = t;
    w->post_now = now;
    w->post_set = true;
    return 0;
}

/* Renders one row into chunk c: value (envelope) then key, offsets in c->recs. */
static int render_row(snap_worker *w, snap_table *t, snap_chunk *c, MYSQL_ROW row,
                      const unsigned long *len, uint64_t rowno, int64_t now, rl_err *err)
{
    binlog_snapshot_t *snap = w->snap;
    rl_buf *b = &c->data;
    if (chunk_reserve(c) != 0 || post_prepare(w, t, now) != 0)
        return rl_err_set(err, -ENOMEM, "out of memory");
    size_t voff = b->len;
    static const char rec_open[] = "{\"before\":null,\"after\":{";
    rl_buf_append(b, rec_open, sizeof rec_open - 1);
    for (uint32_t i = 0; i < t->ncols; i++) {
        const snap_col *col = &t->cols[i];
        /* ',' and the name in one copy: strs has them as `"name":`, the comma put first. */
        if (rl_buf_reserve(b, 1 + col->name_len) != 0)
            return rl_err_set(err, -ENOMEM, "out of memory");
        if (i)
            b->p[b->len++] = ',';
        memcpy(b->p + b->len, t->strs.p + col->name_off, col->name_len);
        b->len += col->name_len;
        size_t start = b->len;
        if (!row[i]) {
            rl_buf_append(b, "null", 4);
        } else {
            int rc = binlog__snap_value(b, w->dec, w->scratch, t, i, row[i], len[i], err);
            if (rc != 0)
                return rc;
        }
        w->colpos[2 * i] = start - voff;
        w->colpos[2 * i + 1] = b->len - start;
    }
    if (rl_buf_reserve(b, 1 + snap->head.len + 20 + w->post.len) != 0)
        return rl_err_set(err, -ENOMEM, "out of memory");
    b->p[b->len++] = '}';
    memcpy(b->p + b->len, snap->head.p, snap->head.len);
    b->len += snap->head.len;
    binlog__raw_u64(b, rowno);
    size_t soff = b->len - voff + t->tail_len;
    memcpy(b->p + b->len, w->post.p, w->post.len);
    b->len += w->post.len;
    size_t vlen = b->len - voff;
    size_t koff = b->len;
    rl_buf_putc(b, '{');
    uint32_t nk = t->nkeys ? t->nkeys : t->ncols;
    for (uint32_t j = 0; j < nk; j++) {
        uint32_t ci = t->nkeys ? t->keys[j] : j;
        const snap_col *col = &t->cols[ci];
        size_t vl = w->colpos[2 * ci + 1];
        /* The value text is copied from earlier in b itself: reserve first, so the source
         * does not move during the copy. */
        if (rl_buf_reserve(b, 1 + col->name_len + vl) != 0)
            break;
        if (j)
            b->p[b->len++] = ',';
        memcpy(b->p + b->len, t->strs.p + col->name_off, col->name_len);
        b->len += col->name_len;
        memcpy(b->p + b->len, b->p + voff + w->colpos[2 * ci], vl);
        b->len += vl;
    }
    rl_buf_putc(b, '}');
    if (!rl_buf_ok(b))
        return rl_err_set(err, -ENOMEM, "out of memory");
    size_t *r = c->recs + REC_FIELDS * c->nrecs++;
    r[0] = koff;
    r[1] = b->len - koff;
    r[2] = voff;
    r[3] = vlen;
    r[4] = soff;
    return 0;
}

/* Hands the filled chunk to the delivering thread and switches to the other buffer.
 * Returns 0 or RL_ESTOPPED. */
static int hand_over(snap_worker *w)
{
    binlog_snapshot_t *snap = w->snap;
    pthread_mutex_lock(&snap->lock);
    while (w->ready && !atomic_load(&snap->stop))
        pthread_cond_wait(&snap->cond_worker, &snap->lock);
    bool stopped = atomic_load(&snap->stop);
    if (!stopped) {
        w->ready = &w->bufs[w->fill];
        w->fill ^= 1;
        pthread_cond_broadcast(&snap->cond_main);
    }
    pthread_mutex_unlock(&snap->lock);
    if (stopped)
        return RL_ESTOPPED;
    snap_chunk *c = &w->bufs[w->fill];
    rl_buf_reset(&c->data);
    c->nrecs = 0;
    c->table_done = c->skipped = false;
    return 0;
}

static int finish_chunk(snap_worker *w, snap_table *t, uint64_t rows, uint64_t chunks, bool done,
                        bool skipped)
{
    snap_chunk *c = &w->bufs[w->fill];
    c->t = t;
    c->rows_done = rows;
    c->chunks_done = chunks;
    c->table_done = done;
    c->skipped = skipped;
    token_format(&c->token, rows, chunks, &w->keyraw);
    if (!rl_buf_ok(&c->token))
        return rl_err_set(&w->err, -ENOMEM, "out of memory");
    return hand_over(w);
}

/* Builds the keyset predicate after the key in w->keyraw. */
static int keyset_where(snap_worker *w, snap_table *t, rl_err *err)
{
    rl_buf *q = &w->sql;
    rl_slice vals[BINLOG_MAX_COLUMNS > 64 ? 64 : BINLOG_MAX_COLUMNS];
    if (t->nkeys > 64)
        return rl_err_set(err, RL_EUNSUPPORTED, "`%s`.`%s`: more than 64 key columns", t->db,
                          t->name);
    rl_reader rd = rl_reader_make(rl_buf_slice(&w->keyraw));
    for (uint32_t k = 0; k < t->nkeys; k++) {
        uint32_t n = rl_get_u32le(&rd);
        vals[k] = rl_get_bytes(&rd, n);
    }
    if (rd.err)
        return rl_err_set(err, RL_ECONFIG, "`%s`.`%s`: resume key does not fit the key", t->db,
                          t->name);
    rl_buf_puts(q, " WHERE ");
    for (uint32_t k = 0; k < t->nkeys; k++) {
        rl_buf_puts(q, k ? " OR (" : "(");
        for (uint32_t j = 0; j <= k; j++) {
            const snap_col *c = &t->cols[t->keys[j]];
            if (j)
                rl_buf_puts(q, " AND ");
            binlog__snap_ident(q, c->name);
            rl_buf_puts(q, j < k ? " = " : " > ");
            int rc = binlog__snap_literal(q, c, vals[j].p, vals[j].len, err);
            if (rc != 0)
                return rc;
        }
        rl_buf_putc(q, ')');
    }
    return 0;
}

static void keep_key(snap_worker *w, snap_table *t, MYSQL_ROW row, const unsigned long *len)
{
    rl_buf_reset(&w->keyraw);
    for (uint32_t k = 0; k < t->nkeys; k++) {
        uint32_t ci = t->keys[k], n = (uint32_t)len[ci];
        uint8_t l4[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
        rl_buf_append(&w->keyraw, l4, 4);
        rl_buf_append(&w->keyraw, row[ci] ? row[ci] : "", n);
    }
}

/* A table gone since the catalog was read: 1146 no such table. */
static bool vanished(MYSQL *m)
{
    return mysql_errno(m) == ER_NO_SUCH_TABLE;
}

static int read_chunked(snap_worker *w, snap_table *t)
{
    rl_err *err = &w->err;
    uint64_t rows = t->rows_done, chunks = t->chunks_done;
    rl_buf_reset(&w->keyraw);
    rl_buf_append(&w->keyraw, t->token.p, t->token.len);
    for (;;) {
        if (atomic_load(&w->snap->stop))
            return RL_ESTOPPED;
        rl_buf_reset(&w->sql);
        rl_buf_puts(&w->sql, t->select_sql);
        if (w->keyraw.len) {
            int rc = keyset_where(w, t, err);
            if (rc != 0)
                return rc;
        }
        rl_buf_puts(&w->sql, t->order_sql);
        rl_buf_printf(&w->sql, " LIMIT %u", w->snap->opts.chunk_rows);
        if (!rl_buf_ok(&w->sql))
            return rl_err_set(err, -ENOMEM, "out of memory");
        if (mysql_real_query(w->conn, (const char *)w->sql.p, w->sql.len) != 0) {
            if (vanished(w->conn)) {
                rl_warn("snapshot: `%s`.`%s` vanished during the snapshot (dropped?): skipped "
                        "after %llu rows",
                        t->db, t->name, (unsigned long long)rows);
                return finish_chunk(w, t, rows, chunks, true, true);
            }
            return rl_err_wrap(err, sql_err(w->conn, err, "chunk query"), "`%s`.`%s`", t->db,
                               t->name);
        }
        /* Unbuffered: the server sends while rows are rendered. */
        MYSQL_RES *res = mysql_use_result(w->conn);
        if (!res)
            return rl_err_wrap(err, sql_err(w->conn, err, "chunk result"), "`%s`.`%s`", t->db,
                               t->name);
        unsigned nf = mysql_num_fields(res);
        if (nf != t->ncols) {
            mysql_free_result(res);
            return rl_err_set(err, RL_ESOURCE, "`%s`.`%s`: %u columns returned, %u expected", t->db,
                              t->name, nf, t->ncols);
        }
        snap_chunk *c = &w->bufs[w->fill];
        int64_t now = rl_now_ms();
        uint64_t n = 0;
        MYSQL_ROW row;
        int rc = 0;
        while ((row = mysql_fetch_row(res))) {
            unsigned long *len = mysql_fetch_lengths(res);
            if ((rc = render_row(w, t, c, row, len, rows + n, now, err)) != 0)
                break;
            n++;
            keep_key(w, t, row, len);
        }
        if (rc == 0 && mysql_errno(w->conn))
            rc = rl_err_wrap(err, sql_err(w->conn, err, "chunk rows"), "`%s`.`%s`", t->db, t->name);
        mysql_free_result(res);
        if (rc != 0)
            return rc;
        if (!rl_buf_ok(&w->keyraw))
            return rl_err_set(err, -ENOMEM, "out of memory");
        rows += n;
        chunks++;
        bool done = n < w->snap->opts.chunk_rows;
        if ((rc = finish_chunk(w, t, rows, chunks, done, false)) != 0 || done)
            return rc;
        if (w->snap->opts.max_chunks && chunks - t->chunks_done >= w->snap->opts.max_chunks)
            return 0; /* this run's share of the table; the token continues it */
    }
}

/* A paginated table read by one ordered query from its token on (`SELECT ... WHERE key >
 * token ORDER BY key`, no LIMIT, unbuffered), cut into chunks of chunk_rows as the rows arrive;
 * each chunk's token is its last key, exactly as a LIMIT query per chunk would give, so a
 * stopped snapshot resumes by keyset from there. One index range scan on the server instead of
 * a new query (and a new B-tree descent) per chunk; the read view is the snapshot
 * transaction's either way. Used when every chunk is wanted (max_chunks 0); an on-demand
 * snapshot (one chunk per read view) keeps read_chunked. */
static int read_ordered(snap_worker *w, snap_table *t)
{
    rl_err *err = &w->err;
    uint64_t rows = t->rows_done, chunks = t->chunks_done;
    rl_buf_reset(&w->keyraw);
    rl_buf_append(&w->keyraw, t->token.p, t->token.len);
    rl_buf_reset(&w->sql);
    rl_buf_puts(&w->sql, t->select_sql);
    if (w->keyraw.len) {
        int rc = keyset_where(w, t, err);
        if (rc != 0)
            return rc;
    }
    rl_buf_puts(&w->sql, t->order_sql);
    if (!rl_buf_ok(&w->sql) || !rl_buf_ok(&w->keyraw))
        return rl_err_set(err, -ENOMEM, "out of memory");
    if (atomic_load(&w->snap->stop))
        return RL_ESTOPPED;
    if (mysql_real_query(w->conn, (const char *)w->sql.p, w->sql.len) != 0) {
        if (vanished(w->conn)) {
            rl_warn("snapshot: `%s`.`%s` vanished during the snapshot (dropped?): skipped "
                    "after %llu rows",
                    t->db, t->name, (unsigned long long)rows);
            return finish_chunk(w, t, rows, chunks, true, true);
        }
        return rl_err_wrap(err, sql_err(w->conn, err, "table query"), "`%s`.`%s`", t->db, t->name);
    }
    MYSQL_RES *res = mysql_use_result(w->conn);
    if (!res)
        return rl_err_wrap(err, sql_err(w->conn, err, "table result"), "`%s`.`%s`", t->db, t->name);
    int rc = 0;
    if (mysql_num_fields(res) != t->ncols)
        rc = rl_err_set(err, RL_ESOURCE, "`%s`.`%s`: %u columns returned, %u expected", t->db,
                        t->name, mysql_num_fields(res), t->ncols);
    unsigned chunk_rows = w->snap->opts.chunk_rows;
    int64_t now = rl_now_ms();
    uint64_t in_chunk = 0;
    MYSQL_ROW row;
    while (rc == 0 && (row = mysql_fetch_row(res))) {
        unsigned long *len = mysql_fetch_lengths(res);
        if ((rc = render_row(w, t, &w->bufs[w->fill], row, len, rows, now, err)) != 0)
            break;
        rows++;
        keep_key(w, t, row, len); /* a chunk's last key is its token */
        if (++in_chunk == chunk_rows) {
            if (!rl_buf_ok(&w->keyraw)) {
                rc = rl_err_set(err, -ENOMEM, "out of memory");
                break;
            }
            in_chunk = 0;
            if ((rc = finish_chunk(w, t, rows, ++chunks, false, false)) != 0)
                break;
            now = rl_now_ms();
        }
    }
    if (rc == 0 && mysql_errno(w->conn))
        rc = rl_err_wrap(err, sql_err(w->conn, err, "table rows"), "`%s`.`%s`", t->db, t->name);
    /* Freeing an unbuffered result reads the rest of the table: when stopping or failing,
     * cut the connection first (a stopped or failed snapshot never reads again). */
    if (rc != 0 && mysql_get_socket(w->conn) >= 0)
        shutdown(mysql_get_socket(w->conn), SHUT_RDWR);
    mysql_free_result(res);
    if (rc == 0 && !rl_buf_ok(&w->keyraw))
        rc = rl_err_set(err, -ENOMEM, "out of memory");
    if (rc != 0)
        return rc;
    /* The last chunk (empty when the rows ended at a chunk boundary, as the LIMIT query after
     * a full chunk would find): the table is done. */
    return finish_chunk(w, t, rows, chunks + 1, true, false);
}

static int read_streamed(snap_worker *w, snap_table *t)
{
    rl_err *err = &w->err;
    uint64_t rows = 0, chunks = 0;
    rl_buf_reset(&w->keyraw);
    if (mysql_real_query(w->conn, t->select_sql, strlen(t->select_sql)) != 0) {
        if (vanished(w->conn)) {
            rl_warn("snapshot: `%s`.`%s` vanished during the snapshot (dropped?): skipped", t->db,
                    t->name);
            return finish_chunk(w, t, 0, 0, true, true);
        }
        return rl_err_wrap(err, sql_err(w->conn, err, "table query"), "`%s`.`%s`", t->db, t->name);
    }
    /* Unbuffered: rows arrive as they are fetched, memory stays at one chunk. */
    MYSQL_RES *res = mysql_use_result(w->conn);
    if (!res)
        return rl_err_wrap(err, sql_err(w->conn, err, "table result"), "`%s`.`%s`", t->db, t->name);
    int rc = 0;
    if (mysql_num_fields(res) != t->ncols)
        rc = rl_err_set(err, RL_ESOURCE, "`%s`.`%s`: %u columns returned, %u expected", t->db,
                        t->name, mysql_num_fields(res), t->ncols);
    MYSQL_ROW row = NULL;
    int64_t now = rl_now_ms();
    uint64_t in_chunk = 0;
    while (rc == 0 && (row = mysql_fetch_row(res))) {
        unsigned long *len = mysql_fetch_lengths(res);
        if ((rc = render_row(w, t, &w->bufs[w->fill], row, len, rows, now, err)) != 0)
            break;
        rows++;
        if (++in_chunk == w->snap->opts.chunk_rows) {
            in_chunk = 0;
            if ((rc = finish_chunk(w, t, rows, ++chunks, false, false)) != 0)
                break;
            now = rl_now_ms();
        }
    }
    if (rc == 0 && mysql_errno(w->conn))
        rc = rl_err_wrap(err, sql_err(w->conn, err, "table rows"), "`%s`.`%s`", t->db, t->name);
    /* Freeing an unbuffered result reads the rest of the table: when stopping or failing,
     * cut the connection first (a stopped or failed snapshot never reads again). */
    if (rc != 0 && mysql_get_socket(w->conn) >= 0)
        shutdown(mysql_get_socket(w->conn), SHUT_RDWR);
    mysql_free_result(res);
    if (rc != 0)
        return rc;
    return finish_chunk(w, t, rows, chunks + 1, true, false);
}

static void *worker_main(void *arg)
{
    snap_worker *w = arg;
    binlog_snapshot_t *snap = w->snap;
    int rc = 0;
    for (;;) {
        pthread_mutex_lock(&snap->lock);
        snap_table *t = NULL;
        while (snap->next_table < snap->ntables) {
            snap_table *c = &snap->tables[snap->next_table++];
            if (!c->done) {
                t = c;
                break;
            }
        }
        pthread_mutex_unlock(&snap->lock);
        if (!t || atomic_load(&snap->stop))
            break;
        if (w->colpos_cap < t->ncols) {
            size_t *np = realloc(w->colpos, 2 * (size_t)t->ncols * sizeof *np);
            if (!np) {
                rc = rl_err_set(&w->err, -ENOMEM, "out of memory");
                break;
            }
            w->colpos = np;
            w->colpos_cap = t->ncols;
        }
        rc = !t->chunked                  ? read_streamed(w, t)
             : snap->opts.max_chunks == 0 ? read_ordered(w, t)
                                          : read_chunked(w, t);
        if (rc != 0)
            break;
    }
    pthread_mutex_lock(&snap->lock);
    w->rc = rc;
    w->finished = true;
    pthread_cond_broadcast(&snap->cond_main);
    pthread_mutex_unlock(&snap->lock);
    return NULL;
}

/* ------------------------------------------------------------------ delivery */

static int emit_notice(binlog_snapshot_t *snap, const binlog_snapshot_handler *h,
                       const snap_notice *n, rl_err *err)
{
    if (!h->on_progress)
        return 0;
    binlog_snapshot_progress pr = {
        .db = n->t->db,
        .table = n->t->name,
        .topic = rl_slice_make(n->t->strs.p + n->t->topic_off, n->t->topic_len),
        .resume_token = n->t->chunked ? n->token : "",
        .rows_done = n->rows_done,
        .rows_estimated = n->t->rows_est,
        .chunks_done = n->chunks_done,
        .table_done = n->table_done,
        .skipped = n->skipped,
    };
    (void)snap;
    int rc = h->on_progress(h->ctx, &pr);
    if (rc < 0)
        return rl_err_set(err, rc, "on_progress returned %d (%s)", rc, rl_strerror(rc));
    return 0;
}

static int emit_change(const binlog_snapshot_handler *h, rl_slice topic, rl_slice key,
                       rl_slice value, int64_t ts_ms, rl_err *err)
{
    if (!h->on_change)
        return 0;
    binlog_change ch = {.topic = topic, .key = key, .value = value, .ts_ms = ts_ms, .op = 'r'};
    int rc = h->on_change(h->ctx, &ch);
    if (rc < 0)
        return rl_err_set(err, rc, "on_change returned %d (%s)", rc, rl_strerror(rc));
    return 0;
}

/* Emits the pending record (marked "last" when `last`) and the notices behind it. */
static int flush_pending(binlog_snapshot_t *snap, const binlog_snapshot_handler *h, bool last,
                         rl_err *err)
{
    int rc = 0;
    if (snap->have_prow) {
        snap->have_prow = false;
        const uint8_t *p = snap->prow.p;
        rl_slice topic = rl_slice_make(p, snap->p_key);
        rl_slice key = rl_slice_make(p + snap->p_key, snap->p_val - snap->p_key);
        rl_slice val = rl_slice_make(p + snap->p_val, snap->prow.len - snap->p_val);
        if (last && !snap->opts.incremental) {
            rl_buf *lv = &snap->lastval;
            rl_buf_reset(lv);
            rl_buf_append(lv, val.p, snap->p_snap);
            rl_buf_puts(lv, "\"last\"");
            rl_buf_append(lv, val.p + snap->p_snap + 4, val.len - snap->p_snap - 4);
            if (!rl_buf_ok(lv))
                return rl_err_set(err, -ENOMEM, "out of memory");
            val = rl_buf_slice(lv);
        }
        rc = emit_change(h, topic, key, val, snap->point.ts_ms, err);
    }
    size_t i = 0;
    for (; i < snap->nnotices && rc == 0; i++)
        rc = emit_notice(snap, h, &snap->notices[i], err);
    for (size_t j = 0; j < snap->nnotices; j++)
        free(snap->notices[j].token);
    snap->nnotices = 0;
    return rc;
}

static int push_notice(binlog_snapshot_t *snap, const snap_chunk *c, rl_err *err)
{
    if (snap->nnotices == snap->notices_cap) {
        size_t ncap = snap->notices_cap ? snap->notices_cap * 2 : 8;
        snap_notice *nn = realloc(snap->notices, ncap * sizeof *nn);
        if (!nn)
            return rl_err_set(err, -ENOMEM, "out of memory");
        snap->notices = nn;
        snap->notices_cap = ncap;
    }
    snap_notice *n = &snap->notices[snap->nnotices];
    n->token = strdup((const char *)c->token.p);
    if (!n->token)
        return rl_err_set(err, -ENOMEM, "out of memory");
    n->t = c->t;
    n->rows_done = c->rows_done;
    n->chunks_done = c->chunks_done;
    n->table_done = c->table_done;
    n->skipped = c->skipped;
    snap->nnotices++;
    return 0;
}

static int deliver(binlog_snapshot_t *snap, const binlog_snapshot_handler *h, snap_chunk *c,
                   rl_err *err)
{
    int rc;
    snap_table *t = c->t;
    rl_slice topic = rl_slice_make(t->strs.p + t->topic_off, t->topic_len);
    if (c->nrecs == 0) {
        if (!snap->have_prow) {
            snap_notice n = {
                t, (char *)c->token.p, c->rows_done, c->chunks_done, c->table_done, c->skipped};
            return emit_notice(snap, h, &n, err);
        }
        return push_notice(snap, c, err);
    }
    if ((rc = flush_pending(snap, h, false, err)) != 0)
        return rc;
    for (size_t i = 0; i + 1 < c->nrecs; i++) {
        const size_t *r = c->recs + REC_FIELDS * i;
        rc = emit_change(h, topic, rl_slice_make(c->data.p + r[0], r[1]),
                         rl_slice_make(c->data.p + r[2], r[3]), snap->point.ts_ms, err);
        if (rc != 0)
            return rc;
    }
    const size_t *r = c->recs + REC_FIELDS * (c->nrecs - 1);
    rl_buf_reset(&snap->prow);
    rl_buf_append(&snap->prow, topic.p, topic.len);
    snap->p_key = snap->prow.len;
    rl_buf_append(&snap->prow, c->data.p + r[0], r[1]);
    snap->p_val = snap->prow.len;
    rl_buf_append(&snap->prow, c->data.p + r[2], r[3]);
    snap->p_snap = r[4];
    if (!rl_buf_ok(&snap->prow))
        return rl_err_set(err, -ENOMEM, "out of memory");
    snap->have_prow = true;
    return push_notice(snap, c, err);
}

int binlog_snapshot_run(binlog_snapshot_t *snap, const binlog_snapshot_handler *h, rl_err *err)
{
    if (snap->ran)
        return rl_err_set(err, RL_ECONFIG, "a snapshot runs once; open a new one to resume");
    snap->ran = true;
    int rc = 0;
    unsigned n = snap->nconns;
    snap->workers = calloc(n, sizeof *snap->workers);
    if (!snap->workers)
        return rl_err_set(err, -ENOMEM, "out of memory");
    for (unsigned i = 0; i < n; i++) {
        snap_worker *w = &snap->workers[i];
        w->snap = snap;
        w->conn = snap->conns[i];
        if (binlog_decoder_new(&w->dec, NULL, NULL) != 0) {
            rc = rl_err_set(err, -ENOMEM, "out of memory");
            atomic_store(&snap->stop, true);
            break;
        }
        if (pthread_create(&w->th, NULL, worker_main, w) != 0) {
            rc = rl_err_set(err, -EAGAIN, "cannot start snapshot reader thread %u", i + 1);
            atomic_store(&snap->stop, true);
            break;
        }
        w->started = true;
    }
    unsigned rr = 0;
    bool delivery_failed = false;
    pthread_mutex_lock(&snap->lock);
    while (rc == 0) {
        snap_worker *w = NULL;
        bool all_done = true;
        for (unsigned k = 0; k < n; k++) {
            snap_worker *c = &snap->workers[(rr + k) % n];
            if (c->ready) {
                w = c;
                rr = (rr + k + 1) % n;
                break;
            }
            if (c->started && !c->finished)
                all_done = false;
            if (c->finished && c->rc != 0 && c->rc != RL_ESTOPPED) {
                rc = c->rc;
                if (err)
                    *err = c->err;
                break;
            }
        }
        if (rc != 0)
            break;
        if (w) {
            pthread_mutex_unlock(&snap->lock);
            rc = deliver(snap, h, w->ready, err);
            delivery_failed = rc != 0;
            pthread_mutex_lock(&snap->lock);
            w->ready = NULL;
            pthread_cond_broadcast(&snap->cond_worker);
            continue;
        }
        if (atomic_load(&snap->stop)) {
            rc = rl_err_set(err, RL_ESTOPPED, "snapshot interrupted");
            break;
        }
        if (all_done)
            break;
        pthread_cond_wait(&snap->cond_main, &snap->lock);
    }
    pthread_mutex_unlock(&snap->lock);
    if (rc == 0) {
        rc = flush_pending(snap, h, true, err);
    } else if (rc == RL_ESTOPPED && !delivery_failed) {
        /* Interrupted between chunks: what was read is handed out with its notices, so the
         * caller can store the latest token. A callback that failed (or asked to stop) gets
         * no further call. */
        rl_err e2 = {0};
        (void)flush_pending(snap, h, false, &e2);
    }
    atomic_store(&snap->stop, true);
    pthread_mutex_lock(&snap->lock);
    pthread_cond_broadcast(&snap->cond_worker);
    pthread_mutex_unlock(&snap->lock);
    for (unsigned i = 0; i < n; i++) {
        snap_worker *w = &snap->workers[i];
        if (w->started)
            pthread_join(w->th, NULL);
        for (int b = 0; b < 2; b++) {
            rl_buf_free(&w->bufs[b].data);
            rl_buf_free(&w->bufs[b].token);
            free(w->bufs[b].recs);
        }
        free(w->colpos);
        binlog_decoder_free(w->dec);
        rl_buf_free(&w->sql);
        rl_buf_free(&w->keyraw);
        rl_buf_free(&w->scratch[0]);
        rl_buf_free(&w->scratch[1]);
        rl_buf_free(&w->post);
    }
    free(snap->workers);
    snap->workers = NULL;
    return rc;
}

void binlog_snapshot_topic(rl_buf *out, const char *prefix, const char *db, const char *table)
{
    binlog__put_topic(out, prefix ? prefix : "rowlog", rl_slice_make(db, strlen(db)),
                      rl_slice_make(table, strlen(table)));
}
