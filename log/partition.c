/*
 * partition.c - one partition: a directory "<topic>-<id>/" of segments (segment.c), the open
 * batch being filled (batch.c), recovery on open, and the read paths.
 *
 * Recovery rules (docs/format-log.md "Recovery"), given C = the partition's end offset in the
 * checkpoint (0 when it is not there):
 *   - segments whose base offset is >= C hold only data written after the last commit: they
 *     are deleted (except the first segment, which is kept, emptied);
 *   - segments before the last kept one are sealed: their index files are checked and rebuilt
 *     when stale, and their batches must follow each other without a gap;
 *   - the last kept segment is scanned batch by batch with CRC32C. A damaged batch or a missing
 *     batch below C is committed data lost: RL_ECORRUPT, the log refuses to open. A damaged or
 *     incomplete batch at or after C is a torn write of uncommitted data (writes reach the
 *     disk in any order until fdatasync returns): the tail is truncated and logged. Zero bytes
 *     are the clean end of preallocated space;
 *   - the partition is then cut back to exactly C (a batch boundary, since a commit always
 *     ends the open batch), so a restart replays the source from the checkpoint's position
 *     without doubling records.
 *
 * Readers: the high watermark is loaded first (acquire), then the segment holding the offset
 * is found under `lock`, then that segment's committed byte count is loaded (acquire). The
 * writer stores every committed count before the high watermark (release), so the bytes
 * below the loaded count cover every batch below the loaded high watermark; the walk stops at
 * the first batch at or above the high watermark so a read never mixes in later commits.
 */
#include "log/log_int.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static size_t seg_reserve(const log_partition *p, uint64_t need)
{
    uint64_t r = p->store->opts.segment_bytes;
    return (size_t)(need > r ? need : r);
}

static int push_seg(log_partition *p, log_segment *seg, bool locked)
{
    int rc = 0;
    if (locked)
        pthread_mutex_lock(&p->lock);
    if (p->nsegs == p->capsegs) {
        size_t cap = p->capsegs ? p->capsegs * 2 : 4;
        log_segment **n = realloc(p->segs, cap * sizeof(log_segment *));
        if (!n)
            rc = -ENOMEM;
        else {
            p->segs = n;
            p->capsegs = cap;
        }
    }
    if (rc == 0)
        p->segs[p->nsegs++] = seg;
    if (locked)
        pthread_mutex_unlock(&p->lock);
    return rc;
}

static log_segment *active(const log_partition *p)
{
    return p->segs[p->nsegs - 1];
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Lists the base offsets of the segment files in dir (sorted) and removes leftover ".tmp"
 * files of interrupted index writes. */
static int list_segments(const char *dir, int64_t **out, size_t *n, rl_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return rl_err_set(err, -errno, "%s: opendir: %s", dir, strerror(errno));
    int64_t *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        size_t len = strlen(nm);
        if (len > 4 && strcmp(nm + len - 4, ".tmp") == 0) {
            char path[PATH_MAX];
            if (snprintf(path, sizeof path, "%s/%s", dir, nm) < (int)sizeof path)
                unlink(path);
            continue;
        }
        int64_t base = 0;
        if (!log__segment_name_parse(nm, &base))
            continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 8;
            int64_t *nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                rc = rl_err_set(err, -ENOMEM, "%s: out of memory", dir);
                goto done;
            }
            v = nv;
        }
        v[cnt++] = base;
    }
    if (cnt > 0) /* qsort(NULL, 0) is undefined behaviour */
        qsort(v, cnt, sizeof *v, cmp_i64);
done:
    closedir(d);
    if (rc != 0) {
        free(v);
        return rc;
    }
    *out = v;
    *n = cnt;
    return 0;
}

