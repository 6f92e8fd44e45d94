/*
 * compact.c - log compaction (cleanup.policy=compact; Kafka's LogCleaner, simplified):
 * keeps the latest record per key in the sealed, committed segments of a partition.
 *
 * A pass over one partition (log_store_compact, on the caller's maintenance thread; appends
 * and reads go on meanwhile):
 *   1. Under the partition lock, take the sealed segments below the segment that was active
 *      at the last durable commit (commit_base: nothing there is uncommitted or written to),
 *      pin them, and mark the partition `compacting` (retention skips it until the pass
 *      ends). Skip the pass when no new segment was sealed since the last one (clean_end).
 *   2. Map every key of those segments to its latest offset: a hash table of 128-bit key
 *      hashes (two independent 64-bit hashes, like Kafka's MD5 of the key) with at most
 *      COMPACT_MAX_KEYS entries, so memory stays bounded (24 bytes a slot). When the table
 *      fills, the pass only cleans the segments mapped completely before that point; a key
 *      whose later record lies beyond them is merely kept longer.
 *   3. Rewrite each mapped segment that has something to drop: a record is dropped when its
 *      key's latest offset is later, or when it is the latest and a tombstone (null value)
 *      whose timestamp is more than delete.retention.ms old. Records keep their offsets and
 *      timestamps; null-key records are always kept. Retained records of consecutive batches
 *      are packed into batches of up to batch_bytes whose baseOffset and lastOffsetDelta
 *      span exactly the offsets of the batches they replace, so batches still tile the
 *      offset space (recovery's contiguity check holds; the segment's base and end offsets do
 *      not change) and a range with nothing left becomes one empty batch (recordsCount 0).
 *      Consumers see gaps between offsets, as with Kafka.
 *   4. Atomic replacement: write "<base>.log.tmp", fsync it, unlink the old .index and
 *      .timeindex (a crash now only makes the open rebuild them), rename over the .log,
 *      fsync the directory, load the new file (its indexes rebuilt and written), then swap
 *      the segment in the partition's list under the lock. Readers holding the old segment
 *      keep its mapping (the old inode) until they release their pin. Leftover ".tmp" files
 *      are deleted at open.
 * The map and the clean point are not persisted: the first pass after an open maps again.
 * Segments are not merged (a compacted segment just gets smaller).
 */
#include "log/log_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Upper bound on distinct keys mapped in one pass (1M slots of 24 bytes at 3/4 load). */
#define COMPACT_MAX_SLOTS (1u << 20)
#define COMPACT_MAX_KEYS (COMPACT_MAX_SLOTS / 4 * 3)
/* Output is written in chunks of this size (one write syscall per chunk, not per batch). */
#define COMPACT_WRITE_CHUNK (1u << 20)

/* ------------------------------------------------------------------ key map */

typedef struct kslot {
    uint64_t a, b; /* the key's two hashes; a slot is empty when off < 0 */
    int64_t off;   /* latest offset of the key */
} kslot;

typedef struct kmap {
    kslot *s;
    size_t cap, n;
} kmap;

static inline uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return k;
}

/* A 64-bit hash of a key (8-byte words, murmur3-style mixing), seeded. */
static uint64_t khash(const uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15ull);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        w *= 0x87c37b91114253d5ull;
        w = rotl64(w, 31);
        w *= 0x4cf5ad432745937full;
        h ^= w;
        h = rotl64(h, 27) * 5 + 0x52dce729;
    }
    uint64_t t = 0;
    for (size_t k = 0; i + k < n; k++)
        t |= (uint64_t)p[i + k] << (8 * k);
    h ^= fmix64(t ^ seed);
    return fmix64(h);
}

static int kmap_grow(kmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    kslot *s = malloc(cap * sizeof *s);
    if (!s)
        return -ENOMEM;
    for (size_t i = 0; i < cap; i++)
        s[i].off = -1;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->s[i].off < 0)
            continue;
        size_t j = (size_t)m->s[i].a & (cap - 1);
        while (s[j].off >= 0)
            j = (j + 1) & (cap - 1);
        s[j] = m->s[i];
    }
    free(m->s);
    m->s = s;
    m->cap = cap;
    return 0;
}

