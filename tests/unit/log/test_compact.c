/* Unit tests for log compaction (log/compact.c): random puts and deletes over 10,000 keys
 * checked against a model (latest value per live key, in offset order, no tombstone older
 * than delete.retention.ms), batches still tiling the offsets, reads, time lookups and
 * recovery of compacted segments, readers racing a pass, and leftovers of an interrupted
 * pass. */
#include <pthread.h>
#include <time.h>

#include "log_test_util.h"

#define NKEYS 10000

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

typedef struct gap_ctx {
    tu_recs *out;
    int64_t last; /* last offset seen */
    int64_t hwm;
} gap_ctx;

static int gap_cb(void *vctx, const log_record *rec)
{
    gap_ctx *c = vctx;
    if (rec->offset <= c->last)
        return 0; /* the first batch may start before the fetch offset */
    if (rec->offset >= c->hwm)
        fail_msg("record at %lld at or above the high watermark", (long long)rec->offset);
    tu_push(c->out, rec->offset, rec->timestamp, rec->key, rec->value);
    c->last = rec->offset;
    return 0;
}

/* Reads a whole partition that may have gaps, checking that batches tile the offsets (each
 * starts right after the previous one's last offset). */
static void read_gaps(log_store_t *st, const char *topic, size_t max_bytes, tu_recs *out)
{
    int64_t ls, hwm;
    assert_int_equal(log_store_offsets(st, topic, 0, &ls, &hwm), 0);
    rl_buf scratch = RL_BUF_INIT;
    gap_ctx c = {out, ls - 1, hwm};
    int64_t next = ls;
    while (next < hwm) {
        log_read rd;
        rl_err err = {0, ""};
        if (log_store_read(st, topic, 0, next, max_bytes, &rd, &err) != 0)
            fail_msg("read %s @%lld: %s", topic, (long long)next, err.msg);
        assert_true(rd.bytes.len > 0);
        size_t pos = 0;
        while (pos < rd.bytes.len) {
            log_batch_hdr h;
            rl_slice rest = rl_slice_make(rd.bytes.p + pos, rd.bytes.len - pos);
            assert_int_equal(log__batch_header(rest, true, &h, NULL), 0);
            if (pos == 0)
                assert_true(h.base <= next && next <= log_batch_last(&h));
            else if (h.base != next)
                fail_msg("batch at %lld after one ending at %lld", (long long)h.base,
                         (long long)next - 1);
            int n = log_batch_decode(rest, &scratch, 64u << 20, gap_cb, &c, &err);
            if (n <= 0)
                fail_msg("decode: %s", err.msg);
            pos += (size_t)n;
            next = log_batch_last(&h) + 1;
        }
        log_read_release(&rd);
    }
    assert_int_equal(next, hwm);
    rl_buf_free(&scratch);
}

typedef struct op {
    int key;
    bool del;
    int64_t ts;
    uint32_t vseed;
} op;

static size_t value_of(char *buf, int key, uint32_t vseed)
{
    size_t len = 60 + vseed % 80;
    int n = snprintf(buf, len + 1, "{\"id\":%d,\"v\":%u,\"pad\":\"", key, vseed);
    for (size_t o = (size_t)n; o < len; o++)
        buf[o] = (char)('a' + (vseed + o) % 26);
    return len;
}

static size_t key_of(char *buf, int key)
{
    return (size_t)snprintf(buf, 32, "{\"id\":%d}", key);
}

typedef struct fixture {
    char *dir;
    log_store_opts o;
    log_store_t *st;
    op *ops;
    int64_t nops;
    int64_t t0;
} fixture;

/* Appends nops random puts and deletes (timestamps t0 + i), committing every 100, then rolls
 * the segment (segment_ms) with one record of another key so that all of them are sealed. */
