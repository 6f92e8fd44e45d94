/*
 * rowlogd_source.c - the source thread of rowlogd: primary -> decoder -> log.
 *
 * Exactly-once into the log rests on two rules:
 *   1. A log commit happens only on a transaction boundary (inside the decoder's on_commit
 *      callback, or at a stop when nothing was appended since the last boundary), and stores
 *      that boundary's binlog position and GTID state as the log's checkpoint, atomically with
 *      the partitions' end offsets.
 *   2. On start the log cuts every partition back to the checkpoint and the dump resumes from
 *      the checkpoint's position, so whatever was appended after it is written again exactly
 *      once.
 * Group commit: a boundary is committed at once when the primary has nothing more buffered
 * (low latency when idle); while events keep arriving, commits are spaced by
 * commit_interval_ms so one fsync covers many transactions.
 *
 * Metrics (rowlogd_source_stats): counters are bumped with a relaxed load and store (this
 * thread is their only writer), the position and GTID strings are copied under the stats
 * lock at each transaction boundary and heartbeat only. Event header fields used here
 * (mysql-server libs/mysql/binlog/event/binlog_event.h, v4 header):
 *   0 timestamp u32 (s) | 4 type u8 | 5 server_id u32 | 9 event_size u32 | 13 log_pos u32 |
 *   17 flags u16 (0x20 LOG_EVENT_ARTIFICIAL_F)
 * and of MySQL's GTID_LOG_EVENT / ANONYMOUS_GTID_LOG_EVENT body (control_events.h,
 * Gtid_event): flags u8 | sid 16 | gno u64 | lt_type u8 (2 = logical timestamps) |
 * last_committed u64 | sequence_number u64 | immediate_commit_timestamp u56 (us; bit 55 set:
 * an original_commit_timestamp follows).
 */
#include "server/rowlogd_int.h"

#include <errno.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The source thread's state and the checkpoint's table lists (rowlogd_int.h, shared with
 * rowlogd_ondemand.c). */
typedef rowlogd_source_run source_run;
typedef rowlogd_snap_entry snap_entry;
typedef rowlogd_snap_state snap_state;

void rowlogd__snap_state_free(snap_state *ss)
{
    for (size_t i = 0; i < ss->n; i++) {
        free(ss->e[i].db);
        free(ss->e[i].table);
        free(ss->e[i].token);
    }
    free(ss->e);
    memset(ss, 0, sizeof *ss);
}

snap_entry *rowlogd__snap_state_add(snap_state *ss, const char *db, size_t dblen, const char *table,
                                    size_t tlen)
{
    if (ss->n == ss->cap) {
        size_t cap = ss->cap ? ss->cap * 2 : 16;
        snap_entry *e = realloc(ss->e, cap * sizeof *e);
        if (!e)
            return NULL;
        ss->e = e;
        ss->cap = cap;
    }
    snap_entry *e = &ss->e[ss->n];
    memset(e, 0, sizeof *e);
    e->db = strndup(db, dblen);
    e->table = strndup(table, tlen);
    e->token = strdup("");
    if (!e->db || !e->table || !e->token) {
        free(e->db);
        free(e->table);
        free(e->token);
        return NULL;
    }
    ss->n++;
    return e;
}

snap_entry *rowlogd__snap_state_find(snap_state *ss, const char *db, const char *table)
{
    if (ss->last_hit < ss->n && strcmp(ss->e[ss->last_hit].db, db) == 0 &&
        strcmp(ss->e[ss->last_hit].table, table) == 0)
        return &ss->e[ss->last_hit];
    for (size_t i = 0; i < ss->n; i++)
        if (strcmp(ss->e[i].db, db) == 0 && strcmp(ss->e[i].table, table) == 0) {
            ss->last_hit = i;
            return &ss->e[i];
        }
    return NULL;
}

/* Names in the checkpoint: bytes outside [A-Za-z0-9_$-] as %XX, so '.' separates db from
 * table and a space separates the name from the token. */
void rowlogd__put_pct(rl_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '_' || c == '$' || c == '-') {
            char ch = (char)c;
            rl_buf_append(b, &ch, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            rl_buf_append(b, e, 3);
        }
    }
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : -1;
}

/* Decodes %XX in place over [p, p+n); returns the decoded length or -1. */
static long pct_decode(char *p, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '%') {
            if (i + 2 >= n)
                return -1;
            int h = hexval(p[i + 1]), l = hexval(p[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            p[o++] = (char)(h * 16 + l);
            i += 2;
        } else {
            p[o++] = p[i];
        }
    }
    return (long)o;
}

void rowlogd__checkpoint_table_line(rl_buf *b, const char *key, const snap_entry *e,
                                    bool with_token)
{
    rl_buf_puts(b, key);
    rl_buf_putc(b, '=');
    rowlogd__put_pct(b, e->db);
    rl_buf_putc(b, '.');
    rowlogd__put_pct(b, e->table);
    if (with_token) {
        rl_buf_putc(b, ' ');
        rl_buf_puts(b, e->token);
    }
    rl_buf_putc(b, '\n');
}

/* "db.table[ token]" of a snapshot_table / snapshot_done line (percent-encoded names). */
int rowlogd__snap_parse_line(snap_state *ss, const char *v, size_t vlen, bool done, rl_err *err)
{
    char tmp[1024];
    if (vlen >= sizeof tmp)
        return rl_err_set(err, RL_ECORRUPT, "log checkpoint: snapshot line too long");
    memcpy(tmp, v, vlen);
    tmp[vlen] = 0;
    char *sp = strchr(tmp, ' ');
    const char *token = "";
    if (sp) {
        *sp = 0;
        token = sp + 1;
    }
    char *dot = strchr(tmp, '.');
    if (!dot)
        return rl_err_set(err, RL_ECORRUPT,
                          "log checkpoint: snapshot line '%s' has no "
                          "db.table",
                          tmp);
    *dot = 0;
    long dl = pct_decode(tmp, strlen(tmp)), tl = pct_decode(dot + 1, strlen(dot + 1));
    if (dl < 0 || tl < 0)
        return rl_err_set(err, RL_ECORRUPT, "log checkpoint: bad %%-escape in snapshot line");
    snap_entry *e = rowlogd__snap_state_add(ss, tmp, (size_t)dl, dot + 1, (size_t)tl);
    if (!e)
        return rl_err_set(err, -ENOMEM, "out of memory");
    e->done = done;
    char *t = strdup(token);
    if (!t)
        return rl_err_set(err, -ENOMEM, "out of memory");
    free(e->token);
    e->token = t;
    return 0;
}

/* Checkpoint blob: "file=NAME\npos=N\ngtid_state=STATE\n". Text, so that an operator can
 * read it (it is stored inside the log's checkpoint file). */
void rowlogd__checkpoint_format(rl_buf *b, const char *file, uint64_t pos, const char *gtid_state)
{
    rl_buf_reset(b);
    rl_buf_printf(b, "file=%s\npos=%llu\ngtid_state=%s\n", file, (unsigned long long)pos,
                  gtid_state ? gtid_state : "");
}

