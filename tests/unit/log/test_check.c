/* Unit tests for the offline checker (log_check, `rowlog log check DIR [--repair]`): a clean
 * log has no finding; bit flips in a batch's body, its header and its length field, and in an
 * index file are each reported with file, byte position and offset; --repair says what will
 * be lost, cuts at the first bad batch, lowers the checkpoint, and the log then opens and
 * reads as the prefix before the cut. */
#include "log_test_util.h"

#include "tools/log_check.c" /* `rowlog log check`, tested here until the CLI links it */

typedef struct lines {
    char text[16384];
    int n;
} lines;

static void collect(void *ctx, const char *line)
{
    lines *l = ctx;
    size_t used = strlen(l->text);
    snprintf(l->text + used, sizeof l->text - used, "%s\n", line);
    l->n++;
}

static int run_check(const char *dir, bool repair, lines *out)
{
    memset(out, 0, sizeof *out);
    rl_err err = {0, ""};
    int rc = log_check(dir, repair, collect, out, &err);
    if (rc < 0)
        fail_msg("log_check: %s", err.msg);
    return rc;
}

typedef struct built {
    char *dir;
    char pdir[PATH_MAX];
    log_store_opts o;
    tu_recs model;
} built;

static void build(built *b)
{
    b->dir = tu_tmpdir();
    memset(&b->o, 0, sizeof b->o);
    b->o.compression = LOG_COMPRESSION_LZ4;
    b->o.segment_bytes = 1u << 20;
    b->o.batch_bytes = 16384;
    memset(&b->model, 0, sizeof b->model);
    log_store_t *st = tu_open(b->dir, &b->o);
    uint64_t seed = 99;
    char v[1100];
    for (int64_t i = 0; i < 4000; i++) {
        for (int j = 0; j < 1000; j++)
            v[j] = (char)tu_rnd(&seed);
        tu_append(st, "t", rl_slice_str("k"), rl_slice_make(v, 1000), 1000 + i);
        tu_push(&b->model, i, 1000 + i, rl_slice_str("k"), rl_slice_make(v, 1000));
        if (i % 100 == 99)
            tu_commit(st, "ck");
    }
    tu_commit(st, "ck");
    assert_true(tu_part(st, "t", 0)->nsegs >= 3);
    log_store_close(st);
    snprintf(b->pdir, sizeof b->pdir, "%s/t-0", b->dir);
}

static void built_free(built *b)
{
    tu_recs_free(&b->model);
    tu_rm_rf(b->dir);
    free(b->dir);
}

/* Byte position and base offset of the nth batch of segment `base`. */
static void nth_batch(const built *b, int64_t base, int nth, uint64_t *pos, int64_t *off)
{
    char path[PATH_MAX];
    log__segment_path(path, sizeof path, b->pdir, base, ".log");
    size_t len;
    uint8_t *p = tu_read_file(path, &len);
    uint64_t at = 0;
    for (int i = 0;; i++) {
        log_batch_hdr h;
        assert_int_equal(log__batch_header(rl_slice_make(p + at, len - at), false, &h, NULL), 0);
        if (i == nth) {
            *pos = at;
            *off = h.base;
            break;
        }
        at += h.size;
    }
    free(p);
}

static void flip(const char *path, uint64_t at, uint8_t mask)
{
    size_t len;
    uint8_t *p = tu_read_file(path, &len);
    assert_true(at < len);
    p[at] ^= mask;
    tu_write_file(path, p, len);
    free(p);
}

/* Base offset of segment i (i < 0: counted from the end, -1 the last). */
static int64_t seg_base(const built *b, int i)
{
    DIR *d = opendir(b->pdir);
    int64_t v[64];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strlen(de->d_name) == 24 && strcmp(de->d_name + 20, ".log") == 0)
            v[n++] = strtoll(de->d_name, NULL, 10);
    closedir(d);
    for (int x = 0; x < n; x++)
        for (int y = x + 1; y < n; y++)
            if (v[y] < v[x]) {
                int64_t t = v[x];
                v[x] = v[y];
                v[y] = t;
            }
    if (i < 0)
        i += n;
    assert_true(i >= 0 && i < n);
    return v[i];
}

static void test_check_clean(void **state)
{
    (void)state;
    built b;
    build(&b);
    lines l;
    assert_int_equal(run_check(b.dir, false, &l), 0);
    assert_int_equal(l.n, 0);
    built_free(&b);
}

