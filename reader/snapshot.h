/*
 * snapshot.h - reader/: consistent, chunked, resumable snapshots of a primary's tables,
 * aligned with the binlog stream (docs/snapshots.md).
 *
 * A snapshot opens one or more connections whose transactions all see the database at one
 * binlog point P (file, position, GTID state): every row of the selected tables is handed
 * out once as a change with op 'r', and the binlog stream started at P carries every change
 * after it, with no gap and no overlap.
 *   - MariaDB: START TRANSACTION WITH CONSISTENT SNAPSHOT, then SHOW STATUS LIKE
 *     'binlog_snapshot_%' and BINLOG_GTID_POS(file, pos) (MariaDB KB "Enhancements for START
 *     TRANSACTION WITH CONSISTENT SNAPSHOT"; sql/log.cc binlog_snapshot_file). No lock with
 *     one connection; several connections are opened while one of them holds FLUSH TABLES
 *     WITH READ LOCK (RELOAD privilege), and their binlog_snapshot_* must all be equal.
 *     Without RELOAD the snapshot falls back to one connection (a warning says so).
 *   - MySQL: FLUSH TABLES WITH READ LOCK while every connection starts its consistent
 *     snapshot and @@global.gtid_executed and SHOW BINARY LOG STATUS (8.2+; SHOW MASTER
 *     STATUS before) are read, then UNLOCK TABLES (mysqldump --single-transaction
 *     --source-data does the same: client/mysqldump.cc). RELOAD is required.
 * Rows are read in primary-key order from the resume key on (`WHERE k1 > v1 OR (k1 = v1 AND
 * k2 > v2) ORDER BY k1,k2`, the row comparison (k1,k2) > (v1,v2) written as ranges) inside the
 * snapshot transaction, unbuffered: one query per table cut into chunks as rows arrive (each
 * chunk's last key is its resume token), or with max_chunks set one query per chunk with
 * `LIMIT N`; memory is bounded by the chunk size whatever the table size. A table without a
 * usable key is streamed in one pass (mysql_use_result). The key is
 * the one the binlog names: the PRIMARY KEY, else the first UNIQUE index of NOT NULL columns.
 * Values are rendered from the text protocol to exactly the JSON the binlog decoder gives
 * (docs/events.md): same topic, same key, same `after` object.
 *
 * Threading: one snapshot object is driven by one thread (the caller of
 * binlog_snapshot_run), which also runs every callback; the library starts `threads` reader
 * threads of its own during binlog_snapshot_run and joins them before it returns.
 * binlog_snapshot_interrupt() alone may be called from another thread.
 * Ownership: the snapshot owns its connections, table list and buffers; strings and slices
 * handed to callbacks are valid only during the call.
 */
#ifndef BINLOG_SNAPSHOT_H
#define BINLOG_SNAPSHOT_H

#include "reader/binlog.h"

typedef struct binlog_snapshot binlog_snapshot_t;

typedef struct binlog_snapshot_opts {
    binlog_source_opts source; /* address and credentials: needs SELECT on the tables (and
                                  information_schema), BINLOG MONITOR (MariaDB) or REPLICATION
                                  CLIENT (MySQL) for the position; RELOAD for threads > 1.
                                  source.schema_history on and a MariaDB source: columns with
                                  CHECK (json_valid(`c`)) (information_schema.CHECK_CONSTRAINTS)
                                  render as JSON values, as the decoder with the history does */
    const char *topic_prefix;  /* default "rowlog", as binlog_decoder_opts */
    const char *source_name;   /* source.name in the envelope; default topic_prefix */
    const char *include;       /* POSIX extended regex matched against "db.table", anchored
                                  (^(...)$ added); NULL or "" = every table */
    const char *exclude;       /* same; a table matching it is left out; NULL = none */
    unsigned threads;          /* reader connections and threads; default 1, at most 64 */
    unsigned chunk_rows;       /* rows per primary-key chunk; default 10000, at most 10^7 */
    unsigned max_chunks;       /* 0: read every table to its end; N: stop each paginated table
                                  after N chunks of this run (its last notice then has
                                  table_done false and a token to continue from). On-demand
                                  snapshots read one chunk per snapshot (per read view) */
    bool incremental;          /* source.snapshot is "incremental" instead of true, and no
                                  record is marked "last" (an on-demand snapshot while
                                  streaming: docs/snapshots.md "On demand") */
} binlog_snapshot_opts;

/* The point every connection of the snapshot sees. The stream that completes the snapshot
 * starts here (binlog_start: gtid_state, or file and pos). */
typedef struct binlog_snapshot_point {
    binlog_pos at;         /* binlog file and position (the end of the last transaction the
                              snapshot contains) */
    char gtid_state[BINLOG_GTID_STATE_MAX]; /* MariaDB: BINLOG_GTID_POS(file, pos)
                                               ("0-1-42,..."); MySQL: @@global.gtid_executed;
                                               "" without GTIDs */
    uint32_t server_id;    /* @@server_id of the primary, source.server_id of the records */
    int64_t ts_ms;         /* when the snapshot was taken, ms since the epoch */
    bool mariadb;          /* flavor detected from VERSION() */
    unsigned connections;  /* reader connections actually opened (1 after a fallback) */
} binlog_snapshot_point;

