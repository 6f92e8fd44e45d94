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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct source_run {
    rowlogd_source *src;
    binlog_conn_t *conn;
    rl_buf checkpoint;       /* blob of the last boundary seen */
    bool boundary_pending;   /* a boundary is not committed yet */
    bool appended_since_boundary;
    int64_t last_commit_ns;
    int64_t last_retain_ns;
    uint64_t txns, rows;
    bool exact_ts; /* the primary's GTID events carry microsecond commit timestamps */
    bool gtid_warned;
    rl_err *err;
} source_run;

/* Checkpoint blob: "file=NAME\npos=N\ngtid_state=STATE\n". Text, so that an operator can
 * read it (it is stored inside the log's checkpoint file). */
static void checkpoint_format(rl_buf *b, const char *file, uint64_t pos, const char *gtid_state)
{
    rl_buf_reset(b);
    rl_buf_printf(b, "file=%s\npos=%llu\ngtid_state=%s\n", file, (unsigned long long)pos,
                  gtid_state ? gtid_state : "");
}

static int checkpoint_parse(rl_slice blob, binlog_start *start, rl_err *err)
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
        if (klen == 4 && memcmp(p, "file", 4) == 0 && vlen < sizeof start->at.file) {
            memcpy(start->at.file, eq + 1, vlen);
            start->at.file[vlen] = 0;
        } else if (klen == 3 && memcmp(p, "pos", 3) == 0) {
            start->at.pos = strtoull(eq + 1, NULL, 10);
        } else if (klen == 10 && memcmp(p, "gtid_state", 10) == 0 &&
                   vlen < sizeof start->gtid_state) {
            memcpy(start->gtid_state, eq + 1, vlen);
            start->gtid_state[vlen] = 0;
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
        run->boundary_pending = false;
        run->last_commit_ns = rl_mono_ns();
    }
    return rc;
}

static int on_change(void *ctx, const binlog_change *ch)
{
    source_run *run = ctx;
    run->appended_since_boundary = true;
    run->rows++;
    stat_add(&run->src->stats.rows[ch->op == 'c'   ? ROWLOGD_OP_INSERT
                                   : ch->op == 'u' ? ROWLOGD_OP_UPDATE
                                                   : ROWLOGD_OP_DELETE],
             1);
    stat_add(&run->src->stats.appended_bytes, ch->key.len + ch->value.len);
    int rc = log_store_append(run->src->store, ch->topic, ch->key, ch->value, ch->ts_ms,
                              run->err);
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
    if (!binlog_conn_pending(run->conn) || rl_mono_ns() - run->last_commit_ns >= interval_ns)
        return commit_now(run);
    return 0;
}

/* One connection's life: from the checkpoint to a stop or an error. *retry is set when the
 * error is the connection's (the primary unreachable, restarting, or the link lost), which
 * a new connection from the checkpoint can cure; decode, log and position errors are not. */
static int source_run_once(rowlogd_source *src, bool *retry, bool *streamed, rl_err *err)
{
    source_run run = {.src = src, .checkpoint = RL_BUF_INIT, .err = err};
    binlog_decoder_t *dec = NULL;
    binlog_start start;
    rl_buf blob = RL_BUF_INIT;
    int rc;

    memset(&start, 0, sizeof start);
    rc = log_store_checkpoint(src->store, &blob);
    if (rc == 0) {
        rc = checkpoint_parse(rl_buf_slice(&blob), &start, err);
        if (rc != 0)
            goto out;
    } else if (rc != RL_ENOTFOUND) {
        goto out;
    }
    *retry = false;
    *streamed = false;
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
    binlog_decoder_expect_checksum(dec, binlog_conn_checksum_crc32(run.conn));
    if (used->at.file[0])
        binlog_decoder_set_file(dec, used->at.file);
    if ((rc = binlog_decoder_set_gtid_state(dec, used->gtid_state, err)) != 0)
        goto out;
    /* The starting point is itself a boundary: a first commit with no records makes it the
     * checkpoint, so a restart before any transaction resumes here, not at a later "current
     * position" that would skip changes. */
    if (!start.at.file[0] && !start.gtid_state[0]) {
        checkpoint_format(&run.checkpoint, used->at.file, used->at.pos, used->gtid_state);
        if ((rc = commit_now(&run)) != 0)
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
            continue;
        }
        if (rc == 0) /* the primary closed the dump (a shutdown, say) */
            rc = rl_err_set(err, -ECONNRESET, "the primary ended the binlog stream");
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
    rl_info("source: %llu transactions, %llu row changes this run",
            (unsigned long long)run.txns, (unsigned long long)run.rows);
    pthread_mutex_lock(&src->lock);
    src->conn = NULL;
    pthread_mutex_unlock(&src->lock);
    binlog_decoder_free(dec);
    binlog_conn_close(run.conn);
    rl_buf_free(&run.checkpoint);
    rl_buf_free(&blob);
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
    for (;;) {
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
        rl_warn("source: %s (%s); reconnecting from the last checkpoint in %u ms",
                src->err.msg, rl_errname(src->result), backoff_ms);
        if (source_sleep(src, backoff_ms)) {
            src->result = 0;
            break;
        }
        backoff_ms = backoff_ms >= 15000 ? 30000 : backoff_ms * 2;
    }
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
    src->conn = NULL;
    atomic_store(&src->stats.running, true);
    int rc = pthread_create(&src->thread, NULL, source_main, src);
    if (rc != 0)
        atomic_store(&src->stats.running, false);
    return rc == 0 ? 0 : -rc;
}

void rowlogd_source_destroy(rowlogd_source *src)
{
    pthread_mutex_destroy(&src->stats.lock);
}

void rowlogd_source_stop(rowlogd_source *src)
{
    pthread_mutex_lock(&src->lock);
    atomic_store(&src->stop, true);
    pthread_cond_broadcast(&src->wake);
    if (src->conn)
        binlog_conn_interrupt(src->conn);
    pthread_mutex_unlock(&src->lock);
}

int rowlogd_source_join(rowlogd_source *src)
{
    pthread_join(src->thread, NULL);
    pthread_cond_destroy(&src->wake);
    pthread_mutex_destroy(&src->lock);
    return src->result;
}
