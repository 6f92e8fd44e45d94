/*
 * rowlogd_schema.c - the source's schema history for the decoder (rowlogd_int.h,
 * docs/schema.md).
 *
 * The history (reader/schema.h) is created at the first attach and kept across reconnects
 * (every new decoder gets the same one). It is restored from rowlog's own log: topic PREFIX
 * holds every schema-change event the decoder published (at DDLs, and at the first TABLE_MAP
 * of each table), committed together with the source position, so reading it back in offset
 * order rebuilds exactly the versions the checkpoint's position has seen. Topic PREFIX is
 * configured to keep its records forever (retention and compaction would lose versions).
 *
 * Current definitions come from the source's information_schema over a connection of our own
 * (opened at the first fetch, reopened after a failure):
 *   COLUMNS (+ COLLATIONS for the collation id) in ORDINAL_POSITION order,
 *   STATISTICS of index PRIMARY in SEQ_IN_INDEX order,
 *   MariaDB: CHECK_CONSTRAINTS "json_valid(`c`)" marks JSON columns (JSON is LONGTEXT there).
 *
 * Failures (docs/schema.md "When information_schema cannot be read"): the decoder waits for
 * the definition (the TABLE_MAP or DDL cannot be decoded without it), so a transient failure
 * is retried here, on a new connection each time, with a backoff of SCHEMA_RETRY_FIRST_MS
 * doubling to SCHEMA_RETRY_MAX_MS, for at most SCHEMA_RETRY_BUDGET_MS after the first
 * failure; each retry is logged (warning) with the server's error, and a stop request ends
 * the wait at once (RL_ESTOPPED). Transient (schema_mysql_code, from the MySQL/MariaDB error
 * number; mysqld_error.h, errmsg.h): the connection lost, refused or killed (CR_SERVER_LOST
 * 2013, CR_SERVER_GONE_ERROR 2006, CR_CONNECTION_ERROR 2002, CR_CONN_HOST_ERROR 2003,
 * ER_SERVER_SHUTDOWN 1053, ER_CONNECTION_KILLED 1927, the ER_NET_* errors 1158-1161,
 * ER_ABORTING_CONNECTION 1152), too many connections (1040, 1203, and 1226 for an account's
 * MAX_USER_CONNECTIONS or another of its resource limits), and a query that waited
 * too long or was killed (ER_LOCK_WAIT_TIMEOUT 1205, ER_LOCK_DEADLOCK 1213,
 * ER_QUERY_INTERRUPTED 1317, MariaDB ER_STATEMENT_TIMEOUT 1969, MySQL max_execution_time
 * 3024). Anything else (access denied 1044/1045/1142, an unknown database, ...) is permanent:
 * the source stops with RL_ESOURCE as before, and so does a transient failure that outlasts
 * the budget (the error then says how many attempts were made over how long).
 *
 * Threading: the source thread alone.
 */
#include "server/rowlogd_int.h"

#include "reader/schema.h"

#include <errmsg.h>
#include <errno.h>
#include <jansson.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Retry policy of a transient failure (see the file comment), ms. The budget covers a
 * primary restart or a short network cut; the binlog dump connection is not read meanwhile
 * (if the primary drops it, the source reconnects from its checkpoint as usual). */
#define SCHEMA_RETRY_FIRST_MS 100u
#define SCHEMA_RETRY_MAX_MS 5000u
#define SCHEMA_RETRY_BUDGET_MS 60000u
/* MySQL 5.7+ ER_QUERY_TIMEOUT (max_execution_time); MariaDB's mysqld_error.h lacks it. */
#define SCHEMA_ER_QUERY_TIMEOUT 3024u

typedef struct schema_retry {
    unsigned first_ms, max_ms, budget_ms;
} schema_retry;

struct rowlogd_schema {
    binlog_schema_t *hist;
    binlog_source_opts opts;
    MYSQL *mysql;
    bool mariadb;
    rl_buf sql;
    /* One attempt at reading a definition: fetch_attempt over s->mysql in rowlogd; a test may
     * put a scripted one here. Returns what binlog_schema_provider.fetch returns, with the
     * transient failures as schema_mysql_code gives them (-ECONNRESET, -EAGAIN, -ETIMEDOUT). */
    binlog_schema_provider attempt;
    schema_retry retry;
    rowlogd_source *src; /* stop flag and wake-up of the backoff; NULL: plain sleeps */
    uint64_t retries;    /* transient failures retried, over the life of the source */
};

