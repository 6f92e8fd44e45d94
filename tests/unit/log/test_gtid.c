/* GTID index (log/gtid.c): parsing, and random workloads of transactions over several
 * partitions and GTID sources checked against a model of the index, across reopen, abort,
 * a crash (process exit without close), a torn sidecar, retention, compaction and a damaged
 * sealed sidecar. The seed is printed (RL_TEST_SEED repeats a run). */
#include "log_test_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

#define NPARTS 4
#define NSRC 4
#define TOPIC "db.shop.orders"

/* ------------------------------------------------------------------ parsing */

static void expect_parse(const char *text, const char *src, uint64_t seq)
{
    log_gtid g;
    rl_err err = {0, ""};
    int rc = log__gtid_parse(text, &g, &err);
    if (rc != 0)
        fail_msg("%s: %s", text, err.msg);
    assert_int_equal(g.srclen, strlen(src));
    assert_memory_equal(g.src, src, g.srclen);
    assert_true(g.seq == seq);
}

static void expect_bad(const char *text)
{
    log_gtid g;
    rl_err err = {0, ""};
    int rc = log__gtid_parse(text, &g, &err);
    if (rc != RL_ECONFIG)
        fail_msg("\"%s\" parsed (rc %d)", text, rc);
    assert_non_null(strstr(err.msg, "bad GTID"));
}

static void test_parse(void **state)
{
    (void)state;
    expect_parse("0-1-42", "0", 42);
    expect_parse("4294967295-4294967295-18446744073709551615", "4294967295", UINT64_MAX);
    expect_parse("00012-3-0", "12", 0);
    expect_parse("3E11FA47-71CA-11E1-9E33-C80AA9429562:23", "3e11fa47-71ca-11e1-9e33-c80aa9429562",
                 23);
    expect_parse("3e11fa47-71ca-11e1-9e33-c80aa9429562:Tag_1:9223372036854775807",
                 "3e11fa47-71ca-11e1-9e33-c80aa9429562:tag_1", INT64_MAX);
    expect_parse("12345678-1234-1234-1234-123456789abc:_:1",
                 "12345678-1234-1234-1234-123456789abc:_", 1);
    expect_bad("");
    expect_bad("0-1");
    expect_bad("0-1-");
    expect_bad("-0-1-2");
    expect_bad("0-1-2-3");
    expect_bad("0-1-x");
    expect_bad("4294967296-1-1");
    expect_bad("0-1-18446744073709551616");
    expect_bad(" 0-1-2");
    expect_bad("3e11fa47-71ca-11e1-9e33-c80aa9429562");
    expect_bad("3e11fa47-71ca-11e1-9e33-c80aa9429562:");
    expect_bad("3e11fa47-71ca-11e1-9e33-c80aa9429562:0");
    expect_bad("3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5");
    expect_bad("3e11fa47-71ca-11e1-9e33-c80aa9429562:9223372036854775808");
    expect_bad("3e11fa47-71ca-11e1-9e33-c80aa942956:5");
    expect_bad("3e11fa4771ca11e19e33c80aa9429562:5");
    expect_bad("3g11fa47-71ca-11e1-9e33-c80aa9429562:5");
    expect_bad("3e11fa47-71ca-11e1-9e33-c80aa9429562:1tag:5");
    expect_bad("3e11fa47-71ca-11e1-9e33-c80aa9429562:tag:");
    expect_bad("3e11fa47-71ca-11e1-9e33-c80aa9429562:t-g:5");
    expect_bad("3e11fa47-71ca-11e1-9e33-c80aa9429562:abcdefghijklmnopqrstuvwxyz0123456:5");
}

/* ------------------------------------------------------------------ model */

typedef struct ment {
    int src;
    uint64_t seq;
    int64_t off;
} ment;

typedef struct model {
    ment *e[NPARTS]; /* committed entries, in offset order */
    size_t n[NPARTS], cap[NPARTS];
    size_t ncommitted[NPARTS];
    int64_t next[NPARTS]; /* next offset a record gets */
    int64_t txn_from[NPARTS];
    uint64_t seq[NSRC]; /* last sequence number used per source */
} model;

static const char *const uuids[] = {"3E11FA47-71CA-11E1-9E33-C80AA9429562",
                                    "8b5c9d2e-1f3a-4b6c-9d8e-7f6a5b4c3d2e"};

/* The GTID text of (src, seq); `server` varies the MariaDB server id (ignored by lookups). */
static void gtid_text(char *out, size_t cap, int src, uint64_t seq, int server)
{
    switch (src) {
    case 0:
        snprintf(out, cap, "0-%d-%llu", server, (unsigned long long)seq);
        break;
    case 1:
        snprintf(out, cap, "7-%d-%llu", server + 100, (unsigned long long)seq);
        break;
    case 2:
        snprintf(out, cap, "%s:%llu",
                 server % 2 ? uuids[0] : "3e11fa47-71ca-11e1-9e33-c80aa9429562",
                 (unsigned long long)seq);
        break;
    default:
        snprintf(out, cap, "%s:%s:%llu", uuids[1], server % 2 ? "Batch" : "batch",
                 (unsigned long long)seq);
        break;
    }
}

static void m_push(model *m, int part, int src, uint64_t seq, int64_t off)
{
    if (m->n[part] == m->cap[part]) {
        m->cap[part] = m->cap[part] ? m->cap[part] * 2 : 256;
        m->e[part] = realloc(m->e[part], m->cap[part] * sizeof(ment));
        assert_non_null(m->e[part]);
    }
    m->e[part][m->n[part]++] = (ment){src, seq, off};
}

