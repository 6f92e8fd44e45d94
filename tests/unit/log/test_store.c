/* Unit tests for the log store: append/commit/read, the read contract (high watermark,
 * KIP-74), checkpoint cut-back, torn-tail recovery at every byte, corruption refusal, segment
 * roll with index lookups, offset-for-time, topics, poisoning. Each test uses its own
 * temporary directory. */
#include <time.h>

#include "log_test_util.h"

static const int codecs[] = {LOG_COMPRESSION_NONE, LOG_COMPRESSION_LZ4, LOG_COMPRESSION_ZSTD};

/* Value of record i: text with the index, padded to len with a pattern that depends on i. */
static size_t make_value(char *buf, size_t len, int64_t i)
{
    int n = snprintf(buf, len + 1, "value-%lld-", (long long)i);
    size_t o = (size_t)n < len ? (size_t)n : len;
    for (; o < len; o++)
        buf[o] = (char)('a' + (i * 31 + (int64_t)o * 7) % 26);
    return len;
}

/* ------------------------------------------------------------------ basic */

typedef struct topics_seen {
    char names[8][64];
    uint32_t parts[8];
    int n;
} topics_seen;

static void topic_cb(void *ctx, const char *topic, uint32_t partitions)
{
    topics_seen *ts = ctx;
    snprintf(ts->names[ts->n], sizeof ts->names[0], "%s", topic);
    ts->parts[ts->n++] = partitions;
}

static void test_roundtrip_partitions(void **state)
{
    (void)state;
    for (size_t c = 0; c < 3; c++) {
        char *dir = tu_tmpdir();
        log_store_opts o = {.compression = codecs[c],
                            .compression_level = 0,
                            .partitions = 3,
                            .segment_bytes = 0,
                            .batch_bytes = 4096};
        log_store_t *st = tu_open(dir, &o);
        tu_recs model[3] = {{0}};
        tu_recs users = {0};
        rl_buf blob = RL_BUF_INIT;
        assert_int_equal(log_store_checkpoint(st, &blob), RL_ENOTFOUND);
        char v[300], k[32];
        for (int64_t i = 0; i < 1000; i++) {
            snprintf(k, sizeof k, "key-%lld", (long long)(i % 53));
            size_t vl = make_value(v, (size_t)(i % 250) + 1, i);
            rl_slice ks = rl_slice_str(k), vs = rl_slice_make(v, vl);
            /* Every 100th record is a tombstone (null value). */
            if (i % 100 == 99)
                vs = rl_slice_make(NULL, 0);
            tu_append(st, "orders", ks, vs, 1000 + i);
            uint32_t p = rl_partition_for_key(k, strlen(k), 3);
            tu_push(&model[p], (int64_t)model[p].n, 1000 + i, ks, vs);
            if (i % 100 == 0) {
                rl_slice nk = rl_slice_make(NULL, 0);
                tu_append(st, "users", nk, rl_slice_str("u"), 7);
                tu_push(&users, (int64_t)users.n, 7, nk, rl_slice_str("u"));
            }
        }
        /* Nothing is visible before the commit. */
        int64_t ls, hwm;
        assert_int_equal(log_store_offsets(st, "orders", 0, &ls, &hwm), 0);
        assert_int_equal(ls, 0);
        assert_int_equal(hwm, 0);
        tu_commit(st, "ckpt-1");
        assert_int_equal(log_store_checkpoint(st, &blob), 0);
        assert_int_equal(blob.len, 6);
        assert_memory_equal(blob.p, "ckpt-1", 6);
        for (int round = 0; round < 2; round++) {
            for (uint32_t p = 0; p < 3; p++) {
                tu_recs got = {0};
                tu_read_partition(st, "orders", p, 1000, &got);
                tu_assert_same(&got, &model[p]);
                tu_recs_free(&got);
            }
            tu_recs got = {0};
            tu_read_partition(st, "users", 0, 1 << 20, &got);
            tu_assert_same(&got, &users);
            tu_recs_free(&got);
            topics_seen ts = {0};
            assert_int_equal(log_store_topics(st, topic_cb, &ts), 2);
            assert_string_equal(ts.names[0], "orders");
            assert_string_equal(ts.names[1], "users");
            assert_int_equal(ts.parts[0], 3);
            assert_int_equal(log_store_partitions(st, "orders"), 3);
            assert_int_equal(log_store_partitions(st, "nosuch"), RL_ENOTFOUND);
            /* Reopen with another partition default: topics keep theirs (from the dirs). */
            log_store_close(st);
            log_store_opts o2 = {.compression = codecs[(c + 1) % 3],
                                 .compression_level = 0,
                                 .partitions = 1,
                                 .segment_bytes = 0,
                                 .batch_bytes = 0};
            st = tu_open(dir, &o2);
            assert_int_equal(log_store_checkpoint(st, &blob), 0);
            assert_memory_equal(blob.p, "ckpt-1", 6);
            if (round == 0) {
                /* Batches of another codec follow in the same partition. */
                for (int i = 0; i < 30; i++) {
                    rl_slice vs = rl_slice_make(v, make_value(v, 90, 5000 + i));
                    tu_append(st, "users", rl_slice_make(NULL, 0), vs, 9);
                    tu_push(&users, (int64_t)users.n, 9, rl_slice_make(NULL, 0), vs);
                }
                tu_commit(st, "ckpt-1");
            }
        }
        log_store_close(st);
        for (int p = 0; p < 3; p++)
            tu_recs_free(&model[p]);
        tu_recs_free(&users);
        rl_buf_free(&blob);
        tu_rm_rf(dir);
        free(dir);
    }
}

/* ------------------------------------------------------------------ read contract */

