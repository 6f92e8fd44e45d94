/*
 * gtid.c - the GTID index: per partition, from a source transaction's GTID to the first
 * offset of its records in the partition (log_store_txn_end, log_store_offset_for_gtid).
 *
 * GTID syntax: MariaDB "domain-server-seq" (mariadb-server sql/rpl_gtid.h, rpl_gtid: domain
 * and server 32-bit, seq 64-bit, decimal); MySQL "uuid:N" and, from 8.3, "uuid:tag:N"
 * (mysql-server libs/mysql/gtid/gtid.h; tag [A-Za-z_][A-Za-z0-9_]{0,31}, case-insensitive,
 * N 1..2^63-1). The GTID's source is what sequence numbers are ordered within: the MariaDB
 * domain, the MySQL uuid (with its tag). Sources are kept as canonical text: the domain in
 * decimal without leading zeros, the uuid and tag in lower case.
 *
 * Storage: each segment "<base>.log" has a sidecar "<base>.gtidindex" of entries appended
 * back to back, in increasing offset order, big-endian:
 *
 *   off    size  field
 *     0       1  version (1)
 *     1       1  source length L (1..72)
 *     2       L  source (canonical text)
 *   2+L       8  sequence number (u64)
 *  10+L       8  offset (i64, absolute: the transaction's first record in the partition)
 *  18+L       4  CRC32C (rl_crc32c) of the 18 + L bytes before it
 *
 * An entry lives in the sidecar of the segment that was active when it was written, which is
 * the segment holding the transaction's last records of the partition: a transaction that
 * spans a roll has its entry in the later segment pointing into the earlier one.
 *
 * Durability: the writer keeps a transaction's entries in memory until its records are
 * written, then appends them to the active segment's sidecar (one pwrite per batch or commit,
 * never per record). The commit makes them durable before its checkpoint; then the entries
 * are folded into the in-memory summaries and the sidecar's committed size is published,
 * before the high watermark. So the committed entries of a partition are exactly the entries
 * with an offset below the checkpoint's end offset, and recovery (log__gidx_load) cuts every
 * sidecar back there, as abort does. Retention deletes a sidecar with its segment; compaction
 * keeps offsets, so entries stay valid (one pointing into a gap means the next record at or
 * after it).
 *
 * How the commit makes entries durable without an fdatasync of its own. An fdatasync per
 * touched sidecar (the first design) doubled the flushes of a commit: each one an ext4
 * journal commit (the sidecar grew) and a device cache flush, 0.2-1 ms on this hardware
 * (bench/RESULTS.md "Log append", GTID index). Instead, on ext4 and xfs:
 *   - the active segment's sidecar is zero-filled ahead (steps of GIDX_PREALLOC doubling up
 *     to GIDX_PREALLOC_MAX) and fsynced once per step (file size and block allocation
 *     durable), so entries are written over blocks that already exist: no metadata changes
 *     with them;
 *   - the commit writes the sidecar's new bytes to the device and waits for them
 *     (sync_file_range WAIT_BEFORE | WRITE | WAIT_AFTER, log__gidx_sync), before the
 *     segment's fdatasync and the checkpoint's;
 *   - those fdatasyncs end with a device cache flush (ext4: fs/ext4/fsync.c ext4_sync_file
 *     issues blkdev_issue_flush, or the jbd2 commit block carries REQ_PREFLUSH; xfs:
 *     xfs_file_fsync flushes the data device), and a flush makes durable every write that
 *     completed before it (Documentation/block/writeback_cache_control.rst). sync_file_range(2)
 *     documents the rest of the argument: it writes no metadata and flushes no cache, so it
 *     is only safe for overwrites of already instantiated blocks, which the zero-fill makes
 *     these.
 * So when the checkpoint's fdatasync returns, the entries below its end offsets are on stable
 * storage, at the cost of a write-and-wait of a few hundred bytes per touched partition
 * instead of a flush. On other file systems (btrfs and zfs write elsewhere than in place,
 * unknown ones may too: fstatfs decides when the sidecar is opened) the commit fdatasyncs the
 * sidecar as before. The zero tail reads as the clean end of the sidecar (as zero bytes end a
 * segment); a sealed sidecar is trimmed and fsynced at its roll. What the argument assumes of
 * the mount: barriers on (the default; with nobarrier no fdatasync is durable either) and
 * ext4's default data=ordered or writeback (data=journal would journal the overwrites).
 *
 * Other designs weighed: (a) entries never synced and rebuilt at recovery from the records
 * would need the GTID in the records in a form the log owns (the envelope's source.gtid is
 * the caller's JSON; a Kafka record header would change what consumers see, and a
 * transaction's GTID is only known after its records were appended, possibly in batches
 * already written); (b) one store-level journal with one fdatasync per commit still costs a
 * flush per commit, and a second copy of every entry.
 *
 * Memory: per segment a summary (per source: smallest and largest sequence, smallest offset),
 * plus the entries of uncommitted transactions. A lookup filters segments by their summaries
 * and reads only the sidecars that may hold the answer, in 64 KiB chunks.
 */