/* Slot of the key (a, b): the existing one, or the empty one where it would go. */
static kslot *kmap_slot(const kmap *m, uint64_t a, uint64_t b)
{
    size_t j = (size_t)a & (m->cap - 1);
    while (m->s[j].off >= 0 && (m->s[j].a != a || m->s[j].b != b))
        j = (j + 1) & (m->cap - 1);
    return &m->s[j];
}

/* Records offset as the latest for key. Returns 0, RL_ETOOBIG (the map is full: a new key
 * was not added) or -ENOMEM. */
static int kmap_put(kmap *m, rl_slice key, int64_t off)
{
    uint64_t a = khash(key.p, key.len, 0x2545f4914f6cdd1dull);
    uint64_t b = khash(key.p, key.len, 0x9e3779b97f4a7c15ull);
    if (m->cap == 0 || (m->n + 1) * 4 > m->cap * 3) {
        if (m->cap >= COMPACT_MAX_SLOTS) {
            kslot *s = kmap_slot(m, a, b);
            if (s->off < 0)
                return RL_ETOOBIG;
            s->off = off;
            return 0;
        }
        if (kmap_grow(m) != 0)
            return -ENOMEM;
    }
    kslot *s = kmap_slot(m, a, b);
    if (s->off < 0)
        m->n++;
    s->a = a;
    s->b = b;
    s->off = off;
    return 0;
}

static int64_t kmap_get(const kmap *m, rl_slice key)
{
    if (m->cap == 0)
        return -1;
    kslot *s = kmap_slot(m, khash(key.p, key.len, 0x2545f4914f6cdd1dull),
                         khash(key.p, key.len, 0x9e3779b97f4a7c15ull));
    return s->off;
}

/* ------------------------------------------------------------------ pass state */

typedef struct compactor {
    log_partition *p;
    const log_topic_config *cfg;
    int64_t now_ms;
    log_codec *cz;
    kmap map;
    rl_buf scratch;
    rl_err *err;
    /* rewriting */
    log_batch_builder bb;
    int64_t group_base;   /* baseOffset of the output batch being filled (-1: none) */
    int64_t group_last;   /* last offset of the input batches it replaces */
    int64_t group_max_ts; /* their largest maxTimestamp (for an empty batch) */
    rl_buf out;           /* output bytes not written yet */
    int fd;
    const char *tmp; /* output file path, for messages */
    uint64_t written;
    size_t dropped;
} compactor;

static int map_rec(void *ctx, const log_record *rec)
{
    compactor *c = ctx;
    if (!rec->key.p)
        return 0;
    return kmap_put(&c->map, rec->key, rec->offset);
}

static bool keep_rec(const compactor *c, const log_record *rec)
{
    if (!rec->key.p)
        return true;
    int64_t latest = kmap_get(&c->map, rec->key);
    if (latest > rec->offset)
        return false; /* superseded by a later record of the same key */
    if (!rec->value.p && latest == rec->offset &&
        c->now_ms - rec->timestamp > c->cfg->delete_retention_ms)
        return false; /* a tombstone past delete.retention.ms */
    return true;
}

static int count_rec(void *ctx, const log_record *rec)
{
    compactor *c = ctx;
    if (!keep_rec(c, rec))
        c->dropped++;
    return 0;
}

/* Walks the batches of a sealed segment, decoding each with fn. */
static int walk(compactor *c, const log_segment *seg, int (*fn)(void *, const log_record *),
                int (*per_batch)(compactor *, const log_batch_hdr *))
{
    uint64_t pos = 0;
    while (pos < seg->size) {
        log_batch_hdr h;
        rl_slice rest = rl_slice_make(seg->map + pos, (size_t)(seg->size - pos));
        if (log__batch_header(rest, false, &h, NULL) != 0)
            return rl_err_set(c->err, RL_ECORRUPT, "%s: byte %llu: batch header does not parse",
                              seg->path, (unsigned long long)pos);
        int rc = per_batch ? per_batch(c, &h) : 0;
        if (rc != 0)
            return rc;
        rc = log_batch_decode(rl_slice_make(seg->map + pos, h.size), &c->scratch,
                              LOG_UNCOMPRESSED_MAX, fn, c, c->err);
        if (rc < 0) {
            if (rc == RL_ETOOBIG && fn == map_rec)
                return rc; /* the map is full: the caller stops mapping here */
            return rl_err_wrap(c->err, rc, "%s: byte %llu", seg->path, (unsigned long long)pos);
        }
        pos += h.size;
    }
    return 0;
}