static void workload(fixture *f, int codec, int64_t nops, uint64_t *seed)
{
    f->dir = tu_tmpdir();
    memset(&f->o, 0, sizeof f->o);
    f->o.compression = codec;
    f->o.segment_bytes = 1u << 20;
    f->o.batch_bytes = 16384;
    f->o.segment_ms = 300;
    f->st = tu_open(f->dir, &f->o);
    log_topic_config cfg;
    log_topic_config_init(&cfg);
    cfg.cleanup = LOG_CLEANUP_COMPACT;
    cfg.delete_retention_ms = 100000;
    rl_err err = {0, ""};
    assert_int_equal(log_store_topic_config(f->st, "c", &cfg, &err), 0);
    f->nops = nops;
    f->ops = malloc(sizeof *f->ops * (size_t)(nops + 1));
    f->t0 = rl_now_ms() - 200000;
    char k[32], v[200];
    for (int64_t i = 0; i < nops; i++) {
        op *o = &f->ops[i];
        o->key = (int)(tu_rnd(seed) % NKEYS);
        o->del = tu_rnd(seed) % 5 == 0;
        o->ts = f->t0 + i * (200000 / nops); /* the first half older than the window */
        o->vseed = (uint32_t)tu_rnd(seed);
        rl_slice ks = rl_slice_make(k, key_of(k, o->key));
        rl_slice vs =
            o->del ? rl_slice_make(NULL, 0) : rl_slice_make(v, value_of(v, o->key, o->vseed));
        tu_append(f->st, "c", ks, vs, o->ts);
        if (i % 100 == 99)
            tu_commit(f->st, "w");
    }
    tu_commit(f->st, "w");
    sleep_ms(350);
    f->ops[nops] = (op){NKEYS + 1, false, rl_now_ms(), 7};
    tu_append(f->st, "c", rl_slice_make(k, key_of(k, NKEYS + 1)),
              rl_slice_make(v, value_of(v, NKEYS + 1, 7)), f->ops[nops].ts);
    tu_commit(f->st, "s");
    log_partition *p = tu_part(f->st, "c", 0);
    assert_true(p->nsegs >= 2);
    assert_int_equal(p->segs[p->nsegs - 1]->base, nops); /* everything before is sealed */
}

/* What a full compaction at now_ms must leave: per key its latest record, unless that is a
 * tombstone older than the window; in offset order. Plus the last (sentinel) record. */
static void expected(const fixture *f, int64_t now_ms, int64_t window, tu_recs *want)
{
    int64_t *latest = malloc(sizeof *latest * NKEYS);
    for (int i = 0; i < NKEYS; i++)
        latest[i] = -1;
    for (int64_t i = 0; i < f->nops; i++)
        latest[f->ops[i].key] = i;
    char k[32], v[200];
    for (int64_t i = 0; i <= f->nops; i++) {
        const op *o = &f->ops[i];
        if (i < f->nops && latest[o->key] != i)
            continue;
        if (o->del && now_ms - o->ts > window)
            continue;
        tu_push(want, i, o->ts, rl_slice_make(k, key_of(k, o->key)),
                o->del ? rl_slice_make(NULL, 0) : rl_slice_make(v, value_of(v, o->key, o->vseed)));
    }
    free(latest);
}

static void fixture_free(fixture *f)
{
    log_store_close(f->st);
    tu_rm_rf(f->dir);
    free(f->dir);
    free(f->ops);
}

static void check_lookups(log_store_t *st, int64_t hwm, uint64_t *seed)
{
    for (int i = 0; i < 300; i++) {
        int64_t off = (int64_t)(tu_rnd(seed) % (uint64_t)hwm);
        log_read rd;
        rl_err err = {0, ""};
        assert_int_equal(log_store_read(st, "c", 0, off, 1, &rd, &err), 0);
        log_batch_hdr h;
        assert_int_equal(log__batch_header(rd.bytes, true, &h, NULL), 0);
        if (!(h.base <= off && off <= log_batch_last(&h)))
            fail_msg("offset %lld in batch [%lld, %lld]", (long long)off, (long long)h.base,
                     (long long)log_batch_last(&h));
        log_read_release(&rd);
    }
}