/*
 * What a failed connect or query with MySQL/MariaDB error number e means for the retry rule
 * (file comment): -ECONNRESET (the connection is gone or refused), -EAGAIN (too many
 * connections), -ETIMEDOUT (the query waited too long or was killed), all three transient;
 * RL_ESOURCE for anything else (permanent). Pure.
 */
static int schema_mysql_code(unsigned e)
{
    switch (e) {
    case CR_CONNECTION_ERROR:
    case CR_CONN_HOST_ERROR:
    case CR_SERVER_GONE_ERROR:
    case CR_SERVER_LOST:
    case CR_SERVER_LOST_EXTENDED:
    case ER_SERVER_SHUTDOWN:
    case ER_CONNECTION_KILLED:
    case ER_ABORTING_CONNECTION:
    case ER_NET_READ_ERROR:
    case ER_NET_READ_INTERRUPTED:
    case ER_NET_ERROR_ON_WRITE:
    case ER_NET_WRITE_INTERRUPTED:
        return -ECONNRESET;
    case ER_CON_COUNT_ERROR:
    case ER_TOO_MANY_USER_CONNECTIONS:
    case ER_USER_LIMIT_REACHED:
        return -EAGAIN;
    case ER_LOCK_WAIT_TIMEOUT:
    case ER_LOCK_DEADLOCK:
    case ER_QUERY_INTERRUPTED:
    case ER_STATEMENT_TIMEOUT:
    case SCHEMA_ER_QUERY_TIMEOUT:
        return -ETIMEDOUT;
    default:
        return RL_ESOURCE;
    }
}

static bool schema_transient(int rc)
{
    return rc == -ECONNRESET || rc == -EAGAIN || rc == -ETIMEDOUT;
}

static void provider_disconnect(struct rowlogd_schema *s)
{
    if (s->mysql)
        mysql_close(s->mysql);
    s->mysql = NULL;
}