static int checkpoint_parse(rl_slice blob, binlog_start *start, snap_state *ss, snap_state *od,
                            rl_err *err)
{
    memset(start, 0, sizeof *start);
    const char *p = (const char *)blob.p, *end = p + blob.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            nl = end;
        const char *eq = memchr(p, '=', (size_t)(nl - p));
        if (!eq)
            return rl_err_set(err, RL_ECORRUPT, "log checkpoint: malformed line '%.*s'",
                              (int)(nl - p), p);
        size_t klen = (size_t)(eq - p), vlen = (size_t)(nl - eq - 1);
        if (klen == 4 && memcmp(p, "file", 4) == 0) {
            if (vlen >= sizeof start->at.file)
                return rl_err_set(err, RL_ECORRUPT,
                                  "log checkpoint: binlog file name of %zu bytes (at most %zu)",
                                  vlen, sizeof start->at.file - 1);
            memcpy(start->at.file, eq + 1, vlen);
            start->at.file[vlen] = 0;
        } else if (klen == 3 && memcmp(p, "pos", 3) == 0) {
            start->at.pos = strtoull(eq + 1, NULL, 10);
        } else if (klen == 10 && memcmp(p, "gtid_state", 10) == 0) {
            /* Never cut: a shortened GTID state would resume from a wrong position. */
            if (vlen >= sizeof start->gtid_state)
                return rl_err_set(err, RL_ECORRUPT,
                                  "log checkpoint: GTID state of %zu bytes (at most %zu)", vlen,
                                  sizeof start->gtid_state - 1);
            memcpy(start->gtid_state, eq + 1, vlen);
            start->gtid_state[vlen] = 0;
        } else if (ss && klen == 8 && memcmp(p, "snapshot", 8) == 0) {
            ss->running = vlen == 7 && memcmp(eq + 1, "running", 7) == 0;
        } else if (ss && ((klen == 14 && memcmp(p, "snapshot_table", 14) == 0) ||
                          (klen == 13 && memcmp(p, "snapshot_done", 13) == 0))) {
            int rc = rowlogd__snap_parse_line(ss, eq + 1, vlen, klen == 13, err);
            if (rc != 0)
                return rc;
        } else if (od && klen == 14 && memcmp(p, "ondemand_table", 14) == 0) {
            int rc = rowlogd__snap_parse_line(od, eq + 1, vlen, false, err);
            if (rc != 0)
                return rc;
        }
        p = nl + 1;
    }
    if (!start->at.file[0] && !start->gtid_state[0])
        return rl_err_set(err, RL_ECORRUPT, "log checkpoint holds no binlog position");
    return 0;
}

static inline void stat_set_i64(_Atomic int64_t *c, int64_t v)
{
    atomic_store_explicit(c, v, memory_order_relaxed);
}

int64_t rowlogd_lag_ms(int64_t now_ms, int64_t last_event_ts_us, bool idle, int64_t caught_up_ms,
                       unsigned heartbeat_ms)
{
    int64_t lag = 0;
    if (idle && caught_up_ms > 0)
        lag = now_ms - caught_up_ms - (int64_t)heartbeat_ms;
    else if (last_event_ts_us > 0)
        lag = now_ms - last_event_ts_us / 1000;
    return lag > 0 ? lag : 0;
}

void rowlogd_source_stats_position(rowlogd_source_stats *st, rowlogd_source_position *out)
{
    pthread_mutex_lock(&st->lock);
    out->at = st->at;
    memcpy(out->gtid_state, st->gtid_state, sizeof out->gtid_state);
    out->last_error = st->last_error;
    memcpy(out->last_error_msg, st->last_error_msg, sizeof out->last_error_msg);
    out->last_error_ms = st->last_error_ms;
    pthread_mutex_unlock(&st->lock);
}

enum {
    EV_ROTATE = 4,
    EV_FORMAT_DESCRIPTION = 15,
    EV_HEARTBEAT = 27,
    EV_GTID = 33,
    EV_ANONYMOUS_GTID = 34,
    EV_PREVIOUS_GTIDS = 35,
    EV_HEARTBEAT_V2 = 41,
    EV_MARIA_BINLOG_CHECKPOINT = 161,
    EV_MARIA_GTID_LIST = 163,
    EV_F_ARTIFICIAL = 0x20,
};

/* Metrics of one event read from the primary, before it is decoded: counts, the source
 * timestamp behind the lag, heartbeats (caught up, and the position they carry). */
static void observe_event(source_run *run, binlog_decoder_t *dec, rl_slice ev)
{
    rowlogd_source_stats *st = &run->src->stats;
    rl_reader rd = rl_reader_make(ev);
    uint32_t ts = rl_get_u32le(&rd);
    uint8_t type = rl_get_u8(&rd);
    rl_reader_skip(&rd, 8);
    uint32_t log_pos = rl_get_u32le(&rd);
    uint16_t flags = rl_get_u16le(&rd);
    if (rd.err)
        return; /* too short: the decoder reports it */
    rowlogd__stat_add(&st->events[type], 1);
    rowlogd__stat_add(&st->event_bytes[type], ev.len);
    if (type == EV_HEARTBEAT || type == EV_HEARTBEAT_V2) {
        /* The primary sends a heartbeat only when it has had nothing to send for a whole
         * period: everything it wrote so far has reached us. */
        binlog_pos at;
        binlog_decoder_position(dec, &at);
        if (type == EV_HEARTBEAT && log_pos != 0 && at.file[0]) {
            pthread_mutex_lock(&st->lock);
            st->at = at;
            st->at.pos = log_pos;
            pthread_mutex_unlock(&st->lock);
        }
        stat_set_i64(&st->caught_up_ms, rl_now_ms());
        atomic_store_explicit(&st->idle, true, memory_order_relaxed);
        return;
    }
    if ((flags & EV_F_ARTIFICIAL) || log_pos == 0 || type == EV_ROTATE ||
        type == EV_FORMAT_DESCRIPTION || type == EV_PREVIOUS_GTIDS ||
        type == EV_MARIA_BINLOG_CHECKPOINT || type == EV_MARIA_GTID_LIST)
        return; /* written when a file opens, or replayed: not a transaction's time */
    if (type == EV_GTID || type == EV_ANONYMOUS_GTID) {
        rl_reader_skip(&rd, 1 + 16 + 8);
        if (rl_get_u8(&rd) == 2) {
            rl_reader_skip(&rd, 16);
            uint64_t cts = rl_get_uNle(&rd, 7) & ((UINT64_C(1) << 55) - 1);
            if (!rd.err && cts > 0) {
                run->exact_ts = true;
                stat_set_i64(&st->last_event_ts_us, (int64_t)cts);
                atomic_store_explicit(&st->idle, false, memory_order_relaxed);
                return;
            }
        }
    }
    /* No clock read per event (a clock_gettime costs ~100 ns on this kind of VM): the lag
     * is computed when it is scraped. */
    atomic_store_explicit(&st->idle, false, memory_order_relaxed);
    if (run->exact_ts || ts == 0)
        return; /* the GTID event's microseconds are better than the header's seconds */
    int64_t ts_us = (int64_t)ts * 1000000 + 500000;
    if (atomic_load_explicit(&st->last_event_ts_us, memory_order_relaxed) != ts_us)
        stat_set_i64(&st->last_event_ts_us, ts_us);
}

