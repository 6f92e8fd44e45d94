/* Unit tests for the log store's policies: flush (commit / interval / os), segment roll by
 * age, retention by size and time with pinned reads, per-topic configuration. Each test uses
 * its own temporary directory. */
#include <time.h>

#include "log_test_util.h"

static void count_hook(void *ctx)
{
    (*(int *)ctx)++;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void expect_ckpt(log_store_t *st, const char *want)
{
    rl_buf blob = RL_BUF_INIT;
    if (!want) {
        assert_int_equal(log_store_checkpoint(st, &blob), RL_ENOTFOUND);
    } else {
        assert_int_equal(log_store_checkpoint(st, &blob), 0);
        assert_int_equal(blob.len, strlen(want));
        assert_memory_equal(blob.p, want, blob.len);
    }
    rl_buf_free(&blob);
}

static void append_n(log_store_t *st, const char *topic, int n, int64_t ts)
{
    for (int i = 0; i < n; i++)
        tu_append(st, topic, rl_slice_str("k"), rl_slice_str("value"), ts + i);
}

/* Interval: commits are written but become durable and visible (checkpoint, high watermark,
 * hook) only at the interval or log_store_sync; a reopen keeps only what was synced. */
static void test_flush_interval(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    log_store_opts o = {
        .compression = LOG_COMPRESSION_LZ4, .flush = LOG_FLUSH_INTERVAL, .flush_interval_ms = 300};
    log_store_t *st = tu_open(dir, &o);
    int hooks = 0;
    log_store_set_commit_hook(st, count_hook, &hooks);
    assert_int_equal(log_store_sync_due(st), -1);
    append_n(st, "t", 10, 1000);
    tu_commit(st, "a");
    assert_int_equal(tu_hwm(st, "t"), 0); /* written, not fsynced: invisible */
    expect_ckpt(st, NULL);
    assert_int_equal(hooks, 0);
    int64_t due = log_store_sync_due(st);
    assert_true(due > 0 && due <= 300);
    append_n(st, "t", 5, 2000);
    tu_commit(st, "b"); /* still inside the interval: pending too */
    assert_int_equal(tu_hwm(st, "t"), 0);
    rl_err err = {0, ""};
    assert_int_equal(log_store_sync(st, &err), 0);
    assert_int_equal(tu_hwm(st, "t"), 15);
    expect_ckpt(st, "b");
    assert_int_equal(hooks, 1);
    assert_int_equal(log_store_sync_due(st), -1);
    assert_int_equal(log_store_sync(st, &err), 0); /* nothing pending */
    assert_int_equal(hooks, 1);

    /* A repeated commit (no appends, same checkpoint) syncs once the interval has passed. */
    append_n(st, "t", 3, 3000);
    tu_commit(st, "c");
    assert_int_equal(tu_hwm(st, "t"), 15);
    tu_commit(st, "c");
    assert_int_equal(tu_hwm(st, "t"), 15);
    sleep_ms(350);
    assert_int_equal(log_store_sync_due(st), 0);
    tu_commit(st, "c");
    assert_int_equal(tu_hwm(st, "t"), 18);
    expect_ckpt(st, "c");
    assert_int_equal(hooks, 2);

    /* A commit after the interval is durable at once. */
    sleep_ms(350);
    append_n(st, "t", 2, 4000);
    tu_commit(st, "d");
    assert_int_equal(tu_hwm(st, "t"), 20);
    expect_ckpt(st, "d");

    /* Abort drops pending commits too (the source re-reads from the durable checkpoint). */
    append_n(st, "t", 4, 5000);
    tu_commit(st, "e");
    assert_int_equal(log_store_abort(st, &err), 0);
    assert_int_equal(log_store_sync_due(st), -1);
    assert_int_equal(log_store_sync(st, &err), 0);
    assert_int_equal(tu_hwm(st, "t"), 20);
    expect_ckpt(st, "d");
    append_n(st, "t", 1, 6000);
    tu_commit(st, "f"); /* pending at close: lost, as in a crash */
    log_store_close(st);

    st = tu_open(dir, &o);
    expect_ckpt(st, "d");
    tu_recs got = {0};
    tu_read_partition(st, "t", 0, 1 << 20, &got);
    assert_int_equal(got.n, 20);
    assert_int_equal(got.r[19].ts, 4001);
    tu_recs_free(&got);
    log_store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

/* Interval: a sync with records appended after the pending commit must neither publish nor
 * checkpoint those records (an unfinished transaction, re-read after a restart), nor lose
 * them from the next commit. */
static void test_flush_interval_sync_with_appends(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    log_store_opts o = {.compression = LOG_COMPRESSION_NONE, .flush = LOG_FLUSH_INTERVAL,
                        .flush_interval_ms = 100000, .batch_bytes = 256};
    log_store_t *st = tu_open(dir, &o);
    append_n(st, "t", 10, 1000);
    tu_commit(st, "B1"); /* pending */
    append_n(st, "t", 100, 2000); /* batch_bytes is small: batches of these reach the disk */
    assert_int_equal(log_store_sync(st, NULL), 0);
    assert_true(tu_hwm(st, "t") <= 10);
    expect_ckpt(st, NULL);
    tu_commit(st, "B2");
    assert_int_equal(log_store_sync(st, NULL), 0);
    assert_int_equal(tu_hwm(st, "t"), 110);
    expect_ckpt(st, "B2");
    log_store_close(st);
    st = tu_open(dir, &o);
    assert_int_equal(tu_hwm(st, "t"), 110);
    expect_ckpt(st, "B2");

    /* An abort after such a sync drops the later appends entirely. */
    append_n(st, "t", 5, 3000);
    tu_commit(st, "B3");
    append_n(st, "t", 100, 4000);
    assert_int_equal(log_store_sync(st, NULL), 0);
    assert_int_equal(log_store_abort(st, NULL), 0);
    assert_int_equal(tu_hwm(st, "t"), 110);
    log_store_close(st);
    st = tu_open(dir, &o);
    assert_int_equal(tu_hwm(st, "t"), 110);
    expect_ckpt(st, "B2");
    log_store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

/* OS: every commit is visible at once and survives a reopen (no power loss here). */
static void test_flush_os(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    log_store_opts o = {.compression = LOG_COMPRESSION_ZSTD, .flush = LOG_FLUSH_OS};
    log_store_t *st = tu_open(dir, &o);
    append_n(st, "t", 7, 1);
    tu_commit(st, "x");
    assert_int_equal(tu_hwm(st, "t"), 7);
    expect_ckpt(st, "x");
    assert_int_equal(log_store_sync_due(st), -1);
    append_n(st, "t", 3, 100);
    tu_commit(st, "y");
    append_n(st, "t", 3, 200); /* never committed */
    log_store_close(st);
    st = tu_open(dir, &o);
    expect_ckpt(st, "y");
    assert_int_equal(tu_hwm(st, "t"), 10);
    log_store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

/* Segments roll by age at the first write after segment_ms, and not before. segment_ms is
 * well above the time between two appends even on a loaded machine (a roll between "c" and
 * "d" would need 1.5 s between them). */
static void test_segment_ms(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    log_store_opts o = {.compression = LOG_COMPRESSION_NONE, .segment_ms = 1500};
    log_store_t *st = tu_open(dir, &o);
    append_n(st, "t", 3, 1);
    tu_commit(st, "a");
    append_n(st, "t", 3, 2);
    tu_commit(st, "b");
    assert_int_equal(tu_part(st, "t", 0)->nsegs, 1);
    sleep_ms(1600);
    assert_int_equal(tu_part(st, "t", 0)->nsegs, 1); /* no write, no roll */
    append_n(st, "t", 2, 3);
    tu_commit(st, "c");
    log_partition *p = tu_part(st, "t", 0);
    assert_int_equal(p->nsegs, 2);
    assert_int_equal(p->segs[1]->base, 6);
    append_n(st, "t", 2, 4);
    tu_commit(st, "d");
    assert_int_equal(p->nsegs, 2);
    tu_recs got = {0};
    tu_read_partition(st, "t", 0, 1 << 20, &got);
    assert_int_equal(got.n, 10);
    tu_recs_free(&got);
    log_store_close(st);
    /* A recovered active segment counts its age from the open. */
    st = tu_open(dir, &o);
    append_n(st, "t", 1, 5);
    tu_commit(st, "e");
    assert_int_equal(tu_part(st, "t", 0)->nsegs, 2);
    sleep_ms(1600);
    append_n(st, "t", 1, 6);
    tu_commit(st, "f");
    assert_int_equal(tu_part(st, "t", 0)->nsegs, 3);
    tu_read_partition(st, "t", 0, 1 << 20, &got);
    assert_int_equal(got.n, 12);
    tu_recs_free(&got);
    log_store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

/* ------------------------------------------------------------------ retention */

static size_t fill_value(char *buf, size_t len, int64_t i)
{
    int n = snprintf(buf, len + 1, "value-%lld-", (long long)i);
    for (size_t o = (size_t)n; o < len; o++)
        buf[o] = (char)('a' + (i * 31 + (int64_t)o * 7) % 26);
    return len;
}

/* Appends n committed records of about 1000 bytes to "t" at timestamps ts(i), a commit every
 * 100, recording them in model. */
static void fill(log_store_t *st, tu_recs *model, int64_t from, int64_t n, int64_t ts)
{
    char v[1100];
    for (int64_t i = from; i < from + n; i++) {
        rl_slice vs = rl_slice_make(v, fill_value(v, 1000, i));
        tu_append(st, "t", rl_slice_str("k"), vs, ts + i);
        tu_push(model, i, ts + i, rl_slice_str("k"), vs);
        if (i % 100 == 99)
            tu_commit(st, "c");
    }
    tu_commit(st, "c");
}

/* The records of model from offset `from` on (a fresh copy). */
static void model_from(const tu_recs *model, int64_t from, tu_recs *out)
{
    for (size_t i = 0; i < model->n; i++)
        if (model->r[i].offset >= from)
            tu_push(out, model->r[i].offset, model->r[i].ts,
                    rl_slice_make(model->r[i].knull ? NULL : model->r[i].k, model->r[i].kl),
                    rl_slice_make(model->r[i].vnull ? NULL : model->r[i].v, model->r[i].vl));
}

static void expect_read_from_start(log_store_t *st, const tu_recs *model)
{
    tu_recs want = {0}, got = {0};
    model_from(model, tu_log_start(st, "t"), &want);
    tu_read_partition(st, "t", 0, 3000, &got); /* small fetches cross segment boundaries */
    tu_assert_same(&got, &want);
    tu_recs_free(&got);
    tu_recs_free(&want);
}

static bool file_exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Retention by size: the oldest sealed segments go while the rest holds at least
 * retention.bytes; a pinned segment stays readable after its files are deleted; a consumer
 * below the new log start gets RL_ERANGE. */
static void test_retention_bytes(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    log_store_opts o = {
        .compression = LOG_COMPRESSION_NONE, .segment_bytes = 1u << 20, .batch_bytes = 16384};
    log_store_t *st = tu_open(dir, &o);
    tu_recs model = {0};
    fill(st, &model, 0, 6000, 1000);
    log_partition *p = tu_part(st, "t", 0);
    size_t nsegs = p->nsegs;
    assert_true(nsegs >= 6);
    rl_err err = {0, ""};
    /* Nothing is deleted with the defaults. */
    assert_int_equal(log_store_retain(st, rl_now_ms(), &err), 0);

    /* A consumer holding a read of the first segment (an in-flight Fetch). */
    log_read held;
    assert_int_equal(log_store_read(st, "t", 0, 0, 1 << 20, &held, &err), 0);
    assert_non_null(held.pin);
    char first_path[PATH_MAX];
    snprintf(first_path, sizeof first_path, "%s", p->segs[0]->path);

    log_topic_config cfg;
    log_topic_config_init(&cfg);
    cfg.retention_bytes = 5u << 19; /* 2.5 MiB */
    assert_int_equal(log_store_topic_config(st, "t", &cfg, &err), 0);
    uint64_t total = 0;
    for (size_t i = 0; i < p->nsegs; i++)
        total += p->segs[i]->size;
    int deleted = log_store_retain(st, rl_now_ms(), &err);
    assert_true(deleted > 0);
    log_store_stats ss;
    log_store_stats_get(st, &ss);
    assert_int_equal(ss.segments_deleted, (uint64_t)deleted);
    assert_int_equal(ss.segments_rolled, nsegs - 1);
    assert_int_equal(p->nsegs, nsegs - (size_t)deleted);
    uint64_t left = 0;
    for (size_t i = 0; i < p->nsegs; i++)
        left += p->segs[i]->size;
    /* Kept at least the limit, and could not drop one more segment without going below. */
    assert_true(left >= (uint64_t)cfg.retention_bytes);
    assert_true(left - p->segs[0]->size < (uint64_t)cfg.retention_bytes);
    assert_true(left < total);
    int64_t start = tu_log_start(st, "t");
    assert_int_equal(start, p->segs[0]->base);
    assert_true(start > 0);
    assert_false(file_exists(first_path));
    assert_int_equal(log_store_retain(st, rl_now_ms(), &err), 0); /* stable */

    /* The held read is still valid: decode it all against the model. */
    rl_buf scratch = RL_BUF_INIT;
    tu_recs got = {0};
    tu_read_ctx c = {&got, 0, tu_hwm(st, "t")};
    size_t pos = 0;
    while (pos < held.bytes.len) {
        int n = log_batch_decode(rl_slice_make(held.bytes.p + pos, held.bytes.len - pos), &scratch,
                                 64u << 20, tu_read_cb, &c, &err);
        assert_true(n > 0);
        pos += (size_t)n;
    }
    assert_true(got.n > 0);
    for (size_t i = 0; i < got.n; i++) {
        assert_int_equal(got.r[i].offset, model.r[i].offset);
        assert_int_equal(got.r[i].vl, model.r[i].vl);
        assert_memory_equal(got.r[i].v, model.r[i].v, got.r[i].vl);
    }
    tu_recs_free(&got);
    rl_buf_free(&scratch);
    log_read_release(&held);

    /* A consumer below the log start: out of range, told where the log starts now. */
    log_read rd;
    assert_int_equal(log_store_read(st, "t", 0, start - 1, 1 << 20, &rd, &err), RL_ERANGE);
    assert_int_equal(rd.log_start, start);
    assert_null(rd.pin);
    assert_int_equal(log_store_read(st, "t", 0, start, 1, &rd, &err), 0);
    log_read_release(&rd);
    int64_t found;
    assert_int_equal(log_store_offset_for_time(st, "t", 0, 0, &found), 0);
    assert_int_equal(found, start);
    expect_read_from_start(st, &model);

    /* Reopen: the log start comes from the files, the configuration from topic.config. */
    log_store_close(st);
    st = tu_open(dir, &o);
    assert_int_equal(tu_log_start(st, "t"), start);
    log_topic_config back;
    assert_int_equal(log_store_topic_config_get(st, "t", &back), 0);
    assert_int_equal(back.retention_bytes, cfg.retention_bytes);
    assert_int_equal(back.retention_ms, -1);
    assert_int_equal(back.cleanup, LOG_CLEANUP_DELETE);
    expect_read_from_start(st, &model);
    fill(st, &model, 6000, 1500, 1000);
    assert_true(log_store_retain(st, rl_now_ms(), &err) > 0);
    assert_true(tu_log_start(st, "t") > start);
    expect_read_from_start(st, &model);
    log_store_close(st);
    tu_recs_free(&model);
    tu_rm_rf(dir);
    free(dir);
}

/* Retention by time: sealed segments whose newest record is older than retention.ms go, the
 * rest stays; the active segment is never deleted, nor one with uncommitted data. */
static void test_retention_time(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    log_store_opts o = {
        .compression = LOG_COMPRESSION_LZ4, .segment_bytes = 1u << 20, .batch_bytes = 16384};
    log_store_t *st = tu_open(dir, &o);
    const int64_t day = 86400000;
    int64_t now = rl_now_ms();
    tu_recs model = {0};
    /* Random-ish values so lz4 does not shrink them below a segment per ~1000 records. */
    char v[1100];
    uint64_t seed = 12345;
    for (int64_t i = 0; i < 5000; i++) {
        for (int j = 0; j < 1000; j++)
            v[j] = (char)tu_rnd(&seed);
        int64_t ts = i < 3000 ? now - 10 * day + i : now - 1000 + i;
        tu_append(st, "t", rl_slice_str("k"), rl_slice_make(v, 1000), ts);
        tu_push(&model, i, ts, rl_slice_str("k"), rl_slice_make(v, 1000));
        if (i % 100 == 99)
            tu_commit(st, "c");
    }
    tu_commit(st, "c");
    log_partition *p = tu_part(st, "t", 0);
    assert_true(p->nsegs >= 4);
    /* Which segments hold only records of 10 days ago (offsets < 3000)? */
    size_t old_segs = 0;
    while (old_segs + 1 < p->nsegs && p->segs[old_segs]->next <= 3000)
        old_segs++;
    assert_true(old_segs >= 1);
    log_topic_config cfg;
    log_topic_config_init(&cfg);
    cfg.retention_ms = day;
    rl_err err = {0, ""};
    assert_int_equal(log_store_topic_config(st, "t", &cfg, &err), 0);
    /* Not yet old at a time 10 days back. */
    assert_int_equal(log_store_retain(st, now - 9 * day, &err), 0);
    assert_int_equal(log_store_retain(st, now, &err), (int)old_segs);
    assert_true(p->segs[0]->base <= 3000);
    assert_true(p->segs[0]->next > 3000);
    expect_read_from_start(st, &model);

    /* Far in the future every sealed committed segment is old, but the active one stays, and
     * so do segments written since the last commit. */
    char junk[1100];
    for (int64_t i = 0; i < 2500; i++) {
        for (int j = 0; j < 1000; j++)
            junk[j] = (char)tu_rnd(&seed);
        tu_append(st, "t", rl_slice_str("k"), rl_slice_make(junk, 1000), now);
    }
    int64_t commit_base = atomic_load(&p->commit_base);
    log_store_retain(st, now + 100 * day, &err);
    assert_int_equal(p->segs[0]->base, commit_base);
    assert_int_equal(tu_log_start(st, "t"), commit_base);
    assert_int_equal(log_store_abort(st, &err), 0);
    assert_int_equal(p->nsegs, 1);
    expect_read_from_start(st, &model);
    log_store_close(st);
    st = tu_open(dir, &o);
    assert_int_equal(tu_log_start(st, "t"), commit_base);
    expect_read_from_start(st, &model);
    log_store_close(st);
    tu_recs_free(&model);
    tu_rm_rf(dir);
    free(dir);
}

/* Per-topic configuration: overrides of a topic not created yet apply at its creation;
 * store-wide defaults; bad values; a damaged topic.config refuses the open. */
static void test_topic_config(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    log_topic_config defs;
    log_topic_config_init(&defs);
    defs.retention_ms = 5000;
    log_store_opts o = {.topic_defaults = &defs};
    log_store_t *st = tu_open(dir, &o);
    log_topic_config cfg, got;
    log_topic_config_init(&cfg);
    cfg.retention_bytes = 12345;
    cfg.cleanup = LOG_CLEANUP_DELETE | LOG_CLEANUP_COMPACT;
    rl_err err = {0, ""};
    assert_int_equal(log_store_topic_config(st, "later", &cfg, &err), 0);
    assert_int_equal(log_store_topic_config_get(st, "later", &got), RL_ENOTFOUND);
    append_n(st, "later", 1, 1);
    append_n(st, "plain", 1, 1);
    tu_commit(st, "a");
    assert_int_equal(log_store_topic_config_get(st, "later", &got), 0);
    assert_int_equal(got.retention_bytes, 12345);
    assert_int_equal(got.retention_ms, -1);
    assert_int_equal(got.cleanup, LOG_CLEANUP_DELETE | LOG_CLEANUP_COMPACT);
    assert_int_equal(log_store_topic_config_get(st, "plain", &got), 0);
    assert_int_equal(got.retention_ms, 5000);
    log_topic_config bad = cfg;
    bad.retention_ms = -2;
    assert_int_equal(log_store_topic_config(st, "plain", &bad, &err), RL_ECONFIG);
    bad = cfg;
    bad.cleanup = 4;
    assert_int_equal(log_store_topic_config(st, "plain", &bad, &err), RL_ECONFIG);
    assert_int_equal(log_store_topic_config(st, "bad/name", &cfg, &err), RL_ECONFIG);
    log_store_close(st);

    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/later-0/topic.config", dir);
    size_t n;
    char *text = (char *)tu_read_file(path, &n);
    assert_non_null(text);
    text[n] = 0;
    assert_non_null(strstr(text, "retention.bytes=12345\n"));
    assert_non_null(strstr(text, "cleanup.policy=compact,delete\n"));
    free(text);
    snprintf(path, sizeof path, "%s/plain-0/topic.config", dir);
    assert_false(file_exists(path)); /* defaults are not written */

    /* Reopened without defaults: the override persists, the other topic follows opts. */
    st = tu_open(dir, NULL);
    assert_int_equal(log_store_topic_config_get(st, "later", &got), 0);
    assert_int_equal(got.retention_bytes, 12345);
    assert_int_equal(log_store_topic_config_get(st, "plain", &got), 0);
    assert_int_equal(got.retention_ms, -1);
    log_store_close(st);

    snprintf(path, sizeof path, "%s/later-0/topic.config", dir);
    const char *damaged = "retention.ms=-1\nfuture.setting=1\nretention.bytes=lots\n";
    tu_write_file(path, damaged, strlen(damaged));
    tu_capture cap;
    tu_capture_begin(&cap);
    assert_int_equal(log_store_open(&st, dir, NULL, &err), RL_ECORRUPT);
    free(tu_capture_end(&cap));
    assert_non_null(strstr(err.msg, "topic.config:3"));
    assert_non_null(strstr(err.msg, "retention.bytes"));
    log_topic_config baddef;
    log_topic_config_init(&baddef);
    baddef.retention_bytes = -5;
    log_store_opts ob = {.topic_defaults = &baddef};
    assert_int_equal(log_store_open(&st, dir, &ob, &err), RL_ECONFIG);
    tu_rm_rf(dir);
    free(dir);
}

/* Preallocation modes: blocks exist ahead of the writes; zero-filled or fallocated space
 * reads as a clean end at recovery; abort and reopen work the same. */
static void test_prealloc(void **state)
{
    (void)state;
    const int modes[] = {LOG_PREALLOC_NONE, LOG_PREALLOC_ZERO, LOG_PREALLOC_FALLOCATE};
    for (size_t m = 0; m < 3; m++) {
        char *dir = tu_tmpdir();
        log_store_opts o = {
            .compression = LOG_COMPRESSION_NONE, .segment_bytes = 32u << 20, .prealloc = modes[m]};
        log_store_t *st = tu_open(dir, &o);
        append_n(st, "t", 100, 1);
        tu_commit(st, "a");
        log_segment *seg = tu_part(st, "t", 0)->segs[0];
        struct stat sb;
        assert_int_equal(fstat(seg->fd, &sb), 0);
        if (modes[m] == LOG_PREALLOC_NONE)
            assert_true((uint64_t)sb.st_blocks * 512 < (1u << 20));
        else
            assert_true((uint64_t)sb.st_blocks * 512 >= LOG_PREALLOC_STEP);
        append_n(st, "t", 10, 2);
        rl_err err = {0, ""};
        assert_int_equal(log_store_abort(st, &err), 0);
        append_n(st, "t", 20, 3);
        tu_commit(st, "b");
        append_n(st, "t", 5, 4); /* uncommitted at close */
        log_store_close(st);
        st = tu_open(dir, &o);
        tu_recs got = {0};
        tu_read_partition(st, "t", 0, 1 << 20, &got);
        assert_int_equal(got.n, 120);
        tu_recs_free(&got);
        append_n(st, "t", 1, 5);
        tu_commit(st, "c");
        assert_int_equal(tu_hwm(st, "t"), 121);
        log_store_close(st);
        tu_rm_rf(dir);
        free(dir);
    }
    log_store_t *st = NULL;
    rl_err err = {0, ""};
    char *dir = tu_tmpdir();
    log_store_opts bad = {.prealloc = 9};
    assert_int_equal(log_store_open(&st, dir, &bad, &err), RL_ECONFIG);
    tu_rm_rf(dir);
    free(dir);
}

static void test_flush_opts(void **state)
{
    (void)state;
    assert_int_equal(log_flush_parse("commit"), LOG_FLUSH_COMMIT);
    assert_int_equal(log_flush_parse("Interval"), LOG_FLUSH_INTERVAL);
    assert_int_equal(log_flush_parse("os"), LOG_FLUSH_OS);
    assert_int_equal(log_flush_parse("never"), RL_ECONFIG);
    assert_int_equal(log_flush_parse(NULL), RL_ECONFIG);
    char *dir = tu_tmpdir();
    log_store_t *st = NULL;
    rl_err err = {0, ""};
    log_store_opts bad = {.flush = 7};
    assert_int_equal(log_store_open(&st, dir, &bad, &err), RL_ECONFIG);
    log_store_opts bad2 = {.flush = LOG_FLUSH_INTERVAL, .flush_interval_ms = 3600001};
    assert_int_equal(log_store_open(&st, dir, &bad2, &err), RL_ECONFIG);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flush_interval), cmocka_unit_test(test_flush_os),
        cmocka_unit_test(test_flush_interval_sync_with_appends),
        cmocka_unit_test(test_segment_ms),     cmocka_unit_test(test_retention_bytes),
        cmocka_unit_test(test_retention_time), cmocka_unit_test(test_topic_config),
        cmocka_unit_test(test_prealloc),       cmocka_unit_test(test_flush_opts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