static int provider_connect(struct rowlogd_schema *s, rl_err *err)
{
    s->mysql = mysql_init(NULL);
    if (!s->mysql)
        return rl_err_set(err, -ENOMEM, "mysql_init: out of memory");
    unsigned timeout = s->opts.connect_timeout_s ? s->opts.connect_timeout_s : 10;
    unsigned rtimeout = 60; /* information_schema on a busy server can be slow */
    my_bool off = 0;
    mysql_optionsv(s->mysql, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_optionsv(s->mysql, MYSQL_OPT_READ_TIMEOUT, &rtimeout);
    mysql_optionsv(s->mysql, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
    mysql_optionsv(s->mysql, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_optionsv(s->mysql, MYSQL_OPT_RECONNECT, &off);
    if (!mysql_real_connect(s->mysql, s->opts.host, s->opts.user, s->opts.password, NULL,
                            s->opts.port ? s->opts.port : 3306, NULL, 0)) {
        int rc = rl_err_set(err, schema_mysql_code(mysql_errno(s->mysql)),
                            "schema connection to %s:%u as '%s': %s (error %u)", s->opts.host,
                            s->opts.port ? s->opts.port : 3306, s->opts.user,
                            mysql_error(s->mysql), mysql_errno(s->mysql));
        provider_disconnect(s);
        return rc;
    }
    const char *info = mysql_get_server_info(s->mysql);
    s->mariadb = info && strstr(info, "MariaDB") != NULL;
    return 0;
}

/* Runs s->sql; NULL with err set on failure. */
static MYSQL_RES *query(struct rowlogd_schema *s, rl_err *err)
{
    const char *sql = rl_buf_cstr(&s->sql);
    if (!sql) {
        rl_err_set(err, -ENOMEM, "out of memory");
        return NULL;
    }
    if (mysql_real_query(s->mysql, sql, s->sql.len) != 0) {
        rl_err_set(err, schema_mysql_code(mysql_errno(s->mysql)),
                   "schema query failed: %s (error %u)", mysql_error(s->mysql),
                   mysql_errno(s->mysql));
        return NULL;
    }
    MYSQL_RES *res = mysql_store_result(s->mysql);
    if (!res)
        rl_err_set(err,
                   mysql_errno(s->mysql) ? schema_mysql_code(mysql_errno(s->mysql)) : RL_ESOURCE,
                   "schema query returned no result: %s (error %u)", mysql_error(s->mysql),
                   mysql_errno(s->mysql));
    return res;
}

/* Appends 'text' as an SQL string literal. */
static void put_literal(struct rowlogd_schema *s, const char *text)
{
    size_t n = strlen(text);
    size_t at = s->sql.len;
    rl_buf_putc(&s->sql, '\'');
    if (rl_buf_reserve(&s->sql, 2 * n + 2) < 0)
        return;
    unsigned long w = mysql_real_escape_string(s->mysql, (char *)s->sql.p + s->sql.len, text,
                                               (unsigned long)n);
    if (w == (unsigned long)-1) {
        s->sql.len = at;
        s->sql.oom = true;
        return;
    }
    s->sql.len += w;
    rl_buf_putc(&s->sql, '\'');
}

/* One attempt over s->mysql (connecting first when there is none). Returns 0, RL_ENOTFOUND
 * (no such table now), -ENOMEM, a transient code of schema_mysql_code or RL_ESOURCE, with err
 * (not NULL) filled. */
static int fetch_once(struct rowlogd_schema *s, const char *db, const char *table,
                      binlog_schema_table **out, rl_err *err)
{
    if (!s->mysql) {
        int rc = provider_connect(s, err);
        if (rc < 0)
            return rc;
    }
    binlog_schema_table *t = binlog_schema_table_new(db, table);
    if (!t)
        return rl_err_set(err, -ENOMEM, "out of memory");
    MYSQL_RES *res = NULL;
    int rc = 0;
    /* Columns. */
    rl_buf_reset(&s->sql);
    rl_buf_puts(&s->sql, "SELECT c.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_TYPE, c.CHARACTER_SET_NAME, "
                         "c.COLLATION_NAME, co.ID, c.IS_NULLABLE FROM information_schema.COLUMNS c "
                         "LEFT JOIN information_schema.COLLATIONS co ON co.COLLATION_NAME = "
                         "c.COLLATION_NAME WHERE c.TABLE_SCHEMA = ");
    put_literal(s, db);
    rl_buf_puts(&s->sql, " AND c.TABLE_NAME = ");
    put_literal(s, table);
    rl_buf_puts(&s->sql, " ORDER BY c.ORDINAL_POSITION");
    if (!(res = query(s, err))) {
        rc = err->code;
        goto fail;
    }
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res))) {
        binlog_schema_col spec;
        memset(&spec, 0, sizeof spec);
        spec.name = row[0];
        spec.data_type = row[1];
        spec.column_type = row[2];
        spec.charset = row[3];
        spec.collation = row[4];
        spec.collation_id = row[5] ? (uint32_t)strtoul(row[5], NULL, 10) : 0;
        spec.nullable = row[6] && strcmp(row[6], "YES") == 0;
        spec.is_unsigned = row[2] && strstr(row[2], " unsigned") != NULL;
        spec.json = row[1] && strcasecmp(row[1], "json") == 0;
        if ((rc = binlog_schema_table_add_col(t, &spec, err)) < 0)
            goto fail;
    }
    mysql_free_result(res);
    res = NULL;
    if (t->ncols == 0) {
        binlog_schema_table_free(t);
        return RL_ENOTFOUND;
    }
    /* Primary key, in key order. */
    rl_buf_reset(&s->sql);
    rl_buf_puts(&s->sql, "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE "
                         "TABLE_SCHEMA = ");
    put_literal(s, db);
    rl_buf_puts(&s->sql, " AND TABLE_NAME = ");
    put_literal(s, table);
    rl_buf_puts(&s->sql, " AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX");
    if (!(res = query(s, err))) {
        rc = err->code;
        goto fail;
    }
    while ((row = mysql_fetch_row(res)))
        if (row[0] && (rc = binlog_schema_table_add_key(t, row[0], err)) < 0)
            goto fail;
    mysql_free_result(res);
    res = NULL;
    /* MariaDB JSON columns: LONGTEXT with CHECK (json_valid(`c`)). */
    if (s->mariadb) {
        rl_buf_reset(&s->sql);
        rl_buf_puts(&s->sql, "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS WHERE "
                             "CONSTRAINT_SCHEMA = ");
        put_literal(s, db);
        rl_buf_puts(&s->sql, " AND TABLE_NAME = ");
        put_literal(s, table);
        if (!(res = query(s, err))) {
            rc = err->code;
            goto fail;
        }
        while ((row = mysql_fetch_row(res))) {
            for (uint32_t i = 0; row[0] && i < t->ncols; i++)
                if (binlog_schema_clause_is_json_valid(row[0], t->cols[i].name))
                    t->cols[i].json = true;
        }
        mysql_free_result(res);
        res = NULL;
    }
    *out = t;
    return 0;
fail:
    if (res)
        mysql_free_result(res);
    binlog_schema_table_free(t);
    return rc < 0 ? rc : RL_ESOURCE;
}

