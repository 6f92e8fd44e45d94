/*
 * primary.h - reader/: the primary's own view of its binlog, polled over a short query
 * connection of its own (never the replication connection): version and flavor, server id,
 * head position, executed GTID set and the list of binlog files still kept. rowlogd's poller
 * thread calls binlog_primary_poll every few seconds and derives the lag and retention
 * metrics from it with the pure functions at the end of this header.
 *
 * Statements (MariaDB KB "SHOW BINLOG STATUS" / "SHOW BINARY LOGS", "gtid_binlog_pos";
 * MySQL 8.4 reference "SHOW BINARY LOG STATUS", "SHOW BINARY LOGS", "gtid_executed"):
 *   SELECT VERSION(), @@server_id      flavor ("MariaDB" in the version string) and id
 *   SHOW MASTER STATUS                 File, Position (MySQL 8.4+: SHOW BINARY LOG STATUS)
 *   SELECT @@global.gtid_binlog_pos    MariaDB: "domain-server-seq[,...]"
 *   SELECT @@global.gtid_executed      MySQL: "uuid:1-N[:M-K][,...]" (may contain newlines)
 *   SHOW BINARY LOGS                   Log_name, File_size (oldest first)
 * The user needs BINLOG MONITOR (MariaDB) or REPLICATION CLIENT (MySQL), as the replication
 * user already does for SHOW MASTER STATUS.
 *
 * Threading: a binlog_primary_t is used by one thread at a time (rowlogd's poller). The
 * status structs and pure functions have no shared state.
 */
#ifndef BINLOG_PRIMARY_H
#define BINLOG_PRIMARY_H

#include "reader/binlog.h"

/* One binlog file the primary still has, as SHOW BINARY LOGS lists it. */
typedef struct binlog_primary_file {
    char name[256];
    uint64_t size; /* bytes (File_size) */
} binlog_primary_file;

/* What one poll saw. files is malloc'd and owned by the struct: binlog_primary_status_free. */
typedef struct binlog_primary_status {
    bool mariadb;
    char version[128];          /* SELECT VERSION() */
    uint32_t server_id;         /* @@server_id */
    binlog_pos head;            /* SHOW MASTER STATUS File and Position */
    char gtid_set[4096];        /* MariaDB gtid_binlog_pos or MySQL gtid_executed (newlines
                                   removed); "" when unknown or too long */
    binlog_primary_file *files; /* oldest first */
    size_t nfiles;
    int64_t polled_ms; /* wall clock at the poll, ms since the epoch */
} binlog_primary_status;

void binlog_primary_status_free(binlog_primary_status *st);
/* Deep copy of src into dst (dst's old files are freed first). Returns 0 or -ENOMEM (dst
 * then holds no files). */
int binlog_primary_status_copy(binlog_primary_status *dst, const binlog_primary_status *src);

typedef struct binlog_primary binlog_primary_t;

/* Creates a poller for the primary of opts (copied). Connects lazily, at the first poll.
 * Returns 0 or -ENOMEM. */
int binlog_primary_new(binlog_primary_t **out, const binlog_source_opts *opts);
/*
 * Runs the statements above and fills st (freed first: pass a zeroed or earlier status).
 * Connects when not connected (connect and read timeouts of at most 5 s, so a hung primary
 * delays the poller, never rowlogd's source); after a failure the connection is closed and
 * the next poll reconnects. Returns 0; RL_ESOURCE (cannot connect, a statement failed or
 * returned no row: err names the host and the statement); -ENOMEM.
 */
int binlog_primary_poll(binlog_primary_t *p, binlog_primary_status *st, rl_err *err);
/* Closes the connection and frees (NULL is fine). */
void binlog_primary_free(binlog_primary_t *p);

/* ------------------------------------------------------------------ derived values */

/*
 * Bytes of binlog between position at and the primary's head: within one file head.pos -
 * at->pos; across files the rest of at's file, every file between and head.pos. Files are
 * ordered as SHOW BINARY LOGS lists them. Returns 0 (*out set; 0 when at is at or past the
 * head), RL_ENOTFOUND (at->file is not in the list: purged, or a different primary).
 */
int binlog_primary_lag_bytes(const binlog_primary_status *st, const binlog_pos *at, uint64_t *out);
/*
 * Retention headroom: bytes of binlog the primary still holds before position at (the sizes
 * of the files older than at's file plus at->pos), i.e. how much more it could purge before
 * at itself is gone. Returns 0, or RL_ENOTFOUND when at->file is no longer listed (purged:
 * headroom 0, the position cannot be resumed).
 */
int binlog_primary_headroom_bytes(const binlog_primary_status *st, const binlog_pos *at,
                                  uint64_t *out);
/*
 * Transactions the primary's GTID set holds beyond ours: for MariaDB sets
 * ("domain-server-seq", one per domain) the sum over the head's domains of head seq - our seq
 * in that domain (0 for a domain we have not seen); for MySQL sets ("uuid:1-N[:..]") the sum
 * over the head's uuids of the last interval end minus ours. Never negative per entry.
 * Returns 0, RL_ENOTFOUND (either set is empty: unknown), RL_ECORRUPT (a set that parses as
 * neither form).
 */
int binlog_primary_gtid_lag(const char *head_set, const char *our_set, uint64_t *out);

/*
 * Calls fn(ctx, key, seq) for each entry of a GTID set, in order: MariaDB key = the domain
 * id, seq = the entry's sequence number; MySQL key = the source uuid (uuid:tag for tagged
 * intervals), seq = the largest interval end. Keys are unique (a repeated key keeps its
 * largest seq). Returns the number of entries, or RL_ECORRUPT (nothing is called then),
 * -ENOMEM.
 */
int binlog_primary_gtid_each(const char *set, void (*fn)(void *ctx, const char *key, uint64_t seq),
                             void *ctx);

#endif /* BINLOG_PRIMARY_H */