static void test_read_contract(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    log_store_opts o = {.compression = LOG_COMPRESSION_LZ4,
                        .compression_level = 0,
                        .partitions = 1,
                        .segment_bytes = 0,
                        .batch_bytes = 1000};
    log_store_t *st = tu_open(dir, &o);
    char v[128];
    for (int64_t i = 0; i < 200; i++)
        tu_append(st, "t", rl_slice_str("k"), rl_slice_make(v, make_value(v, 100, i)), i);
    tu_commit(st, "a");
    /* Appended and partly written (batch_bytes is small) but not committed. */
    for (int64_t i = 200; i < 260; i++)
        tu_append(st, "t", rl_slice_str("k"), rl_slice_make(v, make_value(v, 100, i)), i);
    log_partition *p = tu_part(st, "t", 0);
    assert_true(p->segs[0]->size > atomic_load(&p->segs[0]->committed));

    log_read rd;
    rl_err err = {0, ""};
    assert_int_equal(log_store_read(st, "t", 0, 200, 1 << 20, &rd, &err), 0);
    assert_int_equal(rd.bytes.len, 0);
    assert_null(rd.pin);
    assert_int_equal(rd.high_watermark, 200);
    assert_int_equal(log_store_read(st, "t", 0, 201, 1 << 20, &rd, &err), RL_ERANGE);
    assert_int_equal(rd.high_watermark, 200);
    assert_int_equal(rd.log_start, 0);
    assert_int_equal(log_store_read(st, "t", 0, -1, 1 << 20, &rd, &err), RL_ERANGE);
    assert_int_equal(log_store_read(st, "t", 1, 0, 1 << 20, &rd, &err), RL_ENOTFOUND);
    assert_int_equal(log_store_read(st, "nosuch", 0, 0, 1 << 20, &rd, &err), RL_ENOTFOUND);

    /* KIP-74: max_bytes 1 still returns the whole first batch, and only it. */
    assert_int_equal(log_store_read(st, "t", 0, 0, 1, &rd, &err), 0);
    log_batch_hdr h;
    assert_int_equal(log__batch_header(rd.bytes, true, &h, NULL), 0);
    assert_int_equal(rd.bytes.len, h.size);
    assert_int_equal(h.base, 0);
    assert_non_null(rd.pin);
    log_read_release(&rd);
    assert_null(rd.pin);
    log_read_release(&rd); /* twice is fine */
    size_t first = h.size;
    int64_t first_last = log_batch_last(&h);
    /* An offset inside a batch starts at that batch. */
    int64_t mid = first_last + 3;
    assert_int_equal(log_store_read(st, "t", 0, mid, 1, &rd, &err), 0);
    assert_int_equal(log__batch_header(rd.bytes, true, &h, NULL), 0);
    assert_true(h.base <= mid && mid <= log_batch_last(&h));
    size_t second = h.size;
    log_read_release(&rd);
    /* max_bytes of two batches plus one byte: exactly two whole batches. */
    assert_int_equal(log_store_read(st, "t", 0, 0, first + second + 1, &rd, &err), 0);
    assert_int_equal(rd.bytes.len, first + second);
    log_read_release(&rd);
    /* A large read stops at the high watermark although more batches are on disk. */
    assert_int_equal(log_store_read(st, "t", 0, 0, 1 << 30, &rd, &err), 0);
    size_t pos = 0;
    int64_t last = -1;
    while (pos < rd.bytes.len) {
        assert_int_equal(
            log__batch_header(rl_slice_make(rd.bytes.p + pos, rd.bytes.len - pos), true, &h, NULL),
            0);
        last = log_batch_last(&h);
        pos += h.size;
    }
    assert_int_equal(last, 199);
    log_read_release(&rd);
    /* Committing makes the rest visible. */
    tu_commit(st, "b");
    int64_t ls, hwm;
    assert_int_equal(log_store_offsets(st, "t", 0, &ls, &hwm), 0);
    assert_int_equal(hwm, 260);
    tu_recs got = {0};
    tu_read_partition(st, "t", 0, 1, &got);
    assert_int_equal(got.n, 260);
    for (size_t i = 0; i < got.n; i++) {
        assert_int_equal(got.r[i].ts, (int64_t)i);
        assert_int_equal(got.r[i].vl, make_value(v, 100, (int64_t)i));
        assert_memory_equal(got.r[i].v, v, got.r[i].vl);
    }
    tu_recs_free(&got);
    log_store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

/* ------------------------------------------------------------------ checkpoint cut-back */

static int hook_calls;
static void count_hook(void *ctx)
{
    (void)ctx;
    hook_calls++;
}

static void test_checkpoint_cutback(void **state)
{
    (void)state;
    for (size_t c = 0; c < 3; c++) {
        char *dir = tu_tmpdir();
        log_store_opts o = {.compression = codecs[c],
                            .compression_level = 0,
                            .partitions = 4,
                            .segment_bytes = 0,
                            .batch_bytes = 512};
        log_store_t *st = tu_open(dir, &o);
        hook_calls = 0;
        log_store_set_commit_hook(st, count_hook, NULL);
        tu_recs model[4] = {{0}};
        char v[200], k[32];
        for (int64_t i = 0; i < 500; i++) {
            snprintf(k, sizeof k, "k%lld", (long long)i);
            rl_slice vs = rl_slice_make(v, make_value(v, 60, i));
            tu_append(st, "orders", rl_slice_str(k), vs, i);
            uint32_t p = rl_partition_for_key(k, strlen(k), 4);
            tu_push(&model[p], (int64_t)model[p].n, i, rl_slice_str(k), vs);
        }
        tu_commit(st, "A");
        assert_int_equal(hook_calls, 1);
        tu_commit(st, "A"); /* nothing new: no work, no hook */
        assert_int_equal(hook_calls, 1);
        int64_t hwm_a[4];
        for (uint32_t p = 0; p < 4; p++) {
            int64_t ls;
            assert_int_equal(log_store_offsets(st, "orders", p, &ls, &hwm_a[p]), 0);
            assert_int_equal(hwm_a[p], (int64_t)model[p].n);
        }
        for (int64_t i = 500; i < 1000; i++) {
            snprintf(k, sizeof k, "k%lld", (long long)i);
            tu_append(st, "orders", rl_slice_str(k), rl_slice_make(v, make_value(v, 60, i)), i);
        }
        tu_append(st, "late", rl_slice_str("x"), rl_slice_str("y"), 1);
        /* Batches of the uncommitted appends are on disk. */
        assert_true(tu_part(st, "orders", 0)->segs[0]->size >
                    atomic_load(&tu_part(st, "orders", 0)->segs[0]->committed));
        log_store_close(st);

        tu_capture cap;
        tu_capture_begin(&cap);
        st = tu_open(dir, &o);
        char *logged = tu_capture_end(&cap);
        assert_non_null(strstr(logged, "cutting back to the checkpoint"));
        free(logged);
        rl_buf blob = RL_BUF_INIT;
        assert_int_equal(log_store_checkpoint(st, &blob), 0);
        assert_int_equal(blob.len, 1);
        assert_int_equal(blob.p[0], 'A');
        rl_buf_free(&blob);
        for (uint32_t p = 0; p < 4; p++) {
            tu_recs got = {0};
            tu_read_partition(st, "orders", p, 4096, &got);
            tu_assert_same(&got, &model[p]);
            tu_recs_free(&got);
        }
        /* The topic created after the checkpoint is there, empty. */
        int64_t ls, hwm;
        assert_int_equal(log_store_offsets(st, "late", 0, &ls, &hwm), 0);
        assert_int_equal(hwm, 0);
        /* Appending again continues from the checkpoint's offsets. */
        for (int64_t i = 2000; i < 2100; i++) {
            snprintf(k, sizeof k, "k%lld", (long long)i);
            rl_slice vs = rl_slice_make(v, make_value(v, 30, i));
            tu_append(st, "orders", rl_slice_str(k), vs, i);
            uint32_t p = rl_partition_for_key(k, strlen(k), 4);
            tu_push(&model[p], (int64_t)model[p].n, i, rl_slice_str(k), vs);
        }
        tu_commit(st, "B");
        log_store_close(st);
        st = tu_open(dir, &o);
        for (uint32_t p = 0; p < 4; p++) {
            tu_recs got = {0};
            tu_read_partition(st, "orders", p, 4096, &got);
            tu_assert_same(&got, &model[p]);
            tu_recs_free(&got);
        }
        log_store_close(st);
        for (int p = 0; p < 4; p++)
            tu_recs_free(&model[p]);
        tu_rm_rf(dir);
        free(dir);
    }
}

/* ------------------------------------------------------------------ torn tails */

typedef struct tail_fixture {
    char *dir; /* closed store: committed batches + one uncommitted batch */
    char segpath[PATH_MAX];
    uint8_t *seg; /* the segment file's bytes */
    size_t seglen;
    size_t committed;     /* bytes of committed batches */
    size_t batch_pos[64]; /* start of every batch */
    int nbatches;
    int64_t hwm;
    tu_recs model; /* committed records */
} tail_fixture;

/* Builds a store with `ncommitted` committed batches then `nextra` uncommitted batches
 * (written to the segment file, as the writer does when batch_bytes is reached). */
static void tail_setup(tail_fixture *f, int codec, int ncommitted, int nextra)
{
    memset(f, 0, sizeof *f);
    f->dir = tu_tmpdir();
    log_store_opts o = {.compression = codec,
                        .compression_level = 0,
                        .partitions = 1,
                        .segment_bytes = 0,
                        .batch_bytes = 1u << 20};
    log_store_t *st = tu_open(f->dir, &o);
    char v[100];
    int64_t i = 0;
    for (int b = 0; b < ncommitted + nextra; b++) {
        for (int k = 0; k < 6; k++, i++) {
            rl_slice vs = rl_slice_make(v, make_value(v, 40, i));
            tu_append(st, "t", rl_slice_str("key"), vs, 10 * i);
            if (b < ncommitted)
                tu_push(&f->model, i, 10 * i, rl_slice_str("key"), vs);
        }
        if (b < ncommitted) {
            tu_commit(st, "A"); /* a commit ends the open batch */
            f->hwm = i;
        } else {
            assert_int_equal(log__partition_flush(tu_part(st, "t", 0), NULL), 0);
        }
    }
    log_partition *p = tu_part(st, "t", 0);
    f->committed = (size_t)atomic_load(&p->segs[0]->committed);
    log_store_close(st);
    snprintf(f->segpath, sizeof f->segpath, "%s/t-0/%020d.log", f->dir, 0);
    f->seg = tu_read_file(f->segpath, &f->seglen);
    size_t pos = 0;
    while (pos < f->seglen) {
        log_batch_hdr h;
        assert_int_equal(
            log__batch_header(rl_slice_make(f->seg + pos, f->seglen - pos), true, &h, NULL), 0);
        f->batch_pos[f->nbatches++] = pos;
        pos += h.size;
    }
    assert_int_equal(f->nbatches, ncommitted + nextra);
    assert_int_equal(f->batch_pos[ncommitted], f->committed);
}

static void tail_teardown(tail_fixture *f)
{
    tu_rm_rf(f->dir);
    free(f->dir);
    free(f->seg);
    tu_recs_free(&f->model);
}

/* Opens a copy of the fixture whose segment file is `bytes`; returns the open result. */
static int open_variant(const tail_fixture *f, const uint8_t *bytes, size_t len, log_store_t **st,
                        rl_err *err, char **logged, char *copy_dir)
{
    char *dir = tu_tmpdir();
    tu_copy_store(f->dir, dir);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/t-0/%020d.log", dir, 0);
    tu_write_file(path, bytes, len);
    tu_capture cap;
    tu_capture_begin(&cap);
    log_store_opts o = {.compression = LOG_COMPRESSION_LZ4,
                        .compression_level = 0,
                        .partitions = 1,
                        .segment_bytes = 0,
                        .batch_bytes = 300};
    int rc = log_store_open(st, dir, &o, err);
    *logged = tu_capture_end(&cap);
    snprintf(copy_dir, PATH_MAX, "%s", dir);
    free(dir);
    return rc;
}

static void expect_recovered(const tail_fixture *f, log_store_t *st)
{
    int64_t ls, hwm;
    assert_int_equal(log_store_offsets(st, "t", 0, &ls, &hwm), 0);
    assert_int_equal(hwm, f->hwm);
    tu_recs got = {0};
    tu_read_partition(st, "t", 0, 1 << 20, &got);
    tu_assert_same(&got, &f->model);
    tu_recs_free(&got);
}

static void test_torn_tail_every_byte(void **state)
{
    (void)state;
    int cs[] = {LOG_COMPRESSION_NONE, LOG_COMPRESSION_ZSTD};
    for (size_t c = 0; c < 2; c++) {
        tail_fixture f;
        tail_setup(&f, cs[c], 5, 1);
        uint8_t *buf = malloc(f.seglen);
        int warned = 0;
        for (size_t cut = f.committed; cut < f.seglen; cut++) {
            /* Half the cuts truncate the file, the others zero the rest (preallocated space
             * the write never reached). */
            size_t len = cut;
            memcpy(buf, f.seg, f.seglen);
            if (cut & 1) {
                memset(buf + cut, 0, f.seglen - cut);
                len = f.seglen;
            }
            log_store_t *st = NULL;
            rl_err err = {0, ""};
            char *logged, copy[PATH_MAX];
            int rc = open_variant(&f, buf, len, &st, &err, &logged, copy);
            if (rc != 0)
                fail_msg("cut at %zu: %s", cut, err.msg);
            expect_recovered(&f, st);
            /* The first bytes of a batch header are its baseOffset; a tail that is zero or
             * absent is a clean end, anything else is logged with the file and position. */
            char want[64];
            snprintf(want, sizeof want, "tail at byte %zu (offset %lld)", f.committed,
                     (long long)f.hwm);
            if (strstr(logged, want) && strstr(logged, "/t-0/00000000000000000000.log"))
                warned++;
            else if (getenv("RL_TEST_VERBOSE"))
                print_message("cut %zu: not reported: %s\n", cut - f.committed, logged);
            /* Appending after recovery works and lands right after the checkpoint. */
            tu_append(st, "t", rl_slice_str("key"), rl_slice_str("after"), 1);
            tu_commit(st, "B");
            int64_t ls, hwm;
            assert_int_equal(log_store_offsets(st, "t", 0, &ls, &hwm), 0);
            assert_int_equal(hwm, f.hwm + 1);
            log_store_close(st);
            free(logged);
            tu_rm_rf(copy);
        }
        print_message("codec %d: %zu cuts, %d reported as a torn tail\n", cs[c],
                      f.seglen - f.committed, warned);
        /* Every cut that leaves a non-zero partial batch is reported: only the cuts inside
         * the baseOffset's leading zero bytes (a clean end) and, when zero-filling, the last
         * byte (already zero: the batch is whole and is cut back as uncommitted) are not. */
        assert_true(warned >= (int)(f.seglen - f.committed) - 9);
        free(buf);
        tail_teardown(&f);
    }
}

static void test_crc_flip_tail(void **state)
{
    (void)state;
    tail_fixture f;
    tail_setup(&f, LOG_COMPRESSION_LZ4, 4, 1);
    uint8_t *buf = malloc(f.seglen);
    memcpy(buf, f.seg, f.seglen);
    buf[f.committed + 70] ^= 0x01; /* inside the compressed records of the last batch */
    log_store_t *st = NULL;
    rl_err err = {0, ""};
    char *logged, copy[PATH_MAX];
    assert_int_equal(open_variant(&f, buf, f.seglen, &st, &err, &logged, copy), 0);
    expect_recovered(&f, st);
    char want[128];
    snprintf(want, sizeof want, "torn or corrupt tail at byte %zu (offset %lld)", f.committed,
             (long long)f.hwm);
    assert_non_null(strstr(logged, want));
    assert_non_null(strstr(logged, "CRC32C mismatch"));
    assert_non_null(strstr(logged, f.segpath + strlen(f.dir)));
    log_store_close(st);
    free(logged);
    tu_rm_rf(copy);
    free(buf);
    tail_teardown(&f);
}

/* Damage after the checkpoint followed by good batches is still an uncommitted tail (writes
 * reach the disk in any order before fdatasync): truncated from the damaged batch. */
static void test_damaged_uncommitted_then_good(void **state)
{
    (void)state;
    tail_fixture f;
    tail_setup(&f, LOG_COMPRESSION_NONE, 3, 3);
    uint8_t *buf = malloc(f.seglen);
    memcpy(buf, f.seg, f.seglen);
    buf[f.batch_pos[4] + 40] ^= 0x80; /* second uncommitted batch */
    log_store_t *st = NULL;
    rl_err err = {0, ""};
    char *logged, copy[PATH_MAX];
    assert_int_equal(open_variant(&f, buf, f.seglen, &st, &err, &logged, copy), 0);
    expect_recovered(&f, st);
    char want[64];
    snprintf(want, sizeof want, "tail at byte %zu", f.batch_pos[4]);
    assert_non_null(strstr(logged, want));
    assert_non_null(strstr(logged, "cutting back to the checkpoint"));
    log_store_close(st);
    free(logged);
    tu_rm_rf(copy);
    free(buf);
    tail_teardown(&f);
}

static void test_committed_damage_refused(void **state)
{
    (void)state;
    tail_fixture f;
    tail_setup(&f, LOG_COMPRESSION_NONE, 5, 1);
    uint8_t *buf = malloc(f.seglen);
    log_store_t *st = NULL;
    rl_err err = {0, ""};
    char *logged, copy[PATH_MAX], want[160];

    /* A flipped byte inside a committed batch (followed by good batches). */
    memcpy(buf, f.seg, f.seglen);
    buf[f.batch_pos[2] + 65] ^= 0x04;
    assert_int_equal(open_variant(&f, buf, f.seglen, &st, &err, &logged, copy), RL_ECORRUPT);
    snprintf(want, sizeof want, "damaged batch at byte %zu", f.batch_pos[2]);
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, "/t-0/00000000000000000000.log"));
    assert_non_null(strstr(err.msg, "CRC32C"));
    free(logged);
    tu_rm_rf(copy);

    /* The file cut inside committed data: committed records are missing. */
    assert_int_equal(open_variant(&f, f.seg, f.committed - 10, &st, &err, &logged, copy),
                     RL_ECORRUPT);
    assert_non_null(strstr(err.msg, "refusing to open"));
    free(logged);
    tu_rm_rf(copy);

    /* The file cut exactly at a batch boundary below the checkpoint. */
    assert_int_equal(open_variant(&f, f.seg, f.batch_pos[3], &st, &err, &logged, copy),
                     RL_ECORRUPT);
    assert_non_null(strstr(err.msg, "committed data is missing"));
    free(logged);
    tu_rm_rf(copy);

    /* A checkpoint that was edited or torn. */
    char *dir = tu_tmpdir();
    tu_copy_store(f.dir, dir);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/checkpoint", dir);
    size_t n;
    uint8_t *ck = tu_read_file(path, &n);
    /* Two slots (log/store.c): damage in both refuses the open. */
    if (n < 8192 || n % 8192 != 0)
        fail_msg("checkpoint of %zu bytes", n);
    size_t half = n / 2;
    ck[20] ^= 1;
    ck[half + 20] ^= 1;
    tu_write_file(path, ck, n);
    log_store_opts o = {.compression = 0,
                        .compression_level = 0,
                        .partitions = 1,
                        .segment_bytes = 0,
                        .batch_bytes = 0};
    assert_int_equal(log_store_open(&st, dir, &o, &err), RL_ECORRUPT);
    assert_non_null(strstr(err.msg, "checkpoint"));
    ck[20] ^= 1;
    ck[half + 20] ^= 1;
    tu_write_file(path, ck, n - 3);
    assert_int_equal(log_store_open(&st, dir, &o, &err), RL_ECORRUPT);
    free(ck);
    tu_rm_rf(dir);
    free(dir);
    free(buf);
    tail_teardown(&f);
}