static int fetch_attempt(void *ctx, const char *db, const char *table, binlog_schema_table **out,
                         rl_err *err)
{
    struct rowlogd_schema *s = ctx;
    int rc = fetch_once(s, db, table, out, err);
    if (schema_transient(rc) || rc == RL_ESOURCE)
        provider_disconnect(s); /* the next attempt starts on a new connection */
    return rc;
}

/* Waits ms or until the source is asked to stop; true when stopping. */
static bool schema_wait(struct rowlogd_schema *s, unsigned ms)
{
    rowlogd_source *src = s->src;
    if (!src) {
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        return false;
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&src->lock);
    while (!atomic_load(&src->stop))
        if (pthread_cond_timedwait(&src->wake, &src->lock, &until) == ETIMEDOUT)
            break;
    bool stopping = atomic_load(&src->stop);
    pthread_mutex_unlock(&src->lock);
    return stopping;
}

/* binlog_schema_provider.fetch of rowlogd: s->attempt, retried on transient failures (file
 * comment). Returns 0, RL_ENOTFOUND, RL_ESTOPPED (a stop request during a backoff), -ENOMEM,
 * or RL_ESOURCE (permanent, or transient past the budget: err says which and why). */
static int provider_fetch(void *ctx, const char *db, const char *table, binlog_schema_table **out,
                          rl_err *err)
{
    struct rowlogd_schema *s = ctx;
    rl_err local;
    rl_err *e = err ? err : &local;
    unsigned delay = s->retry.first_ms, attempts = 1;
    int64_t first_fail = 0;
    int rc;
    for (;; attempts++) {
        memset(e, 0, sizeof *e);
        rc = s->attempt.fetch(s->attempt.ctx, db, table, out, e);
        if (!schema_transient(rc))
            break;
        int64_t now = rl_mono_ns();
        if (attempts == 1)
            first_fail = now;
        int64_t spent_ms = (now - first_fail) / 1000000;
        if (spent_ms + (int64_t)delay > (int64_t)s->retry.budget_ms) {
            rl_err_wrap(e, RL_ESOURCE,
                        "information_schema failed %u times over %lld ms (transient failures are "
                        "retried for %u ms); the last time",
                        attempts, (long long)spent_ms, s->retry.budget_ms);
            e->code = RL_ESOURCE;
            return RL_ESOURCE;
        }
        s->retries++;
        rl_warn("schema: reading `%s`.`%s` failed (attempt %u): %s (%s); retrying in %u ms", db,
                table, attempts, e->msg[0] ? e->msg : rl_strerror(rc), rl_errname(rc), delay);
        if (schema_wait(s, delay))
            return rl_err_set(e, RL_ESTOPPED,
                              "schema: stopped while waiting to read `%s`.`%s` again", db, table);
        delay = delay >= s->retry.max_ms / 2 ? s->retry.max_ms : delay * 2;
    }
    if (rc == 0)
        rl_info("schema: read the definition of `%s`.`%s` (%u columns, %u key columns)%s", db,
                table, (*out)->ncols, (*out)->nkeys, attempts > 1 ? " after retrying" : "");
    return rc;
}

/* ------------------------------------------------------------------ schema-change events */

