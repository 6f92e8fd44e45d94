/*
 * binlog.h - reader/: the MySQL/MariaDB binlog as a source of row changes.
 *
 * Three parts, one contract:
 *   - sources yield raw binlog events (19-byte v4 header + body + optional CRC32), one at a
 *     time: binlog_file_* reads a local binlog file, binlog_conn_* reads a primary's
 *     replication stream (COM_REGISTER_SLAVE + COM_BINLOG_DUMP, or COM_BINLOG_DUMP_GTID on
 *     MySQL, over mariadb-connector-c);
 *   - the decoder (binlog_decoder_*) turns events into change events: one JSON key and one
 *     JSON value (a Debezium-style envelope, see docs/events.md) per row, plus a commit
 *     notice with the binlog position to resume after each transaction;
 *   - everything decoding untrusted bytes goes through rl_reader and stops with an error that
 *     names the binlog file, position and event type; nothing is guessed or silently dropped.
 *
 * Formats: mysql-server libs/mysql/binlog/event/{binlog_event.h,control_events.h,
 * rows_event.h}, MariaDB sql/log_event.h; summarized in docs/format-binlog.md. The JSON of
 * keys and values, per column type, is specified in docs/events.md.
 *
 * Threading: every object here is used by one thread at a time (the reader thread of rowlogd,
 * or a tool's main thread); binlog_conn_interrupt() alone may be called from another thread.
 */
#ifndef BINLOG_H
#define BINLOG_H

#include "../common/rl.h"

/* Binlog coordinate: a file name and a byte position in it (the log_pos of an event = the
 * offset just after it = where to resume). */
typedef struct binlog_pos {
    char file[256];
    uint64_t pos;
} binlog_pos;

/* ---------------------------------------------------------------------------------------
 * Change events handed out by the decoder.
 * ------------------------------------------------------------------------------------- */
typedef struct binlog_change {
    rl_slice topic;  /* "PREFIX.DB.TABLE", bytes outside [A-Za-z0-9._-] replaced by '_' */
    rl_slice key;    /* JSON object of the primary-key columns (all columns without a PK) */
    rl_slice value;  /* JSON envelope {"before","after","source","op","ts_ms"} */
    int64_t ts_ms;   /* the rows event's timestamp (statement start on the source) in ms since
                        the epoch; = source.ts_ms of the value */
    char op;         /* 'c' insert, 'u' update, 'd' delete; an UPDATE that changes the primary
                        key arrives as 'd' under the old key then 'c' under the new one.
                        's' schema change (only with a schema history attached,
                        binlog_decoder_set_schema): topic is the prefix alone, key
                        {"databaseName":..}, value the schema-change envelope of
                        docs/schema.md; not a row (no tombstone, not in stats.rows) */
    const char *xid; /* NULL, or the canonical XID (binlog_xid_parse) of the XA transaction
                        the change belongs to: the group opened with XA START (MySQL, MariaDB)
                        or a MariaDB GTID flagged FL_PREPARED_XA. Such a change is final only
                        when on_xa_end(commit) for that XID arrives (binlog_xa_handler).
                        NUL-terminated, valid during the call. Set for row changes
                        (op c/u/d) only: do not read it for op 's' */
} binlog_change;

/* Where to resume after a committed transaction. Strings are NUL-terminated and valid only
 * during the callback. */
typedef struct binlog_checkpoint {
    const char *file;       /* binlog file name holding the transaction's last event */
    uint64_t pos;           /* log_pos of that last event (XID or COMMIT) */
    const char *gtid_state; /* GTID state after this transaction. MariaDB:
                               "domain-server-seq[,...]", one entry per domain seen. MySQL:
                               the executed GTID set in canonical text ("uuid:1-42[,...]",
                               tagged "uuid:1-5:tag:1-3"; reader/gtid_set.h): the seed or the
                               file's PREVIOUS_GTIDS plus every GTID committed since; "" when
                               neither the source nor the seed has GTIDs */
    const char *gtid;       /* GTID of this transaction ("0-1-42", "uuid:42" or
                               "uuid:tag:42"), or "" */
} binlog_checkpoint;

