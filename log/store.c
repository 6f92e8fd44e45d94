/*
 * store.c - the log store: topics (one directory per partition, "<topic>-<id>"), the
 * checkpoint, commit, and open/recovery. See log.h for the contract, docs/format-log.md for
 * the files.
 *
 * DIR/checkpoint: two slots of S bytes (S a multiple of 4096; file size 2*S), each holding
 * an image, big-endian:
 *
 *   off  size  field
 *     0     4  magic "RLCP"
 *     4     2  version (2)
 *     6     4  image length L (<= S)
 *    10     8  sequence number (one more per commit)
 *    18     4  blob length B (<= 65536)
 *    22     B  the caller's opaque source position
 *     .     4  topic count T, then per topic, in name order:
 *                 2  name length N (1..249)
 *                 N  name ([A-Za-z0-9._-])
 *                 4  partition count P (1..10000)
 *               8*P  end offset of each partition (offset after its last committed record)
 *     .     4  CRC32C (rl_crc32c) of the L - 4 bytes before it
 *
 * A commit writes its image in place into the slot NOT holding the last durable one (slot
 * seq % 2) and fdatasyncs the file (its size never changes): one sync instead of a temp file,
 * rename and two fsyncs. A crash during that write leaves the other slot intact. On open the
 * valid slot with the larger sequence is used; a damaged other slot is logged (a torn,
 * uncompleted commit, or later damage). A new file, a version 1 file (the whole file is one
 * image: magic, version 1, then the fields from "blob length" on) and an image outgrowing its
 * slot are replaced whole with rl_file_replace (both slots alike, S = twice the image rounded
 * up to 4096).
 *
 * A checkpoint with no valid image makes open fail with RL_ECORRUPT: it is the only record of
 * what was committed, so guessing is not safe.
 *
 * Commit order (the durability contract in log.h): write every open batch; fdatasync every
 * segment written since the last commit (and the partition directory when a segment file was
 * created); replace the checkpoint; publish the committed byte counts and high watermarks;
 * call the hook. A failure in any step poisons the store (STYLE rule 10): the store refuses
 * further appends and commits, and a reopen recovers to the last good checkpoint.
 */
#include "log/log_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define CKPT_MAGIC "RLCP"
#define CKPT_VERSION 2
#define CKPT_FILE_MAX (256u << 20)
#define CKPT_SLOT_ALIGN 4096u