static const char *jstr(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int load_table(binlog_schema_t *h, const json_t *tj, const char *db, const char *table,
                      binlog_schema_table **out, rl_err *err)
{
    *out = NULL;
    const json_t *cols = json_object_get(tj, "columns");
    if (!json_is_array(cols))
        return rl_err_set(err, RL_ECORRUPT, "`%s`.`%s`: table without a columns array", db,
                          table);
    binlog_schema_table *t = binlog_schema_table_new(db, table);
    if (!t)
        return rl_err_set(err, -ENOMEM, "out of memory");
    int rc = 0;
    size_t i;
    const json_t *c;
    json_array_foreach(cols, i, c)
    {
        binlog_schema_col spec;
        memset(&spec, 0, sizeof spec);
        spec.name = (char *)jstr(c, "name");
        spec.data_type = (char *)jstr(c, "typeName");
        spec.column_type = (char *)jstr(c, "typeExpression");
        spec.charset = (char *)jstr(c, "charsetName");
        spec.collation = (char *)jstr(c, "collationName");
        const json_t *id = json_object_get(c, "collationId");
        spec.collation_id = json_is_integer(id) && json_integer_value(id) > 0 &&
                                    json_integer_value(id) <= UINT16_MAX
                                ? (uint32_t)json_integer_value(id)
                                : 0;
        spec.is_unsigned = json_is_true(json_object_get(c, "unsigned"));
        spec.nullable = json_is_true(json_object_get(c, "optional"));
        spec.json = json_is_true(json_object_get(c, "json"));
        if ((rc = binlog_schema_table_add_col(t, &spec, err)) < 0)
            goto fail;
        (void)h;
    }
    const json_t *pk = json_object_get(tj, "primaryKeyColumnNames");
    const json_t *k;
    json_array_foreach(pk, i, k)
    {
        if (!json_is_string(k)) {
            rc = rl_err_set(err, RL_ECORRUPT, "`%s`.`%s`: a primary-key name is not a string",
                            db, table);
            goto fail;
        }
        if ((rc = binlog_schema_table_add_key(t, json_string_value(k), err)) < 0)
            goto fail;
    }
    *out = t;
    return 0;
fail:
    binlog_schema_table_free(t);
    return rc == RL_ECONFIG || rc == RL_ENOTFOUND ? rl_err_wrap(err, RL_ECORRUPT, "schema event")
                                                  : rc;
}

/* Restores the versions of one schema-change event value (JSON, as reader/schema.c publishes
 * it: docs/schema.md) into the history, as committed. Values without tableChanges are ignored.
 * Returns 0, RL_ECORRUPT (not JSON, or a tableChanges entry without the fields a version
 * needs: err says which), -ENOMEM. */
static int schema_load_event(binlog_schema_t *h, rl_slice value, rl_err *err)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)value.p, value.len, 0, &jerr);
    if (!root)
        return rl_err_set(err, RL_ECORRUPT, "schema event is not JSON: %s (column %d)", jerr.text,
                          jerr.column);
    int rc = 0;
    const json_t *changes = json_object_get(root, "tableChanges");
    if (!json_is_array(changes))
        goto out;
    const json_t *src = json_object_get(root, "source");
    const char *file = jstr(src, "file");
    const json_t *pj = json_object_get(src, "pos");
    if (!file || !json_is_integer(pj) || json_integer_value(pj) < 0 || strlen(file) >= 256) {
        rc = rl_err_set(err, RL_ECORRUPT, "schema event without source.file and source.pos");
        goto out;
    }
    binlog_pos at;
    snprintf(at.file, sizeof at.file, "%s", file);
    at.pos = (uint64_t)json_integer_value(pj);
    const char *gtid = jstr(src, "gtid");
    size_t i;
    const json_t *ch;
    json_array_foreach(changes, i, ch)
    {
        const char *db = jstr(ch, "db"), *table = jstr(ch, "tableName");
        if (!db || !table) {
            rc = rl_err_set(err, RL_ECORRUPT, "schema event: tableChanges[%zu] without db and "
                                              "tableName",
                            i);
            goto out;
        }
        const char *pdb = jstr(ch, "previousDb"), *ptable = jstr(ch, "previousTableName");
        if (pdb && ptable && (rc = binlog_schema_add(h, pdb, ptable, &at, gtid, NULL, false)) < 0) {
            rl_err_set(err, rc, "out of memory");
            goto out;
        }
        const json_t *tj = json_object_get(ch, "table");
        binlog_schema_table *def = NULL;
        if (json_is_object(tj) && (rc = load_table(h, tj, db, table, &def, err)) < 0)
            goto out;
        if ((rc = binlog_schema_add(h, db, table, &at, gtid, def, false)) < 0) {
            rl_err_set(err, rc, "out of memory");
            goto out;
        }
    }
out:
    json_decref(root);
    return rc;
}

/* ------------------------------------------------------------------ restoring */

typedef struct load_ctx {
    binlog_schema_t *hist;
    int64_t next; /* first offset not loaded yet */
    size_t events;
    rl_err *err;
} load_ctx;

static int load_record(void *ctx, const log_record *rec)
{
    load_ctx *c = ctx;
    if (rec->offset < c->next)
        return 0; /* the read began at a batch before the offset asked for */
    c->next = rec->offset + 1;
    if (!rec->value.p)
        return 0;
    int rc = schema_load_event(c->hist, rec->value, c->err);
    if (rc < 0)
        return rl_err_wrap(c->err, rc, "offset %lld", (long long)rec->offset);
    c->events++;
    return 0;
}