/* Callbacks, all on the decoding thread. A negative return stops decoding: feed() returns it. */
typedef struct binlog_handler {
    void *ctx;
    /* One row change. The slices are valid only during the call. Changes arrive as they are
     * decoded, before their transaction's on_commit; changes not followed by an on_commit
     * (decoding stopped mid-transaction) belong to no checkpoint and must be discarded. */
    int (*on_change)(void *ctx, const binlog_change *ch);
    /* End of a transaction whose changes were all passed to on_change (also called for
     * transactions without row changes, so positions keep moving). */
    int (*on_commit)(void *ctx, const binlog_checkpoint *cp);
} binlog_handler;

/* XA transactions (docs/format-binlog.md "XA transactions"), set with
 * binlog_decoder_set_xa_handler; ctx is the binlog_handler's, same thread. Without them, a
 * prepared XA transaction (XA_PREPARE with one_phase 0) stops decoding with RL_EUNSUPPORTED,
 * and the other XA groups end with on_commit as ordinary ones.
 * With them:
 *   - the changes of an XA group arrive through on_change with ch->xid set;
 *   - on_xa_prepare ends such a group instead of on_commit when it is prepared (MySQL
 *     XA_PREPARE one_phase 0, MariaDB XA_PREPARE after a GTID flagged FL_PREPARED_XA):
 *     the changes are durable on the source but not committed; cp is where to resume;
 *   - on_xa_end ends a group that commits (commit true) or rolls back (false) a
 *     transaction prepared earlier, possibly in another binlog file or before a restart
 *     of the source or of the caller: MySQL "XA COMMIT xid" / "XA ROLLBACK xid", MariaDB
 *     the same after a GTID flagged FL_COMPLETED_XA. It carries no change of its own;
 *   - an XA group that commits at once (MySQL XA_PREPARE one_phase 1, "XA COMMIT xid ONE
 *     PHASE", or an XA group ended by XID/COMMIT) calls on_xa_prepare then
 *     on_xa_end(commit true), both with the same cp; ended by ROLLBACK: on_xa_end(false).
 * xid is the canonical text (binlog_xid_parse), NUL-terminated, valid during the call.
 * binlog_decoder_stats.transactions counts on_xa_end calls too (not on_xa_prepare). */
typedef struct binlog_xa_handler {
    int (*on_xa_prepare)(void *ctx, const char *xid, const binlog_checkpoint *cp);
    int (*on_xa_end)(void *ctx, const char *xid, bool commit, const binlog_checkpoint *cp);
} binlog_xa_handler;

/* XID of an XA transaction (MySQL XID: formatID, gtrid and bqual of 0..64 bytes each) in its
 * canonical text, the form MySQL writes in its binlog: "X'<gtrid hex>',X'<bqual hex>',<formatID>"
 * with lower-case hex digits and formatID in signed decimal ("X'78696431',X'',1").
 * Every spelling of one XID has the same canonical text, so it can key a map. */
enum { BINLOG_XID_TEXT_MAX = 2 * (3 + 128) + 2 + 12 }; /* bytes with the NUL */

/* Parses the XID at the start of sql (white space first is skipped), as written after
 * "XA START|BEGIN|END|PREPARE|COMMIT|ROLLBACK" (MySQL sql/sql_yacc.yy xid: gtrid [, bqual
 * [, formatID]]): each of gtrid and bqual a quoted string ('..' or "..", doubled quotes and
 * backslash escapes) or hex (X'..', 0x..), up to 64 bytes; formatID decimal, default 1; bqual
 * default empty. Writes the canonical text to out (BINLOG_XID_TEXT_MAX bytes) and, when rest
 * is not NULL, what follows the XID to *rest (" ONE PHASE", ""). Returns 0 or RL_ECORRUPT
 * (out is then ""). Any thread. */
int binlog_xid_parse(rl_slice sql, char *out, rl_slice *rest);

typedef struct binlog_decoder_opts {
    const char *topic_prefix; /* default "rowlog" */
    const char *source_name;  /* source.name in the envelope; default topic_prefix */
    size_t max_event_bytes;   /* larger events are refused with RL_ETOOBIG; 0 = 1 GiB. Also
                                 caps the declared uncompressed size of a MariaDB compressed
                                 event or a MySQL TRANSACTION_PAYLOAD (checked before the
                                 decompression buffer, reused across events, is grown) */
    bool source_query;        /* source.query carries the statement that produced the rows,
                                 from ROWS_QUERY (MySQL binlog_rows_query_log_events=ON) or
                                 ANNOTATE_ROWS (MariaDB binlog_annotate_row_events=ON) when the
                                 source logs it; absent otherwise. Default off (Debezium's
                                 include.query) */
} binlog_decoder_opts;

