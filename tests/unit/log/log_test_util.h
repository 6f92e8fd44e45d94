/* Helpers shared by the log/ unit tests: temporary directories, a model of what was
 * appended, reading a whole partition back through log_store_read + log_batch_decode, and
 * capturing stderr (the log's warnings). Header-only: each test is one executable. */
#ifndef LOG_TEST_UTIL_H
#define LOG_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log/log_int.h"

static inline char *tu_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char tmpl[PATH_MAX];
    snprintf(tmpl, sizeof tmpl, "%s/rowlog-logtest-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static inline int tu_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void tu_rm_rf(const char *path)
{
    nftw(path, tu_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static inline uint8_t *tu_read_file(const char *path, size_t *len)
{
    *len = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    struct stat st;
    fstat(fd, &st);
    uint8_t *p = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, p + got, (size_t)st.st_size - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
    close(fd);
    *len = got;
    return p;
}

static inline void tu_write_file(const char *path, const void *p, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, (const uint8_t *)p + off, len - off);
        assert_true(w > 0);
        off += (size_t)w;
    }
    close(fd);
}

/* Copies a store directory (one level of partition directories), skipping the lock file. */
static inline void tu_copy_store(const char *src, const char *dst)
{
    DIR *d = opendir(src);
    assert_non_null(d);
    mkdir(dst, 0755);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, "lock") == 0)
            continue;
        char s[PATH_MAX], t[PATH_MAX];
        snprintf(s, sizeof s, "%s/%s", src, de->d_name);
        snprintf(t, sizeof t, "%s/%s", dst, de->d_name);
        struct stat st;
        assert_int_equal(stat(s, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            tu_copy_store(s, t);
        } else {
            size_t n;
            uint8_t *p = tu_read_file(s, &n);
            tu_write_file(t, p, n);
            free(p);
        }
    }
    closedir(d);
}

/* ------------------------------------------------------------------ records */

typedef struct tu_rec {
    int64_t offset, ts;
    bool knull, vnull;
    char *k, *v;
    size_t kl, vl;
} tu_rec;

typedef struct tu_recs {
    tu_rec *r;
    size_t n, cap;
} tu_recs;

static inline void tu_push(tu_recs *rs, int64_t off, int64_t ts, rl_slice k, rl_slice v)
{
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 64;
        rs->r = realloc(rs->r, rs->cap * sizeof *rs->r);
    }
    tu_rec *o = &rs->r[rs->n++];
    o->offset = off;
    o->ts = ts;
    o->knull = k.p == NULL;
    o->vnull = v.p == NULL;
    o->kl = k.len;
    o->vl = v.len;
    o->k = malloc(k.len + 1);
    o->v = malloc(v.len + 1);
    if (k.len)
        memcpy(o->k, k.p, k.len);
    if (v.len)
        memcpy(o->v, v.p, v.len);
}

static inline void tu_recs_free(tu_recs *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        free(rs->r[i].k);
        free(rs->r[i].v);
    }
    free(rs->r);
    memset(rs, 0, sizeof *rs);
}

static inline void tu_truncate_recs(tu_recs *rs, size_t n)
{
    for (size_t i = n; i < rs->n; i++) {
        free(rs->r[i].k);
        free(rs->r[i].v);
    }
    if (n < rs->n)
        rs->n = n;
}

typedef struct tu_read_ctx {
    tu_recs *out;
    int64_t expect;
    int64_t hwm;
} tu_read_ctx;

static inline int tu_read_cb(void *vctx, const log_record *rec)
{
    tu_read_ctx *c = vctx;
    if (rec->offset < c->expect)
        return 0; /* the first batch may start before the fetch offset */
    if (rec->offset != c->expect)
        fail_msg("offset %lld, expected %lld", (long long)rec->offset, (long long)c->expect);
    if (rec->offset >= c->hwm)
        fail_msg("record at offset %lld at or above the high watermark %lld",
                 (long long)rec->offset, (long long)c->hwm);
    tu_push(c->out, rec->offset, rec->timestamp, rec->key, rec->value);
    c->expect++;
    return 0;
}

/* Reads a whole partition (log start to high watermark) in fetches of max_bytes. */
static inline void tu_read_partition(log_store_t *st, const char *topic, uint32_t part,
                                     size_t max_bytes, tu_recs *out)
{
    int64_t ls, hwm;
    assert_int_equal(log_store_offsets(st, topic, part, &ls, &hwm), 0);
    rl_buf scratch = RL_BUF_INIT;
    tu_read_ctx c = {out, ls, hwm};
    while (c.expect < hwm) {
        log_read rd;
        rl_err err = {0, ""};
        int rc = log_store_read(st, topic, part, c.expect, max_bytes, &rd, &err);
        if (rc != 0)
            fail_msg("log_store_read %s-%u @%lld: %s", topic, part, (long long)c.expect, err.msg);
        assert_true(rd.bytes.len > 0);
        assert_int_equal(rd.high_watermark, hwm);
        size_t pos = 0;
        while (pos < rd.bytes.len) {
            int n = log_batch_decode(rl_slice_make(rd.bytes.p + pos, rd.bytes.len - pos), &scratch,
                                     64u << 20, tu_read_cb, &c, &err);
            if (n <= 0)
                fail_msg("decode at %zu: %s", pos, err.msg);
            pos += (size_t)n;
        }
        log_read_release(&rd);
    }
    assert_int_equal(c.expect, hwm);
    rl_buf_free(&scratch);
}

