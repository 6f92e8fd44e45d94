/*
 * log.h - log/: rowlog's commit log. Topics, each split into partitions; a partition is a
 * directory "<topic>-<partition>/" of segment files in Kafka's layout (RecordBatch v2, magic
 * 2, CRC32C; ".log" + sparse ".index" + ".timeindex"), named by base offset, plus rowlog's
 * ".gtidindex" (transaction GTID -> first offset, log_store_txn_end). See
 * docs/format-log.md, Kafka's "Message Format" documentation (RecordBatch v2) and apache/kafka
 * storage/log/{LogSegment,OffsetIndex,TimeIndex}.java.
 *
 * Durability contract: appends are buffered into per-partition batches (compressed with lz4
 * frame or zstd when they are written); log_store_commit() writes every open batch, fsyncs
 * the touched segments, stores a checkpoint (the caller's source position + every partition's
 * end offset) atomically, and only then moves the high watermarks. Consumers never see a
 * record above the high watermark, so what they see is always durable (under the flush
 * policy chosen: enum log_flush). On open, the last
 * segment of each partition is checked (torn tail truncated and logged, index rebuilt), and
 * every partition is cut back to the checkpoint's end offset, so a restart re-reads the
 * source from the checkpoint's position without doubling anything.
 *
 * Threading: one writer thread calls log_store_append/commit/abort/sync/retain; any number
 * of other threads may call the read functions concurrently. Bytes below the high watermark
 * are immutable, so read slices need no lock once returned; each read pins its segment
 * against retention until log_read_release. The commit hook runs on the writer thread.
 * log_store_close must not run concurrently with any other call.
 *
 * Resources: every segment is mapped read-only until retention deletes it (the active one
 * with segment_bytes of address space, sparse on disk until written) and each partition keeps
 * its active segment's file descriptor open: a process with many partitions needs
 * RLIMIT_NOFILE above their count, and vm.max_map_count above the number of segments.
 * A segment read once (log_store_read) also keeps a read-only descriptor for sendfile(2)
 * until it is deleted or the store closes.
 * Each segment's sparse offset and time indexes are held in memory (about 24 bytes per
 * 4 KiB of log: some 6 MiB per GiB), not mapped from the index files.
 */
#ifndef LOG_H
#define LOG_H

#include "../common/rl.h"

enum log_compression {
    LOG_COMPRESSION_NONE = 0, /* RecordBatch attributes codec 0 */
    LOG_COMPRESSION_LZ4 = 3,  /* codec 3: LZ4 frame, independent 64 KiB blocks */
    LOG_COMPRESSION_ZSTD = 4, /* codec 4: one zstd frame */
};

/* When commits reach the disk (log_store_opts.flush). */
enum log_flush {
    LOG_FLUSH_COMMIT = 0,   /* fdatasync at every commit (the default): a commit returns
                               when it is durable and visible */
    LOG_FLUSH_INTERVAL = 1, /* group commit by time: a commit writes its batches; the
                               fdatasync, the checkpoint and the high watermark move at most
                               every flush_interval_ms (at a commit, or log_store_sync).
                               Consumers only see what is fsynced; a crash loses at most the
                               commits of one interval, which the source re-sends from the
                               durable checkpoint */
    LOG_FLUSH_OS = 2,       /* never fsync: every commit is visible at once and the kernel
                               writes back when it likes. Survives a crash of the process
                               (the page cache keeps the writes), NOT a power loss or kernel
                               crash: the checkpoint may then name data the disk never got,
                               and the open refuses with RL_ECORRUPT (rebuild from the
                               source). For throwaway or re-derivable logs only */
};

/* Per-topic settings (Kafka topic configs of the same names). */
enum log_cleanup {
    LOG_CLEANUP_DELETE = 1,  /* cleanup.policy=delete: retention by time and size */
    LOG_CLEANUP_COMPACT = 2, /* cleanup.policy=compact: log_store_compact keeps the latest
                                record per key */
};

