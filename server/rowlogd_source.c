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

typedef struct source_run {
    rowlogd_source *src;
    binlog_conn_t *conn;
    rl_buf checkpoint;     /* blob of the last boundary seen */
    bool boundary_pending; /* a boundary is not committed yet */
    bool appended_since_boundary;
    int64_t last_commit_ns;
    int64_t last_retain_ns;
    uint64_t txns, rows;
    bool exact_ts; /* the primary's GTID events carry microsecond commit timestamps */
    bool gtid_warned;
    rl_err *err;
    /* snapshot phase */
    struct snap_state *snap;
    /* on-demand snapshots while streaming (NULL outside streaming) */
    struct od_run *od;
    /* prepared XA transactions held until their outcome (NULL outside streaming) */
    rowlogd_xa *xa;
} source_run;

/* One table of a snapshot in the checkpoint ("snapshot_table=" / "snapshot_done=" lines). */
typedef struct snap_entry {
    char *db, *table; /* owned */
    char *token;      /* owned; "" = from the start */
    bool done;
    uint64_t rows, chunks, rows_estimated;
} snap_entry;

/* The snapshot part of the checkpoint. */
typedef struct snap_state {
    bool running; /* "snapshot=running" */
    snap_entry *e;
    size_t n, cap;
    size_t last_hit; /* entry of the last progress notice (notices of one table repeat) */
} snap_state;

static void snap_state_free(snap_state *ss)
{
    for (size_t i = 0; i < ss->n; i++) {
        free(ss->e[i].db);
        free(ss->e[i].table);
        free(ss->e[i].token);
    }
    free(ss->e);
    memset(ss, 0, sizeof *ss);
}

static snap_entry *snap_state_add(snap_state *ss, const char *db, size_t dblen, const char *table,
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

static snap_entry *snap_state_find(snap_state *ss, const char *db, const char *table)
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
static void put_pct(rl_buf *b, const char *s)
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

/* "db.table[ token]" of a snapshot_table / snapshot_done line (percent-encoded names). */
static int snap_parse_line(snap_state *ss, const char *v, size_t vlen, bool done, rl_err *err)
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
    snap_entry *e = snap_state_add(ss, tmp, (size_t)dl, dot + 1, (size_t)tl);
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
static void checkpoint_format(rl_buf *b, const char *file, uint64_t pos, const char *gtid_state)
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
            int rc = snap_parse_line(ss, eq + 1, vlen, klen == 13, err);
            if (rc != 0)
                return rc;
        } else if (od && klen == 14 && memcmp(p, "ondemand_table", 14) == 0) {
            int rc = snap_parse_line(od, eq + 1, vlen, false, err);
            if (rc != 0)
                return rc;
        }
        p = nl + 1;
    }
    if (!start->at.file[0] && !start->gtid_state[0])
        return rl_err_set(err, RL_ECORRUPT, "log checkpoint holds no binlog position");
    return 0;
}

static inline void stat_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
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
    stat_add(&st->events[type], 1);
    stat_add(&st->event_bytes[type], ev.len);
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

static int commit_now(source_run *run)
{
    int rc = log_store_commit(run->src->store, rl_buf_slice(&run->checkpoint), run->err);
    if (rc == 0) {
        rowlogd_schema_durable(run->src);
        run->boundary_pending = false;
        run->last_commit_ns = rl_mono_ns();
    }
    return rc;
}