int rowlogd__commit_now(source_run *run)
{
    int rc = log_store_commit(run->src->store, rl_buf_slice(&run->checkpoint), run->err);
    if (rc == 0) {
        rowlogd_schema_durable(run->src);
        run->boundary_pending = false;
        run->last_commit_ns = rl_mono_ns();
    }
    return rc;
}

struct rowlogd_filter;
static int filter_pass(struct rowlogd_filter *f, const binlog_change *ch, bool *pass, rl_err *err);

static int publish_change(void *ctx, const binlog_change *ch);

static int on_change(void *ctx, const binlog_change *ch)
{
    source_run *run = ctx;
    if (run->src->filter) {
        bool pass;
        int frc = filter_pass(run->src->filter, ch, &pass, run->err);
        if (frc != 0)
            return frc;
        if (!pass)
            return 0;
    }
    run->appended_since_boundary = true;
    rowlogd__stat_add(&run->src->stats.appended_bytes, ch->key.len + ch->value.len);
    if (ch->op == 's') {
        /* A schema change (DDL) on topic PREFIX: appended as it is, never a row operation,
         * never followed by a tombstone (its key names the table, not a row). */
        rowlogd__stat_add(&run->src->stats.schema_changes, 1);
        return log_store_append(run->src->store, ch->topic, ch->key, ch->value, ch->ts_ms,
                                run->err);
    }
    /* A change of an XA group waits in the internal topic for its XA COMMIT. */
    if (ch->xid && run->xa)
        return rowlogd_xa_hold(run->xa, ch, run->err);
    return publish_change(run, ch);
}

/* Appends a row change (op c/u/d) to its topic: now, or at its XA COMMIT (rowlogd_xa_end). */
static int publish_change(void *ctx, const binlog_change *ch)
{
    source_run *run = ctx;
    run->appended_since_boundary = true;
    if (run->od) {
        int orc = rowlogd__od_note_change(run, ch);
        if (orc != 0)
            return orc;
    }
    run->rows++;
    rowlogd__stat_add(&run->src->stats.rows[ch->op == 'c'   ? ROWLOGD_OP_INSERT
                                            : ch->op == 'u' ? ROWLOGD_OP_UPDATE
                                                            : ROWLOGD_OP_DELETE],
                      1);
    int rc = log_store_append(run->src->store, ch->topic, ch->key, ch->value, ch->ts_ms, run->err);
    /* On a compacted topic a delete is followed by a tombstone (same key, null value), as
     * Kafka connectors do, so compaction can eventually forget the key. */
    if (rc == 0 && ch->op == 'd' && (run->src->opts->topic_defaults.cleanup & LOG_CLEANUP_COMPACT))
        rc = log_store_append(run->src->store, ch->topic, ch->key, rl_slice_make(NULL, 0),
                              ch->ts_ms, run->err);
    return rc;
}

/* Writer-side housekeeping between events: the interval flush policy's fsync when it is due
 * (heartbeats keep this running on an idle source) and retention every few seconds. */
static int housekeeping(source_run *run)
{
    log_store_t *store = run->src->store;
    if (log_store_sync_due(store) == 0) {
        int rc = log_store_sync(store, run->err);
        if (rc != 0)
            return rc;
    }
    int64_t now = rl_mono_ns();
    if (now - run->last_retain_ns >= (int64_t)5 * 1000000000) {
        run->last_retain_ns = now;
        rl_err rerr = {0};
        int n = log_store_retain(store, rl_now_ms(), &rerr);
        if (n < 0)
            rl_warn("retention: %s", rerr.msg);
        else if (n > 0)
            rl_info("retention deleted %d segments", n);
    }
    return 0;
}

static int on_commit(void *ctx, const binlog_checkpoint *cp)
{
    source_run *run = ctx;
    /* The GTID index (GET /v1/offsets, rowlog tail --from gtid:) gets this transaction's
     * first offset per partition; it becomes durable with the commit below or a later one. */
    int rc = log_store_txn_end(run->src->store, cp->gtid, run->err);
    if (rc == RL_ECONFIG) {
        /* A GTID the index cannot hold loses only the seek by that GTID, not the records. */
        if (!run->gtid_warned)
            rl_warn("GTID index: %s (transactions with such GTIDs are not indexed)",
                    run->err ? run->err->msg : "malformed GTID");
        run->gtid_warned = true;
        if (run->err)
            memset(run->err, 0, sizeof *run->err);
    } else if (rc != 0) {
        return rc;
    }
    rowlogd__checkpoint_format(&run->checkpoint, cp->file, cp->pos, cp->gtid_state);
    if (run->od && (rc = rowlogd__od_on_commit(run, cp)) != 0)
        return rc;
    if (!rl_buf_ok(&run->checkpoint))
        return rl_err_set(run->err, -ENOMEM, "out of memory");
    run->boundary_pending = true;
    run->appended_since_boundary = false;
    run->txns++;
    rowlogd_source_stats *st = &run->src->stats;
    rowlogd__stat_add(&st->txns, 1);
    if (atomic_load_explicit(&st->undurable_since_ms, memory_order_relaxed) == 0)
        stat_set_i64(&st->undurable_since_ms, rl_now_ms());
    pthread_mutex_lock(&st->lock);
    snprintf(st->at.file, sizeof st->at.file, "%s", cp->file);
    st->at.pos = cp->pos;
    snprintf(st->gtid_state, sizeof st->gtid_state, "%s", cp->gtid_state ? cp->gtid_state : "");
    pthread_mutex_unlock(&st->lock);
    int64_t interval_ns = (int64_t)run->src->opts->commit_interval_ms * 1000000;
    /* (No connection: a test driving the callbacks; nothing more is pending.) */
    if (!run->conn || !binlog_conn_pending(run->conn) ||
        rl_mono_ns() - run->last_commit_ns >= interval_ns)
        return rowlogd__commit_now(run);
    return 0;
}

/* An XA group ends prepared: its changes are held (rowlogd_xa_hold), and its checkpoint is
 * committed with them like any transaction's. */
static int on_xa_prepare(void *ctx, const char *xid, const binlog_checkpoint *cp)
{
    source_run *run = ctx;
    rowlogd_xa_prepared(run->xa, xid);
    return on_commit(ctx, cp);
}

/* XA COMMIT / XA ROLLBACK: the held changes go to their topics (commit) and their records in
 * the internal topic get tombstones, all before this group's checkpoint. */
