/*
 * file.c - local binlog files as an event source (binlog_file_*): read through mmap
 * (binlog_file_next: slices valid until close), or with pread into one reused buffer
 * (binlog_file_next_transient: slices valid until the next call).
 *
 * Source: mysql-server libs/mysql/binlog/event/binlog_event.h (BINLOG_MAGIC, Log_event_header).
 * Mirrored in docs/format-binlog.md.
 *
 *   off size field
 *   0   4    magic fe 62 69 6e ("\xfebin")
 *   4   ...  events back to back: 19-byte header (event_size u32 LE at +9) + rest
 *
 * A file may end in zero-filled preallocated space: an all-zero header whose remaining bytes
 * are all zero reads as a clean end (STYLE rule 17). Anything else that does not fit is
 * RL_ECORRUPT naming the offset. Errors stick.
 *
 * Why two ways: on this project's machines (virtualized, file pages shared with the page
 * cache) the first touch of every page of a mapping is expensive even with the page tables
 * populated ahead: framing a 928 MB file of 7.5 M events cost 0.94-0.98 CPU s through the
 * mapping and 0.25-0.29 CPU s with pread into a 256 KiB buffer (bench/RESULTS.md section 1),
 * the buffer staying in the CPU's cache for the checksum and the decoder that read it next.
 * Both yield the same events and the same errors for the same bytes; a caller that keeps
 * slices of earlier events uses binlog_file_next.
 */
#include "reader/binlog_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Size of binlog_file_next_transient's buffer: small enough to stay in a core's L2 cache
 * while the checksum and the decoder read what was just copied in; one pread per 256 KiB is
 * no cost at all. An event larger than the buffer grows it (to a multiple of this). */
enum { FILE_BUFFER = 256u << 10 };

struct binlog_file {
    const uint8_t *map;
    size_t size;
    size_t off;
    size_t populated; /* bytes of the mapping already populated (page-aligned) */
    int fd;           /* for binlog_file_next_transient */
    uint8_t *buf;     /* its buffer: file bytes [bstart, bstart + blen) */
    size_t bcap, blen, bstart, bunit;
    char *path;
    int fail_code;
    rl_err fail;
};

int binlog_file_open(binlog_file_t **out, const char *path, rl_err *err)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return rl_err_set(err, -e, "open %s: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return rl_err_set(err, -e, "stat %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return rl_err_set(err, RL_ECORRUPT, "%s: not a binlog (not a regular file)", path);
    }
    size_t size = (size_t)st.st_size;
    if (size < 4) {
        close(fd);
        return rl_err_set(err, RL_ECORRUPT, "%s: not a binlog (%zu bytes, no magic)", path, size);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        int e = errno;
        close(fd);
        return rl_err_set(err, -e, "mmap %s: %s", path, strerror(e));
    }
    /* The mapping is only touched by binlog_file_next: a caller of the transient reader
     * never faults a page of it in. */
    (void)madvise(map, size, MADV_SEQUENTIAL);
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    static const uint8_t magic[4] = {0xfe, 0x62, 0x69, 0x6e};
    uint8_t head[4];
    ssize_t got = pread(fd, head, sizeof head, 0);
    if (got != (ssize_t)sizeof head || memcmp(head, magic, 4) != 0) {
        munmap(map, size);
        close(fd);
        return rl_err_set(err, RL_ECORRUPT, "%s: not a binlog (bad magic)", path);
    }
    binlog_file_t *f = calloc(1, sizeof *f);
    char *p = strdup(path);
    if (!f || !p) {
        free(f);
        free(p);
        munmap(map, size);
        close(fd);
        return rl_err_set(err, -ENOMEM, "out of memory");
    }
    f->map = map;
    f->size = size;
    f->off = 4;
    f->fd = fd;
    f->bunit = FILE_BUFFER;
    f->path = p;
    *out = f;
    return 0;
}

