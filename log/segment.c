/*
 * segment.c - one segment of a partition: "<20-digit base offset>.log" holding RecordBatches
 * back to back (batch.c), with its sparse offset index ".index" and time index ".timeindex"
 * (Kafka layouts: apache/kafka storage/.../log/{LogSegment,OffsetIndex,TimeIndex}.java).
 *
 *   .index      8-byte entries, big-endian:  relativeOffset i32 | position i32
 *               relativeOffset = (last offset of a batch) - base; position = where that
 *               batch starts in the .log. One entry when at least 4096 bytes of log separate
 *               a batch from the previous entry (Kafka index.interval.bytes), none for the
 *               batch at position 0.
 *   .timeindex  12-byte entries, big-endian: timestamp i64 | relativeOffset i32
 *               written at the same points when the largest timestamp so far grew, plus a
 *               final entry when the segment is sealed: every record at or below
 *               base + relativeOffset has a timestamp <= timestamp.
 *
 * The active (last) segment's file is extended to `reserve` bytes when it is created (a
 * sparse file) and mapped whole once, so its mapping never moves while batches are appended
 * with pwrite; readers see the bytes through the page cache. The zero bytes after the last
 * batch read as a clean end of log in recovery. Sealing (segment roll) trims the file to its
 * real size, fsyncs it, and writes the two index files durably (the time index first, so an
 * index file that matches the data implies a current time index).
 *
 * Index files of the active segment are only written when it is sealed or the store closes:
 * recovery always rebuilds the last segment's indexes from a scan of its batches, so they need
 * no fsync per commit. A sealed segment's index files are checked on open in their structure
 * (entry order, positions inside the file), their last entry (pointing at a batch with that
 * last offset) and the batches after it, and rebuilt from the batch headers when missing,
 * stale or inconsistent (an inconsistent one with a warning saying why). Whether each middle
 * entry points at the batch it names is checked lazily by the reads that use it
 * (log__segment_scan_start): checking them all on open would read every page of a log of
 * small batches at start-up. `rowlog log check` checks every entry (deep).
 *
 * Read descriptors (log__segment_fd_get): Fetch responses are sent with sendfile(2), which
 * needs a descriptor of the very file that is mapped, and cold batch headers are read with
 * pread(2) (no readahead). The writer's descriptor cannot serve (the writer closes it when it
 * seals the segment, while readers may still send from it), so a segment gets its own
 * read-only one when a read first asks. It is opened by path, so it is checked against the
 * device and inode recorded when the segment was mapped (compaction renames a new file over
 * the same name; that segment object must not send the new file's bytes), and a path that
 * names no file (ENOENT: deleted by retention or compaction) or another one is remembered
 * (LOG_RFD_GONE) so later reads go to the mapping without trying again.
 *
 * Only callers that ask get one (log_read_fd for Fetch, the header preads), and a store keeps
 * at most `max` open at once (log_rfds, log_store_opts.read_fds_max): a 10 GiB log of many
 * segments read by many consumers would otherwise hold one descriptor per segment ever read
 * and run into RLIMIT_NOFILE. Each use is counted (rfd_users) from log__segment_fd_get to
 * log__segment_fd_put, and only a descriptor nobody uses is closed to make room, least
 * recently used first: a queued Fetch response holds its use until the part is sent, so a
 * segment that retention deletes meanwhile is still sent from its (unlinked) file. When every
 * open descriptor is in use, the ask is refused and the caller sends from the mapping (the
 * same bytes; only a cold page then blocks where sendfile would not have faulted). All of it
 * under the table's mutex, which is taken inside partition locks and never the other way,
 * and held over the open(2) so that two readers never open the same segment twice.
 */
#include "log/log_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static ssize_t sys_pwrite(void *ctx, int fd, const void *p, size_t n, off_t at)
{
    (void)ctx;
    return pwrite(fd, p, n, at);
}

static int sys_sync(void *ctx, int fd, bool data_only)
{
    (void)ctx;
    return data_only ? fdatasync(fd) : fsync(fd);
}

const log_io log__io_system = {.pwrite = sys_pwrite, .sync = sys_sync, .ctx = NULL};

int log__segment_path(char *out, size_t cap, const char *dir, int64_t base, const char *ext)
{
    int n = snprintf(out, cap, "%s/%020lld%s", dir, (long long)base, ext);
    return (n < 0 || (size_t)n >= cap) ? -ENAMETOOLONG : 0;
}

int log__pwrite_all(const log_io *io, int fd, const void *p, size_t n, uint64_t at)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = io->pwrite(io->ctx, fd, b, n, (off_t)at);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        b += w;
        n -= (size_t)w;
        at += (uint64_t)w;
    }
    return 0;
}

void log__segment_unlink(const char *dir, int64_t base, unsigned what)
{
    static const struct {
        unsigned bit;
        const char *ext;
    } files[] = {{LOG_FILE_INDEXES, ".index"},
                 {LOG_FILE_INDEXES, ".timeindex"},
                 {LOG_FILE_GTID, ".gtidindex"},
                 {LOG_FILE_LOG, ".log"}};
    char path[PATH_MAX];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        if ((what & files[i].bit) &&
            log__segment_path(path, sizeof path, dir, base, files[i].ext) == 0)
            unlink(path);
}

/* Records which file the segment maps (st: fstat of the writer's descriptor just opened). */
static void seg_record_id(log_segment *seg, const struct stat *st)
{
    seg->dev = st->st_dev;
    seg->ino = st->st_ino;
    seg->have_id = true;
}

void log__rfds_init(log_rfds *t, size_t max)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_init(&t->mu, NULL);
    t->max = max ? max : 1;
}