static int on_xa_end(void *ctx, const char *xid, bool commit, const binlog_checkpoint *cp)
{
    source_run *run = ctx;
    int rc;
    if (commit && rowlogd_xa_needs_commit(run->xa, xid)) {
        /* Prepared in a group whose commit is still deferred (group commit): made visible
         * first, so that the held changes can be read back. Nothing was appended since that
         * boundary (this group has no changes of its own). */
        if ((rc = rowlogd__commit_now(run)) != 0 ||
            (rc = log_store_sync(run->src->store, run->err)) != 0)
            return rc;
    }
    rc = rowlogd_xa_end(run->xa, xid, commit, publish_change, run, run->err);
    if (rc < 0)
        return rc;
    if (rc == 0 && commit)
        rl_info("XA COMMIT %s (GTID %s): no change held for it (prepared before the start "
                "position, or every change filtered out)",
                xid, cp->gtid && cp->gtid[0] ? cp->gtid : "none");
    run->appended_since_boundary = true; /* the tombstones */
    return on_commit(ctx, cp);
}

/* ------------------------------------------------------------------ stream filter */

/* --include / --exclude on the stream. A change's topic is sanitized (several tables may map
 * to one topic name, and it cannot be turned back into db.table), so the first change of each
 * topic reads "db" and "table" from the envelope's "source" object and the verdict is cached
 * per topic: one hash lookup per change afterwards. (Two tables whose names sanitize to the
 * same topic share the verdict of the first one seen; they share their topic anyway.) */
typedef struct filter_slot {
    char *topic; /* owned, NULL = empty slot */
    size_t len;
    uint64_t hash;
    bool pass;
} filter_slot;

struct rowlogd_filter {
    regex_t include, exclude;
    bool have_include, have_exclude;
    filter_slot *slots;
    size_t cap, used;   /* cap is a power of two */
    const char *prefix; /* opts->topic_prefix: the schema-change topic */
};

static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

void rowlogd__filter_free(struct rowlogd_filter *f)
{
    if (!f)
        return;
    if (f->have_include)
        regfree(&f->include);
    if (f->have_exclude)
        regfree(&f->exclude);
    for (size_t i = 0; i < f->cap; i++)
        free(f->slots[i].topic);
    free(f->slots);
    free(f);
}

/* NULL in *out when no filter is configured. */
int rowlogd__filter_new(struct rowlogd_filter **out, const rowlogd_opts *o, rl_err *err)
{
    *out = NULL;
    if (!o->include[0] && !o->exclude[0])
        return 0;
    struct rowlogd_filter *f = calloc(1, sizeof *f);
    if (!f)
        return rl_err_set(err, -ENOMEM, "out of memory");
    f->prefix = o->topic_prefix;
    const char *res[2] = {o->include, o->exclude};
    regex_t *re[2] = {&f->include, &f->exclude};
    bool *have[2] = {&f->have_include, &f->have_exclude};
    for (int i = 0; i < 2; i++) {
        if (!res[i][0])
            continue;
        rl_buf pat = RL_BUF_INIT;
        rl_buf_printf(&pat, "^(%s)$", res[i]);
        rl_buf_putc(&pat, 0);
        int rc = rl_buf_ok(&pat) ? regcomp(re[i], (const char *)pat.p, REG_EXTENDED | REG_NOSUB)
                                 : REG_ESPACE;
        rl_buf_free(&pat);
        if (rc != 0) {
            rowlogd__filter_free(f);
            return rl_err_set(err, RL_ECONFIG, "--%s: not a POSIX extended regex",
                              i ? "exclude" : "include");
        }
        *have[i] = true;
    }
    *out = f;
    return 0;
}

/* Reads the JSON string starting after its opening quote at p (escapes as rl_buf_json_str
 * writes them) into out; returns false when malformed. */
static bool json_str(const char *p, const char *end, rl_buf *out)
{
    while (p < end && *p != '"') {
        if (*p != '\\') {
            rl_buf_putc(out, *p++);
            continue;
        }
        if (++p >= end)
            return false;
        char c = *p++;
        switch (c) {
        case 'n':
            rl_buf_putc(out, '\n');
            break;
        case 't':
            rl_buf_putc(out, '\t');
            break;
        case 'r':
            rl_buf_putc(out, '\r');
            break;
        case 'b':
            rl_buf_putc(out, '\b');
            break;
        case 'f':
            rl_buf_putc(out, '\f');
            break;
        case 'u': {
            if (end - p < 4)
                return false;
            unsigned u = 0;
            for (int i = 0; i < 4; i++) {
                int h = hexval(p[i]);
                if (h < 0)
                    return false;
                u = u * 16 + (unsigned)h;
            }
            p += 4;
            if (u < 0x80) {
                rl_buf_putc(out, (char)u);
            } else if (u < 0x800) {
                rl_buf_putc(out, (char)(0xC0 | (u >> 6)));
                rl_buf_putc(out, (char)(0x80 | (u & 0x3F)));
            } else {
                rl_buf_putc(out, (char)(0xE0 | (u >> 12)));
                rl_buf_putc(out, (char)(0x80 | ((u >> 6) & 0x3F)));
                rl_buf_putc(out, (char)(0x80 | (u & 0x3F)));
            }
            break;
        }
        default:
            rl_buf_putc(out, c);
            break;
        }
    }
    return p < end;
}

/* The value of "key":"..." in [p, end), or false. */
static bool json_field(const char *p, const char *end, const char *key, rl_buf *out)
{
    size_t kl = strlen(key);
    for (const char *q = p; q + kl + 4 <= end; q++) {
        if (q[0] == '"' && memcmp(q + 1, key, kl) == 0 && q[kl + 1] == '"' && q[kl + 2] == ':' &&
            q[kl + 3] == '"')
            return json_str(q + kl + 4, end, out);
    }
    return false;
}

/* db.table of a change, from the last "source":{ object of its envelope (the envelope's own:
 * it follows before and after, and quotes inside values are escaped). */
static bool change_db_table(const binlog_change *ch, rl_buf *out)
{
    static const char pat[] = "\"source\":{";
    const size_t pl = sizeof pat - 1;
    const char *v = (const char *)ch->value.p, *end = v + ch->value.len, *src = NULL;
    for (const char *q = end - pl; q >= v; q--)
        if (memcmp(q, pat, pl) == 0) {
            src = q + pl;
            break;
        }
    if (!src)
        return false;
    if (!json_field(src, end, "db", out))
        return false;
    rl_buf_putc(out, '.');
    if (!json_field(src, end, "table", out))
        return false;
    rl_buf_putc(out, 0);
    return rl_buf_ok(out);
}

bool rowlogd__filter_selects(const struct rowlogd_filter *f, const char *db_table)
{
    bool ok = !f->have_include || regexec(&f->include, db_table, 0, NULL, 0) == 0;
    return ok && !(f->have_exclude && regexec(&f->exclude, db_table, 0, NULL, 0) == 0);
}