typedef struct log_topic_config {
    int64_t retention_ms;        /* retention.ms: a sealed segment is deleted once its largest
                                    record timestamp is older than this; -1 = forever */
    int64_t retention_bytes;     /* retention.bytes, per partition: the oldest sealed segments
                                    are deleted while the rest still holds at least this many
                                    bytes; -1 = no limit */
    int cleanup;                 /* enum log_cleanup bits: DELETE, COMPACT or both */
    int64_t delete_retention_ms; /* delete.retention.ms: compaction drops a tombstone (null
                                    value, latest for its key) once its timestamp is older
                                    than this; default 1 day, >= 0 */
} log_topic_config;

/* The defaults: keep forever, cleanup.policy=delete, delete.retention.ms one day. */
void log_topic_config_init(log_topic_config *cfg);

/* How the active segment's disk blocks are allocated ahead of the writes
 * (log_store_opts.prealloc). Segment files are always sparse files of segment_bytes; this
 * decides whether their blocks exist before the batches are written into them. */
enum log_prealloc {
    LOG_PREALLOC_DEFAULT = 0,   /* the measured best (bench/RESULTS.md "Log append") */
    LOG_PREALLOC_NONE = 1,      /* blocks allocated by the writes themselves */
    LOG_PREALLOC_ZERO = 2,      /* zeros written 8 MiB ahead of the write position */
    LOG_PREALLOC_FALLOCATE = 3, /* fallocate() 8 MiB ahead (unwritten extents) */
};

typedef struct log_store_opts {
    int compression;            /* enum log_compression; default LOG_COMPRESSION_LZ4 */
    int compression_level;      /* 0 = codec default (lz4 1, zstd 1) */
    uint32_t partitions;        /* partitions of a topic created by append; default 1,
                                   max 10000 */
    uint64_t segment_bytes;     /* roll a segment at this size; default 1 GiB, min 1 MiB,
                                   below 2 GiB (.index positions are signed 32-bit) */
    size_t batch_bytes;         /* uncompressed record bytes per batch before it is written;
                                   default 1 MiB, max 1 GiB. A batch only exceeds it when a
                                   single record does. */
    int flush;                  /* enum log_flush; default LOG_FLUSH_COMMIT */
    uint32_t flush_interval_ms; /* LOG_FLUSH_INTERVAL: default 1000, 1..3600000 */
    uint64_t segment_ms;        /* also roll the active segment at the first write after its
                                   first batch is this old (wall clock ms; a recovered
                                   segment counts from the open); default 7 days (Kafka
                                   segment.ms); UINT64_MAX = by size only */
    int prealloc;               /* enum log_prealloc; see there for the default */
    const log_topic_config *topic_defaults; /* topics without an override (NULL:
                                   log_topic_config_init's defaults); copied at open */
    size_t read_fds_max;        /* segment read descriptors open at once (log_read_fd);
                                   0 = a quarter of RLIMIT_NOFILE's soft limit at open, at
                                   most 1024 and at least 8 */
} log_store_opts;

/* Parses "none", "lz4", "zstd". Returns the enum value or RL_ECONFIG. */
int log_compression_parse(const char *name);
/* Parses "commit", "interval", "os" (enum log_flush). Returns the value or RL_ECONFIG. */
int log_flush_parse(const char *name);

typedef struct log_store log_store_t;

/*
 * Opens (creating if needed) the log in dir, recovers every partition and applies the
 * checkpoint (see the file comment). opts may be NULL (defaults).
 * A torn or damaged tail written after the last commit is truncated with a warning naming
 * the file, byte position and offset; damage or loss below the checkpoint's end offsets is
 * committed data lost and refuses the open (`rowlog log check DIR --repair`, log_check below,
 * cuts such a log back to its last good batch).
 * Returns 0; -errno (message names the file); -EBUSY (DIR/lock is held by another open
 * store, in this or another process); RL_ECONFIG (bad opts); RL_ECORRUPT (a damaged
 * committed batch, committed data missing, a damaged sealed segment or checkpoint file:
 * refuses to start, naming file and byte position); RL_EUNSUPPORTED (checkpoint written by a
 * newer version); -ENOMEM.
 */