static int load_history(rowlogd_source *src, binlog_schema_t *hist, rl_err *err)
{
    const char *topic = src->opts->topic_prefix;
    int nparts = log_store_partitions(src->store, topic);
    if (nparts == RL_ENOTFOUND)
        return 0;
    if (nparts < 0)
        return rl_err_set(err, nparts, "schema topic %s: %s", topic, rl_strerror(nparts));
    rl_buf scratch = {0};
    size_t events = 0;
    int rc = 0;
    for (uint32_t p = 0; p < (uint32_t)nparts && rc == 0; p++) {
        int64_t start, hwm;
        if (log_store_offsets(src->store, topic, p, &start, &hwm) < 0)
            continue;
        load_ctx c = {hist, start, 0, err};
        while (c.next < hwm && rc == 0) {
            log_read rd;
            memset(&rd, 0, sizeof rd);
            rc = log_store_read(src->store, topic, p, c.next, 1u << 20, &rd, err);
            if (rc < 0)
                break;
            rl_slice b = rd.bytes;
            int64_t before = c.next;
            while (b.len > 0 && rc == 0) {
                int n = log_batch_decode(b, &scratch, 64u << 20, load_record, &c, err);
                if (n < 0) {
                    rc = n;
                    break;
                }
                b.p += n;
                b.len -= (size_t)n;
            }
            log_read_release(&rd);
            if (rc == 0 && c.next == before)
                break; /* nothing readable below the high watermark */
        }
        if (rc < 0)
            rl_err_wrap(err, rc, "restoring the schema history from %s-%u", topic, p);
        events += c.events;
    }
    rl_buf_free(&scratch);
    if (rc == 0)
        rl_info("schema: history restored from topic %s: %zu events, %zu versions", topic,
                events, binlog_schema_count(hist));
    return rc;
}

int rowlogd_schema_attach(rowlogd_source *src, binlog_decoder_t *dec, rl_err *err)
{
    binlog_decoder_set_source_query(dec, src->opts->source.source_query);
    if (!src->opts->source.schema_history)
        return 0;
    if (!src->schema) {
        struct rowlogd_schema *s = calloc(1, sizeof *s);
        if (!s)
            return rl_err_set(err, -ENOMEM, "out of memory");
        s->opts = src->opts->source;
        s->attempt = (binlog_schema_provider){s, fetch_attempt};
        s->retry = (schema_retry){SCHEMA_RETRY_FIRST_MS, SCHEMA_RETRY_MAX_MS,
                                  SCHEMA_RETRY_BUDGET_MS};
        s->src = src;
        binlog_schema_provider prov = {s, provider_fetch};
        int rc = binlog_schema_new(&s->hist, &prov);
        if (rc < 0) {
            free(s);
            return rl_err_set(err, rc, "out of memory");
        }
        /* One stream, in order, and nothing past the checkpoint (versions are committed with
         * the log, rolled back past it): newest versions, whatever the file numbering. */
        binlog_schema_set_live(s->hist, true);
        /* The schema topic is the history: never deleted by retention nor compacted. */
        log_topic_config cfg;
        log_topic_config_init(&cfg);
        cfg.retention_ms = -1;
        cfg.retention_bytes = -1;
        cfg.cleanup = LOG_CLEANUP_DELETE;
        rc = log_store_topic_config(src->store, src->opts->topic_prefix, &cfg, err);
        if (rc == 0)
            rc = load_history(src, s->hist, err);
        if (rc < 0) {
            binlog_schema_free(s->hist);
            free(s);
            return rc;
        }
        src->schema = s;
    }
    binlog_decoder_set_schema(dec, src->schema->hist);
    /* Versions become committed with the log commit that made their events durable (several
     * transactions may wait for one group commit, and a reconnect aborts what is not): see
     * rowlogd_schema_durable. */
    binlog_decoder_set_schema_commit(dec, true);
    return 0;
}

void rowlogd_schema_durable(rowlogd_source *src)
{
    if (src->schema)
        binlog_schema_commit(src->schema->hist);
}

void rowlogd_schema_free(rowlogd_source *src)
{
    struct rowlogd_schema *s = src->schema;
    if (s) {
        provider_disconnect(s);
        binlog_schema_free(s->hist);
        rl_buf_free(&s->sql);
        free(s);
    }
    src->schema = NULL;
}