/* Whether the change's table passes the filter (true without one). */
static int filter_pass(struct rowlogd_filter *f, const binlog_change *ch, bool *pass, rl_err *err)
{
    *pass = true;
    if (!f)
        return 0;
    /* Schema-change events of every table share the topic PREFIX (docs/schema.md): decided
     * per change from source.db/source.table, never cached by topic. */
    bool per_change =
        ch->topic.len == strlen(f->prefix) && memcmp(ch->topic.p, f->prefix, ch->topic.len) == 0;
    uint64_t h = fnv1a(ch->topic.p, ch->topic.len);
    if (f->cap && !per_change) {
        for (size_t i = h & (f->cap - 1);; i = (i + 1) & (f->cap - 1)) {
            filter_slot *s = &f->slots[i];
            if (!s->topic)
                break;
            if (s->hash == h && s->len == ch->topic.len &&
                memcmp(s->topic, ch->topic.p, s->len) == 0) {
                *pass = s->pass;
                return 0;
            }
        }
    }
    rl_buf name = RL_BUF_INIT;
    if (!change_db_table(ch, &name)) {
        rl_buf_free(&name);
        return rl_err_set(err, RL_ECORRUPT,
                          "table filter: no source.db/source.table in the "
                          "envelope of a change of topic %.*s",
                          (int)ch->topic.len, (const char *)ch->topic.p);
    }
    const char *nm = (const char *)name.p;
    bool ok = rowlogd__filter_selects(f, nm);
    if (per_change) {
        rl_buf_free(&name);
        *pass = ok;
        return 0;
    }
    rl_info("table filter: %s %s", nm, ok ? "included" : "excluded");
    rl_buf_free(&name);
    *pass = ok;
    if ((f->used + 1) * 2 > f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 64;
        filter_slot *ns = calloc(cap, sizeof *ns);
        if (!ns)
            return rl_err_set(err, -ENOMEM, "out of memory");
        for (size_t i = 0; i < f->cap; i++) {
            if (!f->slots[i].topic)
                continue;
            size_t j = f->slots[i].hash & (cap - 1);
            while (ns[j].topic)
                j = (j + 1) & (cap - 1);
            ns[j] = f->slots[i];
        }
        free(f->slots);
        f->slots = ns;
        f->cap = cap;
    }
    char *t = malloc(ch->topic.len + 1);
    if (!t)
        return rl_err_set(err, -ENOMEM, "out of memory");
    memcpy(t, ch->topic.p, ch->topic.len);
    t[ch->topic.len] = 0;
    size_t j = h & (f->cap - 1);
    while (f->slots[j].topic)
        j = (j + 1) & (f->cap - 1);
    f->slots[j] = (filter_slot){t, ch->topic.len, h, ok};
    f->used++;
    return 0;
}

/* ------------------------------------------------------------------ snapshot phase */

/* The checkpoint while a snapshot runs: P1 (where the stream will start), "snapshot=running",
 * one line per table with progress (docs/snapshots.md "rowlogd"). */
static void checkpoint_format_snapshot(rl_buf *b, const binlog_start *p1, const snap_state *ss)
{
    rowlogd__checkpoint_format(b, p1->at.file, p1->at.pos, p1->gtid_state);
    rl_buf_puts(b, "snapshot=running\n");
    for (size_t i = 0; i < ss->n; i++) {
        const snap_entry *e = &ss->e[i];
        if (!e->done && !e->token[0])
            continue; /* nothing stored yet: starts from the beginning */
        rowlogd__checkpoint_table_line(b, e->done ? "snapshot_done" : "snapshot_table", e,
                                       !e->done);
    }
}

/* Publishes the tables' progress for /metrics (under the stats lock). */
static int publish_snapshot_tables(rowlogd_source *src, const snap_state *ss)
{
    rowlogd_snapshot_table_stats *t = calloc(ss->n ? ss->n : 1, sizeof *t);
    if (!t)
        return -ENOMEM;
    for (size_t i = 0; i < ss->n; i++) {
        rl_buf nm = RL_BUF_INIT;
        rl_buf_printf(&nm, "%s.%s", ss->e[i].db, ss->e[i].table);
        rl_buf_putc(&nm, 0);
        t[i].name = rl_buf_ok(&nm) ? strdup((const char *)nm.p) : NULL;
        rl_buf_free(&nm);
        if (!t[i].name) {
            for (size_t j = 0; j < i; j++)
                free(t[j].name);
            free(t);
            return -ENOMEM;
        }
        t[i].rows_read = ss->e[i].rows;
        t[i].chunks = ss->e[i].chunks;
        t[i].rows_estimated = ss->e[i].rows_estimated;
        t[i].done = ss->e[i].done;
    }
    rowlogd_source_stats *st = &src->stats;
    pthread_mutex_lock(&st->lock);
    rowlogd_snapshot_table_stats *old = st->snap_tables;
    size_t oldn = st->snap_ntables;
    st->snap_tables = t;
    st->snap_ntables = ss->n;
    st->snapshot_started_ms = rl_now_ms();
    pthread_mutex_unlock(&st->lock);
    for (size_t i = 0; i < oldn; i++)
        free(old[i].name);
    free(old);
    return 0;
}

/* P1 of the running snapshot, kept for progress commits. */
typedef struct snap_ctx {
    source_run *run;
    const binlog_start *p1;
    long delay_us; /* test-only throttle per chunk (ROWLOGD_TEST_SNAPSHOT_CHUNK_DELAY_US) */
} snap_ctx;

/* ROWLOGD_TEST_SNAPSHOT_CHUNK_DELAY_US=N (tests only, docs/snapshots.md "Testing"): the
 * initial snapshot's delivering thread sleeps N microseconds after each chunk that does not
 * end a table, so a test can stop a snapshot mid-way on any machine. 0 when unset or not a
 * number in 1..1000000. */
static long test_chunk_delay_us(void)
{
    const char *v = getenv("ROWLOGD_TEST_SNAPSHOT_CHUNK_DELAY_US");
    if (!v || !*v)
        return 0;
    char *end;
    long n = strtol(v, &end, 10);
    if (*end || n < 1 || n > 1000000)
        return 0;
    rl_warn("snapshot: throttled to one chunk per %ld us (ROWLOGD_TEST_SNAPSHOT_CHUNK_DELAY_US, "
            "for tests only)",
            n);
    return n;
}

static int on_snapshot_change(void *ctx, const binlog_change *ch)
{
    source_run *run = ((snap_ctx *)ctx)->run;
    run->rows++;
    rowlogd__stat_add(&run->src->stats.snapshot_rows, 1);
    rowlogd__stat_add(&run->src->stats.appended_bytes, ch->key.len + ch->value.len);
    return log_store_append(run->src->store, ch->topic, ch->key, ch->value, ch->ts_ms, run->err);
}

static int snap_commit(source_run *run, const binlog_start *p1)
{
    checkpoint_format_snapshot(&run->checkpoint, p1, run->snap);
    if (!rl_buf_ok(&run->checkpoint))
        return rl_err_set(run->err, -ENOMEM, "out of memory");
    return rowlogd__commit_now(run);
}