static void m_commit(model *m)
{
    for (int k = 0; k < NPARTS; k++) {
        m->ncommitted[k] = m->n[k];
        m->txn_from[k] = m->next[k];
    }
}

/* What log_store_offset_for_gtid must answer (log.h) given the partition's log start and
 * high watermark: over the committed entries of src at or above the log start. */
static int64_t m_lookup(const model *m, int part, int src, uint64_t seq, int64_t log_start,
                        int64_t hwm)
{
    bool any = false;
    uint64_t mn = UINT64_MAX, mx = 0;
    int64_t best = INT64_MAX;
    for (size_t i = 0; i < m->ncommitted[part]; i++) {
        const ment *e = &m->e[part][i];
        if (e->src != src || e->off < log_start)
            continue;
        any = true;
        if (e->seq < mn)
            mn = e->seq;
        if (e->seq > mx)
            mx = e->seq;
        if (e->seq >= seq && e->off < best)
            best = e->off;
    }
    if (!any || mx < seq)
        return hwm;
    if (seq < mn)
        return log_start;
    return best;
}

typedef struct ctx {
    char *dir;
    log_store_opts opts;
    log_store_t *st;
    model m;
    uint64_t rnd;
    size_t value_len;
    uint32_t nkeys; /* distinct keys (compaction tests use few) */
    bool faulty;    /* write errors are expected: the first one sets failed */
    bool failed;
} ctx;

static void c_open(ctx *c)
{
    c->st = tu_open(c->dir, &c->opts);
}

/* Appends one transaction of 1..6 records (some with no GTID) and ends it. */
static void one_txn(ctx *c)
{
    model *m = &c->m;
    int src = (int)(tu_rnd(&c->rnd) % NSRC);
    bool no_gtid = tu_rnd(&c->rnd) % 20 == 0;
    uint64_t seq = m->seq[src] + 1 + tu_rnd(&c->rnd) % 3;
    int nrec = 1 + (int)(tu_rnd(&c->rnd) % 6);
    static uint8_t val[4096];
    bool got[NPARTS] = {false};
    for (int r = 0; r < nrec; r++) {
        char key[32];
        int kl = snprintf(key, sizeof key, "k%u", (unsigned)(tu_rnd(&c->rnd) % c->nkeys));
        uint32_t part = rl_partition_for_key(key, (size_t)kl, NPARTS);
        memset(val, 'a' + r, c->value_len);
        rl_err aerr = {0, ""};
        if (log_store_append(c->st, rl_slice_str(TOPIC), rl_slice_make(key, (size_t)kl),
                             rl_slice_make(val, c->value_len), 1000 + (int64_t)m->next[part],
                             &aerr) != 0) {
            if (!c->faulty)
                fail_msg("append: %s", aerr.msg);
            c->failed = true;
            return;
        }
        got[part] = true;
        m->next[part]++;
    }
    char g[128] = "";
    if (!no_gtid) {
        m->seq[src] = seq;
        gtid_text(g, sizeof g, src, seq, (int)(tu_rnd(&c->rnd) % 5));
        for (int k = 0; k < NPARTS; k++)
            if (got[k])
                m_push(m, k, src, seq, m->txn_from[k]);
    }
    for (int k = 0; k < NPARTS; k++)
        if (got[k])
            m->txn_from[k] = m->next[k];
    rl_err err = {0, ""};
    int rc = log_store_txn_end(c->st, no_gtid && tu_rnd(&c->rnd) % 2 ? NULL : g, &err);
    if (rc != 0 && !c->faulty)
        fail_msg("txn_end(%s): %s", g, err.msg);
    if (rc != 0)
        c->failed = true;
}

static void c_commit(ctx *c)
{
    rl_err err = {0, ""};
    if (log_store_commit(c->st, rl_slice_str("pos"), &err) != 0) {
        if (!c->faulty)
            fail_msg("commit: %s", err.msg);
        c->failed = true;
        return;
    }
    m_commit(&c->m);
}

static void c_abort(ctx *c)
{
    rl_err err = {0, ""};
    if (log_store_abort(c->st, &err) != 0)
        fail_msg("abort: %s", err.msg);
    for (int k = 0; k < NPARTS; k++) {
        c->m.n[k] = c->m.ncommitted[k];
        int64_t ls, hwm;
        assert_int_equal(log_store_offsets(c->st, TOPIC, (uint32_t)k, &ls, &hwm), 0);
        c->m.next[k] = hwm;
        c->m.txn_from[k] = hwm;
    }
}

/* Checks every partition's high watermark and many lookups against the model. `exact` false:
 * the answer may be earlier than the model's (a damaged sidecar), never later, never below the
 * log start. */
static void c_check(ctx *c, bool exact)
{
    if (log_store_partitions(c->st, TOPIC) == RL_ENOTFOUND) {
        int64_t off;
        assert_int_equal(log_store_offset_for_gtid(c->st, TOPIC, 0, "0-1-1", &off, NULL),
                         RL_ENOTFOUND);
        return;
    }
    for (int k = 0; k < NPARTS; k++) {
        int64_t ls, hwm;
        assert_int_equal(log_store_offsets(c->st, TOPIC, (uint32_t)k, &ls, &hwm), 0);
        assert_int_equal(hwm, c->m.next[k]);
        for (int src = 0; src < NSRC; src++) {
            uint64_t top = c->m.seq[src] + 3;
            for (int i = 0; i < 40; i++) {
                uint64_t seq = i < 3 ? (uint64_t)i : tu_rnd(&c->rnd) % (top + 1);
                if (src >= 2 && seq == 0)
                    seq = 1; /* MySQL N starts at 1 */
                char g[128];
                gtid_text(g, sizeof g, src, seq, 1 + i % 3);
                int64_t got = -1;
                rl_err err = {0, ""};
                int rc = log_store_offset_for_gtid(c->st, TOPIC, (uint32_t)k, g, &got, &err);
                if (rc != 0)
                    fail_msg("lookup %s: %s", g, err.msg);
                int64_t want = m_lookup(&c->m, k, src, seq, ls, hwm);
                if (exact ? got != want : (got > want || got < ls))
                    fail_msg("partition %d, %s: got offset %lld, model says %lld (log start %lld, "
                             "hwm %lld)",
                             k, g, (long long)got, (long long)want, (long long)ls, (long long)hwm);
            }
        }
    }
}