/* ------------------------------------------------------------------ rewriting */

static int out_flush(compactor *c, const char *path)
{
    int rc = log__pwrite_all(&log__io_system, c->fd, c->out.p, c->out.len, c->written);
    if (rc != 0)
        return rl_err_set(c->err, rc, "%s: write: %s", path, strerror(-rc));
    c->written += c->out.len;
    rl_buf_reset(&c->out);
    return 0;
}

/* Ends the output batch being filled (spanning [group_base, group_last]). */
static int group_end(compactor *c, const char *path)
{
    if (c->group_base < 0)
        return 0;
    if (c->bb.count == 0)
        c->bb.base_ts = c->bb.max_ts = c->group_max_ts;
    rl_slice batch;
    int rc = log__builder_finish_span(&c->bb, c->cz, c->group_base,
                                      (int32_t)(c->group_last - c->group_base), &batch, c->err);
    if (rc != 0)
        return rl_err_wrap(c->err, rc, "%s", path);
    rl_buf_append(&c->out, batch.p, batch.len);
    if (!rl_buf_ok(&c->out))
        return rl_err_set(c->err, -ENOMEM, "%s: out of memory", path);
    log__builder_reset(&c->bb);
    c->group_base = -1;
    if (c->out.len >= COMPACT_WRITE_CHUNK)
        return out_flush(c, path);
    return 0;
}

static int rewrite_rec(void *ctx, const log_record *rec)
{
    compactor *c = ctx;
    if (!keep_rec(c, rec))
        return 0;
    int rc = log__builder_add_at(&c->bb, rec->key, rec->value, rec->timestamp,
                                 (int32_t)(rec->offset - c->group_base));
    if (rc != 0)
        return rl_err_set(c->err, rc, "out of memory for a compacted batch");
    return 0;
}

/* Called before each input batch: starts a new output batch when the current one is full. */
static int rewrite_batch(compactor *c, const log_batch_hdr *h)
{
    if (c->group_base >= 0 &&
        (log__builder_records_bytes(&c->bb) >= c->p->store->opts.batch_bytes ||
         log_batch_last(h) - c->group_base > INT32_MAX)) {
        int rc = group_end(c, c->tmp);
        if (rc != 0)
            return rc;
    }
    if (c->group_base < 0) {
        c->group_base = h->base;
        c->group_max_ts = h->max_ts;
    }
    c->group_last = log_batch_last(h);
    if (h->max_ts > c->group_max_ts)
        c->group_max_ts = h->max_ts;
    return 0;
}

/* Rewrites seg without the dropped records and swaps it in. Returns 0 or an error. */
static int rewrite_segment(compactor *c, log_segment *seg)
{
    log_partition *p = c->p;
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", seg->path) >= (int)sizeof tmp)
        return rl_err_set(c->err, -ENAMETOOLONG, "%s: path too long", seg->path);
    c->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (c->fd < 0)
        return rl_err_set(c->err, -errno, "%s: create: %s", tmp, strerror(errno));
    c->group_base = -1;
    c->tmp = tmp;
    c->written = 0;
    rl_buf_reset(&c->out);
    log__builder_reset(&c->bb);
    log_segment *nseg = NULL;
    int rc = walk(c, seg, rewrite_rec, rewrite_batch);
    if (rc == 0)
        rc = group_end(c, tmp);
    if (rc == 0)
        rc = out_flush(c, tmp);
    if (rc == 0 && fsync(c->fd) != 0)
        rc = rl_err_set(c->err, -errno, "%s: fsync: %s", tmp, strerror(errno));
    close(c->fd);
    c->fd = -1;
    if (rc != 0)
        goto fail;
    /* From here the old index files are stale: remove them before the data changes. */
    log__segment_unlink(p->dir, seg->base, LOG_FILE_INDEXES);
    if (rename(tmp, seg->path) != 0) {
        rc = rl_err_set(c->err, -errno, "%s: rename: %s", tmp, strerror(errno));
        goto fail;
    }
    if ((rc = rl_dir_fsync(p->dir)) != 0) {
        rc = rl_err_set(c->err, rc, "%s: fsync: %s", p->dir, strerror(-rc));
        return rc; /* the new file is in place; the old segment object still serves reads */
    }
    uint64_t fsize;
    if ((rc = log__segment_open_file(p->dir, seg->base, 0, &nseg, &fsize, c->err)) != 0)
        return rc;
    if ((rc = log__segment_load_sealed(nseg, p->dir, fsize, c->err)) != 0 ||
        (rc = log__gidx_load(nseg, p->dir, INT64_MAX, false, c->err)) != 0) {
        log__segment_free(nseg);
        return rc;
    }
    close(nseg->fd);
    nseg->fd = -1;
    atomic_store_explicit(&nseg->committed, nseg->size, memory_order_relaxed);
    if (nseg->next != seg->next) {
        rc = rl_err_set(c->err, RL_ECORRUPT, "%s: compacted copy ends at %lld, not %lld", seg->path,
                        (long long)nseg->next, (long long)seg->next);
        log__segment_free(nseg);
        return rc;
    }
    bool swapped = false;
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->nsegs; i++) {
        if (p->segs[i] == seg) {
            p->segs[i] = nseg;
            swapped = true;
            break;
        }
    }
    pthread_mutex_unlock(&p->lock);
    RL_ASSERT(swapped); /* retention and abort leave a compacting partition's segments alone */
    rl_info("%s: compacted: %zu records dropped, %llu -> %llu bytes", seg->path, c->dropped,
            (unsigned long long)seg->size, (unsigned long long)nseg->size);
    log__segment_unref(seg); /* the list's reference; the pass still holds its pin */
    return 0;
