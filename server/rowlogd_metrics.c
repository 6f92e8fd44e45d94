/*
 * rowlogd_metrics.c - what /metrics reports (docs/metrics.md lists every family): the
 * source (connection, positions, lag, retention headroom, errors), the pipeline counters,
 * the log per partition, the Kafka server, and the process. Rendered on the HTTP thread from
 * values the other threads publish (rowlogd_int.h); nothing here waits on the primary.
 */
#include "server/rowlogd_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The `type` label of an event type byte: its name from the reader (binlog_event_type_name),
 * or the number for bytes no server defines. */
static const char *event_type_name(unsigned t)
{
    const char *name = binlog_event_type_name(t);
    return strcmp(name, "UNKNOWN") == 0 ? NULL : name;
}

static uint64_t ld(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}
static int64_t ldi(_Atomic int64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* A family with a single unlabelled sample. */
static void one_u64(rowlogd_prom *w, const char *name, const char *type, const char *help,
                    uint64_t v)
{
    rowlogd_prom_family(w, name, type, help);
    rowlogd_prom_sample_u64(w, NULL, 0, v);
}
static void one(rowlogd_prom *w, const char *name, const char *type, const char *help, double v)
{
    rowlogd_prom_family(w, name, type, help);
    rowlogd_prom_sample(w, NULL, 0, v);
}

/* ------------------------------------------------------------------ source */

static void gtid_sample(void *ctx, const char *key, uint64_t seq)
{
    const char *l[] = {"gtid_domain", key};
    rowlogd_prom_sample_u64(ctx, l, 1, seq);
}

/* A family with one sample per entry of a GTID set (none when the set is empty or cannot
 * be parsed). */
static void gtid_family(rowlogd_prom *w, const char *name, const char *help, const char *set)
{
    rowlogd_prom_family(w, name, "gauge", help);
    binlog_primary_gtid_each(set, gtid_sample, w);
}

static void render_source(rowlogd_prom *w, const rowlogd_view *v, int64_t now_ms)
{
    rowlogd_source_stats *st = &v->src->stats;
    rowlogd_source_position pos;
    rowlogd_source_stats_position(st, &pos);
    char num[32];

    one_u64(w, "rowlog_source_connected", "gauge",
            "1 while the replication connection to the primary is open",
            atomic_load(&st->connected) ? 1 : 0);
    one_u64(w, "rowlog_source_running", "gauge",
            "1 while the source thread runs (0 once it stopped on an error or a stop request)",
            atomic_load(&st->running) ? 1 : 0);

    /* The file is a label (it changes at rotations only); the byte position and GTID
     * sequences are values, so that they do not make a new series at every transaction. */
    rowlogd_prom_family(w, "rowlog_source_position_info", "gauge",
                        "Binlog file of the position read (after the last event or heartbeat) "
                        "as a label; always 1");
    const char *pl[] = {"file", pos.at.file};
    rowlogd_prom_sample(w, pl, 1, 1);
    one_u64(w, "rowlog_source_position_bytes", "gauge",
            "Byte position read in the binlog file of rowlog_source_position_info", pos.at.pos);
    gtid_family(w, "rowlog_source_gtid_sequence",
                "GTID state after the last transaction: sequence number per MariaDB domain "
                "(or last interval end per MySQL source uuid)",
                pos.gtid_state);

    /* Unknown (absent) until the first event or heartbeat was read. */
    if (ldi(&st->last_event_ts_us) > 0 || ldi(&st->caught_up_ms) > 0) {
        int64_t lag = rowlogd_lag_ms(
            now_ms, ldi(&st->last_event_ts_us),
            atomic_load_explicit(&st->idle, memory_order_relaxed), ldi(&st->caught_up_ms),
            v->opts->source.heartbeat_ms ? v->opts->source.heartbeat_ms : 1000);
        one(w, "rowlog_source_lag_seconds", "gauge",
            "Seconds the position read is behind the primary: now minus the last event's "
            "commit time, 0 while heartbeats say nothing more is waiting (see docs/metrics.md)",
            (double)lag / 1000.0);
    }
    int64_t ts = ldi(&st->last_event_ts_us);
    if (ts > 0)
        one(w, "rowlog_source_last_event_timestamp_seconds", "gauge",
            "Source timestamp of the last transaction event read (s since the epoch)",
            (double)ts / 1e6);
    int64_t hb = ldi(&st->caught_up_ms);
    if (hb > 0)
        one(w, "rowlog_source_last_heartbeat_timestamp_seconds", "gauge",
            "Wall time the last heartbeat arrived (s since the epoch)", (double)hb / 1000.0);
    one_u64(w, "rowlog_source_reconnects_total", "counter",
            "Replication connections re-established after a loss", ld(&st->reconnects));
    if (pos.last_error) {
        rowlogd_prom_family(w, "rowlog_source_last_error_info", "gauge",
                            "Last error of the source (code and message as labels); always 1");
        const char *el[] = {"code", rl_errname(pos.last_error), "message", pos.last_error_msg};
        rowlogd_prom_sample(w, el, 2, 1);
        one(w, "rowlog_source_last_error_timestamp_seconds", "gauge",
            "Wall time of the last source error (s since the epoch)",
            (double)pos.last_error_ms / 1000.0);
    }

    /* The primary's side, from the poller's last successful poll. */
    if (!v->poller)
        return;
    binlog_primary_status ps;
    memset(&ps, 0, sizeof ps);
    uint64_t polls, errors;
    pthread_mutex_lock(&v->poller->lock);
    polls = v->poller->polls;
    errors = v->poller->poll_errors;
    pthread_mutex_unlock(&v->poller->lock);
    one_u64(w, "rowlog_source_head_polls_total", "counter", "Polls of the primary's head position",
            polls);
    one_u64(w, "rowlog_source_head_poll_errors_total", "counter",
            "Polls of the primary's head position that failed", errors);
    if (rowlogd_poller_get(v->poller, &ps) != 0)
        return;
    rowlogd_prom_family(w, "rowlog_source_info", "gauge",
                        "The primary: flavor, version and server id as labels; always 1");
    snprintf(num, sizeof num, "%u", ps.server_id);
    const char *il[] = {
        "flavor", ps.mariadb ? "mariadb" : "mysql", "version", ps.version, "server_id", num};
    rowlogd_prom_sample(w, il, 3, 1);
    one(w, "rowlog_source_head_poll_age_seconds", "gauge",
        "Age of the last successful poll of the primary's head",
        (double)(now_ms - ps.polled_ms) / 1000.0);
    rowlogd_prom_family(w, "rowlog_source_head_position_info", "gauge",
                        "Binlog file of the primary's head (SHOW MASTER STATUS) as a label; "
                        "always 1");
    const char *hl[] = {"file", ps.head.file};
    rowlogd_prom_sample(w, hl, 1, 1);
    one_u64(w, "rowlog_source_head_position_bytes", "gauge",
            "Byte position of the primary's head in its current binlog file", ps.head.pos);
    gtid_family(w, "rowlog_source_head_gtid_sequence",
                "The primary's GTID set (gtid_binlog_pos / gtid_executed): sequence number per "
                "MariaDB domain (or last interval end per MySQL source uuid)",
                ps.gtid_set);
    uint64_t total = 0;
    for (size_t i = 0; i < ps.nfiles; i++)
        total += ps.files[i].size;
    one_u64(w, "rowlog_source_binlog_files", "gauge",
            "Binlog files the primary keeps (SHOW BINARY LOGS)", ps.nfiles);
    one_u64(w, "rowlog_source_binlog_bytes", "gauge",
            "Bytes of binlog the primary keeps (SHOW BINARY LOGS)", total);

    uint64_t x;
    if (pos.at.file[0]) {
        if (binlog_primary_lag_bytes(&ps, &pos.at, &x) == 0)
            one_u64(w, "rowlog_source_lag_bytes", "gauge",
                    "Bytes of binlog between the position read and the primary's polled head", x);
        int rc = binlog_primary_headroom_bytes(&ps, &pos.at, &x);
        one_u64(w, "rowlog_source_retention_headroom_bytes", "gauge",
                "Bytes of binlog the primary keeps before the position read: what it may "
                "still purge before rowlog's position is gone (0: purged)",
                rc == 0 ? x : 0);
        one_u64(w, "rowlog_source_position_purged", "gauge",
                "1 when the binlog file of the position read is no longer on the primary",
                rc == RL_ENOTFOUND ? 1 : 0);
    }
    if (binlog_primary_gtid_lag(ps.gtid_set, pos.gtid_state, &x) == 0)
        one_u64(w, "rowlog_source_lag_transactions", "gauge",
                "Transactions in the primary's GTID set beyond rowlog's GTID state", x);
    binlog_primary_status_free(&ps);
}

/* ------------------------------------------------------------------ pipeline */

static void render_pipeline(rowlogd_prom *w, const rowlogd_view *v, int64_t now_ms)
{
    rowlogd_source_stats *st = &v->src->stats;
    char num[16];
    uint64_t bytes = 0;
    rowlogd_prom_family(w, "rowlog_source_events_total", "counter",
                        "Binlog events read from the primary, by event type");
    for (unsigned t = 0; t < 256; t++) {
        uint64_t n = ld(&st->events[t]);
        if (!n)
            continue;
        const char *name = event_type_name(t);
        if (!name) {
            snprintf(num, sizeof num, "%u", t);
            name = num;
        }
        const char *l[] = {"type", name};
        rowlogd_prom_sample_u64(w, l, 1, n);
    }
    rowlogd_prom_family(w, "rowlog_source_event_bytes_total", "counter",
                        "Bytes of binlog events read from the primary, by event type");
    for (unsigned t = 0; t < 256; t++) {
        uint64_t n = ld(&st->event_bytes[t]);
        if (!ld(&st->events[t]))
            continue;
        bytes += n;
        const char *name = event_type_name(t);
        if (!name) {
            snprintf(num, sizeof num, "%u", t);
            name = num;
        }
        const char *l[] = {"type", name};
        rowlogd_prom_sample_u64(w, l, 1, n);
    }
    one_u64(w, "rowlog_source_read_bytes_total", "counter",
            "Bytes of binlog events read from the primary", bytes);
    rowlogd_prom_family(w, "rowlog_source_rows_total", "counter",
                        "Row changes appended to the log, by operation");
    static const char *ops[ROWLOGD_OPS] = {"insert", "update", "delete"};
    for (int i = 0; i < ROWLOGD_OPS; i++) {
        const char *l[] = {"op", ops[i]};
        rowlogd_prom_sample_u64(w, l, 1, ld(&st->rows[i]));
    }
    one_u64(w, "rowlog_source_schema_changes_total", "counter",
            "Schema-change events (DDL, op s on the prefix topic) appended; not row changes",
            ld(&st->schema_changes));
    one_u64(w, "rowlog_source_transactions_total", "counter",
            "Transactions decoded (with or without row changes)", ld(&st->txns));
    one_u64(w, "rowlog_source_decode_errors_total", "counter",
            "Events the decoder refused (each stops the source)", ld(&st->decode_errors));

    log_store_stats ls;
    log_store_stats_get(v->store, &ls);
    one_u64(w, "rowlog_source_appended_bytes_total", "counter",
            "Key and value bytes of the row changes appended (before compression)",
            ld(&st->appended_bytes));
    one_u64(w, "rowlog_log_records_total", "counter", "Records written to segments", ls.records);
    one_u64(w, "rowlog_log_batches_total", "counter", "RecordBatches written to segments",
            ls.batches);
    one_u64(w, "rowlog_log_written_bytes_total", "counter",
            "Segment bytes written (batches after compression)", ls.bytes);
    one_u64(w, "rowlog_log_commits_total", "counter", "Log commits made durable and visible",
            ls.commits);
    one_u64(w, "rowlog_log_syncs_total", "counter", "fsyncs of segments and checkpoints", ls.syncs);
    one_u64(w, "rowlog_log_segments_rolled_total", "counter", "Segments sealed by a roll",
            ls.segments_rolled);
    one_u64(w, "rowlog_log_retention_deleted_segments_total", "counter",
            "Segments deleted by retention", ls.segments_deleted);
    one_u64(w, "rowlog_log_compaction_rewritten_segments_total", "counter",
            "Segments rewritten by compaction", ls.segments_compacted);
    one_u64(w, "rowlog_log_writable", "gauge",
            "1 while the log accepts writes (0 after a write or fsync error)",
            ls.error == 0 ? 1 : 0);
    int64_t last = ldi(&st->last_durable_ms);
    if (last > 0)
        one(w, "rowlog_log_last_commit_timestamp_seconds", "gauge",
            "Wall time of the last durable log commit (checkpoint), s since the epoch",
            (double)last / 1000.0);
    int64_t since = ldi(&st->undurable_since_ms);
    one(w, "rowlog_log_checkpoint_age_seconds", "gauge",
        "Age of the oldest transaction read but not yet durable in the log (what a crash "
        "would make rowlog re-read); 0 when everything read is durable",
        since > 0 && now_ms > since ? (double)(now_ms - since) / 1000.0 : 0.0);
}

/* ------------------------------------------------------------------ log partitions */

typedef struct topic_list {
    rl_buf names; /* NUL-separated topic names */
    size_t n;
} topic_list;

static void collect_topic(void *ctx, const char *topic, uint32_t partitions)
{
    topic_list *tl = ctx;
    (void)partitions;
    rl_buf_append(&tl->names, topic, strlen(topic) + 1);
    tl->n++;
}

/* Disk use (allocated blocks: segment files are sparse) and segment count of a partition
 * directory. Returns false when it cannot be read. */
static bool partition_disk(const char *data_dir, const char *topic, uint32_t part, uint64_t *bytes,
                           uint64_t *segments)
{
    char path[4096 + 300], file[4096 + 600];
    snprintf(path, sizeof path, "%s/%s-%u", data_dir, topic, part);
    DIR *d = opendir(path);
    if (!d)
        return false;
    *bytes = 0;
    *segments = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(file, sizeof file, "%s/%s", path, de->d_name);
        struct stat sb;
        if (stat(file, &sb) != 0)
            continue; /* deleted by retention meanwhile */
        *bytes += (uint64_t)sb.st_blocks * 512;
        size_t len = strlen(de->d_name);
        if (len > 4 && strcmp(de->d_name + len - 4, ".log") == 0)
            (*segments)++;
    }
    closedir(d);
    return true;
}