int log_store_open(log_store_t **out, const char *dir, const log_store_opts *opts, rl_err *err);
/* Closes the log (NULL is fine). Appends not yet committed (or, under LOG_FLUSH_INTERVAL,
 * not yet synced: call log_store_sync first for a clean stop) are dropped (they were never
 * visible; batches of them already written are cut back by the next open). Every read pin
 * must have been released (log_read_release): a pin still held is logged as an error and its
 * slice becomes invalid. */
void log_store_close(log_store_t *store);

/* The caller's source position stored by the last durable commit, copied into out (reset
 * first). Any thread. Returns 0, RL_ENOTFOUND (no checkpoint yet: a new log) or -ENOMEM. */
int log_store_checkpoint(log_store_t *store, rl_buf *out);

/* ------------------------------------------------------------------ writer thread */

/*
 * Appends one record to topic (created with opts.partitions partitions if absent; name up to
 * 249 bytes of [A-Za-z0-9._-], not "." or "..") in partition murmur2(key) mod partitions
 * (Kafka's default partitioner; a null key, key.p NULL, hashes like an empty key so replays
 * are deterministic), with timestamp ts_ms (CreateTime). key.p / value.p NULL write a null
 * key / value (tombstone). key and value are copied. A partition's open batch is written
 * (not yet fsynced, not yet visible) when it reaches batch_bytes.
 * Returns 0; RL_ECONFIG (bad topic name) or RL_ETOOBIG (record above 1 GiB): the record is
 * rejected and the store stays usable; -errno on a write error (message names the segment),
 * -ENOMEM: these stick, the store refuses further appends and commits until reopened.
 */
int log_store_append(log_store_t *store, rl_slice topic, rl_slice key, rl_slice value,
                     int64_t ts_ms, rl_err *err);

/* log_store_append that also says where the record went: *partition (may be NULL) gets its
 * partition and *offset (may be NULL) its log offset, set only on success (the record is
 * readable at that offset once committed). Same errors; writer thread. */
int log_store_append_at(log_store_t *store, rl_slice topic, rl_slice key, rl_slice value,
                        int64_t ts_ms, uint32_t *partition, int64_t *offset, rl_err *err);

/*
 * Makes every append so far durable and visible, with checkpoint (opaque bytes, up to 64 KiB,
 * returned by log_store_checkpoint after a restart) stored atomically with the partitions'
 * end offsets. Then calls the commit hook. One fsync per touched segment: callers group
 * transactions to amortize it.
 * Under LOG_FLUSH_INTERVAL the commit writes its batches but becomes durable and visible
 * (fsync, checkpoint, high watermarks, hook) only when flush_interval_ms have passed since
 * the last durable point; otherwise it stays pending until a later commit or log_store_sync.
 * Under LOG_FLUSH_OS it is visible at once and never fsynced (see enum log_flush).
 * A commit with no append since the previous one and the same checkpoint does nothing
 * (except making a pending commit durable when its interval has passed).
 * Returns 0; RL_ETOOBIG (checkpoint above 64 KiB: rejected, the store stays usable); -errno,
 * -ENOMEM (a failed write or fsync poisons the store: it is never retried as if it had
 * succeeded; the last commit's error is returned by every later append and commit).
 */
int log_store_commit(log_store_t *store, rl_slice checkpoint, rl_err *err);

/*
 * LOG_FLUSH_INTERVAL: makes the pending commits durable and visible now, whatever the time
 * (the writer calls it when log_store_sync_due says so, e.g. when its source is idle, and
 * before a planned stop). No-op when nothing is pending, under the other policies, or when
 * records were appended since the last commit (the pending commit then becomes durable with
 * the next one: publishing it now would expose the later appends).
 * Returns 0 or the errors of log_store_commit (a failure poisons the store).
 */