bool log__topic_name_ok(const char *p, size_t n)
{
    if (n == 0 || n > LOG_TOPIC_MAX)
        return false;
    if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* ------------------------------------------------------------------ errors */

static int poison(log_store_t *store, int rc, const rl_err *err)
{
    if (store->poison == 0) {
        store->poison = rc;
        atomic_store_explicit(&store->n_error, rc, memory_order_relaxed);
        store->poison_err.code = rc;
        snprintf(store->poison_err.msg, sizeof store->poison_err.msg, "%s",
                 err && err->code ? err->msg : rl_strerror(rc));
        rl_error("log: %s (the log refuses further writes until reopened)", store->poison_err.msg);
    }
    return rc;
}

static int poisoned(const log_store_t *store, rl_err *err)
{
    return rl_err_set(err, store->poison, "log unusable after an earlier error: %s",
                      store->poison_err.msg);
}

/* ------------------------------------------------------------------ topics */

static int cmp_name(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

/* Position of name in the sorted topics array (*found says whether it is there). */
static size_t topic_pos(const log_store_t *store, const char *name, size_t len, bool *found)
{
    size_t lo = 0, hi = store->ntopics;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const log_topic *t = store->topics[mid];
        int c = cmp_name(t->name, t->name_len, name, len);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static log_topic *topic_find(const log_store_t *store, const char *name, size_t len)
{
    bool found;
    size_t i = topic_pos(store, name, len, &found);
    return found ? store->topics[i] : NULL;
}

static void topic_free(log_topic *t)
{
    if (!t)
        return;
    for (uint32_t i = 0; i < t->nparts; i++)
        log__partition_close(t->parts[i]);
    free(t->parts);
    free(t);
}

static log_topic *topic_alloc(const char *name, size_t len, uint32_t nparts)
{
    log_topic *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->parts = calloc(nparts, sizeof(log_partition *));
    if (!t->parts) {
        free(t);
        return NULL;
    }
    memcpy(t->name, name, len);
    t->name[len] = 0;
    t->name_len = len;
    return t;
}

/* Inserts t in name order (under the write lock: readers search the array). */
static int topic_insert(log_store_t *store, log_topic *t)
{
    bool found;
    size_t at = topic_pos(store, t->name, t->name_len, &found);
    RL_ASSERT(!found);
    int rc = 0;
    pthread_rwlock_wrlock(&store->topics_lock);
    if (store->ntopics == store->captopics) {
        size_t cap = store->captopics ? store->captopics * 2 : 16;
        log_topic **n = realloc(store->topics, cap * sizeof(log_topic *));
        if (!n) {
            rc = -ENOMEM;
            goto done;
        }
        store->topics = n;
        store->captopics = cap;
    }
    memmove(store->topics + at + 1, store->topics + at,
            (store->ntopics - at) * sizeof(log_topic *));
    store->topics[at] = t;
    store->ntopics++;
done:
    pthread_rwlock_unlock(&store->topics_lock);
    return rc;
}

/* ------------------------------------------------------------------ checkpoint file */

typedef struct ck_topic {
    const char *name; /* not NUL-terminated: points into the file image */
    size_t name_len;
    uint32_t nparts;
    const uint8_t *offsets; /* nparts big-endian i64 */
    bool seen;
} ck_topic;

typedef struct ck_file {
    rl_buf image;           /* the whole file */
    size_t img_at, img_len; /* the image in use: [img_at, img_at + img_len) of the file */
    uint32_t slot;          /* version 2: slot size (0 for a version 1 file) */
    uint64_t seq;           /* version 2: the image's sequence number */
    rl_slice blob;
    ck_topic *topics;
    size_t ntopics;
    bool present;
} ck_file;

static int64_t ck_offset(const ck_topic *ct, uint32_t id)
{
    if (!ct || id >= ct->nparts)
        return 0;
    rl_reader rd = rl_reader_make(rl_slice_make(ct->offsets + (size_t)id * 8, 8));
    return rl_get_i64be(&rd);
}

static int cmp_ck_topic(const void *a, const void *b)
{
    const ck_topic *x = a, *y = b;
    return cmp_name(x->name, x->name_len, y->name, y->name_len);
}

static ck_topic *ck_find(ck_file *ck, const char *name, size_t len)
{
    size_t lo = 0, hi = ck->ntopics;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_name(ck->topics[mid].name, ck->topics[mid].name_len, name, len);
        if (c == 0)
            return &ck->topics[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void ck_free(ck_file *ck)
{
    rl_buf_free(&ck->image);
    free(ck->topics);
    memset(ck, 0, sizeof *ck);
}

/* Parses one image (a version 1 file, or one slot of a version 2 file) at [at, at + len) of
 * ck->image into ck's blob, seq and topics. */
static int ck_parse(const char *path, ck_file *ck, size_t at, size_t len, rl_err *err)
{
    const uint8_t *p = ck->image.p + at;
    free(ck->topics);
    ck->topics = NULL;
    ck->ntopics = 0;
    if (len < 18)
        return rl_err_set(err, RL_ECORRUPT, "%s: byte %zu: %zu bytes, too short for a checkpoint",
                          path, at, len);
    rl_reader crd = rl_reader_make(rl_slice_make(p + len - 4, 4));
    uint32_t stored = (uint32_t)rl_get_i32be(&crd);
    uint32_t crc = rl_crc32c(0, p, len - 4);
    if (stored != crc)
        return rl_err_set(err, RL_ECORRUPT,
                          "%s: byte %zu: CRC32C mismatch (stored %08x, computed %08x): torn or "
                          "edited",
                          path, at, stored, crc);
    rl_reader rd = rl_reader_make(rl_slice_make(p, len - 4));
    rl_slice magic = rl_get_bytes(&rd, 4);
    if (rd.err || memcmp(magic.p, CKPT_MAGIC, 4) != 0)
        return rl_err_set(err, RL_ECORRUPT, "%s: not a rowlog checkpoint (bad magic)", path);
    int version = rl_get_i16be(&rd);
    if (version != 1 && version != CKPT_VERSION)
        return rl_err_set(err, RL_EUNSUPPORTED, "%s: checkpoint version %d (this build reads 1-%d)",
                          path, version, CKPT_VERSION);
    ck->seq = 0;
    if (version == 2) {
        rl_get_i32be(&rd); /* image length: checked by the caller */
        ck->seq = (uint64_t)rl_get_i64be(&rd);
    }
    uint32_t blen = (uint32_t)rl_get_i32be(&rd);
    if (blen > LOG_CHECKPOINT_BLOB_MAX)
        return rl_err_set(err, RL_ECORRUPT, "%s: blob of %u bytes", path, blen);
    ck->blob = rl_get_bytes(&rd, blen);
    uint32_t nt = (uint32_t)rl_get_i32be(&rd);
    if (rd.err || nt > rl_reader_left(&rd) / 7)
        return rl_err_set(err, RL_ECORRUPT, "%s: bad topic count at byte %zu", path,
                          at + (size_t)(rd.p - p));
    ck->topics = calloc(nt ? nt : 1, sizeof *ck->topics);
    if (!ck->topics)
        return rl_err_set(err, -ENOMEM, "%s: out of memory", path);
    for (uint32_t i = 0; i < nt; i++) {
        ck_topic *ct = &ck->topics[i];
        size_t pos = at + (size_t)(rd.p - p);
        uint16_t nlen = (uint16_t)rl_get_i16be(&rd);
        rl_slice name = rl_get_bytes(&rd, nlen);
        uint32_t np = (uint32_t)rl_get_i32be(&rd);
        if (rd.err || !log__topic_name_ok((const char *)name.p, name.len) || np == 0 ||
            np > LOG_PARTITIONS_MAX)
            return rl_err_set(err, RL_ECORRUPT, "%s: bad topic entry at byte %zu", path, pos);
        rl_slice offs = rl_get_bytes(&rd, (size_t)np * 8);
        if (rd.err)
            return rl_err_set(err, RL_ECORRUPT, "%s: truncated topic entry at byte %zu", path, pos);
        ct->name = (const char *)name.p;
        ct->name_len = name.len;
        ct->nparts = np;
        ct->offsets = offs.p;
        for (uint32_t k = 0; k < np; k++)
            if (ck_offset(ct, k) < 0)
                return rl_err_set(err, RL_ECORRUPT, "%s: negative end offset at byte %zu", path,
                                  pos);
        ck->ntopics++;
    }
    if (rl_reader_left(&rd) != 0)
        return rl_err_set(err, RL_ECORRUPT, "%s: %zu unexpected bytes before the CRC", path,
                          rl_reader_left(&rd));
    if (ck->ntopics > 0)
        qsort(ck->topics, ck->ntopics, sizeof *ck->topics, cmp_ck_topic);
    for (size_t i = 1; i < ck->ntopics; i++)
        if (cmp_ck_topic(&ck->topics[i - 1], &ck->topics[i]) == 0)
            return rl_err_set(err, RL_ECORRUPT, "%s: topic %.*s listed twice", path,
                              (int)ck->topics[i].name_len, ck->topics[i].name);
    ck->img_at = at;
    ck->img_len = len;
    return 0;
}

/* Length field of the version 2 image in the slot at `at` (0 when it does not fit). */
static size_t ck_slot_len(const ck_file *ck, size_t at, size_t slot)
{
    rl_reader rd = rl_reader_make(rl_slice_make(ck->image.p + at + 6, 4));
    uint32_t len = (uint32_t)rl_get_i32be(&rd);
    return len >= 30 && len <= slot ? len : 0;
}

static bool all_zero_slot(const ck_file *ck, size_t at, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ck->image.p[at + i])
            return false;
    return true;
}

static int ck_read(const char *dir, ck_file *ck, rl_err *err)
{
    char path[PATH_MAX];
    memset(ck, 0, sizeof *ck);
    if (snprintf(path, sizeof path, "%s/checkpoint", dir) >= (int)sizeof path)
        return rl_err_set(err, -ENAMETOOLONG, "%s: path too long", dir);
    int rc = rl_file_read_all(path, &ck->image, CKPT_FILE_MAX, err);
    if (rc == -ENOENT) {
        if (err) {
            err->code = 0;
            err->msg[0] = 0;
        }
        return 0; /* a new log, or one never committed */
    }
    if (rc != 0)
        return rc;
    ck->present = true;
    size_t n = ck->image.len;
    /* Version 2 when either slot says so (one may be damaged); else a version 1 file. */
    bool v2 = false;
    if (n >= 2 * (size_t)CKPT_SLOT_ALIGN && n % (2 * (size_t)CKPT_SLOT_ALIGN) == 0)
        for (size_t i = 0; i < 2; i++) {
            const uint8_t *h = ck->image.p + i * (n / 2);
            if (memcmp(h, CKPT_MAGIC, 4) == 0 && h[4] == 0 && h[5] == CKPT_VERSION)
                v2 = true;
        }
    if (!v2)
        return ck_parse(path, ck, 0, n, err);
    /* Version 2: two slots of n / 2 bytes; the valid one with the larger sequence wins. */
    size_t slot = n / 2;
    rl_err e[2] = {{0, ""}, {0, ""}};
    int r[2];
    uint64_t seq[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        size_t len = ck_slot_len(ck, (size_t)i * slot, slot);
        r[i] = len ? ck_parse(path, ck, (size_t)i * slot, len, &e[i])
                   : rl_err_set(&e[i], RL_ECORRUPT, "%s: byte %zu: bad checkpoint length", path,
                                (size_t)i * slot);
        seq[i] = ck->seq;
    }
    if (r[0] != 0 && r[1] != 0) {
        if (err)
            *err = e[0];
        return r[0];
    }
    int use = r[0] != 0 ? 1 : r[1] != 0 ? 0 : (seq[1] > seq[0] ? 1 : 0);
    int other = 1 - use;
    if (r[other] != 0 && !all_zero_slot(ck, (size_t)other * slot, slot))
        rl_warn("%s; using the other slot (commit %llu): the damaged one was a commit that "
                "did not complete, or the file was damaged after it",
                e[other].msg, (unsigned long long)seq[use]);
    ck->slot = (uint32_t)slot;
    return ck_parse(path, ck, (size_t)use * slot, ck_slot_len(ck, (size_t)use * slot, slot), err);
}

/* Builds the version 2 image of the current state with sequence seq into store->ckbuf. */
static int ck_build(log_store_t *store, rl_slice blob, uint64_t seq, rl_err *err)
{
    rl_buf *b = &store->ckbuf;
    rl_buf_reset(b);
    rl_buf_append(b, CKPT_MAGIC, 4);
    rl_buf_put_be16(b, CKPT_VERSION);
    rl_buf_put_be32(b, 0); /* image length, set below */
    rl_buf_put_be64(b, seq);
    rl_buf_put_be32(b, (uint32_t)blob.len);
    rl_buf_append(b, blob.p, blob.len);
    rl_buf_put_be32(b, (uint32_t)store->ntopics);
    for (size_t i = 0; i < store->ntopics; i++) {
        const log_topic *t = store->topics[i];
        rl_buf_put_be16(b, (uint16_t)t->name_len);
        rl_buf_append(b, t->name, t->name_len);
        rl_buf_put_be32(b, t->nparts);
        for (uint32_t k = 0; k < t->nparts; k++)
            rl_buf_put_be64(b, (uint64_t)t->parts[k]->next);
    }
    if (!rl_buf_ok(b))
        return rl_err_set(err, -ENOMEM, "%s/checkpoint: out of memory", store->dir);
    size_t len = b->len + 4;
    for (int i = 0; i < 4; i++)
        b->p[6 + i] = (uint8_t)(len >> (24 - 8 * i));
    rl_buf_put_be32(b, rl_crc32c(0, b->p, b->len));
    return rl_buf_ok(b) ? 0 : rl_err_set(err, -ENOMEM, "%s/checkpoint: out of memory", store->dir);
}

/* Replaces the whole file (rl_file_replace) with both slots holding image: used for a new
 * file, a version 1 file and an image outgrowing its slot. */
static int ck_replace_file(const char *path, const uint8_t *image, size_t len, size_t slot,
                           rl_err *err)
{
    uint8_t *f = calloc(2, slot);
    if (!f)
        return rl_err_set(err, -ENOMEM, "%s: out of memory", path);
    memcpy(f, image, len);
    memcpy(f + slot, image, len);
    int rc = rl_file_replace(path, f, 2 * slot, err);
    free(f);
    return rc;
}

static int ck_write(log_store_t *store, rl_slice blob, rl_err *err)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/checkpoint", store->dir) >= (int)sizeof path)
        return rl_err_set(err, -ENAMETOOLONG, "%s: path too long", store->dir);
    uint64_t seq = store->ck_seq + 1;
    int rc = ck_build(store, blob, seq, err);
    if (rc != 0)
        return rc;
    const rl_buf *b = &store->ckbuf;
    if (store->ck_fd < 0 || b->len > store->ck_slot) {
        /* New layout or a bigger one: replace the file whole, both slots alike, with room to
         * grow, then keep it open for in-place slot writes. */
        size_t slot = (2 * b->len + CKPT_SLOT_ALIGN - 1) / CKPT_SLOT_ALIGN * CKPT_SLOT_ALIGN;
        if (store->ck_fd >= 0) {
            close(store->ck_fd);
            store->ck_fd = -1;
        }
        if ((rc = ck_replace_file(path, b->p, b->len, slot, err)) != 0)
            return rc;
        store->ck_fd = open(path, O_WRONLY | O_CLOEXEC);
        if (store->ck_fd < 0)
            return rl_err_set(err, -errno, "%s: open: %s", path, strerror(errno));
        store->ck_slot = (uint32_t)slot;
        store->ck_seq = seq;
        return 0;
    }
    /* In place: the slot not holding the last durable image; one fdatasync (the file's size
     * never changes, so no metadata is involved). A torn write leaves the other slot. */
    size_t at = (size_t)(seq % 2) * store->ck_slot;
    if ((rc = log__pwrite_all(&store->io, store->ck_fd, b->p, b->len, at)) != 0)
        return rl_err_set(err, rc, "%s: write at byte %zu: %s", path, at, strerror(-rc));
    if (store->opts.flush != LOG_FLUSH_OS) {
        if (store->io.sync(store->io.ctx, store->ck_fd, true) != 0)
            return rl_err_set(err, -errno, "%s: fdatasync: %s", path, strerror(errno));
        log__count(&store->n_syncs, 1);
    }
    store->ck_seq = seq;
    return 0;
}

int log__checkpoint_lower(const char *dir, const char *topic, uint32_t partition, int64_t end,
                          int64_t *old, rl_err *err)
{
    ck_file ck;
    *old = -1;
    int rc = ck_read(dir, &ck, err);
    if (rc != 0)
        goto done;
    ck_topic *ct = ck_find(&ck, topic, strlen(topic));
    if (!ct || partition >= ct->nparts)
        goto done;
    *old = ck_offset(ct, partition);
    if (*old <= end)
        goto done;
    /* Patch the offset in the image (offsets points into it) and its trailing CRC. */
    uint8_t *img = ck.image.p + ck.img_at;
    uint8_t *at = ck.image.p + (ct->offsets - ck.image.p) + (size_t)partition * 8;
    for (int i = 0; i < 8; i++)
        at[i] = (uint8_t)((uint64_t)end >> (56 - 8 * i));
    uint32_t crc = rl_crc32c(0, img, ck.img_len - 4);
    for (int i = 0; i < 4; i++)
        img[ck.img_len - 4 + (size_t)i] = (uint8_t)(crc >> (24 - 8 * i));
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/checkpoint", dir) >= (int)sizeof path) {
        rc = rl_err_set(err, -ENAMETOOLONG, "%s: path too long", dir);
        goto done;
    }
    rc = ck.slot ? ck_replace_file(path, img, ck.img_len, ck.slot, err)
                 : rl_file_replace(path, img, ck.img_len, err);
done:
    ck_free(&ck);
    return rc;
}

/* ------------------------------------------------------------------ open */

static int resolve_opts(const log_store_opts *in, log_store_opts *o, rl_err *err)
{
    log_store_opts d = {.compression = LOG_COMPRESSION_LZ4,
                        .partitions = 1,
                        .segment_bytes = 1ull << 30,
                        .batch_bytes = 1u << 20,
                        .flush = LOG_FLUSH_COMMIT,
                        .flush_interval_ms = 1000,
                        .segment_ms = 7ull * 24 * 3600 * 1000};
    if (in) {
        d.flush = in->flush;
        if (in->flush_interval_ms)
            d.flush_interval_ms = in->flush_interval_ms;
        if (in->segment_ms)
            d.segment_ms = in->segment_ms;
        d.topic_defaults = in->topic_defaults;
        d.prealloc = in->prealloc;
        d.compression = in->compression;
        d.compression_level = in->compression_level;
        if (in->partitions)
            d.partitions = in->partitions;
        if (in->segment_bytes)
            d.segment_bytes = in->segment_bytes;
        if (in->batch_bytes)
            d.batch_bytes = in->batch_bytes;
        d.read_fds_max = in->read_fds_max;
    }
    if (d.read_fds_max == 0) {
        /* A quarter of the descriptors the process may open: the rest stay for sockets,
         * the writer's files and everything else. */
        struct rlimit rl;
        rlim_t n = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur / 4 : 256;
        d.read_fds_max = n > 1024 ? 1024 : n < 8 ? 8 : (size_t)n;
    }
    if (d.compression != LOG_COMPRESSION_NONE && d.compression != LOG_COMPRESSION_LZ4 &&
        d.compression != LOG_COMPRESSION_ZSTD)
        return rl_err_set(err, RL_ECONFIG, "log: unknown compression %d", d.compression);
    if (d.prealloc == LOG_PREALLOC_DEFAULT)
        d.prealloc = LOG_PREALLOC_NONE;
    if (d.prealloc < LOG_PREALLOC_NONE || d.prealloc > LOG_PREALLOC_FALLOCATE)
        return rl_err_set(err, RL_ECONFIG, "log: unknown prealloc mode %d", d.prealloc);
    if (d.flush != LOG_FLUSH_COMMIT && d.flush != LOG_FLUSH_INTERVAL && d.flush != LOG_FLUSH_OS)
        return rl_err_set(err, RL_ECONFIG, "log: unknown flush policy %d", d.flush);
    if (d.flush_interval_ms > 3600000)
        return rl_err_set(err, RL_ECONFIG, "log: flush_interval_ms %u above one hour",
                          d.flush_interval_ms);
    if (d.segment_bytes < (1u << 20) || d.segment_bytes > INT32_MAX)
        return rl_err_set(err, RL_ECONFIG,
                          "log: segment_bytes %llu outside [1 MiB, 2 GiB) (Kafka index "
                          "positions are 32-bit)",
                          (unsigned long long)d.segment_bytes);
    if (d.partitions > LOG_PARTITIONS_MAX)
        return rl_err_set(err, RL_ECONFIG, "log: %u partitions, above %u", d.partitions,
                          LOG_PARTITIONS_MAX);
    if (d.batch_bytes > LOG_RECORD_MAX)
        return rl_err_set(err, RL_ECONFIG, "log: batch_bytes %zu above %u", d.batch_bytes,
                          LOG_RECORD_MAX);
    *o = d;
    return 0;
}

/* The store's topic defaults from opts (copied: the caller's struct need not outlive open). */
static int resolve_defaults(const log_store_opts *in, log_topic_config *out, rl_err *err)
{
    log_topic_config_init(out);
    if (in && in->topic_defaults)
        *out = *in->topic_defaults;
    int rc = log__topic_config_check(out, err);
    if (rc != 0)
        return rl_err_wrap(err, rc, "log: topic defaults");
    return 0;
}

typedef struct dir_ent {
    char name[LOG_TOPIC_MAX + 1];
    size_t name_len;
    uint32_t id;
} dir_ent;

static int cmp_dir_ent(const void *a, const void *b)
{
    const dir_ent *x = a, *y = b;
    int c = cmp_name(x->name, x->name_len, y->name, y->name_len);
    if (c)
        return c;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Parses "<topic>-<id>"; false for anything else. */
static bool parse_part_dir(const char *nm, dir_ent *e)
{
    const char *dash = strrchr(nm, '-');
    if (!dash || dash == nm || !dash[1])
        return false;
    size_t nlen = (size_t)(dash - nm);
    const char *d = dash + 1;
    if (strlen(d) > 5 || (d[0] == '0' && d[1]))
        return false;
    uint32_t id = 0;
    for (; *d; d++) {
        if (*d < '0' || *d > '9')
            return false;
        id = id * 10 + (uint32_t)(*d - '0');
    }
    if (id >= LOG_PARTITIONS_MAX || !log__topic_name_ok(nm, nlen))
        return false;
    memcpy(e->name, nm, nlen);
    e->name[nlen] = 0;
    e->name_len = nlen;
    e->id = id;
    return true;
}

static int list_part_dirs(const char *dir, dir_ent **out, size_t *n, rl_err *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return rl_err_set(err, -errno, "%s: opendir: %s", dir, strerror(errno));
    dir_ent *v = NULL;
    size_t cnt = 0, cap = 0;
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        dir_ent e;
        if (!parse_part_dir(de->d_name, &e))
            continue;
        if (de->d_type != DT_DIR) {
            struct stat st;
            char path[PATH_MAX];
            if (de->d_type != DT_UNKNOWN ||
                snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path ||
                stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
                continue;
        }
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            dir_ent *nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                rc = rl_err_set(err, -ENOMEM, "%s: out of memory", dir);
                break;
            }
            v = nv;
        }
        v[cnt++] = e;
    }
    closedir(d);
    if (rc != 0) {
        free(v);
        return rc;
    }
    if (cnt > 0) /* qsort(NULL, 0) is undefined behaviour */
        qsort(v, cnt, sizeof *v, cmp_dir_ent);
    *out = v;
    *n = cnt;
    return 0;
}

/* Opens one topic found on disk (dirs[0..n) are its partition directories, sorted). */
static int open_topic(log_store_t *store, const dir_ent *dirs, size_t n, ck_topic *ct, rl_err *err)
{
    uint32_t nparts = dirs[n - 1].id + 1;
    if (ct && ct->nparts > nparts)
        nparts = ct->nparts;
    log_topic *t = topic_alloc(dirs[0].name, dirs[0].name_len, nparts);
    if (!t)
        return rl_err_set(err, -ENOMEM, "out of memory for topic %s", dirs[0].name);
    int rc = 0;
    size_t k = 0;
    for (uint32_t id = 0; id < nparts; id++) {
        bool present = k < n && dirs[k].id == id;
        if (present)
            k++;
        int64_t committed = ck_offset(ct, id);
        if (!present && committed > 0) {
            rc = rl_err_set(err, RL_ECORRUPT,
                            "%s/%s-%u: directory missing but the checkpoint says offsets below "
                            "%lld were committed",
                            store->dir, t->name, id, (long long)committed);
            goto fail;
        }
        if ((rc = log__partition_open(store, t, id, committed, !present, &t->parts[id], err)) != 0)
            goto fail;
        t->nparts = id + 1;
    }
    if (ct)
        ct->seen = true;
    bool found;
    t->cfg = store->defaults;
    if ((rc = log__topic_config_load(t->parts[0]->dir, &t->cfg, &found, err)) != 0)
        goto fail;
    if ((rc = topic_insert(store, t)) != 0) {
        rc = rl_err_set(err, rc, "out of memory for topic %s", t->name);
        goto fail;
    }
    return 0;
fail:
    topic_free(t);
    return rc;
}

static int open_topics(log_store_t *store, ck_file *ck, rl_err *err)
{
    dir_ent *dirs = NULL;
    size_t n = 0;
    int rc = list_part_dirs(store->dir, &dirs, &n, err);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n &&
               cmp_name(dirs[j].name, dirs[j].name_len, dirs[i].name, dirs[i].name_len) == 0)
            j++;
        ck_topic *ct = ck_find(ck, dirs[i].name, dirs[i].name_len);
        if ((rc = open_topic(store, dirs + i, j - i, ct, err)) != 0)
            goto done;
        i = j;
    }
    for (size_t i = 0; i < ck->ntopics; i++) {
        const ck_topic *ct = &ck->topics[i];
        if (ct->seen)
            continue;
        for (uint32_t id = 0; id < ct->nparts; id++) {
            if (ck_offset(ct, id) > 0) {
                rc = rl_err_set(err, RL_ECORRUPT,
                                "%s/%.*s-%u: directory missing but the checkpoint says offsets "
                                "below %lld were committed",
                                store->dir, (int)ct->name_len, ct->name, id,
                                (long long)ck_offset(ct, id));
                goto done;
            }
        }
    }