struct od_run;
static int od_note_change(source_run *run, const binlog_change *ch);
static int od_on_commit(source_run *run, const binlog_checkpoint *cp);

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
    stat_add(&run->src->stats.appended_bytes, ch->key.len + ch->value.len);
    if (ch->op == 's') {
        /* A schema change (DDL) on topic PREFIX: appended as it is, never a row operation,
         * never followed by a tombstone (its key names the table, not a row). */
        stat_add(&run->src->stats.schema_changes, 1);
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
        int orc = od_note_change(run, ch);
        if (orc != 0)
            return orc;
    }
    run->rows++;
    stat_add(&run->src->stats.rows[ch->op == 'c'   ? ROWLOGD_OP_INSERT
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
    checkpoint_format(&run->checkpoint, cp->file, cp->pos, cp->gtid_state);
    if (run->od && (rc = od_on_commit(run, cp)) != 0)
        return rc;
    if (!rl_buf_ok(&run->checkpoint))
        return rl_err_set(run->err, -ENOMEM, "out of memory");
    run->boundary_pending = true;
    run->appended_since_boundary = false;
    run->txns++;
    rowlogd_source_stats *st = &run->src->stats;
    stat_add(&st->txns, 1);
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
        return commit_now(run);
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
        if ((rc = commit_now(run)) != 0 || (rc = log_store_sync(run->src->store, run->err)) != 0)
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

static void filter_free(struct rowlogd_filter *f)
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
static int filter_new(struct rowlogd_filter **out, const rowlogd_opts *o, rl_err *err)
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
            filter_free(f);
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

/* Whether the change's table passes the filter (true without one). */
static int filter_pass(struct rowlogd_filter *f, const binlog_change *ch, bool *pass, rl_err *err)
{
    *pass = true;
    if (!f)
        return 0;
    /* Schema-change events of every table share the topic PREFIX (docs/schema.md): decided
     * per change from source.db/source.table, never cached by topic. */
    bool per_change = ch->topic.len == strlen(f->prefix) &&
                      memcmp(ch->topic.p, f->prefix, ch->topic.len) == 0;
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
    bool ok = !f->have_include || regexec(&f->include, nm, 0, NULL, 0) == 0;
    if (ok && f->have_exclude && regexec(&f->exclude, nm, 0, NULL, 0) == 0)
        ok = false;
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
    checkpoint_format(b, p1->at.file, p1->at.pos, p1->gtid_state);
    rl_buf_puts(b, "snapshot=running\n");
    for (size_t i = 0; i < ss->n; i++) {
        const snap_entry *e = &ss->e[i];
        if (!e->done && !e->token[0])
            continue; /* nothing stored yet: starts from the beginning */
        rl_buf_puts(b, e->done ? "snapshot_done=" : "snapshot_table=");
        put_pct(b, e->db);
        rl_buf_putc(b, '.');
        put_pct(b, e->table);
        if (!e->done) {
            rl_buf_putc(b, ' ');
            rl_buf_puts(b, e->token);
        }
        rl_buf_putc(b, '\n');
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
    stat_add(&run->src->stats.snapshot_rows, 1);
    stat_add(&run->src->stats.appended_bytes, ch->key.len + ch->value.len);
    return log_store_append(run->src->store, ch->topic, ch->key, ch->value, ch->ts_ms, run->err);
}

static int snap_commit(source_run *run, const binlog_start *p1)
{
    checkpoint_format_snapshot(&run->checkpoint, p1, run->snap);
    if (!rl_buf_ok(&run->checkpoint))
        return rl_err_set(run->err, -ENOMEM, "out of memory");
    return commit_now(run);
}

static int on_snapshot_progress(void *ctx, const binlog_snapshot_progress *pr)
{
    snap_ctx *sc = ctx;
    source_run *run = sc->run;
    snap_state *ss = run->snap;
    snap_entry *e = snap_state_find(ss, pr->db, pr->table);
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
        snap_state_free(ss);
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
        snap_entry *e = snap_state_add(&fresh_ss, ti.db, strlen(ti.db), ti.table, strlen(ti.table));
        if (!e) {
            rc = rl_err_set(err, -ENOMEM, "out of memory");
            goto out;
        }
        e->rows_estimated = ti.rows_estimated;
        snap_entry *old = fresh ? NULL : snap_state_find(ss, ti.db, ti.table);
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
    snap_state_free(ss);
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
        checkpoint_format(&run->checkpoint, start->at.file, start->at.pos, start->gtid_state);
        rl_buf_puts(&run->checkpoint, "snapshot=done\n");
        rc = rl_buf_ok(&run->checkpoint) ? commit_now(run)
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
    snap_state_free(&fresh_ss);
    run->snap = NULL;
    return rc;
}

/* ------------------------------------------------------------------ on-demand snapshots */

/*
 * `rowlog snapshot DB.TABLE...` while streaming (docs/snapshots.md "On demand"). The request
 * (POST /v1/snapshots, HTTP thread) is validated there (rowlogd_ondemand_validate), handed
 * to this thread under src->lock and made durable at the next transaction boundary as
 * checkpoint lines "ondemand_table=db.table TOKEN" (TOKEN: the last chunk stored, empty at
 * first), which a restart resumes. Tables are read one after the other by a chunk reader
 * thread: per chunk a new consistent snapshot (binlog_snapshot_open with max_chunks 1), whose
 * exact GTID state S is the chunk's low and high watermark, queued (at most OD_QUEUE chunks:
 * memory is bounded by them). This thread notes the keys of the table that every streamed
 * transaction changes (binlog_snapshot_window), and at a transaction boundary where the
 * stream's GTID state contains S it appends the chunk without the rows whose key a streamed
 * transaction outside S changed, commits it together with the new token, and forgets the
 * transactions S contains.
 */
enum { OD_QUEUE = 2, OD_RETRY_MS = 5000, OD_REQ_MAX = 64 };

typedef struct od_chunk {
    rl_buf data;
    size_t *recs; /* 4 per row: key off, key len, value off, value len */
    size_t nrecs, cap;
    rl_buf topic;
    char gtid[BINLOG_GTID_STATE_MAX]; /* S: the chunk's read view */
    char *token;
    uint64_t rows_done, chunks_done, rows_estimated;
    bool table_done, skipped;
} od_chunk;

typedef struct od_reader {
    const rowlogd_opts *opts;
    char *db, *table, *token; /* owned */
    pthread_t th;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    od_chunk *q[OD_QUEUE]; /* FIFO */
    size_t qn;
    bool finished;
    int rc;
    rl_err err;
    atomic_bool stop;
    binlog_snapshot_t *snap; /* the snapshot being read (under mu), for interrupt */
} od_reader;

typedef struct od_run {
    snap_state list;           /* ondemand_table lines: tables not complete, in order */
    binlog_snapshot_window *win;
    rl_buf topic;              /* topic of list.e[0], the table being read ("" none) */
    od_reader *rd;             /* chunk reader of list.e[0], NULL when none runs */
    int64_t retry_ns;          /* no new reader before this (after a reader error) */
    uint64_t req_seen;         /* src->od_req_gen taken */
    char base_file[sizeof ((binlog_pos *)0)->file];
    uint64_t base_pos;
    char base_gtid[BINLOG_GTID_STATE_MAX];
} od_run;

static void od_chunk_free(od_chunk *c)
{
    if (!c)
        return;
    rl_buf_free(&c->data);
    rl_buf_free(&c->topic);
    free(c->recs);
    free(c->token);
    free(c);
}

typedef struct od_collect {
    od_chunk *c;
    rl_err *err;
} od_collect;

static int od_on_row(void *ctx, const binlog_change *ch)
{
    od_chunk *c = ((od_collect *)ctx)->c;
    if (c->nrecs == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        size_t *r = realloc(c->recs, cap * 4 * sizeof *r);
        if (!r)
            return -ENOMEM;
        c->recs = r;
        c->cap = cap;
    }
    if (c->topic.len == 0)
        rl_buf_append(&c->topic, ch->topic.p, ch->topic.len);
    size_t *r = c->recs + 4 * c->nrecs++;
    r[0] = c->data.len;
    r[1] = ch->key.len;
    rl_buf_append(&c->data, ch->key.p, ch->key.len);
    r[2] = c->data.len;
    r[3] = ch->value.len;
    rl_buf_append(&c->data, ch->value.p, ch->value.len);
    return rl_buf_ok(&c->data) && rl_buf_ok(&c->topic) ? 0 : -ENOMEM;
}

static int od_on_progress(void *ctx, const binlog_snapshot_progress *pr)
{
    od_chunk *c = ((od_collect *)ctx)->c;
    char *t = strdup(pr->resume_token);
    if (!t)
        return -ENOMEM;
    free(c->token);
    c->token = t;
    c->rows_done = pr->rows_done;
    c->chunks_done = pr->chunks_done;
    c->rows_estimated = pr->rows_estimated;
    c->table_done = pr->table_done;
    c->skipped = pr->skipped;
    if (c->topic.len == 0)
        rl_buf_append(&c->topic, pr->topic.p, pr->topic.len);
    return rl_buf_ok(&c->topic) ? 0 : -ENOMEM;
}

/* "^(db\.table)$" with the regex metacharacters of the names escaped. */
static void od_exact_regex(rl_buf *b, const char *db, const char *table)
{
    const char *parts[2] = {db, table};
    for (int i = 0; i < 2; i++) {
        if (i)
            rl_buf_puts(b, "\\.");
        for (const char *p = parts[i]; *p; p++) {
            if (strchr(".^$*+?()[]{}|\\", *p))
                rl_buf_putc(b, '\\');
            rl_buf_putc(b, *p);
        }
    }
    rl_buf_putc(b, 0);
}

static void od_snapshot_opts(const rowlogd_opts *o, binlog_snapshot_opts *so, const char *include)
{
    memset(so, 0, sizeof *so);
    so->source = o->source;
    so->topic_prefix = o->topic_prefix;
    so->include = include;
    so->threads = 1;
    so->chunk_rows = o->snapshot_chunk_rows;
    so->max_chunks = 1;
    so->incremental = true;
}

/* One chunk: a new snapshot (its own read view and exact GTID state), the table resumed
 * after token, one chunk read. */
static int od_read_chunk(od_reader *r, od_chunk *c)
{
    rl_buf re = RL_BUF_INIT;
    od_exact_regex(&re, r->db, r->table);
    if (!rl_buf_ok(&re))
        return rl_err_set(&r->err, -ENOMEM, "out of memory");
    binlog_snapshot_opts so;
    od_snapshot_opts(r->opts, &so, (const char *)re.p);
    binlog_snapshot_t *snap = NULL;
    int rc = binlog_snapshot_open(&snap, &so, &r->err);
    rl_buf_free(&re);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&r->mu);
    r->snap = snap;
    bool stopping = atomic_load(&r->stop);
    pthread_mutex_unlock(&r->mu);
    if (stopping)
        binlog_snapshot_interrupt(snap);
    snprintf(c->gtid, sizeof c->gtid, "%s", binlog_snapshot_get_point(snap)->gtid_state);
    if (binlog_snapshot_table_count(snap) == 0) {
        /* Dropped (or renamed) since the request: done, the stream carries the drop. */
        rl_warn("on-demand snapshot: %s.%s no longer exists: finished", r->db, r->table);
        c->table_done = c->skipped = true;
        c->token = strdup("");
        rc = c->token ? 0 : rl_err_set(&r->err, -ENOMEM, "out of memory");
    } else {
        rc = binlog_snapshot_resume_table(snap, r->db, r->table, r->token, false, &r->err);
        od_collect col = {c, &r->err};
        binlog_snapshot_handler h = {.ctx = &col, .on_change = od_on_row,
                                     .on_progress = od_on_progress};
        if (rc == 0)
            rc = binlog_snapshot_run(snap, &h, &r->err);
        if (rc == 0 && !c->token)
            rc = rl_err_set(&r->err, RL_ESOURCE, "%s.%s: the chunk read gave no progress",
                            r->db, r->table);
    }
    pthread_mutex_lock(&r->mu);
    r->snap = NULL;
    pthread_mutex_unlock(&r->mu);
    binlog_snapshot_close(snap);
    return rc;
}

static void *od_reader_main(void *arg)
{
    od_reader *r = arg;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    int rc = 0;
    while (!atomic_load(&r->stop)) {
        od_chunk *c = calloc(1, sizeof *c);
        if (!c) {
            rc = rl_err_set(&r->err, -ENOMEM, "out of memory");
            break;
        }
        rc = od_read_chunk(r, c);
        if (rc != 0) {
            od_chunk_free(c);
            break;
        }
        char *t = strdup(c->token);
        if (!t) {
            od_chunk_free(c);
            rc = rl_err_set(&r->err, -ENOMEM, "out of memory");
            break;
        }
        free(r->token);
        r->token = t;
        bool done = c->table_done;
        pthread_mutex_lock(&r->mu);
        while (r->qn == OD_QUEUE && !atomic_load(&r->stop))
            pthread_cond_wait(&r->cv, &r->mu);
        if (atomic_load(&r->stop)) {
            pthread_mutex_unlock(&r->mu);
            od_chunk_free(c);
            break;
        }
        r->q[r->qn++] = c;
        pthread_mutex_unlock(&r->mu);
        if (done)
            break;
    }
    pthread_mutex_lock(&r->mu);
    r->rc = rc == RL_ESTOPPED ? 0 : rc;
    r->finished = true;
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void od_reader_free(od_reader *r)
{
    if (!r)
        return;
    if (r->started) {
        pthread_mutex_lock(&r->mu);
        atomic_store(&r->stop, true);
        if (r->snap)
            binlog_snapshot_interrupt(r->snap);
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(r->th, NULL);
    }
    for (size_t i = 0; i < r->qn; i++)
        od_chunk_free(r->q[i]);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r->db);
    free(r->table);
    free(r->token);
    free(r);
}

static int od_reader_start(od_reader **out, const rowlogd_opts *opts, const snap_entry *e)
{
    od_reader *r = calloc(1, sizeof *r);
    if (!r)
        return -ENOMEM;
    r->opts = opts;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    atomic_init(&r->stop, false);
    r->db = strdup(e->db);
    r->table = strdup(e->table);
    r->token = strdup(e->token);
    if (!r->db || !r->table || !r->token) {
        od_reader_free(r);
        return -ENOMEM;
    }
    int rc = pthread_create(&r->th, NULL, od_reader_main, r);
    if (rc != 0) {
        od_reader_free(r);
        return -rc;
    }
    r->started = true;
    *out = r;
    return 0;
}

/* The checkpoint lines of the on-demand tables, after file/pos/gtid_state. */
static void od_checkpoint_lines(rl_buf *b, const snap_state *list)
{
    for (size_t i = 0; i < list->n; i++) {
        rl_buf_puts(b, "ondemand_table=");
        put_pct(b, list->e[i].db);
        rl_buf_putc(b, '.');
        put_pct(b, list->e[i].table);
        rl_buf_putc(b, ' ');
        rl_buf_puts(b, list->e[i].token);
        rl_buf_putc(b, '\n');
    }
}

/* The checkpoint of the last boundary with the current on-demand lines. */
static int od_checkpoint(source_run *run)
{
    od_run *od = run->od;
    checkpoint_format(&run->checkpoint, od->base_file, od->base_pos, od->base_gtid);
    od_checkpoint_lines(&run->checkpoint, &od->list);
    return rl_buf_ok(&run->checkpoint) ? 0 : rl_err_set(run->err, -ENOMEM, "out of memory");
}

/* Publishes the on-demand progress for /metrics and GET /v1/snapshots: the tables of the
 * list (the first one is being read) and those completed by this process. */
static int od_publish(rowlogd_source *src, const snap_entry *e, bool done, uint64_t dropped)
{
    rowlogd_source_stats *st = &src->stats;
    rl_buf nm = RL_BUF_INIT;
    rl_buf_printf(&nm, "%s.%s", e->db, e->table);
    rl_buf_putc(&nm, 0);
    if (!rl_buf_ok(&nm))
        return -ENOMEM;
    int rc = 0;
    pthread_mutex_lock(&st->lock);
    rowlogd_snapshot_table_stats *t = NULL;
    for (size_t i = 0; i < st->od_ntables; i++)
        if (strcmp(st->od_tables[i].name, (const char *)nm.p) == 0)
            t = &st->od_tables[i];
    if (!t) {
        rowlogd_snapshot_table_stats *a =
            realloc(st->od_tables, (st->od_ntables + 1) * sizeof *a);
        char *name = strdup((const char *)nm.p);
        if (!a || !name) {
            free(name);
            if (a)
                st->od_tables = a;
            rc = -ENOMEM;
            goto out;
        }
        st->od_tables = a;
        t = &a[st->od_ntables++];
        memset(t, 0, sizeof *t);
        t->name = name;
    }
    t->rows_read = e->rows;
    t->chunks = e->chunks;
    if (e->rows_estimated)
        t->rows_estimated = e->rows_estimated;
    t->rows_dropped += dropped;
    t->done = done;
out:
    pthread_mutex_unlock(&st->lock);
    rl_buf_free(&nm);
    return rc;
}

/* Takes the tables requested since the last call ("db.table" lines, names percent-encoded)
 * into the list. Returns the request generation taken (0: none new). */
static uint64_t od_take_requests(source_run *run, int *rc)
{
    rowlogd_source *src = run->src;
    od_run *od = run->od;
    *rc = 0;
    /* Called at every boundary: no lock unless a request came (the generation is stored
     * under the lock with release order). */
    if (__atomic_load_n(&src->od_req_gen, __ATOMIC_ACQUIRE) == od->req_seen)
        return 0;
    /* A copy: the text is cleared only once the tables are stored (od_poll), so a failed
     * commit leaves the request for the next connection's run. */
    pthread_mutex_lock(&src->lock);
    uint64_t gen = src->od_req_gen;
    char *req = src->od_request ? strdup(src->od_request) : NULL;
    bool oom = src->od_request && !req;
    pthread_mutex_unlock(&src->lock);
    if (oom) {
        *rc = rl_err_set(run->err, -ENOMEM, "out of memory");
        return 0;
    }
    snap_state add = {0};
    for (char *line = req, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        if ((*rc = snap_parse_line(&add, line, strlen(line), false, run->err)) != 0)
            break;
    }
    for (size_t i = 0; *rc == 0 && i < add.n; i++) {
        if (snap_state_find(&od->list, add.e[i].db, add.e[i].table))
            continue; /* already queued or being read */
        snap_entry *e = snap_state_add(&od->list, add.e[i].db, strlen(add.e[i].db),
                                       add.e[i].table, strlen(add.e[i].table));
        if (!e)
            *rc = rl_err_set(run->err, -ENOMEM, "out of memory");
        else
            *rc = od_publish(src, e, false, 0);
        if (*rc == 0)
            rl_info("on-demand snapshot: %s.%s queued", e->db, e->table);
    }
    snap_state_free(&add);
    free(req);
    return *rc == 0 ? gen : 0;
}

/* Stream side: notes the keys of the table being read. */
static int od_note_change(source_run *run, const binlog_change *ch)
{
    od_run *od = run->od;
    if (!od->rd || ch->topic.len != od->topic.len ||
        memcmp(ch->topic.p, od->topic.p, ch->topic.len) != 0)
        return 0;
    int rc = binlog_snapshot_window_note(od->win, ch->key);
    return rc == 0 ? 0 : rl_err_set(run->err, rc, "out of memory");
}

/* Stream side, at a transaction's commit (run->checkpoint holds its file/pos/gtid_state):
 * the on-demand lines follow them, and the window learns the transaction. */
static int od_on_commit(source_run *run, const binlog_checkpoint *cp)
{
    od_run *od = run->od;
    snprintf(od->base_file, sizeof od->base_file, "%s", cp->file);
    od->base_pos = cp->pos;
    snprintf(od->base_gtid, sizeof od->base_gtid, "%s", cp->gtid_state ? cp->gtid_state : "");
    od_checkpoint_lines(&run->checkpoint, &od->list);
    if (!od->rd)
        return 0;
    return binlog_snapshot_window_commit(od->win, cp->gtid, cp->gtid_state, run->err);
}

/* Appends a ready chunk without the rows changed inside its window; 1 when it was
 * appended, 0 when the stream has not reached its state yet. */
static int od_apply_chunk(source_run *run, od_chunk *c)
{
    od_run *od = run->od;
    rl_err *err = run->err;
    int rc = binlog_snapshot_window_ready(od->win, c->gtid, err);
    if (rc != 1)
        return rc;
    if ((rc = binlog_snapshot_window_set_low(od->win, c->gtid, err)) != 0)
        return rc;
    uint64_t kept = 0, dropped = 0;
    rl_slice topic = rl_buf_slice(&c->topic);
    int64_t now = rl_now_ms();
    for (size_t i = 0; i < c->nrecs; i++) {
        const size_t *r = c->recs + 4 * i;
        rl_slice key = rl_slice_make(c->data.p + r[0], r[1]);
        if (!binlog_snapshot_window_keep(od->win, key)) {
            dropped++;
            continue;
        }
        rl_slice val = rl_slice_make(c->data.p + r[2], r[3]);
        if ((rc = log_store_append(run->src->store, topic, key, val, now, err)) != 0)
            return rc;
        stat_add(&run->src->stats.appended_bytes, key.len + val.len);
        kept++;
    }
    stat_add(&run->src->stats.snapshot_rows, kept);
    binlog_snapshot_window_prune(od->win);
    snap_entry *e = &od->list.e[0];
    char *t = strdup(c->token);
    if (!t)
        return rl_err_set(err, -ENOMEM, "out of memory");
    free(e->token);
    e->token = t;
    e->rows = c->rows_done;
    e->chunks = c->chunks_done;
    e->rows_estimated = c->rows_estimated;
    if ((rc = od_publish(run->src, e, c->table_done, dropped)) != 0)
        return rl_err_set(err, rc, "out of memory");
    if (c->table_done) {
        rl_info("on-demand snapshot: %s.%s complete: %llu rows read in %llu chunks", e->db,
                e->table, (unsigned long long)e->rows, (unsigned long long)e->chunks);
        free(e->db);
        free(e->table);
        free(e->token);
        memmove(&od->list.e[0], &od->list.e[1], (od->list.n - 1) * sizeof *od->list.e);
        od->list.n--;
        od->list.last_hit = 0;
    }
    if ((rc = od_checkpoint(run)) != 0)
        return rc;
    /* The rows and their token are durable together (a crash re-reads from the token). */
    if ((rc = commit_now(run)) != 0)
        return rc;
    return 1;
}

/* At a transaction boundary (nothing appended since): takes new requests (durable before
 * the HTTP request is answered), starts the chunk reader of the first table, appends the
 * chunks whose window the stream has passed. */
static int od_poll(source_run *run)
{
    rowlogd_source *src = run->src;
    od_run *od = run->od;
    int rc;
    uint64_t gen = od_take_requests(run, &rc);
    if (rc != 0)
        return rc;
    if (gen) {
        if ((rc = od_checkpoint(run)) != 0 || (rc = commit_now(run)) != 0)
            return rc;
        od->req_seen = gen;
        pthread_mutex_lock(&src->lock);
        if (src->od_req_gen == gen) { /* else later requests are in the text: taken next */
            free(src->od_request);
            src->od_request = NULL;
        }
        src->od_req_done = gen;
        pthread_cond_broadcast(&src->od_cond);
        pthread_mutex_unlock(&src->lock);
    }
    if (!od->rd && od->list.n && rl_mono_ns() >= od->retry_ns) {
        /* A new table (or a retry): the window starts empty here. Every chunk's state S is
         * read after this point, so it contains everything streamed before: only what the
         * stream carries from now on can fall inside a window. */
        binlog_snapshot_window_reset(od->win);
        rl_buf_reset(&od->topic);
        binlog_snapshot_topic(&od->topic, src->opts->topic_prefix, od->list.e[0].db,
                              od->list.e[0].table);
        if (!rl_buf_ok(&od->topic))
            return rl_err_set(run->err, -ENOMEM, "out of memory");
        if ((rc = binlog_snapshot_window_commit(od->win, "", od->base_gtid, run->err)) != 0)
            return rc;
        if ((rc = od_reader_start(&od->rd, src->opts, &od->list.e[0])) != 0)
            return rl_err_set(run->err, rc, "cannot start the on-demand snapshot reader");
        rl_info("on-demand snapshot: reading %s.%s%s%s", od->list.e[0].db, od->list.e[0].table,
                od->list.e[0].token[0] ? " from token " : "", od->list.e[0].token);
        atomic_store(&src->stats.ondemand_running, true);
    }
    od_reader *r = od->rd;
    if (!r)
        return 0;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        od_chunk *c = r->qn ? r->q[0] : NULL;
        bool finished = r->finished;
        pthread_mutex_unlock(&r->mu);
        if (!c) {
            if (!finished)
                return 0;
            /* The reader ended with nothing queued: an error (retried from the last stored
             * token) or the table's last chunk already applied. */
            if (r->rc != 0) {
                rl_warn("on-demand snapshot: %s.%s: %s (%s); retrying in %d ms", r->db,
                        r->table, r->err.msg, rl_errname(r->rc), OD_RETRY_MS);
                pthread_mutex_lock(&src->stats.lock);
                src->stats.last_error = r->rc;
                snprintf(src->stats.last_error_msg, sizeof src->stats.last_error_msg,
                         "on-demand snapshot: %s", r->err.msg);
                src->stats.last_error_ms = rl_now_ms();
                pthread_mutex_unlock(&src->stats.lock);
                od->retry_ns = rl_mono_ns() + (int64_t)OD_RETRY_MS * 1000000;
            }
            od_reader_free(r);
            od->rd = NULL;
            rl_buf_reset(&od->topic);
            atomic_store(&src->stats.ondemand_running, od->list.n > 0);
            return 0;
        }
        bool last = c->table_done;
        rc = od_apply_chunk(run, c);
        if (rc <= 0)
            return rc;
        pthread_mutex_lock(&r->mu);
        memmove(&r->q[0], &r->q[1], (r->qn - 1) * sizeof *r->q);
        r->qn--;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        od_chunk_free(c);
        if (last) {
            od_reader_free(r);
            od->rd = NULL;
            rl_buf_reset(&od->topic);
            atomic_store(&src->stats.ondemand_running, od->list.n > 0);
            return 0;
        }
    }
}

static void od_run_free(od_run *od)
{
    if (!od)
        return;
    od_reader_free(od->rd);
    binlog_snapshot_window_free(od->win);
    snap_state_free(&od->list);
    rl_buf_free(&od->topic);
    free(od);
}

int rowlogd_ondemand_validate(const rowlogd_opts *opts, const char *const *names, size_t n,
                              rl_err *err)
{
    if (n == 0 || n > OD_REQ_MAX)
        return rl_err_set(err, RL_ECONFIG, "give 1 to %d tables as db.table", OD_REQ_MAX);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        const char *dot = strchr(names[i], '.');
        if (!dot || dot == names[i] || !dot[1] || strchr(names[i], '\n'))
            return rl_err_set(err, RL_ECONFIG, "'%s': not db.table", names[i]);
    }
    if (opts->include[0] || opts->exclude[0]) {
        struct rowlogd_filter *f = NULL;
        if ((rc = filter_new(&f, opts, err)) != 0)
            return rc;
        for (size_t i = 0; i < n && rc == 0; i++) {
            bool ok = !f->have_include || regexec(&f->include, names[i], 0, NULL, 0) == 0;
            if (ok && f->have_exclude && regexec(&f->exclude, names[i], 0, NULL, 0) == 0)
                ok = false;
            if (!ok)
                rc = rl_err_set(err, RL_ENOTFOUND,
                                "%s is excluded by --include/--exclude: rowlogd does not "
                                "stream it",
                                names[i]);
        }
        filter_free(f);
        if (rc != 0)
            return rc;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const char *dot = strchr(names[i], '.');
        char db[256], table[256];
        if ((size_t)(dot - names[i]) >= sizeof db || strlen(dot + 1) >= sizeof table)
            return rl_err_set(err, RL_ECONFIG, "'%s': name too long", names[i]);
        snprintf(db, sizeof db, "%.*s", (int)(dot - names[i]), names[i]);
        snprintf(table, sizeof table, "%s", dot + 1);
        rl_buf re = RL_BUF_INIT;
        od_exact_regex(&re, db, table);
        if (!rl_buf_ok(&re))
            return rl_err_set(err, -ENOMEM, "out of memory");
        binlog_snapshot_opts so;
        od_snapshot_opts(opts, &so, (const char *)re.p);
        binlog_snapshot_t *snap = NULL;
        rc = binlog_snapshot_open(&snap, &so, err);
        rl_buf_free(&re);
        if (rc != 0)
            return rc;
        const binlog_snapshot_point *pt = binlog_snapshot_get_point(snap);
        binlog_snapshot_table_info ti;
        if (binlog_snapshot_table(snap, 0, &ti) != 0)
            rc = rl_err_set(err, RL_ENOTFOUND, "no base table %s at the source", names[i]);
        else if (ti.key_columns == 0)
            rc = rl_err_set(err, RL_EUNSUPPORTED,
                            "%s has no primary key (nor a UNIQUE key of NOT NULL columns): "
                            "an on-demand snapshot needs a key to merge chunks with the "
                            "stream",
                            names[i]);
        else if (!ti.chunked)
            rc = rl_err_set(err, RL_EUNSUPPORTED,
                            "%s: its key has a column type that cannot be paginated (FLOAT, "
                            "DOUBLE, BIT, ENUM, SET): an on-demand snapshot reads key chunks",
                            names[i]);
        else if (!pt->mariadb)
            /* On MySQL each chunk's read view would be opened under FLUSH TABLES WITH READ
             * LOCK (reader/snapshot.c), a global lock per chunk, and the path is untested:
             * refused until chunks can be read without it (docs/snapshots.md). */
            rc = rl_err_set(err, RL_EUNSUPPORTED,
                            "on-demand snapshots are supported on MariaDB sources only: on "
                            "MySQL every chunk would take FLUSH TABLES WITH READ LOCK");
        else if (!pt->gtid_state[0])
            rc = rl_err_set(err, RL_EUNSUPPORTED,
                            "GTIDs are off at the source (gtid_mode): an on-demand snapshot "
                            "uses GTID states as its watermarks");
        binlog_snapshot_close(snap);
    }
    return rc;
}