static void test_check_reports_every_damage(void **state)
{
    (void)state;
    built b;
    build(&b);
    int64_t s1 = seg_base(&b, 1), s0 = seg_base(&b, 0);
    char p1[PATH_MAX], i0[PATH_MAX];
    log__segment_path(p1, sizeof p1, b.pdir, s1, ".log");
    log__segment_path(i0, sizeof i0, b.pdir, s0, ".index");
    uint64_t pa, pb;
    int64_t oa, ob;
    nth_batch(&b, s1, 2, &pa, &oa);
    nth_batch(&b, s1, 5, &pb, &ob);
    flip(p1, pa + 200, 0x10); /* body: CRC mismatch */
    flip(p1, pb + 22, 0x04);  /* header attributes: CRC mismatch (attributes are covered) */
    flip(i0, 5, 0x01);        /* an index entry's position */
    lines l;
    assert_int_equal(run_check(b.dir, false, &l), 3);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s: byte %llu (offset %lld", p1, (unsigned long long)pa,
             (long long)oa);
    assert_non_null(strstr(l.text, want));
    snprintf(want, sizeof want, "%s: byte %llu (offset %lld", p1, (unsigned long long)pb,
             (long long)ob);
    assert_non_null(strstr(l.text, want));
    assert_non_null(strstr(l.text, "CRC32C mismatch"));
    assert_non_null(strstr(l.text, ".index/.timeindex missing, stale or damaged"));
    /* Checking changes nothing. */
    assert_int_equal(run_check(b.dir, false, &l), 3);

    /* A damaged length field hides the rest of the segment: one finding for it. */
    uint64_t pc;
    int64_t oc;
    nth_batch(&b, s1, 7, &pc, &oc);
    flip(p1, pc + 9, 0x40);
    assert_int_equal(run_check(b.dir, false, &l), 4);
    assert_non_null(strstr(l.text, "cannot be read"));
    built_free(&b);
}

static void test_check_repair(void **state)
{
    (void)state;
    built b;
    build(&b);
    int64_t s1 = seg_base(&b, 1);
    char p1[PATH_MAX];
    log__segment_path(p1, sizeof p1, b.pdir, s1, ".log");
    uint64_t pa;
    int64_t oa;
    nth_batch(&b, s1, 3, &pa, &oa);
    flip(p1, pa + 100, 0x80);
    /* The store serves sealed segments without reading every CRC, but a damaged committed
     * batch in the last segment refuses the open: make one there too. */
    int64_t slast = seg_base(&b, -1);
    char pl[PATH_MAX];
    log__segment_path(pl, sizeof pl, b.pdir, slast, ".log");
    uint64_t pz;
    int64_t oz;
    nth_batch(&b, slast, 1, &pz, &oz);
    flip(pl, pz + 100, 0x80);
    log_store_t *st = NULL;
    rl_err err = {0, ""};
    tu_capture cap;
    tu_capture_begin(&cap);
    int orc = log_store_open(&st, b.dir, &b.o, &err);
    free(tu_capture_end(&cap));
    assert_int_equal(orc, RL_ECORRUPT);

    lines l;
    int found = run_check(b.dir, true, &l);
    assert_true(found >= 2);
    char want[PATH_MAX + 128];
    snprintf(want, sizeof want, "repair: %s: cutting at byte %llu: offsets %lld..%lld will be lost",
             p1, (unsigned long long)pa, (long long)oa, (long long)b.model.n - 1);
    assert_non_null(strstr(l.text, want));
    assert_non_null(strstr(l.text, "removed"));
    assert_non_null(strstr(l.text, "end offset lowered"));
    /* What "will be lost" is printed before the repair lines that do it. */
    assert_true(strstr(l.text, "CRC32C mismatch") < strstr(l.text, "repair:"));

    assert_int_equal(run_check(b.dir, false, &l), 0);
    st = tu_open(b.dir, &b.o);
    assert_int_equal(tu_hwm(st, "t"), oa);
    tu_recs got = {0};
    tu_read_partition(st, "t", 0, 1 << 20, &got);
    tu_truncate_recs(&b.model, (size_t)oa);
    tu_assert_same(&got, &b.model);
    tu_recs_free(&got);
    rl_buf blob = RL_BUF_INIT;
    assert_int_equal(log_store_checkpoint(st, &blob), 0);
    assert_int_equal(blob.len, 2); /* the source position is kept */
    rl_buf_free(&blob);
    /* Appending goes on from the cut. */
    tu_append(st, "t", rl_slice_str("k"), rl_slice_str("after"), 1);
    tu_commit(st, "ck2");
    assert_int_equal(tu_hwm(st, "t"), oa + 1);
    log_store_close(st);
    built_free(&b);
}