static void c_init(ctx *c, size_t value_len, uint32_t nkeys)
{
    memset(c, 0, sizeof *c);
    c->dir = tu_tmpdir();
    c->opts.partitions = NPARTS;
    c->opts.segment_bytes = 1u << 20;
    c->opts.batch_bytes = 4096; /* batches written mid-transaction */
    c->opts.compression = LOG_COMPRESSION_NONE;
    c->rnd = tu_seed();
    c->value_len = value_len;
    c->nkeys = nkeys;
    c_open(c);
}

static void c_free(ctx *c)
{
    log_store_close(c->st);
    tu_rm_rf(c->dir);
    free(c->dir);
    for (int k = 0; k < NPARTS; k++)
        free(c->m.e[k]);
}

/* Files ending with ext over the topic's partition directories. */
static size_t count_files(const char *dir, const char *ext)
{
    size_t n = 0;
    for (int k = 0; k < NPARTS; k++) {
        char pdir[PATH_MAX];
        snprintf(pdir, sizeof pdir, "%s/%s-%d", dir, TOPIC, k);
        n += (size_t)tu_count_files(pdir, ext);
    }
    return n;
}

/* ------------------------------------------------------------------ tests */

static void test_random_reopen_abort(void **state)
{
    (void)state;
    ctx c;
    c_init(&c, 900, 1000);
    c_check(&c, true); /* no topic yet */
    for (int round = 0; round < 12; round++) {
        int ntx = 100 + (int)(tu_rnd(&c.rnd) % 300);
        for (int t = 0; t < ntx; t++) {
            one_txn(&c);
            if (tu_rnd(&c.rnd) % 8 == 0)
                c_commit(&c);
        }
        if (round % 3 == 1) {
            c_abort(&c);
        } else {
            c_commit(&c);
        }
        c_check(&c, true);
        if (round % 4 == 3) {
            log_store_close(c.st);
            c_open(&c);
            c_check(&c, true);
        }
    }
    assert_true(count_files(c.dir, ".log") > NPARTS); /* rolls happened */
    assert_true(count_files(c.dir, ".gtidindex") > NPARTS);
    c_free(&c);
}

/* Uncommitted transactions whose batches and entries reached the files, then a close
 * without commit (the next open cuts back to the checkpoint), then a torn sidecar tail. */
static void test_cut_back_at_open(void **state)
{
    (void)state;
    ctx c;
    c_init(&c, 900, 1000);
    for (int t = 0; t < 400; t++) {
        one_txn(&c);
        if (t % 50 == 49)
            c_commit(&c);
    }
    c_commit(&c);
    /* Written (batch_bytes is small, the segments roll), never committed. */
    for (int t = 0; t < 1500; t++)
        one_txn(&c);
    log_store_close(c.st);
    for (int k = 0; k < NPARTS; k++) {
        c.m.n[k] = c.m.ncommitted[k];
    }
    c_open(&c);
    for (int k = 0; k < NPARTS; k++) {
        int64_t ls, hwm;
        assert_int_equal(log_store_offsets(c.st, TOPIC, (uint32_t)k, &ls, &hwm), 0);
        c.m.next[k] = c.m.txn_from[k] = hwm;
    }
    c_check(&c, true);
    /* Garbage after the last entry of every partition's last sidecar: a torn write. */
    log_store_close(c.st);
    for (int k = 0; k < NPARTS; k++) {
        char pdir[PATH_MAX], path[PATH_MAX];
        snprintf(pdir, sizeof pdir, "%s/%s-%d", c.dir, TOPIC, k);
        int64_t last = tu_last_base(pdir);
        assert_int_equal(log__segment_path(path, sizeof path, pdir, last, ".gtidindex"), 0);
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        assert_true(fd >= 0);
        static const uint8_t junk[] = {1, 1, '0', 0, 0, 0, 0, 0, 0, 0, 9};
        assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
        close(fd);
    }
    tu_capture cap;
    tu_capture_begin(&cap);
    c_open(&c);
    char *out = tu_capture_end(&cap);
    assert_non_null(strstr(out, "truncating the GTID index"));
    free(out);
    c_check(&c, true);
    /* And it goes on: new transactions after the cut. */
    for (int t = 0; t < 300; t++)
        one_txn(&c);
    c_commit(&c);
    c_check(&c, true);
    log_store_close(c.st);
    rl_buf lines = RL_BUF_INIT;
    rl_err err = {0, ""};
    if (log_check(c.dir, false, tu_collect, &lines, &err) != 0)
        fail_msg("log check: %s", rl_buf_cstr(&lines));
    rl_buf_free(&lines);
    c_open(&c);
    c_check(&c, true);
    c_free(&c);
}

/* A process that dies without closing the store (as with SIGKILL after its last commit):
 * its committed entries are found, its later ones are not. */
