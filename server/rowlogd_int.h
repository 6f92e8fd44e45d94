/*
 * rowlogd_int.h - private to the rowlogd daemon (server/rowlogd*.c): its options, the
 * source thread that reads the binlog, decodes it and appends to the log, and the metrics
 * side (the counters the source publishes, the primary poller, the Prometheus exposition
 * writer, /proc readings and the HTTP endpoint; see docs/metrics.md).
 *
 * Metrics threading: the source thread is the only writer of rowlogd_source_stats (relaxed
 * atomic load + store, no locked instruction, no lock on its hot path); strings (position,
 * GTID state, last error) sit behind rowlogd_source_stats.lock and are copied at commits,
 * heartbeats and errors only. The HTTP thread reads them; the poller thread owns the
 * primary connection and publishes its last poll under rowlogd_poller.lock.
 */
#ifndef ROWLOGD_INT_H
#define ROWLOGD_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "log/log.h"
#include "reader/binlog.h"
#include "reader/primary.h"
#include "reader/snapshot.h"
#include "server/kafka.h"

typedef struct rowlogd_opts {
    binlog_source_opts source;
    bool have_source;
    char data_dir[4096];
    char listen_host[256];
    unsigned listen_port;
    char topic_prefix[128];
    log_store_opts log;
    log_topic_config topic_defaults; /* retention and cleanup of every topic (log.topic_defaults
                                        points here) */
    int log_level;
    unsigned commit_interval_ms; /* longest a committed transaction waits for its fsync while
                                    the primary keeps sending (group commit) */
    bool http_enabled;           /* --http off clears it */
    bool http_explicit;          /* --http was given: failing to listen is then fatal; the
                                    default address is best effort (a warning) */
    char http_host[256];         /* --http HOST:PORT, default 127.0.0.1:9100 */
    unsigned http_port;          /* 0 = any free port (tests) */
    unsigned poll_ms;            /* --primary-poll-ms: head polling period, default 2000 */
    int snapshot_mode;           /* ROWLOGD_SNAPSHOT_*, --snapshot (default initial) */
    unsigned snapshot_threads;   /* --snapshot-threads, default 1 (1..64) */
    unsigned snapshot_chunk_rows; /* --snapshot-chunk-rows, default 10000 (1..10^7) */
    char include[4096];          /* --include REGEX, repeatable: "(r1)|(r2)"; "" = every table.
                                    POSIX ERE on "db.table", anchored; snapshot and stream */
    char exclude[4096];          /* --exclude REGEX, same form; "" = none */
} rowlogd_opts;

/* --snapshot modes (docs/snapshots.md "rowlogd"). */
enum {
    ROWLOGD_SNAPSHOT_INITIAL = 0, /* snapshot when the log has no position, then stream */
    ROWLOGD_SNAPSHOT_NEVER,       /* stream from the primary's current position */
    ROWLOGD_SNAPSHOT_WHEN_NEEDED, /* initial, and again when the stored position is purged */
    ROWLOGD_SNAPSHOT_INITIAL_ONLY /* snapshot, then exit 0 without streaming */
};

/* Parses argv (and the --config file, whose keys are the long option names without "--";
 * command-line options win). Prints usage and returns 1 for --help, returns RL_ECONFIG with
 * err set on a bad option, 0 otherwise. */
int rowlogd_opts_parse(rowlogd_opts *opts, int argc, char **argv, rl_err *err);

/* Row operations counted per kind (rowlogd_source_stats.rows). */
enum { ROWLOGD_OP_INSERT = 0, ROWLOGD_OP_UPDATE = 1, ROWLOGD_OP_DELETE = 2, ROWLOGD_OPS = 3 };

/* Progress of one table of the running (or last) snapshot, under rowlogd_source_stats.lock. */
typedef struct rowlogd_snapshot_table_stats {
    char *name;              /* "db.table" (owned) */
    uint64_t rows_read;      /* rows handed out (resumed runs included) */
    uint64_t rows_estimated; /* information_schema.TABLES.TABLE_ROWS at open */
    uint64_t chunks;         /* chunks done (resumed runs included) */
    uint64_t rows_dropped;   /* on demand: chunk rows dropped because the stream changed
                                their key inside the chunk's window (this process) */
    bool done;
} rowlogd_snapshot_table_stats;