static int file_fail(binlog_file_t *f, rl_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int file_fail(binlog_file_t *f, rl_err *err, const char *fmt, ...)
{
    char detail[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    rl_err_set(&f->fail, RL_ECORRUPT, "%s at %zu: %s", f->path, f->off, detail);
    f->fail_code = RL_ECORRUPT;
    if (err)
        *err = f->fail;
    return RL_ECORRUPT;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* False when the header at p (left bytes remain) has a non-zero event_size (bytes 9-12): it
 * cannot start a zero tail, and the byte-by-byte test is skipped (every event takes this
 * path). */
static inline bool may_be_zero(const uint8_t *p, size_t left)
{
    return left < BINLOG_HEADER_LEN || (p[9] | p[10] | p[11] | p[12]) == 0;
}

/* Page tables for the mapping are filled a window ahead of the reader, in one madvise per
 * window, instead of one page fault per few pages (about a sixth of a dump's CPU time on a
 * file in the page cache). Without MADV_POPULATE_READ (Linux < 5.14) the faults remain. */
enum { FILE_POPULATE_WINDOW = 8u << 20 };

static void populate_ahead(binlog_file_t *f, size_t upto)
{
#ifdef MADV_POPULATE_READ
    while (f->populated < upto && f->populated < f->size) {
        size_t n = f->size - f->populated;
        if (n > FILE_POPULATE_WINDOW)
            n = FILE_POPULATE_WINDOW;
        if (madvise((void *)(uintptr_t)(f->map + f->populated), n, MADV_POPULATE_READ) != 0) {
            f->populated = f->size; /* not supported here: leave it to page faults */
            return;
        }
        f->populated += n;
    }
#else
    (void)f;
    (void)upto;
#endif
}

int binlog_file_next(binlog_file_t *f, rl_slice *ev, rl_err *err)
{
    if (f->fail_code) {
        if (err)
            *err = f->fail;
        return f->fail_code;
    }
    size_t left = f->size - f->off;
    if (left == 0)
        return 0;
    if (f->off + BINLOG_HEADER_LEN > f->populated)
        populate_ahead(f, f->off + BINLOG_HEADER_LEN);
    const uint8_t *p = f->map + f->off;
    if (may_be_zero(p, left) &&
        all_zero(p, left < BINLOG_HEADER_LEN ? left : BINLOG_HEADER_LEN) && all_zero(p, left)) {
        f->off = f->size; /* zero-filled preallocated tail */
        return 0;
    }
    if (left < BINLOG_HEADER_LEN)
        return file_fail(f, err, "truncated event header (%zu of 19 bytes)", left);
    uint32_t size =
        (uint32_t)p[9] | (uint32_t)p[10] << 8 | (uint32_t)p[11] << 16 | (uint32_t)p[12] << 24;
    if (size < BINLOG_HEADER_LEN)
        return file_fail(f, err, "event_size %u is below the 19-byte header (type %u)", size, p[4]);
    if (size > left)
        return file_fail(f, err,
                         "event of %u bytes (type %u) runs past the end of the file (%zu bytes "
                         "left)",
                         size, p[4], left);
    if (f->off + size > f->populated)
        populate_ahead(f, f->off + size);
    *ev = rl_slice_make(p, size);
    f->off += size;
    return 1;
}

/* A read error: sticky like the others, with its errno. */
static int file_read_fail(binlog_file_t *f, rl_err *err, int e, size_t at)
{
    if (e == 0) {
        rl_err_set(&f->fail, RL_ECORRUPT, "%s at %zu: file shorter than its size at open (%zu)",
                   f->path, at, f->size);
        f->fail_code = RL_ECORRUPT;
    } else {
        rl_err_set(&f->fail, -e, "read %s at %zu: %s", f->path, at, strerror(e));
        f->fail_code = -e;
    }
    if (err)
        *err = f->fail;
    return f->fail_code;
}

/* Makes file bytes [f->off, f->off + need) sit in the buffer (need <= f->size - f->off):
 * keeps what is already there from f->off on (moved to the front), grows the buffer when
 * need is larger, reads with pread up to the buffer's end or the file's. Returns 0 or an
 * error (sticky). */
static int file_fill(binlog_file_t *f, size_t need, rl_err *err)
{
    if (f->off >= f->bstart && f->off + need <= f->bstart + f->blen)
        return 0;
    size_t keep = 0;
    if (f->off >= f->bstart && f->off < f->bstart + f->blen) {
        keep = f->bstart + f->blen - f->off;
        memmove(f->buf, f->buf + (f->off - f->bstart), keep);
    }
    if (need > f->bcap) {
        size_t cap = (need + f->bunit - 1) / f->bunit * f->bunit;
        uint8_t *nb = realloc(f->buf, cap);
        if (!nb) {
            rl_err_set(&f->fail, -ENOMEM, "%s at %zu: out of memory for an event of %zu bytes",
                       f->path, f->off, need);
            f->fail_code = -ENOMEM;
            if (err)
                *err = f->fail;
            return f->fail_code;
        }
        f->buf = nb;
        f->bcap = cap;
    }
    f->bstart = f->off;
    f->blen = keep;
    size_t want = f->size - f->off;
    if (want > f->bcap)
        want = f->bcap;
    while (f->blen < want) {
        ssize_t n = pread(f->fd, f->buf + f->blen, want - f->blen, (off_t)(f->bstart + f->blen));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return file_read_fail(f, err, n < 0 ? errno : 0, f->bstart + f->blen);
        f->blen += (size_t)n;
    }
    return 0;
}

/* True when file bytes [f->off, end of file) are all zero; reads them through the buffer
 * (the end of the file: nothing after it is needed). Sets *rc to an error on a read error. */
static bool file_rest_zero(binlog_file_t *f, rl_err *err, int *rc)
{
    size_t save = f->off;
    bool zero = true;
    while (zero && f->off < f->size) {
        size_t n = f->size - f->off;
        if (n > f->bunit)
            n = f->bunit;
        if ((*rc = file_fill(f, n, err)) < 0)
            break;
        zero = all_zero(f->buf + (f->off - f->bstart), n);
        f->off += n;
    }
    f->off = save;
    return zero;
}

int binlog_file_next_transient(binlog_file_t *f, rl_slice *ev, rl_err *err)
{
    if (f->fail_code) {
        if (err)
            *err = f->fail;
        return f->fail_code;
    }
    size_t left = f->size - f->off;
    if (left == 0)
        return 0;
    size_t hn = left < BINLOG_HEADER_LEN ? left : BINLOG_HEADER_LEN;
    size_t bend = f->bstart + f->blen; /* f->off >= f->bstart always holds here */
    int rc = 0;
    if (f->off + hn > bend && (rc = file_fill(f, hn, err)) < 0)
        return rc;
    const uint8_t *p = f->buf + (f->off - f->bstart);
    if (may_be_zero(p, left) && all_zero(p, hn)) {
        rc = 0;
        bool zero = file_rest_zero(f, err, &rc);
        if (rc < 0)
            return rc;
        if (zero) {
            f->off = f->size; /* zero-filled preallocated tail */
            return 0;
        }
        if ((rc = file_fill(f, hn, err)) < 0)
            return rc;
        p = f->buf + (f->off - f->bstart);
    }
    if (left < BINLOG_HEADER_LEN)
        return file_fail(f, err, "truncated event header (%zu of 19 bytes)", left);
    uint32_t size =
        (uint32_t)p[9] | (uint32_t)p[10] << 8 | (uint32_t)p[11] << 16 | (uint32_t)p[12] << 24;
    if (size < BINLOG_HEADER_LEN)
        return file_fail(f, err, "event_size %u is below the 19-byte header (type %u)", size, p[4]);
    if (size > left)
        return file_fail(f, err,
                         "event of %u bytes (type %u) runs past the end of the file (%zu bytes "
                         "left)",
                         size, p[4], left);
    if (f->off + size > f->bstart + f->blen && (rc = file_fill(f, size, err)) < 0)
        return rc;
    *ev = rl_slice_make(f->buf + (f->off - f->bstart), size);
    f->off += size;
    return 1;
}

void binlog__file_set_buffer(binlog_file_t *f, size_t bytes)
{
    f->bunit = bytes ? bytes : FILE_BUFFER;
}

uint64_t binlog_file_offset(const binlog_file_t *f)
{
    return f->off;
}

void binlog_file_close(binlog_file_t *f)
{
    if (!f)
        return;
    munmap((void *)f->map, f->size);
    close(f->fd);
    free(f->buf);
    free(f->path);
    free(f);
}