static void test_crash(void **state)
{
    (void)state;
    ctx c;
    c_init(&c, 800, 1000);
    log_store_close(c.st);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        c_open(&c);
        for (int t = 0; t < 1200; t++) {
            one_txn(&c);
            if (t % 97 == 96)
                c_commit(&c);
        }
        /* The committed model, then die with uncommitted entries written. */
        for (int k = 0; k < NPARTS; k++) {
            size_t n = c.m.ncommitted[k];
            if (write(pfd[1], &n, sizeof n) != (ssize_t)sizeof n ||
                (n && write(pfd[1], c.m.e[k], n * sizeof(ment)) != (ssize_t)(n * sizeof(ment))))
                _exit(2);
        }
        if (write(pfd[1], c.m.seq, sizeof c.m.seq) != (ssize_t)sizeof c.m.seq)
            _exit(2);
        _exit(0);
    }
    close(pfd[1]);
    FILE *f = fdopen(pfd[0], "rb");
    for (int k = 0; k < NPARTS; k++) {
        size_t n;
        assert_int_equal(fread(&n, sizeof n, 1, f), 1);
        c.m.e[k] = malloc((n ? n : 1) * sizeof(ment));
        assert_int_equal(fread(c.m.e[k], sizeof(ment), n, f), n);
        c.m.n[k] = c.m.ncommitted[k] = c.m.cap[k] = n;
        if (n == 0) {
            c.m.cap[k] = 1;
        }
    }
    assert_int_equal(fread(c.m.seq, sizeof c.m.seq, 1, f), 1);
    fclose(f);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    c_open(&c);
    for (int k = 0; k < NPARTS; k++) {
        int64_t ls, hwm;
        assert_int_equal(log_store_offsets(c.st, TOPIC, (uint32_t)k, &ls, &hwm), 0);
        c.m.next[k] = c.m.txn_from[k] = hwm;
    }
    c_check(&c, true);
    c_free(&c);
}

/* ------------------------------------------------------------------ power loss */

/* Byte position of the first entry of a sidecar image whose offset is >= end (the entries a
 * power loss may take: only the ones below the checkpoint's end were made durable by its
 * commit), or len when there is none. Entries as gtid.c lays them out: version, source length
 * L, source, seq (8), offset (8, big-endian), CRC (4). */
static size_t first_uncommitted(const uint8_t *p, size_t len, int64_t end)
{
    size_t at = 0;
    while (at + 2 <= len && p[at] == 1) {
        size_t l = p[at + 1];
        if (at + 22 + l > len)
            break;
        int64_t off = 0;
        for (int i = 0; i < 8; i++)
            off = off << 8 | p[at + 2 + l + 8 + (size_t)i];
        if (off >= end)
            return at;
        at += 22 + l;
    }
    return at;
}

/* A power loss after a commit, on top of what a SIGKILL leaves: the bytes of every
 * partition's last sidecar that the commit did not make durable (entries at or after the
 * checkpoint's end, and the zero-filled tail) are cut at each byte of the first entries and
 * at random points, zeroed (writeback never happened), zeroed in a hole with later bytes kept
 * (out-of-order writeback) or overwritten with garbage; the last segment's uncommitted tail is
 * cut too. After recovery every committed transaction's GTID maps to its first offset (the
 * model), nothing points past the log end (log check is clean), and appends go on. */