/* Unlinks seg from the table's list. Caller holds t->mu. */
static void rfds_unlink(log_rfds *t, log_segment *seg)
{
    if (seg->rfd_prev)
        seg->rfd_prev->rfd_next = seg->rfd_next;
    else
        t->head = seg->rfd_next;
    if (seg->rfd_next)
        seg->rfd_next->rfd_prev = seg->rfd_prev;
    else
        t->tail = seg->rfd_prev;
    seg->rfd_prev = seg->rfd_next = NULL;
}

/* Puts seg at the head of the list (most recently used). Caller holds t->mu. */
static void rfds_push_head(log_rfds *t, log_segment *seg)
{
    seg->rfd_prev = NULL;
    seg->rfd_next = t->head;
    if (t->head)
        t->head->rfd_prev = seg;
    t->head = seg;
    if (!t->tail)
        t->tail = seg;
}

void log__rfds_destroy(log_rfds *t)
{
    pthread_mutex_lock(&t->mu);
    while (t->head) {
        log_segment *seg = t->head;
        rfds_unlink(t, seg);
        close(seg->rfd);
        seg->rfd = LOG_RFD_NONE;
        atomic_store_explicit(&seg->rfds, NULL, memory_order_release);
    }
    t->open = 0;
    pthread_mutex_unlock(&t->mu);
    pthread_mutex_destroy(&t->mu);
}

void log__segment_rfds_attach(log_segment *seg, log_rfds *t)
{
    if (atomic_load_explicit(&seg->rfds, memory_order_acquire))
        return;
    log_rfds *expect = NULL;
    atomic_compare_exchange_strong(&seg->rfds, &expect, t);
}

/* Opens seg's descriptor (see log__segment_fd_get). Returns it, or -1 (seg->rfd says
 * whether to try again). Caller holds the table's mutex. */
static int rfd_open(log_rfds *t, log_segment *seg)
{
    int fd = open(seg->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            seg->rfd = LOG_RFD_GONE;
            t->gone++;
        }
        return -1; /* EMFILE and the like: tried again by the next read */
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_dev != seg->dev || st.st_ino != seg->ino) {
        close(fd);
        seg->rfd = LOG_RFD_GONE;
        t->gone++;
        return -1;
    }
    /* No readahead through this descriptor: sendfile runs on the event loop thread, and a
     * page carrying the kernel's readahead mark (left by the I/O thread that warmed the
     * range, server/kafka_warm.c) would make it start the next window's disk reads there.
     * Reading ahead is the warming threads' job. */
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
    t->opened++;
    return fd;
}

int log__segment_fd_get(log_segment *seg)
{
    log_rfds *t = atomic_load_explicit(&seg->rfds, memory_order_acquire);
    if (!t || !seg->have_id)
        return -1;
    int fd = -1;
    pthread_mutex_lock(&t->mu);
    if (seg->rfd >= 0) {
        fd = seg->rfd;
        seg->rfd_users++;
        if (t->head != seg) {
            rfds_unlink(t, seg);
            rfds_push_head(t, seg);
        }
        goto out;
    }
    if (seg->rfd == LOG_RFD_GONE)
        goto out;
    if (t->open >= t->max) {
        log_segment *v = t->tail;
        while (v && v->rfd_users > 0)
            v = v->rfd_prev;
        if (!v) {
            t->full++;
            goto out;
        }
        rfds_unlink(t, v);
        close(v->rfd);
        v->rfd = LOG_RFD_NONE;
        t->open--;
        t->evicted++;
    }
    fd = rfd_open(t, seg);
    if (fd >= 0) {
        seg->rfd = fd;
        seg->rfd_users = 1;
        rfds_push_head(t, seg);
        t->open++;
    }
out:
    pthread_mutex_unlock(&t->mu);
    return fd;
}

void log__segment_fd_put(log_segment *seg)
{
    log_rfds *t = atomic_load_explicit(&seg->rfds, memory_order_acquire);
    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    RL_ASSERT(seg->rfd_users > 0);
    seg->rfd_users--;
    pthread_mutex_unlock(&t->mu);
}

/* The segment goes: its descriptor leaves the table (no use can be left: every use holds a
 * reference, and this is the last one going). */
static void rfd_drop(log_segment *seg)
{
    log_rfds *t = atomic_load_explicit(&seg->rfds, memory_order_acquire);
    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    if (seg->rfd >= 0) {
        rfds_unlink(t, seg);
        close(seg->rfd);
        seg->rfd = LOG_RFD_NONE;
        t->open--;
    }
    pthread_mutex_unlock(&t->mu);
}

static log_segment *seg_alloc(const char *dir, int64_t base)
{
    char path[PATH_MAX];
    if (log__segment_path(path, sizeof path, dir, base, ".log") != 0)
        return NULL;
    log_segment *seg = calloc(1, sizeof *seg);
    if (!seg)
        return NULL;
    seg->rfd = LOG_RFD_NONE;
    atomic_init(&seg->rfds, NULL);
    seg->path = strdup(path);
    if (!seg->path) {
        free(seg);
        return NULL;
    }
    seg->base = base;
    seg->next = base;
    seg->fd = -1;
    seg->gfd = -1;
    seg->gmin_off = INT64_MAX;
    seg->glossy_from = INT64_MAX;
    atomic_init(&seg->gcommitted, 0);
    seg->max_ts = INT64_MIN;
    seg->run_max_ts = INT64_MIN;
    seg->first_ms = rl_now_ms(); /* a recovered segment's age counts from the open */
    atomic_init(&seg->committed, 0);
    atomic_init(&seg->refs, 1);
    return seg;
}

void log__segment_ref(log_segment *seg)
{
    atomic_fetch_add_explicit(&seg->refs, 1, memory_order_relaxed);
}

void log__segment_unref(log_segment *seg)
{
    /* acq_rel: the freeing thread sees every use by the others before it unmaps. */
    if (seg && atomic_fetch_sub_explicit(&seg->refs, 1, memory_order_acq_rel) == 1)
        log__segment_free(seg);
}

