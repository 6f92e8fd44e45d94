/*
 * test_read_fds.c - segment read descriptors (log/segment.c "Read descriptors", log_read_fd):
 *   - log_store_read gives no descriptor (only callers that ask get one; its own header
 *     preads go through the same bounded table);
 *   - the store keeps at most read_fds_max open while reads of every segment ask, closing
 *     the least recently used unheld one; a held one is never closed (its bytes still read
 *     through it after many other segments were read), and when every open one is held the
 *     next ask is refused (-1) rather than going above the cap;
 *   - a held descriptor of a segment that retention deletes still reads the segment's bytes;
 *   - a segment deleted before its descriptor was first opened: the ask fails (-1), the
 *     mapped bytes of the pinned read are still right, and the failure is remembered (no
 *     second open(2) for that segment).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/rl.h"
#include "log/log.h"

#define TOPIC "fd"
#define FDS_MAX 3
#define MAX_SEGS 64

typedef struct fixture {
    char dir[256];
    log_store_t *store;
    int64_t firsts[MAX_SEGS]; /* an offset in each segment: the first of its first batch */
    int nsegs;
} fixture;

/* A 1 MiB-segment log of about `mib` MiB (~1 KiB records, 64 KiB batches, uncompressed). */
static void open_log(fixture *fx, int mib)
{
    memset(fx, 0, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/rowlog-rfd-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    log_store_opts lo;
    memset(&lo, 0, sizeof lo);
    lo.compression = LOG_COMPRESSION_NONE;
    lo.partitions = 1;
    lo.segment_bytes = (uint64_t)1 << 20;
    lo.batch_bytes = (size_t)64 << 10;
    lo.read_fds_max = FDS_MAX;
    rl_err err = {0};
    if (log_store_open(&fx->store, fx->dir, &lo, &err) != 0)
        fail_msg("log_store_open: %s", err.msg);
    char val[1000];
    for (int i = 0; i < mib * 1024; i++) {
        memset(val, 'a' + i % 26, sizeof val);
        char key[32];
        int kl = snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(log_store_append(fx->store, rl_slice_str(TOPIC),
                                          rl_slice_make((uint8_t *)key, (size_t)kl),
                                          rl_slice_make((uint8_t *)val, sizeof val), i, &err),
                         0);
        if (i % 100 == 99)
            assert_int_equal(log_store_commit(fx->store, rl_slice_str(TOPIC), &err), 0);
    }
    assert_int_equal(log_store_commit(fx->store, rl_slice_str(TOPIC), &err), 0);
    /* One offset per segment: walk the log with reads of the whole segment each. */
    int64_t ls, hw, off = 0;
    assert_int_equal(log_store_offsets(fx->store, TOPIC, 0, &ls, &hw), 0);
    while (off < hw) {
        log_read rd;
        assert_int_equal(log_store_read(fx->store, TOPIC, 0, off, (size_t)2 << 20, &rd, &err), 0);
        assert_true(rd.bytes.len > 0);
        assert_int_equal(rd.fd, -1); /* not asked for */
        assert_true(fx->nsegs < MAX_SEGS);
        fx->firsts[fx->nsegs++] = off;
        /* The read ends at its segment's end: the next offset starts the next segment. */
        rl_reader r = rl_reader_make(rd.bytes);
        int64_t next = off;
        while (rl_reader_left(&r) >= 61) {
            int64_t base = rl_get_i64be(&r);
            int32_t len = rl_get_i32be(&r);
            rl_reader b = rl_reader_make(rl_get_bytes(&r, (size_t)len));
            rl_reader_skip(&b, 9 + 2); /* leader epoch, magic, crc, attributes */
            next = base + rl_get_i32be(&b) + 1;
        }
        assert_false(r.err);
        log_read_release(&rd);
        assert_true(next > off);
        off = next;
    }
    log_store_stats s;
    log_store_stats_get(fx->store, &s);
    assert_true(s.read_fds_open <= FDS_MAX); /* the header preads' ones, bounded too */
}

static void close_log(fixture *fx)
{
    log_store_close(fx->store);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", fx->dir);
}

static log_store_stats stats(const fixture *fx)
{
    log_store_stats s;
    log_store_stats_get(fx->store, &s);
    return s;
}

/* Reads rd's bytes through its descriptor and compares them with the mapped ones. */
static void check_fd_bytes(const log_read *rd)
{
    assert_true(rd->fd >= 0);
    uint8_t *buf = malloc(rd->bytes.len);
    assert_non_null(buf);
    ssize_t n = pread(rd->fd, buf, rd->bytes.len, (off_t)rd->file_pos);
    assert_int_equal(n, (ssize_t)rd->bytes.len);
    assert_memory_equal(buf, rd->bytes.p, rd->bytes.len);
    free(buf);
}

static void test_cap_lru_and_held(void **state)
{
    (void)state;
    fixture fx;
    open_log(&fx, 12);
    assert_true(fx.nsegs >= 3 * FDS_MAX);
    rl_err err = {0};
    /* A held read of segment 0: its descriptor must stay open through everything below. */
    log_read held;
    assert_int_equal(log_store_read(fx.store, TOPIC, 0, fx.firsts[0], 4096, &held, &err), 0);
    assert_true(log_read_fd(fx.store, &held) >= 0);
    assert_int_equal(log_read_fd(fx.store, &held), held.fd); /* idempotent */
    for (int round = 0; round < 2; round++) {
        for (int i = 1; i < fx.nsegs; i++) {
            log_read rd;
            assert_int_equal(log_store_read(fx.store, TOPIC, 0, fx.firsts[i], 65536, &rd, &err),
                             0);
            assert_true(log_read_fd(fx.store, &rd) >= 0);
            check_fd_bytes(&rd);
            assert_true(stats(&fx).read_fds_open <= FDS_MAX);
            log_read_release(&rd);
            assert_int_equal(rd.fd, -1);
        }
    }
    log_store_stats s = stats(&fx);
    assert_int_equal(s.read_fds_open, FDS_MAX);
    /* Each other segment was opened at least once per round (least recently used: evicted
     * before it comes round again), and every open beyond the cap closed another. */
    assert_true(s.read_fds_opened >= 1 + 2 * (uint64_t)(fx.nsegs - 1));
    assert_int_equal(s.read_fds_evicted, s.read_fds_opened - FDS_MAX);
    assert_int_equal(s.read_fds_refused, 0);
    check_fd_bytes(&held); /* still the same open file */

    /* Every open one held: the next ask is refused, not above the cap; the mapping serves. */
    log_read h[FDS_MAX];
    memset(h, 0, sizeof h);
    for (int i = 0; i < FDS_MAX - 1; i++) {
        assert_int_equal(
            log_store_read(fx.store, TOPIC, 0, fx.firsts[1 + i], 4096, &h[i], &err), 0);
        assert_true(log_read_fd(fx.store, &h[i]) >= 0);
    }
    log_read more;
    assert_int_equal(log_store_read(fx.store, TOPIC, 0, fx.firsts[fx.nsegs - 1], 4096, &more,
                                    &err),
                     0);
    assert_int_equal(log_read_fd(fx.store, &more), -1);
    assert_int_equal(more.fd, -1);
    assert_true(more.bytes.len > 0);
    s = stats(&fx);
    assert_true(s.read_fds_refused >= 1); /* log_store_read's header pread may ask too */
    assert_int_equal(s.read_fds_open, FDS_MAX);
    /* One given back: the ask succeeds by closing that one. */
    log_read_fd_release(&h[0]);
    assert_int_equal(h[0].fd, -1);
    assert_true(h[0].pin != NULL); /* the pin stays */
    assert_true(log_read_fd(fx.store, &more) >= 0);
    check_fd_bytes(&more);
    log_read_release(&more);
    for (int i = 0; i < FDS_MAX - 1; i++)
        log_read_release(&h[i]);
    log_read_release(&held);
    close_log(&fx);
}

static void test_deleted_segments(void **state)
{
    (void)state;
    fixture fx;
    open_log(&fx, 8);
    assert_true(fx.nsegs >= 2 + FDS_MAX + 1);
    rl_err err = {0};
    /* Segment 0: its descriptor opened and held. Segment 1: pinned, never asked. */
    log_read a, b;
    assert_int_equal(log_store_read(fx.store, TOPIC, 0, fx.firsts[0], 65536, &a, &err), 0);
    assert_true(log_read_fd(fx.store, &a) >= 0);
    assert_int_equal(log_store_read(fx.store, TOPIC, 0, fx.firsts[1], 65536, &b, &err), 0);
    /* log_store_read's header pread may have opened segment 1's descriptor: reads of two
     * more segments close it again (least recently used; segment 0's is held). */
    for (int i = 2; i < 2 + FDS_MAX; i++) {
        log_read x;
        assert_int_equal(log_store_read(fx.store, TOPIC, 0, fx.firsts[i], 65536, &x, &err), 0);
        assert_true(log_read_fd(fx.store, &x) >= 0);
        log_read_release(&x);
    }
    uint8_t *copy = malloc(b.bytes.len);
    assert_non_null(copy);
    memcpy(copy, b.bytes.p, b.bytes.len);
    uint64_t opened = stats(&fx).read_fds_opened;

    log_topic_config cfg;
    log_topic_config_init(&cfg);
    cfg.retention_bytes = 1; /* every sealed segment goes */
    assert_int_equal(log_store_topic_config(fx.store, TOPIC, &cfg, &err), 0);
    assert_true(log_store_retain(fx.store, rl_now_ms(), &err) >= 2);
    char path[400];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s-0/%020d.log", fx.dir, TOPIC, 0);
    assert_int_not_equal(stat(path, &sb), 0); /* deleted */

    /* The held descriptor still reads the deleted file's bytes. */
    check_fd_bytes(&a);
    /* The pinned, never-opened one: no file to open; the mapping still has the bytes. */
    assert_int_equal(log_read_fd(fx.store, &b), -1);
    assert_memory_equal(b.bytes.p, copy, b.bytes.len);
    log_store_stats s = stats(&fx);
    assert_int_equal(s.read_fds_gone, 1);
    assert_int_equal(s.read_fds_opened, opened);
    /* Remembered: asking again does not try the path again. */
    assert_int_equal(log_read_fd(fx.store, &b), -1);
    assert_int_equal(stats(&fx).read_fds_gone, 1);
    /* Reads of the deleted range are refused cleanly. */
    log_read c;
    assert_int_equal(log_store_read(fx.store, TOPIC, 0, fx.firsts[0], 1, &c, &err), RL_ERANGE);
    log_read_release(&c);
    free(copy);
    log_read_release(&a);
    log_read_release(&b);
    /* The deleted segments' descriptors went with their last pin. */
    assert_true(stats(&fx).read_fds_open <= FDS_MAX);
    close_log(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cap_lru_and_held),
        cmocka_unit_test(test_deleted_segments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