static void test_power_loss(void **state)
{
    (void)state;
    ctx c;
    c_init(&c, 700, 1000);
    for (int t = 0; t < 500; t++) {
        one_txn(&c);
        if (t % 60 == 59)
            c_commit(&c);
    }
    c_commit(&c);
    int64_t commit_end[NPARTS];
    for (int k = 0; k < NPARTS; k++)
        commit_end[k] = c.m.next[k];
    /* Written (batches of 4 KiB and their entries reach the files), never committed. */
    for (int t = 0; t < 40; t++)
        one_txn(&c);
    /* The files as a SIGKILL now would leave them. */
    char *crashed = tu_tmpdir();
    tu_copy_store(c.dir, crashed);
    uint64_t scommitted[NPARTS], swritten[NPARTS], gcommitted[NPARTS];
    for (int k = 0; k < NPARTS; k++) {
        log_partition *p = tu_part(c.st, TOPIC, (uint32_t)k);
        log_segment *seg = p->segs[p->nsegs - 1];
        scommitted[k] = atomic_load(&seg->committed);
        swritten[k] = seg->size;
        gcommitted[k] = atomic_load(&seg->gcommitted);
    }
    for (int k = 0; k < NPARTS; k++)
        c.m.n[k] = c.m.ncommitted[k];
    log_store_close(c.st);
    for (int k = 0; k < NPARTS; k++)
        c.m.next[k] = c.m.txn_from[k] = commit_end[k];
    /* Per partition, the sidecar and segment that the loss may cut. */
    char gpath[NPARTS][PATH_MAX], spath[NPARTS][PATH_MAX];
    size_t gfrom[NPARTS], glen[NPARTS];
    for (int k = 0; k < NPARTS; k++) {
        char pdir[PATH_MAX];
        char cpdir[PATH_MAX], cgpath[PATH_MAX];
        snprintf(cpdir, sizeof cpdir, "%s/%s-%d", crashed, TOPIC, k);
        snprintf(pdir, sizeof pdir, "%s/%s-%d", c.dir, TOPIC, k);
        int64_t base = tu_last_base(cpdir);
        /* Damage goes to the copy in c.dir, made afresh from `crashed` for each trial. */
        assert_int_equal(log__segment_path(cgpath, PATH_MAX, cpdir, base, ".gtidindex"), 0);
        assert_int_equal(log__segment_path(gpath[k], PATH_MAX, pdir, base, ".gtidindex"), 0);
        assert_int_equal(log__segment_path(spath[k], PATH_MAX, pdir, base, ".log"), 0);
        uint8_t *g = tu_read_file(cgpath, &glen[k]);
        gfrom[k] = first_uncommitted(g, glen[k], commit_end[k]);
        free(g);
        /* The commit boundary in the file is the one the store published. */
        assert_int_equal(gfrom[k], gcommitted[k]);
        assert_true(swritten[k] > scommitted[k]); /* uncommitted batches were written */
    }
    int trials = 0;
    for (int mode = 0; mode < 4; mode++) {
        for (int i = 0; i < 60; i++) {
            tu_rm_rf(c.dir);
            tu_copy_store(crashed, c.dir);
            for (int k = 0; k < NPARTS; k++) {
                size_t room = glen[k] - gfrom[k];
                size_t x = gfrom[k] + (i < 40 ? (size_t)i : (size_t)(tu_rnd(&c.rnd) % (room + 1)));
                if (x > glen[k])
                    x = glen[k];
                size_t n;
                uint8_t *g = tu_read_file(gpath[k], &n);
                assert_int_equal(n, glen[k]);
                if (mode == 0) {
                    n = x; /* cut */
                } else if (mode == 1) {
                    memset(g + x, 0, n - x); /* never written back */
                } else if (mode == 2) {
                    size_t hole = 1 + tu_rnd(&c.rnd) % 64;
                    memset(g + x, 0, hole < n - x ? hole : n - x); /* a later page made it */
                } else {
                    for (size_t b = x; b < n && b < x + 40; b++)
                        g[b] = (uint8_t)tu_rnd(&c.rnd);
                }
                tu_write_file(gpath[k], g, n);
                free(g);
                /* The last segment: its uncommitted bytes cut at a random point, sometimes. */
                if (tu_rnd(&c.rnd) % 2) {
                    size_t sn;
                    uint8_t *sp = tu_read_file(spath[k], &sn);
                    size_t cut = (size_t)scommitted[k] +
                                 (size_t)(tu_rnd(&c.rnd) % (swritten[k] - scommitted[k] + 1));
                    tu_write_file(spath[k], sp, cut);
                    free(sp);
                }
            }
            tu_capture cap;
            tu_capture_begin(&cap);
            c.st = tu_open(c.dir, &c.opts);
            free(tu_capture_end(&cap));
            c_check(&c, true);
            log_store_close(c.st);
            rl_buf lines = RL_BUF_INIT;
            rl_err err = {0, ""};
            if (log_check(c.dir, false, tu_collect, &lines, &err) != 0)
                fail_msg("mode %d, trial %d: log check: %s", mode, i, rl_buf_cstr(&lines));
            rl_buf_free(&lines);
            trials++;
        }
    }
    /* And the log goes on from the last of them. */
    c_open(&c);
    for (int t = 0; t < 200; t++)
        one_txn(&c);
    c_commit(&c);
    c_check(&c, true);
    log_store_close(c.st);
    c_open(&c);
    c_check(&c, true);
    print_message("%d simulated power losses\n", trials);
    tu_rm_rf(crashed);
    free(crashed);
    c_free(&c);
}

/* The sidecar of the active segment is zero-filled ahead (gtid.c "Durability") and the
 * zeros are its clean end: a reopen after a SIGKILL-like exit finds every committed entry
 * and logs no damage; a roll and a close trim the zeros. */
static void test_zero_tail(void **state)
{
    (void)state;
    ctx c;
    c_init(&c, 300, 1000);
    for (int t = 0; t < 50; t++)
        one_txn(&c);
    c_commit(&c);
    char pdir[PATH_MAX], path[PATH_MAX];
    snprintf(pdir, sizeof pdir, "%s/%s-%d", c.dir, TOPIC, 0);
    assert_int_equal(log__segment_path(path, sizeof path, pdir, 0, ".gtidindex"), 0);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    log_partition *p = tu_part(c.st, TOPIC, 0);
    uint64_t written = p->segs[p->nsegs - 1]->gsize;
    assert_true(written > 0);
    if (p->segs[p->nsegs - 1]->grange) {
        /* ext4/xfs: zero-filled ahead in 64 KiB steps. */
        assert_true((uint64_t)sb.st_size > written);
        assert_int_equal(sb.st_size % (64 << 10), 0);
    }
    /* A copy as a crash leaves it: reopening it logs nothing about the GTID index. */
    char *copy = tu_tmpdir();
    tu_copy_store(c.dir, copy);
    log_store_close(c.st);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal((uint64_t)sb.st_size, written); /* trimmed by close */
    char *orig = c.dir;
    c.dir = copy;
    tu_capture cap;
    tu_capture_begin(&cap);
    c_open(&c);
    char *out = tu_capture_end(&cap);
    assert_null(strstr(out, "gtidindex"));
    free(out);
    c_check(&c, true);
    for (int t = 0; t < 50; t++)
        one_txn(&c);
    c_commit(&c);
    c_check(&c, true);
    log_store_close(c.st);
    rl_buf lines = RL_BUF_INIT;
    rl_err err = {0, ""};
    if (log_check(c.dir, false, tu_collect, &lines, &err) != 0)
        fail_msg("log check: %s", rl_buf_cstr(&lines));
    rl_buf_free(&lines);
    c_open(&c);
    c_check(&c, true);
    tu_rm_rf(orig);
    free(orig);
    c_free(&c);
}

static int fail_range_write(void *calls, int fd, uint64_t at, uint64_t n)
{
    (void)fd;
    (void)at;
    (void)n;
    (*(int *)calls)++;
    errno = EIO;
    return -1;
}

/* The commit's write-out of the GTID index fails (EIO): the commit fails naming the file, the
 * store is poisoned (not retried as if it had worked), and a reopen has exactly the entries
 * of the last good commit. */