/* Opens the last kept segment, scans it and applies the recovery rules (file comment). */
static int recover_last(log_partition *p, int64_t base, int64_t committed, rl_err *err)
{
    log_segment *seg = NULL;
    uint64_t fsize = 0;
    int rc = log__segment_open_file(p->dir, base, p->store->opts.segment_bytes, &seg, &fsize, err);
    if (rc != 0)
        return rc;
    if (p->nsegs && base != active(p)->next) {
        rc = rl_err_set(err, RL_ECORRUPT,
                        "%s: starts at offset %lld but the previous segment ends at %lld",
                        seg->path, (long long)base, (long long)active(p)->next);
        goto fail;
    }
    if (fsize > INT32_MAX) {
        rc = rl_err_set(err, RL_ECORRUPT, "%s: %llu bytes, above the 2 GiB segment limit",
                        seg->path, (unsigned long long)fsize);
        goto fail;
    }
    log_scan sc;
    log__segment_scan(seg, fsize, true, committed, &sc);
    if (sc.end_off < committed) {
        if (sc.damaged)
            rc = rl_err_set(err, RL_ECORRUPT,
                            "%s: damaged batch at byte %llu (offset %lld): %s; the checkpoint "
                            "says offsets below %lld were committed: refusing to open",
                            seg->path, (unsigned long long)sc.end.b, (long long)sc.end_off, sc.why,
                            (long long)committed);
        else
            rc = rl_err_set(err, RL_ECORRUPT,
                            "%s: the log ends at byte %llu (offset %lld) but the checkpoint "
                            "says offsets below %lld were committed: committed data is missing",
                            seg->path, (unsigned long long)sc.end.b, (long long)sc.end_off,
                            (long long)committed);
        goto fail;
    }
    log_fpos end = sc.end;
    int64_t end_off = sc.end_off;
    if (sc.damaged)
        rl_warn("%s: torn or corrupt tail at byte %llu (offset %lld): %s; truncating %llu "
                "bytes written after the last commit",
                seg->path, (unsigned long long)sc.end.b, (long long)sc.end_off, sc.why,
                (unsigned long long)(fsize - sc.end.b));
    if (end_off > committed) {
        if (!sc.cut_found) {
            rc = rl_err_set(err, RL_ECORRUPT,
                            "%s: the checkpoint's end offset %lld is not a batch boundary",
                            seg->path, (long long)committed);
            goto fail;
        }
        rl_warn("%s: cutting back to the checkpoint: dropping offsets %lld..%lld (bytes "
                "%llu..%llu) written after the last commit",
                seg->path, (long long)committed, (long long)(end_off - 1),
                (unsigned long long)sc.cut.b, (unsigned long long)end.b);
        end = sc.cut;
        end_off = committed;
    }
    if ((rc = log__segment_activate(seg, fsize, end, err)) != 0)
        goto fail;
    if ((rc = log__segment_index_rebuild(seg, end)) != 0) {
        rc = rl_err_set(err, rc, "%s: rebuilding the index: %s", seg->path, rl_strerror(rc));
        goto fail;
    }
    RL_ASSERT(seg->next == end_off);
    atomic_store_explicit(&seg->committed, end.b, memory_order_relaxed);
    if ((rc = log__gidx_load(seg, p->dir, end_off, true, err)) != 0)
        goto fail;
    if ((rc = push_seg(p, seg, false)) != 0) {
        rc = rl_err_set(err, rc, "%s: out of memory", seg->path);
        goto fail;
    }
    return 0;
fail:
    log__segment_free(seg);
    return rc;
}

static int open_segments(log_partition *p, int64_t committed, rl_err *err)
{
    int64_t *bases = NULL;
    size_t n = 0;
    int rc = list_segments(p->dir, &bases, &n, err);
    if (rc != 0)
        return rc;
    if (n == 0) {
        if (committed > 0) {
            rc = rl_err_set(err, RL_ECORRUPT,
                            "%s: no segment files but the checkpoint says offsets below %lld "
                            "were committed",
                            p->dir, (long long)committed);
            goto done;
        }
        log_segment *seg;
        if ((rc = log__segment_create(p->dir, 0, seg_reserve(p, 0), &seg, err)) != 0)
            goto done;
        if ((rc = push_seg(p, seg, false)) != 0) {
            log__segment_free(seg);
            rc = rl_err_set(err, rc, "%s: out of memory", p->dir);
            goto done;
        }
        if ((rc = rl_dir_fsync(p->dir)) != 0) {
            rc = rl_err_set(err, rc, "%s: fsync: %s", p->dir, strerror(-rc));
            goto done;
        }
        atomic_store_explicit(&p->log_start, 0, memory_order_relaxed);
        goto done;
    }
    atomic_store_explicit(&p->log_start, bases[0], memory_order_relaxed);
    if (committed > 0 && committed < bases[0]) {
        rc = rl_err_set(err, RL_ECORRUPT,
                        "%s: the first segment starts at offset %lld, above the checkpoint's "
                        "end offset %lld",
                        p->dir, (long long)bases[0], (long long)committed);
        goto done;
    }
    size_t keep = 0;
    while (keep < n && bases[keep] < committed)
        keep++;
    if (keep == 0)
        keep = 1;
    if (keep < n) {
        for (size_t i = keep; i < n; i++) {
            rl_warn("%s/%020lld.log: holds only offsets >= %lld, written after the last "
                    "commit: removed",
                    p->dir, (long long)bases[i], (long long)committed);
            log__segment_unlink(p->dir, bases[i], LOG_FILE_ALL);
        }
        /* Durable before anything new is written, or a removed segment could come back. */
        if ((rc = rl_dir_fsync(p->dir)) != 0) {
            rc = rl_err_set(err, rc, "%s: fsync: %s", p->dir, strerror(-rc));
            goto done;
        }
    }
    for (size_t i = 0; i + 1 < keep; i++) {
        log_segment *seg;
        uint64_t fsize;
        if ((rc = log__segment_open_file(p->dir, bases[i], 0, &seg, &fsize, err)) != 0)
            goto done;
        if (p->nsegs && bases[i] != active(p)->next) {
            rc = rl_err_set(err, RL_ECORRUPT,
                            "%s: starts at offset %lld but the previous segment ends at %lld",
                            seg->path, (long long)bases[i], (long long)active(p)->next);
            log__segment_free(seg);
            goto done;
        }
        if ((rc = log__segment_load_sealed(seg, p->dir, fsize, err)) != 0 ||
            (rc = log__gidx_load(seg, p->dir, INT64_MAX, false, err)) != 0) {
            log__segment_free(seg);
            goto done;
        }
        close(seg->fd);
        seg->fd = -1;
        atomic_store_explicit(&seg->committed, seg->size, memory_order_relaxed);
        if ((rc = push_seg(p, seg, false)) != 0) {
            log__segment_free(seg);
            rc = rl_err_set(err, rc, "%s: out of memory", p->dir);
            goto done;
        }
    }
    rc = recover_last(p, bases[keep - 1], committed, err);
done:
    free(bases);
    return rc;
}

