/*
 * test_kafka_consumer.c - the server under real consumers while the log changes under them.
 *
 *   - A librdkafka high-level consumer (subscribe, group.id, auto commit off, rd_kafka_commit)
 *     in-process reads a compacted topic while a writer thread appends with 1 MiB segments
 *     (so segments roll) and a maintenance thread runs log_store_compact over and over: every
 *     record of the final, compacted log must have been received with its key and value at
 *     its offset, offsets received per partition only increase, no error is reported, and
 *     the committed offsets end at the high watermarks.
 *   - 1,000 raw connections in 100 groups of 10 cycling through JoinGroup (with the KIP-394
 *     member-id round), SyncGroup and Heartbeat (rejoining on REBALANCE_IN_PROGRESS) against
 *     one server, while one librdkafka consumer reads a topic appended to every few ms: the
 *     server stays up, every group settles with its 10 members, and the consumer is not
 *     starved (every record arrives, none later than a bound after its commit).
 * Expected records come from the log itself (decoded here with log_batch_decode) or from what
 * the writer appended, never from the server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/resource.h>

#include "kafka_test_util.h"

#define NPARTS 2

static uint64_t fnv(const void *p, size_t n, uint64_t h)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t rec_hash(const void *k, size_t kn, const void *v, size_t vn)
{
    return fnv(v, vn, fnv(k, kn, 0xcbf29ce484222325ull) ^ 0xff);
}

typedef struct fixture {
    char dir[128];
    log_store_t *store;
    kt_server st;
    char bootstrap[64];
} fixture;

static void notify_hook(void *ctx)
{
    kafka_server_notify(ctx);
}

/* A compacted 2-partition topic "cdc" by default, 1 MiB segments, a server on it. */
static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/rowlog-kconsumer-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    log_topic_config tc;
    log_topic_config_init(&tc);
    tc.cleanup = LOG_CLEANUP_COMPACT;
    log_store_opts lo;
    memset(&lo, 0, sizeof lo);
    /* Uncompressed, so the records fill 1 MiB segments (lz4 shrinks this JSON tenfold). */
    lo.compression = LOG_COMPRESSION_NONE;
    lo.partitions = NPARTS;
    lo.segment_bytes = 1 << 20;
    lo.batch_bytes = 64 << 10;
    lo.topic_defaults = &tc;
    rl_err err = {0};
    char logdir[256];
    snprintf(logdir, sizeof logdir, "%s/log", fx->dir);
    if (log_store_open(&fx->store, logdir, &lo, &err) != 0)
        fail_msg("log_store_open: %s", err.msg);
    kafka_server_opts ko;
    kafka_server_opts_init(&ko);
    snprintf(ko.offsets_dir, sizeof ko.offsets_dir, "%s/offsets", fx->dir);
    ko.max_connections = 8192;
    kt_server_start(&fx->st, fx->store, &ko);
    log_store_set_commit_hook(fx->store, notify_hook, fx->st.srv);
    snprintf(fx->bootstrap, sizeof fx->bootstrap, "127.0.0.1:%u", fx->st.port);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    kt_server_stop(&fx->st);
    log_store_close(fx->store);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", fx->dir);
    free(fx);
    return 0;
}

/* ------------------------------------------------------------------ writer and compactor */

typedef struct writer {
    fixture *fx;
    const char *topic;
    int nrecs, nkeys, per_commit, sleep_ms;
    atomic_bool done;
    atomic_int committed; /* records committed so far */
    /* Commit time (kt_now_ms) of each record, by index (the latency test). */
    int64_t *commit_ms;
} writer;

static void value_for(char *out, size_t n, int i, int key)
{
    /* ~150-250 bytes of JSON, as rowlog's change events. */
    snprintf(out, n,
             "{\"op\":\"u\",\"source\":{\"table\":\"t\",\"seq\":%d},\"after\":{\"id\":%d,"
             "\"name\":\"customer-%d\",\"note\":\"%.*s\"}}",
             i, key, key, (i * 7) % 100,
             "lorem-ipsum-dolor-sit-amet-consectetur-adipiscing-elit-sed-do-eiusmod-tempor-"
             "incididunt-ut-labore-et-dolore");
}