static void compact_against_model(int codec, uint64_t *seed)
{
    fixture f;
    workload(&f, codec, 60000, seed);
    int64_t now = f.t0 + 200000;
    log_partition *p = tu_part(f.st, "c", 0);
    uint64_t before = 0;
    for (size_t i = 0; i < p->nsegs; i++)
        before += p->segs[i]->size;
    size_t nsegs = p->nsegs;
    rl_err err = {0, ""};
    int n = log_store_compact(f.st, now, &err);
    if (n < 0)
        fail_msg("compact: %s", err.msg);
    assert_int_equal(n, (int)nsegs - 1); /* every sealed segment had something to drop */
    log_store_stats ss;
    log_store_stats_get(f.st, &ss);
    assert_int_equal(ss.segments_compacted, (uint64_t)n);
    assert_int_equal(log_store_compact(f.st, now, &err), 0); /* nothing new */
    assert_int_equal(p->nsegs, nsegs);
    uint64_t after = 0;
    for (size_t i = 0; i < p->nsegs; i++)
        after += p->segs[i]->size;
    assert_true(after < before);
    tu_recs want = {0}, got = {0};
    expected(&f, now, 100000, &want);
    assert_true(want.n < (size_t)f.nops / 4);
    read_gaps(f.st, "c", 100000, &got);
    tu_assert_same(&got, &want);
    tu_recs_free(&got);
    int64_t hwm = tu_hwm(f.st, "c");
    assert_int_equal(hwm, f.nops + 1);
    check_lookups(f.st, hwm, seed);
    /* Time lookups land on a surviving record (or the next one after a gap). */
    for (int i = 0; i < 50; i++) {
        size_t w = (size_t)(tu_rnd(seed) % want.n);
        int64_t off;
        assert_int_equal(log_store_offset_for_time(f.st, "c", 0, want.r[w].ts, &off), 0);
        assert_int_equal(off, want.r[w].offset);
    }
    /* New appends, then a reopen: compacted segments load (indexes rebuilt or read). */
    char files[PATH_MAX];
    snprintf(files, sizeof files, "%s/c-0", f.dir);
    log_store_close(f.st);
    f.st = tu_open(f.dir, &f.o);
    read_gaps(f.st, "c", 3000, &got);
    tu_assert_same(&got, &want);
    tu_recs_free(&got);
    check_lookups(f.st, hwm, seed);
    tu_recs_free(&want);
    fixture_free(&f);
}

static void test_compact_model(void **state)
{
    (void)state;
    uint64_t seed = tu_seed();
    compact_against_model(LOG_COMPRESSION_LZ4, &seed);
    compact_against_model(LOG_COMPRESSION_NONE, &seed);
}

/* A second pass after more data: records superseded by the new segments go too. */
static void test_compact_incremental(void **state)
{
    (void)state;
    uint64_t seed = tu_seed();
    fixture f;
    workload(&f, LOG_COMPRESSION_ZSTD, 20000, &seed);
    rl_err err = {0, ""};
    int64_t now = f.t0 + 200000;
    assert_true(log_store_compact(f.st, now, &err) > 0);
    /* Overwrite every key once more (offsets after the sentinel), seal, compact again. */
    f.ops = realloc(f.ops, sizeof *f.ops * (size_t)(f.nops + 1 + NKEYS + 1));
    char k[32], v[200];
    int64_t at = f.nops + 1;
    for (int key = 0; key < NKEYS; key++, at++) {
        f.ops[at] = (op){key, false, now - 10, (uint32_t)tu_rnd(&seed)};
        tu_append(f.st, "c", rl_slice_make(k, key_of(k, key)),
                  rl_slice_make(v, value_of(v, key, f.ops[at].vseed)), f.ops[at].ts);
    }
    tu_commit(f.st, "x");
    sleep_ms(350);
    f.ops[at] = (op){NKEYS + 2, false, now, 9};
    tu_append(f.st, "c", rl_slice_make(k, key_of(k, NKEYS + 2)),
              rl_slice_make(v, value_of(v, NKEYS + 2, 9)), now);
    tu_commit(f.st, "y");
    assert_true(log_store_compact(f.st, now, &err) > 0);
    tu_recs got = {0};
    read_gaps(f.st, "c", 1 << 20, &got);
    /* Left: the old sentinel (its key never repeats), the NKEYS new values, the new one. */
    assert_int_equal(got.n, NKEYS + 2);
    assert_int_equal(got.r[0].offset, f.nops);
    for (size_t i = 1; i < got.n; i++)
        assert_int_equal(got.r[i].offset, f.nops + (int64_t)i);
    tu_recs_free(&got);
    fixture_free(&f);
}