static void test_check_busy(void **state)
{
    (void)state;
    built b;
    build(&b);
    log_store_t *st = tu_open(b.dir, &b.o);
    lines l;
    memset(&l, 0, sizeof l);
    rl_err err = {0, ""};
    assert_int_equal(log_check(b.dir, false, collect, &l, &err), -EBUSY);
    log_store_close(st);
    /* A damaged checkpoint is reported, not repaired. */
    char ck[PATH_MAX];
    snprintf(ck, sizeof ck, "%s/checkpoint", b.dir);
    flip(ck, 12, 0x01);
    flip(ck, 4096 + 12, 0x01); /* both slots */
    assert_int_equal(log_check(b.dir, true, collect, &l, &err), RL_ECORRUPT);
    assert_non_null(strstr(l.text, "CRC32C mismatch"));
    built_free(&b);
}

/* A batch whose CRC matches but whose records do not decode (rewritten with a fresh CRC):
 * the open refuses it in the committed part of the last segment, and the checker reports it. */
static void test_valid_crc_bad_records(void **state)
{
    (void)state;
    built b;
    build(&b);
    int64_t slast = seg_base(&b, -1);
    char pl[PATH_MAX];
    log__segment_path(pl, sizeof pl, b.pdir, slast, ".log");
    uint64_t pz;
    int64_t oz;
    nth_batch(&b, slast, 2, &pz, &oz);
    size_t len;
    uint8_t *p = tu_read_file(pl, &len);
    log_batch_hdr h;
    assert_int_equal(log__batch_header(rl_slice_make(p + pz, len - pz), false, &h, NULL), 0);
    for (size_t i = LOG_BATCH_HEADER + 20; i < LOG_BATCH_HEADER + 60; i++)
        p[pz + i] = 0xff; /* garbage in the lz4 frame */
    uint32_t crc = rl_crc32c(0, p + pz + LOG_BATCH_CRC_FROM, h.size - LOG_BATCH_CRC_FROM);
    for (int i = 0; i < 4; i++)
        p[pz + 17 + (size_t)i] = (uint8_t)(crc >> (24 - 8 * i));
    tu_write_file(pl, p, len);
    free(p);
    log_store_t *st = NULL;
    rl_err err = {0, ""};
    tu_capture cap;
    tu_capture_begin(&cap);
    int rc = log_store_open(&st, b.dir, &b.o, &err);
    free(tu_capture_end(&cap));
    assert_int_equal(rc, RL_ECORRUPT);
    assert_non_null(strstr(err.msg, "records do not decode"));
    char want[64];
    snprintf(want, sizeof want, "byte %llu", (unsigned long long)pz);
    assert_non_null(strstr(err.msg, want));
    lines l;
    assert_int_equal(run_check(b.dir, false, &l), 1);
    assert_non_null(strstr(l.text, "records do not decode"));
    built_free(&b);
}

/* The CLI front end: exit statuses and argument handling. */
static void test_check_cli(void **state)
{
    (void)state;
    built b;
    build(&b);
    char cmd[] = "log", check[] = "check", repair[] = "--repair", bogus[] = "--bogus";
    char *ok[] = {cmd, check, b.dir, NULL};
    assert_int_equal(rl_tool_log_check(3, ok), 0);
    char *usage1[] = {cmd, NULL};
    assert_int_equal(rl_tool_log_check(1, usage1), 2);
    char *usage2[] = {cmd, check, bogus, b.dir, NULL};
    assert_int_equal(rl_tool_log_check(4, usage2), 2);
    int64_t s1 = seg_base(&b, 1);
    char p1[PATH_MAX];
    log__segment_path(p1, sizeof p1, b.pdir, s1, ".log");
    uint64_t pa;
    int64_t oa;
    nth_batch(&b, s1, 1, &pa, &oa);
    flip(p1, pa + 70, 0x02);
    assert_int_equal(rl_tool_log_check(3, ok), 1);
    char *rep[] = {cmd, check, repair, b.dir, NULL};
    assert_int_equal(rl_tool_log_check(4, rep), 1);
    assert_int_equal(rl_tool_log_check(3, ok), 0);
    built_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_clean),  cmocka_unit_test(test_check_reports_every_damage),
        cmocka_unit_test(test_check_repair), cmocka_unit_test(test_check_busy),
        cmocka_unit_test(test_check_cli),    cmocka_unit_test(test_valid_crc_bad_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