#include "log/log_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#define GIDX_VERSION 1
#define GIDX_FIXED 22u /* entry bytes besides the source */
#define GIDX_ENTRY_MAX (GIDX_FIXED + LOG_GTID_SRC_MAX)
#define GIDX_CHUNK (64u << 10)
/* Zero-fill steps of an active sidecar: the first is GIDX_PREALLOC (about 1,800 entries of a
 * MariaDB GTID), each next one the sidecar's size so far (doubling: one fsync per doubling),
 * at most GIDX_PREALLOC_MAX (one fsync per ~29,000 entries of a busy partition). */
#define GIDX_PREALLOC (64u << 10)
#define GIDX_PREALLOC_MAX (1u << 20)
/* statfs f_type of the file systems whose overwrites of written blocks stay in place
 * (linux/magic.h EXT4_SUPER_MAGIC, XFS_SUPER_MAGIC). */
#define GIDX_FS_EXT4 0xEF53
#define GIDX_FS_XFS 0x58465342

static const uint8_t gidx_zeros[GIDX_PREALLOC];

/* ------------------------------------------------------------------ parsing */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decimal without sign or spaces, up to max. Returns the characters used (0: none or
 * overflow). */
static size_t parse_dec(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; is_digit(s[i]); i++) {
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (max - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return i;
}

static int bad_gtid(rl_err *err, const char *text, const char *why)
{
    return rl_err_set(err, RL_ECONFIG,
                      "bad GTID \"%.80s\": %s (expected domain-server-seq or uuid[:tag]:N)", text,
                      why);
}

static int parse_mariadb(const char *text, log_gtid *out, rl_err *err)
{
    uint64_t dom, srv, seq;
    const char *s = text;
    size_t n = parse_dec(s, UINT32_MAX, &dom);
    if (n == 0 || s[n] != '-')
        return bad_gtid(err, text, "domain is not a 32-bit decimal");
    s += n + 1;
    n = parse_dec(s, UINT32_MAX, &srv);
    if (n == 0 || s[n] != '-')
        return bad_gtid(err, text, "server id is not a 32-bit decimal");
    s += n + 1;
    n = parse_dec(s, UINT64_MAX, &seq);
    if (n == 0 || s[n] != 0)
        return bad_gtid(err, text, "sequence number is not a 64-bit decimal");
    int len = snprintf(out->src, sizeof out->src, "%llu", (unsigned long long)dom);
    out->srclen = (uint8_t)len;
    out->seq = seq;
    return 0;
}

static int parse_mysql(const char *text, log_gtid *out, rl_err *err)
{
    static const int groups[] = {8, 4, 4, 4, 12};
    const char *s = text;
    size_t k = 0;
    for (int g = 0; g < 5; g++) {
        for (int i = 0; i < groups[g]; i++, s++) {
            int v = hexval(*s);
            if (v < 0)
                return bad_gtid(err, text, "uuid is not 8-4-4-4-12 hex digits");
            out->src[k++] = "0123456789abcdef"[v];
        }
        if (g < 4) {
            if (*s != '-')
                return bad_gtid(err, text, "uuid is not 8-4-4-4-12 hex digits");
            out->src[k++] = *s++;
        }
    }
    if (*s != ':')
        return bad_gtid(err, text, "no ':' after the uuid");
    s++;
    if (!is_digit(*s)) {
        /* A tag (MySQL 8.3+): [A-Za-z_][A-Za-z0-9_]{0,31}, compared in lower case. */
        out->src[k++] = ':';
        size_t t = 0;
        for (; (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' ||
               (t > 0 && is_digit(*s));
             s++, t++) {
            if (t == 32)
                return bad_gtid(err, text, "tag longer than 32 characters");
            out->src[k++] = (*s >= 'A' && *s <= 'Z') ? (char)(*s - 'A' + 'a') : *s;
        }
        if (t == 0 || *s != ':')
            return bad_gtid(err, text, "bad tag (letters, digits and '_', then ':N')");
        s++;
    }
    uint64_t seq;
    size_t n = parse_dec(s, (uint64_t)INT64_MAX, &seq);
    if (n == 0 || s[n] != 0 || seq == 0)
        return bad_gtid(err, text, "transaction number is not in 1..2^63-1");
    out->srclen = (uint8_t)k;
    out->seq = seq;
    return 0;
}

int log__gtid_parse(const char *text, log_gtid *out, rl_err *err)
{
    memset(out, 0, sizeof *out);
    if (!text || !*text)
        return bad_gtid(err, "", "empty");
    /* A MySQL uuid has a '-' at position 8 after 8 hex digits; a MariaDB domain is decimal
     * and at most 10 digits, then '-'. Both start with digits, so look at the shape. */
    size_t i = 0;
    while (i < 9 && hexval(text[i]) >= 0)
        i++;
    if (i == 8 && text[8] == '-' && strlen(text) > 36 && text[36] == ':')
        return parse_mysql(text, out, err);
    return parse_mariadb(text, out, err);
}

static bool same_src(const log_gtid *a, const log_gtid *b)
{
    return a->srclen == b->srclen && memcmp(a->src, b->src, a->srclen) == 0;
}

/* ------------------------------------------------------------------ entries */

static void entry_encode(rl_buf *b, const log_gtid_ent *e)
{
    size_t at = b->len;
    uint8_t v = GIDX_VERSION, l = e->g.srclen;
    rl_buf_append(b, &v, 1);
    rl_buf_append(b, &l, 1);
    rl_buf_append(b, e->g.src, e->g.srclen);
    rl_buf_put_be64(b, e->g.seq);
    rl_buf_put_be64(b, (uint64_t)e->off);
    if (rl_buf_ok(b))
        rl_buf_put_be32(b, rl_crc32c(0, b->p + at, b->len - at));
}

/* Decodes the entry at the start of s. Returns its size, 0 when s holds only part of one
 * (or nothing), RL_ECORRUPT when it is not an entry. */
static int entry_decode(rl_slice s, log_gtid_ent *e)
{
    if (s.len < 2)
        return 0;
    rl_reader rd = rl_reader_make(s);
    uint8_t v = rl_get_u8(&rd), l = rl_get_u8(&rd);
    if (v != GIDX_VERSION || l == 0 || l > LOG_GTID_SRC_MAX)
        return RL_ECORRUPT;
    if (s.len < GIDX_FIXED + l)
        return 0;
    rl_slice src = rl_get_bytes(&rd, l);
    uint64_t seq = rl_get_uNbe(&rd, 8);
    int64_t off = rl_get_i64be(&rd);
    uint32_t crc = (uint32_t)rl_get_i32be(&rd);
    if (rd.err || crc != rl_crc32c(0, s.p, GIDX_FIXED - 4 + l) || off < 0)
        return RL_ECORRUPT;
    memcpy(e->g.src, src.p, l);
    e->g.srclen = l;
    e->g.seq = seq;
    e->off = off;
    return (int)(GIDX_FIXED + l);
}

/* Streams the entries of a sidecar file's first `limit` bytes (UINT64_MAX: all) to fn, which
 * returns 0 to go on, 1 to stop. *good gets the byte count of the whole entries read before a
 * stop, damage or the end; *damaged whether a bad or incomplete entry ended the walk. A zero
 * byte where an entry would start, followed by zeros only up to the end of the file (or of
 * limit), is the clean end of a zero-filled sidecar, not damage. *fsize (may be NULL) gets
 * the file's size. Returns 0, -ENOENT (no file), -errno. */
typedef int (*entry_fn)(void *ctx, const log_gtid_ent *e);

/* True when the file's bytes from `at` to min(size, limit) are all zero. Reuses buf
 * (GIDX_CHUNK bytes). Returns 1, 0, or -errno. */
static int rest_is_zero(int fd, uint8_t *buf, uint64_t at, uint64_t limit)
{
    for (;;) {
        size_t want = GIDX_CHUNK;
        if (limit - at < want)
            want = (size_t)(limit - at);
        if (want == 0)
            return 1;
        ssize_t r = pread(fd, buf, want, (off_t)at);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return 1;
        for (ssize_t i = 0; i < r; i++)
            if (buf[i])
                return 0;
        at += (uint64_t)r;
    }
}

static int sidecar_walk(const char *path, uint64_t limit, entry_fn fn, void *ctx, uint64_t *good,
                        bool *damaged, uint64_t *fsize, rl_err *err)
{
    *good = 0;
    *damaged = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT)
            return -ENOENT;
        return rl_err_set(err, -e, "%s: open: %s", path, strerror(e));
    }
    if (fsize) {
        struct stat sb;
        if (fstat(fd, &sb) != 0) {
            int e = errno;
            close(fd);
            return rl_err_set(err, -e, "%s: stat: %s", path, strerror(e));
        }
        *fsize = (uint64_t)sb.st_size;
    }
    uint8_t *buf = malloc(GIDX_CHUNK);
    if (!buf) {
        close(fd);
        return rl_err_set(err, -ENOMEM, "%s: out of memory", path);
    }
    int rc = 0;
    size_t have = 0;  /* bytes in buf */
    uint64_t at = 0;  /* file position of buf[have] */
    bool eof = false; /* no more bytes to read */
    bool stop = false;
    while (!stop) {
        if (!eof && have < GIDX_ENTRY_MAX) {
            size_t want = GIDX_CHUNK - have;
            if (limit - at < want)
                want = (size_t)(limit - at);
            ssize_t r = want ? pread(fd, buf + have, want, (off_t)at) : 0;
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0) {
                rc = rl_err_set(err, -errno, "%s: read at byte %llu: %s", path,
                                (unsigned long long)at, strerror(errno));
                break;
            }
            if (r == 0)
                eof = true;
            have += (size_t)r;
            at += (uint64_t)r;
        }
        size_t used = 0;
        while (used < have) {
            log_gtid_ent e;
            int n = entry_decode(rl_slice_make(buf + used, have - used), &e);
            if (n == 0 && !eof && have - used < GIDX_ENTRY_MAX)
                break; /* read more */
            if (n <= 0) {
                stop = true;
                if (buf[used] == 0) {
                    /* Zero-filled ahead: the end when only zeros follow. */
                    uint64_t from = at - (have - used);
                    int z = rest_is_zero(fd, buf, from, limit);
                    if (z < 0)
                        rc = rl_err_set(err, z, "%s: read after byte %llu: %s", path,
                                        (unsigned long long)from, strerror(-z));
                    *damaged = z == 0;
                } else {
                    *damaged = true;
                }
                break;
            }
            if (fn(ctx, &e)) {
                stop = true;
                break;
            }
            used += (size_t)n;
            *good += (uint64_t)n;
        }
        if (stop)
            break;
        if (used == have && eof)
            break;
        memmove(buf, buf + used, have - used);
        have -= used;
    }
    free(buf);
    close(fd);
    return rc;
}