/* Published by the source thread for the metrics endpoint (see the file comment). Counters
 * count since the process started, across reconnects. */
typedef struct rowlogd_source_stats {
    _Atomic uint64_t events[256];    /* binlog events received, by event type (header byte 4) */
    _Atomic uint64_t event_bytes[256]; /* their bytes (header + body + CRC) */
    _Atomic uint64_t rows[ROWLOGD_OPS]; /* row changes appended, by operation */
    _Atomic uint64_t appended_bytes; /* key + value bytes of the records appended (before
                                        batching and compression) */
    _Atomic uint64_t schema_changes; /* schema-change events (binlog_change.op 's', topic
                                        PREFIX) appended; never counted in rows[] */
    _Atomic uint64_t txns;           /* transactions committed by the decoder (on_commit) */
    _Atomic uint64_t decode_errors;  /* events the decoder refused (each one stops the source) */
    _Atomic uint64_t reconnects;     /* connections re-established after a loss */
    _Atomic bool connected;          /* a replication connection is open and streaming */
    _Atomic bool running;            /* the source thread has not ended */
    _Atomic int64_t last_event_ts_us; /* source timestamp of the last transaction event read:
                                         MySQL's immediate_commit_timestamp (us) when GTID
                                         events carry it, else the header's second + 0.5 s
                                         (unbiased for 1 s resolution); 0 = none yet */
    _Atomic bool idle;               /* the last event read was a heartbeat */
    _Atomic int64_t caught_up_ms;    /* wall clock of the last heartbeat, when the primary had
                                        no more events to send */
    _Atomic int64_t last_durable_ms; /* wall clock of the last durable log commit (hook) */
    _Atomic int64_t undurable_since_ms; /* wall clock at which the oldest transaction read
                                           but not yet durable in the log was read; 0 when
                                           everything read is durable (cleared by the
                                           commit hook, which runs on the source thread) */
    _Atomic bool snapshot_running;   /* a snapshot is being read */
    _Atomic bool ondemand_running;   /* an on-demand snapshot is queued or being read */
    _Atomic uint64_t snapshot_rows;  /* snapshot records ('r') appended by this process */
    pthread_mutex_t lock;            /* guards the strings below and the snapshot tables */
    rowlogd_snapshot_table_stats *snap_tables; /* tables of the current or last snapshot */
    size_t snap_ntables;
    rowlogd_snapshot_table_stats *od_tables; /* on-demand snapshots requested since start
                                                (rows_dropped: chunk rows left to the stream) */
    size_t od_ntables;
    int64_t snapshot_started_ms;     /* wall clock at which this process started reading it */
    binlog_pos at;                   /* position read: after the last event or heartbeat */
    char gtid_state[BINLOG_GTID_STATE_MAX]; /* GTID state after the last committed transaction */
    int last_error;                  /* code of the last source error (0: none yet) */
    char last_error_msg[512];
    int64_t last_error_ms;
} rowlogd_source_stats;

/* Copy of the locked part of rowlogd_source_stats (rowlogd_source_stats_position). */
typedef struct rowlogd_source_position {
    binlog_pos at;
    char gtid_state[BINLOG_GTID_STATE_MAX];
    int last_error;
    char last_error_msg[512];
    int64_t last_error_ms;
} rowlogd_source_position;

/* Any thread: copies the locked strings. */
void rowlogd_source_stats_position(rowlogd_source_stats *st, rowlogd_source_position *out);

/*
 * Source lag in milliseconds at wall time now_ms (pure; docs/metrics.md "Lag in seconds"):
 *   - idle (the last event read was a heartbeat, at caught_up_ms): the primary had nothing
 *     more at caught_up_ms; heartbeats come every heartbeat_ms while idle, so only the time
 *     beyond one period is lag (a stalled rowlogd or link keeps growing it);
 *   - else now - the last event's source timestamp (last_event_ts_us).
 * Never negative; 0 when nothing was read yet and no heartbeat came.
 */
int64_t rowlogd_lag_ms(int64_t now_ms, int64_t last_event_ts_us, bool idle, int64_t caught_up_ms,
                       unsigned heartbeat_ms);

/* The source thread: owns the replication connection and the decoder; the only writer of the
 * log store. */