enum { PART_START, PART_HW, PART_END, PART_BYTES, PART_SEGMENTS, PART_FAMILIES };

static void render_log(rowlogd_prom *w, const rowlogd_view *v)
{
    topic_list tl = {RL_BUF_INIT, 0};
    log_store_topics(v->store, collect_topic, &tl);
    if (!rl_buf_ok(&tl.names)) {
        w->error = -ENOMEM;
        rl_buf_free(&tl.names);
        return;
    }
    static const char *names[PART_FAMILIES] = {
        "rowlog_log_start_offset", "rowlog_log_high_watermark", "rowlog_log_end_offset",
        "rowlog_log_partition_bytes", "rowlog_log_partition_segments"};
    static const char *helps[PART_FAMILIES] = {
        "First offset kept in the partition (log start offset)",
        "Offset after the last committed record (high watermark): what consumers can read",
        "Offset after the last appended record, committed or not (log end offset)",
        "Disk space of the partition's files (allocated blocks; segments are sparse)",
        "Segment files in the partition"};
    /* Families must stay grouped: one pass per family over every partition. */
    for (int f = 0; f < PART_FAMILIES; f++) {
        rowlogd_prom_family(w, names[f], "gauge", helps[f]);
        const char *topic = (const char *)tl.names.p;
        for (size_t i = 0; i < tl.n; i++, topic += strlen(topic) + 1) {
            int nparts = log_store_partitions(v->store, topic);
            for (int p = 0; p < nparts; p++) {
                char pnum[16];
                snprintf(pnum, sizeof pnum, "%d", p);
                const char *l[] = {"topic", topic, "partition", pnum};
                if (f == PART_START || f == PART_HW) {
                    int64_t start, hw;
                    if (log_store_offsets(v->store, topic, (uint32_t)p, &start, &hw) != 0)
                        continue;
                    rowlogd_prom_sample(w, l, 2, (double)(f == PART_START ? start : hw));
                } else if (f == PART_END) {
                    int64_t leo;
                    if (log_store_log_end_offset(v->store, topic, (uint32_t)p, &leo) != 0)
                        continue;
                    rowlogd_prom_sample(w, l, 2, (double)leo);
                } else {
                    uint64_t bytes, segs;
                    if (!partition_disk(v->opts->data_dir, topic, (uint32_t)p, &bytes, &segs))
                        continue;
                    rowlogd_prom_sample_u64(w, l, 2, f == PART_BYTES ? bytes : segs);
                }
            }
        }
    }
    one_u64(w, "rowlog_log_topics", "gauge", "Topics in the log", tl.n);
    rl_buf_free(&tl.names);
}