typedef struct binlog_decoder binlog_decoder_t;

/* Creates a decoder. opts may be NULL (defaults); handler is copied. Returns 0, -ENOMEM. */
int binlog_decoder_new(binlog_decoder_t **out, const binlog_decoder_opts *opts,
                       const binlog_handler *handler);
void binlog_decoder_free(binlog_decoder_t *dec);

/* Names the binlog file the next events come from (a local file's base name, or the file a
 * dump starts in before its first ROTATE arrives). Copies the name. */
void binlog_decoder_set_file(binlog_decoder_t *dec, const char *file);

/* Checksum setting for events that arrive before the first FORMAT_DESCRIPTION (the artificial
 * ROTATE that opens a dump carries a CRC32 when the primary's @@global.binlog_checksum is
 * CRC32). Later events follow the FORMAT_DESCRIPTION in force. Default: none. */
void binlog_decoder_expect_checksum(binlog_decoder_t *dec, bool crc32);

/* Seeds the GTID state reported in checkpoints (the state rowlog resumed from). "" or NULL
 * clears it. Either flavor (a ':' means MySQL):
 *   MariaDB "domain-server-seq[,...]" (decimal, u32-u32-u64, one entry per domain, spaces
 *   after commas allowed): domains that see no new transaction keep their position, and a
 *   GTID_LIST event adds the domains the state lacks;
 *   MySQL GTID set text "uuid:1-5:7[,uuid2:tag:1-3...]" (reader/gtid_set.h): the executed
 *   set before the next event; each GTID / GTID_TAGGED transaction is added at its commit.
 *   Without a seed, the first PREVIOUS_GTIDS event (start of a MySQL binlog file) seeds it.
 * Copies the state. Returns 0 or RL_ECONFIG on a malformed state (err names it); -ENOMEM. */
int binlog_decoder_set_gtid_state(binlog_decoder_t *dec, const char *gtid_state, rl_err *err);

/* Counters of one decoder since binlog_decoder_new (plain integers: read them on the decoding
 * thread, or under the lock that serializes the decoder). */
typedef struct binlog_decoder_stats {
    uint64_t events[256];  /* events fed, per type byte; the inner events of a
                              TRANSACTION_PAYLOAD are counted too */
    uint64_t rows;         /* row changes passed to on_change */
    uint64_t transactions; /* on_commit calls */
    uint64_t statement_dml_skipped; /* QUERY events holding INSERT/UPDATE/DELETE/REPLACE/LOAD
                                       text (statement-format DML, which carries no row
                                       images): skipped, with one warning per table */
    uint64_t schema_changes; /* schema-change events ('s') passed to on_change */
} binlog_decoder_stats;
void binlog_decoder_stats_get(const binlog_decoder_t *dec, binlog_decoder_stats *out);

/* Name of a binlog event type byte as the servers' sources spell it without the _EVENT suffix
 * ("WRITE_ROWS_V2", "GTID", "GTID_LIST"; Log_event_type in mysql-server
 * libs/mysql/binlog/event/binlog_event.h, MariaDB sql/log_event.h), "UNKNOWN" for bytes
 * neither server defines. Static string; any thread. */
const char *binlog_event_type_name(unsigned type);

/*
 * Decodes one event: ev is the whole event, header + body + CRC when the current
 * FORMAT_DESCRIPTION announces CRC32. The bytes are only borrowed (zero-copy: what must
 * outlive the call, such as TABLE_MAPs, is copied).
 * Returns 0, or a negative code with err->msg naming file, position, event type:
 * Compressed events (MariaDB 165-171, MySQL TRANSACTION_PAYLOAD 40) are decompressed and
 * decoded as their plain forms; changes from inside a TRANSACTION_PAYLOAD carry the payload
 * event's position and are numbered across it (docs/events.md, source.row).
 *   RL_ECORRUPT (malformed, bad length, truncated, a compressed part that does not decompress
 *   to its declared size), RL_ECHECKSUM (CRC32 mismatch),
 *   RL_EUNSUPPORTED (an event or column type not handled yet: the stream must stop),
 *   RL_EINCIDENT, RL_ETOOBIG, -ENOMEM, or whatever a handler callback returned.
 * Errors stick: after one, every later call returns the same code.
 */
