/* Crash safety: a child process appends and commits in a loop (segments rolling, batches
 * written between commits) and is killed with SIGKILL at a random moment, 60 times over the
 * same log. After each kill the log must open, hold exactly the records of the last durable
 * checkpoint (never fewer than the child had seen committed), as a prefix of what was
 * appended, offsets contiguous, every batch's CRC valid; the next child goes on from there.
 * Every TXN_RECORDS records end a transaction with GTID 0-1-N (N = 1 + first offset /
 * TXN_RECORDS), commits fall between transactions: after each kill every committed
 * transaction's GTID maps to its first offset, the next GTID to the high watermark, and the
 * GTID index holds no entry at or past the log end (log check).
 * The seed is printed (RL_TEST_SEED repeats a run). */
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "log_test_util.h"

#define TRIALS 60
#define TXN_RECORDS 3

static size_t value_for(char *buf, int64_t i)
{
    size_t len = 100 + (size_t)(i * 7 % 1900);
    int n = snprintf(buf, len + 1, "{\"seq\":%lld,\"pad\":\"", (long long)i);
    for (size_t o = (size_t)n; o < len; o++)
        buf[o] = (char)('a' + (i + (int64_t)o) % 26);
    return len;
}

static log_store_opts crash_opts(void)
{
    /* No compression and values of up to 2 KB so that segments roll during the run. */
    log_store_opts o = {
        .compression = LOG_COMPRESSION_NONE, .segment_bytes = 1u << 20, .batch_bytes = 8192};
    return o;
}

/* The child: appends from the log's end on forever, committing after random runs, and
 * reports every committed end offset on fd (8 bytes each). Never returns. */
static void child(const char *dir, int fd, uint64_t seed)
{
    log_store_opts o = crash_opts();
    log_store_t *st;
    rl_err err = {0, ""};
    if (log_store_open(&st, dir, &o, &err) != 0)
        _exit(3);
    int64_t ls, i = 0;
    if (log_store_offsets(st, "t", 0, &ls, &i) != 0)
        i = 0;
    char v[2100];
    for (;;) {
        size_t vl = value_for(v, i);
        if (log_store_append(st, rl_slice_str("t"), rl_slice_str("k"), rl_slice_make(v, vl), i,
                             &err) != 0)
            _exit(4);
        i++;
        if (i % TXN_RECORDS != 0)
            continue;
        char g[48];
        snprintf(g, sizeof g, "0-1-%lld", (long long)(i / TXN_RECORDS));
        if (log_store_txn_end(st, g, &err) != 0)
            _exit(7);
        if (tu_rnd(&seed) % 17 == 0) {
            char ck[32];
            int n = snprintf(ck, sizeof ck, "%lld", (long long)i);
            if (log_store_commit(st, rl_slice_make(ck, (size_t)n), &err) != 0)
                _exit(5);
            if (write(fd, &i, sizeof i) != (ssize_t)sizeof i)
                _exit(6);
        }
    }
}

typedef struct check_ctx {
    int64_t expect;
    char v[2100];
    int bad;
} check_ctx;

static int check_rec(void *vctx, const log_record *rec)
{
    check_ctx *c = vctx;
    if (rec->offset < c->expect)
        return 0;
    size_t vl = value_for(c->v, rec->offset);
    if (rec->offset != c->expect || rec->value.len != vl || memcmp(rec->value.p, c->v, vl) != 0 ||
        rec->timestamp != rec->offset)
        c->bad++;
    c->expect = rec->offset + 1;
    return 0;
}