static void sidecar_path(char *out, size_t cap, const char *dir, int64_t base)
{
    if (log__segment_path(out, cap, dir, base, ".gtidindex") != 0)
        out[0] = 0;
}

/* ------------------------------------------------------------------ summaries */

/* Folds one entry into seg's summary. Caller holds the partition lock (or the segment is not
 * published yet). Returns 0 or -ENOMEM. */
static int gsum_add(log_segment *seg, const log_gtid_ent *e)
{
    if (e->off < seg->gmin_off)
        seg->gmin_off = e->off;
    for (size_t i = 0; i < seg->ngsum; i++) {
        log_gsum *s = &seg->gsum[i];
        if (!same_src(&s->g, &e->g))
            continue;
        if (e->g.seq < s->min_seq)
            s->min_seq = e->g.seq;
        if (e->g.seq > s->max_seq)
            s->max_seq = e->g.seq;
        if (e->off < s->min_off)
            s->min_off = e->off;
        return 0;
    }
    if (seg->ngsum == seg->capgsum) {
        size_t cap = seg->capgsum ? seg->capgsum * 2 : 2;
        log_gsum *n = realloc(seg->gsum, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        seg->gsum = n;
        seg->capgsum = cap;
    }
    log_gsum *s = &seg->gsum[seg->ngsum++];
    s->g = e->g;
    s->min_seq = s->max_seq = e->g.seq;
    s->min_off = e->off;
    return 0;
}

/* ------------------------------------------------------------------ writer */

int log__gidx_txn_end(log_partition *p, const log_gtid *g)
{
    int64_t end = p->next + p->open.count;
    if (end <= p->txn_from)
        return 0;
    if (g) {
        if (p->ngpend == p->capgpend) {
            size_t cap = p->capgpend ? p->capgpend * 2 : 16;
            log_gtid_ent *n = realloc(p->gpend, cap * sizeof *n);
            if (!n)
                return -ENOMEM;
            p->gpend = n;
            p->capgpend = cap;
        }
        p->gpend[p->ngpend++] = (log_gtid_ent){*g, p->txn_from};
    }
    p->txn_from = end;
    return 0;
}

void log__gidx_txn_reset(log_partition *p)
{
    p->txn_from = p->next + p->open.count;
}

static int unpub_push(log_partition *p, const log_gtid_ent *e, log_segment *seg)
{
    if (p->ngunpub == p->capgunpub) {
        size_t cap = p->capgunpub ? p->capgunpub * 2 : 16;
        log_gunpub *n = realloc(p->gunpub, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        p->gunpub = n;
        p->capgunpub = cap;
    }
    p->gunpub[p->ngunpub++] = (log_gunpub){*e, seg};
    return 0;
}

/* Zero-fills seg's sidecar (open as seg->gfd) from galloc to at least `upto` bytes and one
 * step beyond galloc (see GIDX_PREALLOC_MAX), rounded up to GIDX_PREALLOC, and fsyncs it (size and
 * blocks durable): the entries written below galloc are then overwrites of existing blocks
 * (see "Durability"). */
static int gidx_grow(log_partition *p, log_segment *seg, uint64_t upto, const char *path,
                     rl_err *err)
{
    if (upto <= seg->galloc)
        return 0;
    const log_io *io = &p->store->io;
    uint64_t step = seg->galloc < GIDX_PREALLOC       ? GIDX_PREALLOC
                    : seg->galloc > GIDX_PREALLOC_MAX ? GIDX_PREALLOC_MAX
                                                      : seg->galloc;
    uint64_t end = seg->galloc + step > upto ? seg->galloc + step : upto;
    end = (end + GIDX_PREALLOC - 1) / GIDX_PREALLOC * GIDX_PREALLOC;
    for (uint64_t at = seg->galloc; at < end;) {
        size_t n = end - at > GIDX_PREALLOC ? GIDX_PREALLOC : (size_t)(end - at);
        int rc = log__pwrite_all(io, seg->gfd, gidx_zeros, n, at);
        if (rc != 0)
            return rl_err_set(err, rc, "%s: zero-fill of %zu bytes at byte %llu: %s", path, n,
                              (unsigned long long)at, strerror(-rc));
        at += n;
    }
    if (io->sync(io->ctx, seg->gfd, false) != 0)
        return rl_err_set(err, -errno, "%s: fsync after zero-filling to %llu bytes: %s", path,
                          (unsigned long long)end, strerror(errno));
    log__count(&p->store->n_syncs, 1);
    seg->galloc = end;
    return 0;
}

static bool fs_overwrites_in_place(int fd)
{
    struct statfs sf;
    if (fstatfs(fd, &sf) != 0)
        return false;
    return sf.f_type == GIDX_FS_EXT4 || sf.f_type == GIDX_FS_XFS;
}

int log__gidx_write(log_partition *p, rl_err *err)
{
    size_t n = 0;
    while (n < p->ngpend && p->gpend[n].off < p->next)
        n++;
    if (n == 0)
        return 0;
    log_segment *seg = p->segs[p->nsegs - 1];
    char path[PATH_MAX];
    sidecar_path(path, sizeof path, p->dir, seg->base);
    if (seg->gfd < 0) {
        /* First write since the segment was created, opened or sealed (abort may reactivate
         * a sealed one): entries go after the committed ones. With none, whatever the file
         * holds is not this segment's (a leftover of a crash): start it afresh. */
        seg->gfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | (seg->gsize == 0 ? O_TRUNC : 0), 0644);
        if (seg->gfd < 0)
            return rl_err_set(err, -errno, "%s: open: %s", path, strerror(errno));
        if (seg->gsize == 0) {
            p->dir_dirty = true; /* possibly a new file: its name must be durable too */
            seg->galloc = 0;
        }
        seg->grange = fs_overwrites_in_place(seg->gfd);
    }
    rl_buf_reset(&p->gbuf);
    for (size_t i = 0; i < n; i++)
        entry_encode(&p->gbuf, &p->gpend[i]);
    if (!rl_buf_ok(&p->gbuf))
        return rl_err_set(err, -ENOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < n; i++)
        if (unpub_push(p, &p->gpend[i], seg) != 0)
            return rl_err_set(err, -ENOMEM, "%s: out of memory", path);
    int rc;
    if (seg->grange && (rc = gidx_grow(p, seg, seg->gsize + p->gbuf.len, path, err)) != 0)
        return rc;
    rc = log__pwrite_all(&p->store->io, seg->gfd, p->gbuf.p, p->gbuf.len, seg->gsize);
    if (rc != 0)
        return rl_err_set(err, rc, "%s: write of %zu bytes at byte %llu: %s", path, p->gbuf.len,
                          (unsigned long long)seg->gsize, strerror(-rc));
    if (!seg->gdirty)
        seg->gsync_from = seg->gsize;
    seg->gsize += p->gbuf.len;
    seg->gdirty = true;
    memmove(p->gpend, p->gpend + n, (p->ngpend - n) * sizeof *p->gpend);
    p->ngpend -= n;
    if (p->sync_from == SIZE_MAX)
        p->sync_from = p->nsegs - 1;
    return 0;
}

static int sys_range_write(int fd, uint64_t at, uint64_t n)
{
    return sync_file_range(fd, (off64_t)at, (off64_t)n,
                           SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                               SYNC_FILE_RANGE_WAIT_AFTER);
}

int log__gidx_sync(log_segment *seg, const log_io *io, rl_err *err)
{
    if (!seg->gdirty || seg->gfd < 0)
        return 0;
    if (seg->grange && seg->gsize <= seg->galloc) {
        uint64_t at = seg->gsync_from, n = seg->gsize - seg->gsync_from;
        int r = io->range_write ? io->range_write(io->ctx, seg->gfd, at, n)
                                : sys_range_write(seg->gfd, at, n);
        if (r != 0)
            return rl_err_set(err, -errno, "%s: write-out of %llu bytes of its .gtidindex: %s",
                              seg->path, (unsigned long long)n, strerror(errno));
    } else if (io->sync(io->ctx, seg->gfd, true) != 0) {
        return rl_err_set(err, -errno, "%s: fdatasync of its .gtidindex: %s", seg->path,
                          strerror(errno));
    }
    seg->gdirty = false;
    return 0;
}

int log__gidx_seal(log_partition *p, log_segment *seg, rl_err *err)
{
    int rc = log__gidx_write(p, err);
    if (rc == 0 && seg->gfd >= 0) {
        const log_io *io = &p->store->io;
        /* A sealed sidecar holds its entries only: the zero-filled tail goes. */
        bool trim = seg->galloc > seg->gsize;
        if (trim && ftruncate(seg->gfd, (off_t)seg->gsize) != 0)
            return rl_err_set(err, -errno, "%s: trim of its .gtidindex to %llu bytes: %s",
                              seg->path, (unsigned long long)seg->gsize, strerror(errno));
        if ((seg->gdirty || trim) && io->sync(io->ctx, seg->gfd, false) != 0)
            return rl_err_set(err, -errno, "%s: fsync of its .gtidindex: %s", seg->path,
                              strerror(errno));
        seg->gdirty = false;
        seg->galloc = seg->gsize;
        close(seg->gfd);
        seg->gfd = -1;
    }
    return rc;
}

void log__gidx_publish(log_partition *p)
{
    if (p->ngunpub == 0)
        return;
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->ngunpub; i++) {
        if (gsum_add(p->gunpub[i].seg, &p->gunpub[i].e) != 0) {
            /* Without room for the summary the entry cannot be found by a lookup: mark the
             * segment so lookups answer conservatively (earlier) from there. */
            log_segment *seg = p->gunpub[i].seg;
            if (p->gunpub[i].e.off < seg->glossy_from)
                seg->glossy_from = p->gunpub[i].e.off;
        }
    }
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < p->ngunpub; i++) {
        log_segment *seg = p->gunpub[i].seg;
        atomic_store_explicit(&seg->gcommitted, seg->gsize, memory_order_release);
    }
    p->ngunpub = 0;
}