typedef struct rowlogd_source {
    const rowlogd_opts *opts;
    log_store_t *store;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t lock;   /* guards conn between the thread and rowlogd_source_stop */
    pthread_cond_t wake;    /* signalled by rowlogd_source_stop (ends a reconnect backoff) */
    binlog_conn_t *conn;
    binlog_snapshot_t *snap;    /* the snapshot being read (guarded by lock, like conn) */
    /* On-demand snapshot requests (docs/snapshots.md "On demand"), guarded by lock: */
    char *od_request;           /* tables requested and not taken yet, "db.table\n" lines
                                   (names percent-encoded as in the checkpoint) */
    uint64_t od_req_gen;        /* requests made */
    uint64_t od_req_done;       /* requests stored durably (the checkpoint lists them) */
    pthread_cond_t od_cond;     /* signalled when od_req_done moves or at a stop */
    bool resnapshot;            /* source thread: the stored position was purged and
                                   --snapshot when-needed: the next run snapshots again */
    struct rowlogd_filter *filter; /* source thread: --include/--exclude for the stream */
    struct rowlogd_schema *schema; /* source thread: schema history (rowlogd_schema.c) */
    rowlogd_source_stats stats; /* metrics; initialised by rowlogd_source_init */
    int result;             /* 0 after a requested stop, else the error that ended it */
    rl_err err;
    void (*on_exit)(void *ctx); /* called from the thread when it ends (any reason) */
    void *on_exit_ctx;
} rowlogd_source;

/* Zeroes src's stats and initialises their lock (before the HTTP server can read them);
 * call once before rowlogd_source_start. */
void rowlogd_source_init(rowlogd_source *src);
/* Starts the thread. Returns 0 or -errno. */
int rowlogd_source_start(rowlogd_source *src);
/* Any thread: asks the source thread to stop after its last complete transaction. */
void rowlogd_source_stop(rowlogd_source *src);
/* Waits for the thread; returns its result (err filled). stats stay readable until
 * rowlogd_source_destroy. */
int rowlogd_source_join(rowlogd_source *src);
void rowlogd_source_destroy(rowlogd_source *src);

/* ------------------------------------------------------------------ XA transactions */

/* Prepared XA transactions held in the log until their XA COMMIT / XA ROLLBACK
 * (rowlogd_xa.c, docs/format-binlog.md "XA transactions"). Source thread only. */
#define ROWLOGD_XA_TOPIC "__rowlog_xa" /* internal topic of the held changes */
typedef struct rowlogd_xa rowlogd_xa;
/* Sets the internal topic's configuration (compact, kept forever) and rebuilds the held
 * transactions from its committed records (call after log_store_abort or at start: appends
 * not committed are not seen). Returns 0; RL_ECORRUPT (a record that is not a held change,
 * naming partition and offset); -errno, -ENOMEM. */
int rowlogd_xa_open(rowlogd_xa **out, log_store_t *store, rl_err *err);
void rowlogd_xa_free(rowlogd_xa *xa);
/* Prepared transactions held now (NULL: 0). */
size_t rowlogd_xa_held(const rowlogd_xa *xa);
/* Holds one change (ch->xid set, op c/u/d) of the open XA group of ch->xid: appends it to the
 * internal topic (not durable before the caller's next log_store_commit). Returns 0 or the
 * errors of log_store_append; -ENOMEM. */
int rowlogd_xa_hold(rowlogd_xa *xa, const binlog_change *ch, rl_err *err);
/* The open group of xid is prepared: its changes wait for rowlogd_xa_end. */
void rowlogd_xa_prepared(rowlogd_xa *xa, const char *xid);
/* True when a held change of xid is not committed in the log yet (rowlogd_xa_end reads them
 * back: commit and sync first). */
bool rowlogd_xa_needs_commit(rowlogd_xa *xa, const char *xid);
/* Ends the prepared transaction xid: when commit, calls publish(ctx, ch) for each held change
 * in order (slices valid during the call); then appends a tombstone per held record. Returns
 * the number of changes published (0 also when xid is not held: prepared before rowlog's start
 * position, or every change filtered out), or a negative code: RL_ECORRUPT (a held record
 * missing or malformed), what publish returned, the errors of log_store_read and
 * log_store_append. */
int rowlogd_xa_end(rowlogd_xa *xa, const char *xid, bool commit,
                   int (*publish)(void *ctx, const binlog_change *ch), void *ctx, rl_err *err);

/* ------------------------------------------------------------------ on-demand snapshots */