/* Per-table progress, passed after every chunk whose rows were all passed to on_change. */
typedef struct binlog_snapshot_progress {
    const char *db, *table;   /* NUL-terminated names */
    rl_slice topic;           /* the table's topic, as the records' */
    const char *resume_token; /* opaque, printable, NUL-terminated: pass it to
                                 binlog_snapshot_resume_table to continue after this chunk.
                                 "" for a table without a primary key (it restarts from its
                                 beginning) */
    uint64_t rows_done;       /* rows of this table handed out so far (resumed runs included) */
    uint64_t rows_estimated;  /* information_schema.TABLES.TABLE_ROWS at open (an estimate) */
    uint64_t chunks_done;     /* chunks read so far (resumed runs included) */
    bool table_done;          /* the table is complete (its last notice) */
    bool skipped;             /* the table vanished (dropped during the snapshot): it is done,
                                 with the rows handed out before, and a warning was logged */
} binlog_snapshot_progress;

typedef struct binlog_snapshot_handler {
    void *ctx;
    /* One row: topic, key and value exactly as the binlog decoder would build them for an
     * INSERT of the row, with op 'r', before null, source.file/pos = the snapshot point,
     * source.row = the row's index in its table, source.gtid = the point's GTID state (null
     * without one), source.snapshot true ("last" on the very last record of the whole
     * snapshot), ts_ms = the point's ts_ms. Slices valid during the call. */
    int (*on_change)(void *ctx, const binlog_change *ch);
    /* After the rows of a chunk (may be NULL). Storing the token atomically with the rows
     * passed before it makes the snapshot resumable from there. */
    int (*on_progress)(void *ctx, const binlog_snapshot_progress *pr);
} binlog_snapshot_handler;

/* Info about one selected table (binlog_snapshot_table). Strings valid until close. */
typedef struct binlog_snapshot_table_info {
    const char *db, *table;
    rl_slice topic;
    uint64_t rows_estimated;
    unsigned key_columns; /* primary-key columns; 0: no primary key (one streamed pass) */
    bool chunked;         /* read in primary-key chunks (a key of orderable types); false:
                             one streamed pass, which an on-demand snapshot cannot use */
    bool resumed;         /* a resume token or "done" was given for it */
} binlog_snapshot_table_info;

/*
 * Connects, opens the consistent snapshot on every connection, reads the point, lists the
 * base tables (not mysql, sys, information_schema, performance_schema) that pass the
 * filters, with their columns and primary keys from information_schema.
 * Returns 0 and *out, or:
 *   RL_ECONFIG (a filter that does not compile, threads or chunk_rows out of range),
 *   RL_ESOURCE (connection or query failure, missing privilege, connections whose snapshot
 *   points differ, binlog disabled: the message has the server's error),
 *   RL_EUNSUPPORTED (a selected table has a column type with no decoder rendering, such as
 *   MariaDB UUID or INET6: the message names table and column), -ENOMEM.
 * Nothing is left open on failure.
 */
int binlog_snapshot_open(binlog_snapshot_t **out, const binlog_snapshot_opts *opts, rl_err *err);

/* The snapshot point (valid until close). */
const binlog_snapshot_point *binlog_snapshot_get_point(const binlog_snapshot_t *snap);

/* Selected tables, in the order they are read (information_schema order: db, table).
 * binlog_snapshot_table returns 0, or RL_ENOTFOUND when i >= the count. */
size_t binlog_snapshot_table_count(const binlog_snapshot_t *snap);
int binlog_snapshot_table(const binlog_snapshot_t *snap, size_t i,
                          binlog_snapshot_table_info *info);

/*
 * Resumes a table before binlog_snapshot_run: done = true skips it (it was complete), else
 * its rows after `token` (a progress notice's resume_token; "" or NULL: from the start) are
 * read, rows_done/chunks_done continue from the token's counts. See docs/snapshots.md for
 * why the resumed part (read at this snapshot's point, later than the first one) stays
 * aligned with a stream that starts at the FIRST snapshot's point.
 * Returns 0, RL_ENOTFOUND (no such selected table: filtered out, or dropped since; the
 * caller may ignore it), RL_ECONFIG (a malformed token; err says why), -ENOMEM.
 */
int binlog_snapshot_resume_table(binlog_snapshot_t *snap, const char *db, const char *table,
                                 const char *token, bool done, rl_err *err);

/*
 * Reads every selected table (threads in parallel), calling on_change per row and
 * on_progress per chunk on the calling thread. Tables are read one per thread at a time;
 * records of different tables interleave chunk by chunk, records of one table come in
 * primary-key order. Returns 0 when every table is done, or:
 *   RL_ESTOPPED (binlog_snapshot_interrupt; what was read before is handed out with its
 *   notices first), RL_ESOURCE (a query failed; the message names the table and the server's
 *   error), RL_ECORRUPT (the server sent a value that does not parse as its column type),
 *   RL_ECONFIG (run called twice), -EAGAIN (a reader thread could not start), -ENOMEM, or
 *   whatever a callback returned (negative stops at once: no further callback).
 * Errors stick: a snapshot whose run failed cannot run again; open a new one and resume.
 */