int log_store_sync(log_store_t *store, rl_err *err);
/* Milliseconds until the pending commits are due to be synced (0: now), or -1 when nothing
 * is pending. Writer thread; use it as the writer's poll timeout. */
int64_t log_store_sync_due(log_store_t *store);

/*
 * Drops every record appended since the last durable commit (under LOG_FLUSH_INTERVAL that
 * includes pending commits: the caller re-reads from log_store_checkpoint), as if the appends had
 * never happened: open batches are discarded, batches of them already written to segments are cut
 * off (the files are truncated back to the high watermark's byte position, segments created by
 * rolls since the commit are deleted), and every partition's next offset goes back to its high
 * watermark. Topics created since the commit stay, empty. Readers are not affected (they
 * never saw those records). Use it to re-read the source from the last checkpoint
 * (log_store_checkpoint) after a lost connection without doubling anything.
 * Returns 0; the store's sticky error when it is already poisoned (abort clears nothing);
 * -errno when a file cannot be cut back (this poisons the store: reopen it, which cuts back
 * to the checkpoint the same way).
 */
int log_store_abort(log_store_t *store, rl_err *err);

/*
 * Ends a transaction for the GTID index (log/gtid.c, docs/format-log.md "GTID index"): for
 * every partition that received records since the previous log_store_txn_end (or since the
 * last commit or abort), records the entry (gtid, first offset of those records). Call it once
 * per source transaction after its records were appended and before the log_store_commit
 * covering it (one commit may cover many transactions). The entries become durable and
 * visible with that commit, are cut back with the records by log_store_abort and recovery,
 * dropped by retention with their segment, and kept by compaction (offsets do not change).
 * gtid: "domain-server-seq" (MariaDB, decimal: domain and server 32-bit, seq 64-bit) or
 * "uuid:N" / "uuid:tag:N" (MySQL 8.0 / 8.3+, uuid in 8-4-4-4-12 hex, tag
 * [A-Za-z_][A-Za-z0-9_]{0,31}, compared without case, N 1..2^63-1). NULL or "" (a source
 * without GTIDs) records nothing, and the records still count as the transaction's (the next
 * log_store_txn_end does not claim them).
 * Memory: the entries of the transactions not yet committed, then nothing but a small
 * per-segment summary (per GTID source: smallest and largest sequence); the entries themselves
 * live in each segment's ".gtidindex" file.
 * Returns 0; RL_ECONFIG (malformed gtid: nothing recorded, the store stays usable); -ENOMEM,
 * -errno writing an index file (these stick like append errors).
 */
int log_store_txn_end(log_store_t *store, const char *gtid, rl_err *err);

/*
 * Sets topic's configuration (an override of opts.topic_defaults), persisted durably in the
 * topic's first partition directory as "<topic>-0/topic.config" (text, "name=value" lines:
 * retention.ms, retention.bytes, cleanup.policy) and read back at open. A topic not created
 * yet gets it when it is created (kept in memory until then: set it again after a restart
 * if the topic may still not exist). Any thread. Returns 0; RL_ECONFIG (bad name or values:
 * retention below -1, cleanup without a known bit); -errno writing the file; -ENOMEM.
 */
int log_store_topic_config(log_store_t *store, const char *topic, const log_topic_config *cfg,
                           rl_err *err);
/* Copies topic's effective configuration into out. Returns 0 or RL_ENOTFOUND. Any thread. */
int log_store_topic_config_get(log_store_t *store, const char *topic, log_topic_config *out);

/*
 * Applies retention (cleanup.policy delete) at wall-clock time now_ms: in each partition,
 * deletes whole sealed segments from the oldest, never the active one nor one holding data
 * above the high watermark, while the oldest one's largest timestamp is older than
 * retention.ms or the partition minus that segment still holds at least retention.bytes.
 * The log start offset moves to the next segment's base offset (readers below it get
 * RL_ERANGE). A segment that a reader has pinned (log_store_read) is unlinked at once and
 * unmapped when the last pin is released. Writer thread (call it from the writer's loop,
 * e.g. every few seconds: it looks at each partition's first segment only, and deletes
 * with one unlink per file). Returns the number of segments deleted, or -ENOMEM.
 */
