/* Sealed segments' .index and .timeindex: on open their structure and last entries are
 * checked (a stale or inconsistent file is rebuilt, logged); an entry in the middle of a file
 * that points into a batch, names the wrong batch, or claims an impossible timestamp is found
 * by the first read or time lookup that uses it (logged, the segment then scanned from its
 * start), so reads and time lookups stay right; `log check` checks every entry. */
#include "log_test_util.h"

#define TOPIC "idx"
#define NREC 12000

static int64_t ts_of(int64_t off)
{
    return 1000000 + off * 3;
}

static void fill(const char *dir)
{
    log_store_opts o = {
        .segment_bytes = 1u << 20, .batch_bytes = 2048, .compression = LOG_COMPRESSION_NONE};
    log_store_t *st = tu_open(dir, &o);
    char key[32], val[200];
    memset(val, 'v', sizeof val);
    for (int64_t i = 0; i < NREC; i++) {
        int kl = snprintf(key, sizeof key, "key-%lld", (long long)i);
        tu_append(st, TOPIC, rl_slice_make(key, (size_t)kl), rl_slice_make(val, sizeof val),
                  ts_of(i));
        if (i % 100 == 99)
            tu_commit(st, "c");
    }
    tu_commit(st, "c");
    log_store_close(st);
}

/* Every read lands on the batch holding its offset; time lookups find the first record at
 * or after the time. */
static void check_reads_every(log_store_t *st, int64_t stride)
{
    for (int64_t off = 0; off < NREC; off += stride) {
        log_read rd;
        rl_err err = {0, ""};
        int rc = log_store_read(st, TOPIC, 0, off, 1, &rd, &err);
        if (rc != 0)
            fail_msg("read %lld: %s", (long long)off, err.msg);
        log_batch_hdr h;
        assert_int_equal(log__batch_header(rd.bytes, true, &h, NULL), 0);
        assert_true(h.base <= off && off <= log_batch_last(&h));
        log_read_release(&rd);
        int64_t got = -1;
        assert_int_equal(log_store_offset_for_time(st, TOPIC, 0, ts_of(off) - 1, &got), 0);
        assert_int_equal(got, off);
    }
}

static void check_reads(log_store_t *st)
{
    check_reads_every(st, 37);
}

typedef struct files {
    char ipath[PATH_MAX], tpath[PATH_MAX];
    uint8_t *idx, *tidx;
    size_t nidx, ntidx; /* bytes */
} files;