/* Any thread (the HTTP thread): checks that each of names ("db.table", n of them, 1..64) can
 * be snapshotted on demand: a base table at the source, passing --include/--exclude, with a
 * primary key (or a UNIQUE key of NOT NULL columns) of orderable types, and GTIDs on at the
 * source. Opens one short connection per table (a consistent snapshot, read-only). Returns 0,
 * RL_ECONFIG (not db.table, too many), RL_ENOTFOUND (no such table, or filtered out),
 * RL_EUNSUPPORTED (no usable key, GTIDs off), RL_ESOURCE (the source unreachable or refusing),
 * -ENOMEM; err says which table and why. */
int rowlogd_ondemand_validate(const rowlogd_opts *opts, const char *const *names, size_t n,
                              rl_err *err);
/* Any thread: queues names (validated) for the source thread and waits up to timeout_ms until
 * it has stored them durably in the log's checkpoint (at its next transaction boundary; an
 * idle primary's heartbeats bring one every heartbeat period). Returns 0 (stored: a restart
 * resumes them), -ETIMEDOUT (not stored yet: the source is not streaming; the request stays
 * queued for this process), -ENOMEM. */
int rowlogd_source_request_snapshot(rowlogd_source *src, const char *const *names, size_t n,
                                    unsigned timeout_ms, rl_err *err);

/* ------------------------------------------------------------------ schema history */

/* rowlogd_schema.c, source thread: gives a new decoder the source's schema history (table
 * definitions by binlog position, restored from rowlog's own log on the first call), so
 * TABLE_MAPs without column metadata and DDL events are decoded against the schema they
 * were written under (docs/schema.md). Returns 0, or a negative code with err filled. */
int rowlogd_schema_attach(rowlogd_source *src, binlog_decoder_t *dec, rl_err *err);
/* Frees src->schema (NULL allowed); after the source thread has ended. */
void rowlogd_schema_free(rowlogd_source *src);
/* Source thread, after each successful log commit: the schema versions published since the
 * previous one are durable (binlog_decoder_set_schema_commit). NULL schema allowed. */
void rowlogd_schema_durable(rowlogd_source *src);

/* ------------------------------------------------------------------ primary poller */

/* A thread polling the primary's head every opts->poll_ms (reader/primary.h) and keeping
 * the last result for the HTTP thread. */
typedef struct rowlogd_poller {
    const rowlogd_opts *opts;
    pthread_t thread;
    pthread_mutex_t lock;   /* guards everything below */
    pthread_cond_t wake;
    bool stop;
    bool have;              /* st holds a successful poll */
    binlog_primary_status st;
    int error;              /* the last poll's error (0: it succeeded) */
    char error_msg[512];
    uint64_t polls, poll_errors;
} rowlogd_poller;

/* Starts the thread (first poll at once). Returns 0 or -errno. */
int rowlogd_poller_start(rowlogd_poller *p, const rowlogd_opts *opts);
/* Stops and joins the thread, frees the status. */
void rowlogd_poller_stop(rowlogd_poller *p);
/* Any thread: deep copy of the last successful poll into out (freed first with
 * binlog_primary_status_free). Returns 0, RL_ENOTFOUND (no successful poll yet), -ENOMEM. */
int rowlogd_poller_get(rowlogd_poller *p, binlog_primary_status *out);

/* ------------------------------------------------------------------ exposition */

/*
 * Prometheus text exposition format 0.0.4 (prometheus/docs content/docs/instrumenting/
 * exposition_formats.md): per family "# HELP name text" and "# TYPE name type" once, then
 * its samples "name{label="value",...} value", all samples of a family together.
 * Errors stick in the writer (checked once with rowlogd_prom_error).
 */
typedef struct rowlogd_prom {
    rl_buf *out;
    char family[128];   /* the family being written */
    rl_buf seen;        /* names of families already written, each followed by '\n' */
    int error;          /* first error: RL_ECONFIG (family repeated or bad name), -ENOMEM */
} rowlogd_prom;

void rowlogd_prom_init(rowlogd_prom *w, rl_buf *out);
void rowlogd_prom_free(rowlogd_prom *w);
/* Starts family name (metric name rules [a-zA-Z_:][a-zA-Z0-9_:]*) of type "counter",
 * "gauge", "info"-style gauges or "untyped", writing HELP (help escaped: backslash, newline)
 * and TYPE. A family already written sets RL_ECONFIG (samples must stay grouped). */
