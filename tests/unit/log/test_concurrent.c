/* Concurrency test for the log store: one writer thread appends and commits 100,000 records
 * (segments roll underneath, 1 MiB each) while reader threads read everything up to the high
 * watermark in a loop, checking that offsets are contiguous, values intact, nothing at or
 * above the high watermark the read reported is returned, and the high watermark never goes
 * back. Also looks up offsets by time and random offsets while the writer runs. Run again
 * with retention deleting segments under the readers (pinned reads stay valid; a reader below
 * the log start gets RL_ERANGE and restarts from it). */
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "log_test_util.h"

#define NRECS 100000
#define NREADERS 2

typedef struct shared {
    log_store_t *st;
    atomic_bool writer_done;
    atomic_int failures;
    char fail_msg[512];
    uint64_t seed;
    bool retain; /* the writer applies retention after each commit */
} shared;

static size_t value_for(char *buf, int64_t i)
{
    size_t len = 40 + (size_t)(i % 200);
    int n = snprintf(buf, len + 1, "rec-%lld:", (long long)i);
    for (size_t o = (size_t)n; o < len; o++)
        buf[o] = (char)('A' + (i + (int64_t)o) % 23);
    return len;
}

static void report(shared *sh, const char *fmt, ...)
{
    if (atomic_fetch_add(&sh->failures, 1) == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(sh->fail_msg, sizeof sh->fail_msg, fmt, ap);
        va_end(ap);
    }
}

static void *writer(void *arg)
{
    shared *sh = arg;
    char v[300];
    rl_err err = {0, ""};
    uint64_t s = sh->seed;
    for (int64_t i = 0; i < NRECS; i++) {
        size_t vl = value_for(v, i);
        if (log_store_append(sh->st, rl_slice_str("cc"), rl_slice_str("k"), rl_slice_make(v, vl),
                             1000000 + i, &err) != 0) {
            report(sh, "append %lld: %s", (long long)i, err.msg);
            break;
        }
        /* Commit after a random run of 1..200 records. */
        if (tu_rnd(&s) % 100 == 0 || i == NRECS - 1) {
            char ck[32];
            snprintf(ck, sizeof ck, "%lld", (long long)i);
            if (log_store_commit(sh->st, rl_slice_str(ck), &err) != 0) {
                report(sh, "commit: %s", err.msg);
                break;
            }
            if (sh->retain && log_store_retain(sh->st, rl_now_ms(), &err) < 0) {
                report(sh, "retain: %s", err.msg);
                break;
            }
        }
    }
    atomic_store(&sh->writer_done, true);
    return NULL;
}

typedef struct rctx {
    shared *sh;
    int64_t expect;
    int64_t hwm;
    char v[300];
} rctx;

static int check_rec(void *vctx, const log_record *rec)
{
    rctx *c = vctx;
    if (rec->offset < c->expect)
        return 0;
    if (rec->offset != c->expect) {
        report(c->sh, "offset %lld, expected %lld", (long long)rec->offset, (long long)c->expect);
        return RL_ECORRUPT;
    }
    if (rec->offset >= c->hwm) {
        report(c->sh, "offset %lld at or above the high watermark %lld", (long long)rec->offset,
               (long long)c->hwm);
        return RL_ECORRUPT;
    }
    size_t vl = value_for(c->v, rec->offset);
    if (rec->value.len != vl || memcmp(rec->value.p, c->v, vl) != 0 ||
        rec->timestamp != 1000000 + rec->offset) {
        report(c->sh, "record %lld differs", (long long)rec->offset);
        return RL_ECORRUPT;
    }
    c->expect++;
    return 0;
}