done:
    free(dirs);
    return rc;
}

int log_store_open(log_store_t **out, const char *dir, const log_store_opts *opts, rl_err *err)
{
    ck_file ck;
    memset(&ck, 0, sizeof ck);
    log_store_t *store = calloc(1, sizeof *store);
    if (!store)
        return rl_err_set(err, -ENOMEM, "%s: out of memory", dir);
    store->lock_fd = -1;
    store->ck_fd = -1;
    store->io = log__io_system;
    store->synced_ns = rl_mono_ns();
    pthread_rwlock_init(&store->topics_lock, NULL);
    pthread_mutex_init(&store->ckpt_lock, NULL);
    pthread_mutex_init(&store->cfg_lock, NULL);
    int rc = resolve_opts(opts, &store->opts, err);
    log__rfds_init(&store->rfds, rc == 0 ? store->opts.read_fds_max : 1);
    if (rc == 0)
        rc = resolve_defaults(opts, &store->defaults, err);
    if (rc != 0)
        goto fail;
    store->opts.topic_defaults = NULL;
    store->dir = strdup(dir);
    if (!store->dir) {
        rc = rl_err_set(err, -ENOMEM, "%s: out of memory", dir);
        goto fail;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        rc = rl_err_set(err, -errno, "%s: mkdir: %s", dir, strerror(errno));
        goto fail;
    }
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/lock", dir) >= (int)sizeof path) {
        rc = rl_err_set(err, -ENAMETOOLONG, "%s: path too long", dir);
        goto fail;
    }
    store->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (store->lock_fd < 0) {
        rc = rl_err_set(err, -errno, "%s: open: %s", path, strerror(errno));
        goto fail;
    }
    if (flock(store->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK
                 ? rl_err_set(err, -EBUSY, "%s: the log is open in another process or handle", dir)
                 : rl_err_set(err, -errno, "%s: flock: %s", path, strerror(errno));
        goto fail;
    }
    if (store->opts.prealloc == LOG_PREALLOC_ZERO && !(store->zeros = calloc(1, LOG_ZERO_CHUNK))) {
        rc = rl_err_set(err, -ENOMEM, "%s: out of memory", dir);
        goto fail;
    }
    if ((rc = log__codec_init(&store->codec, store->opts.compression, store->opts.compression_level,
                              err)) != 0)
        goto fail;
    if ((rc = ck_read(dir, &ck, err)) != 0)
        goto fail;
    if ((rc = open_topics(store, &ck, err)) != 0)
        goto fail;
    if (ck.present && ck.slot) {
        /* Later commits write their images in place (see the file comment). */
        char ckpath[PATH_MAX];
        snprintf(ckpath, sizeof ckpath, "%s/checkpoint", dir);
        store->ck_fd = open(ckpath, O_WRONLY | O_CLOEXEC);
        if (store->ck_fd < 0) {
            rc = rl_err_set(err, -errno, "%s: open: %s", ckpath, strerror(errno));
            goto fail;
        }
        store->ck_slot = ck.slot;
        store->ck_seq = ck.seq;
    }
    if (ck.present) {
        rl_buf_append(&store->blob, ck.blob.p, ck.blob.len);
        if (!rl_buf_ok(&store->blob)) {
            rc = rl_err_set(err, -ENOMEM, "%s: out of memory", dir);
            goto fail;
        }
        store->has_ckpt = true;
    }
    ck_free(&ck);
    *out = store;
    return 0;
fail:
    ck_free(&ck);
    log_store_close(store);
    return rc;
}