int log__gidx_abort(log_partition *p, rl_err *err)
{
    p->ngpend = 0;
    p->ngunpub = 0;
    log_segment *seg = p->segs[p->nsegs - 1];
    uint64_t keep = atomic_load_explicit(&seg->gcommitted, memory_order_relaxed);
    if (seg->gsize != keep) {
        char path[PATH_MAX];
        sidecar_path(path, sizeof path, p->dir, seg->base);
        if (truncate(path, (off_t)keep) != 0 && errno != ENOENT)
            return rl_err_set(err, -errno, "%s: cut back to %llu bytes: %s", path,
                              (unsigned long long)keep, strerror(errno));
        seg->gsize = keep;
        seg->galloc = keep;  /* zero-filled again (and fsynced) by the next write */
        seg->gdirty = false; /* what stays was made durable by its commit */
    }
    p->txn_from = p->next;
    return 0;
}

/* ------------------------------------------------------------------ loading */

typedef struct load_ctx {
    log_segment *seg;
    int64_t cut;
    int64_t last_off; /* offsets must not decrease */
    int64_t last_good;
    bool out_of_order;
    bool cut_hit;
    int rc;
} load_ctx;

static int load_entry(void *ctx, const log_gtid_ent *e)
{
    load_ctx *lc = ctx;
    if (e->off < lc->last_off) {
        lc->out_of_order = true;
        return 1;
    }
    if (e->off >= lc->cut) {
        lc->cut_hit = true;
        return 1;
    }
    lc->last_off = e->off;
    lc->last_good = e->off;
    if (gsum_add(lc->seg, e) != 0) {
        lc->rc = -ENOMEM;
        return 1;
    }
    return 0;
}