int log_store_retain(log_store_t *store, int64_t now_ms, rl_err *err);

/*
 * One compaction pass (cleanup.policy containing compact) over every partition with a newly
 * sealed segment: keeps the latest record per key in the sealed, committed segments, drops
 * tombstones (null value) whose timestamp is more than delete.retention.ms before now_ms,
 * keeps offsets (a compacted log has gaps; batches still cover every offset, some with no
 * record), and replaces each rewritten segment atomically (new file, fsync, rename, fsync
 * the directory). See log/compact.c and docs/format-log.md.
 * Thread: ONE maintenance thread (not the writer: a pass reads and rewrites whole segments),
 * concurrently with the writer and readers, which it never blocks beyond swapping a pointer
 * under a partition lock; retention skips a partition while its pass runs. At most one call
 * at a time. Memory: at most 24 MiB for the key map (a pass cleans fewer segments when a
 * partition has more distinct keys) plus one batch.
 * Returns the number of segments rewritten (0: nothing to do); -errno, -ENOMEM, RL_ECORRUPT
 * (the pass over that partition stops there; every segment stays valid, old or new).
 */
int log_store_compact(log_store_t *store, int64_t now_ms, rl_err *err);

/* Hook called on the writer thread after each commit moved high watermarks (to wake parked
 * fetches). Set before appends start. */
void log_store_set_commit_hook(log_store_t *store, void (*fn)(void *ctx), void *ctx);

/* ------------------------------------------------------------------ any thread */

/* Calls fn(ctx, topic, partitions) for every topic, in name order, under the store's topic
 * lock (fn must not call back into the store). Returns the number of topics. */
int log_store_topics(log_store_t *store,
                     void (*fn)(void *ctx, const char *topic, uint32_t partitions), void *ctx);

/* Partition count of topic, or RL_ENOTFOUND. */
int log_store_partitions(log_store_t *store, const char *topic);

/* Log start offset (first offset kept) and high watermark (offset after the last committed
 * record) of a partition. Returns 0 or RL_ENOTFOUND. */
int log_store_offsets(log_store_t *store, const char *topic, uint32_t partition, int64_t *log_start,
                      int64_t *high_watermark);

/* Log end offset of a partition: the offset after the last record appended, committed or not
 * (Kafka's LEO). It runs ahead of the high watermark while appends wait for their commit (a
 * transaction in progress, a group commit, an interval flush) and falls back to it when they
 * are aborted. Any thread; the value is a snapshot (for metrics: never use it to read).
 * Returns 0 or RL_ENOTFOUND. */
int log_store_log_end_offset(log_store_t *store, const char *topic, uint32_t partition,
                             int64_t *log_end);

/* First committed offset whose record timestamp is >= ts_ms (ListOffsets by time), or the
 * high watermark when none is. Uses the time index, then decodes one batch. Returns 0,
 * RL_ENOTFOUND, RL_ECORRUPT (a damaged batch on the way) or -ENOMEM. */
int log_store_offset_for_time(log_store_t *store, const char *topic, uint32_t partition,
                              int64_t ts_ms, int64_t *offset);

/*
 * Seek by GTID: *offset gets the offset of the first committed record of the partition whose
 * transaction is at or after gtid within gtid's source (MariaDB: its domain; MySQL: its uuid,
 * or uuid:tag), ordered by sequence number (MariaDB seq, MySQL N; the server id of a MariaDB
 * GTID is ignored). When the partition holds no committed transaction of that source at or
 * after gtid: the high watermark (a consumer starts at the end). When gtid is older than every
 * retained transaction of its source: the log start offset. The answer is never below the log
 * start offset. Where a segment's GTID index was found damaged at open (logged), the answer
 * may be earlier than exact (records are repeated, never skipped). Any thread; reads the
 * per-segment summaries under the partition lock, then the ".gtidindex" files of the segments
 * that may hold the answer (no lock held meanwhile).
 * Returns 0; RL_ENOTFOUND (unknown topic or partition); RL_ECONFIG (malformed gtid, syntax as
 * in log_store_txn_end); -errno reading an index file (message names it); -ENOMEM.
 */