void log_store_close(log_store_t *store)
{
    if (!store)
        return;
    for (size_t i = 0; i < store->ntopics; i++)
        topic_free(store->topics[i]);
    free(store->topics);
    log__codec_free(&store->codec);
    if (store->compact_codec_ready)
        log__codec_free(&store->compact_codec);
    rl_buf_free(&store->ckbuf);
    rl_buf_free(&store->blob);
    rl_buf_free(&store->pending);
    free(store->zeros);
    if (store->ck_fd >= 0)
        close(store->ck_fd);
    if (store->lock_fd >= 0)
        close(store->lock_fd);
    pthread_rwlock_destroy(&store->topics_lock);
    pthread_mutex_destroy(&store->ckpt_lock);
    pthread_mutex_destroy(&store->cfg_lock);
    log__rfds_destroy(&store->rfds);
    free(store->overrides);
    free(store->dir);
    free(store);
}

int log_store_checkpoint(log_store_t *store, rl_buf *out)
{
    int rc = 0;
    pthread_mutex_lock(&store->ckpt_lock);
    if (!store->has_ckpt) {
        rc = RL_ENOTFOUND;
    } else {
        rl_buf_reset(out);
        rl_buf_append(out, store->blob.p, store->blob.len);
        if (!rl_buf_ok(out))
            rc = -ENOMEM;
    }
    pthread_mutex_unlock(&store->ckpt_lock);
    return rc;
}