void rowlogd_prom_family(rowlogd_prom *w, const char *name, const char *type, const char *help);
/* One sample of the current family. labels: nlabels pairs {name, value, name, value, ...};
 * values are escaped (backslash, double quote, newline) and invalid UTF-8 bytes replaced by
 * U+FFFD. Integral values below 2^53 print as integers, others with 17 significant digits;
 * NaN and infinities as NaN, +Inf, -Inf. */
void rowlogd_prom_sample(rowlogd_prom *w, const char *const *labels, size_t nlabels, double v);
/* Same with an exact 64-bit integer value. */
void rowlogd_prom_sample_u64(rowlogd_prom *w, const char *const *labels, size_t nlabels,
                             uint64_t v);
/* 0 or the first error. */
int rowlogd_prom_error(const rowlogd_prom *w);

/* ------------------------------------------------------------------ /proc */

/* The standard process_ metrics (prometheus client_golang's process collector). */
typedef struct rowlogd_proc {
    double cpu_seconds;         /* utime + stime */
    double start_time_seconds;  /* since the epoch */
    uint64_t resident_bytes;
    uint64_t virtual_bytes;
    uint64_t open_fds;
    uint64_t max_fds;
} rowlogd_proc;

/* Parses the text of /proc/self/stat (proc(5): fields after the command name in
 * parentheses, which may itself hold spaces and parentheses: the last ')' ends it).
 * ticks: sysconf(_SC_CLK_TCK); page: the page size in bytes; btime: boot time in seconds
 * since the epoch (/proc/stat). Fills cpu, start time, resident and virtual bytes.
 * Returns 0 or RL_ECORRUPT. */
int rowlogd_proc_parse_stat(const char *text, long ticks, long page, uint64_t btime,
                            rowlogd_proc *out);
/* Finds "btime N" in the text of /proc/stat. Returns 0 or RL_ENOTFOUND. */
int rowlogd_proc_parse_btime(const char *text, uint64_t *btime);
/* Reads /proc/self/stat, /proc/stat, counts /proc/self/fd and takes RLIMIT_NOFILE. Returns 0
 * or a negative code (the fields that could be read are filled). */
int rowlogd_proc_read(rowlogd_proc *out);

/* ------------------------------------------------------------------ the endpoint */

/* What the HTTP thread reads. Every pointer must outlive rowlogd_http_stop. */
typedef struct rowlogd_view {
    const rowlogd_opts *opts;
    log_store_t *store;
    kafka_server_t *srv;
    rowlogd_source *src;
    rowlogd_poller *poller;  /* NULL: no head polling */
} rowlogd_view;

/* Renders /metrics for view at wall time now_ms into out (appended). Returns 0, -ENOMEM or
 * RL_ECONFIG (a family written twice: a bug). */
int rowlogd_metrics_render(const rowlogd_view *view, int64_t now_ms, rl_buf *out);

typedef struct rowlogd_http rowlogd_http;
/* Starts libmicrohttpd's internal polling thread on opts->http_host:http_port serving
 * /metrics, /health/live, /health/ready and /v1/offsets. Returns 0, -errno or RL_ECONFIG
 * (host does not resolve), with err naming the address. */
int rowlogd_http_start(rowlogd_http **out, const rowlogd_view *view, rl_err *err);
/* Port actually bound. */
unsigned rowlogd_http_port(const rowlogd_http *h);
/* Stops the thread (waits for requests in flight) and frees. NULL is fine. */
void rowlogd_http_stop(rowlogd_http *h);

/* ------------------------------------------------------------------ source thread internals */

/* Shared by rowlogd_source.c (the stream, the initial snapshot, the checkpoint) and
 * rowlogd_ondemand.c (on-demand snapshots while streaming); the source thread only. */

/* One table in the checkpoint ("snapshot_table=" / "snapshot_done=" / "ondemand_table="
 * lines). */
typedef struct rowlogd_snap_entry {
    char *db, *table; /* owned */
    char *token;      /* owned; "" = from the start */
    bool done;
    uint64_t rows, chunks, rows_estimated;
} rowlogd_snap_entry;