int binlog_decoder_feed(binlog_decoder_t *dec, rl_slice ev, rl_err *err);

/* Sets the XA callbacks (copied); NULL, or a handler with either callback NULL, removes them
 * (a prepared XA transaction then stops decoding, see binlog_xa_handler). Call it before the
 * first event. */
void binlog_decoder_set_xa_handler(binlog_decoder_t *dec, const binlog_xa_handler *xh);

/* Turns source.query on or off for the events fed from now on (binlog_decoder_opts
 * .source_query). */
void binlog_decoder_set_source_query(binlog_decoder_t *dec, bool on);

/* Attaches a schema history (reader/schema.h; NULL detaches). The decoder does not own it;
 * it must outlive the decoder or be detached first. With a history:
 *   - a TABLE_MAP without COLUMN_NAME (or SIGNEDNESS, charsets, ENUM/SET strings, primary
 *     key) takes them from the table's version in force at the TABLE_MAP's position, fetched
 *     through the history's provider at the table's first sight (and published as a schema
 *     change 's'); its column count and every type are checked against that version:
 *     a difference stops the decoder with RL_ECORRUPT naming the table, position and column;
 *   - with or without those metadata, text columns that the schema declares JSON get
 *     BINLOG_COL_JSON_TEXT (MariaDB's JSON is LONGTEXT);
 *   - a DDL QUERY event (CREATE, ALTER, RENAME, DROP, TRUNCATE TABLE, DROP DATABASE) records
 *     a version per table changed and publishes it through on_change (op 's') before the
 *     DDL's on_commit.
 * Versions published in a transaction that never reached on_commit are removed from the
 * history when it is attached again (to the next decoder). Lookups run once per TABLE_MAP
 * parsed, never per row. */
struct binlog_schema;
void binlog_decoder_set_schema(binlog_decoder_t *dec, struct binlog_schema *hist);

/* Who marks the history's new versions committed (binlog_schema_commit, reader/schema.h):
 * by default the decoder, when on_commit returns 0; with by_caller true, the caller, once
 * the changes that published them are durable (rowlogd: after its log commit, which may
 * group many transactions), so versions whose events a later abort drops are rolled back at
 * the next binlog_decoder_set_schema and published again when re-read. */
void binlog_decoder_set_schema_commit(binlog_decoder_t *dec, bool by_caller);

/* Position just after the last event fed (file and log_pos). */
void binlog_decoder_position(const binlog_decoder_t *dec, binlog_pos *out);

/* ---------------------------------------------------------------------------------------
 * Local binlog files (mmap). Yields exactly the events the network source would.
 * ------------------------------------------------------------------------------------- */
typedef struct binlog_file binlog_file_t;

/* Opens and maps a binlog file and checks the magic fe 62 69 6e.
 * Returns 0, -errno, or RL_ECORRUPT (not a binlog). */
int binlog_file_open(binlog_file_t **out, const char *path, rl_err *err);
/* Next event as a slice into the mapping (valid until binlog_file_close).
 * Returns 1 (event), 0 (clean end of file; also a zero-filled preallocated tail), RL_ECORRUPT
 * (event runs past the end of the file, or a header whose size is below 19 bytes: the message
 * names the file and offset). Errors stick. Only event_size is checked here; the decoder
 * checks the rest. */
int binlog_file_next(binlog_file_t *f, rl_slice *ev, rl_err *err);
/* Next event as binlog_file_next gives it (same events, returns and errors), but read with
 * pread into a buffer the handle reuses: the slice is valid only until the next call on f
 * (or binlog_file_close). Costs a third of the CPU of binlog_file_next's mapping on a file
 * in the page cache (reader/file.c); for callers that keep no slice of an earlier event.
 * Also -errno (or RL_ECORRUPT if the file shrank) on a read error, -ENOMEM. */