/* ------------------------------------------------------------------ writer */

/* Caller holds cfg_lock. */
static log_topic_override *override_find(log_store_t *store, const char *name)
{
    for (size_t i = 0; i < store->noverrides; i++)
        if (strcmp(store->overrides[i].name, name) == 0)
            return &store->overrides[i];
    return NULL;
}

static int topic_create(log_store_t *store, rl_slice name, log_topic **out, rl_err *err)
{
    uint32_t nparts = store->opts.partitions;
    log_topic *t = topic_alloc((const char *)name.p, name.len, nparts);
    if (!t)
        return rl_err_set(err, -ENOMEM, "out of memory for topic %.*s", (int)name.len,
                          (const char *)name.p);
    int rc = 0;
    for (uint32_t id = 0; id < nparts; id++) {
        if ((rc = log__partition_open(store, t, id, 0, true, &t->parts[id], err)) != 0)
            goto fail;
        t->nparts = id + 1;
    }
    /* Under cfg_lock so that log_store_topic_config either sees the topic or leaves an
     * override that is applied here. */
    pthread_mutex_lock(&store->cfg_lock);
    const log_topic_override *ov = override_find(store, t->name);
    t->cfg = ov ? ov->cfg : store->defaults;
    if (ov)
        rc = log__topic_config_save(t->parts[0]->dir, &t->cfg, err);
    if (rc == 0 && (rc = topic_insert(store, t)) != 0)
        rc = rl_err_set(err, rc, "out of memory for topic %s", t->name);
    pthread_mutex_unlock(&store->cfg_lock);
    if (rc != 0)
        goto fail;
    rl_info("%s: created topic %s with %u partitions", store->dir, t->name, nparts);
    *out = t;
    return 0;
fail:
    topic_free(t);
    return rc;
}