void log__segment_free(log_segment *seg)
{
    if (!seg)
        return;
    if (seg->map)
        munmap(seg->map, seg->reserve);
    if (seg->fd >= 0)
        close(seg->fd);
    if (seg->gfd >= 0)
        close(seg->gfd);
    free(seg->gsum);
    free(seg->idx);
    free(seg->tidx);
    rfd_drop(seg);
    free(seg->path);
    free(seg);
}

int log__segment_create(const char *dir, int64_t base, size_t reserve, log_segment **out,
                        rl_err *err)
{
    log_segment *seg = seg_alloc(dir, base);
    if (!seg)
        return rl_err_set(err, -ENOMEM, "%s: out of memory for a segment", dir);
    int rc;
    seg->fd = open(seg->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (seg->fd < 0) {
        rc = rl_err_set(err, -errno, "%s: create: %s", seg->path, strerror(errno));
        goto fail;
    }
    struct stat st;
    if (fstat(seg->fd, &st) == 0)
        seg_record_id(seg, &st); /* else no sendfile from it: reads use the mapping */
    if (ftruncate(seg->fd, (off_t)reserve) != 0) {
        rc = rl_err_set(err, -errno, "%s: extend to %zu bytes: %s", seg->path, reserve,
                        strerror(errno));
        goto fail;
    }
    void *m = mmap(NULL, reserve, PROT_READ, MAP_SHARED, seg->fd, 0);
    if (m == MAP_FAILED) {
        rc = rl_err_set(err, -errno, "%s: mmap %zu bytes: %s", seg->path, reserve, strerror(errno));
        goto fail;
    }
    seg->map = m;
    seg->reserve = reserve;
    *out = seg;
    return 0;
fail:
    if (seg->fd >= 0)
        unlink(seg->path);
    log__segment_free(seg);
    return rc;
}

int log__segment_open_file(const char *dir, int64_t base, size_t reserve, log_segment **out,
                           uint64_t *fsize, rl_err *err)
{
    log_segment *seg = seg_alloc(dir, base);
    if (!seg)
        return rl_err_set(err, -ENOMEM, "%s: out of memory for a segment", dir);
    int rc;
    struct stat st;
    seg->fd = open(seg->path, O_RDWR | O_CLOEXEC);
    if (seg->fd < 0) {
        rc = rl_err_set(err, -errno, "%s: open: %s", seg->path, strerror(errno));
        goto fail;
    }
    if (fstat(seg->fd, &st) != 0) {
        rc = rl_err_set(err, -errno, "%s: stat: %s", seg->path, strerror(errno));
        goto fail;
    }
    seg_record_id(seg, &st);
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX / 2) {
        rc = rl_err_set(err, RL_ECORRUPT, "%s: %lld bytes is not a segment", seg->path,
                        (long long)st.st_size);
        goto fail;
    }
    size_t len = (size_t)st.st_size > reserve ? (size_t)st.st_size : reserve;
    if (len > 0) {
        void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, seg->fd, 0);
        if (m == MAP_FAILED) {
            rc = rl_err_set(err, -errno, "%s: mmap %zu bytes: %s", seg->path, len, strerror(errno));
            goto fail;
        }
        seg->map = m;
        seg->reserve = len;
    }
    *fsize = (uint64_t)st.st_size;
    *out = seg;
    return 0;
fail:
    log__segment_free(seg);
    return rc;
}

/* ------------------------------------------------------------------ scanning */

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

int log__walk_step(log_walk *w, bool check, log_batch_hdr *h, rl_err *e)
{
    if (w->pos >= w->fsize)
        return LOG_WALK_END;
    const uint8_t *p = w->map + w->pos;
    uint64_t avail = w->fsize - w->pos;
    if (all_zero(p, avail < LOG_BATCH_HEADER ? (size_t)avail : LOG_BATCH_HEADER))
        return LOG_WALK_ZEROS; /* preallocated space, or a hole */
    size_t n = avail > (uint64_t)INT32_MAX ? (size_t)INT32_MAX : (size_t)avail;
    /* With check the decode below checks the CRC32C: the header alone need not. */
    int rc = log__batch_header(rl_slice_make(p, n), false, h, e);
    if (rc == RL_EAGAIN)
        return LOG_WALK_INCOMPLETE;
    if (rc != 0)
        return LOG_WALK_BAD_HEADER;
    if (h->base != w->next)
        return LOG_WALK_BAD_SEQ;
    if (check && log_batch_decode(rl_slice_make(p, h->size), &w->scratch, LOG_UNCOMPRESSED_MAX,
                                  NULL, NULL, e) < 0) {
        /* Rare: tell a CRC mismatch from bad records (the decoder checked the CRC first). */
        uint32_t crc = rl_crc32c(0, p + LOG_BATCH_CRC_FROM, h->size - LOG_BATCH_CRC_FROM);
        return crc != h->crc ? LOG_WALK_BAD_CRC : LOG_WALK_BAD_RECORDS;
    }
    return LOG_WALK_OK;
}

void log__segment_scan(const log_segment *seg, uint64_t fsize, bool check_crc, int64_t cut_at,
                       log_scan *sc)
{
    memset(sc, 0, sizeof *sc);
    log_walk w;
    log__walk_init(&w, seg->map, fsize, seg->base);
    if (cut_at == seg->base)
        sc->cut_found = true;
    for (;;) {
        log_batch_hdr h;
        rl_err e = {0, ""};
        int st = log__walk_step(&w, check_crc, &h, &e);
        if (st == LOG_WALK_END || st == LOG_WALK_ZEROS)
            break; /* zeros: preallocated space, a clean end */
        if (st != LOG_WALK_OK) {
            if (st == LOG_WALK_INCOMPLETE)
                snprintf(sc->why, sizeof sc->why, "incomplete batch (%s)", e.msg);
            else if (st == LOG_WALK_BAD_SEQ)
                snprintf(sc->why, sizeof sc->why, "batch has baseOffset %lld, expected %lld",
                         (long long)h.base, (long long)w.next);
            else if (st == LOG_WALK_BAD_HEADER)
                snprintf(sc->why, sizeof sc->why, "%s", e.msg);
            else
                snprintf(sc->why, sizeof sc->why, "records do not decode: %s", e.msg);
            sc->damaged = true;
            break;
        }
        log__walk_skip(&w, &h);
        if (w.next == cut_at) {
            sc->cut = log_fpos_make(w.pos);
            sc->cut_found = true;
        }
    }
    sc->end = log_fpos_make(w.pos);
    sc->end_off = w.next;
    log__walk_free(&w);
}