static void restore(const files *f)
{
    tu_write_file(f->ipath, f->idx, f->nidx);
    tu_write_file(f->tpath, f->tidx, f->ntidx);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* Opens the store expecting the rebuild warning, checks the rebuilt files equal the
 * originals, and the reads. */
static void open_expect_rebuild(const char *dir, const files *f, const char *why)
{
    tu_capture cap;
    tu_capture_begin(&cap);
    log_store_t *st = tu_open(dir, NULL);
    char *out = tu_capture_end(&cap);
    if (!strstr(out, why) || !strstr(out, "rebuilding .index and .timeindex"))
        fail_msg("expected a rebuild (%s), got: %s", why, out);
    free(out);
    size_t n;
    uint8_t *p = tu_read_file(f->ipath, &n);
    assert_int_equal(n, f->nidx);
    assert_memory_equal(p, f->idx, n);
    free(p);
    p = tu_read_file(f->tpath, &n);
    assert_int_equal(n, f->ntidx);
    assert_memory_equal(p, f->tidx, n);
    free(p);
    check_reads(st);
    log_store_close(st);
}

/* Opens the store expecting no rebuild (the damage is in a middle entry), then reads and
 * time-looks-up every offset: all right, and the damaged entry is reported once. */
static void open_expect_lazy(const char *dir, const char *what)
{
    tu_capture cap;
    tu_capture_begin(&cap);
    log_store_t *st = tu_open(dir, NULL);
    char *out = tu_capture_end(&cap);
    if (strstr(out, "rebuild"))
        fail_msg("a middle-entry damage (%s) rebuilt on open: %s", what, out);
    free(out);
    tu_capture_begin(&cap);
    check_reads_every(st, 1);
    out = tu_capture_end(&cap);
    if (!strstr(out, what) || !strstr(out, "the index is damaged"))
        fail_msg("expected the damaged %s entry to be reported, got: %s", what, out);
    free(out);
    log_store_close(st);
}

static void test_middle_entries(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    fill(dir);
    char pdir[PATH_MAX];
    snprintf(pdir, sizeof pdir, "%s/%s-0", dir, TOPIC);
    files f;
    assert_int_equal(log__segment_path(f.ipath, sizeof f.ipath, pdir, 0, ".index"), 0);
    assert_int_equal(log__segment_path(f.tpath, sizeof f.tpath, pdir, 0, ".timeindex"), 0);
    f.idx = tu_read_file(f.ipath, &f.nidx);
    f.tidx = tu_read_file(f.tpath, &f.ntidx);
    assert_non_null(f.idx);
    assert_non_null(f.tidx);
    assert_true(f.nidx >= 8 * 20 && f.ntidx >= 12 * 20);

    /* An intact log opens without a rebuild. */
    tu_capture cap;
    tu_capture_begin(&cap);
    log_store_t *st = tu_open(dir, NULL);
    char *out = tu_capture_end(&cap);
    assert_null(strstr(out, "rebuild"));
    free(out);
    check_reads(st);
    log_store_close(st);

    size_t mid = f.nidx / 8 / 2;
    uint8_t *b = malloc(f.nidx > f.ntidx ? f.nidx : f.ntidx);

    /* 1. A middle .index entry pointing one byte into its batch (still increasing). */
    memcpy(b, f.idx, f.nidx);
    put_be32(b + mid * 8 + 4, be32(b + mid * 8 + 4) + 1);
    tu_write_file(f.ipath, b, f.nidx);
    open_expect_lazy(dir, ".index");
    restore(&f);

    /* 2. A middle .index entry naming an offset one past its batch's last one. */
    memcpy(b, f.idx, f.nidx);
    put_be32(b + mid * 8, be32(b + mid * 8) + 1);
    tu_write_file(f.ipath, b, f.nidx);
    open_expect_lazy(dir, ".index");
    restore(&f);

    /* 3. A middle .index entry moved to an earlier batch's start (positions and offsets
     * still increase, but it names the wrong batch). */
    memcpy(b, f.idx, f.nidx);
    uint32_t prev_pos = be32(b + (mid - 1) * 8 + 4), this_pos = be32(b + mid * 8 + 4);
    log_store_t *probe = tu_open(dir, NULL);
    log_segment *seg = tu_part(probe, TOPIC, 0)->segs[0];
    uint32_t pos = prev_pos, moved = 0;
    while (pos < this_pos) {
        log_batch_hdr h;
        assert_int_equal(
            log__batch_header(rl_slice_make(seg->map + pos, seg->size - pos), false, &h, NULL), 0);
        if (pos > prev_pos) {
            moved = pos;
            break;
        }
        pos += h.size;
    }
    log_store_close(probe);
    assert_true(moved > prev_pos && moved < this_pos);
    put_be32(b + mid * 8 + 4, moved);
    tu_write_file(f.ipath, b, f.nidx);
    open_expect_lazy(dir, ".index");
    restore(&f);

    /* 4. A middle .timeindex entry whose time is below its batch's largest timestamp (still
     * increasing). */
    size_t tmid = f.ntidx / 12 / 2;
    memcpy(b, f.tidx, f.ntidx);
    rl_reader rd = rl_reader_make(rl_slice_make(b + (tmid - 1) * 12, 8));
    int64_t prev_ts = rl_get_i64be(&rd);
    put_be64(b + tmid * 12, (uint64_t)(prev_ts + 1));
    tu_write_file(f.tpath, b, f.ntidx);
    open_expect_lazy(dir, ".timeindex");
    restore(&f);

    /* 5. A middle .timeindex entry naming an offset no index entry has. */
    memcpy(b, f.tidx, f.ntidx);
    put_be32(b + tmid * 12 + 8, be32(b + tmid * 12 + 8) - 1);
    tu_write_file(f.tpath, b, f.ntidx);
    open_expect_lazy(dir, ".timeindex");
    restore(&f);

    /* The last .index entry is still checked on open: damaged, both files are rebuilt. */
    size_t last = f.nidx / 8 - 1;
    memcpy(b, f.idx, f.nidx);
    put_be32(b + last * 8 + 4, be32(b + last * 8 + 4) + 1);
    tu_write_file(f.ipath, b, f.nidx);
    open_expect_rebuild(dir, &f, "not pointing at the batch it names");
    restore(&f);

    /* The checker reports such a file too. */
    memcpy(b, f.idx, f.nidx);
    put_be32(b + mid * 8 + 4, be32(b + mid * 8 + 4) + 1);
    tu_write_file(f.ipath, b, f.nidx);
    rl_buf lines = RL_BUF_INIT;
    rl_err err = {0, ""};
    assert_int_equal(log_check(dir, false, tu_collect, &lines, &err), 1);
    assert_non_null(strstr(rl_buf_cstr(&lines), "00000000000000000000.log: .index/.timeindex"));
    rl_buf_free(&lines);
    restore(&f);

    free(b);
    free(f.idx);
    free(f.tidx);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_middle_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