int log_store_append(log_store_t *store, rl_slice topic, rl_slice key, rl_slice value,
                     int64_t ts_ms, rl_err *err)
{
    return log_store_append_at(store, topic, key, value, ts_ms, NULL, NULL, err);
}

int log_store_append_at(log_store_t *store, rl_slice topic, rl_slice key, rl_slice value,
                        int64_t ts_ms, uint32_t *partition, int64_t *offset, rl_err *err)
{
    if (store->poison)
        return poisoned(store, err);
    /* A NULL pointer means null (or no name): never read len bytes from it. */
    if (!topic.p)
        topic = rl_slice_make("", 0);
    if (!key.p)
        key.len = 0;
    if (!value.p)
        value.len = 0;
    log_topic *t = store->last_topic;
    if (!t || cmp_name(t->name, t->name_len, (const char *)topic.p, topic.len) != 0) {
        t = topic_find(store, (const char *)topic.p, topic.len);
        if (!t) {
            if (!log__topic_name_ok((const char *)topic.p, topic.len))
                return rl_err_set(
                    err, RL_ECONFIG, "bad topic name \"%.*s\" (1-249 bytes of [A-Za-z0-9._-])",
                    (int)(topic.len > 300 ? 300 : topic.len), topic.p ? (const char *)topic.p : "");
            int rc = topic_create(store, topic, &t, err);
            if (rc != 0)
                return poison(store, rc, err);
        }
        store->last_topic = t;
    }
    /* A null key partitions like an empty one: deterministic, so a replay after a restart
     * sends every record to the same partition again. */
    uint32_t id = rl_partition_for_key(key.p ? key.p : (const void *)"", key.len, t->nparts);
    log_partition *p = t->parts[id];
    log_batch_builder *bb = &p->open;
    /* Measured once: again only after a flush, when the record starts a new batch. */
    size_t body;
    size_t rec = log__builder_measure(bb, key, value, ts_ms, &body);
    if (rec == SIZE_MAX)
        return rl_err_set(err, RL_ETOOBIG, "%s: record of %zu + %zu bytes above %u", p->dir,
                          key.len, value.len, LOG_RECORD_MAX);
    if (bb->count > 0 && log__builder_records_bytes(bb) + rec > store->opts.batch_bytes) {
        int rc = log__partition_flush(p, err);
        if (rc != 0)
            return poison(store, rc, err);
        log__builder_measure(bb, key, value, ts_ms, &body);
    }
    int rc = log__builder_add_measured(bb, key, value, ts_ms, body);
    if (rc == RL_ETOOBIG)
        return rl_err_set(err, rc, "%s: record of %zu + %zu bytes above %u", p->dir, key.len,
                          value.len, LOG_RECORD_MAX);
    if (rc != 0)
        return poison(store, rl_err_set(err, rc, "%s: out of memory for a record", p->dir), err);
    store->appended = true;
    /* The record is the open batch's last: its offset stays the same when the batch is
     * written below (next grows by what count loses). */
    int64_t at = p->next + (int64_t)bb->count - 1;
    atomic_store_explicit(&p->leo, at + 1, memory_order_relaxed);
    if (!p->touched) {
        p->touched = true;
        p->next_touched = store->touched;
        store->touched = p;
    }
    if (log__builder_records_bytes(bb) >= store->opts.batch_bytes) {
        rc = log__partition_flush(p, err);
        if (rc != 0)
            return poison(store, rc, err);
    }
    if (partition)
        *partition = id;
    if (offset)
        *offset = at;
    return 0;
}

/* The durable point: fsync what was written since the last one (not under LOG_FLUSH_OS),
 * store the checkpoint, then publish the high watermarks and call the hook. */
static int make_durable(log_store_t *store, rl_slice checkpoint, rl_err *err)
{
    int rc;
    if (store->opts.flush != LOG_FLUSH_OS)
        for (log_partition *p = store->touched; p; p = p->next_touched)
            if ((rc = log__partition_sync(p, err)) != 0)
                return poison(store, rc, err);
    if ((rc = ck_write(store, checkpoint, err)) != 0)
        return poison(store, rc, err);
    pthread_mutex_lock(&store->ckpt_lock);
    rl_buf_reset(&store->blob);
    rl_buf_append(&store->blob, checkpoint.p, checkpoint.len);
    store->has_ckpt = rl_buf_ok(&store->blob);
    pthread_mutex_unlock(&store->ckpt_lock);
    if (!store->has_ckpt)
        return poison(store, rl_err_set(err, -ENOMEM, "checkpoint: out of memory"), err);
    log_partition *p = store->touched;
    store->touched = NULL;
    while (p) {
        log_partition *nx = p->next_touched;
        log__partition_publish(p);
        p->touched = false;
        p->next_touched = NULL;
        p = nx;
    }
    store->has_pending = false;
    store->synced_ns = rl_mono_ns();
    log__count(&store->n_commits, 1);
    if (store->hook)
        store->hook(store->hook_ctx);
    return 0;
}

static bool same_blob(const rl_buf *b, rl_slice s)
{
    return b->len == s.len && (s.len == 0 || memcmp(b->p, s.p, s.len) == 0);
}

int64_t log_store_sync_due(log_store_t *store)
{
    if (!store->has_pending)
        return -1;
    int64_t waited = (rl_mono_ns() - store->synced_ns) / 1000000;
    int64_t left = (int64_t)store->opts.flush_interval_ms - waited;
    return left > 0 ? left : 0;
}