/* A list of such tables (the initial snapshot's, or the on-demand queue). */
typedef struct rowlogd_snap_state {
    bool running; /* "snapshot=running" */
    rowlogd_snap_entry *e;
    size_t n, cap;
    size_t last_hit; /* entry of the last progress notice (notices of one table repeat) */
} rowlogd_snap_state;

typedef struct rowlogd_od_run rowlogd_od_run; /* rowlogd_ondemand.c */

/* One connection's run of the source thread. */
typedef struct rowlogd_source_run {
    rowlogd_source *src;
    binlog_conn_t *conn;   /* NULL in tests that drive the callbacks */
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
    rowlogd_snap_state *snap;
    /* on-demand snapshots while streaming (NULL outside streaming) */
    rowlogd_od_run *od;
    /* prepared XA transactions held until their outcome (NULL outside streaming) */
    rowlogd_xa *xa;
} rowlogd_source_run;

/* A metrics counter bumped by its only writer (relaxed load + store, no locked instruction). */
static inline void rowlogd__stat_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* rowlogd_source.c. List entries: add copies the names (NULL on -ENOMEM), find compares
 * both names (NULL: absent), free frees every entry and zeroes the list. */
void rowlogd__snap_state_free(rowlogd_snap_state *ss);
rowlogd_snap_entry *rowlogd__snap_state_add(rowlogd_snap_state *ss, const char *db, size_t dblen,
                                            const char *table, size_t tlen);
rowlogd_snap_entry *rowlogd__snap_state_find(rowlogd_snap_state *ss, const char *db,
                                             const char *table);
/* Parses "db.table[ token]" (names %XX-encoded) of vlen bytes at v into a new entry of ss.
 * Returns 0, RL_ECORRUPT (message names the line), -ENOMEM. */
int rowlogd__snap_parse_line(rowlogd_snap_state *ss, const char *v, size_t vlen, bool done,
                             rl_err *err);
/* Appends s with bytes outside [A-Za-z0-9_$-] as %XX (checkpoint names). */
void rowlogd__put_pct(rl_buf *b, const char *s);
/* Resets b to "file=F\npos=N\ngtid_state=S\n" (the checkpoint's position lines). */
void rowlogd__checkpoint_format(rl_buf *b, const char *file, uint64_t pos, const char *gtid_state);
/* Appends the checkpoint line "KEY=db.table[ token]\n" of e (names %XX-encoded; the token
 * when with_token): the one writer of snapshot_table, snapshot_done and ondemand_table
 * lines, which rowlogd__snap_parse_line reads back. */
void rowlogd__checkpoint_table_line(rl_buf *b, const char *key, const rowlogd_snap_entry *e,
                                    bool with_token);
/* --include / --exclude of opts compiled (*out NULL when neither is set). Returns 0,
 * RL_ECONFIG (a regex that does not compile), -ENOMEM. free: NULL allowed. selects: whether
 * "db.table" passes both. */
int rowlogd__filter_new(struct rowlogd_filter **out, const rowlogd_opts *o, rl_err *err);
void rowlogd__filter_free(struct rowlogd_filter *f);
bool rowlogd__filter_selects(const struct rowlogd_filter *f, const char *db_table);
/* Commits the log with run->checkpoint. Returns 0 or log_store_commit's error. */
int rowlogd__commit_now(rowlogd_source_run *run);

/* rowlogd_ondemand.c (docs/snapshots.md "On demand"). run->od is created by od_open from
 * the checkpoint's ondemand_table lines (list is taken over and zeroed; position = where the
 * stream starts) and freed by od_free (NULL allowed). note_change / on_commit are the stream
 * side (every published change, every transaction boundary); poll runs between events when
 * nothing is appended since the last boundary (takes requests, appends ready chunks: returns
 * a negative code to stop); checkpoint rewrites run->checkpoint with the last boundary's
 * position and the on-demand lines. Errors: -ENOMEM, the log's, the snapshot's. */
int rowlogd__od_open(rowlogd_source_run *run, rowlogd_snap_state *list, const binlog_start *at,
                     rl_err *err);
void rowlogd__od_free(rowlogd_od_run *od);
int rowlogd__od_note_change(rowlogd_source_run *run, const binlog_change *ch);
int rowlogd__od_on_commit(rowlogd_source_run *run, const binlog_checkpoint *cp);
int rowlogd__od_poll(rowlogd_source_run *run);
int rowlogd__od_checkpoint(rowlogd_source_run *run);

#endif