static void test_range_write_error(void **state)
{
    (void)state;
    ctx c;
    c_init(&c, 300, 1000);
    for (int t = 0; t < 50; t++)
        one_txn(&c);
    c_commit(&c);
    log_partition *p = tu_part(c.st, TOPIC, 0);
    if (!p->segs[p->nsegs - 1]->grange) {
        print_message("(not ext4/xfs: the GTID index is fdatasynced; nothing to test)\n");
        c_free(&c);
        return;
    }
    int calls = 0;
    c.st->io.range_write = fail_range_write;
    c.st->io.ctx = &calls;
    for (int t = 0; t < 20; t++)
        one_txn(&c);
    rl_err err = {0, ""};
    assert_true(log_store_commit(c.st, rl_slice_str("pos"), &err) < 0);
    assert_int_equal(calls, 1);
    assert_non_null(strstr(err.msg, ".gtidindex"));
    assert_int_equal(err.code, -EIO);
    assert_true(log_store_commit(c.st, rl_slice_str("pos"), &err) < 0);
    assert_int_equal(calls, 1); /* poisoned: no second attempt */
    log_store_close(c.st);
    for (int k = 0; k < NPARTS; k++)
        c.m.n[k] = c.m.ncommitted[k];
    tu_capture cap;
    tu_capture_begin(&cap);
    c_open(&c);
    free(tu_capture_end(&cap));
    for (int k = 0; k < NPARTS; k++) {
        int64_t ls, hwm;
        assert_int_equal(log_store_offsets(c.st, TOPIC, (uint32_t)k, &ls, &hwm), 0);
        c.m.next[k] = c.m.txn_from[k] = hwm;
    }
    c_check(&c, true);
    c_free(&c);
}

static void test_retention(void **state)
{
    (void)state;
    ctx c;
    c_init(&c, 1000, 1000);
    log_topic_config cfg;
    log_topic_config_init(&cfg);
    cfg.retention_bytes = 2u << 20;
    rl_err err = {0, ""};
    assert_int_equal(log_store_topic_config(c.st, TOPIC, &cfg, &err), 0);
    int deleted = 0;
    for (int round = 0; round < 10; round++) {
        for (int t = 0; t < 400; t++)
            one_txn(&c);
        c_commit(&c);
        int n = log_store_retain(c.st, rl_now_ms(), &err);
        assert_true(n >= 0);
        deleted += n;
        c_check(&c, true);
    }
    assert_true(deleted > 0);
    /* Deleted segments take their sidecars along. */
    assert_true(count_files(c.dir, ".gtidindex") <= count_files(c.dir, ".log"));
    log_store_close(c.st);
    c_open(&c);
    c_check(&c, true);
    c_free(&c);
}

static void test_compaction(void **state)
{
    (void)state;
    ctx c;
    c_init(&c, 1000, 20); /* few keys: most records are superseded */
    log_topic_config cfg;
    log_topic_config_init(&cfg);
    cfg.cleanup = LOG_CLEANUP_COMPACT;
    rl_err err = {0, ""};
    assert_int_equal(log_store_topic_config(c.st, TOPIC, &cfg, &err), 0);
    for (int t = 0; t < 3000; t++) {
        one_txn(&c);
        if (t % 100 == 99)
            c_commit(&c);
    }
    c_commit(&c);
    int n = log_store_compact(c.st, rl_now_ms(), &err);
    if (n < 0)
        fail_msg("compact: %s", err.msg);
    assert_true(n > 0);
    c_check(&c, true);
    log_store_close(c.st);
    c_open(&c);
    c_check(&c, true);
    c_free(&c);
}

/* A sealed segment's sidecar damaged in the middle: the open logs it, lookups may answer
 * earlier (repeating records), never later. */
static void test_damaged_sealed(void **state)
{
    (void)state;
    ctx c;
    c_init(&c, 1000, 1000);
    for (int t = 0; t < 2500; t++) {
        one_txn(&c);
        if (t % 100 == 99)
            c_commit(&c);
    }
    c_commit(&c);
    log_store_close(c.st);
    char pdir[PATH_MAX], path[PATH_MAX];
    snprintf(pdir, sizeof pdir, "%s/%s-%d", c.dir, TOPIC, 1);
    assert_int_equal(log__segment_path(path, sizeof path, pdir, 0, ".gtidindex"), 0);
    size_t len;
    uint8_t *b = tu_read_file(path, &len);
    assert_non_null(b);
    assert_true(len > 200);
    b[len / 2] ^= 0x40;
    tu_write_file(path, b, len);
    free(b);
    /* The checker reports it (and nothing else). */
    rl_buf lines = RL_BUF_INIT;
    rl_err err = {0, ""};
    assert_int_equal(log_check(c.dir, false, tu_collect, &lines, &err), 1);
    assert_non_null(strstr(rl_buf_cstr(&lines), "00000000000000000000.log: .gtidindex byte"));
    rl_buf_free(&lines);
    tu_capture cap;
    tu_capture_begin(&cap);
    c_open(&c);
    char *out = tu_capture_end(&cap);
    assert_non_null(strstr(out, "GTID lookups reaching this segment start from offset"));
    free(out);
    c_check(&c, false);
    c_free(&c);
}