/* ------------------------------------------------------------------ checkpoint slots */

static uint64_t slot_seq(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[10 + i];
    return v;
}

/* Commits alternate between the two slots of the checkpoint; a torn newest slot falls back
 * to the previous commit (logged), which recovery then cuts back to; a version 1 file is
 * read and rewritten in the slot layout at the next commit. */
static void test_checkpoint_slots(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    log_store_opts o = {.compression = LOG_COMPRESSION_NONE};
    log_store_t *st = tu_open(dir, &o);
    tu_append(st, "t", rl_slice_str("k"), rl_slice_str("v0"), 1);
    tu_commit(st, "one");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/checkpoint", dir);
    size_t n;
    uint8_t *ck = tu_read_file(path, &n);
    assert_int_equal(n, 8192);
    uint64_t s0 = slot_seq(ck), s1 = slot_seq(ck + n / 2);
    assert_int_equal(s0, s1); /* a new file: both slots alike */
    free(ck);
    tu_append(st, "t", rl_slice_str("k"), rl_slice_str("v1"), 2);
    tu_commit(st, "two");
    ck = tu_read_file(path, &n);
    assert_int_equal(n, 8192); /* written in place */
    uint64_t a = slot_seq(ck), b = slot_seq(ck + n / 2);
    assert_int_equal(a > b ? a : b, s0 + 1);
    assert_int_equal(a > b ? b : a, s0);
    log_store_close(st);

    /* Tear the newest image: the open uses the other one and cuts back to it. */
    size_t newest = a > b ? 0 : n / 2;
    ck[newest + 30] ^= 0x20;
    tu_write_file(path, ck, n);
    free(ck);
    tu_capture cap;
    tu_capture_begin(&cap);
    st = tu_open(dir, &o);
    char *logged = tu_capture_end(&cap);
    assert_non_null(strstr(logged, "using the other slot"));
    free(logged);
    rl_buf blob = RL_BUF_INIT;
    assert_int_equal(log_store_checkpoint(st, &blob), 0);
    assert_int_equal(blob.len, 3);
    assert_memory_equal(blob.p, "one", 3);
    int64_t ls, hwm;
    assert_int_equal(log_store_offsets(st, "t", 0, &ls, &hwm), 0);
    assert_int_equal(hwm, 1);
    /* The next commit goes into the damaged slot and repairs it. */
    tu_append(st, "t", rl_slice_str("k"), rl_slice_str("v1b"), 3);
    tu_commit(st, "three");
    log_store_close(st);
    tu_capture_begin(&cap);
    st = tu_open(dir, &o);
    logged = tu_capture_end(&cap);
    assert_null(strstr(logged, "using the other slot"));
    free(logged);
    assert_int_equal(log_store_checkpoint(st, &blob), 0);
    assert_memory_equal(blob.p, "three", 5);
    assert_int_equal(log_store_offsets(st, "t", 0, &ls, &hwm), 0);
    assert_int_equal(hwm, 2);
    log_store_close(st);

    /* A version 1 checkpoint (the P0 layout) is read, then replaced by the slot layout. */
    rl_buf v1 = RL_BUF_INIT;
    rl_buf_append(&v1, "RLCP", 4);
    rl_buf_put_be16(&v1, 1);
    rl_buf_put_be32(&v1, 5);
    rl_buf_append(&v1, "three", 5);
    rl_buf_put_be32(&v1, 1);
    rl_buf_put_be16(&v1, 1);
    rl_buf_append(&v1, "t", 1);
    rl_buf_put_be32(&v1, 1);
    rl_buf_put_be64(&v1, 2);
    rl_buf_put_be32(&v1, rl_crc32c(0, v1.p, v1.len));
    tu_write_file(path, v1.p, v1.len);
    rl_buf_free(&v1);
    st = tu_open(dir, &o);
    assert_int_equal(log_store_offsets(st, "t", 0, &ls, &hwm), 0);
    assert_int_equal(hwm, 2);
    tu_append(st, "t", rl_slice_str("k"), rl_slice_str("v2"), 4);
    tu_commit(st, "four");
    log_store_close(st);
    ck = tu_read_file(path, &n);
    assert_int_equal(n, 8192);
    free(ck);
    st = tu_open(dir, &o);
    assert_int_equal(log_store_checkpoint(st, &blob), 0);
    assert_memory_equal(blob.p, "four", 4);
    rl_buf_free(&blob);
    log_store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

/* ------------------------------------------------------------------ segment roll */

static void check_random_lookups(log_store_t *st, const char *topic, uint64_t *seed, int64_t hwm)
{
    for (int k = 0; k < 300; k++) {
        int64_t off = (int64_t)(tu_rnd(seed) % (uint64_t)hwm);
        log_read rd;
        rl_err err = {0, ""};
        assert_int_equal(log_store_read(st, topic, 0, off, 1, &rd, &err), 0);
        log_batch_hdr h;
        assert_int_equal(log__batch_header(rd.bytes, true, &h, NULL), 0);
        assert_int_equal(rd.bytes.len, h.size);
        if (!(h.base <= off && off <= log_batch_last(&h)))
            fail_msg("offset %lld: batch [%lld, %lld]", (long long)off, (long long)h.base,
                     (long long)log_batch_last(&h));
        log_read_release(&rd);
    }
}

static void test_segment_roll(void **state)
{
    (void)state;
    uint64_t seed = tu_seed();
    char *dir = tu_tmpdir();
    log_store_opts o = {.compression = LOG_COMPRESSION_NONE,
                        .compression_level = 0,
                        .partitions = 1,
                        .segment_bytes = 1u << 20,
                        .batch_bytes = 16384};
    log_store_t *st = tu_open(dir, &o);
    tu_recs model = {0};
    char v[1100];
    const int64_t n = 6000; /* about 6.3 MiB of values */
    for (int64_t i = 0; i < n; i++) {
        rl_slice vs = rl_slice_make(v, make_value(v, 1000 + (size_t)(i % 50), i));
        tu_append(st, "big", rl_slice_str("k"), vs, 5 * i);
        tu_push(&model, i, 5 * i, rl_slice_str("k"), vs);
        if (i % 500 == 499)
            tu_commit(st, "c");
    }
    tu_commit(st, "c");
    char pdir[PATH_MAX];
    snprintf(pdir, sizeof pdir, "%s/big-0", dir);
    int nlog = tu_count_files(pdir, ".log");
    assert_true(nlog >= 6);
    /* Sealed segments have their index files; the active one gets them when sealed. */
    assert_int_equal(tu_count_files(pdir, ".index"), nlog - 1);
    assert_int_equal(tu_count_files(pdir, ".timeindex"), nlog - 1);
    log_partition *p = tu_part(st, "big", 0);
    for (size_t i = 0; i + 1 < p->nsegs; i++) {
        assert_true(p->segs[i]->size <= (1u << 20));
        assert_int_equal(p->segs[i]->next, p->segs[i + 1]->base);
        struct stat sb;
        assert_int_equal(stat(p->segs[i]->path, &sb), 0);
        assert_int_equal((uint64_t)sb.st_size, p->segs[i]->size); /* trimmed at the roll */
    }
    tu_recs got = {0};
    tu_read_partition(st, "big", 0, 100000, &got);
    tu_assert_same(&got, &model);
    tu_recs_free(&got);
    check_random_lookups(st, "big", &seed, n);

    /* Save segment 1's index as written at the roll, then reopen from the index files. */
    char ipath[PATH_MAX], tpath[PATH_MAX], ipath2[PATH_MAX];
    log__segment_path(ipath, sizeof ipath, pdir, p->segs[1]->base, ".index");
    log__segment_path(tpath, sizeof tpath, pdir, p->segs[1]->base, ".timeindex");
    log__segment_path(ipath2, sizeof ipath2, pdir, p->segs[2]->base, ".index");
    size_t ilen, tlen, ilen2;
    uint8_t *iorig = tu_read_file(ipath, &ilen);
    uint8_t *torig = tu_read_file(tpath, &tlen);
    uint8_t *iorig2 = tu_read_file(ipath2, &ilen2);
    assert_true(ilen > 8 && ilen % 8 == 0 && tlen % 12 == 0 && tlen > 0);
    log_store_close(st);

    st = tu_open(dir, &o);
    tu_read_partition(st, "big", 0, 100000, &got);
    tu_assert_same(&got, &model);
    tu_recs_free(&got);
    check_random_lookups(st, "big", &seed, n);
    log_store_close(st);

    /* A missing index and a stale (cut) one are rebuilt, identical to the originals. */
    unlink(ipath);
    unlink(tpath);
    tu_write_file(ipath2, iorig2, ilen2 / 2 / 8 * 8);
    tu_capture cap;
    tu_capture_begin(&cap);
    st = tu_open(dir, &o);
    char *logged = tu_capture_end(&cap);
    assert_non_null(strstr(logged, "rebuilt .index"));
    free(logged);
    size_t l;
    uint8_t *again = tu_read_file(ipath, &l);
    assert_non_null(again);
    assert_int_equal(l, ilen);
    assert_memory_equal(again, iorig, ilen);
    free(again);
    again = tu_read_file(tpath, &l);
    assert_int_equal(l, tlen);
    assert_memory_equal(again, torig, tlen);
    free(again);
    again = tu_read_file(ipath2, &l);
    assert_int_equal(l, ilen2);
    assert_memory_equal(again, iorig2, ilen2);
    free(again);
    tu_read_partition(st, "big", 0, 100000, &got);
    tu_assert_same(&got, &model);
    tu_recs_free(&got);
    check_random_lookups(st, "big", &seed, n);

    /* Appending after a reopen rolls on from the last segment. */
    for (int64_t i = n; i < n + 1500; i++) {
        rl_slice vs = rl_slice_make(v, make_value(v, 1000, i));
        tu_append(st, "big", rl_slice_str("k"), vs, 5 * i);
        tu_push(&model, i, 5 * i, rl_slice_str("k"), vs);
    }
    tu_commit(st, "d");
    tu_read_partition(st, "big", 0, 100000, &got);
    tu_assert_same(&got, &model);
    tu_recs_free(&got);
    log_store_close(st);

    /* Damage in a sealed segment's batch structure is refused at open. */
    log__segment_path(ipath, sizeof ipath, pdir, 0, ".index");
    unlink(ipath); /* force the header walk of segment 0 */
    char lpath[PATH_MAX];
    log__segment_path(lpath, sizeof lpath, pdir, 0, ".log");
    uint8_t *s0 = tu_read_file(lpath, &l);
    log_batch_hdr h;
    assert_int_equal(log__batch_header(rl_slice_make(s0, l), false, &h, NULL), 0);
    s0[h.size + 8] ^= 0x40; /* batchLength of the second batch */
    tu_write_file(lpath, s0, l);
    rl_err err = {0, ""};
    assert_int_equal(log_store_open(&st, dir, &o, &err), RL_ECORRUPT);
    char want[64];
    snprintf(want, sizeof want, "00000000000000000000.log: byte %u", h.size);
    assert_non_null(strstr(err.msg, want));
    free(s0);
    free(iorig);
    free(torig);
    free(iorig2);
    tu_recs_free(&model);
    tu_rm_rf(dir);
    free(dir);
}

/* Reopening with uncommitted data in later segments: they are removed. */
static void test_cutback_across_segments(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    log_store_opts o = {.compression = LOG_COMPRESSION_NONE,
                        .compression_level = 0,
                        .partitions = 1,
                        .segment_bytes = 1u << 20,
                        .batch_bytes = 65536};
    log_store_t *st = tu_open(dir, &o);
    tu_recs model = {0};
    char v[2100];
    int64_t i = 0;
    for (; i < 1200; i++) {
        rl_slice vs = rl_slice_make(v, make_value(v, 2000, i));
        tu_append(st, "t", rl_slice_str("k"), vs, i);
        tu_push(&model, i, i, rl_slice_str("k"), vs);
    }
    tu_commit(st, "A");
    size_t segs_a = tu_part(st, "t", 0)->nsegs;
    for (; i < 3000; i++)
        tu_append(st, "t", rl_slice_str("k"), rl_slice_make(v, make_value(v, 2000, i)), i);
    assert_true(tu_part(st, "t", 0)->nsegs > segs_a + 1);
    log_store_close(st);
    st = tu_open(dir, &o);
    assert_int_equal(tu_part(st, "t", 0)->nsegs, segs_a);
    tu_recs got = {0};
    tu_read_partition(st, "t", 0, 1 << 20, &got);
    tu_assert_same(&got, &model);
    tu_recs_free(&got);
    char pdir[PATH_MAX];
    snprintf(pdir, sizeof pdir, "%s/t-0", dir);
    assert_int_equal(tu_count_files(pdir, ".log"), (int)segs_a);
    log_store_close(st);
    tu_recs_free(&model);
    tu_rm_rf(dir);
    free(dir);
}

/* ------------------------------------------------------------------ big records */

static void test_big_records(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    log_store_opts o = {.compression = LOG_COMPRESSION_LZ4,
                        .compression_level = 0,
                        .partitions = 1,
                        .segment_bytes = 1u << 20,
                        .batch_bytes = 65536};
    log_store_t *st = tu_open(dir, &o);
    tu_recs model = {0};
    size_t big = 3u << 20;
    char *v = malloc(big);
    uint64_t s = 12345;
    int64_t off = 0;
    /* Big first (empty active segment grows), small ones, big again (roll). */
    size_t sizes[] = {big, 100, 200, big - 7, 50};
    for (size_t k = 0; k < 5; k++) {
        for (size_t j = 0; j < sizes[k]; j++)
            v[j] = (char)tu_rnd(&s); /* incompressible */
        tu_append(st, "t", rl_slice_str("k"), rl_slice_make(v, sizes[k]), (int64_t)k);
        tu_push(&model, off++, (int64_t)k, rl_slice_str("k"), rl_slice_make(v, sizes[k]));
        if (k == 2)
            tu_commit(st, "x");
    }
    tu_commit(st, "y");
    for (int round = 0; round < 2; round++) {
        tu_recs got = {0};
        tu_read_partition(st, "t", 0, 1, &got);
        tu_assert_same(&got, &model);
        tu_recs_free(&got);
        log_store_close(st);
        st = tu_open(dir, &o);
    }
    log_store_close(st);
    free(v);
    tu_recs_free(&model);
    tu_rm_rf(dir);
    free(dir);
}

/* ------------------------------------------------------------------ offset for time */

static void check_times(log_store_t *st, const int64_t *ts, int64_t n, int64_t hwm, uint64_t *seed)
{
    int64_t lo = ts[0], hi = ts[0];
    for (int64_t i = 0; i < n; i++) {
        lo = ts[i] < lo ? ts[i] : lo;
        hi = ts[i] > hi ? ts[i] : hi;
    }
    for (int k = 0; k < 400; k++) {
        int64_t target = lo - 50 + (int64_t)(tu_rnd(seed) % (uint64_t)(hi - lo + 100));
        if (k == 0)
            target = INT64_MIN;
        if (k == 1)
            target = hi + 1;
        int64_t want = hwm;
        for (int64_t i = 0; i < hwm; i++)
            if (ts[i] >= target) {
                want = i;
                break;
            }
        int64_t got = -7;
        assert_int_equal(log_store_offset_for_time(st, "t", 0, target, &got), 0);
        if (got != want)
            fail_msg("ts %lld: offset %lld, expected %lld", (long long)target, (long long)got,
                     (long long)want);
    }
}

static void test_offset_for_time(void **state)
{
    (void)state;
    uint64_t seed = tu_seed();
    char *dir = tu_tmpdir();
    log_store_opts o = {.compression = LOG_COMPRESSION_ZSTD,
                        .compression_level = 0,
                        .partitions = 1,
                        .segment_bytes = 1u << 20,
                        .batch_bytes = 4096};
    log_store_t *st = tu_open(dir, &o);
    const int64_t n = 4000;
    int64_t *ts = malloc(sizeof *ts * (size_t)(n + 100));
    char v[1100];
    for (int64_t i = 0; i < n; i++) {
        /* Mostly increasing, with jitter (binlog event times are not strictly ordered). */
        ts[i] = 1700000000000LL + i * 10 + (int64_t)(tu_rnd(&seed) % 41) - 20;
        for (int j = 0; j < 1000; j++)
            v[j] = (char)tu_rnd(&seed);
        tu_append(st, "t", rl_slice_str("k"), rl_slice_make(v, 1000), ts[i]);
        if (i % 700 == 0)
            tu_commit(st, "c");
    }
    tu_commit(st, "c");
    assert_true(tu_part(st, "t", 0)->nsegs >= 3);
    /* Uncommitted records with later timestamps are not found. */
    for (int64_t i = n; i < n + 100; i++) {
        ts[i] = 1800000000000LL;
        tu_append(st, "t", rl_slice_str("k"), rl_slice_make(v, 1000), ts[i]);
    }
    int64_t got;
    assert_int_equal(log_store_offset_for_time(st, "t", 0, 1800000000000LL, &got), 0);
    assert_int_equal(got, n);
    check_times(st, ts, n, n, &seed);
    log_store_close(st);
    st = tu_open(dir, &o);
    check_times(st, ts, n, n, &seed);
    assert_int_equal(log_store_offset_for_time(st, "nosuch", 0, 0, &got), RL_ENOTFOUND);
    log_store_close(st);
    free(ts);
    tu_rm_rf(dir);
    free(dir);
}

/* ------------------------------------------------------------------ topics, errors */

static void test_topic_names_and_errors(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    log_store_t *st = tu_open(dir, NULL);
    char longname[300];
    memset(longname, 'a', sizeof longname);
    longname[250] = 0;
    const char *bad[] = {"", ".", "..", "a/b", "tab\tx", "sp ace", longname, "ünï"};
    rl_err err = {0, ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(log_store_append(st, rl_slice_str(bad[i]), rl_slice_str("k"),
                                          rl_slice_str("v"), 1, &err),
                         RL_ECONFIG);
    /* Not sticky: a good append and commit work. */
    longname[249] = 0;
    tu_append(st, longname, rl_slice_str("k"), rl_slice_str("v"), 1);
    tu_append(st, "a.b_c-D9", rl_slice_str("k"), rl_slice_str("v"), 1);
    tu_commit(st, "");
    int64_t ls, hwm;
    assert_int_equal(log_store_offsets(st, longname, 0, &ls, &hwm), 0);
    assert_int_equal(hwm, 1);
    assert_int_equal(log_store_offsets(st, "a.b_c-D9", 1, &ls, &hwm), RL_ENOTFOUND);
    /* Checkpoint size limit: rejected, not sticky. */
    char *blob = calloc(1, 65537);
    assert_int_equal(log_store_commit(st, rl_slice_make(blob, 65537), &err), RL_ETOOBIG);
    assert_int_equal(log_store_commit(st, rl_slice_make(blob, 65536), &err), 0);
    free(blob);
    /* One process per log. */
    log_store_t *st2 = NULL;
    assert_int_equal(log_store_open(&st2, dir, NULL, &err), -EBUSY);
    /* Bad options. */
    log_store_opts o = {.compression = 9,
                        .compression_level = 0,
                        .partitions = 1,
                        .segment_bytes = 0,
                        .batch_bytes = 0};
    assert_int_equal(log_store_open(&st2, dir, &o, &err), RL_ECONFIG);
    log_store_opts o2 = {.compression = 0,
                         .compression_level = 0,
                         .partitions = 1,
                         .segment_bytes = 1000,
                         .batch_bytes = 0};
    assert_int_equal(log_store_open(&st2, dir, &o2, &err), RL_ECONFIG);
    log_store_close(st);
    st = tu_open(dir, NULL);
    assert_int_equal(log_store_offsets(st, longname, 0, &ls, &hwm), 0);
    assert_int_equal(hwm, 1);
    log_store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

/* A failed write poisons the store until it is reopened; the reopen recovers to the last
 * checkpoint. */
static void test_poison(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    log_store_opts o = {.compression = LOG_COMPRESSION_NONE,
                        .compression_level = 0,
                        .partitions = 1,
                        .segment_bytes = 0,
                        .batch_bytes = 0};
    log_store_t *st = tu_open(dir, &o);
    tu_append(st, "t", rl_slice_str("k"), rl_slice_str("v1"), 1);
    tu_commit(st, "one");
    tu_append(st, "t", rl_slice_str("k"), rl_slice_str("v2"), 2);
    log_segment *seg = tu_part(st, "t", 0)->segs[0];
    close(seg->fd);
    seg->fd = open("/dev/null", O_RDONLY); /* writes now fail with EBADF */
    rl_err err = {0, ""};
    assert_int_equal(log_store_commit(st, rl_slice_str("two"), &err), -EBADF);
    assert_non_null(strstr(err.msg, "00000000000000000000.log"));
    assert_int_equal(
        log_store_append(st, rl_slice_str("t"), rl_slice_str("k"), rl_slice_str("v3"), 3, &err),
        -EBADF);
    assert_non_null(strstr(err.msg, "earlier error"));
    assert_int_equal(log_store_commit(st, rl_slice_str("three"), &err), -EBADF);
    int64_t ls, hwm;
    assert_int_equal(log_store_offsets(st, "t", 0, &ls, &hwm), 0);
    assert_int_equal(hwm, 1);
    log_store_close(st);
    st = tu_open(dir, &o);
    rl_buf blob = RL_BUF_INIT;
    assert_int_equal(log_store_checkpoint(st, &blob), 0);
    assert_int_equal(blob.len, 3);
    assert_memory_equal(blob.p, "one", 3);
    rl_buf_free(&blob);
    tu_recs got = {0};
    tu_read_partition(st, "t", 0, 1 << 20, &got);
    assert_int_equal(got.n, 1);
    assert_memory_equal(got.r[0].v, "v1", 2);
    tu_recs_free(&got);
    log_store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

/* ------------------------------------------------------------------ abort */

static int64_t jitter_ts(int64_t i, uint64_t *seed)
{
    return 1700000000000LL + i * 10 + (int64_t)(tu_rnd(seed) % 41) - 20;
}

/* log_store_abort drops open batches, batches already written and segments rolled since the
 * last commit; appending again continues at the high watermark; the result survives a
 * reopen exactly, offsets contiguous, indexes (offset and time) consistent. Run once with a
 * committed prefix and once with nothing ever committed. */
static void abort_scenario(int codec, int64_t ncommitted, uint64_t *seed)
{
    char *dir = tu_tmpdir();
    log_store_opts o = {.compression = codec,
                        .compression_level = 0,
                        .partitions = 1,
                        .segment_bytes = 1u << 20,
                        .batch_bytes = 16384};
    log_store_t *st = tu_open(dir, &o);
    tu_recs model = {0};
    int64_t *ts = malloc(sizeof *ts * 20000);
    char v[1300];
    int64_t i = 0;
    for (; i < ncommitted; i++) {
        ts[i] = jitter_ts(i, seed);
        rl_slice vs = rl_slice_make(v, make_value(v, 900 + (size_t)(tu_rnd(seed) % 300), i));
        tu_append(st, "t", rl_slice_str("k"), vs, ts[i]);
        tu_push(&model, i, ts[i], rl_slice_str("k"), vs);
        if (i == 10)
            tu_append(st, "small", rl_slice_str("a"), rl_slice_str("s0"), 1);
    }
    if (ncommitted > 0)
        tu_commit(st, "c1");
    /* With nothing committed the topic is created by the first uncommitted append. */
    log_partition *p = ncommitted > 0 ? tu_part(st, "t", 0) : NULL;
    size_t segs_committed = p ? p->nsegs : 1;
    uint64_t committed_bytes = p ? p->segs[p->nsegs - 1]->size : 0;
    char pdir[PATH_MAX];
    snprintf(pdir, sizeof pdir, "%s/t-0", dir);
    int nlog = p ? tu_count_files(pdir, ".log") : 1;

    /* Uncommitted: enough to write many batches and roll twice, a new topic, and an open
     * batch in a committed topic. */
    char junk[1300];
    for (int64_t k = 0; k < 2600; k++) {
        for (int j = 0; j < 1000; j++)
            junk[j] = (char)tu_rnd(seed);
        tu_append(st, "t", rl_slice_str("k"), rl_slice_make(junk, 1000), 1800000000000LL + k);
    }
    tu_append(st, "fresh", rl_slice_str("x"), rl_slice_str("gone"), 3);
    if (ncommitted > 0)
        tu_append(st, "small", rl_slice_str("a"), rl_slice_str("gone"), 2);
    p = tu_part(st, "t", 0);
    assert_true(p->nsegs >= segs_committed + 2);

    rl_err err = {0, ""};
    assert_int_equal(log_store_abort(st, &err), 0);
    assert_int_equal(p->nsegs, segs_committed);
    assert_int_equal(p->next, ncommitted);
    assert_int_equal(p->segs[p->nsegs - 1]->size, committed_bytes);
    assert_int_equal(tu_count_files(pdir, ".log"), nlog);
    assert_int_equal(tu_count_files(pdir, ".index"), nlog - 1); /* the active one has none */
    int64_t ls, hwm;
    assert_int_equal(log_store_offsets(st, "fresh", 0, &ls, &hwm), 0);
    assert_int_equal(hwm, 0);
    if (ncommitted > 0) {
        assert_int_equal(log_store_offsets(st, "small", 0, &ls, &hwm), 0);
        assert_int_equal(hwm, 1);
    }
    assert_int_equal(log_store_abort(st, &err), 0); /* nothing to drop: a no-op */
    tu_recs got = {0};
    tu_read_partition(st, "t", 0, 100000, &got);
    tu_assert_same(&got, &model);
    tu_recs_free(&got);
    int64_t found;
    assert_int_equal(log_store_offset_for_time(st, "t", 0, 1800000000000LL, &found), 0);
    assert_int_equal(found, ncommitted);

    /* Append again (the same source re-read would give different bytes: use new ones). */
    int64_t end = ncommitted + 2500;
    for (; i < end; i++) {
        ts[i] = jitter_ts(i, seed);
        rl_slice vs = rl_slice_make(v, make_value(v, 1000 + (size_t)(tu_rnd(seed) % 200), i + 7));
        tu_append(st, "t", rl_slice_str("k"), vs, ts[i]);
        tu_push(&model, i, ts[i], rl_slice_str("k"), vs);
        if (i == ncommitted + 1200)
            tu_commit(st, "mid");
    }
    tu_append(st, "fresh", rl_slice_str("x"), rl_slice_str("kept"), 4);
    tu_commit(st, "c2");
    tu_read_partition(st, "t", 0, 100000, &got);
    tu_assert_same(&got, &model);
    tu_recs_free(&got);
    check_random_lookups(st, "t", seed, end);
    check_times(st, ts, end, end, seed);
    log_store_close(st);

    st = tu_open(dir, &o);
    rl_buf blob = RL_BUF_INIT;
    assert_int_equal(log_store_checkpoint(st, &blob), 0);
    assert_int_equal(blob.len, 2);
    assert_memory_equal(blob.p, "c2", 2);
    rl_buf_free(&blob);
    tu_read_partition(st, "t", 0, 100000, &got);
    tu_assert_same(&got, &model);
    tu_recs_free(&got);
    check_random_lookups(st, "t", seed, end);
    check_times(st, ts, end, end, seed);
    tu_read_partition(st, "fresh", 0, 1 << 20, &got);
    assert_int_equal(got.n, 1);
    assert_memory_equal(got.r[0].v, "kept", 4);
    tu_recs_free(&got);
    if (ncommitted > 0) {
        tu_read_partition(st, "small", 0, 1 << 20, &got);
        assert_int_equal(got.n, 1);
        assert_memory_equal(got.r[0].v, "s0", 2);
        tu_recs_free(&got);
    }
    log_store_close(st);
    free(ts);
    tu_recs_free(&model);
    tu_rm_rf(dir);
    free(dir);
}

static void test_abort(void **state)
{
    (void)state;
    uint64_t seed = tu_seed();
    abort_scenario(LOG_COMPRESSION_NONE, 1500, &seed);
    abort_scenario(LOG_COMPRESSION_LZ4, 1500, &seed);
    abort_scenario(LOG_COMPRESSION_NONE, 0, &seed);
}

/* Abort on a poisoned store returns the sticky error and leaves it poisoned. */
static void test_abort_poisoned(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    log_store_opts o = {.compression = LOG_COMPRESSION_NONE,
                        .compression_level = 0,
                        .partitions = 1,
                        .segment_bytes = 0,
                        .batch_bytes = 0};
    log_store_t *st = tu_open(dir, &o);
    tu_append(st, "t", rl_slice_str("k"), rl_slice_str("v1"), 1);
    tu_commit(st, "one");
    tu_append(st, "t", rl_slice_str("k"), rl_slice_str("v2"), 2);
    log_segment *seg = tu_part(st, "t", 0)->segs[0];
    close(seg->fd);
    seg->fd = open("/dev/null", O_RDONLY);
    rl_err err = {0, ""};
    assert_int_equal(log_store_commit(st, rl_slice_str("two"), &err), -EBADF);
    assert_int_equal(log_store_abort(st, &err), -EBADF);
    assert_non_null(strstr(err.msg, "earlier error"));
    assert_int_equal(
        log_store_append(st, rl_slice_str("t"), rl_slice_str("k"), rl_slice_str("v3"), 3, &err),
        -EBADF);
    log_store_close(st);
    st = tu_open(dir, &o);
    tu_recs got = {0};
    tu_read_partition(st, "t", 0, 1 << 20, &got);
    assert_int_equal(got.n, 1);
    tu_recs_free(&got);
    log_store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_partitions),
        cmocka_unit_test(test_read_contract),
        cmocka_unit_test(test_checkpoint_cutback),
        cmocka_unit_test(test_torn_tail_every_byte),
        cmocka_unit_test(test_crc_flip_tail),
        cmocka_unit_test(test_damaged_uncommitted_then_good),
        cmocka_unit_test(test_committed_damage_refused),
        cmocka_unit_test(test_checkpoint_slots),
        cmocka_unit_test(test_segment_roll),
        cmocka_unit_test(test_cutback_across_segments),
        cmocka_unit_test(test_big_records),
        cmocka_unit_test(test_offset_for_time),
        cmocka_unit_test(test_topic_names_and_errors),
        cmocka_unit_test(test_poison),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_abort_poisoned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