static void test_sigkill(void **state)
{
    (void)state;
    uint64_t seed = tu_seed();
    char *dir = tu_tmpdir();
    int64_t last_hwm = 0;
    for (int trial = 0; trial < TRIALS; trial++) {
        int pfd[2];
        assert_int_equal(pipe(pfd), 0);
        uint64_t cseed = tu_rnd(&seed) | 1;
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(pfd[0]);
            child(dir, pfd[1], cseed);
        }
        close(pfd[1]);
        struct timespec ts = {0, (long)(5 + tu_rnd(&seed) % 60) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status))
            fail_msg("trial %d: child exited with %d", trial, WEXITSTATUS(status));
        int64_t seen = -1, x;
        while (read(pfd[0], &x, sizeof x) == (ssize_t)sizeof x)
            seen = x; /* the last commit the child saw return */
        close(pfd[0]);

        log_store_opts o = crash_opts();
        log_store_t *st;
        rl_err err = {0, ""};
        tu_capture cap;
        tu_capture_begin(&cap);
        int rc = log_store_open(&st, dir, &o, &err);
        free(tu_capture_end(&cap));
        if (rc != 0)
            fail_msg("trial %d: open after SIGKILL: %s", trial, err.msg);
        int64_t ls, hwm;
        if (log_store_offsets(st, "t", 0, &ls, &hwm) != 0)
            hwm = 0; /* killed before the topic existed */
        rl_buf blob = RL_BUF_INIT;
        int64_t ck = 0;
        if (log_store_checkpoint(st, &blob) == 0) {
            rl_buf_putc(&blob, 0);
            ck = strtoll((const char *)blob.p, NULL, 10);
        }
        rl_buf_free(&blob);
        if (hwm != ck || hwm < seen || hwm < last_hwm)
            fail_msg("trial %d: high watermark %lld, checkpoint %lld, child saw %lld, before "
                     "%lld",
                     trial, (long long)hwm, (long long)ck, (long long)seen, (long long)last_hwm);
        /* Every batch: CRC and records, contiguous, values as appended. */
        check_ctx c = {0, "", 0};
        rl_buf scratch = RL_BUF_INIT;
        while (c.expect < hwm) {
            log_read rd;
            if (log_store_read(st, "t", 0, c.expect, 1 << 20, &rd, &err) != 0)
                fail_msg("trial %d: read at %lld: %s", trial, (long long)c.expect, err.msg);
            size_t pos = 0;
            while (pos < rd.bytes.len) {
                int n = log_batch_decode(rl_slice_make(rd.bytes.p + pos, rd.bytes.len - pos),
                                         &scratch, 64u << 20, check_rec, &c, &err);
                if (n <= 0)
                    fail_msg("trial %d: decode: %s", trial, err.msg);
                pos += (size_t)n;
            }
            log_read_release(&rd);
        }
        rl_buf_free(&scratch);
        if (c.bad || c.expect != hwm)
            fail_msg("trial %d: %d bad records, read up to %lld of %lld", trial, c.bad,
                     (long long)c.expect, (long long)hwm);
        /* The GTID index: transaction N starts at offset (N - 1) * TXN_RECORDS. */
        if (hwm % TXN_RECORDS != 0)
            fail_msg("trial %d: high watermark %lld inside a transaction", trial, (long long)hwm);
        int64_t ntxn = hwm / TXN_RECORDS;
        for (int q = 0; q < 40 && ntxn > 0; q++) {
            int64_t n = q == 0 ? 1 : q == 1 ? ntxn : 1 + (int64_t)(tu_rnd(&seed) % (uint64_t)ntxn);
            char g[48];
            snprintf(g, sizeof g, "0-1-%lld", (long long)n);
            int64_t off = -1;
            if (log_store_offset_for_gtid(st, "t", 0, g, &off, &err) != 0)
                fail_msg("trial %d: lookup %s: %s", trial, g, err.msg);
            if (off != (n - 1) * TXN_RECORDS)
                fail_msg("trial %d: %s at offset %lld, expected %lld", trial, g, (long long)off,
                         (long long)((n - 1) * TXN_RECORDS));
        }
        if (hwm > 0) {
            char g[48];
            snprintf(g, sizeof g, "0-1-%lld", (long long)(ntxn + 1));
            int64_t off = -1;
            if (log_store_offset_for_gtid(st, "t", 0, g, &off, &err) != 0 || off != hwm)
                fail_msg("trial %d: uncommitted %s at %lld, not the high watermark %lld", trial, g,
                         (long long)off, (long long)hwm);
        }
        last_hwm = hwm;
        log_store_close(st);
        if (hwm > 0) {
            rl_buf lines = RL_BUF_INIT;
            if (log_check(dir, false, tu_collect, &lines, &err) != 0)
                fail_msg("trial %d: log check: %s", trial, rl_buf_cstr(&lines));
            rl_buf_free(&lines);
        }
    }
    print_message("%d kills, %lld records committed in the end\n", TRIALS, (long long)last_hwm);
    assert_true(last_hwm > 0);
    char pdir[PATH_MAX], first[PATH_MAX];
    snprintf(pdir, sizeof pdir, "%s/t-0", dir);
    log__segment_path(first, sizeof first, pdir, 0, ".index");
    struct stat sb;
    if (stat(first, &sb) != 0)
        print_message("(no segment rolled in this run)\n");
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigkill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