static void test_malformed_and_unknown(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    log_store_t *st = tu_open(dir, NULL);
    tu_append(st, "t", rl_slice_str("k"), rl_slice_str("v"), 1);
    rl_err err = {0, ""};
    assert_int_equal(log_store_txn_end(st, "0-1-x", &err), RL_ECONFIG);
    assert_non_null(strstr(err.msg, "0-1-x"));
    /* The store is still usable and the records still wait for their GTID. */
    assert_int_equal(log_store_txn_end(st, "0-1-5", &err), 0);
    tu_commit(st, "p");
    int64_t off = -1;
    assert_int_equal(log_store_offset_for_gtid(st, "t", 0, "0-1-5", &off, &err), 0);
    assert_int_equal(off, 0);
    assert_int_equal(log_store_offset_for_gtid(st, "t", 0, "0-1-6", &off, &err), 0);
    assert_int_equal(off, 1);
    assert_int_equal(log_store_offset_for_gtid(st, "t", 0, "nope", &off, &err), RL_ECONFIG);
    assert_int_equal(log_store_offset_for_gtid(st, "u", 0, "0-1-5", &off, &err), RL_ENOTFOUND);
    assert_int_equal(log_store_offset_for_gtid(st, "t", 1, "0-1-5", &off, &err), RL_ENOTFOUND);
    /* A transaction with no records in a partition records nothing there. */
    assert_int_equal(log_store_txn_end(st, "0-1-7", &err), 0);
    tu_commit(st, "q");
    assert_int_equal(log_store_offset_for_gtid(st, "t", 0, "0-1-7", &off, &err), 0);
    assert_int_equal(off, 1);
    /* Records committed without a log_store_txn_end (offsets 1, 2) belong to no later
     * transaction: 0-1-9 starts at offset 3. */
    tu_append(st, "t", rl_slice_str("k"), rl_slice_str("v"), 2);
    tu_append(st, "t", rl_slice_str("k"), rl_slice_str("v"), 3);
    tu_commit(st, "r");
    tu_append(st, "t", rl_slice_str("k"), rl_slice_str("v"), 4);
    assert_int_equal(log_store_txn_end(st, "0-1-9", &err), 0);
    tu_commit(st, "s");
    assert_int_equal(log_store_offset_for_gtid(st, "t", 0, "0-1-9", &off, &err), 0);
    assert_int_equal(off, 3);
    assert_int_equal(log_store_offset_for_gtid(st, "t", 0, "0-1-6", &off, &err), 0);
    assert_int_equal(off, 3);
    /* Older than every retained transaction of the domain: the log start. */
    assert_int_equal(log_store_offset_for_gtid(st, "t", 0, "0-1-4", &off, &err), 0);
    assert_int_equal(off, 0);
    /* Another domain with nothing in the partition: the high watermark. */
    assert_int_equal(log_store_offset_for_gtid(st, "t", 0, "1-1-1", &off, &err), 0);
    assert_int_equal(off, 4);
    log_store_close(st);
    tu_rm_rf(dir);
    free(dir);
}

/* ------------------------------------------------------------------ write errors */

typedef struct wfault {
    int64_t ok; /* pwrites that succeed before the failures start */
    int64_t calls;
    bool partial;
} wfault;

static ssize_t wfault_pwrite(void *arg, int fd, const void *p, size_t n, off_t at)
{
    wfault *f = arg;
    if (f->calls++ < f->ok)
        return pwrite(fd, p, n, at);
    if (f->partial && n > 1) {
        f->partial = false;
        return pwrite(fd, p, n / 2, at);
    }
    errno = ENOSPC;
    return -1;
}

/* A write error at a random point (batch, sidecar or checkpoint write, sometimes after a short
 * write) poisons the store; the reopened store has exactly the committed entries and goes
 * on. */
static void test_write_errors(void **state)
{
    (void)state;
    uint64_t seed = tu_seed();
    for (int trial = 0; trial < 12; trial++) {
        ctx c;
        c_init(&c, 900, 1000);
        c.rnd = seed + (uint64_t)trial * 7919;
        for (int t = 0; t < 60; t++)
            one_txn(&c);
        c_commit(&c);
        wfault f = {(int64_t)(tu_rnd(&c.rnd) % 40), 0, tu_rnd(&c.rnd) % 2 == 0};
        c.st->io.pwrite = wfault_pwrite;
        c.st->io.ctx = &f;
        c.faulty = true;
        for (int t = 0; t < 2000 && !c.failed; t++) {
            one_txn(&c);
            if (!c.failed && tu_rnd(&c.rnd) % 6 == 0)
                c_commit(&c);
        }
        assert_true(c.failed);
        /* Poisoned: every later write call fails too. */
        rl_err err = {0, ""};
        assert_true(log_store_commit(c.st, rl_slice_str("x"), &err) < 0);
        log_store_close(c.st);
        c.faulty = false;
        c.failed = false;
        for (int k = 0; k < NPARTS; k++)
            c.m.n[k] = c.m.ncommitted[k];
        c_open(&c);
        for (int k = 0; k < NPARTS; k++) {
            int64_t ls, hwm;
            assert_int_equal(log_store_offsets(c.st, TOPIC, (uint32_t)k, &ls, &hwm), 0);
            c.m.next[k] = c.m.txn_from[k] = hwm;
        }
        c_check(&c, true);
        for (int t = 0; t < 100; t++)
            one_txn(&c);
        c_commit(&c);
        c_check(&c, true);
        c_free(&c);
    }
}

/* ------------------------------------------------------------------ concurrency */

/* One writer appends transactions of one record each ("0-1-N" at offset N-1), committing
 * after random runs, aborting some, rolling segments and applying retention; readers look
 * GTIDs up meanwhile and check every answer against the high watermark and log start read
 * before and after it. */
#define CC_RECS 60000

typedef struct cc {
    log_store_t *st;
    atomic_bool done;
    atomic_int failures;
    atomic_long checks; /* lookups checked */
    char msg[256];
    uint64_t seed;
} cc;