int binlog_file_next_transient(binlog_file_t *f, rl_slice *ev, rl_err *err);
/* Byte offset of the next event in the file. */
uint64_t binlog_file_offset(const binlog_file_t *f);
void binlog_file_close(binlog_file_t *f);

/* ---------------------------------------------------------------------------------------
 * Replication connection to a primary.
 * ------------------------------------------------------------------------------------- */
typedef struct binlog_source_opts {
    char host[256];
    unsigned port;           /* default 3306 */
    char user[128];
    char password[256];
    uint32_t server_id;      /* our replica server id; default 0x726c (unique per primary) */
    unsigned heartbeat_ms;   /* primary's heartbeat period; default 1000; read timeout is
                                3x this */
    unsigned connect_timeout_s; /* default 10 */
    /* How rowlogd decodes this source (not used by binlog_conn_*; kept here so that the
     * source's settings travel together): */
    bool source_query;       /* --source-query: binlog_decoder_set_source_query */
    bool schema_history;     /* --schema-history on: binlog_decoder_set_schema (rowlogd_schema.c) */
} binlog_source_opts;

/* Parses "mysql://USER[:PASS]@HOST[:PORT]" (also "mariadb://"), percent-decoding user and
 * password, into opts (other fields keep their values). Returns 0 or RL_ECONFIG. */
int binlog_source_parse_url(binlog_source_opts *opts, const char *url, rl_err *err);

/* Where a dump starts. gtid_state non-empty: a GTID start: on MariaDB @slave_connect_state
 * ("d-s-n,..."), on MySQL COM_BINLOG_DUMP_GTID with the executed set ("uuid:1-5,...": the
 * primary sends every transaction not in it, from its oldest binlog on); else file
 * non-empty: file:pos; else the primary's current position (SHOW MASTER STATUS or SHOW BINARY
 * LOG STATUS, and @@gtid_binlog_pos on MariaDB or @@gtid_executed on MySQL, read at connect
 * time and reported through binlog_conn_start_state). A state of the other flavor than the
 * primary's is refused with RL_ECONFIG. */
enum { BINLOG_GTID_STATE_MAX = 16384 }; /* bytes, with the NUL: a MySQL set of a few hundred
                                           uuids or intervals */
typedef struct binlog_start {
    binlog_pos at;
    char gtid_state[BINLOG_GTID_STATE_MAX];
} binlog_start;

typedef struct binlog_conn binlog_conn_t;

/* Connects, registers as a replica and sends the dump command.
 * Returns 0; -errno; RL_ESOURCE with the server's error (access denied, purged binlog 1236
 * shows on the first binlog_conn_next); RL_EUNSUPPORTED (server not in ROW format). */
int binlog_conn_open(binlog_conn_t **out, const binlog_source_opts *opts,
                     const binlog_start *start, rl_err *err);
/* The start actually used (the primary's current position when none was given). */
const binlog_start *binlog_conn_start_state(const binlog_conn_t *conn);
/* True when the primary writes CRC32 event checksums (@@global.binlog_checksum), read at
 * connect time: pass it to binlog_decoder_expect_checksum before the first event. */
bool binlog_conn_checksum_crc32(const binlog_conn_t *conn);
/* Next event (without the 0x00 packet prefix) as a slice into the connection's buffer,
 * valid until the next call. Heartbeats are returned too (the decoder ignores them).
 * Returns 1 (event), 0 (EOF of a non-blocking dump), RL_ESOURCE (server error, e.g. 1236),
 * -ETIMEDOUT (no packet within the read timeout), -ECONNRESET (lost connection, server
 * shutdown 1053, dump thread killed 1927),
 * RL_ESTOPPED (binlog_conn_interrupt was called). */
int binlog_conn_next(binlog_conn_t *conn, rl_slice *ev, rl_err *err);
/* True when another packet can be read without blocking (already buffered, or the socket is
 * readable). Used to group commits while the primary is busy. */
bool binlog_conn_pending(binlog_conn_t *conn);
/* Any thread: makes a blocked or later binlog_conn_next return RL_ESTOPPED. */
void binlog_conn_interrupt(binlog_conn_t *conn);
void binlog_conn_close(binlog_conn_t *conn);

#endif /* BINLOG_H */
