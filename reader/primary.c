/*
 * primary.c - polling the primary's head (binlog_primary_*): a short query connection of
 * its own, the statements listed in reader/primary.h, and the lag and retention arithmetic
 * over what they return. The GTID set grammars are MariaDB's gtid_binlog_pos
 * ("domain-server-seq", decimal u32-u32-u64, comma separated; MariaDB KB "GTID") and
 * MySQL's gtid_executed ("uuid:interval[:interval...]", intervals "N" or "N-M", MySQL 8.4
 * tagged form "uuid:tag:interval"; mysql-server sql/rpl_gtid.h).
 */
#include "reader/primary.h"

#include <ctype.h>
#include <errno.h>
#include <mysql.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct binlog_primary {
    binlog_source_opts opts;
    MYSQL *mysql;
    char host_port[300];
};

static pthread_once_t primary_lib_once = PTHREAD_ONCE_INIT;
static void primary_lib_init(void)
{
    mysql_library_init(0, NULL, NULL);
}

void binlog_primary_status_free(binlog_primary_status *st)
{
    free(st->files);
    st->files = NULL;
    st->nfiles = 0;
}

int binlog_primary_status_copy(binlog_primary_status *dst, const binlog_primary_status *src)
{
    binlog_primary_status_free(dst);
    binlog_primary_file *files = NULL;
    if (src->nfiles) {
        files = malloc(src->nfiles * sizeof *files);
        if (!files) {
            *dst = *src;
            dst->files = NULL;
            dst->nfiles = 0;
            return -ENOMEM;
        }
        memcpy(files, src->files, src->nfiles * sizeof *files);
    }
    *dst = *src;
    dst->files = files;
    return 0;
}

int binlog_primary_new(binlog_primary_t **out, const binlog_source_opts *opts)
{
    pthread_once(&primary_lib_once, primary_lib_init);
    binlog_primary_t *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->opts = *opts;
    snprintf(p->host_port, sizeof p->host_port, "%s:%u", opts->host,
             opts->port ? opts->port : 3306);
    *out = p;
    return 0;
}

static void primary_disconnect(binlog_primary_t *p)
{
    if (p->mysql)
        mysql_close(p->mysql);
    p->mysql = NULL;
}

void binlog_primary_free(binlog_primary_t *p)
{
    if (!p)
        return;
    primary_disconnect(p);
    free(p);
}