int log_store_offset_for_gtid(log_store_t *store, const char *topic, uint32_t partition,
                              const char *gtid, int64_t *offset, rl_err *err);

struct log_segment;

typedef struct log_read {
    rl_slice bytes;          /* whole RecordBatches, as stored, from one segment's mapping; valid
                                until log_read_release (may be empty) */
    struct log_segment *pin; /* reference keeping that segment mapped although retention may
                                delete it meanwhile: MUST be given back with log_read_release
                                once bytes are no longer used (after the response that
                                carries them is written), else the segment's mapping and disk
                                space are never freed. NULL when nothing is pinned. */
    int64_t log_start;
    int64_t high_watermark;
    int fd;                  /* -1 unless log_read_fd gave the segment file's read-only
                                descriptor: then bytes are also the file range at file_pos
                                (for sendfile(2)); one use of it is held (it stays open)
                                until log_read_release. Owned by the segment: never close
                                it. */
    uint64_t file_pos;       /* byte position of bytes.p in that file (0 when fd is -1) */
} log_read;

/*
 * Reads committed batches of a partition for a Kafka Fetch (out->pin set: see log_read and
 * log_read_release, which every caller must call): starts at the batch holding
 * offset (which may begin before it), ends before the high watermark, at most max_bytes but
 * always the whole first batch (KIP-74). An offset equal to the high watermark gives an
 * empty read. out->fd is -1 (log_read_fd asks for the file descriptor, for sendfile).
 * Returns 0; RL_ENOTFOUND (no such topic or partition); RL_ERANGE (offset below
 * the log start offset or above the high watermark; out->log_start/high_watermark are set);
 * RL_ECORRUPT (a batch header in the mapped segment does not parse: message names file and
 * byte).
 */
int log_store_read(log_store_t *store, const char *topic, uint32_t partition, int64_t offset,
                   size_t max_bytes, log_read *out, rl_err *err);

/*
 * Gives a read of log_store_read (non-empty, pinned) the segment file's read-only descriptor
 * for sendfile(2): sets rd->fd and rd->file_pos (the position of rd->bytes in the file) and
 * returns rd->fd. The store keeps at most log_store_opts.read_fds_max descriptors open: one
 * is opened at need (one open(2) and fstat(2), checked to be the mapped file) and the least
 * recently used one that no read holds is closed to make room; a descriptor stays open while
 * a read holds it (log_read_release), even when retention deletes the file meanwhile.
 * Returns -1 (rd->fd -1: send the mapped bytes instead) when rd is empty or unpinned, every
 * open descriptor is held by a read, the process is out of descriptors (EMFILE), or the file
 * was deleted or replaced before its first open (remembered per segment). Any thread; once
 * per read (a second call returns the descriptor already held).
 */
int log_read_fd(log_store_t *store, log_read *rd);

/* Releases what log_store_read pinned and log_read_fd held (out->bytes become invalid) and
 * clears rd->pin and rd->fd. Any thread; safe on a zeroed, failed or empty read and when
 * called twice. Every pin must be released before log_store_close. */
void log_read_release(log_read *rd);

/* Gives back only the descriptor log_read_fd held (rd->fd becomes -1; the pin and bytes
 * stay). Any thread; does nothing when rd->fd is -1. */
void log_read_fd_release(log_read *rd);