int log_store_sync(log_store_t *store, rl_err *err)
{
    if (store->poison)
        return poisoned(store, err);
    if (!store->has_pending)
        return 0;
    /* With appends since the pending commit, the partitions' current ends are not what that
     * commit covers: publishing them would expose (and checkpoint) records of an unfinished
     * transaction. The next commit covers both and becomes durable when it is due. */
    if (store->appended)
        return 0;
    return make_durable(store, rl_buf_slice(&store->pending), err);
}

int log_store_commit(log_store_t *store, rl_slice checkpoint, rl_err *err)
{
    if (store->poison)
        return poisoned(store, err);
    if (checkpoint.len > LOG_CHECKPOINT_BLOB_MAX)
        return rl_err_set(err, RL_ETOOBIG, "checkpoint of %zu bytes above %u", checkpoint.len,
                          LOG_CHECKPOINT_BLOB_MAX);
    if (!store->appended &&
        (store->has_pending ? same_blob(&store->pending, checkpoint)
                            : store->has_ckpt && same_blob(&store->blob, checkpoint))) {
        /* Nothing new; a pending commit still becomes durable when it is due. */
        if (store->has_pending && log_store_sync_due(store) == 0)
            return log_store_sync(store, err);
        return 0;
    }
    int rc;
    for (log_partition *p = store->touched; p; p = p->next_touched) {
        if ((rc = log__partition_flush(p, err)) != 0)
            return poison(store, rc, err);
        /* Records appended without a log_store_txn_end belong to no later transaction. */
        log__gidx_txn_reset(p);
    }
    store->appended = false;
    if (store->opts.flush == LOG_FLUSH_INTERVAL &&
        (rl_mono_ns() - store->synced_ns) / 1000000 < (int64_t)store->opts.flush_interval_ms) {
        /* Written, not yet durable: the checkpoint waits with the data (group commit). */
        rl_buf_reset(&store->pending);
        rl_buf_append(&store->pending, checkpoint.p, checkpoint.len);
        if (!rl_buf_ok(&store->pending))
            return poison(store, rl_err_set(err, -ENOMEM, "checkpoint: out of memory"), err);
        store->has_pending = true;
        return 0;
    }
    return make_durable(store, checkpoint, err);
}

int log_store_abort(log_store_t *store, rl_err *err)
{
    if (store->poison)
        return poisoned(store, err);
    log_partition *p = store->touched;
    store->touched = NULL;
    store->has_pending = false;
    store->appended = false;
    int rc = 0;
    while (p) {
        log_partition *nx = p->next_touched;
        p->touched = false;
        p->next_touched = NULL;
        if (rc == 0)
            rc = log__partition_abort(p, err);
        p = nx;
    }
    if (rc != 0)
        return poison(store, rc, err);
    return 0;
}

int log_store_txn_end(log_store_t *store, const char *gtid, rl_err *err)
{
    if (store->poison)
        return poisoned(store, err);
    log_gtid g;
    bool have = gtid && *gtid;
    if (have) {
        int rc = log__gtid_parse(gtid, &g, err);
        if (rc != 0)
            return rc;
    }
    for (log_partition *p = store->touched; p; p = p->next_touched)
        if (log__gidx_txn_end(p, have ? &g : NULL) != 0)
            return poison(
                store, rl_err_set(err, -ENOMEM, "%s: out of memory for a GTID entry", p->dir), err);
    return 0;
}

void log_store_set_commit_hook(log_store_t *store, void (*fn)(void *ctx), void *ctx)
{
    store->hook = fn;
    store->hook_ctx = ctx;
}

/* ------------------------------------------------------------------ any thread */

static log_partition *find_partition(log_store_t *store, const char *topic, uint32_t partition,
                                     bool *topic_found)
{
    log_partition *p = NULL;
    pthread_rwlock_rdlock(&store->topics_lock);
    log_topic *t = topic_find(store, topic, strlen(topic));
    if (topic_found)
        *topic_found = t != NULL;
    if (t && partition < t->nparts)
        p = t->parts[partition];
    pthread_rwlock_unlock(&store->topics_lock);
    return p;
}

int log_store_topics(log_store_t *store,
                     void (*fn)(void *ctx, const char *topic, uint32_t partitions), void *ctx)
{
    pthread_rwlock_rdlock(&store->topics_lock);
    size_t n = store->ntopics;
    for (size_t i = 0; i < n; i++)
        fn(ctx, store->topics[i]->name, store->topics[i]->nparts);
    pthread_rwlock_unlock(&store->topics_lock);
    return (int)n;
}

int log_store_partitions(log_store_t *store, const char *topic)
{
    pthread_rwlock_rdlock(&store->topics_lock);
    log_topic *t = topic_find(store, topic, strlen(topic));
    int n = t ? (int)t->nparts : RL_ENOTFOUND;
    pthread_rwlock_unlock(&store->topics_lock);
    return n;
}

int log_store_offsets(log_store_t *store, const char *topic, uint32_t partition, int64_t *log_start,
                      int64_t *high_watermark)
{
    log_partition *p = find_partition(store, topic, partition, NULL);
    if (!p)
        return RL_ENOTFOUND;
    *log_start = atomic_load_explicit(&p->log_start, memory_order_acquire);
    *high_watermark = atomic_load_explicit(&p->hwm, memory_order_acquire);
    return 0;
}

int log_store_log_end_offset(log_store_t *store, const char *topic, uint32_t partition,
                             int64_t *log_end)
{
    log_partition *p = find_partition(store, topic, partition, NULL);
    if (!p)
        return RL_ENOTFOUND;
    *log_end = atomic_load_explicit(&p->leo, memory_order_relaxed);
    return 0;
}

int log_store_offset_for_time(log_store_t *store, const char *topic, uint32_t partition,
                              int64_t ts_ms, int64_t *offset)
{
    log_partition *p = find_partition(store, topic, partition, NULL);
    if (!p)
        return RL_ENOTFOUND;
    return log__partition_offset_for_time(p, ts_ms, offset);
}

int log_store_offset_for_gtid(log_store_t *store, const char *topic, uint32_t partition,
                              const char *gtid, int64_t *offset, rl_err *err)
{
    log_gtid g;
    int rc = log__gtid_parse(gtid, &g, err);
    if (rc != 0)
        return rc;
    log_partition *p = find_partition(store, topic, partition, NULL);
    if (!p)
        return rl_err_set(err, RL_ENOTFOUND, "%s: no topic %s partition %u", store->dir, topic,
                          partition);
    return log__partition_offset_for_gtid(p, &g, offset, err);
}

int log_store_read(log_store_t *store, const char *topic, uint32_t partition, int64_t offset,
                   size_t max_bytes, log_read *out, rl_err *err)
{
    bool topic_found;
    log_partition *p = find_partition(store, topic, partition, &topic_found);
    if (!p) {
        memset(out, 0, sizeof *out);
        out->fd = -1;
        return rl_err_set(err, RL_ENOTFOUND, "%s: no topic %s partition %u", store->dir, topic,
                          partition);
    }
    out->fd = -1;
    out->file_pos = 0;
    return log__partition_read(p, offset, max_bytes, out, err);
}