/* ------------------------------------------------------------------ Kafka server */

static void render_kafka(rowlogd_prom *w, const rowlogd_view *v)
{
    if (!v->srv)
        return;
    kafka_server_stats ks;
    kafka_server_stats_get(v->srv, &ks);
    one_u64(w, "rowlog_kafka_connections_accepted_total", "counter",
            "Kafka client connections accepted", ks.connections_accepted);
    one_u64(w, "rowlog_kafka_connections_open", "gauge", "Kafka client connections open",
            ks.connections_open);
    one_u64(w, "rowlog_kafka_protocol_errors_total", "counter",
            "Connections closed for an oversized, malformed or unsupported request",
            ks.protocol_errors);
    one_u64(w, "rowlog_kafka_requests_total", "counter", "Kafka requests answered", ks.requests);
    one_u64(w, "rowlog_kafka_fetch_record_bytes_total", "counter",
            "RecordBatch bytes sent in Fetch responses", ks.fetch_record_bytes);
    one_u64(w, "rowlog_kafka_fetch_sendfile_bytes_total", "counter",
            "Fetch record bytes sent with sendfile from the segment file (the rest of "
            "rowlog_kafka_fetch_record_bytes_total went from the log's mapping)",
            ks.fetch_sendfile_bytes);
    one_u64(w, "rowlog_kafka_fetch_parked", "gauge", "Fetch requests parked (long poll) now",
            ks.fetch_parked_now);
    one_u64(w, "rowlog_kafka_produce_refused_total", "counter",
            "Produce partitions refused (the log is written by the binlog reader only)",
            ks.produce_refused);
    one_u64(w, "rowlog_consumer_groups", "gauge", "Consumer groups known", ks.groups);
    one_u64(w, "rowlog_consumer_members", "gauge", "Consumer group members, all groups",
            ks.members);
    one_u64(w, "rowlog_consumer_rebalances_total", "counter", "Consumer group generations started",
            ks.rebalances);
    one_u64(w, "rowlog_consumer_offset_commits_total", "counter",
            "Partition offsets committed by consumer groups", ks.offset_commits);
}