/* Counters of a store since it was opened (metrics). */
typedef struct log_store_stats {
    uint64_t records;            /* records written to segments (in batches) */
    uint64_t batches;            /* batches written */
    uint64_t bytes;              /* segment bytes written (compressed batches) */
    uint64_t commits;            /* commits made durable and visible */
    uint64_t syncs;              /* fdatasync/fsync calls on segments and the checkpoint */
    uint64_t segments_rolled;    /* segments sealed by a roll */
    uint64_t segments_deleted;   /* by retention */
    uint64_t segments_compacted; /* rewritten by compaction */
    uint64_t read_fds_open;      /* segment read descriptors open now (log_read_fd) */
    uint64_t read_fds_opened;    /* open(2)s of them since the store opened */
    uint64_t read_fds_evicted;   /* closed to make room under read_fds_max */
    uint64_t read_fds_refused;   /* log_read_fd asks refused: every open one held */
    uint64_t read_fds_gone;      /* segments whose file was deleted or replaced before its
                                    descriptor was opened (their reads use the mapping) */
    int error;                   /* the sticky error (negative) once the store refuses
                                    writes, else 0 */
} log_store_stats;

/* Copies the counters (each read atomically, not all together). Any thread. */
void log_store_stats_get(log_store_t *store, log_store_stats *out);

/* ------------------------------------------------------------------ offline check */

/*
 * Checks a log directory that no store has open (`rowlog log check DIR [--repair]`): the
 * checkpoint; in every partition, every batch of every segment (header structure, CRC32C,
 * records decoded, offsets following each other within and across segments), each sealed
 * segment's index files, and each segment's GTID index (reported, never repaired). Calls fn(ctx, line) with one line of text per finding (file, byte
 * position and offset of every damaged batch; a batch whose length field is damaged hides
 * the rest of its segment, reported as one finding) and per repair action.
 * With repair: in each damaged partition, first reports what will be lost (the offsets and
 * bytes from the first bad batch to the end of the partition), then truncates the segment at
 * that batch, deletes the later segments, deletes index files found stale (the next open
 * rebuilds them) and lowers the checkpoint's end offset of the partition to the cut (the
 * checkpoint's source position is kept: the lost records are not re-read from the source).
 * Returns the number of findings (0: clean); -EBUSY (a store has DIR open); -errno;
 * RL_ECORRUPT (the checkpoint is unreadable: it is reported, never repaired); -ENOMEM.
 */
int log_check(const char *dir, bool repair, void (*fn)(void *ctx, const char *line), void *ctx,
              rl_err *err);

/* ------------------------------------------------------------------ RecordBatch codec */

/* One record decoded from a batch: slices point into the caller's batch or decompression
 * buffer. An empty key or value has a non-NULL p and len 0. */
typedef struct log_record {
    int64_t offset;
    int64_t timestamp; /* ms */
    rl_slice key;      /* key.p NULL for a null key */
    rl_slice value;    /* value.p NULL for a null value (tombstone) */
} log_record;

/*
 * Decodes the RecordBatch v2 at the start of bytes: checks magic, batchLength, CRC32C over
 * [attributes, end), decompresses (none/lz4/zstd, capped at max_uncompressed bytes) into
 * scratch, and calls fn (may be NULL: validate only) for each record. Any valid LZ4 frame is
 * accepted (linked or independent blocks, checksums); a declared content size (lz4 or zstd)
 * must match the output exactly. Timestamps are baseTimestamp + delta, or maxTimestamp for
 * a LogAppendTime batch; record headers are checked and skipped. Any thread.
 * Returns bytes consumed (the batch size) or RL_EAGAIN (bytes hold only part of a batch),
 * RL_ECORRUPT (bad magic, CRC, lengths or records; message gives the batch's base offset),
 * RL_EUNSUPPORTED (codec gzip/snappy or unknown), RL_ETOOBIG (records above
 * max_uncompressed), -ENOMEM, or what fn returned if negative (decoding stops there).
 */
int log_batch_decode(rl_slice bytes, rl_buf *scratch, size_t max_uncompressed,
                     int (*fn)(void *ctx, const log_record *rec), void *ctx, rl_err *err);

#endif /* LOG_H */