static void *writer_main(void *arg)
{
    writer *w = arg;
    rl_err err = {0};
    char key[32], val[320];
    int from = 0;
    for (int i = 0; i < w->nrecs; i++) {
        int k = w->nkeys ? i % w->nkeys : i;
        snprintf(key, sizeof key, "key-%d", k);
        value_for(val, sizeof val, i, k);
        if (log_store_append(w->fx->store, rl_slice_str(w->topic), rl_slice_str(key),
                             rl_slice_str(val), 1700000000000 + i, &err) != 0) {
            fprintf(stderr, "append: %s\n", err.msg);
            abort();
        }
        if ((i + 1) % w->per_commit == 0 || i + 1 == w->nrecs) {
            if (log_store_commit(w->fx->store, rl_slice_str("w"), &err) != 0) {
                fprintf(stderr, "commit: %s\n", err.msg);
                abort();
            }
            if (w->commit_ms) {
                int64_t now = kt_now_ms();
                for (int j = from; j <= i; j++)
                    __atomic_store_n(&w->commit_ms[j], now, __ATOMIC_RELEASE);
            }
            from = i + 1;
            atomic_store(&w->committed, i + 1);
            if (w->sleep_ms)
                kt_sleep_ms(w->sleep_ms);
        }
    }
    atomic_store(&w->done, true);
    return NULL;
}

typedef struct compactor {
    log_store_t *store;
    atomic_bool *writer_done;
    int passes;
    atomic_int rewritten;
} compactor;

static void *compactor_main(void *arg)
{
    compactor *c = arg;
    for (;;) {
        bool last = atomic_load(c->writer_done);
        rl_err err = {0};
        int n = log_store_compact(c->store, rl_now_ms(), &err);
        if (n < 0) {
            fprintf(stderr, "log_store_compact: %s\n", err.msg);
            abort();
        }
        c->passes++;
        atomic_fetch_add(&c->rewritten, n);
        if (last)
            break;
        kt_sleep_ms(10);
    }
    return NULL;
}

/* ------------------------------------------------------------------ consumer */

typedef struct seen {
    uint64_t hash;
    bool got;
} seen;

typedef struct consumed {
    seen *v[NPARTS];
    int64_t cap[NPARTS];
    int64_t last[NPARTS]; /* last offset received, -1 none */
    int64_t total;
} consumed;

static void consumed_put(consumed *c, int32_t p, int64_t off, uint64_t h)
{
    assert_true(p >= 0 && p < NPARTS && off >= 0);
    if (off >= c->cap[p]) {
        int64_t cap = c->cap[p] ? c->cap[p] : 1024;
        while (cap <= off)
            cap *= 2;
        seen *nv = realloc(c->v[p], (size_t)cap * sizeof *nv);
        assert_non_null(nv);
        memset(nv + c->cap[p], 0, (size_t)(cap - c->cap[p]) * sizeof *nv);
        c->v[p] = nv;
        c->cap[p] = cap;
    }
    if (c->v[p][off].got)
        assert_true(c->v[p][off].hash == h); /* redelivered: the same record */
    c->v[p][off].got = true;
    c->v[p][off].hash = h;
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    atomic_int *errors = opaque;
    fprintf(stderr, "librdkafka error %s: %s\n", rd_kafka_err2name(err), reason);
    atomic_fetch_add(errors, 1);
}