/* ------------------------------------------------------------------ consumer groups */

typedef struct first_ts {
    int64_t offset; /* the first record at or after this offset */
    int64_t ts;     /* its timestamp, or -1 */
} first_ts;

static int first_ts_fn(void *ctx, const log_record *rec)
{
    first_ts *f = ctx;
    if (rec->offset < f->offset)
        return 0;
    f->ts = rec->timestamp;
    return RL_ESTOPPED; /* found: stop decoding */
}

/* Timestamp (ms) of the first record at or after offset, or -1 when none can be read (an
 * offset at the high watermark, below the log start, or a batch that does not decode). */
static int64_t record_ts(log_store_t *store, const char *topic, int32_t part, int64_t offset,
                         rl_buf *scratch)
{
    log_read rd;
    memset(&rd, 0, sizeof rd);
    first_ts f = {offset, -1};
    /* The batches from the one holding offset (the read returns at least one whole batch;
     * in a compacted gap the record is in a later batch of the same read or missing). */
    if (log_store_read(store, topic, (uint32_t)part, offset, 1, &rd, NULL) != 0) {
        log_read_release(&rd);
        return -1;
    }
    rl_slice left = rd.bytes;
    while (f.ts < 0 && left.len > 0) {
        int n = log_batch_decode(left, scratch, (size_t)64 << 20, first_ts_fn, &f, NULL);
        if (n == RL_ESTOPPED || n <= 0)
            break;
        left.p += n;
        left.len -= (size_t)n;
    }
    log_read_release(&rd);
    return f.ts;
}