/* Readers keep reading (and holding slices of old segments) while a pass swaps segments. */
typedef struct race {
    log_store_t *st;
    atomic_bool stop;
    atomic_int errors;
    int64_t hwm;
} race;

static void *race_reader(void *arg)
{
    race *r = arg;
    rl_buf scratch = RL_BUF_INIT;
    uint64_t s = 88172645463325252ull ^ (uint64_t)(uintptr_t)&s;
    while (!atomic_load(&r->stop)) {
        int64_t off = (int64_t)(tu_rnd(&s) % (uint64_t)r->hwm);
        log_read rd;
        if (log_store_read(r->st, "c", 0, off, 65536, &rd, NULL) != 0) {
            atomic_fetch_add(&r->errors, 1);
            continue;
        }
        size_t pos = 0;
        while (pos < rd.bytes.len) {
            int n = log_batch_decode(rl_slice_make(rd.bytes.p + pos, rd.bytes.len - pos), &scratch,
                                     64u << 20, NULL, NULL, NULL);
            if (n <= 0) {
                atomic_fetch_add(&r->errors, 1);
                break;
            }
            pos += (size_t)n;
        }
        log_read_release(&rd);
    }
    rl_buf_free(&scratch);
    return NULL;
}

static void test_compact_while_reading(void **state)
{
    (void)state;
    uint64_t seed = tu_seed();
    fixture f;
    workload(&f, LOG_COMPRESSION_LZ4, 40000, &seed);
    race r = {.st = f.st, .hwm = tu_hwm(f.st, "c")};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, race_reader, &r);
    rl_err err = {0, ""};
    int n = log_store_compact(f.st, f.t0 + 200000, &err);
    atomic_store(&r.stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    if (n <= 0)
        fail_msg("compact: %d %s", n, err.msg);
    assert_int_equal(atomic_load(&r.errors), 0);
    tu_recs want = {0}, got = {0};
    expected(&f, f.t0 + 200000, 100000, &want);
    read_gaps(f.st, "c", 100000, &got);
    tu_assert_same(&got, &want);
    tu_recs_free(&got);
    tu_recs_free(&want);
    fixture_free(&f);
}

/* A pass interrupted before its rename leaves a .tmp file, deleted at open; one interrupted
 * after the rename leaves a segment without index files, rebuilt at open. */
static void test_compact_interrupted(void **state)
{
    (void)state;
    uint64_t seed = tu_seed();
    fixture f;
    workload(&f, LOG_COMPRESSION_NONE, 20000, &seed);
    rl_err err = {0, ""};
    assert_true(log_store_compact(f.st, f.t0 + 200000, &err) > 0);
    tu_recs before = {0};
    read_gaps(f.st, "c", 1 << 20, &before);
    log_partition *p = tu_part(f.st, "c", 0);
    char tmp[PATH_MAX], idx[PATH_MAX], tidx[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", p->segs[0]->path);
    char pdir[PATH_MAX];
    snprintf(pdir, sizeof pdir, "%s", p->dir);
    log__segment_path(idx, sizeof idx, pdir, p->segs[1]->base, ".index");
    log__segment_path(tidx, sizeof tidx, pdir, p->segs[1]->base, ".timeindex");
    log_store_close(f.st);
    tu_write_file(tmp, "partial", 7);
    unlink(idx);
    unlink(tidx);
    tu_capture cap;
    tu_capture_begin(&cap);
    f.st = tu_open(f.dir, &f.o);
    char *logged = tu_capture_end(&cap);
    assert_non_null(strstr(logged, "rebuilt .index"));
    free(logged);
    struct stat sb;
    assert_int_not_equal(stat(tmp, &sb), 0);
    assert_int_equal(stat(idx, &sb), 0);
    tu_recs got = {0};
    read_gaps(f.st, "c", 1 << 20, &got);
    tu_assert_same(&got, &before);
    tu_recs_free(&got);
    tu_recs_free(&before);
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compact_model),
        cmocka_unit_test(test_compact_incremental),
        cmocka_unit_test(test_compact_while_reading),
        cmocka_unit_test(test_compact_interrupted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