static void *reader(void *arg)
{
    shared *sh = arg;
    rctx c;
    c.sh = sh;
    c.expect = 0;
    rl_buf scratch = RL_BUF_INIT;
    int64_t last_hwm = 0;
    uint64_t s = sh->seed ^ (uint64_t)(uintptr_t)&c;
    long loops = 0;
    while (atomic_load(&sh->failures) == 0) {
        if (c.expect >= NRECS)
            break;
        loops++;
        log_read rd;
        rl_err err = {0, ""};
        size_t max = 1 + (size_t)(tu_rnd(&s) % 200000);
        int rc = log_store_read(sh->st, "cc", 0, c.expect, max, &rd, &err);
        if (rc == RL_ENOTFOUND) { /* the topic does not exist yet */
            sched_yield();
            continue;
        }
        if (rc == RL_ERANGE && sh->retain && c.expect < rd.log_start) {
            c.expect = rd.log_start; /* fell below the log start: restart from it */
            continue;
        }
        if (rc != 0) {
            report(sh, "read at %lld: %s", (long long)c.expect, err.msg);
            break;
        }
        if (rd.high_watermark < last_hwm) {
            report(sh, "high watermark went back from %lld to %lld", (long long)last_hwm,
                   (long long)rd.high_watermark);
            break;
        }
        last_hwm = rd.high_watermark;
        c.hwm = rd.high_watermark;
        size_t pos = 0;
        while (pos < rd.bytes.len) {
            int n = log_batch_decode(rl_slice_make(rd.bytes.p + pos, rd.bytes.len - pos), &scratch,
                                     16u << 20, check_rec, &c, &err);
            if (n <= 0) {
                if (atomic_load(&sh->failures) == 0)
                    report(sh, "decode at %lld: %s", (long long)c.expect, err.msg);
                log_read_release(&rd);
                goto out;
            }
            pos += (size_t)n;
        }
        bool empty = rd.bytes.len == 0;
        log_read_release(&rd);
        if (empty)
            sched_yield();
        /* Now and then: a random committed offset and a time lookup. */
        if (loops % 16 == 0 && last_hwm > 0) {
            int64_t off = (int64_t)(tu_rnd(&s) % (uint64_t)last_hwm);
            rc = log_store_read(sh->st, "cc", 0, off, 1, &rd, &err);
            if (rc == RL_ERANGE && sh->retain && off < rd.log_start)
                continue;
            log_batch_hdr h;
            if (rc != 0 || log__batch_header(rd.bytes, true, &h, NULL) != 0 || h.base > off ||
                log_batch_last(&h) < off) {
                report(sh, "random read at %lld failed (%d)", (long long)off, rc);
                log_read_release(&rd);
                break;
            }
            log_read_release(&rd);
            int64_t found;
            rc = log_store_offset_for_time(sh->st, "cc", 0, 1000000 + off, &found);
            /* Timestamps are 1000000 + offset, so the answer is off itself. */
            int64_t ls = 0, hw;
            if (rc == 0 && found != off && sh->retain)
                log_store_offsets(sh->st, "cc", 0, &ls, &hw);
            /* Below the log start the answer is a later offset, at most the new start. */
            if (rc != 0 || (found != off && !(sh->retain && found > off && found <= ls))) {
                report(sh, "offset for time %lld: %lld (rc %d)", (long long)(1000000 + off),
                       (long long)found, rc);
                break;
            }
        }
    }
out:
    rl_buf_free(&scratch);
    return NULL;
}

static void run(bool retain)
{
    char *dir = tu_tmpdir();
    shared sh;
    memset(&sh, 0, sizeof sh);
    sh.seed = tu_seed();
    sh.retain = retain;
    log_store_opts o = {.compression = retain ? LOG_COMPRESSION_NONE : LOG_COMPRESSION_LZ4,
                        .compression_level = 0,
                        .partitions = 1,
                        .segment_bytes = 1u << 20,
                        .batch_bytes = 8192};
    rl_err err = {0, ""};
    if (log_store_open(&sh.st, dir, &o, &err) != 0)
        fail_msg("open: %s", err.msg);
    if (retain) {
        log_topic_config cfg;
        log_topic_config_init(&cfg);
        cfg.retention_bytes = 1u << 20;
        assert_int_equal(log_store_topic_config(sh.st, "cc", &cfg, &err), 0);
    }
    pthread_t w, r[NREADERS];
    for (int i = 0; i < NREADERS; i++)
        pthread_create(&r[i], NULL, reader, &sh);
    pthread_create(&w, NULL, writer, &sh);
    pthread_join(w, NULL);
    for (int i = 0; i < NREADERS; i++)
        pthread_join(r[i], NULL);
    if (atomic_load(&sh.failures))
        fail_msg("%s", sh.fail_msg);
    int64_t ls, hwm;
    assert_int_equal(log_store_offsets(sh.st, "cc", 0, &ls, &hwm), 0);
    assert_int_equal(hwm, NRECS);
    if (retain)
        assert_true(ls > 0); /* segments deleted under readers */
    else
        assert_true(sh.st->topics[0]->parts[0]->nsegs >= 2); /* segments rolled under readers */
    log_store_close(sh.st);
    tu_rm_rf(dir);
    free(dir);
}

static void test_concurrent_append_read(void **state)
{
    (void)state;
    run(false);
}

/* The same with retention deleting the oldest segments while readers hold slices of them. */
static void test_concurrent_retention(void **state)
{
    (void)state;
    run(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_append_read),
        cmocka_unit_test(test_concurrent_retention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