/* ------------------------------------------------------------------ indexes in memory */

static int idx_push(log_segment *seg, log_idx_entry e)
{
    if (seg->nidx == seg->capidx) {
        size_t cap = seg->capidx ? seg->capidx * 2 : 64;
        log_idx_entry *n = realloc(seg->idx, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        seg->idx = n;
        seg->capidx = cap;
    }
    seg->idx[seg->nidx++] = e;
    return 0;
}

static int tidx_push(log_segment *seg, log_time_entry e)
{
    if (seg->ntidx == seg->captidx) {
        size_t cap = seg->captidx ? seg->captidx * 2 : 64;
        log_time_entry *n = realloc(seg->tidx, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        seg->tidx = n;
        seg->captidx = cap;
    }
    seg->tidx[seg->ntidx++] = e;
    return 0;
}

int log__segment_index_add(log_segment *seg, pthread_mutex_t *lock, log_fpos at, int64_t first,
                           int64_t last, int64_t max_ts)
{
    if (max_ts > seg->run_max_ts)
        seg->run_max_ts = max_ts;
    if (at.b - seg->last_idx_pos < LOG_INDEX_INTERVAL)
        return 0;
    uint32_t rel = (uint32_t)(last - seg->base);
    int rc = 0;
    if (lock)
        pthread_mutex_lock(lock);
    /* Arrays grow under the lock: readers binary-search them while holding it. */
    bool grew = seg->ntidx == 0 || seg->run_max_ts > seg->tidx[seg->ntidx - 1].ts;
    uint32_t frel = first >= seg->base && first <= last ? (uint32_t)(first - seg->base)
                                                         : LOG_IDX_FIRST_UNKNOWN;
    if (idx_push(seg, (log_idx_entry){rel, (uint32_t)at.b, frel}) != 0 ||
        (grew && tidx_push(seg, (log_time_entry){seg->run_max_ts, rel}) != 0))
        rc = -ENOMEM;
    if (lock)
        pthread_mutex_unlock(lock);
    if (rc == 0)
        seg->last_idx_pos = at.b;
    return rc;
}

/* Appends the sealing time entry (the segment's largest timestamp at its last offset). */
static int tidx_finish(log_segment *seg)
{
    if (seg->next == seg->base)
        return 0;
    if (seg->ntidx == 0 || seg->run_max_ts > seg->tidx[seg->ntidx - 1].ts)
        return tidx_push(seg,
                         (log_time_entry){seg->run_max_ts, (uint32_t)(seg->next - 1 - seg->base)});
    return 0;
}

int log__segment_index_rebuild(log_segment *seg, log_fpos end)
{
    seg->nidx = seg->ntidx = 0;
    seg->last_idx_pos = 0;
    seg->run_max_ts = INT64_MIN;
    uint64_t pos = 0;
    int64_t next = seg->base;
    while (pos < end.b) {
        log_batch_hdr h;
        if (log__batch_header(rl_slice_make(seg->map + pos, (size_t)(end.b - pos)), false, &h,
                              NULL) != 0)
            return RL_ECORRUPT;
        if (log__segment_index_add(seg, NULL, log_fpos_make(pos), h.base, log_batch_last(&h),
                                   h.max_ts) != 0)
            return -ENOMEM;
        pos += h.size;
        next = log_batch_last(&h) + 1;
    }
    seg->size = end.b;
    seg->next = next;
    return 0;
}

/* Number of index entries whose offset is <= offset (the entry a walk to offset starts
 * from is the last of them). */
size_t log__segment_idx_floor(const log_segment *seg, int64_t offset)
{
    if (offset < seg->base)
        return 0;
    uint64_t rel = (uint64_t)(offset - seg->base);
    size_t lo = 0, hi = seg->nidx; /* first entry with rel > target */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (seg->idx[mid].rel <= rel)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint64_t log__segment_scan_start(log_segment *seg, int64_t offset)
{
    if (atomic_load_explicit(&seg->index_suspect, memory_order_relaxed))
        return 0;
    size_t n = log__segment_idx_floor(seg, offset);
    if (n == 0)
        return 0;
    /* The entry must name the batch at its position. The header is read anyway by the walk
     * that follows, so this costs no I/O. */
    const log_idx_entry *e = &seg->idx[n - 1];
    uint64_t pos = e->pos;
    uint64_t end = atomic_load_explicit(&seg->committed, memory_order_acquire);
    if (pos >= end)
        return pos; /* not committed yet: the walk reads nothing there */
    log_batch_hdr h;
    if (log__batch_header(rl_slice_make(seg->map + pos, (size_t)(end - pos)), false, &h, NULL) ==
            0 &&
        log_batch_last(&h) == seg->base + (int64_t)e->rel)
        return pos;
    log__segment_index_damaged(seg, e);
    return 0;
}

void log__segment_index_damaged(log_segment *seg, const log_idx_entry *e)
{
    if (!atomic_exchange(&seg->index_suspect, true))
        rl_warn("%s: .index entry for offset %lld points at byte %llu, which is not the start of "
                "that batch: the index is damaged; reads of this segment scan it from its start "
                "(`rowlog log check --repair` removes the index files, rebuilt at the next open)",
                seg->path, (long long)(seg->base + (int64_t)e->rel), (unsigned long long)e->pos);
}

static const log_idx_entry *idx_find(const log_segment *seg, uint32_t rel);

bool log__segment_time_entry_ok(log_segment *seg, size_t i)
{
    if (atomic_load_explicit(&seg->index_suspect, memory_order_relaxed))
        return false;
    const log_time_entry *t = &seg->tidx[i];
    const log_idx_entry *ie = idx_find(seg, t->rel);
    if (!ie && i + 1 == seg->ntidx)
        return true; /* a sealed segment's last entry names its last batch, indexed or not,
                        and was checked against the batches on open */
    uint64_t end = atomic_load_explicit(&seg->committed, memory_order_acquire);
    if (ie && ie->pos >= end)
        return true; /* the active segment's entry of a batch not committed yet */
    log_batch_hdr h;
    if (ie &&
        log__batch_header(rl_slice_make(seg->map + ie->pos, (size_t)(end - ie->pos)), false, &h,
                          NULL) == 0 &&
        log_batch_last(&h) == seg->base + (int64_t)t->rel && h.max_ts <= t->ts)
        return true;
    if (!atomic_exchange(&seg->index_suspect, true))
        rl_warn("%s: .timeindex entry (time %lld, offset %lld) does not match the batches: the "
                "index is damaged; lookups in this segment search it from its start (`rowlog "
                "log check --repair` removes the index files, rebuilt at the next open)",
                seg->path, (long long)t->ts, (long long)(seg->base + (int64_t)t->rel));
    return false;
}

log_fpos log__segment_lookup(const log_segment *seg, int64_t offset)
{
    size_t n = log__segment_idx_floor(seg, offset);
    return log_fpos_make(n ? seg->idx[n - 1].pos : 0);
}

int log__segment_header_warm(const log_segment *seg, uint64_t pos, uint64_t end,
                             uintptr_t *resident_page, log_batch_hdr *h, rl_err *e)
{
    return log__segment_header_read(seg, pos, end, false, resident_page, h, e);
}

int log__segment_header_read(const log_segment *seg, uint64_t pos, uint64_t end, bool wait,
                             uintptr_t *resident_page, log_batch_hdr *h, rl_err *e)
{
    rl_err tmp;
    rl_err *ep = e ? e : &tmp;
    if (pos >= end || end - pos < LOG_BATCH_HEADER) {
        rl_err_set(ep, RL_ECORRUPT, "batch header runs past the committed end (byte %llu)",
                   (unsigned long long)end);
        return LOG_HDR_BAD;
    }
    long psz = sysconf(_SC_PAGESIZE);
    uintptr_t pg = psz > 0 ? (uintptr_t)psz : 4096u;
    uintptr_t from = (uintptr_t)(seg->map + pos) & ~(pg - 1);
    uintptr_t to = ((uintptr_t)(seg->map + pos) + LOG_BATCH_HEADER - 1) & ~(pg - 1);
    if (!wait && (!resident_page || *resident_page != from || from != to)) {
        unsigned char vec[2] = {0, 0};
        size_t pages = from == to ? 1 : 2;
        /* mincore on a file mapping reports the page cache, whoever mapped the page, and
         * reads nothing (RWF_NOWAIT would: it starts the read before refusing). A failure
         * (not expected on a live mapping) counts as cold. */
        if (mincore((void *)from, pages * pg, vec) != 0 || !(vec[0] & 1) ||
            (pages == 2 && !(vec[1] & 1)))
            return LOG_HDR_COLD;
        if (resident_page)
            *resident_page = to;
    }
    /* Read through the read descriptor rather than the mapping: a fault on a mapped page
     * that carries the kernel's readahead mark would start the next readahead window's disk
     * reads on this thread; the descriptor reads no further than asked
     * (POSIX_FADV_RANDOM). */
    log_segment *ms = (log_segment *)seg; /* the descriptor table's fields only */
    int fd = log__segment_fd_get(ms);
    if (fd >= 0) {
        uint8_t buf[LOG_BATCH_HEADER];
        ssize_t n;
        do
            n = pread(fd, buf, sizeof buf, (off_t)pos);
        while (n < 0 && errno == EINTR);
        log__segment_fd_put(ms);
        if (n == (ssize_t)sizeof buf) {
            int rc = log__batch_header(rl_slice_make(buf, sizeof buf), false, h, ep);
            if (rc == RL_EAGAIN && h->size > sizeof buf)
                rc = 0; /* the header alone: the batch's extent is checked below */
            if (rc != 0)
                return LOG_HDR_BAD;
            if (h->size > end - pos) {
                rl_err_set(ep, RL_ECORRUPT, "batch at offset %lld: %llu of %u bytes",
                           (long long)h->base, (unsigned long long)(end - pos), h->size);
                return LOG_HDR_BAD;
            }
            return LOG_HDR_OK;
        }
        /* Short (the file cut by an abort) or failed: the mapping decides. */
    }
    if (log__batch_header(rl_slice_make(seg->map + pos, (size_t)(end - pos)), false, h, ep) != 0)
        return LOG_HDR_BAD;
    return LOG_HDR_OK;
}

/* ------------------------------------------------------------------ index files */

int log__segment_write_indexes(const log_segment *seg, const char *dir, rl_err *err)
{
    char path[PATH_MAX];
    rl_buf b = RL_BUF_INIT;
    int rc;
    for (size_t i = 0; i < seg->ntidx; i++) {
        rl_buf_put_be64(&b, (uint64_t)seg->tidx[i].ts);
        rl_buf_put_be32(&b, seg->tidx[i].rel);
    }
    if (!rl_buf_ok(&b)) {
        rc = rl_err_set(err, -ENOMEM, "%s: out of memory for the time index", seg->path);
        goto done;
    }
    if ((rc = log__segment_path(path, sizeof path, dir, seg->base, ".timeindex")) != 0 ||
        (rc = rl_file_replace(path, b.p, b.len, err)) != 0)
        goto done;
    rl_buf_reset(&b);
    for (size_t i = 0; i < seg->nidx; i++) {
        rl_buf_put_be32(&b, seg->idx[i].rel);
        rl_buf_put_be32(&b, seg->idx[i].pos);
    }
    if (!rl_buf_ok(&b)) {
        rc = rl_err_set(err, -ENOMEM, "%s: out of memory for the index", seg->path);
        goto done;
    }
    if ((rc = log__segment_path(path, sizeof path, dir, seg->base, ".index")) != 0 ||
        (rc = rl_file_replace(path, b.p, b.len, err)) != 0)
        goto done;
done:
    rl_buf_free(&b);
    return rc;
}

/* The in-memory offset index entry whose relative offset is rel, or NULL. */
static const log_idx_entry *idx_find(const log_segment *seg, uint32_t rel)
{
    size_t lo = 0, hi = seg->nidx;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (seg->idx[mid].rel < rel)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < seg->nidx && seg->idx[lo].rel == rel ? &seg->idx[lo] : NULL;
}

/* Reads and checks the index files against the batches. Returns NULL when they can be used as
 * they are (and fills seg), else why they must be rebuilt (*missing set when a file is simply
 * not there or unreadable, which needs no warning). Every entry is checked, not only the
 * last: an entry that points elsewhere than the batch it names would send reads to the wrong
 * place. */
static const char *load_index_files(log_segment *seg, const char *dir, uint64_t fsize,
                                    bool *missing, bool deep)
{
    char path[PATH_MAX];
    rl_buf ib = RL_BUF_INIT, tb = RL_BUF_INIT;
    const char *why = NULL;
    *missing = false;
    size_t max_entries = (size_t)(fsize / LOG_BATCH_HEADER) + 1;
    if (log__segment_path(path, sizeof path, dir, seg->base, ".index") != 0 ||
        rl_file_read_all(path, &ib, max_entries * 8, NULL) != 0) {
        *missing = true;
        why = ".index missing or unreadable";
        goto done;
    }
    if (log__segment_path(path, sizeof path, dir, seg->base, ".timeindex") != 0 ||
        rl_file_read_all(path, &tb, (max_entries + 1) * 12, NULL) != 0) {
        *missing = true;
        why = ".timeindex missing or unreadable";
        goto done;
    }
    if (ib.len % 8 != 0 || tb.len % 12 != 0) {
        why = "index file size not a multiple of its entry size";
        goto done;
    }
    seg->nidx = seg->ntidx = 0;
    rl_reader rd = rl_reader_make(rl_buf_slice(&ib));
    int64_t prev_last = seg->base - 1;
    while (rl_reader_left(&rd)) {
        uint32_t rel = (uint32_t)rl_get_i32be(&rd), pos = (uint32_t)rl_get_i32be(&rd);
        uint32_t first = LOG_IDX_FIRST_UNKNOWN;
        if (rel > INT32_MAX || pos >= fsize) {
            why = ".index entry outside the segment";
            goto done;
        }
        if (seg->nidx &&
            (rel <= seg->idx[seg->nidx - 1].rel || pos <= seg->idx[seg->nidx - 1].pos)) {
            why = ".index entries not increasing";
            goto done;
        }
        /* It must point at the start of a batch that ends at base + rel, after the batch of
         * the previous entry: every entry when deep, else the last one only (the others are
         * checked by the reads that use them). */
        if (deep || rl_reader_left(&rd) == 0) {
            log_batch_hdr h;
            if (log__batch_header(rl_slice_make(seg->map + pos, (size_t)(fsize - pos)), false,
                                  &h, NULL) != 0 ||
                log_batch_last(&h) != seg->base + (int64_t)rel || h.base <= prev_last) {
                why = ".index entry not pointing at the batch it names";
                goto done;
            }
            prev_last = log_batch_last(&h);
            first = (uint32_t)(h.base - seg->base);
        }
        if (idx_push(seg, (log_idx_entry){rel, pos, first}) != 0) {
            why = "out of memory";
            goto done;
        }
    }
    rd = rl_reader_make(rl_buf_slice(&tb));
    while (rl_reader_left(&rd)) {
        int64_t ts = rl_get_i64be(&rd);
        uint32_t rel = (uint32_t)rl_get_i32be(&rd);
        if (rel > INT32_MAX) {
            why = ".timeindex entry outside the segment";
            goto done;
        }
        if (seg->ntidx &&
            (ts <= seg->tidx[seg->ntidx - 1].ts || rel < seg->tidx[seg->ntidx - 1].rel)) {
            why = ".timeindex entries not increasing";
            goto done;
        }
        if (tidx_push(seg, (log_time_entry){ts, rel}) != 0) {
            why = "out of memory";
            goto done;
        }
    }
    /* Walk from the last indexed batch to the end of the file: the batches must follow each
     * other to the exact end, and no batch after it may be one the indexing rule would have
     * indexed (a stale file). */
    uint64_t pos = 0;
    int64_t expected = seg->base;
    uint64_t last_idx_pos = 0;
    int64_t tail_max = INT64_MIN;
    if (seg->nidx) {
        pos = seg->idx[seg->nidx - 1].pos;
        last_idx_pos = pos;
    }
    bool first = true;
    why = ".index stale: the batches after its last entry do not match it";
    while (pos < fsize) {
        log_batch_hdr h;
        if (log__batch_header(rl_slice_make(seg->map + pos, (size_t)(fsize - pos)), false, &h,
                              NULL) != 0)
            goto done;
        if (!(first && seg->nidx)) {
            if (h.base != expected)
                goto done;
            if (pos - last_idx_pos >= LOG_INDEX_INTERVAL)
                goto done; /* an entry is missing here */
        }
        first = false;
        if (h.max_ts > tail_max)
            tail_max = h.max_ts;
        expected = log_batch_last(&h) + 1;
        pos += h.size;
    }
    if (pos != fsize || expected == seg->base)
        goto done;
    why = ".timeindex stale or inconsistent with the batches";
    uint32_t last_rel = (uint32_t)(expected - 1 - seg->base);
    if (seg->ntidx == 0 || seg->tidx[seg->ntidx - 1].ts < tail_max ||
        seg->tidx[seg->ntidx - 1].rel > last_rel)
        goto done;
    /* Every time entry but the sealing one names an indexed batch (they are added at the same
     * points) whose timestamps it covers: checked when deep, else by the time lookups that
     * use an entry. */
    for (size_t i = 0; deep && i < seg->ntidx; i++) {
        if (seg->tidx[i].rel == last_rel)
            continue;
        const log_idx_entry *ie = idx_find(seg, seg->tidx[i].rel);
        log_batch_hdr h;
        if (!ie ||
            log__batch_header(rl_slice_make(seg->map + ie->pos, (size_t)(fsize - ie->pos)), false,
                              &h, NULL) != 0 ||
            h.max_ts > seg->tidx[i].ts)
            goto done;
    }
    seg->size = fsize;
    seg->next = expected;
    seg->max_ts = seg->tidx[seg->ntidx - 1].ts;
    seg->run_max_ts = seg->max_ts;
    why = NULL;
done:
    rl_buf_free(&ib);
    rl_buf_free(&tb);
    return why;
}

bool log__segment_index_files_ok(log_segment *seg, const char *dir, uint64_t fsize)
{
    bool missing;
    return fsize > 0 && fsize <= INT32_MAX &&
           load_index_files(seg, dir, fsize, &missing, true) == NULL;
}

int log__segment_load_sealed(log_segment *seg, const char *dir, uint64_t fsize, rl_err *err)
{
    if (fsize == 0)
        return rl_err_set(err, RL_ECORRUPT,
                          "%s: empty segment before the last one of its partition", seg->path);
    if (fsize > INT32_MAX)
        return rl_err_set(err, RL_ECORRUPT, "%s: %llu bytes, above the 2 GiB segment limit",
                          seg->path, (unsigned long long)fsize);
    bool missing;
    const char *why = load_index_files(seg, dir, fsize, &missing, false);
    if (!why)
        return 0;
    if (!missing)
        rl_warn("%s: %s: rebuilding .index and .timeindex", seg->path, why);
    /* Rebuild from the batch headers (no CRC: that would read the whole segment). */
    log_scan sc;
    log__segment_scan(seg, fsize, false, -1, &sc);
    if (sc.damaged || sc.end.b != fsize)
        return rl_err_set(err, RL_ECORRUPT, "%s: byte %llu (offset %lld): %s", seg->path,
                          (unsigned long long)sc.end.b, (long long)sc.end_off,
                          sc.damaged ? sc.why : "zero bytes inside a sealed segment");
    int rc = log__segment_index_rebuild(seg, sc.end);
    if (rc == 0)
        rc = tidx_finish(seg);
    if (rc != 0)
        return rl_err_set(err, rc, "%s: rebuilding the index: %s", seg->path, rl_strerror(rc));
    seg->max_ts = seg->run_max_ts;
    rl_info("%s: rebuilt .index and .timeindex (%zu and %zu entries)", seg->path, seg->nidx,
            seg->ntidx);
    return log__segment_write_indexes(seg, dir, err);
}

/* ------------------------------------------------------------------ writing */

int log__segment_write(log_segment *seg, const log_io *io, rl_slice batch, rl_err *err)
{
    int rc = log__pwrite_all(io, seg->fd, batch.p, batch.len, seg->size);
    if (rc != 0)
        return rl_err_set(err, rc, "%s: write of %zu bytes at byte %llu: %s", seg->path, batch.len,
                          (unsigned long long)seg->size, strerror(-rc));
    seg->size += batch.len;
    seg->dirty = true;
    return 0;
}

int log__segment_sync(log_segment *seg, const log_io *io, rl_err *err)
{
    if (!seg->dirty)
        return 0;
    if (io->sync(io->ctx, seg->fd, true) != 0)
        return rl_err_set(err, -errno, "%s: fdatasync: %s", seg->path, strerror(errno));
    seg->dirty = false;
    return 0;
}

int log__segment_grow(log_segment *seg, pthread_mutex_t *lock, size_t reserve, rl_err *err)
{
    RL_ASSERT(seg->size == 0 && seg->fd >= 0);
    if (ftruncate(seg->fd, (off_t)reserve) != 0)
        return rl_err_set(err, -errno, "%s: extend to %zu bytes: %s", seg->path, reserve,
                          strerror(errno));
    void *m = mmap(NULL, reserve, PROT_READ, MAP_SHARED, seg->fd, 0);
    if (m == MAP_FAILED)
        return rl_err_set(err, -errno, "%s: mmap %zu bytes: %s", seg->path, reserve,
                          strerror(errno));
    /* The segment is empty, so no reader holds a slice of the old mapping. */
    pthread_mutex_lock(lock);
    uint8_t *old = seg->map;
    size_t old_len = seg->reserve;
    seg->map = m;
    seg->reserve = reserve;
    pthread_mutex_unlock(lock);
    if (old)
        munmap(old, old_len);
    return 0;
}

int log__segment_activate(log_segment *seg, uint64_t fsize, log_fpos end, rl_err *err)
{
    bool changed = false;
    if (fsize != end.b) {
        /* Dropping the tail first turns any stale bytes after `end` into a hole. */
        if (ftruncate(seg->fd, (off_t)end.b) != 0)
            return rl_err_set(err, -errno, "%s: truncate to %llu bytes: %s", seg->path,
                              (unsigned long long)end.b, strerror(errno));
        changed = true;
    }
    if (fsize != seg->reserve) {
        if (ftruncate(seg->fd, (off_t)seg->reserve) != 0)
            return rl_err_set(err, -errno, "%s: extend to %zu bytes: %s", seg->path, seg->reserve,
                              strerror(errno));
        changed = true;
    }
    if (changed && fsync(seg->fd) != 0)
        return rl_err_set(err, -errno, "%s: fsync: %s", seg->path, strerror(errno));
    return 0;
}

int log__segment_seal(log_segment *seg, const log_io *io, pthread_mutex_t *lock, const char *dir,
                      rl_err *err)
{
    if (ftruncate(seg->fd, (off_t)seg->size) != 0)
        return rl_err_set(err, -errno, "%s: trim to %llu bytes: %s", seg->path,
                          (unsigned long long)seg->size, strerror(errno));
    if (io->sync(io->ctx, seg->fd, false) != 0)
        return rl_err_set(err, -errno, "%s: fsync: %s", seg->path, strerror(errno));
    seg->dirty = false;
    pthread_mutex_lock(lock);
    int rc = tidx_finish(seg);
    seg->max_ts = seg->run_max_ts;
    pthread_mutex_unlock(lock);
    if (rc != 0)
        return rl_err_set(err, rc, "%s: out of memory for the time index", seg->path);
    if ((rc = log__segment_write_indexes(seg, dir, err)) != 0)
        return rc;
    close(seg->fd);
    seg->fd = -1;
    return 0;
}

int log__segment_cut_back(log_segment *seg, pthread_mutex_t *lock, const char *dir, int64_t next,
                          rl_err *err)
{
    uint64_t end = atomic_load_explicit(&seg->committed, memory_order_relaxed);
    bool sealed = seg->fd < 0;
    if (sealed) {
        seg->fd = open(seg->path, O_RDWR | O_CLOEXEC);
        if (seg->fd < 0)
            return rl_err_set(err, -errno, "%s: reopen: %s", seg->path, strerror(errno));
    }
    if (sealed || seg->size != end) {
        /* Dropping the tail first turns the abandoned batches into a hole, so a crash before
         * the next commit cannot find them again; the reservation keeps the mapping valid. */
        if (ftruncate(seg->fd, (off_t)end) != 0 || ftruncate(seg->fd, (off_t)seg->reserve) != 0)
            return rl_err_set(err, -errno, "%s: cut back to %llu bytes: %s", seg->path,
                              (unsigned long long)end, strerror(errno));
        seg->dirty = true;
    }
    if (sealed) /* the index files describe the sealed size; an active segment has none */
        log__segment_unlink(dir, seg->base, LOG_FILE_INDEXES);
    pthread_mutex_lock(lock);
    while (seg->nidx && seg->idx[seg->nidx - 1].pos >= end)
        seg->nidx--;
    while (seg->ntidx && seg->base + (int64_t)seg->tidx[seg->ntidx - 1].rel >= next)
        seg->ntidx--;
    seg->max_ts = INT64_MIN;
    pthread_mutex_unlock(lock);
    /* Writer bookkeeping as it was after the last committed batch: the last time entry holds
     * the largest timestamp up to the last index entry; the batches from there on add theirs. */
    seg->last_idx_pos = seg->nidx ? seg->idx[seg->nidx - 1].pos : 0;
    seg->run_max_ts = seg->ntidx ? seg->tidx[seg->ntidx - 1].ts : INT64_MIN;
    uint64_t pos = seg->last_idx_pos;
    while (pos < end) {
        log_batch_hdr h;
        if (log__batch_header(rl_slice_make(seg->map + pos, (size_t)(end - pos)), false, &h,
                              NULL) != 0)
            return rl_err_set(err, RL_ECORRUPT, "%s: byte %llu: committed batch does not parse",
                              seg->path, (unsigned long long)pos);
        if (h.max_ts > seg->run_max_ts)
            seg->run_max_ts = h.max_ts;
        pos += h.size;
    }
    seg->size = end;
    seg->next = next;
    return 0;
}

int log__segment_prealloc(log_segment *seg, const log_io *io, int mode, uint64_t upto,
                          const uint8_t *zeros, rl_err *err)
{
    if (mode == LOG_PREALLOC_NONE || upto <= seg->prealloc_end)
        return 0;
    uint64_t end = (upto + LOG_PREALLOC_STEP - 1) / LOG_PREALLOC_STEP * LOG_PREALLOC_STEP;
    if (end > seg->reserve)
        end = seg->reserve;
    if (end <= seg->prealloc_end)
        return 0;
    uint64_t from = seg->prealloc_end > seg->size ? seg->prealloc_end : seg->size;
    if (mode == LOG_PREALLOC_FALLOCATE) {
        if (fallocate(seg->fd, 0, (off_t)from, (off_t)(end - from)) != 0)
            return rl_err_set(err, -errno, "%s: fallocate bytes %llu..%llu: %s", seg->path,
                              (unsigned long long)from, (unsigned long long)end, strerror(errno));
    } else {
        /* Zeros are what recovery reads as the clean end of the log. */
        for (uint64_t at = from; at < end;) {
            size_t n = end - at > LOG_ZERO_CHUNK ? LOG_ZERO_CHUNK : (size_t)(end - at);
            int rc = log__pwrite_all(io, seg->fd, zeros, n, at);
            if (rc != 0)
                return rl_err_set(err, rc, "%s: zero-fill at byte %llu: %s", seg->path,
                                  (unsigned long long)at, strerror(-rc));
            at += n;
        }
        seg->dirty = true;
    }
    seg->prealloc_end = end;
    return 0;
}