int binlog_snapshot_run(binlog_snapshot_t *snap, const binlog_snapshot_handler *h, rl_err *err);

/* Any thread: makes binlog_snapshot_run stop soon with RL_ESTOPPED. */
void binlog_snapshot_interrupt(binlog_snapshot_t *snap);

/* Ends the snapshot transactions (ROLLBACK), closes the connections, frees everything.
 * NULL allowed. */
void binlog_snapshot_close(binlog_snapshot_t *snap);

/* Appends the topic the decoder and the snapshot give the table's changes ("PREFIX.db.table",
 * sanitized as binlog_change.topic): the stream side of an on-demand snapshot watches it. */
void binlog_snapshot_topic(rl_buf *out, const char *prefix, const char *db, const char *table);

/* ------------------------------------------------------------------ on-demand window */

/*
 * The watermark window of an on-demand snapshot while streaming (docs/snapshots.md "On
 * demand"; the DBLog approach, Andreakis and Papapanagiotou, arXiv 2010.12597, with GTID
 * states as watermarks instead of writes to a watermark table).
 *
 * A chunk of one table is read between two GTID states of the source, L (low) and H (high):
 * every transaction in L is visible to the chunk's read, none outside H is. (MariaDB reports
 * the exact state of a consistent snapshot, so L = H there; see the docs for why reading
 * @@gtid_binlog_pos around a SELECT would not be exact.) The stream side tells the window
 * which keys of the table each streamed transaction changed and that transaction's GTID;
 * the chunk is handed out once the stream's GTID state contains H (binlog_snapshot_window_
 * ready), without the rows whose key a streamed transaction outside L changed
 * (binlog_snapshot_window_keep): the stream already carried their later state, which the
 * chunk's older row must not overwrite.
 *
 * Memory: the keys of the changes remembered, until binlog_snapshot_window_prune(L) forgets
 * the transactions contained in L (no later chunk can need them: each chunk's L contains the
 * previous one's). Keys are compared byte for byte (the decoder's key JSON, which a snapshot
 * renders identically), never by hash alone: a false match would drop a row the stream does
 * not carry.
 *
 * Threading: one thread (rowlogd's source thread). GTID text in both flavors
 * (reader/gtid_set.h): MariaDB "d-s-n" positions compare per domain by sequence number.
 */
typedef struct binlog_snapshot_window binlog_snapshot_window;

/* Returns 0 or -ENOMEM. */
int binlog_snapshot_window_new(binlog_snapshot_window **out);
void binlog_snapshot_window_free(binlog_snapshot_window *w);
/* Forgets everything (a new stream connection restarts from a checkpoint). */
void binlog_snapshot_window_reset(binlog_snapshot_window *w);

/* Stream side, per change of the watched table in the transaction being read: its key
 * (for an update that changes the key, call it for both keys). Copied. Returns 0 or -ENOMEM. */
int binlog_snapshot_window_note(binlog_snapshot_window *w, rl_slice key);
/* Stream side, at the transaction's commit: gtid (NUL-terminated text, "" or NULL for a
 * transaction without one: its keys are then treated as changed inside every window) names
 * the keys noted since the last commit; gtid_state is the stream's GTID state after it.
 * Returns 0, RL_ECONFIG (a state that does not parse: err quotes it), -ENOMEM. */
int binlog_snapshot_window_commit(binlog_snapshot_window *w, const char *gtid,
                                  const char *gtid_state, rl_err *err);
/* Stream side: the transaction being read is abandoned (its keys are forgotten). */
void binlog_snapshot_window_rollback(binlog_snapshot_window *w);

/* 1 when the stream's state (the last commit's) contains every transaction of high, else 0;
 * RL_ECONFIG when high does not parse or its flavor differs from the stream's. */
int binlog_snapshot_window_ready(binlog_snapshot_window *w, const char *high, rl_err *err);
/* Chunk side: parses low for binlog_snapshot_window_keep / prune. Returns 0, RL_ECONFIG,
 * -ENOMEM. */
int binlog_snapshot_window_set_low(binlog_snapshot_window *w, const char *low, rl_err *err);
/* false when a remembered streamed transaction outside low (binlog_snapshot_window_set_low)
 * changed key: the chunk's row is dropped. Pure lookup. */
bool binlog_snapshot_window_keep(binlog_snapshot_window *w, rl_slice key);
/* Forgets the remembered transactions contained in low. Returns the number of keys kept. */
size_t binlog_snapshot_window_prune(binlog_snapshot_window *w);
/* Keys remembered (committed transactions only). */
size_t binlog_snapshot_window_size(const binlog_snapshot_window *w);

#endif /* BINLOG_SNAPSHOT_H */