static rd_kafka_t *consumer_new(const fixture *fx, const char *group, atomic_int *errors)
{
    char errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* Session timeout 30 s: a loaded CI machine must not cause a rebalance mid-test (offsets
     * would then go back to the last commit). */
    /* clang-format off */
    const char *kv[][2] = {
        {"bootstrap.servers", fx->bootstrap},
        {"group.id", group},
        {"enable.auto.commit", "false"},
        {"auto.offset.reset", "earliest"},
        {"session.timeout.ms", "30000"},
        {"heartbeat.interval.ms", "1000"},
        {"fetch.wait.max.ms", "50"},
        {"enable.partition.eof", "false"},
        {"client.id", "test-consumer"},
    };
    /* clang-format on */
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
            fail_msg("%s: %s", kv[i][0], errstr);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_opaque(conf, errors);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk)
        fail_msg("rd_kafka_new: %s", errstr);
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

static void subscribe(rd_kafka_t *rk, const char *topic)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(rk, l), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
}

/* Takes one message (or nothing within timeout_ms) into c; returns true when one came. */
static bool consume_one(rd_kafka_t *rk, consumed *c, int timeout_ms)
{
    rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, timeout_ms);
    if (!m)
        return false;
    if (m->err)
        fail_msg("consumer: %s: %s", rd_kafka_err2name(m->err), rd_kafka_message_errstr(m));
    int32_t p = m->partition;
    assert_true(p >= 0 && p < NPARTS);
    /* Offsets only increase within a partition (a rebalance could go back to the last
     * commit; none happens with one member, so any step back is a server fault). */
    if (m->offset <= c->last[p])
        fail_msg("partition %d: offset %" PRId64 " after %" PRId64, p, m->offset, c->last[p]);
    c->last[p] = m->offset;
    consumed_put(c, p, m->offset, rec_hash(m->key, m->key_len, m->payload, m->len));
    c->total++;
    rd_kafka_message_destroy(m);
    return true;
}

/* ------------------------------------------------------------------ the final log */

typedef struct check_ctx {
    const consumed *c;
    int32_t p;
    int64_t from;
    int64_t next;
    int64_t records;
} check_ctx;

static int check_rec(void *arg, const log_record *rec)
{
    check_ctx *x = arg;
    if (rec->offset < x->from)
        return 0;
    x->next = rec->offset + 1;
    x->records++;
    const consumed *c = x->c;
    if (rec->offset >= c->cap[x->p] || !c->v[x->p][rec->offset].got)
        fail_msg("partition %d offset %" PRId64 " (key %.*s) of the final log never received", x->p,
                 rec->offset, (int)rec->key.len, (const char *)rec->key.p);
    uint64_t h = rec_hash(rec->key.p, rec->key.len, rec->value.p, rec->value.len);
    if (c->v[x->p][rec->offset].hash != h)
        fail_msg("partition %d offset %" PRId64 ": received another record", x->p, rec->offset);
    return 0;
}

/* Walks partition p of topic in the final log; returns its record count. */
static int64_t check_final_log(log_store_t *store, const char *topic, int32_t p, const consumed *c,
                               int64_t *hwm_out)
{
    int64_t start, hwm;
    assert_int_equal(log_store_offsets(store, topic, (uint32_t)p, &start, &hwm), 0);
    *hwm_out = hwm;
    check_ctx x = {c, p, start, start, 0};
    rl_buf scratch = RL_BUF_INIT;
    rl_err err = {0};
    while (x.next < hwm) {
        log_read lr;
        memset(&lr, 0, sizeof lr);
        if (log_store_read(store, topic, (uint32_t)p, x.next, 1 << 20, &lr, &err) != 0)
            fail_msg("read %s-%d at %" PRId64 ": %s", topic, p, x.next, err.msg);
        rl_slice b = lr.bytes;
        int64_t before = x.next;
        while (b.len >= 61) {
            rl_reader hd = rl_reader_make(b);
            int64_t base = rl_get_i64be(&hd);
            rl_reader_skip(&hd, 15);
            int32_t last = rl_get_i32be(&hd);
            x.from = x.next;
            int n = log_batch_decode(b, &scratch, 64 << 20, check_rec, &x, &err);
            if (n == RL_EAGAIN)
                break;
            if (n < 0)
                fail_msg("decode %s-%d: %s", topic, p, err.msg);
            if (base + last + 1 > x.next)
                x.next = base + last + 1;
            b.p += n;
            b.len -= (size_t)n;
        }
        log_read_release(&lr);
        assert_true(x.next > before);
    }
    rl_buf_free(&scratch);
    return x.records;
}

