/*
 * check.c - the offline log checker and repair (log_check; `rowlog log check DIR
 * [--repair]`). It reads the directory layout of docs/format-log.md directly, without
 * log_store_open (which refuses a damaged log), under the store's DIR/lock so that no store
 * writes meanwhile.
 *
 * A batch is damaged when its header does not parse (magic, lengths), it is incomplete, its
 * CRC32C does not match, its records do not decode, or its baseOffset does not follow the
 * previous batch. When the header parses, the walk goes on after the damaged batch by its
 * length, so every damaged batch is reported; when it does not, the rest of the segment is
 * unreadable and reported as one finding. Zero bytes end the last segment cleanly
 * (preallocated space) and are damage inside a sealed one.
 */
#include "log/log_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct checker {
    const char *dir;
    bool repair;
    void (*fn)(void *ctx, const char *line);
    void *ctx;
    int findings;
} checker;

static void say(checker *ck, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(checker *ck, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    ck->fn(ck->ctx, line);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Base offsets of pdir's segment files, sorted (a read-only listing: nothing is deleted). */
static int list_bases(const char *pdir, int64_t **out, size_t *n, rl_err *err)
{
    DIR *d = opendir(pdir);
    if (!d)
        return rl_err_set(err, -errno, "%s: opendir: %s", pdir, strerror(errno));
    int64_t *v = NULL;
    size_t cnt = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        int64_t base = 0;
        if (!log__segment_name_parse(nm, &base))
            continue;
        if (cnt == cap) {
            cap = cap ? cap * 2 : 16;
            int64_t *nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                free(v);
                closedir(d);
                return rl_err_set(err, -ENOMEM, "%s: out of memory", pdir);
            }
            v = nv;
        }
        v[cnt++] = base;
    }
    closedir(d);
    if (cnt > 0)
        qsort(v, cnt, sizeof *v, cmp_i64);
    *out = v;
    *n = cnt;
    return 0;
}