int log_read_fd(log_store_t *store, log_read *rd)
{
    if (rd->fd >= 0)
        return rd->fd;
    rd->file_pos = 0;
    if (!rd->pin || rd->bytes.len == 0)
        return -1;
    log__segment_rfds_attach(rd->pin, &store->rfds);
    rd->fd = log__segment_fd_get(rd->pin);
    /* The segment is mapped whole from byte 0, so the slice's place in the mapping is its
     * place in the file. */
    if (rd->fd >= 0)
        rd->file_pos = (uint64_t)(rd->bytes.p - rd->pin->map);
    return rd->fd;
}

void log_read_fd_release(log_read *rd)
{
    if (!rd || rd->fd < 0)
        return;
    if (rd->pin)
        log__segment_fd_put(rd->pin);
    rd->fd = -1;
    rd->file_pos = 0;
}

void log_read_release(log_read *rd)
{
    if (!rd)
        return;
    log_read_fd_release(rd);
    log__segment_unref(rd->pin);
    rd->pin = NULL;
    rd->bytes = rl_slice_make(NULL, 0);
    rd->fd = -1;
    rd->file_pos = 0;
}

int log_store_topic_config(log_store_t *store, const char *topic, const log_topic_config *cfg,
                           rl_err *err)
{
    size_t len = strlen(topic);
    if (!log__topic_name_ok(topic, len))
        return rl_err_set(err, RL_ECONFIG, "bad topic name \"%.*s\"", (int)(len > 300 ? 300 : len),
                          topic);
    int rc = log__topic_config_check(cfg, err);
    if (rc != 0)
        return rl_err_wrap(err, rc, "topic %s", topic);
    pthread_mutex_lock(&store->cfg_lock);
    pthread_rwlock_rdlock(&store->topics_lock);
    log_topic *t = topic_find(store, topic, len);
    pthread_rwlock_unlock(&store->topics_lock);
    if (t && (rc = log__topic_config_save(t->parts[0]->dir, cfg, err)) != 0)
        goto done;
    log_topic_override *ov = override_find(store, topic);
    if (!ov) {
        log_topic_override *n =
            realloc(store->overrides, (store->noverrides + 1) * sizeof *store->overrides);
        if (!n) {
            rc = rl_err_set(err, -ENOMEM, "out of memory for topic %s's configuration", topic);
            goto done;
        }
        store->overrides = n;
        ov = &store->overrides[store->noverrides++];
        memcpy(ov->name, topic, len + 1);
    }
    ov->cfg = *cfg;
    if (t)
        t->cfg = *cfg;
done:
    pthread_mutex_unlock(&store->cfg_lock);
    return rc;
}

int log_store_topic_config_get(log_store_t *store, const char *topic, log_topic_config *out)
{
    int rc = RL_ENOTFOUND;
    pthread_mutex_lock(&store->cfg_lock);
    pthread_rwlock_rdlock(&store->topics_lock);
    log_topic *t = topic_find(store, topic, strlen(topic));
    if (t) {
        *out = t->cfg;
        rc = 0;
    }
    pthread_rwlock_unlock(&store->topics_lock);
    pthread_mutex_unlock(&store->cfg_lock);
    return rc;
}

int log_store_retain(log_store_t *store, int64_t now_ms, rl_err *err)
{
    (void)err;
    int total = 0;
    /* The writer is the only thread that inserts topics: no topics lock needed here. */
    for (size_t i = 0; i < store->ntopics; i++) {
        log_topic *t = store->topics[i];
        pthread_mutex_lock(&store->cfg_lock);
        log_topic_config cfg = t->cfg;
        pthread_mutex_unlock(&store->cfg_lock);
        for (uint32_t k = 0; k < t->nparts; k++)
            total += log__partition_retain(t->parts[k], &cfg, now_ms);
    }
    return total;
}

int log_store_compact(log_store_t *store, int64_t now_ms, rl_err *err)
{
    if (!store->compact_codec_ready) {
        int rc = log__codec_init(&store->compact_codec, store->opts.compression,
                                 store->opts.compression_level, err);
        if (rc != 0)
            return rc;
        store->compact_codec_ready = true;
    }
    /* Topics are never removed while the store is open, so a snapshot of the pointers stays
     * valid after the lock is released; the writer may add topics meanwhile. */
    pthread_rwlock_rdlock(&store->topics_lock);
    size_t n = store->ntopics;
    log_topic **topics = malloc((n ? n : 1) * sizeof(log_topic *));
    if (topics && n)
        memcpy(topics, store->topics, n * sizeof(log_topic *));
    pthread_rwlock_unlock(&store->topics_lock);
    if (!topics)
        return rl_err_set(err, -ENOMEM, "%s: out of memory", store->dir);
    int total = 0, rc = 0;
    for (size_t i = 0; i < n && rc >= 0; i++) {
        pthread_mutex_lock(&store->cfg_lock);
        log_topic_config cfg = topics[i]->cfg;
        pthread_mutex_unlock(&store->cfg_lock);
        if (!(cfg.cleanup & LOG_CLEANUP_COMPACT))
            continue;
        for (uint32_t k = 0; k < topics[i]->nparts; k++) {
            rc = log__partition_compact(topics[i]->parts[k], &cfg, now_ms, &store->compact_codec,
                                        err);
            if (rc < 0)
                break;
            total += rc;
        }
    }
    free(topics);
    return rc < 0 ? rc : total;
}

void log_store_stats_get(log_store_t *store, log_store_stats *out)
{
    out->records = atomic_load_explicit(&store->n_records, memory_order_relaxed);
    out->batches = atomic_load_explicit(&store->n_batches, memory_order_relaxed);
    out->bytes = atomic_load_explicit(&store->n_bytes, memory_order_relaxed);
    out->commits = atomic_load_explicit(&store->n_commits, memory_order_relaxed);
    out->syncs = atomic_load_explicit(&store->n_syncs, memory_order_relaxed);
    out->segments_rolled = atomic_load_explicit(&store->n_rolled, memory_order_relaxed);
    out->segments_deleted = atomic_load_explicit(&store->n_deleted, memory_order_relaxed);
    out->segments_compacted = atomic_load_explicit(&store->n_compacted, memory_order_relaxed);
    out->error = atomic_load_explicit(&store->n_error, memory_order_relaxed);
    pthread_mutex_lock(&store->rfds.mu);
    out->read_fds_open = store->rfds.open;
    out->read_fds_opened = store->rfds.opened;
    out->read_fds_evicted = store->rfds.evicted;
    out->read_fds_refused = store->rfds.full;
    out->read_fds_gone = store->rfds.gone;
    pthread_mutex_unlock(&store->rfds.mu);
}
