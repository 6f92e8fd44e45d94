/*
 * log_int.h - internal structures of log/ shared by batch.c, segment.c, partition.c and
 * store.c. Other modules never include this file (STYLE rule 2); unit tests may.
 *
 * Threading (see log.h): one writer thread owns every field marked "writer"; reader threads
 * take a partition's `lock` to look at its segment list and index arrays, and read the
 * high watermark and each segment's `committed` byte count with acquire loads. Bytes of a
 * segment below `committed` never change while the store is open, so readers use them
 * without any lock.
 */
#ifndef LOG_INT_H
#define LOG_INT_H

#include "log/log.h"

#include <lz4frame.h>
#include <pthread.h>
#include <sys/types.h>
#include <stdatomic.h>
#include <zstd.h>

/* RecordBatch v2 header (Kafka "Message Format", DefaultRecordBatch.java): 61 bytes before
 * the records; batchLength counts the bytes after the length field, so the smallest valid
 * batchLength (no records) is 61 - 12 = 49. */
#define LOG_BATCH_HEADER 61u
#define LOG_BATCH_LENGTH_OFF 12u /* baseOffset i64 + batchLength i32 */
#define LOG_BATCH_MIN_LENGTH (LOG_BATCH_HEADER - LOG_BATCH_LENGTH_OFF)
#define LOG_BATCH_CRC_FROM 21u /* CRC32C covers [attributes, end) */
#define LOG_MAGIC_V2 2

#define LOG_ATTR_CODEC_MASK 0x07
#define LOG_ATTR_LOG_APPEND_TIME 0x08
#define LOG_ATTR_TRANSACTIONAL 0x10
#define LOG_ATTR_CONTROL 0x20

/* One index entry about every LOG_INDEX_INTERVAL bytes of log (Kafka index.interval.bytes). */
#define LOG_INDEX_INTERVAL 4096u
/* Largest encoded record accepted by log_store_append: a batch must stay below 2 GiB because
 * segment positions in the .index file are signed 32-bit (Kafka OffsetIndex). */
#define LOG_RECORD_MAX (1u << 30)
/* Cap on a batch's uncompressed size when the log decodes its own batches. */
#define LOG_UNCOMPRESSED_MAX ((size_t)LOG_RECORD_MAX + (64u << 20))
/* log_store_commit's checkpoint blob limit (log.h). */
#define LOG_CHECKPOINT_BLOB_MAX 65536u
/* Kafka's topic name limit (Topic.java MAX_NAME_LENGTH). */
#define LOG_TOPIC_MAX 249u
/* Sanity limit on partitions per topic. */
#define LOG_PARTITIONS_MAX 10000u

/* A byte position inside one segment file (STYLE rule 20: never a bare integer). Log offsets
 * stay int64_t, as in log.h and the Kafka protocol. */
typedef struct log_fpos {
    uint64_t b;
} log_fpos;

static inline log_fpos log_fpos_make(uint64_t b)
{
    log_fpos f = {b};
    return f;
}

/* ------------------------------------------------------------------ batch.c */

/* Parsed fixed part of a RecordBatch v2 header. */
typedef struct log_batch_hdr {
    int64_t base;  /* baseOffset */
    uint32_t size; /* whole batch on disk: batchLength + 12 */
    int16_t attributes;
    int32_t last_delta; /* lastOffsetDelta */
    int64_t base_ts;
    int64_t max_ts;
    int32_t count; /* recordsCount */
    uint32_t crc;
} log_batch_hdr;

static inline int64_t log_batch_last(const log_batch_hdr *h)
{
    return h->base + h->last_delta;
}

/*
 * Parses and checks the header of the batch at the start of bytes without reading the
 * records: magic 2, batchLength >= 49, lastOffsetDelta >= 0, 0 <= recordsCount <=
 * lastOffsetDelta + 1. With check_crc, also the whole batch's CRC32C.
 * Returns 0; RL_EAGAIN when bytes hold less than the header or than batchLength says;
 * RL_ECORRUPT (err->msg says which field, without a location: callers add file and byte).
 */
int log__batch_header(rl_slice bytes, bool check_crc, log_batch_hdr *h, rl_err *err);

/* Writer-side compression state, reused across batches (one per store, writer thread). */
typedef struct log_codec {
    int compression; /* enum log_compression */
    int level;       /* resolved level (never 0) */
    LZ4F_cctx *lz4;
    ZSTD_CCtx *zstd;
    rl_buf out; /* header + compressed records of the batch being written */
} log_codec;

/* Returns 0, RL_ECONFIG (unknown codec) or -ENOMEM. */
int log__codec_init(log_codec *cz, int compression, int level, rl_err *err);
void log__codec_free(log_codec *cz);

/* A batch being filled: records are encoded straight into buf after LOG_BATCH_HEADER bytes
 * reserved for the header, so appending a record copies key and value once and allocates
 * nothing once buf has grown to its working size. */
typedef struct log_batch_builder {
    rl_buf buf;
    int32_t count;
    int32_t last_delta; /* offsetDelta of the last record added */
    int64_t base_ts;
    int64_t max_ts;
} log_batch_builder;

