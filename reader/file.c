/*
 * file.c - local binlog files as an event source (binlog_file_*), read through mmap.
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
 */
#include "reader/binlog_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct binlog_file {
    const uint8_t *map;
    size_t size;
    size_t off;
    size_t populated; /* bytes of the mapping already populated (page-aligned) */
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
    int e = errno;
    close(fd);
    if (map == MAP_FAILED)
        return rl_err_set(err, -e, "mmap %s: %s", path, strerror(e));
    (void)madvise(map, size, MADV_SEQUENTIAL);
    static const uint8_t magic[4] = {0xfe, 0x62, 0x69, 0x6e};
    if (memcmp(map, magic, 4) != 0) {
        munmap(map, size);
        return rl_err_set(err, RL_ECORRUPT, "%s: not a binlog (bad magic)", path);
    }
    binlog_file_t *f = calloc(1, sizeof *f);
    char *p = strdup(path);
    if (!f || !p) {
        free(f);
        free(p);
        munmap(map, size);
        return rl_err_set(err, -ENOMEM, "out of memory");
    }
    f->map = map;
    f->size = size;
    f->off = 4;
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
    if (all_zero(p, left < BINLOG_HEADER_LEN ? left : BINLOG_HEADER_LEN) && all_zero(p, left)) {
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

uint64_t binlog_file_offset(const binlog_file_t *f)
{
    return f->off;
}

void binlog_file_close(binlog_file_t *f)
{
    if (!f)
        return;
    munmap((void *)f->map, f->size);
    free(f->path);
    free(f);
}