static void render_consumers(rowlogd_prom *w, const rowlogd_view *v, int64_t now_ms)
{
    if (!v->srv)
        return;
    kafka_committed_offset *co = NULL;
    size_t n = 0;
    if (kafka_server_committed_offsets(v->srv, &co, &n) != 0) {
        w->error = -ENOMEM;
        return;
    }
    int64_t *hw = calloc(n ? n : 1, sizeof *hw);
    double *lag_s = calloc(n ? n : 1, sizeof *lag_s);
    rl_buf scratch = RL_BUF_INIT;
    if (!hw || !lag_s) {
        w->error = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t start = 0;
        hw[i] = -1;
        lag_s[i] = 0;
        if (log_store_offsets(v->store, co[i].topic, (uint32_t)co[i].partition, &start, &hw[i]) !=
            0) {
            hw[i] = -1;
            continue;
        }
        if (co[i].offset < hw[i]) {
            /* Age of the first record the group has not consumed yet. */
            int64_t ts = record_ts(v->store, co[i].topic, co[i].partition,
                                   co[i].offset > start ? co[i].offset : start, &scratch);
            if (ts > 0 && now_ms > ts)
                lag_s[i] = (double)(now_ms - ts) / 1000.0;
        }
    }
    rowlogd_prom_family(w, "rowlog_consumer_committed_offset", "gauge",
                        "Offset committed by a consumer group (the next record it reads)");
    for (size_t i = 0; i < n; i++) {
        char pnum[16];
        snprintf(pnum, sizeof pnum, "%d", co[i].partition);
        const char *l[] = {"group", co[i].group, "topic", co[i].topic, "partition", pnum};
        rowlogd_prom_sample(w, l, 3, (double)co[i].offset);
    }
    rowlogd_prom_family(w, "rowlog_consumer_lag_records", "gauge",
                        "Records between a group's committed offset and the high watermark");
    for (size_t i = 0; i < n; i++) {
        if (hw[i] < 0)
            continue;
        char pnum[16];
        snprintf(pnum, sizeof pnum, "%d", co[i].partition);
        const char *l[] = {"group", co[i].group, "topic", co[i].topic, "partition", pnum};
        rowlogd_prom_sample(w, l, 3, (double)(hw[i] > co[i].offset ? hw[i] - co[i].offset : 0));
    }
    rowlogd_prom_family(w, "rowlog_consumer_lag_seconds", "gauge",
                        "Age of the first record a group has not consumed (0 when caught up)");
    for (size_t i = 0; i < n; i++) {
        if (hw[i] < 0)
            continue;
        char pnum[16];
        snprintf(pnum, sizeof pnum, "%d", co[i].partition);
        const char *l[] = {"group", co[i].group, "topic", co[i].topic, "partition", pnum};
        rowlogd_prom_sample(w, l, 3, lag_s[i]);
    }
    rowlogd_prom_family(w, "rowlog_consumer_group_members", "gauge",
                        "Members of a consumer group now (0: no consumer running)");
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && strcmp(co[i].group, co[i - 1].group) == 0)
            continue; /* sorted by group: one sample per group */
        const char *l[] = {"group", co[i].group};
        rowlogd_prom_sample_u64(w, l, 1, co[i].members);
    }