static inline void tu_assert_same(const tu_recs *got, const tu_recs *want)
{
    assert_int_equal(got->n, want->n);
    for (size_t i = 0; i < got->n; i++) {
        const tu_rec *a = &got->r[i], *b = &want->r[i];
        if (a->offset != b->offset || a->ts != b->ts || a->kl != b->kl || a->vl != b->vl ||
            a->knull != b->knull || a->vnull != b->vnull || memcmp(a->k, b->k, a->kl) != 0 ||
            memcmp(a->v, b->v, a->vl) != 0)
            fail_msg("record %zu differs (offset %lld vs %lld)", i, (long long)a->offset,
                     (long long)b->offset);
    }
}

/* ------------------------------------------------------------------ stderr capture */

typedef struct tu_capture {
    int saved;
    char path[PATH_MAX];
} tu_capture;

static inline void tu_capture_begin(tu_capture *c)
{
    fflush(stderr);
    snprintf(c->path, sizeof c->path, "/tmp/rowlog-logtest-stderr-%d", (int)getpid());
    int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    c->saved = dup(2);
    dup2(fd, 2);
    close(fd);
}

/* Restores stderr; returns what was written (malloc'ed, NUL-terminated). */
static inline char *tu_capture_end(tu_capture *c)
{
    fflush(stderr);
    dup2(c->saved, 2);
    close(c->saved);
    size_t n;
    uint8_t *p = tu_read_file(c->path, &n);
    unlink(c->path);
    p[n] = 0;
    return (char *)p;
}

/* Deterministic pseudo-random generator (xorshift64*). */
static inline uint64_t tu_rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

static inline uint64_t tu_seed(void)
{
    const char *env = getenv("RL_TEST_SEED");
    uint64_t s = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL) * 2654435761u + 1;
    print_message("seed %llu (set RL_TEST_SEED to repeat)\n", (unsigned long long)s);
    return s ? s : 1;
}

/* ------------------------------------------------------------------ store calls */

static inline log_store_t *tu_open(const char *dir, const log_store_opts *o)
{
    log_store_t *st = NULL;
    rl_err err = {0, ""};
    int rc = log_store_open(&st, dir, o, &err);
    if (rc != 0)
        fail_msg("log_store_open(%s): %s (%s)", dir, err.msg, rl_errname(rc));
    return st;
}

static inline void tu_commit(log_store_t *st, const char *ckpt)
{
    rl_err err = {0, ""};
    int rc = log_store_commit(st, rl_slice_str(ckpt), &err);
    if (rc != 0)
        fail_msg("commit: %s", err.msg);
}

static inline void tu_append(log_store_t *st, const char *topic, rl_slice key, rl_slice value,
                             int64_t ts)
{
    rl_err err = {0, ""};
    int rc = log_store_append(st, rl_slice_str(topic), key, value, ts, &err);
    if (rc != 0)
        fail_msg("append: %s", err.msg);
}

static inline log_partition *tu_part(log_store_t *st, const char *topic, uint32_t id)
{
    for (size_t i = 0; i < st->ntopics; i++)
        if (strcmp(st->topics[i]->name, topic) == 0)
            return st->topics[i]->parts[id];
    fail_msg("no topic %s", topic);
    return NULL;
}

static inline int64_t tu_hwm(log_store_t *st, const char *topic)
{
    int64_t ls, hwm;
    assert_int_equal(log_store_offsets(st, topic, 0, &ls, &hwm), 0);
    return hwm;
}

static inline int64_t tu_log_start(log_store_t *st, const char *topic)
{
    int64_t ls, hwm;
    assert_int_equal(log_store_offsets(st, topic, 0, &ls, &hwm), 0);
    return ls;
}

/* ------------------------------------------------------------------ files */

/* Number of files in dir whose name ends with ext. */
static inline int tu_count_files(const char *dir, const char *ext)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    size_t el = strlen(ext);
    while ((de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l > el && strcmp(de->d_name + l - el, ext) == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* Base offset of the newest segment file in a partition directory (-1: none). */
static inline int64_t tu_last_base(const char *pdir)
{
    int64_t last = -1;
    DIR *d = opendir(pdir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        int64_t b;
        if (log__segment_name_parse(de->d_name, &b) && b > last)
            last = b;
    }
    closedir(d);
    return last;
}

/* log_check line callback appending each line and a newline to an rl_buf (ctx). */
static inline void tu_collect(void *ctx, const char *line)
{
    rl_buf_puts(ctx, line);
    rl_buf_putc(ctx, '\n');
}

#endif