int log__partition_open(struct log_store *store, struct log_topic *topic, uint32_t id,
                        int64_t committed, bool create, log_partition **out, rl_err *err)
{
    log_partition *p = calloc(1, sizeof *p);
    char dir[PATH_MAX];
    int rc;
    if (!p)
        return rl_err_set(err, -ENOMEM, "out of memory for a partition");
    if (snprintf(dir, sizeof dir, "%s/%s-%u", store->dir, topic->name, id) >= (int)sizeof dir) {
        free(p);
        return rl_err_set(err, -ENAMETOOLONG, "%s/%s-%u: path too long", store->dir, topic->name,
                          id);
    }
    p->dir = strdup(dir);
    if (!p->dir) {
        free(p);
        return rl_err_set(err, -ENOMEM, "out of memory for a partition");
    }
    p->store = store;
    p->topic = topic;
    p->id = id;
    p->sync_from = SIZE_MAX;
    pthread_mutex_init(&p->lock, NULL);
    atomic_init(&p->hwm, 0);
    atomic_init(&p->log_start, 0);
    atomic_init(&p->commit_base, 0);
    if (create) {
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
            rc = rl_err_set(err, -errno, "%s: mkdir: %s", dir, strerror(errno));
            goto fail;
        }
        if ((rc = rl_dir_fsync(store->dir)) != 0) {
            rc = rl_err_set(err, rc, "%s: fsync: %s", store->dir, strerror(-rc));
            goto fail;
        }
    }
    if ((rc = open_segments(p, committed, err)) != 0)
        goto fail;
    p->next = active(p)->next;
    p->txn_from = p->next;
    atomic_store_explicit(&p->commit_base, active(p)->base, memory_order_release);
    atomic_store_explicit(&p->hwm, p->next, memory_order_release);
    atomic_store_explicit(&p->leo, p->next, memory_order_relaxed);
    *out = p;
    return 0;
fail:
    log__partition_close(p);
    return rc;
}

void log__partition_close(log_partition *p)
{
    if (!p)
        return;
    if (p->nsegs) {
        log_segment *seg = active(p);
        /* Give back the preallocated space; uncommitted batches stay until the next open
         * cuts them back to the checkpoint. */
        if (seg->fd >= 0 && ftruncate(seg->fd, (off_t)seg->size) != 0)
            rl_warn("%s: trim to %llu bytes: %s", seg->path, (unsigned long long)seg->size,
                    strerror(errno));
        /* And the zero-filled tail of its GTID index. */
        if (seg->gfd >= 0 && seg->galloc > seg->gsize &&
            ftruncate(seg->gfd, (off_t)seg->gsize) != 0)
            rl_warn("%s: trim of its .gtidindex to %llu bytes: %s", seg->path,
                    (unsigned long long)seg->gsize, strerror(errno));
    }
    for (size_t i = 0; i < p->nsegs; i++) {
        uint32_t refs = atomic_load_explicit(&p->segs[i]->refs, memory_order_relaxed);
        /* A pin still held is a caller bug (log_read_release missing). Close must not run
         * concurrently with readers, so the mapping is freed anyway, as slices were only
         * valid until close before pins existed; the message makes the bug visible. */
        if (refs > 1)
            rl_error("%s: %u log_store_read pin(s) not released before close", p->segs[i]->path,
                     refs - 1);
        log__segment_free(p->segs[i]);
    }
    free(p->segs);
    free(p->gpend);
    free(p->gunpub);
    rl_buf_free(&p->gbuf);
    rl_buf_free(&p->open.buf);
    pthread_mutex_destroy(&p->lock);
    free(p->dir);
    free(p);
}

/* ------------------------------------------------------------------ writer */

static int roll(log_partition *p, size_t need, rl_err *err)
{
    log_segment *old = active(p);
    int rc = log__gidx_seal(p, old, err);
    if (rc == 0)
        rc = log__segment_seal(old, &p->store->io, &p->lock, p->dir, err);
    if (rc != 0)
        return rc;
    log_segment *seg;
    if ((rc = log__segment_create(p->dir, p->next, seg_reserve(p, need), &seg, err)) != 0)
        return rc;
    if ((rc = push_seg(p, seg, true)) != 0) {
        log__segment_free(seg);
        return rl_err_set(err, rc, "%s: out of memory", p->dir);
    }
    p->dir_dirty = true;
    return 0;
}