static inline size_t log__builder_records_bytes(const log_batch_builder *bb)
{
    return bb->count ? bb->buf.len - LOG_BATCH_HEADER : 0;
}
/* Parses a segment file name "<20-digit base offset>.log" (Kafka's naming). Returns true and
 * sets *base for a segment file, false for any other name. */
static inline bool log__segment_name_parse(const char *nm, int64_t *base)
{
    if (strlen(nm) != 24 || strcmp(nm + 20, ".log") != 0)
        return false;
    int64_t v = 0;
    for (int i = 0; i < 20; i++) {
        if (nm[i] < '0' || nm[i] > '9' || v > (INT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (nm[i] - '0');
    }
    *base = v;
    return true;
}

/* Encoded size (length prefix included) the record would take as the builder's next one, or
 * SIZE_MAX above LOG_RECORD_MAX; *body gets the size after the length prefix, to be handed
 * to log__builder_add_measured while the builder is unchanged (one size computation per
 * append). */
size_t log__builder_measure(const log_batch_builder *bb, rl_slice key, rl_slice value,
                            int64_t ts_ms, size_t *body);
/* Appends one record measured by log__builder_measure on this builder state. Returns 0,
 * RL_ETOOBIG (body SIZE_MAX, or 2^31 records) or -ENOMEM; on failure the builder is unchanged. */
int log__builder_add_measured(log_batch_builder *bb, rl_slice key, rl_slice value, int64_t ts_ms,
                              size_t body);
/* Appends one record (key.p / value.p NULL = null): measure + add_measured. Returns 0,
 * RL_ETOOBIG or -ENOMEM; on failure the builder is unchanged. */
int log__builder_add(log_batch_builder *bb, rl_slice key, rl_slice value, int64_t ts_ms);
/* The same with an explicit offsetDelta (compaction keeps records' offsets: gaps), above the
 * previous record's. */
int log__builder_add_at(log_batch_builder *bb, rl_slice key, rl_slice value, int64_t ts_ms,
                        int32_t offset_delta);
/* Fills in the header for base offset `base`, compresses with cz and sets *out to the whole
 * batch (in bb->buf for codec none, else in cz->out; valid until either is used again).
 * Does not reset the builder. Returns 0, -ENOMEM or RL_ECORRUPT (compressor failure). */
int log__builder_finish(log_batch_builder *bb, log_codec *cz, int64_t base, rl_slice *out,
                        rl_err *err);
/* The same with lastOffsetDelta given (>= the last record's offsetDelta: a compacted batch
 * spans the offsets of the records it replaced). With no record it writes an empty batch
 * (codec none) whose timestamps are bb->base_ts and bb->max_ts as the caller set them. */
int log__builder_finish_span(log_batch_builder *bb, log_codec *cz, int64_t base, int32_t last_delta,
                             rl_slice *out, rl_err *err);
static inline void log__builder_reset(log_batch_builder *bb)
{
    rl_buf_reset(&bb->buf);
    bb->count = 0;
}

/* ------------------------------------------------------------------ segment.c */

/* Offset index entry (.index, Kafka OffsetIndex): the last offset of a batch relative to the
 * segment's base offset, and the byte position where that batch starts. In memory it also
 * keeps the batch's first offset (relative) when known: entries made by the writer or by a
 * rebuild from the batches know it; entries loaded from an .index file (which holds only
 * rel and pos) have LOG_IDX_FIRST_UNKNOWN unless their batch header was read at open. With
 * it a Fetch finds the batch holding an offset without reading the log. */
typedef struct log_idx_entry {
    uint32_t rel;
    uint32_t pos;
    uint32_t first;
} log_idx_entry;
#define LOG_IDX_FIRST_UNKNOWN UINT32_MAX

/* Time index entry (.timeindex, Kafka TimeIndex): every record at or below base + rel has a
 * timestamp <= ts. Timestamps strictly increase from entry to entry. */
typedef struct log_time_entry {
    int64_t ts;
    uint32_t rel;
} log_time_entry;

/* ------------------------------------------------------------------ gtid.c (types) */

/* Longest GTID source: a MySQL uuid (36) ':' tag (32), NUL-free. */
#define LOG_GTID_SRC_MAX 72u

/* A parsed GTID: its source in canonical text (MariaDB: the domain in decimal; MySQL: the
 * uuid in lower case, then ":tag" in lower case) and its sequence number. */
typedef struct log_gtid {
    uint8_t srclen;
    char src[LOG_GTID_SRC_MAX];
    uint64_t seq;
} log_gtid;

/* One GTID index entry: the transaction's GTID and its first offset in the partition. */
typedef struct log_gtid_ent {
    log_gtid g;
    int64_t off;
} log_gtid_ent;

/* Per-segment summary of its .gtidindex, one per GTID source. */
typedef struct log_gsum {
    log_gtid g; /* source; g.seq unused */
    uint64_t min_seq, max_seq;
    int64_t min_off;
} log_gsum;

typedef struct log_segment {
    int64_t base;               /* base offset, the file name */
    char *path;                 /* ".log" path (owned), for messages */
    int fd;                     /* writer: open only while the segment is active, else -1 */
    uint8_t *map;               /* PROT_READ MAP_SHARED mapping of `reserve` bytes */
    size_t reserve;             /* mapped length; the active file is ftruncated to it (sparse) */
    uint64_t size;              /* writer: bytes of whole batches written */
    int64_t next;               /* writer: offset after the last batch written */
    bool dirty;                 /* writer: written since the last fdatasync */
    int64_t first_ms;           /* writer: wall clock of the first batch (roll by age) */
    uint64_t prealloc_end;      /* writer: bytes below it are allocated (prealloc) */
    _Atomic uint64_t committed; /* bytes below the high watermark: readers' limit */
    _Atomic uint32_t refs;      /* 1 for the partition's list + 1 per reader pin; the last
                                   log__segment_unref frees (unmaps) it */

    /* Guarded by the partition lock (the writer mutates them while holding it). */
    log_idx_entry *idx;
    size_t nidx, capidx;
    log_time_entry *tidx;
    size_t ntidx, captidx;
    int64_t max_ts; /* sealed segments: largest timestamp (INT64_MIN when empty) */

    /* GTID index sidecar "<base>.gtidindex" (gtid.c). Summary guarded by the partition
     * lock; it only holds published (committed) entries. */
    log_gsum *gsum;
    size_t ngsum, capgsum;
    int64_t gmin_off;            /* smallest entry offset (INT64_MAX: no entry) */
    int64_t glossy_from;         /* INT64_MAX, or an offset from which entries may be
                                    missing (a damaged sealed sidecar, logged at open) */
    _Atomic uint64_t gcommitted; /* sidecar bytes of committed entries: readers' limit */
    int gfd;                     /* writer: sidecar fd, or -1 (opened at the first write) */
    uint64_t gsize;              /* writer: sidecar bytes written */
    uint64_t galloc;             /* writer: sidecar bytes zero-filled and fsynced (gtid.c
                                    "Durability"): entries below it are overwrites */
    uint64_t gsync_from;         /* writer: first sidecar byte written since the last sync */
    bool grange;                 /* writer: the sidecar's file system takes the range write
                                    (ext4, xfs); else it is fdatasynced */
    bool gdirty;                 /* writer: sidecar written since its last sync */

    /* Set (and logged once) by the first read that finds a sealed segment's index entry not
     * naming the batch it points at: lookups then scan the segment from its start. */
    _Atomic bool index_suspect;

    /* Writer: index bookkeeping. */
    uint64_t last_idx_pos; /* start of the last indexed batch (0 before the first entry) */
    int64_t run_max_ts;    /* largest timestamp written so far (INT64_MIN when empty) */

    /* Read-only descriptor for sendfile and header preads (log__segment_fd_get), opened at
     * the first read that asks and closed when the store's table of open read descriptors
     * (log_rfds) needs the slot back or when the segment is freed. Guarded by that table's
     * mutex: rfd (LOG_RFD_NONE: not open; LOG_RFD_GONE: the path names another file now or
     * no file, never tried again), rfd_users (callers using rfd now: it is never closed
     * while above 0), the LRU links. rfds is set once, by the first read through a store
     * (atomic: any reader may set it). dev/ino identify the mapped file (have_id: recorded
     * when it was opened). */
    int rfd;
    uint32_t rfd_users;
    struct log_segment *rfd_prev, *rfd_next;
    struct log_rfds *_Atomic rfds;
    bool have_id;
    dev_t dev;
    ino_t ino;
} log_segment;

#define LOG_RFD_NONE (-1) /* not open (never, closed for another, or the last try failed) */
#define LOG_RFD_GONE (-2) /* the path names another file now, or none (ENOENT): never opened */

/*
 * The store's table of open read descriptors (segment.c "Read descriptors"): at most `max`
 * segments have one open at a time; the least recently used one whose descriptor nobody
 * uses is closed to open another. One per store; the mutex is taken after a partition lock,
 * never before one.
 */
typedef struct log_rfds {
    pthread_mutex_t mu;
    size_t open;               /* descriptors open now (segments in the list) */
    size_t max;                /* cap (log_store_opts.read_fds_max resolved) */
    log_segment *head, *tail;  /* segments with rfd >= 0, most recently used first */
    uint64_t opened, evicted;  /* open(2)s done; descriptors closed to make room */
    uint64_t gone, full;       /* segments found replaced or deleted; asks refused (all open
                                  descriptors in use) */
} log_rfds;

/* Initializes an empty table of `max` descriptors (max >= 1). */
void log__rfds_init(log_rfds *t, size_t max);
/* Closes every descriptor still open (their segments forget the table: a pin not released
 * before log_store_close) and destroys the mutex. Store close, no reader running. */
void log__rfds_destroy(log_rfds *t);
/* Ties seg to the table its reads go through (first call wins; later ones do nothing). */
void log__segment_rfds_attach(log_segment *seg, log_rfds *t);

/* The writer's data-path system calls, so that tests can inject failures (disk full, EIO,
 * fsync failure). log_store_open sets the real ones; a test may replace them (writer
 * thread, between calls). Each returns like the system call (-1 and errno on failure). */
typedef struct log_io {
    ssize_t (*pwrite)(void *ctx, int fd, const void *p, size_t n, off_t at);
    int (*sync)(void *ctx, int fd, bool data_only); /* fdatasync or fsync */
    void *ctx;
    /* Writes n bytes from `at` of the file's dirty pages to the device and waits for them
     * (sync_file_range WAIT_BEFORE | WRITE | WAIT_AFTER: no metadata, no cache flush; the
     * GTID index's sidecars, gtid.c). NULL: the system call. */
    int (*range_write)(void *ctx, int fd, uint64_t at, uint64_t n);
} log_io;

/* The real system calls. */
extern const log_io log__io_system;

/* Builds "DIR/<20-digit base><ext>" into out (PATH_MAX). Returns 0 or -ENAMETOOLONG. */
int log__segment_path(char *out, size_t cap, const char *dir, int64_t base, const char *ext);

/* Creates (or truncates) the segment file of `base` in dir, sized to `reserve` bytes (sparse)
 * and mapped whole. Returns 0, -errno or -ENOMEM. */
int log__segment_create(const char *dir, int64_t base, size_t reserve, log_segment **out,
                        rl_err *err);
/* Opens an existing segment file read-write and maps max(reserve, file size) bytes; *fsize
 * gets the file's size. The segment has no index yet. Returns 0, -errno or -ENOMEM. */
int log__segment_open_file(const char *dir, int64_t base, size_t reserve, log_segment **out,
                           uint64_t *fsize, rl_err *err);
/* Unmaps, closes and frees (NULL is fine). Does not touch the file. */
void log__segment_free(log_segment *seg);
/* Takes a reference (a reader pin; caller holds the partition lock so the segment cannot be
 * dropped from the list meanwhile). */
void log__segment_ref(log_segment *seg);
/* Drops a reference; the last one frees the segment (log__segment_free). Any thread. */
void log__segment_unref(log_segment *seg);
/* The segment's read-only descriptor, for sendfile (log_read_fd) and header preads, with one
 * use counted: the caller MUST give it back with log__segment_fd_put(seg) and may use it
 * until then (it stays open although retention deletes the file). Opens it at need (one
 * open(2), fstat(2) checked against the device and inode of the mapped file: compaction
 * renames a new file over the same name; posix_fadvise RANDOM), first closing the least
 * recently used unused descriptor of the table when `max` are open. Returns the fd, or -1
 * without a use counted: no table attached, the table full of descriptors in use, EMFILE,
 * or the file replaced or deleted before it was first opened (remembered: later calls
 * return -1 at once). Then read the mapping instead. Any thread holding a reference. */
int log__segment_fd_get(log_segment *seg);
/* Gives back one use taken by log__segment_fd_get (the descriptor stays open for reuse). */
void log__segment_fd_put(log_segment *seg);

/* Writes all n bytes at file position `at` through io (looping on short writes and EINTR).
 * Returns 0 or -errno (errno is left set for the caller's message). */
int log__pwrite_all(const log_io *io, int fd, const void *p, size_t n, uint64_t at);

/* Files of a segment, for log__segment_unlink. */
#define LOG_FILE_INDEXES 1u /* .index and .timeindex */
#define LOG_FILE_GTID 2u    /* .gtidindex */
#define LOG_FILE_LOG 4u     /* .log */
#define LOG_FILE_ALL 7u
/* Unlinks the chosen files of segment `base` in dir, in this order: .index, .timeindex,
 * .gtidindex, .log (indexes before their data: a crash in between leaves a segment whose
 * indexes are rebuilt, never indexes without their segment). Missing files are fine. */
void log__segment_unlink(const char *dir, int64_t base, unsigned what);

/* A walk over the batches of a mapped segment, shared by recovery (log__segment_scan) and
 * the checker (check.c), which decide differently what to do at a bad batch. */
typedef struct log_walk {
    const uint8_t *map;
    uint64_t fsize;
    uint64_t pos;   /* where the next batch starts */
    int64_t next;   /* offset the next batch must start at */
    rl_buf scratch; /* decoded records (check) */
} log_walk;

enum log_walk_step {
    LOG_WALK_OK = 0,     /* *h is a batch in sequence (and, checked, whose CRC and records are
                            good): log__walk_skip goes past it */
    LOG_WALK_END,        /* pos reached fsize */
    LOG_WALK_ZEROS,      /* a batch header's worth of zero bytes (or fewer, to the end) */
    LOG_WALK_INCOMPLETE, /* the header or the batch runs past fsize (e->msg) */
    LOG_WALK_BAD_HEADER, /* the header does not parse (e->msg): the rest cannot be walked */
    LOG_WALK_BAD_SEQ,    /* *h parsed but its baseOffset is not w->next */
    LOG_WALK_BAD_CRC,    /* checked: CRC32C mismatch (e->msg as log_batch_decode says it) */
    LOG_WALK_BAD_RECORDS /* checked: the records do not decode (e->msg) */
};

static inline void log__walk_init(log_walk *w, const uint8_t *map, uint64_t fsize, int64_t base)
{
    w->map = map;
    w->fsize = fsize;
    w->pos = 0;
    w->next = base;
    w->scratch = (rl_buf)RL_BUF_INIT;
}
/* Looks at the batch at w->pos (check: CRC32C and records decoded, one CRC pass). Returns an
 * enum log_walk_step; e gets the reason of the bad ones. Does not move. */
int log__walk_step(log_walk *w, bool check, log_batch_hdr *h, rl_err *e);
/* Moves past the batch *h at w->pos (w->next follows it when it was in sequence). */
static inline void log__walk_skip(log_walk *w, const log_batch_hdr *h)
{
    w->pos += h->size;
    if (h->base == w->next)
        w->next = log_batch_last(h) + 1;
}
static inline void log__walk_free(log_walk *w)
{
    rl_buf_free(&w->scratch);
}

/* Result of scanning a segment's batches. */
typedef struct log_scan {
    log_fpos end;    /* position after the last good batch */
    int64_t end_off; /* offset after the last good batch */
    log_fpos cut;    /* position of the batch starting at the requested cut offset */
    bool cut_found;
    bool damaged;  /* the scan stopped at a bad batch rather than a clean end */
    char why[160]; /* what was wrong with it */
} log_scan;

/*
 * Walks the batches of seg from byte 0 to fsize (with check_crc: checking CRC32C and decoding
 * the records, so a batch whose CRC matches but whose records are malformed is damage too),
 * stopping at the first incomplete, corrupt or out-of-sequence batch, or at zero bytes (a clean
 * end: preallocated space). Records where the batch starting at offset cut_at begins.
 */
void log__segment_scan(const log_segment *seg, uint64_t fsize, bool check_crc, int64_t cut_at,
                       log_scan *sc);

/* Rebuilds the in-memory offset and time indexes and the writer bookkeeping from the batch
 * headers in [0, end). The batches must have been checked. Returns 0 or -ENOMEM. Call
 * before the segment is visible to readers. */
int log__segment_index_rebuild(log_segment *seg, log_fpos end);

/* Loads and checks seg's .index and .timeindex (sealed segment of fsize bytes); rebuilds
 * and rewrites them when missing, stale or inconsistent. Sets seg->next and max_ts.
 * Returns 0, RL_ECORRUPT (the batches themselves are bad: message names file and byte),
 * -errno or -ENOMEM. */
int log__segment_load_sealed(log_segment *seg, const char *dir, uint64_t fsize, rl_err *err);

/* Records the batch just written at `at` (offsets first..last, timestamps up to max_ts) in
 * the index arrays, following Kafka's rule: an entry when at least LOG_INDEX_INTERVAL bytes
 * separate the batch from the previous entry. `lock` (may be NULL before the segment is
 * published) guards the arrays. Returns 0 or -ENOMEM. */
int log__segment_index_add(log_segment *seg, pthread_mutex_t *lock, log_fpos at, int64_t first,
                           int64_t last, int64_t max_ts);

/* Number of index entries whose last offset is <= offset (a walk to offset starts from the
 * batch of the last of them, else from byte 0). Caller holds the partition lock. */
size_t log__segment_idx_floor(const log_segment *seg, int64_t offset);
/* Marks seg's offset index as damaged (entry e does not name the batch at its position),
 * logging it once: reads then scan the segment from its start. Any thread. */
void log__segment_index_damaged(log_segment *seg, const log_idx_entry *e);

/* Result of log__segment_header_warm. */
enum log_hdr_warm {
    LOG_HDR_OK = 0, /* *h parsed from resident pages */
    LOG_HDR_COLD,   /* a page of the header is not in the page cache: nothing was read */
    LOG_HDR_BAD     /* the header does not parse (or runs past end): e->msg says why */
};
/*
 * Reads the header of the batch at byte pos of seg's mapping (bytes below end are valid)
 * only when its pages are in the page cache (mincore(2), one call; *resident_page caches
 * the last page found resident so a walk over small batches asks once per page): a Fetch
 * on the event loop thread must not wait for the disk (server/kafka_warm.c warms the range
 * on an I/O thread afterwards). Returns an enum log_hdr_warm. Any thread holding a pin.
 */
int log__segment_header_warm(const log_segment *seg, uint64_t pos, uint64_t end,
                             uintptr_t *resident_page, log_batch_hdr *h, rl_err *e);
/* The same, or with wait, reading the header whether resident or not (never COLD): one
 * pread(2) of the header through the read descriptor, which reads no more than the page(s)
 * holding it (no readahead), where a fault on the mapping would read a readahead window. */
int log__segment_header_read(const log_segment *seg, uint64_t pos, uint64_t end, bool wait,
                             uintptr_t *resident_page, log_batch_hdr *h, rl_err *e);

/* Index lookup: the position of the batch to start a forward walk from to find `offset`
 * (the batch of the largest entry whose last offset is <= offset, else 0). Caller holds the
 * partition lock. */
log_fpos log__segment_lookup(const log_segment *seg, int64_t offset);
/* The file position where a read of offset starts scanning, checked lazily: the entry used
 * must name the batch at its position (last offset = base + rel). Sealed segments' index
 * files are checked on open only in their structure and their last entry (reading every
 * entry's batch would read the whole log at start-up); a middle entry that names another
 * batch is found here, logged once with the index file's name, and from then on the segment
 * is scanned from its start (slow but right; the index is rebuilt at the next open when
 * `rowlog log check` or a rebuild replaces it). Caller holds the partition lock or a pin. */
uint64_t log__segment_scan_start(log_segment *seg, int64_t offset);
/* Lazy check of time index entry i (same rule: the batch it names, found through the offset
 * index, has no timestamp above the entry's; the last entry of a sealed segment names its
 * last batch). False (logged once, and the segment then scanned from its start) when it does
 * not hold. Caller holds the partition lock. */
bool log__segment_time_entry_ok(log_segment *seg, size_t i);

/* True when seg's .index and .timeindex exist and agree with its batches (the check
 * log__segment_load_sealed makes before trusting them). Fills seg's index arrays. */
bool log__segment_index_files_ok(log_segment *seg, const char *dir, uint64_t fsize);

/* Writes seg's .timeindex then .index (Kafka layouts, big-endian) durably with
 * rl_file_replace. Returns 0 or -errno. */
int log__segment_write_indexes(const log_segment *seg, const char *dir, rl_err *err);

/* Writes a whole batch at seg->size with pwrite (looping on short writes) and advances
 * size. Returns 0 or -errno (message names the file and byte). */
int log__segment_write(log_segment *seg, const log_io *io, rl_slice batch, rl_err *err);
/* Step of log__segment_prealloc. */
#define LOG_PREALLOC_STEP (8u << 20)
/* Allocates the active segment's blocks (mode: enum log_prealloc, resolved) from
 * prealloc_end to at least `upto` in LOG_PREALLOC_STEP steps, within the reservation. ZERO
 * writes zeros from `zeros` (LOG_ZERO_CHUNK bytes of zeros). Returns 0 or -errno. */
#define LOG_ZERO_CHUNK (1u << 20)
int log__segment_prealloc(log_segment *seg, const log_io *io, int mode, uint64_t upto,
                          const uint8_t *zeros, rl_err *err);
/* fdatasync when written since the last sync. Returns 0 or -errno. */
int log__segment_sync(log_segment *seg, const log_io *io, rl_err *err);
/* Re-maps an EMPTY active segment with a larger reservation (a batch bigger than
 * segment_bytes). Swaps the mapping under lock. Returns 0 or -errno. */
int log__segment_grow(log_segment *seg, pthread_mutex_t *lock, size_t reserve, rl_err *err);
/* Makes a recovered last segment of fsize bytes active with `end` bytes of batches: drops
 * the bytes after end (they become a hole) and extends the file to seg->reserve, fsyncing
 * when anything changed. Returns 0 or -errno. */
int log__segment_activate(log_segment *seg, uint64_t fsize, log_fpos end, rl_err *err);
/* Seals the active segment at a roll: trims the file to its size, fsyncs it, adds the final
 * time index entry, writes both index files and closes the fd (the mapping stays for
 * readers). Returns 0 or -errno. */
int log__segment_seal(log_segment *seg, const log_io *io, pthread_mutex_t *lock, const char *dir,
                      rl_err *err);
/* Cuts the segment back to its committed byte count (log_store_abort): reopens its file when
 * it was sealed, drops the bytes above `committed` (a hole up to the reservation), removes
 * its index files if it had been sealed, and trims the in-memory indexes under lock. `next`
 * is the offset after the last committed batch. Returns 0 or -errno. */
int log__segment_cut_back(log_segment *seg, pthread_mutex_t *lock, const char *dir, int64_t next,
                          rl_err *err);

/* ------------------------------------------------------------------ partition.c */

struct log_topic;

typedef struct log_partition {
    struct log_store *store;
    struct log_topic *topic;
    uint32_t id;
    char *dir; /* "STORE/<topic>-<id>" (owned) */

    pthread_mutex_t lock; /* segs/nsegs and the segments' index arrays */
    log_segment **segs;
    size_t nsegs, capsegs;
    _Atomic int64_t hwm;       /* high watermark, published after fsync + checkpoint */
    _Atomic int64_t leo;       /* log end offset: after the last record appended, committed or
                                  not (writer stores, any thread loads; metrics only) */
    _Atomic int64_t log_start; /* base of the first segment; moved by retention (writer,
                                  stored under `lock`) */

    /* Writer only. */
    int64_t next;                /* offset the open batch's first record will get */
    log_batch_builder open;      /* records appended since the last flush */
    size_t sync_from;            /* first segment written since the last commit, or SIZE_MAX */
    _Atomic int64_t commit_base; /* base offset of the active segment at the last publish (or
                                    open): segments from it on may hold uncommitted data
                                    (abort); below it, sealed and committed (compaction) */
    bool compacting;   /* under `lock`: a compaction pass holds segments below commit_base;
                          retention waits for the next call */
    int64_t clean_end; /* compaction thread: offset below which the last pass mapped */
    /* GTID index (gtid.c), writer only. */
    int64_t txn_from;    /* first offset of the current transaction's records */
    log_gtid_ent *gpend; /* entries whose records are not all written yet, or not yet
                            written to a sidecar (offsets increasing) */
    size_t ngpend, capgpend;
    struct log_gunpub *gunpub; /* entries written to a sidecar, not yet published */
    size_t ngunpub, capgunpub;
    rl_buf gbuf;    /* encoding scratch */
    bool dir_dirty; /* a segment file was created since the last commit */
    bool touched;   /* on the store's touched list */
    struct log_partition *next_touched;
} log_partition;

/* Opens (recovering) partition dir, whose committed end offset is `committed` (from the
 * checkpoint; 0 when absent). Creates the directory when create is set. Returns 0,
 * RL_ECORRUPT, -errno, -ENOMEM. */
int log__partition_open(struct log_store *store, struct log_topic *topic, uint32_t id,
                        int64_t committed, bool create, log_partition **out, rl_err *err);
/* Trims the active segment to its written size, writes its index files (best effort), and
 * frees everything. */
void log__partition_close(log_partition *p);
/* Writes the open batch (rolling the segment when it would overflow). Writer. Returns 0,
 * -errno, -ENOMEM. */
int log__partition_flush(log_partition *p, rl_err *err);
/* fdatasyncs the segments written since the last commit and the directory when a segment
 * was created. Writer. Returns 0 or -errno. */
int log__partition_sync(log_partition *p, rl_err *err);
/* Publishes the committed byte counts and the high watermark (release). Writer. */
void log__partition_publish(log_partition *p);
/* Drops everything written or buffered since the last publish (log_store_abort): the open
 * batch, segments created since, and the bytes of the last published segment above its
 * committed count (which becomes active again if it was sealed by a roll). Writer. Returns 0
 * or -errno (the caller poisons the store). */
int log__partition_abort(log_partition *p, rl_err *err);
int log__partition_read(log_partition *p, int64_t offset, size_t max_bytes, log_read *out,
                        rl_err *err);
int log__partition_offset_for_time(log_partition *p, int64_t ts_ms, int64_t *offset);
/* One compaction pass over a partition (compact.c; log_store_compact). Returns the number
 * of segments rewritten, or -errno, -ENOMEM, RL_ECORRUPT. */
int log__partition_compact(log_partition *p, const log_topic_config *cfg, int64_t now_ms,
                           log_codec *cz, rl_err *err);
/* Retention of one partition at now_ms under cfg (log_store_retain). Writer. Returns the
 * number of segments deleted. */
int log__partition_retain(log_partition *p, const log_topic_config *cfg, int64_t now_ms);

/* ------------------------------------------------------------------ gtid.c */

/* An entry written to a segment's sidecar but not yet published. */
typedef struct log_gunpub {
    log_gtid_ent e;
    log_segment *seg;
} log_gunpub;

/* Parses one GTID (syntax in log.h, log_store_txn_end). Returns 0 or RL_ECONFIG. */
int log__gtid_parse(const char *text, log_gtid *out, rl_err *err);
/* Records the entry (g, txn_from) when the partition received records since txn_from, then
 * moves txn_from to the partition's end. Writer. Returns 0 or -ENOMEM. */
int log__gidx_txn_end(log_partition *p, const log_gtid *g);
/* Marks the partition's records so far as belonging to no pending transaction (commit). */
void log__gidx_txn_reset(log_partition *p);
/* Writes the pending entries whose records are all written (offset below p->next) to the
 * active segment's sidecar, one pwrite. Writer. Returns 0 or -errno. */
int log__gidx_write(log_partition *p, rl_err *err);
/* Makes seg's sidecar bytes written since the last call reach the device (gtid.c
 * "Durability"): a range write-and-wait on ext4/xfs, whose durability comes from the device
 * cache flush of the next fdatasync of the commit (the segment's or the checkpoint's), so it
 * must run before them; elsewhere an fdatasync. Returns 0 or -errno. */
int log__gidx_sync(log_segment *seg, const log_io *io, rl_err *err);
/* At a roll: writes what can be written to the old active segment's sidecar, fsyncs and
 * closes it. Returns 0 or -errno. */
int log__gidx_seal(log_partition *p, log_segment *seg, rl_err *err);
/* Publishes the written entries into the segments' summaries (under the partition lock) and
 * their sidecars' committed sizes. Writer, before the high watermark moves. */
void log__gidx_publish(log_partition *p);
/* log_store_abort: drops the pending and unpublished entries and cuts the active segment's
 * sidecar back to its committed size (segments removed by the abort take theirs along).
 * Writer. Returns 0 or -errno. */
int log__gidx_abort(log_partition *p, rl_err *err);
/* Loads seg's sidecar at open (recovery) or after compaction: entries at or above `cut` are
 * dropped (the file is truncated there); damage in the last segment's sidecar (last) is a
 * torn write: truncated and logged; in a sealed one it is logged and marks the segment lossy.
 * Fills the summary and gcommitted. Returns 0, -errno or -ENOMEM. */
int log__gidx_load(log_segment *seg, const char *dir, int64_t cut, bool last, rl_err *err);
/* Offline check of the sidecar of segment `base` in dir whose records end before offset
 * `end` (log_check): entries whole, CRCs right, offsets not decreasing and below end. Returns
 * 0 (fine, or no sidecar), 1 (why says what is wrong; *good gets the bytes of good entries
 * before it), -errno reading it. */
int log__gidx_check(const char *dir, int64_t base, int64_t end, uint64_t *good, char *why,
                    size_t cap, rl_err *err);
/* log_store_offset_for_gtid on one partition. */
int log__partition_offset_for_gtid(log_partition *p, const log_gtid *g, int64_t *offset,
                                   rl_err *err);

/* ------------------------------------------------------------------ store.c */

typedef struct log_topic {
    char name[LOG_TOPIC_MAX + 1];
    size_t name_len;
    uint32_t nparts;
    log_partition **parts;
    log_topic_config cfg; /* guarded by the store's cfg_lock */
} log_topic;

/* A configuration set with log_store_topic_config (kept for topics not created yet). */
typedef struct log_topic_override {
    char name[LOG_TOPIC_MAX + 1];
    log_topic_config cfg;
} log_topic_override;

struct log_store {
    char *dir;
    log_store_opts opts; /* resolved defaults */
    int lock_fd;         /* flock'ed DIR/lock: one process per log */

    pthread_rwlock_t topics_lock; /* topics array (the writer inserts under the write lock) */
    log_topic **topics;           /* sorted by name */
    size_t ntopics, captopics;

    /* Writer only. */
    log_topic *last_topic;  /* lookup cache: change events come in runs per table */
    log_partition *touched; /* partitions appended to since the last commit */
    log_codec codec;
    log_io io;        /* data-path system calls (tests inject failures) */
    uint8_t *zeros;   /* LOG_ZERO_CHUNK zero bytes (LOG_PREALLOC_ZERO), else NULL */
    rl_buf ckbuf;     /* checkpoint file image being built */
    int ck_fd;        /* DIR/checkpoint open for in-place slot writes, or -1 */
    uint32_t ck_slot; /* its slot size */
    uint64_t ck_seq;  /* sequence number of the last image written */
    int poison;       /* first sticky error (0 = healthy) */
    rl_err poison_err;
    void (*hook)(void *ctx);
    void *hook_ctx;

    /* Counters (log_store_stats): written by their one owner thread, read by any. */
    _Atomic uint64_t n_records, n_batches, n_bytes, n_commits, n_syncs, n_rolled, n_deleted,
        n_compacted;
    _Atomic int n_error;

    rl_buf pending;    /* checkpoint of the last commit not yet durable (interval) */
    bool has_pending;  /* a commit is waiting for its fsync */
    bool appended;     /* log_store_append since the last commit */
    int64_t synced_ns; /* rl_mono_ns() of the last durable point */

    log_codec compact_codec; /* the compaction thread's (log_store_compact) */
    bool compact_codec_ready;

    pthread_mutex_t cfg_lock; /* topics' cfg, overrides */
    log_topic_config defaults;
    log_topic_override *overrides;
    size_t noverrides;

    pthread_mutex_t ckpt_lock; /* guards blob/has_ckpt (log_store_checkpoint) */
    rl_buf blob;
    bool has_ckpt;

    log_rfds rfds; /* open read descriptors of the segments (segment.c "Read descriptors") */
};

/* ------------------------------------------------------------------ config.c */

/* Returns 0 or RL_ECONFIG (message says which value). */
int log__topic_config_check(const log_topic_config *cfg, rl_err *err);
/* Writes pdir0/topic.config durably. Returns 0 or -errno. */
int log__topic_config_save(const char *pdir0, const log_topic_config *cfg, rl_err *err);
/* Reads pdir0/topic.config into cfg (*found false and cfg untouched when absent). Returns 0,
 * RL_ECORRUPT (file and line in the message), -errno. */
int log__topic_config_load(const char *pdir0, log_topic_config *cfg, bool *found, rl_err *err);

/* Lowers the checkpoint's end offset of topic's partition to `end` when it is above (log
 * check --repair), keeping everything else. *old gets the previous value (-1 when the
 * partition is not in the checkpoint or there is none; the file is then left alone).
 * Returns 0, RL_ECORRUPT, -errno. */
int log__checkpoint_lower(const char *dir, const char *topic, uint32_t partition, int64_t end,
                          int64_t *old, rl_err *err);

/* Adds to a counter (relaxed: metrics only). */
static inline void log__count(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* Validates a topic name (1-249 bytes of [A-Za-z0-9._-], not "." or ".."). */
bool log__topic_name_ok(const char *p, size_t n);

#endif /* LOG_INT_H */