static void cc_fail(cc *sh, const char *m, long long a, long long b, long long x)
{
    if (atomic_fetch_add(&sh->failures, 1) == 0)
        snprintf(sh->msg, sizeof sh->msg, "%s (%lld, %lld, %lld)", m, a, b, x);
}

static void *cc_writer(void *arg)
{
    cc *sh = arg;
    uint64_t s = sh->seed;
    rl_err err = {0, ""};
    char v[200], g[48];
    memset(v, 'x', sizeof v);
    int64_t i = 0;
    while (i < CC_RECS && atomic_load(&sh->failures) == 0) {
        if (log_store_append(sh->st, rl_slice_str("cg"), rl_slice_str("k"),
                             rl_slice_make(v, sizeof v), 1000 + i, &err) != 0) {
            cc_fail(sh, err.msg, i, 0, 0);
            break;
        }
        snprintf(g, sizeof g, "0-1-%lld", (long long)(i + 1));
        if (log_store_txn_end(sh->st, g, &err) != 0) {
            cc_fail(sh, err.msg, i, 0, 0);
            break;
        }
        i++;
        uint64_t r = tu_rnd(&s) % 400;
        if (r == 0) {
            if (log_store_abort(sh->st, &err) != 0) {
                cc_fail(sh, err.msg, i, 0, 0);
                break;
            }
            int64_t ls, hwm;
            log_store_offsets(sh->st, "cg", 0, &ls, &hwm);
            i = hwm; /* the source re-sends from the checkpoint */
        } else if (r < 4 || i == CC_RECS) {
            tu_commit(sh->st, "c");
            log_store_retain(sh->st, rl_now_ms(), &err);
        }
    }
    tu_commit(sh->st, "c");
    atomic_store(&sh->done, true);
    return NULL;
}

static void *cc_reader(void *arg)
{
    cc *sh = arg;
    uint64_t s = sh->seed ^ (uint64_t)(uintptr_t)&s;
    char g[48];
    while (!atomic_load(&sh->done) && atomic_load(&sh->failures) == 0) {
        int64_t ls1, h1, ls2, h2, got = -1;
        if (log_store_offsets(sh->st, "cg", 0, &ls1, &h1) != 0)
            continue; /* topic not created yet */
        int64_t seq = 1 + (int64_t)(tu_rnd(&s) % (uint64_t)(h1 + 50));
        snprintf(g, sizeof g, "0-2-%lld", (long long)seq);
        rl_err err = {0, ""};
        if (log_store_offset_for_gtid(sh->st, "cg", 0, g, &got, &err) != 0) {
            cc_fail(sh, err.msg, seq, 0, 0);
            break;
        }
        log_store_offsets(sh->st, "cg", 0, &ls2, &h2);
        int64_t exact = seq - 1; /* the offset of transaction seq */
        bool ok;
        if (exact >= h2)
            ok = got >= h1 && got <= h2; /* not committed yet: the high watermark */
        else if (exact < ls1)
            ok = got >= ls1 && got <= ls2; /* older than everything retained */
        else if (exact >= h1)
            ok = got == exact || (got >= h1 && got <= h2);
        else
            ok = got == exact || (exact < ls2 && got >= ls1 && got <= ls2);
        if (!ok) {
            cc_fail(sh, "lookup answer out of bounds: seq, got, hwm", seq, got, h2);
            break;
        }
        atomic_fetch_add(&sh->checks, 1);
    }
    return NULL;
}

static void test_concurrent_lookups(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    log_topic_config cfg;
    log_topic_config_init(&cfg);
    cfg.retention_bytes = 3u << 20;
    log_store_opts o = {.segment_bytes = 1u << 20,
                        .batch_bytes = 8192,
                        .compression = LOG_COMPRESSION_NONE,
                        .topic_defaults = &cfg};
    cc sh;
    memset(&sh, 0, sizeof sh);
    sh.st = tu_open(dir, &o);
    sh.seed = tu_seed();
    pthread_t w, r[2];
    pthread_create(&w, NULL, cc_writer, &sh);
    for (int i = 0; i < 2; i++)
        pthread_create(&r[i], NULL, cc_reader, &sh);
    pthread_join(w, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(r[i], NULL);
    if (atomic_load(&sh.failures))
        fail_msg("%s", sh.msg);
    print_message("%ld lookups checked while the writer ran\n", (long)atomic_load(&sh.checks));
    assert_true(atomic_load(&sh.checks) > 100);
    int64_t ls, hwm, got;
    assert_int_equal(log_store_offsets(sh.st, "cg", 0, &ls, &hwm), 0);
    assert_true(ls > 0); /* retention ran under the readers */
    for (int64_t seq = 1; seq <= hwm + 2; seq += 97) {
        char g[48];
        snprintf(g, sizeof g, "0-1-%lld", (long long)seq);
        assert_int_equal(log_store_offset_for_gtid(sh.st, "cg", 0, g, &got, NULL), 0);
        int64_t want = seq - 1 < ls ? ls : seq - 1 >= hwm ? hwm : seq - 1;
        assert_int_equal(got, want);
    }
    log_store_close(sh.st);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_malformed_and_unknown),
        cmocka_unit_test(test_random_reopen_abort),
        cmocka_unit_test(test_cut_back_at_open),
        cmocka_unit_test(test_crash),
        cmocka_unit_test(test_power_loss),
        cmocka_unit_test(test_zero_tail),
        cmocka_unit_test(test_range_write_error),
        cmocka_unit_test(test_retention),
        cmocka_unit_test(test_compaction),
        cmocka_unit_test(test_damaged_sealed),
        cmocka_unit_test(test_concurrent_lookups),
        cmocka_unit_test(test_write_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