static void test_consumer_roll_compact(void **state)
{
    fixture *fx = *state;
    /* 40,000 records of 500 keys: ~9 MiB, several 1 MiB segments per partition, most
     * records superseded by a later one of their key. */
    writer w = {
        .fx = fx, .topic = "cdc", .nrecs = 40000, .nkeys = 500, .per_commit = 200, .sleep_ms = 2};
    atomic_init(&w.done, false);
    atomic_init(&w.committed, 0);
    compactor cp = {.store = fx->store, .writer_done = &w.done};
    atomic_init(&cp.rewritten, 0);
    atomic_int errors;
    atomic_init(&errors, 0);

    /* The topic must exist before the consumer subscribes (rowlog creates none on demand). */
    rl_err err = {0};
    assert_int_equal(log_store_append(fx->store, rl_slice_str("cdc"), rl_slice_str("key-first"),
                                      rl_slice_str("{}"), 1700000000000, &err),
                     0);
    assert_int_equal(log_store_commit(fx->store, rl_slice_str("w"), &err), 0);

    consumed c;
    memset(&c, 0, sizeof c);
    for (int p = 0; p < NPARTS; p++)
        c.last[p] = -1;

    pthread_t wt, ct;
    assert_int_equal(pthread_create(&wt, NULL, writer_main, &w), 0);
    assert_int_equal(pthread_create(&ct, NULL, compactor_main, &cp), 0);
    /* Start reading once most of the log is written and compaction rewrote segments, so the
     * consumer reads segments already compacted (batches with gaps), and others while they
     * are being rewritten. */
    while (atomic_load(&w.committed) < 25000 || atomic_load(&cp.rewritten) == 0) {
        if (atomic_load(&w.done))
            break;
        kt_sleep_ms(1);
    }
    int rewritten_before = atomic_load(&cp.rewritten);
    /* librdkafka prefetches in the background once assigned: the consumer is created now. */
    rd_kafka_t *rk = consumer_new(fx, "g-roll", &errors);
    subscribe(rk, "cdc");
    int64_t deadline = kt_now_ms() + 120000;
    bool joined = false;
    int64_t since_commit = 0;
    for (;;) {
        if (consume_one(rk, &c, 100) && ++since_commit >= 1000) {
            rd_kafka_resp_err_t e = rd_kafka_commit(rk, NULL, 0);
            if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
                fail_msg("rd_kafka_commit: %s", rd_kafka_err2str(e));
            since_commit = 0;
        }
        if (!joined && atomic_load(&w.done)) {
            pthread_join(wt, NULL);
            pthread_join(ct, NULL);
            joined = true;
        }
        if (joined) {
            bool all = true;
            for (int p = 0; p < NPARTS; p++) {
                int64_t s, hwm;
                assert_int_equal(log_store_offsets(fx->store, "cdc", (uint32_t)p, &s, &hwm), 0);
                all = all && c.last[p] == hwm - 1;
            }
            if (all)
                break;
        }
        if (kt_now_ms() > deadline)
            fail_msg("consumer did not reach the end in 120 s (%" PRId64 " received)", c.total);
    }
    rd_kafka_resp_err_t e = rd_kafka_commit(rk, NULL, 0);
    assert_true(e == RD_KAFKA_RESP_ERR_NO_ERROR || e == RD_KAFKA_RESP_ERR__NO_OFFSET);

    /* The log did roll and compact while it was read. */
    assert_true(atomic_load(&cp.rewritten) > 0);
    int64_t total_final = 0;
    for (int32_t p = 0; p < NPARTS; p++) {
        int64_t hwm;
        total_final += check_final_log(fx->store, "cdc", p, &c, &hwm);
    }
    assert_true(total_final < w.nrecs / 2); /* compaction did drop records */
    assert_true(c.total >= total_final);

    /* The group's committed offsets are the high watermarks. */
    int64_t dl = kt_now_ms() + 5000;
    for (;;) {
        kafka_committed_offset *v = NULL;
        size_t n = 0;
        assert_int_equal(kafka_server_committed_offsets(fx->st.srv, &v, &n), 0);
        int ok = 0;
        for (size_t i = 0; i < n; i++) {
            int64_t s, hwm;
            assert_int_equal(
                log_store_offsets(fx->store, "cdc", (uint32_t)v[i].partition, &s, &hwm), 0);
            if (strcmp(v[i].group, "g-roll") == 0 && v[i].offset == hwm && v[i].members == 1)
                ok++;
        }
        free(v);
        if (ok == NPARTS)
            break;
        if (kt_now_ms() > dl)
            fail_msg("committed offsets of g-roll are not the high watermarks");
        kt_sleep_ms(10);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    assert_int_equal(atomic_load(&errors), 0);
    for (int p = 0; p < NPARTS; p++)
        free(c.v[p]);
    fprintf(stderr,
            "rolled and compacted: %d segments rewritten in %d passes, %" PRId64
            " records received, %" PRId64 " in the final log\n",
            atomic_load(&cp.rewritten), cp.passes, c.total, total_final);
    fprintf(stderr, "%d segments were rewritten before the consumer started reading\n",
            rewritten_before);
}

/* ------------------------------------------------------------------ many groups */

enum { NGROUPS = 100, PER_GROUP = 10, NCONN = NGROUPS * PER_GROUP };

enum member_state { M_JOIN, M_SYNC, M_STABLE };

/* The member clients run on their own thread, where cmocka's fail() cannot be used. */
#define STORM_FAIL(...)                                                                            \
    do {                                                                                           \
        fprintf(stderr, "storm: " __VA_ARGS__);                                                    \
        fprintf(stderr, "\n");                                                                     \
        abort();                                                                                   \
    } while (0)

typedef struct member {
    int fd;
    int group;
    int state;
    bool waiting; /* a request is out */
    int32_t generation;
    char id[128];
    rl_buf in; /* bytes of a partial response */
    int64_t next_hb;
    rl_buf leader_members; /* the leader's member ids (SyncGroup assignments) */
    int nleader;
} member;

static void member_send(member *m, const rl_buf *b)
{
    if (!kt_send(m->fd, b->p, b->len))
        STORM_FAIL("group %d: server closed a member connection", m->group);
    m->waiting = true;
}

static void send_join5(member *m)
{
    rl_buf b = RL_BUF_INIT;
    char g[32];
    snprintf(g, sizeof g, "storm-%03d", m->group);
    kt_req_begin(&b, 11, 5, 1);
    kt_put_str(&b, g);
    rl_buf_put_be32(&b, 30000);
    rl_buf_put_be32(&b, 20000);
    kt_put_str(&b, m->id);
    rl_buf_put_be16(&b, (uint16_t)-1);
    kt_put_str(&b, "consumer");
    rl_buf_put_be32(&b, 1);
    kt_put_str(&b, "range");
    rl_buf_put_be32(&b, 2);
    rl_buf_puts(&b, "md");
    kt_req_end(&b);
    member_send(m, &b);
    m->state = M_JOIN;
    rl_buf_free(&b);
}

static void send_sync(member *m)
{
    rl_buf b = RL_BUF_INIT;
    char g[32];
    snprintf(g, sizeof g, "storm-%03d", m->group);
    kt_req_begin(&b, 14, 3, 2);
    kt_put_str(&b, g);
    rl_buf_put_be32(&b, (uint32_t)m->generation);
    kt_put_str(&b, m->id);
    rl_buf_put_be16(&b, (uint16_t)-1);
    rl_buf_put_be32(&b, (uint32_t)m->nleader);
    rl_reader rd = rl_reader_make(rl_buf_slice(&m->leader_members));
    for (int i = 0; i < m->nleader; i++) {
        rl_slice id = kt_get_str(&rd);
        rl_buf_put_be16(&b, (uint16_t)id.len);
        rl_buf_append(&b, id.p, id.len);
        rl_buf_put_be32(&b, 1);
        rl_buf_putc(&b, 'a');
    }
    kt_req_end(&b);
    member_send(m, &b);
    m->state = M_SYNC;
    rl_buf_free(&b);
}

static void send_heartbeat(member *m)
{
    rl_buf b = RL_BUF_INIT;
    char g[32];
    snprintf(g, sizeof g, "storm-%03d", m->group);
    kt_req_begin(&b, 12, 3, 3);
    kt_put_str(&b, g);
    rl_buf_put_be32(&b, (uint32_t)m->generation);
    kt_put_str(&b, m->id);
    rl_buf_put_be16(&b, (uint16_t)-1);
    kt_req_end(&b);
    member_send(m, &b);
    rl_buf_free(&b);
}

/* Handles one response of m (the frame body after the size). */
static void member_on_response(member *m, rl_slice frame)
{
    rl_reader rd = rl_reader_make(frame);
    int32_t corr = rl_get_i32be(&rd);
    (void)rl_get_i32be(&rd); /* throttle */
    int16_t ec = rl_get_i16be(&rd);
    m->waiting = false;
    if (corr == 1) { /* JoinGroup */
        int32_t gen = rl_get_i32be(&rd);
        (void)kt_get_str(&rd); /* protocol */
        rl_slice leader = kt_get_str(&rd), id = kt_get_str(&rd);
        if (rd.err)
            STORM_FAIL("group %d: malformed JoinGroup response", m->group);
        snprintf(m->id, sizeof m->id, "%.*s", (int)id.len, id.p ? (const char *)id.p : "");
        if (ec == 79 || ec == 27) {
            send_join5(m);
            return;
        }
        if (ec != 0)
            STORM_FAIL("group %d: JoinGroup error %d", m->group, ec);
        m->generation = gen;
        int32_t n = rl_get_i32be(&rd);
        rl_buf_reset(&m->leader_members);
        m->nleader = 0;
        bool is_leader = leader.len == id.len && memcmp(leader.p, id.p, id.len) == 0;
        for (int32_t i = 0; i < n; i++) {
            rl_slice mid = kt_get_str(&rd);
            (void)kt_get_str(&rd); /* instance */
            int32_t l = rl_get_i32be(&rd);
            rl_reader_skip(&rd, l > 0 ? (size_t)l : 0);
            if (is_leader) {
                rl_buf_put_be16(&m->leader_members, (uint16_t)mid.len);
                rl_buf_append(&m->leader_members, mid.p, mid.len);
                m->nleader++;
            }
        }
        if (rd.err)
            STORM_FAIL("group %d: malformed JoinGroup response", m->group);
        send_sync(m);
    } else if (corr == 2) { /* SyncGroup */
        if (ec == 27 || ec == 22 || ec == 25) {
            if (ec == 25)
                m->id[0] = 0;
            send_join5(m);
            return;
        }
        if (ec != 0)
            STORM_FAIL("group %d: SyncGroup error %d", m->group, ec);
        m->state = M_STABLE;
        m->next_hb = kt_now_ms() + 300;
    } else if (corr == 3) { /* Heartbeat */
        if (ec == 27 || ec == 22) {
            send_join5(m);
            return;
        }
        if (ec == 25) {
            m->id[0] = 0;
            send_join5(m);
            return;
        }
        if (ec != 0)
            STORM_FAIL("group %d: Heartbeat error %d", m->group, ec);
        m->next_hb = kt_now_ms() + 300;
    }
}

/* Reads what m's socket has; handles complete responses. */
static void member_read(member *m)
{
    uint8_t buf[8192];
    for (;;) {
        ssize_t r = recv(m->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (r <= 0)
            STORM_FAIL("group %d: member connection closed by the server", m->group);
        rl_buf_append(&m->in, buf, (size_t)r);
    }
    for (;;) {
        if (m->in.len < 4)
            return;
        rl_reader rd = rl_reader_make(rl_buf_slice(&m->in));
        int32_t size = rl_get_i32be(&rd);
        if (m->in.len - 4 < (size_t)size)
            return;
        member_on_response(m, rl_slice_make(m->in.p + 4, (size_t)size));
        size_t used = 4 + (size_t)size;
        memmove(m->in.p, m->in.p + used, m->in.len - used);
        m->in.len -= used;
    }
}

typedef struct storm {
    member *m;
    atomic_bool stop;
    int stable_at_end;
} storm;

static void *storm_main(void *arg)
{
    storm *s = arg;
    struct pollfd *pf = calloc(NCONN, sizeof *pf);
    if (!pf)
        STORM_FAIL("out of memory");
    for (int i = 0; i < NCONN; i++)
        send_join5(&s->m[i]);
    while (!atomic_load(&s->stop)) {
        for (int i = 0; i < NCONN; i++) {
            pf[i].fd = s->m[i].fd;
            pf[i].events = POLLIN;
            pf[i].revents = 0;
        }
        int n = poll(pf, NCONN, 50);
        if (n < 0 && errno != EINTR)
            STORM_FAIL("poll: %s", strerror(errno));
        int64_t now = kt_now_ms();
        for (int i = 0; i < NCONN; i++) {
            member *m = &s->m[i];
            if (pf[i].revents)
                member_read(m);
            if (m->state == M_STABLE && !m->waiting && now >= m->next_hb)
                send_heartbeat(m);
        }
    }
    int stable = 0;
    for (int i = 0; i < NCONN; i++)
        stable += s->m[i].state == M_STABLE;
    s->stable_at_end = stable;
    free(pf);
    return NULL;
}

static void test_many_groups_consumer_progress(void **state)
{
    fixture *fx = *state;
    struct rlimit lim;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &lim), 0);
    if (lim.rlim_max < 2 * NCONN + 300) {
        fprintf(stderr, "RLIMIT_NOFILE hard limit %lu: skipping\n", (unsigned long)lim.rlim_max);
        skip();
    }
    if (lim.rlim_cur < 2 * NCONN + 300) {
        lim.rlim_cur = lim.rlim_max;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
    }
    /* The fetched topic, then the consumer (simple assign of both partitions). */
    rl_err err = {0};
    for (int p = 0; p < NPARTS; p++) {
        char key[16];
        snprintf(key, sizeof key, "seed-%d", p);
        assert_int_equal(log_store_append(fx->store, rl_slice_str("live"), rl_slice_str(key),
                                          rl_slice_str("{}"), 1700000000000, &err),
                         0);
    }
    assert_int_equal(log_store_commit(fx->store, rl_slice_str("w"), &err), 0);
    int64_t base[NPARTS];
    for (int p = 0; p < NPARTS; p++) {
        int64_t s;
        assert_int_equal(log_store_offsets(fx->store, "live", (uint32_t)p, &s, &base[p]), 0);
    }

    member *m = calloc(NCONN, sizeof *m);
    assert_non_null(m);
    for (int i = 0; i < NCONN; i++) {
        m[i].fd = kt_connect(fx->st.port);
        m[i].group = i / PER_GROUP;
    }
    storm s = {.m = m};
    atomic_init(&s.stop, false);
    pthread_t stt;
    assert_int_equal(pthread_create(&stt, NULL, storm_main, &s), 0);

    atomic_int errors;
    atomic_init(&errors, 0);
    rd_kafka_t *rk = consumer_new(fx, "g-live", &errors);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(NPARTS);
    for (int p = 0; p < NPARTS; p++)
        rd_kafka_topic_partition_list_add(l, "live", p)->offset = base[p];
    assert_int_equal(rd_kafka_assign(rk, l), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);

    /* 1,500 records, one commit every 10 ms, while the groups churn. */
    enum { NLIVE = 1500 };
    writer w = {
        .fx = fx, .topic = "live", .nrecs = NLIVE, .nkeys = 0, .per_commit = 5, .sleep_ms = 10};
    atomic_init(&w.done, false);
    atomic_init(&w.committed, 0);
    w.commit_ms = calloc(NLIVE, sizeof *w.commit_ms);
    assert_non_null(w.commit_ms);
    pthread_t wt;
    assert_int_equal(pthread_create(&wt, NULL, writer_main, &w), 0);
    int64_t received = 0, max_lag = 0;
    int64_t deadline = kt_now_ms() + 90000;
    while (received < NLIVE) {
        rd_kafka_message_t *msg = rd_kafka_consumer_poll(rk, 100);
        if (kt_now_ms() > deadline)
            fail_msg("consumer starved: %" PRId64 " of %d records in 90 s", received, NLIVE);
        if (!msg)
            continue;
        if (msg->err)
            fail_msg("consumer: %s", rd_kafka_message_errstr(msg));
        /* key-<i>: the writer's index, so the record's commit time is known. */
        char key[32];
        snprintf(key, sizeof key, "%.*s", (int)msg->key_len, (const char *)msg->key);
        int i = atoi(key + 4);
        assert_true(i >= 0 && i < NLIVE);
        int64_t committed;
        /* The commit time is written by the writer before it could be fetched. */
        do {
            committed = __atomic_load_n(&w.commit_ms[i], __ATOMIC_ACQUIRE);
        } while (committed == 0);
        int64_t lag = kt_now_ms() - committed;
        if (lag > max_lag)
            max_lag = lag;
        received++;
        rd_kafka_message_destroy(msg);
    }
    pthread_join(wt, NULL);
    /* Let the groups settle, then check that every member is in a stable generation. */
    int64_t settle = kt_now_ms() + 20000;
    kafka_server_stats st;
    for (;;) {
        kafka_server_stats_get(fx->st.srv, &st);
        if (st.members >= NCONN || kt_now_ms() > settle)
            break;
        kt_sleep_ms(100);
    }
    kt_sleep_ms(1500);
    atomic_store(&s.stop, true);
    pthread_join(stt, NULL);
    kafka_server_stats_get(fx->st.srv, &st);
    fprintf(stderr,
            "%d connections, %" PRIu64 " members in %" PRIu64 " groups, %d stable; "
            "consumer: %" PRId64 " records, largest lag %" PRId64 " ms\n",
            NCONN, st.members, st.groups, s.stable_at_end, received, max_lag);
    assert_true(st.connections_open >= NCONN);
    assert_int_equal(st.members, NCONN);
    assert_true(st.groups >= NGROUPS);
    assert_int_equal(s.stable_at_end, NCONN);
    /* Not starved: each record arrived within 5 s of its commit (typically a few ms; the
     * bound allows for a loaded 2-core machine). */
    assert_true(max_lag < 5000);
    assert_int_equal(atomic_load(&errors), 0);

    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    for (int i = 0; i < NCONN; i++) {
        close(m[i].fd);
        rl_buf_free(&m[i].in);
        rl_buf_free(&m[i].leader_members);
    }
    free(m);
    free(w.commit_ms);
}

int main(void)
{
    rl_log_set_level(RL_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_consumer_roll_compact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_groups_consumer_progress, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