int log__gidx_load(log_segment *seg, const char *dir, int64_t cut, bool last, rl_err *err)
{
    char path[PATH_MAX];
    sidecar_path(path, sizeof path, dir, seg->base);
    seg->ngsum = 0;
    seg->gmin_off = INT64_MAX;
    seg->glossy_from = INT64_MAX;
    load_ctx lc = {seg, cut, 0, -1, false, false, 0};
    uint64_t good = 0, fsize = 0;
    bool damaged = false;
    int rc = sidecar_walk(path, UINT64_MAX, load_entry, &lc, &good, &damaged, &fsize, err);
    (void)fsize;
    if (rc == -ENOENT) {
        rc = 0;
        good = 0;
    } else if (rc != 0) {
        return rc;
    } else if (lc.rc != 0) {
        return rl_err_set(err, lc.rc, "%s: out of memory", path);
    } else if (damaged || lc.out_of_order || lc.cut_hit) {
        const char *why = lc.cut_hit        ? NULL
                          : lc.out_of_order ? "an entry's offset goes backwards"
                                            : "a damaged or incomplete entry";
        if (last) {
            /* Entries are durable with their commit, so damage past the committed ones is
             * a torn write of uncommitted entries; entries at or above the cut belong to
             * records the recovery drops. */
            if (why)
                rl_warn("%s: byte %llu: %s; truncating the GTID index there (entries written "
                        "after the last commit)",
                        path, (unsigned long long)good, why);
            if (truncate(path, (off_t)good) != 0)
                return rl_err_set(err, -errno, "%s: truncate to %llu bytes: %s", path,
                                  (unsigned long long)good, strerror(errno));
        } else if (why) {
            /* A sealed segment's sidecar was fsynced at its roll: this is later damage. Its
             * entries cannot be rebuilt from the records, so lookups that could land in the
             * damaged part answer from the last good entry (earlier: repeats, never skips). */
            seg->glossy_from = lc.last_good >= 0 ? lc.last_good : seg->base;
            rl_error("%s: byte %llu: %s; GTID lookups reaching this segment start from offset "
                     "%lld",
                     path, (unsigned long long)good, why, (long long)seg->glossy_from);
        }
    }
    seg->gsize = good;
    /* A zero tail found after the entries is not trusted as preallocated: the process that
     * wrote it may have died before its fsync, leaving blocks that were never instantiated,
     * and overwrites made durable by sync_file_range alone need instantiated blocks. The
     * next write zero-fills and fsyncs from here again (gidx_grow). */
    seg->galloc = good;
    atomic_store_explicit(&seg->gcommitted, good, memory_order_relaxed);
    return 0;
}