int rowlogd_source_request_snapshot(rowlogd_source *src, const char *const *names, size_t n,
                                    unsigned timeout_ms, rl_err *err)
{
    rl_buf req = RL_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        const char *dot = strchr(names[i], '.');
        char db[256];
        snprintf(db, sizeof db, "%.*s", (int)(dot - names[i]), names[i]);
        put_pct(&req, db);
        rl_buf_putc(&req, '.');
        put_pct(&req, dot + 1);
        rl_buf_putc(&req, '\n');
    }
    rl_buf_putc(&req, 0);
    if (!rl_buf_ok(&req))
        return rl_err_set(err, -ENOMEM, "out of memory");
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    int rc = 0;
    pthread_mutex_lock(&src->lock);
    /* Requests not taken yet are merged: the source takes them all at its next boundary. */
    size_t old = src->od_request ? strlen(src->od_request) : 0;
    char *m = realloc(src->od_request, old + req.len);
    if (!m) {
        pthread_mutex_unlock(&src->lock);
        rl_buf_free(&req);
        return rl_err_set(err, -ENOMEM, "out of memory");
    }
    memcpy(m + old, req.p, req.len);
    src->od_request = m;
    uint64_t gen = src->od_req_gen + 1;
    __atomic_store_n(&src->od_req_gen, gen, __ATOMIC_RELEASE);
    while (src->od_req_done < gen && !atomic_load(&src->stop))
        if (pthread_cond_timedwait(&src->od_cond, &src->lock, &until) == ETIMEDOUT)
            break;
    if (src->od_req_done < gen)
        rc = rl_err_set(err, -ETIMEDOUT,
                        "the request is queued but not stored yet (the source is not "
                        "streaming: connecting, or reading the initial snapshot); it is taken "
                        "when streaming resumes, unless rowlogd stops first");
    pthread_mutex_unlock(&src->lock);
    rl_buf_free(&req);
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
    run.od = calloc(1, sizeof *run.od);
    if (!run.od || binlog_snapshot_window_new(&run.od->win) != 0) {
        rc = rl_err_set(err, -ENOMEM, "out of memory");
        goto out;
    }
    run.od->list = od_list;
    memset(&od_list, 0, sizeof od_list);
    snprintf(run.od->base_file, sizeof run.od->base_file, "%s", used->at.file);
    run.od->base_pos = used->at.pos;
    snprintf(run.od->base_gtid, sizeof run.od->base_gtid, "%s", used->gtid_state);
    pthread_mutex_lock(&src->lock);
    run.od->req_seen = src->od_req_done; /* requests before that were stored or dropped */
    pthread_mutex_unlock(&src->lock);
    for (size_t i = 0; i < run.od->list.n; i++) {
        if ((rc = od_publish(src, &run.od->list.e[i], false, 0)) != 0) {
            rl_err_set(err, rc, "out of memory");
            goto out;
        }
        rl_info("on-demand snapshot: %s.%s resumes from token '%s'", run.od->list.e[i].db,
                run.od->list.e[i].table, run.od->list.e[i].token);
    }
    /* The starting point is itself a boundary: a first commit with no records makes it the
     * checkpoint, so a restart before any transaction resumes here, not at a later "current
     * position" that would skip changes. */
    if (!start.at.file[0] && !start.gtid_state[0]) {
        if ((rc = od_checkpoint(&run)) != 0 || (rc = commit_now(&run)) != 0)
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
                    stat_add(&src->stats.decode_errors, 1);
                break;
            }
            /* An idle primary still sends heartbeats: a deferred boundary is committed as
             * soon as nothing more is waiting. */
            if (run.boundary_pending && !run.appended_since_boundary &&
                !binlog_conn_pending(run.conn) && (rc = commit_now(&run)) != 0)
                break;
            if (!run.appended_since_boundary && (rc = housekeeping(&run)) != 0)
                break;
            if (!run.appended_since_boundary && (rc = od_poll(&run)) < 0)
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
            rc = commit_now(&run);
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
    od_run_free(run.od);
    atomic_store(&src->stats.ondemand_running, false);
    binlog_conn_close(run.conn);
    rl_buf_free(&run.checkpoint);
    rl_buf_free(&blob);
    snap_state_free(&ss);
    snap_state_free(&od_list);
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
    src->result = filter_new(&src->filter, src->opts, &src->err);
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
        stat_add(&src->stats.reconnects, 1);
        rl_warn("source: %s (%s); reconnecting from the last checkpoint in %u ms", src->err.msg,
                rl_errname(src->result), backoff_ms);
        if (source_sleep(src, backoff_ms)) {
            src->result = 0;
            break;
        }
        backoff_ms = backoff_ms >= 15000 ? 30000 : backoff_ms * 2;
    }
    filter_free(src->filter);
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