static bool zeros(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* The first damage of a partition: where a repair cuts. */
typedef struct cut {
    bool found;
    bool whole; /* the segment itself is out of place: remove it rather than truncate it */
    size_t seg; /* index into the bases */
    uint64_t pos;
    int64_t offset;
} cut;

static void note_cut(cut *c, size_t seg, uint64_t pos, int64_t offset)
{
    if (!c->found) {
        c->found = true;
        c->seg = seg;
        c->pos = pos;
        c->offset = offset;
        c->whole = false;
    }
}

/* Walks one segment. *expected is the offset its first batch must have (updated to the
 * offset after its last batch). */
static int check_segment(checker *ck, const char *pdir, int64_t base, size_t si, bool last,
                         int64_t *expected, bool *known, cut *c, bool *stale_index, rl_err *err)
{
    log_segment *seg = NULL;
    uint64_t fsize = 0;
    int rc = log__segment_open_file(pdir, base, 0, &seg, &fsize, err);
    if (rc != 0)
        return rc;
    if (si > 0 && base != *expected) {
        ck->findings++;
        say(ck, "%s: starts at offset %lld but the previous segment ends at %lld", seg->path,
            (long long)base, (long long)*expected);
        if (!c->found) {
            note_cut(c, si, 0, *expected);
            c->whole = true;
        }
    }
    log_walk w;
    log__walk_init(&w, seg->map, fsize, base);
    bool clean = true;
    if (!last && fsize == 0) {
        ck->findings++;
        clean = false;
        say(ck, "%s: empty segment before the last one", seg->path);
        note_cut(c, si, 0, w.next);
    }
    for (;;) {
        log_batch_hdr h;
        rl_err e = {0, ""};
        int st = log__walk_step(&w, true, &h, &e);
        if (st == LOG_WALK_END)
            break;
        uint64_t avail = fsize - w.pos;
        if (st == LOG_WALK_ZEROS) {
            if (!last || !zeros(seg->map + w.pos, (size_t)avail)) {
                ck->findings++;
                clean = false;
                say(ck, "%s: byte %llu (offset %lld): zero bytes followed by %s", seg->path,
                    (unsigned long long)w.pos, (long long)w.next,
                    last ? "data: a hole inside the log" : "the end of a sealed segment");
                note_cut(c, si, w.pos, w.next);
            }
            break;
        }
        if (st == LOG_WALK_INCOMPLETE || st == LOG_WALK_BAD_HEADER) {
            ck->findings++;
            clean = false;
            say(ck,
                "%s: byte %llu (offset %lld): %s%s; the remaining %llu bytes of the "
                "segment cannot be read",
                seg->path, (unsigned long long)w.pos, (long long)w.next,
                st == LOG_WALK_INCOMPLETE ? "incomplete batch: " : "", e.msg,
                (unsigned long long)avail);
            note_cut(c, si, w.pos, w.next);
            *known = false; /* where this segment ends is unknown */
            break;
        }
        const char *why = NULL;
        char whybuf[600];
        if (st == LOG_WALK_BAD_SEQ) {
            snprintf(whybuf, sizeof whybuf, "baseOffset %lld, expected %lld", (long long)h.base,
                     (long long)w.next);
            why = whybuf;
        } else if (st == LOG_WALK_BAD_CRC) {
            why = "CRC32C mismatch";
        } else if (st == LOG_WALK_BAD_RECORDS) {
            snprintf(whybuf, sizeof whybuf, "records do not decode: %s", e.msg);
            why = whybuf;
        }
        if (why) {
            ck->findings++;
            clean = false;
            say(ck, "%s: byte %llu (offset %lld, %u bytes): damaged batch: %s", seg->path,
                (unsigned long long)w.pos, (long long)w.next, h.size, why);
            note_cut(c, si, w.pos, w.next);
        }
        log__walk_skip(&w, &h);
    }
    int64_t next = w.next;
    log__walk_free(&w);
    /* The GTID index: reported, not repaired (its entries cannot be rebuilt from the
     * records; the open marks a damaged sealed one so lookups answer earlier, and cuts a
     * damaged tail of the last one). The last segment's entries may run past its batches when
     * the tail was cut: only damage counts there. */
    uint64_t ggood = 0;
    char gwhy[160];
    int gr = log__gidx_check(pdir, base, last ? INT64_MAX : next, &ggood, gwhy, sizeof gwhy, err);
    if (gr < 0) {
        log__segment_free(seg);
        return gr;
    }
    if (gr > 0) {
        ck->findings++;
        say(ck, "%s: .gtidindex byte %llu: %s (%s)", seg->path, (unsigned long long)ggood, gwhy,
            last ? "cut back at the next open"
                 : "kept; GTID lookups reaching this segment start from its last good entry");
    }
    if (!last && clean && fsize > 0) {
        if (!log__segment_index_files_ok(seg, pdir, fsize)) {
            ck->findings++;
            *stale_index = true;
            say(ck,
                "%s: .index/.timeindex missing, stale or damaged (--repair removes them; "
                "they are rebuilt at the next open)",
                seg->path);
            if (ck->repair) {
                log__segment_unlink(pdir, base, LOG_FILE_INDEXES);
                say(ck, "repair: removed the index files of %s", seg->path);
            }
        }
    }
    *expected = next;
    log__segment_free(seg);
    return 0;
}

static int repair_partition(checker *ck, const char *pdir, const char *topic, uint32_t id,
                            const int64_t *bases, size_t n, const cut *c, int64_t end, rl_err *err)
{
    char path[PATH_MAX];
    if (log__segment_path(path, sizeof path, pdir, bases[c->seg], ".log") != 0)
        return rl_err_set(err, -ENAMETOOLONG, "%s: path too long", pdir);
    int64_t last = end > c->offset ? end - 1 : c->offset;
    int rc = 0;
    size_t from = c->seg + 1;
    if (c->whole) {
        say(ck,
            "repair: %s: out of sequence: removing it%s; offsets from %lld (up to %lld) "
            "will be lost",
            path, c->seg + 1 < n ? " with every later segment" : "", (long long)c->offset,
            (long long)last);
        from = c->seg;
    } else {
        say(ck, "repair: %s: cutting at byte %llu: offsets %lld..%lld will be lost%s", path,
            (unsigned long long)c->pos, (long long)c->offset, (long long)last,
            c->seg + 1 < n ? ", with every later segment" : "");
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
            return rl_err_set(err, -errno, "%s: open: %s", path, strerror(errno));
        if (ftruncate(fd, (off_t)c->pos) != 0 || fsync(fd) != 0)
            rc = rl_err_set(err, -errno, "%s: truncate: %s", path, strerror(errno));
        close(fd);
        if (rc != 0)
            return rc;
        log__segment_unlink(pdir, bases[c->seg], LOG_FILE_INDEXES);
    }
    for (size_t i = from; i < n; i++) {
        log__segment_unlink(pdir, bases[i], LOG_FILE_ALL);
        say(ck, "repair: %s/%020lld.log removed", pdir, (long long)bases[i]);
    }
    if ((rc = rl_dir_fsync(pdir)) != 0)
        return rl_err_set(err, rc, "%s: fsync: %s", pdir, strerror(-rc));
    int64_t old;
    if ((rc = log__checkpoint_lower(ck->dir, topic, id, c->offset, &old, err)) != 0)
        return rc;
    if (old > c->offset)
        say(ck,
            "repair: checkpoint: %s-%u end offset lowered from %lld to %lld (the source "
            "position is kept: the lost records are not re-read)",
            topic, id, (long long)old, (long long)c->offset);
    return 0;
}

static int check_partition(checker *ck, const char *topic, uint32_t id, rl_err *err)
{
    char pdir[PATH_MAX];
    if (snprintf(pdir, sizeof pdir, "%s/%s-%u", ck->dir, topic, id) >= (int)sizeof pdir)
        return rl_err_set(err, -ENAMETOOLONG, "%s/%s-%u: path too long", ck->dir, topic, id);
    int64_t *bases = NULL;
    size_t n = 0;
    int rc = list_bases(pdir, &bases, &n, err);
    if (rc != 0)
        return rc;
    cut c = {.found = false};
    int64_t expected = n ? bases[0] : 0;
    bool stale = false, known = true;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (i > 0 && !known) {
            known = true; /* the previous segment's end was unreadable: trust this base */
            expected = bases[i];
        }
        rc = check_segment(ck, pdir, bases[i], i, i + 1 == n, &expected, &known, &c, &stale, err);
    }
    if (rc == 0 && c.found && ck->repair)
        rc = repair_partition(ck, pdir, topic, id, bases, n, &c, expected, err);
    free(bases);
    return rc;
}