/* ------------------------------------------------------------------ checking */

typedef struct check_ctx {
    int64_t end;
    int64_t last_off;
    int64_t bad_off; /* offset of the entry that broke the rules, or -1 */
    bool backwards;
} check_ctx;

static int check_entry(void *ctx, const log_gtid_ent *e)
{
    check_ctx *cc = ctx;
    if (e->off < cc->last_off) {
        cc->backwards = true;
        cc->bad_off = e->off;
        return 1;
    }
    if (e->off >= cc->end) {
        cc->bad_off = e->off;
        return 1;
    }
    cc->last_off = e->off;
    return 0;
}

int log__gidx_check(const char *dir, int64_t base, int64_t end, uint64_t *good, char *why,
                    size_t cap, rl_err *err)
{
    char path[PATH_MAX];
    sidecar_path(path, sizeof path, dir, base);
    check_ctx cc = {end, 0, -1, false};
    bool damaged = false;
    why[0] = 0;
    int rc = sidecar_walk(path, UINT64_MAX, check_entry, &cc, good, &damaged, NULL, err);
    if (rc == -ENOENT)
        return 0;
    if (rc != 0)
        return rc;
    if (damaged)
        snprintf(why, cap, "a damaged or incomplete entry");
    else if (cc.backwards)
        snprintf(why, cap, "an entry's offset %lld goes backwards", (long long)cc.bad_off);
    else if (cc.bad_off >= 0)
        snprintf(why, cap, "an entry names offset %lld, at or after the segment's end %lld",
                 (long long)cc.bad_off, (long long)end);
    return why[0] ? 1 : 0;
}