out:
    rl_buf_free(&scratch);
    free(hw);
    free(lag_s);
    free(co);
}

/* ------------------------------------------------------------------ process */

static void render_process(rowlogd_prom *w)
{
    rowlogd_proc pr;
    rowlogd_proc_read(&pr);
    one(w, "process_cpu_seconds_total", "counter",
        "Total user and system CPU time spent in "
        "seconds.",
        pr.cpu_seconds);
    one_u64(w, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
            pr.resident_bytes);
    one_u64(w, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
            pr.virtual_bytes);
    one_u64(w, "process_open_fds", "gauge", "Number of open file descriptors.", pr.open_fds);
    one_u64(w, "process_max_fds", "gauge", "Maximum number of open file descriptors.", pr.max_fds);
    one(w, "process_start_time_seconds", "gauge",
        "Start time of the process since unix epoch in seconds.", pr.start_time_seconds);
}

/* ------------------------------------------------------------------ snapshot */

/* Per-table progress of the running (or last) snapshot (docs/snapshots.md), rendered under
 * the stats lock (the source thread takes it once per chunk). */
static void render_snapshot(rowlogd_prom *w, const rowlogd_view *v)
{
    rowlogd_source_stats *st = &v->src->stats;
    one_u64(w, "rowlog_snapshot_running", "gauge", "1 while a snapshot of the tables is read",
            atomic_load_explicit(&st->snapshot_running, memory_order_relaxed) ? 1 : 0);
    one_u64(w, "rowlog_snapshot_records_total", "counter",
            "Snapshot records (op r) appended by this process", ld(&st->snapshot_rows));
    pthread_mutex_lock(&st->lock);
    if (st->snap_ntables > 0) {
        one(w, "rowlog_snapshot_start_time_seconds", "gauge",
            "When this process started reading the current or last snapshot (since the epoch)",
            (double)st->snapshot_started_ms / 1000.0);
        static const struct {
            const char *name, *type, *help;
        } fam[4] = {
            {"rowlog_snapshot_rows_read", "gauge",
             "Rows of the table read by the snapshot (resumed runs included)"},
            {"rowlog_snapshot_rows_estimated", "gauge",
             "Rows of the table estimated at the snapshot's start (information_schema)"},
            {"rowlog_snapshot_chunks_total", "counter",
             "Primary-key chunks of the table read by the snapshot (resumed runs included)"},
            {"rowlog_snapshot_table_done", "gauge", "1 once the table's snapshot is complete"},
        };
        for (int f = 0; f < 4; f++) {
            rowlogd_prom_family(w, fam[f].name, fam[f].type, fam[f].help);
            for (size_t i = 0; i < st->snap_ntables; i++) {
                const rowlogd_snapshot_table_stats *t = &st->snap_tables[i];
                const char *l[] = {"table", t->name};
                uint64_t x = f == 0   ? t->rows_read
                             : f == 1 ? t->rows_estimated
                             : f == 2 ? t->chunks
                                      : (uint64_t)t->done;
                rowlogd_prom_sample_u64(w, l, 1, x);
            }
        }
    }
    /* On-demand snapshots while streaming (docs/snapshots.md "On demand"): one series per
     * table requested since this process started. */
    one_u64(w, "rowlog_ondemand_snapshot_running", "gauge",
            "1 while an on-demand snapshot is queued or being read",
            atomic_load_explicit(&st->ondemand_running, memory_order_relaxed) ? 1 : 0);
    if (st->od_ntables > 0) {
        static const struct {
            const char *name, *type, *help;
        } fam[5] = {
            {"rowlog_ondemand_snapshot_rows_read", "gauge",
             "Rows of the table read by its on-demand snapshot (resumed runs included)"},
            {"rowlog_ondemand_snapshot_rows_estimated", "gauge",
             "Rows of the table estimated by the source (information_schema)"},
            {"rowlog_ondemand_snapshot_chunks_total", "counter",
             "Primary-key chunks of the table read on demand (resumed runs included)"},
            {"rowlog_ondemand_snapshot_rows_dropped_total", "counter",
             "Chunk rows left to the stream, which changed their key inside the chunk's "
             "window (this process)"},
            {"rowlog_ondemand_snapshot_table_done", "gauge",
             "1 once the table's on-demand snapshot is complete"},
        };
        for (int f = 0; f < 5; f++) {
            rowlogd_prom_family(w, fam[f].name, fam[f].type, fam[f].help);
            for (size_t i = 0; i < st->od_ntables; i++) {
                const rowlogd_snapshot_table_stats *t = &st->od_tables[i];
                const char *l[] = {"table", t->name};
                uint64_t x = f == 0   ? t->rows_read
                             : f == 1 ? t->rows_estimated
                             : f == 2 ? t->chunks
                             : f == 3 ? t->rows_dropped
                                      : (uint64_t)t->done;
                rowlogd_prom_sample_u64(w, l, 1, x);
            }
        }
    }
    pthread_mutex_unlock(&st->lock);
}

int rowlogd_metrics_render(const rowlogd_view *v, int64_t now_ms, rl_buf *out)
{
    rowlogd_prom w;
    rowlogd_prom_init(&w, out);
    render_source(&w, v, now_ms);
    render_pipeline(&w, v, now_ms);
    render_snapshot(&w, v);
    render_log(&w, v);
    render_kafka(&w, v);
    render_consumers(&w, v, now_ms);
    render_process(&w);
    int rc = rowlogd_prom_error(&w);
    rowlogd_prom_free(&w);
    return rc;
}