static int on_snapshot_progress(void *ctx, const binlog_snapshot_progress *pr)
{
    snap_ctx *sc = ctx;
    source_run *run = sc->run;
    snap_state *ss = run->snap;
    snap_entry *e = rowlogd__snap_state_find(ss, pr->db, pr->table);
    if (!e)
        return rl_err_set(run->err, RL_ECORRUPT, "snapshot: progress for unknown table %s.%s",
                          pr->db, pr->table);
    char *t = strdup(pr->resume_token ? pr->resume_token : "");
    if (!t)
        return rl_err_set(run->err, -ENOMEM, "out of memory");
    free(e->token);
    e->token = t;
    e->done = pr->table_done;
    e->rows = pr->rows_done;
    e->chunks = pr->chunks_done;
    e->rows_estimated = pr->rows_estimated;
    rowlogd_source_stats *st = &run->src->stats;
    size_t idx = (size_t)(e - ss->e);
    pthread_mutex_lock(&st->lock);
    if (idx < st->snap_ntables) {
        st->snap_tables[idx].rows_read = pr->rows_done;
        st->snap_tables[idx].chunks = pr->chunks_done;
        st->snap_tables[idx].rows_estimated = pr->rows_estimated;
        st->snap_tables[idx].done = pr->table_done;
    }
    pthread_mutex_unlock(&st->lock);
    if (pr->table_done)
        rl_info("snapshot: %s.%s done: %llu rows in %llu chunks%s", pr->db, pr->table,
                (unsigned long long)pr->rows_done, (unsigned long long)pr->chunks_done,
                pr->skipped ? " (skipped: the table vanished)" : "");
    if (sc->delay_us && !pr->table_done) {
        struct timespec ts = {sc->delay_us / 1000000, (sc->delay_us % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
    int64_t interval_ns = (int64_t)run->src->opts->commit_interval_ms * 1000000;
    if (pr->table_done || rl_mono_ns() - run->last_commit_ns >= interval_ns)
        return snap_commit(run, sc->p1);
    return 0;
}

/* Token "ROWS:CHUNKS:..." -> counts, for the metrics of a resumed table. */
static void token_counts(const char *tok, uint64_t *rows, uint64_t *chunks)
{
    char *end;
    *rows = strtoull(tok, &end, 10);
    *chunks = *end == ':' ? strtoull(end + 1, NULL, 10) : 0;
}

/*
 * The snapshot phase. fresh: a new snapshot whose point becomes P1 (written to *start);
 * else the stored snapshot (P1 = *start, ss = its per-table progress) is resumed by a new
 * snapshot at a later point P2 that is used for nothing but reading the remaining rows.
 * Returns 0 when every table is done and "snapshot=done" is committed, RL_ESTOPPED after a
 * requested stop (progress committed), or an error (*retry when a new attempt can cure it).
 */
static int run_snapshot(rowlogd_source *src, source_run *run, binlog_start *start, snap_state *ss,
                        bool fresh, bool *retry, rl_err *err)
{
    const rowlogd_opts *o = src->opts;
    binlog_snapshot_opts so = {
        .source = o->source,
        .topic_prefix = o->topic_prefix,
        .include = o->include[0] ? o->include : NULL,
        .exclude = o->exclude[0] ? o->exclude : NULL,
        .threads = o->snapshot_threads,
        .chunk_rows = o->snapshot_chunk_rows,
    };
    binlog_snapshot_t *snap = NULL;
    int rc = binlog_snapshot_open(&snap, &so, err);
    if (rc != 0) {
        *retry = rc == RL_ESOURCE;
        return rc;
    }
    pthread_mutex_lock(&src->lock);
    src->snap = snap;
    bool stopping = atomic_load(&src->stop);
    pthread_mutex_unlock(&src->lock);
    if (stopping)
        binlog_snapshot_interrupt(snap);

    const binlog_snapshot_point *pt = binlog_snapshot_get_point(snap);
    snap_state fresh_ss = {0};
    if (fresh) {
        memset(start, 0, sizeof *start);
        start->at = pt->at;
        snprintf(start->gtid_state, sizeof start->gtid_state, "%s", pt->gtid_state);
        rowlogd__snap_state_free(ss);
        rl_info("snapshot: new, at %s:%llu (GTID state '%s'), %zu tables, %u connection(s)",
                pt->at.file, (unsigned long long)pt->at.pos, pt->gtid_state,
                binlog_snapshot_table_count(snap), pt->connections);
    } else {
        size_t resumed = 0;
        for (size_t i = 0; i < ss->n; i++) {
            rc = binlog_snapshot_resume_table(snap, ss->e[i].db, ss->e[i].table, ss->e[i].token,
                                              ss->e[i].done, err);
            if (rc == RL_ENOTFOUND) {
                rl_warn("snapshot: %s.%s is no longer selected (dropped or filtered out): "
                        "not resumed",
                        ss->e[i].db, ss->e[i].table);
                memset(err, 0, sizeof *err);
                continue;
            }
            if (rc != 0)
                goto out;
            resumed++;
        }
        rl_info("snapshot: resuming (stream will start at the first snapshot's point %s:%llu, "
                "GTID state '%s'); remaining rows read at %s:%llu; %zu tables with stored "
                "progress",
                start->at.file, (unsigned long long)start->at.pos, start->gtid_state, pt->at.file,
                (unsigned long long)pt->at.pos, resumed);
    }
    /* The working table list: the snapshot's selected tables, with the stored progress. */
    for (size_t i = 0; i < binlog_snapshot_table_count(snap); i++) {
        binlog_snapshot_table_info ti;
        if (binlog_snapshot_table(snap, i, &ti) != 0)
            break;
        snap_entry *e =
            rowlogd__snap_state_add(&fresh_ss, ti.db, strlen(ti.db), ti.table, strlen(ti.table));
        if (!e) {
            rc = rl_err_set(err, -ENOMEM, "out of memory");
            goto out;
        }
        e->rows_estimated = ti.rows_estimated;
        snap_entry *old = fresh ? NULL : rowlogd__snap_state_find(ss, ti.db, ti.table);
        if (old) {
            e->done = old->done;
            char *t = strdup(old->token);
            if (!t) {
                rc = rl_err_set(err, -ENOMEM, "out of memory");
                goto out;
            }
            free(e->token);
            e->token = t;
            token_counts(t, &e->rows, &e->chunks);
        }
    }
    rowlogd__snap_state_free(ss);
    *ss = fresh_ss;
    memset(&fresh_ss, 0, sizeof fresh_ss);
    run->snap = ss;
    if ((rc = publish_snapshot_tables(src, ss)) != 0) {
        rl_err_set(err, rc, "out of memory");
        goto out;
    }
    atomic_store(&src->stats.snapshot_running, true);
    pthread_mutex_lock(&src->stats.lock);
    src->stats.at = start->at;
    snprintf(src->stats.gtid_state, sizeof src->stats.gtid_state, "%s", start->gtid_state);
    pthread_mutex_unlock(&src->stats.lock);
    /* P1 and snapshot=running are durable before the first row. */
    if ((rc = snap_commit(run, start)) != 0)
        goto out;
    src->resnapshot = false;

    snap_ctx sc = {run, start, test_chunk_delay_us()};
    binlog_snapshot_handler h = {
        .ctx = &sc, .on_change = on_snapshot_change, .on_progress = on_snapshot_progress};
    rc = binlog_snapshot_run(snap, &h, err);
    if (rc == 0) {
        rowlogd__checkpoint_format(&run->checkpoint, start->at.file, start->at.pos,
                                   start->gtid_state);
        rl_buf_puts(&run->checkpoint, "snapshot=done\n");
        rc = rl_buf_ok(&run->checkpoint) ? rowlogd__commit_now(run)
                                         : rl_err_set(err, -ENOMEM, "out of memory");
        if (rc == 0)
            rl_info("snapshot: complete, %llu records this run; the stream starts at %s:%llu",
                    (unsigned long long)run->rows, start->at.file,
                    (unsigned long long)start->at.pos);
    } else if (rc == RL_ESTOPPED) {
        /* Every record handed out came with its notice: all of it is stored with the
         * progress. */
        int crc = snap_commit(run, start);
        if (crc != 0)
            rc = crc;
        else
            rl_info("snapshot: stopped, progress committed (%llu records this run)",
                    (unsigned long long)run->rows);
    } else {
        *retry = rc == RL_ESOURCE;
    }
out:
    atomic_store(&src->stats.snapshot_running, false);
    pthread_mutex_lock(&src->lock);
    src->snap = NULL;
    pthread_mutex_unlock(&src->lock);
    binlog_snapshot_close(snap);
    rowlogd__snap_state_free(&fresh_ss);
    run->snap = NULL;
    return rc;
}

/* One connection's life: from the checkpoint to a stop or an error. *retry is set when the
 * error is the connection's (the primary unreachable, restarting, or the link lost), which
 * a new connection from the checkpoint can cure; decode, log and position errors are not. */
static int source_run_once(rowlogd_source *src, bool *retry, bool *streamed, rl_err *err)
{
    source_run run = {.src = src, .checkpoint = RL_BUF_INIT, .err = err};
    snap_state ss = {0}, od_list = {0};
    binlog_decoder_t *dec = NULL;
    binlog_start start;
    rl_buf blob = RL_BUF_INIT;
    int rc;

    memset(&start, 0, sizeof start);
    *retry = false;
    *streamed = false;
    rc = log_store_checkpoint(src->store, &blob);
    bool have_pos = rc == 0;
    if (rc == 0) {
        rc = checkpoint_parse(rl_buf_slice(&blob), &start, &ss, &od_list, err);
        if (rc != 0)
            goto out;
    } else if (rc != RL_ENOTFOUND) {
        goto out;
    }
    rc = 0;
    int mode = src->opts->snapshot_mode;
    bool snapshot = false, fresh = false;
    if (src->resnapshot) {
        snapshot = fresh = true; /* when-needed: the stored position was purged */
    } else if (!have_pos) {
        snapshot = fresh = mode != ROWLOGD_SNAPSHOT_NEVER;
    } else if (ss.running) {
        if (mode == ROWLOGD_SNAPSHOT_NEVER)
            rl_warn("snapshot: the stored snapshot is unfinished, but --snapshot never: "
                    "streaming from its point without the remaining rows");
        else
            snapshot = true;
    }
    if (snapshot) {
        rc = run_snapshot(src, &run, &start, &ss, fresh, retry, err);
        if (rc == RL_ESTOPPED)
            rc = 0; /* a requested stop: progress is committed */
        if (rc != 0 || atomic_load(&src->stop))
            goto out;
    }
    if (mode == ROWLOGD_SNAPSHOT_INITIAL_ONLY) {
        rl_info("snapshot: --snapshot initial-only: the snapshot is complete; not streaming");
        goto out;
    }
    rc = binlog_conn_open(&run.conn, &src->opts->source, &start, err);
    if (rc != 0) {
        /* Unreachable or refusing primaries may come back; a ROW-format refusal will not. */
        *retry = rc == RL_ESOURCE || rc == -ECONNREFUSED || rc == -ETIMEDOUT;
        goto out;
    }
    pthread_mutex_lock(&src->lock);
    src->conn = run.conn;
    bool stopping = atomic_load(&src->stop);
    pthread_mutex_unlock(&src->lock);
    if (stopping)
        binlog_conn_interrupt(run.conn);

    const binlog_start *used = binlog_conn_start_state(run.conn);
    atomic_store(&src->stats.connected, true);
    pthread_mutex_lock(&src->stats.lock);
    if (used->at.file[0]) {
        src->stats.at = used->at;
    }
    if (used->gtid_state[0])
        snprintf(src->stats.gtid_state, sizeof src->stats.gtid_state, "%s", used->gtid_state);
    pthread_mutex_unlock(&src->stats.lock);
    binlog_decoder_opts dopts = {.topic_prefix = src->opts->topic_prefix};
    binlog_handler h = {.ctx = &run, .on_change = on_change, .on_commit = on_commit};
    if ((rc = binlog_decoder_new(&dec, &dopts, &h)) != 0) {
        rl_err_set(err, rc, "out of memory");
        goto out;
    }
    if ((rc = rowlogd_xa_open(&run.xa, src->store, err)) != 0)
        goto out;
    if (rowlogd_xa_held(run.xa))
        rl_info("XA: %zu prepared transactions held, waiting for their outcome",
                rowlogd_xa_held(run.xa));
    binlog_xa_handler xh = {.on_xa_prepare = on_xa_prepare, .on_xa_end = on_xa_end};
    binlog_decoder_set_xa_handler(dec, &xh);
    binlog_decoder_expect_checksum(dec, binlog_conn_checksum_crc32(run.conn));
    if (used->at.file[0])
        binlog_decoder_set_file(dec, used->at.file);
    if ((rc = binlog_decoder_set_gtid_state(dec, used->gtid_state, err)) != 0)
        goto out;
    if ((rc = rowlogd_schema_attach(src, dec, err)) != 0)
        goto out;
    /* On-demand snapshots: the stored list resumes; requests are taken at boundaries. */
    if ((rc = rowlogd__od_open(&run, &od_list, used, err)) != 0)
        goto out;
    /* The starting point is itself a boundary: a first commit with no records makes it the
     * checkpoint, so a restart before any transaction resumes here, not at a later "current
     * position" that would skip changes. */
    if (!start.at.file[0] && !start.gtid_state[0]) {
        if ((rc = rowlogd__od_checkpoint(&run)) != 0 || (rc = rowlogd__commit_now(&run)) != 0)
            goto out;
    }
    run.last_commit_ns = rl_mono_ns();

    for (;;) {
        rl_slice ev;
        rc = binlog_conn_next(run.conn, &ev, err);
        if (rc == 1) {
            *streamed = true;
            observe_event(&run, dec, ev);
            rc = binlog_decoder_feed(dec, ev, err);
            if (rc != 0) {
                if (rc == RL_ECORRUPT || rc == RL_ECHECKSUM || rc == RL_EUNSUPPORTED ||
                    rc == RL_ETOOBIG || rc == RL_EINCIDENT)
                    rowlogd__stat_add(&src->stats.decode_errors, 1);
                break;
            }
            /* An idle primary still sends heartbeats: a deferred boundary is committed as
             * soon as nothing more is waiting. */
            if (run.boundary_pending && !run.appended_since_boundary &&
                !binlog_conn_pending(run.conn) && (rc = rowlogd__commit_now(&run)) != 0)
                break;
            if (!run.appended_since_boundary && (rc = housekeeping(&run)) != 0)
                break;
            if (!run.appended_since_boundary && (rc = rowlogd__od_poll(&run)) < 0)
                break;
            continue;
        }
        if (rc == 0) /* the primary closed the dump (a shutdown, say) */
            rc = rl_err_set(err, -ECONNRESET, "the primary ended the binlog stream");
        if (rc == RL_ESOURCE && !*streamed && strstr(err->msg, "error 1236") &&
            src->opts->snapshot_mode == ROWLOGD_SNAPSHOT_WHEN_NEEDED) {
            /* The stored position is gone from the primary: a new snapshot, whose records
             * follow the log's old ones (as Debezium's when_needed does). */
            rl_warn("source: %s; --snapshot when-needed: taking a new snapshot", err->msg);
            src->resnapshot = true;
            *retry = true;
            break;
        }
        *retry = rc == -ECONNRESET || rc == -ETIMEDOUT || rc == RL_EPROTO;
        break;
    }
    if (rc == RL_ESTOPPED) {
        /* Requested stop: make the last complete transaction durable if nothing of a later
         * one was appended (otherwise the open part is dropped and re-read after restart). */
        rc = 0;
        if (run.boundary_pending && !run.appended_since_boundary)
            rc = rowlogd__commit_now(&run);
        /* --flush interval: pending commits made durable before exit, unless part of a
         * later transaction is already appended: a sync would record it in the checkpoint's
         * end offsets, so it is left for the restart to cut back instead. */
        if (rc == 0 && !run.appended_since_boundary)
            rc = log_store_sync(src->store, err);
    }
out:
    atomic_store(&src->stats.connected, false);
    rl_info("source: %llu transactions, %llu row changes this run", (unsigned long long)run.txns,
            (unsigned long long)run.rows);
    pthread_mutex_lock(&src->lock);
    src->conn = NULL;
    pthread_mutex_unlock(&src->lock);
    binlog_decoder_free(dec);
    rowlogd_xa_free(run.xa);
    rowlogd__od_free(run.od);
    atomic_store(&src->stats.ondemand_running, false);
    binlog_conn_close(run.conn);
    rl_buf_free(&run.checkpoint);
    rl_buf_free(&blob);
    rowlogd__snap_state_free(&ss);
    rowlogd__snap_state_free(&od_list);
    return rc;
}

/* Waits up to ms or until a stop is requested; returns true when stopping. */
static bool source_sleep(rowlogd_source *src, unsigned ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&src->lock);
    while (!atomic_load(&src->stop))
        if (pthread_cond_timedwait(&src->wake, &src->lock, &until) == ETIMEDOUT)
            break;
    bool stopping = atomic_load(&src->stop);
    pthread_mutex_unlock(&src->lock);
    return stopping;
}

static void *source_main(void *arg)
{
    rowlogd_source *src = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    /* A lost connection is retried from the last checkpoint with capped exponential backoff
     * (0.1 s doubling to 30 s, back to 0.1 s once events flow again). Appends of the
     * unfinished transaction are dropped first (log_store_abort), so the re-read writes them
     * exactly once. Errors a reconnect cannot cure (an event that cannot be decoded, a purged
     * position, a log write error) stop rowlogd loudly. */
    unsigned backoff_ms = 100;
    src->filter = NULL;
    src->resnapshot = false;
    src->result = rowlogd__filter_new(&src->filter, src->opts, &src->err);
    for (bool go = src->result == 0; go;) {
        bool retry = false, streamed = false;
        memset(&src->err, 0, sizeof src->err);
        src->result = source_run_once(src, &retry, &streamed, &src->err);
        if (src->result != 0 && src->result != RL_ESTOPPED) {
            pthread_mutex_lock(&src->stats.lock);
            src->stats.last_error = src->result;
            snprintf(src->stats.last_error_msg, sizeof src->stats.last_error_msg, "%s",
                     src->err.msg);
            src->stats.last_error_ms = rl_now_ms();
            pthread_mutex_unlock(&src->stats.lock);
        }
        if (src->result == 0 || atomic_load(&src->stop) || !retry)
            break;
        rl_err aerr = {0};
        int arc = log_store_abort(src->store, &aerr);
        if (arc != 0) {
            src->result = arc;
            src->err = aerr;
            break;
        }
        if (streamed)
            backoff_ms = 100;
        rowlogd__stat_add(&src->stats.reconnects, 1);
        rl_warn("source: %s (%s); reconnecting from the last checkpoint in %u ms", src->err.msg,
                rl_errname(src->result), backoff_ms);
        if (source_sleep(src, backoff_ms)) {
            src->result = 0;
            break;
        }
        backoff_ms = backoff_ms >= 15000 ? 30000 : backoff_ms * 2;
    }
    rowlogd__filter_free(src->filter);
    src->filter = NULL;
    if (src->result != 0)
        rl_error("source stopped: %s (%s)", src->err.msg, rl_errname(src->result));
    atomic_store(&src->stats.running, false);
    if (src->on_exit)
        src->on_exit(src->on_exit_ctx);
    return NULL;
}

void rowlogd_source_init(rowlogd_source *src)
{
    memset(&src->stats, 0, sizeof src->stats);
    pthread_mutex_init(&src->stats.lock, NULL);
}

int rowlogd_source_start(rowlogd_source *src)
{
    atomic_init(&src->stop, false);
    pthread_mutex_init(&src->lock, NULL);
    pthread_cond_init(&src->wake, NULL);
    pthread_cond_init(&src->od_cond, NULL);
    src->conn = NULL;
    src->snap = NULL;
    src->od_request = NULL;
    src->od_req_gen = src->od_req_done = 0;
    atomic_store(&src->stats.running, true);
    int rc = pthread_create(&src->thread, NULL, source_main, src);
    if (rc != 0)
        atomic_store(&src->stats.running, false);
    return rc == 0 ? 0 : -rc;
}

void rowlogd_source_destroy(rowlogd_source *src)
{
    rowlogd_schema_free(src);
    for (size_t i = 0; i < src->stats.snap_ntables; i++)
        free(src->stats.snap_tables[i].name);
    free(src->stats.snap_tables);
    src->stats.snap_tables = NULL;
    src->stats.snap_ntables = 0;
    for (size_t i = 0; i < src->stats.od_ntables; i++)
        free(src->stats.od_tables[i].name);
    free(src->stats.od_tables);
    src->stats.od_tables = NULL;
    src->stats.od_ntables = 0;
    pthread_mutex_destroy(&src->stats.lock);
}

void rowlogd_source_stop(rowlogd_source *src)
{
    pthread_mutex_lock(&src->lock);
    atomic_store(&src->stop, true);
    pthread_cond_broadcast(&src->wake);
    pthread_cond_broadcast(&src->od_cond);
    if (src->conn)
        binlog_conn_interrupt(src->conn);
    if (src->snap)
        binlog_snapshot_interrupt(src->snap);
    pthread_mutex_unlock(&src->lock);
}

int rowlogd_source_join(rowlogd_source *src)
{
    pthread_join(src->thread, NULL);
    pthread_cond_destroy(&src->wake);
    pthread_cond_destroy(&src->od_cond);
    pthread_mutex_destroy(&src->lock);
    free(src->od_request);
    src->od_request = NULL;
    return src->result;
}