fail:
    unlink(tmp);
    return rc;
}

/* ------------------------------------------------------------------ one partition */

int log__partition_compact(log_partition *p, const log_topic_config *cfg, int64_t now_ms,
                           log_codec *cz, rl_err *err)
{
    compactor c;
    memset(&c, 0, sizeof c);
    c.p = p;
    c.cfg = cfg;
    c.now_ms = now_ms;
    c.cz = cz;
    c.err = err;
    c.fd = -1;
    log_segment **segs = NULL;
    size_t k = 0;
    int rc = 0, rewritten = 0;

    pthread_mutex_lock(&p->lock);
    int64_t commit_base = atomic_load_explicit(&p->commit_base, memory_order_acquire);
    while (k + 1 < p->nsegs && p->segs[k]->base < commit_base)
        k++;
    if (k == 0 || p->segs[k - 1]->next <= p->clean_end) {
        pthread_mutex_unlock(&p->lock);
        return 0; /* nothing sealed since the last pass */
    }
    segs = malloc(k * sizeof(log_segment *));
    if (!segs) {
        pthread_mutex_unlock(&p->lock);
        return rl_err_set(err, -ENOMEM, "%s: out of memory", p->dir);
    }
    for (size_t i = 0; i < k; i++) {
        segs[i] = p->segs[i];
        log__segment_ref(segs[i]);
    }
    p->compacting = true;
    pthread_mutex_unlock(&p->lock);

    size_t mapped = 0;
    for (; mapped < k; mapped++) {
        rc = walk(&c, segs[mapped], map_rec, NULL);
        if (rc == RL_ETOOBIG) {
            rl_info("%s: compaction: key map full after %zu keys; cleaning %zu of %zu segments "
                    "this pass",
                    p->dir, c.map.n, mapped, k);
            rc = 0;
            break;
        }
        if (rc != 0)
            goto done;
    }
    for (size_t i = 0; i < mapped; i++) {
        c.dropped = 0;
        if ((rc = walk(&c, segs[i], count_rec, NULL)) != 0)
            goto done;
        if (c.dropped == 0)
            continue;
        if ((rc = rewrite_segment(&c, segs[i])) != 0)
            goto done;
        rewritten++;
        log__count(&p->store->n_compacted, 1);
    }
    if (mapped > 0)
        p->clean_end = segs[mapped - 1]->next;
done:
    pthread_mutex_lock(&p->lock);
    p->compacting = false;
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < k; i++)
        log__segment_unref(segs[i]);
    free(segs);
    free(c.map.s);
    rl_buf_free(&c.scratch);
    rl_buf_free(&c.out);
    rl_buf_free(&c.bb.buf);
    return rc != 0 ? rc : rewritten;
}