int log__partition_flush(log_partition *p, rl_err *err)
{
    log_batch_builder *bb = &p->open;
    if (bb->count == 0)
        return log__gidx_write(p, err);
    rl_slice batch;
    int rc = log__builder_finish(bb, &p->store->codec, p->next, &batch, err);
    if (rc != 0)
        return rl_err_wrap(err, rc, "%s", p->dir);
    int64_t last = p->next + bb->count - 1;
    log_segment *seg = active(p);
    int64_t now = rl_now_ms();
    if (seg->size > 0 &&
        (seg->size + batch.len > p->store->opts.segment_bytes || last - seg->base > INT32_MAX ||
         (now >= seg->first_ms && (uint64_t)(now - seg->first_ms) >= p->store->opts.segment_ms))) {
        if ((rc = roll(p, batch.len, err)) != 0)
            return rc;
        log__count(&p->store->n_rolled, 1);
        log__count(&p->store->n_syncs, 1);
        seg = active(p);
    } else if (seg->size + batch.len > seg->reserve) {
        if ((rc = log__segment_grow(seg, &p->lock, seg_reserve(p, batch.len), err)) != 0)
            return rc;
    }
    if ((rc = log__segment_prealloc(seg, &p->store->io, p->store->opts.prealloc,
                                    seg->size + batch.len, p->store->zeros, err)) != 0)
        return rc;
    if (p->sync_from == SIZE_MAX)
        p->sync_from = p->nsegs - 1;
    log_fpos at = log_fpos_make(seg->size);
    if (seg->size == 0)
        seg->first_ms = now;
    if ((rc = log__segment_write(seg, &p->store->io, batch, err)) != 0)
        return rc;
    log__count(&p->store->n_records, (uint64_t)bb->count);
    log__count(&p->store->n_batches, 1);
    log__count(&p->store->n_bytes, batch.len);
    if ((rc = log__segment_index_add(seg, &p->lock, at, p->next, last, bb->max_ts)) != 0)
        return rl_err_set(err, rc, "%s: out of memory for the index", seg->path);
    seg->next = last + 1;
    p->next = last + 1;
    size_t used = bb->buf.len;
    log__builder_reset(bb);
    /* A partition that filled a big buffer once but now writes small batches (a commit every
     * few records) gives the memory back: with one open batch per partition, thousands of
     * tables would otherwise each keep up to batch_bytes. Busy partitions keep theirs. */
    if (bb->buf.cap > (256u << 10) && used < bb->buf.cap / 4)
        rl_buf_free(&bb->buf);
    return log__gidx_write(p, err);
}

int log__partition_sync(log_partition *p, rl_err *err)
{
    if (p->sync_from != SIZE_MAX) {
        for (size_t i = p->sync_from; i < p->nsegs; i++) {
            log_segment *seg = p->segs[i];
            bool dirty = seg->dirty;
            bool gsync =
                seg->gdirty && seg->gfd >= 0 && !(seg->grange && seg->gsize <= seg->galloc);
            /* The GTID index first: its bytes must have reached the device before the cache
             * flush of the fdatasyncs that follow (gtid.c "Durability"). */
            int rc = log__gidx_sync(seg, &p->store->io, err);
            if (rc == 0)
                rc = log__segment_sync(seg, &p->store->io, err);
            if (rc != 0)
                return rc;
            log__count(&p->store->n_syncs, (uint64_t)dirty + (uint64_t)gsync);
        }
    }
    if (p->dir_dirty) {
        int rc = rl_dir_fsync(p->dir);
        if (rc != 0)
            return rl_err_set(err, rc, "%s: fsync: %s", p->dir, strerror(-rc));
        p->dir_dirty = false;
    }
    return 0;
}

void log__partition_publish(log_partition *p)
{
    log__gidx_publish(p);
    if (p->sync_from != SIZE_MAX) {
        for (size_t i = p->sync_from; i < p->nsegs; i++)
            atomic_store_explicit(&p->segs[i]->committed, p->segs[i]->size, memory_order_release);
    }
    atomic_store_explicit(&p->hwm, p->next, memory_order_release);
    p->sync_from = SIZE_MAX;
    atomic_store_explicit(&p->commit_base, active(p)->base, memory_order_release);
}

int log__partition_abort(log_partition *p, rl_err *err)
{
    int64_t hwm = atomic_load_explicit(&p->hwm, memory_order_relaxed);
    log__builder_reset(&p->open);
    /* Segments created by rolls since the last publish hold only offsets >= hwm, so no
     * reader can be using them (a read starts from a segment whose base is below hwm). */
    size_t keep = p->nsegs;
    int64_t commit_base = atomic_load_explicit(&p->commit_base, memory_order_relaxed);
    while (keep > 1 && p->segs[keep - 1]->base > commit_base)
        keep--;
    size_t n = p->nsegs;
    pthread_mutex_lock(&p->lock);
    p->nsegs = keep;
    pthread_mutex_unlock(&p->lock);
    for (size_t i = keep; i < n; i++) {
        log_segment *seg = p->segs[i];
        rl_warn("%s: abort: removing segment of offsets >= %lld written after the last commit",
                seg->path, (long long)seg->base);
        int64_t base = seg->base;
        log__segment_unref(seg);
        p->segs[i] = NULL;
        log__segment_unlink(p->dir, base, LOG_FILE_ALL);
        p->dir_dirty = true;
    }
    int rc = log__segment_cut_back(active(p), &p->lock, p->dir, hwm, err);
    if (rc != 0)
        return rc;
    p->next = hwm;
    atomic_store_explicit(&p->leo, hwm, memory_order_relaxed);
    if ((rc = log__gidx_abort(p, err)) != 0)
        return rc;
    p->sync_from = SIZE_MAX;
    return 0;
}