static int primary_connect(binlog_primary_t *p, rl_err *err)
{
    p->mysql = mysql_init(NULL);
    if (!p->mysql)
        return rl_err_set(err, -ENOMEM, "mysql_init: out of memory");
    /* Short timeouts: a poll that hangs only delays the next poll, but the metrics would
     * keep serving a stale head meanwhile. */
    unsigned timeout =
        p->opts.connect_timeout_s && p->opts.connect_timeout_s < 5 ? p->opts.connect_timeout_s : 5;
    my_bool off = 0;
    mysql_optionsv(p->mysql, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_optionsv(p->mysql, MYSQL_OPT_READ_TIMEOUT, &timeout);
    mysql_optionsv(p->mysql, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
    mysql_optionsv(p->mysql, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    mysql_optionsv(p->mysql, MYSQL_OPT_RECONNECT, &off);
    if (!mysql_real_connect(p->mysql, p->opts.host, p->opts.user, p->opts.password, NULL,
                            p->opts.port ? p->opts.port : 3306, NULL, 0)) {
        int rc = rl_err_set(err, RL_ESOURCE, "connect to %s as '%s': %s (error %u)", p->host_port,
                            p->opts.user, mysql_error(p->mysql), mysql_errno(p->mysql));
        primary_disconnect(p);
        return rc;
    }
    return 0;
}

/* Runs sql and returns its result set (NULL with err set on failure). */
static MYSQL_RES *primary_query(binlog_primary_t *p, const char *sql, rl_err *err)
{
    if (mysql_real_query(p->mysql, sql, strlen(sql)) != 0) {
        rl_err_set(err, RL_ESOURCE, "%s: '%s' failed: %s (error %u)", p->host_port, sql,
                   mysql_error(p->mysql), mysql_errno(p->mysql));
        return NULL;
    }
    MYSQL_RES *res = mysql_store_result(p->mysql);
    if (!res)
        rl_err_set(err, RL_ESOURCE, "%s: '%s' returned no result set: %s", p->host_port, sql,
                   mysql_error(p->mysql));
    return res;
}

/* Copies s into out without the whitespace MySQL puts into long GTID sets. */
static void copy_gtid_set(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s; s++) {
        if (isspace((unsigned char)*s))
            continue;
        if (n + 1 >= cap) {
            out[0] = 0; /* too long to be useful: unknown */
            return;
        }
        out[n++] = *s;
    }
    out[n] = 0;
}

static int poll_once(binlog_primary_t *p, binlog_primary_status *st, rl_err *err)
{
    MYSQL_RES *res = primary_query(p, "SELECT VERSION(), @@server_id", err);
    if (!res)
        return RL_ESOURCE;
    MYSQL_ROW row = mysql_fetch_row(res);
    if (row && row[0]) {
        snprintf(st->version, sizeof st->version, "%s", row[0]);
        st->mariadb = strstr(row[0], "MariaDB") != NULL;
        st->server_id = row[1] ? (uint32_t)strtoul(row[1], NULL, 10) : 0;
    }
    mysql_free_result(res);

    /* MySQL 8.4 removed SHOW MASTER STATUS; MariaDB and older MySQL lack the new form. */
    res = primary_query(p, "SHOW MASTER STATUS", err);
    if (!res && !st->mariadb)
        res = primary_query(p, "SHOW BINARY LOG STATUS", err);
    if (!res)
        return RL_ESOURCE;
    row = mysql_fetch_row(res);
    if (!row || !row[0] || !row[1]) {
        mysql_free_result(res);
        return rl_err_set(err, RL_ESOURCE,
                          "%s: SHOW MASTER STATUS returned no row: is log_bin enabled?",
                          p->host_port);
    }
    snprintf(st->head.file, sizeof st->head.file, "%s", row[0]);
    st->head.pos = strtoull(row[1], NULL, 10);
    mysql_free_result(res);

    res = primary_query(
        p, st->mariadb ? "SELECT @@global.gtid_binlog_pos" : "SELECT @@global.gtid_executed", err);
    if (!res)
        return RL_ESOURCE;
    row = mysql_fetch_row(res);
    if (row && row[0])
        copy_gtid_set(st->gtid_set, sizeof st->gtid_set, row[0]);
    mysql_free_result(res);

    res = primary_query(p, "SHOW BINARY LOGS", err);
    if (!res)
        return RL_ESOURCE;
    uint64_t nrows = mysql_num_rows(res);
    if (nrows) {
        st->files = calloc((size_t)nrows, sizeof *st->files);
        if (!st->files) {
            mysql_free_result(res);
            return rl_err_set(err, -ENOMEM, "out of memory");
        }
    }
    while ((row = mysql_fetch_row(res)) != NULL && st->nfiles < nrows) {
        if (!row[0] || !row[1])
            continue;
        binlog_primary_file *f = &st->files[st->nfiles++];
        snprintf(f->name, sizeof f->name, "%s", row[0]);
        f->size = strtoull(row[1], NULL, 10);
    }
    mysql_free_result(res);
    return 0;
}

int binlog_primary_poll(binlog_primary_t *p, binlog_primary_status *st, rl_err *err)
{
    binlog_primary_status_free(st);
    memset(st, 0, sizeof *st);
    st->polled_ms = rl_now_ms();
    int rc = 0;
    if (!p->mysql && (rc = primary_connect(p, err)) != 0)
        return rc;
    rc = poll_once(p, st, err);
    if (rc != 0) {
        /* A failed statement may leave the protocol state unknown: start afresh next time. */
        primary_disconnect(p);
        binlog_primary_status_free(st);
    }
    return rc;
}

/* ------------------------------------------------------------------ derived values */

static long find_file(const binlog_primary_status *st, const char *name)
{
    for (size_t i = 0; i < st->nfiles; i++)
        if (strcmp(st->files[i].name, name) == 0)
            return (long)i;
    return -1;
}

int binlog_primary_lag_bytes(const binlog_primary_status *st, const binlog_pos *at, uint64_t *out)
{
    *out = 0;
    if (strcmp(at->file, st->head.file) == 0) {
        *out = st->head.pos > at->pos ? st->head.pos - at->pos : 0;
        return 0;
    }
    long i = find_file(st, at->file), h = find_file(st, st->head.file);
    if (i < 0)
        return RL_ENOTFOUND;
    if (h >= 0 && h < i)
        return 0; /* we are ahead of the polled head: the poll is older than our position */
    uint64_t lag = st->files[i].size > at->pos ? st->files[i].size - at->pos : 0;
    for (long j = i + 1; j < (long)st->nfiles && j != h; j++)
        lag += st->files[j].size;
    lag += st->head.pos;
    *out = lag;
    return 0;
}

int binlog_primary_headroom_bytes(const binlog_primary_status *st, const binlog_pos *at,
                                  uint64_t *out)
{
    *out = 0;
    long i = find_file(st, at->file);
    if (i < 0)
        return RL_ENOTFOUND;
    uint64_t room = at->pos;
    for (long j = 0; j < i; j++)
        room += st->files[j].size;
    *out = room;
    return 0;
}

/* One parsed GTID set: per key (MariaDB domain, MySQL uuid[:tag]) the highest sequence. */
enum { GTID_MAX_KEYS = 256 };
typedef struct gtid_entries {
    size_t n;
    char key[GTID_MAX_KEYS][64];
    uint64_t seq[GTID_MAX_KEYS];
} gtid_entries;

static int gtid_put(gtid_entries *g, const char *key, size_t klen, uint64_t seq)
{
    if (klen == 0 || klen >= sizeof g->key[0])
        return RL_ECORRUPT;
    for (size_t i = 0; i < g->n; i++)
        if (strlen(g->key[i]) == klen && memcmp(g->key[i], key, klen) == 0) {
            if (seq > g->seq[i])
                g->seq[i] = seq;
            return 0;
        }
    if (g->n == GTID_MAX_KEYS)
        return RL_ECORRUPT;
    memcpy(g->key[g->n], key, klen);
    g->key[g->n][klen] = 0;
    g->seq[g->n++] = seq;
    return 0;
}

static bool parse_dec(const char **s, const char *end, uint64_t *v)
{
    const char *p = *s;
    uint64_t x = 0;
    if (p >= end || !isdigit((unsigned char)*p))
        return false;
    for (; p < end && isdigit((unsigned char)*p); p++) {
        if (x > (UINT64_MAX - 9) / 10)
            return false;
        x = x * 10 + (uint64_t)(*p - '0');
    }
    *s = p;
    *v = x;
    return true;
}

/* MariaDB "D-S-N": key D, sequence N. */
static int gtid_parse_mariadb(gtid_entries *g, const char *p, const char *end)
{
    const char *d0 = p;
    uint64_t dom, srv, seq;
    if (!parse_dec(&p, end, &dom) || p >= end || *p != '-')
        return RL_ECORRUPT;
    const char *d1 = p++;
    if (!parse_dec(&p, end, &srv) || p >= end || *p != '-')
        return RL_ECORRUPT;
    p++;
    if (!parse_dec(&p, end, &seq) || p != end || dom > UINT32_MAX || srv > UINT32_MAX)
        return RL_ECORRUPT;
    return gtid_put(g, d0, (size_t)(d1 - d0), seq);
}

/* MySQL "UUID[:TAG]:A[-B][:...]": key UUID (or UUID:TAG for tagged intervals), sequence the
 * largest interval end. */
static int gtid_parse_mysql(gtid_entries *g, const char *p, const char *end)
{
    const char *colon = memchr(p, ':', (size_t)(end - p));
    if (!colon || colon - p != 36)
        return RL_ECORRUPT;
    for (const char *q = p; q < colon; q++)
        if (!isxdigit((unsigned char)*q) && *q != '-')
            return RL_ECORRUPT;
    char key[64];
    size_t klen = 36;
    memcpy(key, p, klen);
    p = colon;
    bool any = false;
    while (p < end) {
        p++; /* ':' */
        if (p < end && isdigit((unsigned char)*p)) {
            uint64_t a, b;
            if (!parse_dec(&p, end, &a))
                return RL_ECORRUPT;
            b = a;
            if (p < end && *p == '-') {
                p++;
                if (!parse_dec(&p, end, &b) || b < a)
                    return RL_ECORRUPT;
            }
            if (gtid_put(g, key, klen, b) != 0)
                return RL_ECORRUPT;
            any = true;
        } else {
            const char *t = p;
            while (p < end && *p != ':')
                p++;
            if (p == t || 37 + (size_t)(p - t) >= sizeof key)
                return RL_ECORRUPT;
            key[36] = ':';
            memcpy(key + 37, t, (size_t)(p - t));
            klen = 37 + (size_t)(p - t);
        }
        if (p < end && *p != ':')
            return RL_ECORRUPT;
    }
    return any ? 0 : RL_ECORRUPT;
}

static int gtid_parse(gtid_entries *g, const char *set)
{
    g->n = 0;
    const char *p = set;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\n')
            p++;
        if (!*p)
            break;
        const char *end = p;
        while (*end && *end != ',' && *end != ' ' && *end != '\n')
            end++;
        const char *colon = memchr(p, ':', (size_t)(end - p));
        int rc = colon ? gtid_parse_mysql(g, p, end) : gtid_parse_mariadb(g, p, end);
        if (rc != 0)
            return rc;
        p = end;
    }
    return 0;
}

int binlog_primary_gtid_lag(const char *head_set, const char *our_set, uint64_t *out)
{
    *out = 0;
    if (!head_set || !our_set || !head_set[0] || !our_set[0])
        return RL_ENOTFOUND;
    gtid_entries *head = malloc(2 * sizeof *head);
    if (!head)
        return -ENOMEM;
    gtid_entries *ours = head + 1;
    int rc = gtid_parse(head, head_set);
    if (rc == 0)
        rc = gtid_parse(ours, our_set);
    if (rc == 0) {
        uint64_t lag = 0;
        for (size_t i = 0; i < head->n; i++) {
            uint64_t mine = 0;
            for (size_t j = 0; j < ours->n; j++)
                if (strcmp(head->key[i], ours->key[j]) == 0)
                    mine = ours->seq[j];
            if (head->seq[i] > mine)
                lag += head->seq[i] - mine;
        }
        *out = lag;
    }
    free(head);
    return rc;
}

int binlog_primary_gtid_each(const char *set, void (*fn)(void *ctx, const char *key, uint64_t seq),
                             void *ctx)
{
    gtid_entries *g = malloc(sizeof *g);
    if (!g)
        return -ENOMEM;
    int rc = gtid_parse(g, set ? set : "");
    if (rc == 0) {
        for (size_t i = 0; i < g->n; i++)
            fn(ctx, g->key[i], g->seq[i]);
        rc = (int)g->n;
    }
    free(g);
    return rc;
}