/* "<topic>-<id>" directory names (as store.c parses them). */
static bool part_dir(const char *nm, char *topic, uint32_t *id)
{
    const char *dash = strrchr(nm, '-');
    if (!dash || dash == nm || !dash[1] || strlen(dash + 1) > 5 || (dash[1] == '0' && dash[2]))
        return false;
    uint32_t v = 0;
    for (const char *d = dash + 1; *d; d++) {
        if (*d < '0' || *d > '9')
            return false;
        v = v * 10 + (uint32_t)(*d - '0');
    }
    size_t len = (size_t)(dash - nm);
    if (v >= LOG_PARTITIONS_MAX || !log__topic_name_ok(nm, len))
        return false;
    memcpy(topic, nm, len);
    topic[len] = 0;
    *id = v;
    return true;
}

int log_check(const char *dir, bool repair, void (*fn)(void *ctx, const char *line), void *ctx,
              rl_err *err)
{
    checker ck = {dir, repair, fn, ctx, 0};
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/lock", dir) >= (int)sizeof path)
        return rl_err_set(err, -ENAMETOOLONG, "%s: path too long", dir);
    int lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock_fd < 0)
        return rl_err_set(err, -errno, "%s: open: %s", path, strerror(errno));
    if (flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(lock_fd);
        return e == EWOULDBLOCK
                   ? rl_err_set(err, -EBUSY, "%s: the log is open (stop rowlogd first)", dir)
                   : rl_err_set(err, -e, "%s: flock: %s", path, strerror(e));
    }
    int64_t unused;
    /* Parses and CRC-checks the checkpoint (a partition that is not there changes nothing). */
    int rc = log__checkpoint_lower(dir, "", 0, 0, &unused, err);
    if (rc != 0) {
        say(&ck, "%s", err ? err->msg : "checkpoint unreadable");
        goto done;
    }
    DIR *d = opendir(dir);
    if (!d) {
        rc = rl_err_set(err, -errno, "%s: opendir: %s", dir, strerror(errno));
        goto done;
    }
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        char topic[LOG_TOPIC_MAX + 1];
        uint32_t id;
        if (!part_dir(de->d_name, topic, &id))
            continue;
        rc = check_partition(&ck, topic, id, err);
    }
    closedir(d);
done:
    close(lock_fd);
    return rc != 0 ? rc : ck.findings;
}