/* ------------------------------------------------------------------ readers */

/* Index of the segment holding offset (the last one whose base is <= offset). Caller holds
 * the lock; offset >= log_start. */
static size_t find_seg(const log_partition *p, int64_t offset)
{
    size_t lo = 0, hi = p->nsegs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (p->segs[mid]->base <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? lo - 1 : 0;
}

/*
 * Where a Fetch starts and ends, without waiting for the disk.
 *
 * A Fetch is served on the event loop thread, and its record bytes are made resident by
 * server/kafka_warm.c's I/O threads only after the range is known. Finding the range by
 * reading every batch header in it would fault the pages of a cold segment in on the loop
 * thread (with readahead: megabytes per header), so the range comes from the sparse offset
 * index instead, and a batch header is read only when its page is already in the page cache
 * (log__segment_header_warm):
 *
 *   start  the batch holding `offset`: an index entry names it exactly when its last offset
 *          is `offset`, or its first offset (known to entries the writer or a rebuild made)
 *          is at or below it; the first batch of a segment starts at its base offset. Else
 *          the headers after the entry below are read, cold or not, through the read
 *          descriptor (pread(2): the page or two holding them, no readahead window): that is
 *          an entry loaded from an .index file, which does not say where its batch begins.
 *          Starting at a boundary before the batch holding offset could send only batches
 *          below it, and the consumer would never advance.
 *   end    the last batch boundary at or below start + max_bytes that is known to be below
 *          the high watermark: an index entry position (every batch before it is committed
 *          when its batch's first offset, or else its last offset + 1, is at or below the
 *          high watermark), or the segment's committed end when the next segment starts at
 *          or below the high watermark; then further whole batches from resident headers.
 *          The first batch is always whole (KIP-74): its end is its header's size when
 *          resident, else the next usable index position (which can add the few small
 *          batches before it).
 * An index entry used as a boundary is checked against the batch header at its position when
 * that is resident (a mismatch marks the index damaged, logged once); a cold one is trusted,
 * as Kafka trusts its index (sealed segments' index files are checked in their structure
 * and last entry at open, and `rowlog log check` checks every entry). A cold first batch with
 * no usable boundary after it (the active segment's last batches) has its header read with
 * pread. Only a segment whose index was found damaged is walked from its start as before
 * (walk_range, faulting in what it reads).
 */

/* Walks the headers from pos (a batch boundary at or before the batch holding offset) to
 * find the range: the read of a segment that cannot use its index. */
static int walk_range(log_segment *seg, uint64_t pos, uint64_t end, int64_t offset, int64_t hwm,
                      size_t max_bytes, uint64_t *startp, uint64_t *endp, rl_err *err)
{
    uint64_t start = UINT64_MAX;
    while (pos < end) {
        log_batch_hdr h;
        rl_err e;
        if (log__batch_header(rl_slice_make(seg->map + pos, (size_t)(end - pos)), false, &h, &e) !=
            0)
            return rl_err_set(err, RL_ECORRUPT, "%s: byte %llu: %s", seg->path,
                              (unsigned long long)pos, e.msg);
        if (h.base >= hwm)
            break;
        if (start == UINT64_MAX) {
            if (log_batch_last(&h) >= offset)
                start = pos;
        } else if (pos + h.size - start > max_bytes) {
            break; /* whole batches only; the first one always (KIP-74) */
        }
        pos += h.size;
    }
    if (start == UINT64_MAX)
        return rl_err_set(err, RL_ECORRUPT,
                          "%s: offset %lld is below the high watermark %lld but not in the segment",
                          seg->path, (long long)offset, (long long)hwm);
    *startp = start;
    *endp = pos;
    return 0;
}

/* True when every batch before index entry e's position is below the high watermark. */
static bool idx_committed(const log_segment *seg, const log_idx_entry *e, uint64_t end,
                          int64_t hwm)
{
    if (e->pos > end)
        return false;
    if (e->first != LOG_IDX_FIRST_UNKNOWN)
        return seg->base + (int64_t)e->first <= hwm;
    return seg->base + (int64_t)e->rel < hwm;
}

/* Number of entries from the start of seg's index whose position is at most pos. */
static size_t idx_upto(const log_segment *seg, uint64_t pos)
{
    size_t lo = 0, hi = seg->nidx;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (seg->idx[mid].pos <= pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Number of entries (a prefix: the condition only turns false going on) that are usable
 * boundaries (idx_committed). */
static size_t idx_usable(const log_segment *seg, uint64_t end, int64_t hwm)
{
    size_t lo = 0, hi = seg->nidx;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (idx_committed(seg, &seg->idx[mid], end, hwm))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

enum { RANGE_DONE = 0, RANGE_WALK = 1 };

/* The range of a Fetch from the index and resident headers (see above). Caller holds the
 * partition lock (the index arrays). Returns RANGE_DONE with the range in startp and endp,
 * RANGE_WALK with startp where walk_range must start, or RL_ECORRUPT. */
static int index_range(log_segment *seg, bool all_committed, uint64_t end, int64_t offset,
                       int64_t hwm, size_t max_bytes, uint64_t *startp, uint64_t *endp,
                       rl_err *err)
{
    uintptr_t rp = 0;
    log_batch_hdr h;
    rl_err e;
    if (atomic_load_explicit(&seg->index_suspect, memory_order_relaxed)) {
        *startp = 0;
        return RANGE_WALK;
    }
    /* Start. */
    int64_t t = offset - seg->base;
    size_t k = log__segment_idx_floor(seg, offset);
    uint64_t start = k ? seg->idx[k - 1].pos : 0;
    bool exact = false;
    if (k && (int64_t)seg->idx[k - 1].rel == t) {
        exact = true;
    } else if (k < seg->nidx && seg->idx[k].first != LOG_IDX_FIRST_UNKNOWN &&
               (int64_t)seg->idx[k].first <= t && seg->idx[k].pos < end) {
        start = seg->idx[k].pos;
        k++;
        exact = true;
    } else if (k == 0 && t == 0) {
        exact = true; /* the segment's first batch starts at its base offset */
    }
    const log_idx_entry *named = k ? &seg->idx[k - 1] : NULL; /* the entry start came from */
    bool have_first = false;
    log_batch_hdr first = {0};
    for (;;) {
        /* Where the index does not name the batch holding offset (an entry loaded from an
         * .index file does not say where its batch begins), the headers from the entry
         * below are read even when cold: starting at a cold boundary before that batch
         * could send only batches below offset, and the consumer would never advance.
         * That reads at most the page or two holding them (log__segment_header_read). */
        int r = log__segment_header_read(seg, start, end, !exact, &rp, &h, &e);
        if (r == LOG_HDR_COLD)
            break; /* the batch holding offset starts here */
        if (r == LOG_HDR_BAD) {
            if (named && start == named->pos) {
                log__segment_index_damaged(seg, named);
                *startp = 0;
                return RANGE_WALK;
            }
            return rl_err_set(err, RL_ECORRUPT, "%s: byte %llu: %s", seg->path,
                              (unsigned long long)start, e.msg);
        }
        if (named && start == named->pos &&
            (log_batch_last(&h) != seg->base + (int64_t)named->rel ||
             (named->first != LOG_IDX_FIRST_UNKNOWN &&
              h.base != seg->base + (int64_t)named->first))) {
            log__segment_index_damaged(seg, named);
            *startp = 0;
            return RANGE_WALK;
        }
        if (h.base >= hwm || (exact && log_batch_last(&h) < offset))
            return rl_err_set(err, RL_ECORRUPT,
                              "%s: offset %lld is below the high watermark %lld but not in the "
                              "segment (byte %llu)",
                              seg->path, (long long)offset, (long long)hwm,
                              (unsigned long long)start);
        if (log_batch_last(&h) >= offset) {
            first = h;
            have_first = true;
            break;
        }
        start += h.size;
        if (start >= end)
            return rl_err_set(err, RL_ECORRUPT,
                              "%s: offset %lld is below the high watermark %lld but not in the "
                              "segment",
                              seg->path, (long long)offset, (long long)hwm);
    }
    /* End: the last usable boundary at or below the limit. */
    uint64_t limit = max_bytes > end - start ? end : start + max_bytes;
    size_t usable = idx_usable(seg, end, hwm);
    size_t upto = idx_upto(seg, limit);
    size_t j = upto < usable ? upto : usable;
    uint64_t cut = start;
    const log_idx_entry *at = NULL; /* the entry the cut came from */
    if (all_committed && end <= limit)
        cut = end;
    else if (j && seg->idx[j - 1].pos > start)
        at = &seg->idx[j - 1];
    if (cut == start && !at) {
        /* No boundary within max_bytes: the first batch alone, whole (KIP-74). */
        if (have_first) {
            cut = start + first.size;
        } else {
            size_t n = idx_upto(seg, start);
            if (n < usable)
                at = &seg->idx[n];
            else if (all_committed)
                cut = end;
            else {
                /* The active segment's last batches: only the header says where the first
                 * one ends (one pread of its page or two). */
                int r = log__segment_header_read(seg, start, end, true, &rp, &h, &e);
                if (r != LOG_HDR_OK)
                    return rl_err_set(err, RL_ECORRUPT, "%s: byte %llu: %s", seg->path,
                                      (unsigned long long)start, e.msg);
                cut = start + h.size;
            }
        }
    }
    if (at) {
        /* The entry must name the batch at its position (checked when its page is resident,
         * as the start's entry is; a cold one is trusted, as Kafka trusts its index, and is
         * checked by the first read that finds its page resident). */
        cut = at->pos;
        int r = cut < end ? log__segment_header_warm(seg, cut, end, &rp, &h, &e) : LOG_HDR_COLD;
        if (r == LOG_HDR_BAD ||
            (r == LOG_HDR_OK &&
             (log_batch_last(&h) != seg->base + (int64_t)at->rel ||
              (at->first != LOG_IDX_FIRST_UNKNOWN && h.base != seg->base + (int64_t)at->first)))) {
            log__segment_index_damaged(seg, at);
            *startp = 0;
            return RANGE_WALK;
        }
    }
    /* Further whole batches, from headers that are resident. */
    while (cut < end) {
        if (cut >= limit)
            break;
        int r = log__segment_header_warm(seg, cut, end, &rp, &h, &e);
        if (r == LOG_HDR_COLD)
            break;
        if (r == LOG_HDR_BAD)
            return rl_err_set(err, RL_ECORRUPT, "%s: byte %llu: %s", seg->path,
                              (unsigned long long)cut, e.msg);
        if (h.base >= hwm || h.size > limit - cut)
            break;
        cut += h.size;
    }
    *startp = start;
    *endp = cut;
    return RANGE_DONE;
}

int log__partition_read(log_partition *p, int64_t offset, size_t max_bytes, log_read *out,
                        rl_err *err)
{
    int64_t hwm = atomic_load_explicit(&p->hwm, memory_order_acquire);
    out->bytes = rl_slice_make(NULL, 0);
    out->pin = NULL;
    out->log_start = atomic_load_explicit(&p->log_start, memory_order_relaxed);
    out->high_watermark = hwm;
    if (offset < out->log_start || offset > hwm)
        return rl_err_set(err, RL_ERANGE, "%s: offset %lld outside [%lld, %lld]", p->dir,
                          (long long)offset, (long long)out->log_start, (long long)hwm);
    if (offset == hwm)
        return 0;
    pthread_mutex_lock(&p->lock);
    /* Retention may have moved the log start since it was loaded: check again under the
     * lock, which also keeps the segment in the list until it is pinned. */
    int64_t log_start = atomic_load_explicit(&p->log_start, memory_order_relaxed);
    if (offset < log_start) {
        pthread_mutex_unlock(&p->lock);
        out->log_start = log_start;
        return rl_err_set(err, RL_ERANGE, "%s: offset %lld below the log start %lld", p->dir,
                          (long long)offset, (long long)log_start);
    }
    size_t si = find_seg(p, offset);
    log_segment *seg = p->segs[si];
    /* Every batch of seg is below the high watermark when the next segment starts at or
     * below it; committed (loaded after hwm) then covers them all. */
    bool all_committed = si + 1 < p->nsegs && p->segs[si + 1]->base <= hwm;
    uint64_t end = atomic_load_explicit(&seg->committed, memory_order_acquire);
    uint64_t start = 0, cut = 0;
    /* Header preads go through the store's table of read descriptors (segment.c). */
    log__segment_rfds_attach(seg, &p->store->rfds);
    int rc = index_range(seg, all_committed, end, offset, hwm, max_bytes, &start, &cut, err);
    log__segment_ref(seg);
    pthread_mutex_unlock(&p->lock);
    if (rc == RANGE_WALK)
        rc = walk_range(seg, start, end, offset, hwm, max_bytes, &start, &cut, err);
    if (rc != 0) {
        log__segment_unref(seg);
        return rc;
    }
    out->bytes = rl_slice_make(seg->map + start, (size_t)(cut - start));
    out->pin = seg;
    return 0;
}

typedef struct time_find {
    int64_t ts;
    int64_t min_offset;
    int64_t found;
} time_find;

static int time_find_rec(void *ctx, const log_record *rec)
{
    time_find *tf = ctx;
    if (rec->offset >= tf->min_offset && rec->timestamp >= tf->ts) {
        tf->found = rec->offset;
        return RL_ESTOPPED; /* found: stop decoding */
    }
    return 0;
}

int log__partition_offset_for_time(log_partition *p, int64_t ts_ms, int64_t *offset)
{
    int64_t hwm = atomic_load_explicit(&p->hwm, memory_order_acquire);
    rl_buf scratch = RL_BUF_INIT;
    int rc = 0;
    int64_t after = INT64_MIN; /* base of the segment looked at last */
    *offset = hwm;
    for (;;) {
        /* Segments are found by base offset, not index: retention may drop the first ones
         * between two iterations. */
        pthread_mutex_lock(&p->lock);
        size_t i = 0;
        while (i < p->nsegs && p->segs[i]->base <= after)
            i++;
        if (i >= p->nsegs) {
            pthread_mutex_unlock(&p->lock);
            break;
        }
        log_segment *seg = p->segs[i];
        after = seg->base;
        if (seg->base >= hwm) {
            /* Only uncommitted data from here on (and a segment above hwm may be removed by
             * log_store_abort as soon as the lock is released). */
            pthread_mutex_unlock(&p->lock);
            break;
        }
        if (i + 1 < p->nsegs && seg->max_ts < ts_ms) {
            pthread_mutex_unlock(&p->lock);
            continue; /* a sealed segment with every timestamp below ts */
        }
        /* The last time index entry below ts: every record up to it is older than ts. */
        size_t lo = 0, hi = seg->ntidx;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (seg->tidx[mid].ts < ts_ms)
                lo = mid + 1;
            else
                hi = mid;
        }
        int64_t from = lo ? seg->base + seg->tidx[lo - 1].rel + 1 : seg->base;
        if (lo && !log__segment_time_entry_ok(seg, lo - 1))
            from = seg->base; /* a damaged time entry: the whole segment is searched */
        uint64_t pos = log__segment_scan_start(seg, from);
        const uint8_t *map = seg->map;
        log__segment_ref(seg);
        pthread_mutex_unlock(&p->lock);
        uint64_t end = atomic_load_explicit(&seg->committed, memory_order_acquire);
        bool stop = false;
        while (pos < end && !stop) {
            log_batch_hdr h;
            rl_slice rest = rl_slice_make(map + pos, (size_t)(end - pos));
            if (log__batch_header(rest, false, &h, NULL) != 0) {
                rc = RL_ECORRUPT;
                break;
            }
            if (h.base >= hwm) {
                stop = true;
                break;
            }
            if (log_batch_last(&h) >= from && h.max_ts >= ts_ms) {
                time_find tf = {ts_ms, from, -1};
                int r = log_batch_decode(rl_slice_make(map + pos, h.size), &scratch,
                                         LOG_UNCOMPRESSED_MAX, time_find_rec, &tf, NULL);
                if (r == RL_ESTOPPED) {
                    *offset = tf.found;
                    stop = true;
                    break;
                }
                if (r < 0) {
                    rc = r;
                    break;
                }
            }
            pos += h.size;
        }
        log__segment_unref(seg);
        if (rc != 0 || stop)
            break;
    }
    rl_buf_free(&scratch);
    return rc;
}

/* ------------------------------------------------------------------ retention */

int log__partition_retain(log_partition *p, const log_topic_config *cfg, int64_t now_ms)
{
    if (!(cfg->cleanup & LOG_CLEANUP_DELETE) || (cfg->retention_ms < 0 && cfg->retention_bytes < 0))
        return 0;
    /* Decided under the lock: a compaction pass swaps sealed segments in place. */
    pthread_mutex_lock(&p->lock);
    if (p->compacting) {
        /* A compaction pass is rewriting these segments: retention waits for the next call
         * rather than block the writer. */
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < p->nsegs; i++)
        total += p->segs[i]->size;
    size_t drop = 0;
    /* Candidates: sealed segments before the one active at the last publish (anything after
     * may hold uncommitted batches that log_store_abort would bring back). */
    int64_t commit_base = atomic_load_explicit(&p->commit_base, memory_order_relaxed);
    while (drop < 64 && drop + 1 < p->nsegs && p->segs[drop]->base < commit_base) {
        const log_segment *seg = p->segs[drop];
        bool old = cfg->retention_ms >= 0 && seg->max_ts != INT64_MIN &&
                   now_ms - seg->max_ts > cfg->retention_ms;
        bool big = cfg->retention_bytes >= 0 && total - seg->size >= (uint64_t)cfg->retention_bytes;
        if (!old && !big)
            break;
        total -= seg->size;
        drop++;
    }
    log_segment *victims[64]; /* at most 64 per call: the rest at the next one */
    if (drop > 0) {
        memcpy(victims, p->segs, drop * sizeof(log_segment *));
        memmove(p->segs, p->segs + drop, (p->nsegs - drop) * sizeof(log_segment *));
        p->nsegs -= drop;
        atomic_store_explicit(&p->log_start, p->segs[0]->base, memory_order_release);
    }
    pthread_mutex_unlock(&p->lock);
    if (drop == 0)
        return 0;
    /* Segment indexes moved down (sync_from is at or after the commit_base segment). */
    if (p->sync_from != SIZE_MAX)
        p->sync_from -= drop;
    for (size_t i = 0; i < drop; i++) {
        log_segment *seg = victims[i];
        rl_info("%s: retention: deleting offsets %lld..%lld (%llu bytes, newest record %lld ms "
                "old)",
                seg->path, (long long)seg->base, (long long)(seg->next - 1),
                (unsigned long long)seg->size, (long long)(now_ms - seg->max_ts));
        /* Index files first (log__segment_unlink); the mapping outlives the unlink. */
        log__segment_unlink(p->dir, seg->base, LOG_FILE_ALL);
        log__segment_unref(seg);
    }
    log__count(&p->store->n_deleted, drop);
    p->dir_dirty = true;
    return (int)drop;
}