/* ------------------------------------------------------------------ lookup */

typedef struct cand {
    log_segment *seg;
    int64_t base;
    int64_t min_off;
    uint64_t committed;
} cand;

typedef struct find_ctx {
    const log_gtid *g;
    int64_t hwm;
    int64_t best;
} find_ctx;

static int find_entry(void *ctx, const log_gtid_ent *e)
{
    find_ctx *fc = ctx;
    if (e->off >= fc->hwm)
        return 1; /* offsets increase: the rest is not committed */
    if (e->g.seq >= fc->g->seq && e->off < fc->best && same_src(&e->g, fc->g))
        fc->best = e->off;
    return 0;
}

int log__partition_offset_for_gtid(log_partition *p, const log_gtid *g, int64_t *offset,
                                   rl_err *err)
{
    int64_t hwm = atomic_load_explicit(&p->hwm, memory_order_acquire);
    cand *cs = NULL;
    size_t nc = 0;
    bool any = false;
    uint64_t gmin = UINT64_MAX, gmax = 0;
    int64_t lossy = INT64_MAX;
    pthread_mutex_lock(&p->lock);
    int64_t log_start = atomic_load_explicit(&p->log_start, memory_order_relaxed);
    cs = malloc((p->nsegs ? p->nsegs : 1) * sizeof *cs);
    if (!cs) {
        pthread_mutex_unlock(&p->lock);
        return rl_err_set(err, -ENOMEM, "%s: out of memory", p->dir);
    }
    for (size_t i = 0; i < p->nsegs; i++) {
        log_segment *seg = p->segs[i];
        if (seg->base >= hwm && i > 0)
            break; /* only uncommitted data from here on */
        if (seg->glossy_from < lossy)
            lossy = seg->glossy_from;
        for (size_t k = 0; k < seg->ngsum; k++) {
            const log_gsum *s = &seg->gsum[k];
            if (!same_src(&s->g, g))
                continue;
            any = true;
            if (s->min_seq < gmin)
                gmin = s->min_seq;
            if (s->max_seq > gmax)
                gmax = s->max_seq;
            if (s->max_seq >= g->seq) {
                log__segment_ref(seg);
                cs[nc++] = (cand){seg, seg->base, seg->gmin_off,
                                  atomic_load_explicit(&seg->gcommitted, memory_order_acquire)};
            }
            break;
        }
    }
    pthread_mutex_unlock(&p->lock);
    int rc = 0;
    int64_t best;
    if (!any || gmax < g->seq) {
        best = hwm;
    } else if (g->seq < gmin) {
        best = log_start;
    } else {
        find_ctx fc = {g, hwm, INT64_MAX};
        for (size_t i = 0; i < nc && rc == 0; i++) {
            if (cs[i].min_off >= fc.best)
                continue; /* nothing in it can beat the answer so far */
            char path[PATH_MAX];
            sidecar_path(path, sizeof path, p->dir, cs[i].base);
            uint64_t good;
            bool damaged;
            rc = sidecar_walk(path, cs[i].committed, find_entry, &fc, &good, &damaged, NULL, err);
            if (rc == -ENOENT) {
                /* Deleted by retention meanwhile: its records are gone, the log start has
                 * moved past them; start no later than where it began. */
                if (cs[i].base < fc.best)
                    fc.best = cs[i].base;
                rc = 0;
            }
        }
        best = fc.best == INT64_MAX ? hwm : fc.best;
    }
    for (size_t i = 0; i < nc; i++)
        log__segment_unref(cs[i].seg);
    free(cs);
    if (rc != 0)
        return rc;
    if (lossy < best)
        best = lossy;
    log_start = atomic_load_explicit(&p->log_start, memory_order_acquire);
    if (best < log_start)
        best = log_start;
    if (best > hwm)
        best = hwm;
    *offset = best;
    return 0;
}
