/*
 * test_kafka_groups.c - the server's group views and limits: kafka_server_committed_offsets
 * (the copy published for other threads), ListGroups and DescribeGroups (raw socket, and
 * librdkafka's rd_kafka_list_groups in-process), per-request caps on topics and partitions,
 * and the committed-offsets store as a compacted topic.
 * Each test starts its own server on a log in a temporary directory; expected values come
 * from what the test itself committed or joined, never from the server.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdatomic.h>

#include "kafka_test_util.h"

typedef struct fixture {
    char dir[128];
    char offsets_dir[160];
    log_store_t *store;
    kt_server st;
    kafka_server_opts ko;
} fixture;

static void fx_commit(fixture *fx)
{
    rl_err err = {0};
    if (log_store_commit(fx->store, rl_slice_str("test"), &err) != 0)
        fail_msg("commit: %s", err.msg);
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/rowlog-kgroups-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    char logdir[256];
    snprintf(logdir, sizeof logdir, "%s/log", fx->dir);
    log_store_opts lo;
    memset(&lo, 0, sizeof lo);
    lo.compression = LOG_COMPRESSION_NONE;
    lo.partitions = 4;
    rl_err err = {0};
    if (log_store_open(&fx->store, logdir, &lo, &err) != 0)
        fail_msg("log_store_open: %s", err.msg);
    for (int i = 0; i < 40; i++) {
        char key[32], val[64];
        snprintf(key, sizeof key, "k%d", i);
        snprintf(val, sizeof val, "{\"id\":%d}", i);
        if (log_store_append(fx->store, rl_slice_str("orders"), rl_slice_str(key),
                             rl_slice_str(val), 1700000000000 + i, &err) != 0)
            fail_msg("append: %s", err.msg);
    }
    fx_commit(fx);
    snprintf(fx->offsets_dir, sizeof fx->offsets_dir, "%s/offsets", fx->dir);
    kafka_server_opts_init(&fx->ko);
    snprintf(fx->ko.offsets_dir, sizeof fx->ko.offsets_dir, "%s", fx->offsets_dir);
    kt_server_start(&fx->st, fx->store, &fx->ko);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    if (fx->st.srv)
        kt_server_stop(&fx->st);
    log_store_close(fx->store);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", fx->dir);
    free(fx);
    return 0;
}

/* ------------------------------------------------------------------ raw requests */

/* OffsetCommit v7 of partitions parts[0..n) of topic; every partition must succeed. */
static void commit_offsets(unsigned port, const char *group, int32_t generation, const char *member,
                           const char *topic, int n, const int32_t *parts, const int64_t *offsets)
{
    rl_buf req = RL_BUF_INIT, resp = RL_BUF_INIT;
    int fd = kt_connect(port);
    kt_req_begin(&req, 8, 7, 77);
    kt_put_str(&req, group);
    rl_buf_put_be32(&req, (uint32_t)generation);
    kt_put_str(&req, member);
    rl_buf_put_be16(&req, (uint16_t)-1);
    rl_buf_put_be32(&req, 1);
    kt_put_str(&req, topic);
    rl_buf_put_be32(&req, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        rl_buf_put_be32(&req, (uint32_t)parts[i]);
        rl_buf_put_be64(&req, (uint64_t)offsets[i]);
        rl_buf_put_be32(&req, -1);
        rl_buf_put_be16(&req, (uint16_t)-1);
    }
    kt_req_end(&req);
    rl_reader rd = kt_call(fd, &req, &resp);
    assert_int_equal(rl_get_i32be(&rd), 0);
    assert_int_equal(rl_get_i32be(&rd), 1);
    assert_true(rl_slice_eq_str(kt_get_str(&rd), topic));
    assert_int_equal(rl_get_i32be(&rd), n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(rl_get_i32be(&rd), parts[i]);
        assert_int_equal(rl_get_i16be(&rd), 0);
    }
    assert_false(rd.err);
    close(fd);
    rl_buf_free(&req);
    rl_buf_free(&resp);
}

typedef struct joined {
    int32_t generation;
    char member[128];
} joined;

/* JoinGroup v3 (no MEMBER_ID_REQUIRED round) of a new member into group with one "range"
 * protocol carrying metadata md; a group whose only member this is completes at once.
 * Then SyncGroup v2 as leader with assignment `assign` for itself. fd stays open. */
static void join_and_sync_bytes(int fd, const char *group, rl_slice md, rl_slice assign,
                                joined *out)
{
    rl_buf req = RL_BUF_INIT, resp = RL_BUF_INIT;
    kt_req_begin(&req, 11, 3, 11);
    kt_put_str(&req, group);
    rl_buf_put_be32(&req, 30000);
    rl_buf_put_be32(&req, 60000);
    kt_put_str(&req, "");
    kt_put_str(&req, "consumer");
    rl_buf_put_be32(&req, 1);
    kt_put_str(&req, "range");
    rl_buf_put_be32(&req, (uint32_t)md.len);
    rl_buf_append(&req, md.p, md.len);
    kt_req_end(&req);
    rl_reader rd = kt_call(fd, &req, &resp);
    assert_int_equal(rl_get_i32be(&rd), 0); /* throttle */
    assert_int_equal(rl_get_i16be(&rd), 0); /* error */
    out->generation = rl_get_i32be(&rd);
    assert_true(rl_slice_eq_str(kt_get_str(&rd), "range"));
    (void)kt_get_str(&rd); /* leader */
    rl_slice m = kt_get_str(&rd);
    assert_false(rd.err);
    snprintf(out->member, sizeof out->member, "%.*s", (int)m.len, (const char *)m.p);

    kt_req_begin(&req, 14, 2, 12);
    kt_put_str(&req, group);
    rl_buf_put_be32(&req, (uint32_t)out->generation);
    kt_put_str(&req, out->member);
    rl_buf_put_be32(&req, 1);
    kt_put_str(&req, out->member);
    rl_buf_put_be32(&req, (uint32_t)assign.len);
    rl_buf_append(&req, assign.p, assign.len);
    kt_req_end(&req);
    rd = kt_call(fd, &req, &resp);
    assert_int_equal(rl_get_i32be(&rd), 0);
    assert_int_equal(rl_get_i16be(&rd), 0);
    int32_t n = rl_get_i32be(&rd);
    assert_int_equal(n, (int32_t)assign.len);
    rl_buf_free(&req);
    rl_buf_free(&resp);
}

static void join_and_sync(int fd, const char *group, const char *md, const char *assign,
                          joined *out)
{
    join_and_sync_bytes(fd, group, rl_slice_str(md), rl_slice_str(assign), out);
}

/* ------------------------------------------------------------------ committed offsets view */

/* Polls kafka_server_committed_offsets until it lists `want` entries (the loop publishes
 * before it next blocks, which may be just after the client got its answer). */
static size_t committed_wait(kafka_server_t *srv, size_t want, kafka_committed_offset **v)
{
    size_t n = 0;
    int64_t deadline = kt_now_ms() + 5000;
    for (;;) {
        assert_int_equal(kafka_server_committed_offsets(srv, v, &n), 0);
        if (n == want || kt_now_ms() > deadline)
            return n;
        free(*v);
        kt_sleep_ms(5);
    }
}

static const kafka_committed_offset *find_co(const kafka_committed_offset *v, size_t n,
                                             const char *group, const char *topic, int32_t p)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].group, group) == 0 && strcmp(v[i].topic, topic) == 0 && v[i].partition == p)
            return &v[i];
    return NULL;
}

/* Polls until the entry for (group, topic, p) has `members` members. */
static void members_wait(kafka_server_t *srv, const char *group, const char *topic, int32_t p,
                         uint32_t members)
{
    int64_t deadline = kt_now_ms() + 5000;
    for (;;) {
        kafka_committed_offset *v = NULL;
        size_t n = 0;
        assert_int_equal(kafka_server_committed_offsets(srv, &v, &n), 0);
        const kafka_committed_offset *e = find_co(v, n, group, topic, p);
        bool ok = e && e->members == members;
        free(v);
        if (ok)
            return;
        if (kt_now_ms() > deadline)
            fail_msg("group %s: members never became %u", group, members);
        kt_sleep_ms(5);
    }
}

static void test_committed_offsets(void **state)
{
    fixture *fx = *state;
    kafka_committed_offset *v = NULL;
    size_t n = 0;
    assert_int_equal(kafka_server_committed_offsets(fx->st.srv, &v, &n), 0);
    assert_int_equal(n, 0);
    assert_null(v);

    int64_t before = rl_now_ms();
    int32_t parts[3] = {2, 0, 3};
    int64_t offs[3] = {5, 7, 9};
    commit_offsets(fx->st.port, "g-b", -1, "", "orders", 3, parts, offs);
    int32_t pa[1] = {1};
    int64_t oa[1] = {3};
    commit_offsets(fx->st.port, "g-a", -1, "", "orders", 1, pa, oa);
    n = committed_wait(fx->st.srv, 4, &v);
    assert_int_equal(n, 4);
    /* Sorted by group, topic, partition. */
    assert_string_equal(v[0].group, "g-a");
    assert_int_equal(v[0].partition, 1);
    assert_int_equal(v[0].offset, 3);
    const int32_t want_p[3] = {0, 2, 3};
    const int64_t want_o[3] = {7, 5, 9};
    for (int i = 0; i < 3; i++) {
        assert_string_equal(v[1 + i].group, "g-b");
        assert_string_equal(v[1 + i].topic, "orders");
        assert_int_equal(v[1 + i].partition, want_p[i]);
        assert_int_equal(v[1 + i].offset, want_o[i]);
        assert_int_equal(v[1 + i].members, 0);
        assert_true(v[1 + i].commit_ms >= before && v[1 + i].commit_ms <= rl_now_ms());
    }
    free(v);

    /* A member joins g-a: its entry shows one member; a newer commit replaces the offset. */
    int fd = kt_connect(fx->st.port);
    joined j;
    join_and_sync(fd, "g-a", "md", "assignment", &j);
    members_wait(fx->st.srv, "g-a", "orders", 1, 1);
    oa[0] = 30;
    commit_offsets(fx->st.port, "g-a", j.generation, j.member, "orders", 1, pa, oa);
    int64_t deadline = kt_now_ms() + 5000;
    for (;;) {
        assert_int_equal(kafka_server_committed_offsets(fx->st.srv, &v, &n), 0);
        const kafka_committed_offset *e = find_co(v, n, "g-a", "orders", 1);
        bool ok = n == 4 && e && e->offset == 30 && e->members == 1;
        free(v);
        if (ok)
            break;
        if (kt_now_ms() > deadline)
            fail_msg("the second commit of g-a never showed");
        kt_sleep_ms(5);
    }
    /* It leaves (LeaveGroup v0): members back to 0. */
    rl_buf req = RL_BUF_INIT, resp = RL_BUF_INIT;
    kt_req_begin(&req, 13, 0, 13);
    kt_put_str(&req, "g-a");
    kt_put_str(&req, j.member);
    kt_req_end(&req);
    rl_reader rd = kt_call(fd, &req, &resp);
    assert_int_equal(rl_get_i16be(&rd), 0);
    close(fd);
    members_wait(fx->st.srv, "g-a", "orders", 1, 0);

    /* After a restart the replayed offsets are listed at once. */
    kt_server_stop(&fx->st);
    kt_server_start(&fx->st, fx->store, &fx->ko);
    assert_int_equal(kafka_server_committed_offsets(fx->st.srv, &v, &n), 0);
    assert_int_equal(n, 4);
    const kafka_committed_offset *e = find_co(v, n, "g-a", "orders", 1);
    assert_non_null(e);
    assert_int_equal(e->offset, 30);
    assert_int_equal(e->members, 0);
    e = find_co(v, n, "g-b", "orders", 3);
    assert_non_null(e);
    assert_int_equal(e->offset, 9);
    free(v);
    rl_buf_free(&req);
    rl_buf_free(&resp);
}

/* Another thread reads the view while commits keep changing it (run under TSan/ASan this
 * catches a copy that touches loop-owned data). */
typedef struct reader_arg {
    kafka_server_t *srv;
    atomic_bool stop;
    uint64_t reads;
} reader_arg;

static void *reader_main(void *p)
{
    reader_arg *a = p;
    while (!atomic_load(&a->stop)) {
        kafka_committed_offset *v = NULL;
        size_t n = 0;
        if (kafka_server_committed_offsets(a->srv, &v, &n) == 0) {
            for (size_t i = 1; i < n; i++)
                if (strcmp(v[i - 1].group, v[i].group) > 0)
                    fail_msg("view not sorted");
            free(v);
            a->reads++;
        }
    }
    return NULL;
}

static void test_committed_offsets_concurrent(void **state)
{
    fixture *fx = *state;
    reader_arg a;
    memset(&a, 0, sizeof a);
    a.srv = fx->st.srv;
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, reader_main, &a), 0);
    char group[32];
    for (int i = 0; i < 50; i++) {
        snprintf(group, sizeof group, "gc-%02d", i);
        int32_t parts[4] = {0, 1, 2, 3};
        int64_t offs[4] = {i, i + 1, i + 2, i + 3};
        commit_offsets(fx->st.port, group, -1, "", "orders", 4, parts, offs);
    }
    kafka_committed_offset *v = NULL;
    size_t n = committed_wait(fx->st.srv, 200, &v);
    atomic_store(&a.stop, true);
    pthread_join(t, NULL);
    assert_int_equal(n, 200);
    for (int i = 0; i < 50; i++) {
        snprintf(group, sizeof group, "gc-%02d", i);
        const kafka_committed_offset *e = find_co(v, n, group, "orders", 2);
        assert_non_null(e);
        assert_int_equal(e->offset, i + 2);
    }
    free(v);
    assert_true(a.reads > 0);
}

/* ------------------------------------------------------------------ ListGroups, DescribeGroups */

/* Reads a string in the version's encoding. */
static rl_slice get_fstr(rl_reader *rd, bool flex)
{
    if (!flex)
        return kt_get_str(rd);
    uint64_t n = rl_get_uvarint(rd);
    if (n == 0)
        return rl_slice_make(NULL, 0);
    return rl_get_bytes(rd, (size_t)(n - 1));
}

static int32_t get_fcount(rl_reader *rd, bool flex)
{
    return flex ? (int32_t)rl_get_uvarint(rd) - 1 : rl_get_i32be(rd);
}

static rl_slice get_fbytes(rl_reader *rd, bool flex)
{
    size_t n = flex ? (size_t)rl_get_uvarint(rd) - 1 : (size_t)rl_get_i32be(rd);
    return rl_get_bytes(rd, n);
}

static void put_fstr(rl_buf *b, bool flex, const char *s)
{
    if (flex) {
        rl_buf_put_uvarint(b, strlen(s) + 1);
        rl_buf_puts(b, s);
    } else {
        kt_put_str(b, s);
    }
}

typedef struct listed {
    char group[64], ptype[32], state[32];
} listed;

/* ListGroups v (states filter for v4: nstates names); returns the count listed into out. */
static int list_groups(int fd, int16_t v, const char *const *states, int nstates, listed *out,
                       int max)
{
    bool flex = v >= 3;
    rl_buf req = RL_BUF_INIT, resp = RL_BUF_INIT;
    kt_req_begin(&req, 16, v, 160 + v);
    if (flex)
        rl_buf_putc(&req, 0); /* header tags */
    if (v >= 4) {
        rl_buf_put_uvarint(&req, (uint64_t)nstates + 1);
        for (int i = 0; i < nstates; i++)
            put_fstr(&req, true, states[i]);
    }
    if (flex)
        rl_buf_putc(&req, 0);
    kt_req_end(&req);
    rl_reader rd = kt_call(fd, &req, &resp);
    if (flex)
        assert_int_equal(rl_get_uvarint(&rd), 0); /* response header tags */
    if (v >= 1)
        assert_int_equal(rl_get_i32be(&rd), 0);
    assert_int_equal(rl_get_i16be(&rd), 0);
    int32_t n = get_fcount(&rd, flex);
    assert_true(n >= 0 && n <= max);
    for (int32_t i = 0; i < n; i++) {
        rl_slice g = get_fstr(&rd, flex), pt = get_fstr(&rd, flex);
        assert_non_null(g.p);
        assert_non_null(pt.p);
        snprintf(out[i].group, sizeof out[i].group, "%.*s", (int)g.len, (const char *)g.p);
        snprintf(out[i].ptype, sizeof out[i].ptype, "%.*s", (int)pt.len, (const char *)pt.p);
        out[i].state[0] = 0;
        if (v >= 4) {
            rl_slice st = get_fstr(&rd, flex);
            snprintf(out[i].state, sizeof out[i].state, "%.*s", (int)st.len, (const char *)st.p);
        }
        if (flex)
            assert_int_equal(rl_get_uvarint(&rd), 0);
    }
    if (flex)
        assert_int_equal(rl_get_uvarint(&rd), 0);
    assert_false(rd.err);
    assert_int_equal(rl_reader_left(&rd), 0);
    rl_buf_free(&req);
    rl_buf_free(&resp);
    return n;
}

static const listed *find_listed(const listed *v, int n, const char *group)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v[i].group, group) == 0)
            return &v[i];
    return NULL;
}

/* Two groups: "g-a" with one member (Stable after its SyncGroup) and "g-off" holding only a
 * committed offset (Empty). */
static int two_groups(fixture *fx, joined *j)
{
    int32_t p[1] = {0};
    int64_t o[1] = {4};
    commit_offsets(fx->st.port, "g-off", -1, "", "orders", 1, p, o);
    int fd = kt_connect(fx->st.port);
    join_and_sync(fd, "g-a", "md-bytes", "assignment", j);
    return fd;
}

static void test_list_groups_raw(void **state)
{
    fixture *fx = *state;
    joined j;
    int member_fd = two_groups(fx, &j);
    int fd = kt_connect(fx->st.port);
    listed v[8];
    for (int16_t ver = 0; ver <= 4; ver++) {
        int n = list_groups(fd, ver, NULL, 0, v, 8);
        assert_int_equal(n, 2);
        const listed *a = find_listed(v, n, "g-a"), *off = find_listed(v, n, "g-off");
        assert_non_null(a);
        assert_non_null(off);
        assert_string_equal(a->ptype, "consumer");
        assert_string_equal(off->ptype, "");
        if (ver >= 4) {
            assert_string_equal(a->state, "Stable");
            assert_string_equal(off->state, "Empty");
        }
    }
    /* v4 states filter, case-insensitive as Kafka's. */
    const char *stable[1] = {"stable"};
    int n = list_groups(fd, 4, stable, 1, v, 8);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].group, "g-a");
    const char *both[2] = {"Empty", "PreparingRebalance"};
    n = list_groups(fd, 4, both, 2, v, 8);
    assert_int_equal(n, 1);
    assert_string_equal(v[0].group, "g-off");
    const char *none[1] = {"Dead"};
    assert_int_equal(list_groups(fd, 4, none, 1, v, 8), 0);
    close(fd);
    close(member_fd);
}

/* DescribeGroups v of g-a, an unknown group and an empty id, checked field by field. */
static void describe_check(int fd, int16_t v, const joined *j)
{
    bool flex = v >= 5;
    rl_buf req = RL_BUF_INIT, resp = RL_BUF_INIT;
    kt_req_begin(&req, 15, v, 150 + v);
    if (flex)
        rl_buf_putc(&req, 0);
    const char *ids[3] = {"g-a", "nosuch", ""};
    if (flex)
        rl_buf_put_uvarint(&req, 4);
    else
        rl_buf_put_be32(&req, 3);
    for (int i = 0; i < 3; i++)
        put_fstr(&req, flex, ids[i]);
    if (v >= 3)
        rl_buf_putc(&req, 1); /* include_authorized_operations */
    if (flex)
        rl_buf_putc(&req, 0);
    kt_req_end(&req);
    rl_reader rd = kt_call(fd, &req, &resp);
    if (flex)
        assert_int_equal(rl_get_uvarint(&rd), 0);
    if (v >= 1)
        assert_int_equal(rl_get_i32be(&rd), 0);
    assert_int_equal(get_fcount(&rd, flex), 3);
    for (int i = 0; i < 3; i++) {
        int16_t ec = rl_get_i16be(&rd);
        assert_int_equal(ec, i == 2 ? 24 : 0);
        assert_true(rl_slice_eq_str(get_fstr(&rd, flex), ids[i]));
        rl_slice st = get_fstr(&rd, flex), pt = get_fstr(&rd, flex), pd = get_fstr(&rd, flex);
        int32_t nm = get_fcount(&rd, flex);
        if (i == 0) {
            assert_true(rl_slice_eq_str(st, "Stable"));
            assert_true(rl_slice_eq_str(pt, "consumer"));
            assert_true(rl_slice_eq_str(pd, "range"));
            assert_int_equal(nm, 1);
            assert_true(rl_slice_eq_str(get_fstr(&rd, flex), j->member));
            if (v >= 4)
                assert_null(get_fstr(&rd, flex).p); /* group_instance_id */
            assert_true(rl_slice_eq_str(get_fstr(&rd, flex), "raw-test"));
            assert_true(rl_slice_eq_str(get_fstr(&rd, flex), "/127.0.0.1"));
            assert_true(rl_slice_eq_str(get_fbytes(&rd, flex), "md-bytes"));
            assert_true(rl_slice_eq_str(get_fbytes(&rd, flex), "assignment"));
            if (flex)
                assert_int_equal(rl_get_uvarint(&rd), 0);
        } else {
            assert_true(rl_slice_eq_str(st, i == 1 ? "Dead" : ""));
            assert_int_equal(pt.len, 0);
            assert_int_equal(pd.len, 0);
            assert_int_equal(nm, 0);
        }
        if (v >= 3)
            assert_int_equal(rl_get_i32be(&rd), INT32_MIN);
        if (flex)
            assert_int_equal(rl_get_uvarint(&rd), 0);
    }
    if (flex)
        assert_int_equal(rl_get_uvarint(&rd), 0);
    assert_false(rd.err);
    assert_int_equal(rl_reader_left(&rd), 0);
    rl_buf_free(&req);
    rl_buf_free(&resp);
}

static void test_describe_groups_raw(void **state)
{
    fixture *fx = *state;
    joined j;
    int member_fd = two_groups(fx, &j);
    int fd = kt_connect(fx->st.port);
    for (int16_t v = 0; v <= 5; v++)
        describe_check(fd, v, &j);
    close(fd);
    close(member_fd);
}

static void test_list_groups_rdkafka(void **state)
{
    fixture *fx = *state;
    joined j;
    int member_fd = two_groups(fx, &j);
    char bootstrap[64], errstr[256];
    snprintf(bootstrap, sizeof bootstrap, "127.0.0.1:%u", fx->st.port);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof errstr),
                     RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    assert_non_null(rk);

    const struct rd_kafka_group_list *gl = NULL;
    rd_kafka_resp_err_t e = rd_kafka_list_groups(rk, NULL, &gl, 10000);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        fail_msg("rd_kafka_list_groups: %s", rd_kafka_err2str(e));
    assert_int_equal(gl->group_cnt, 2);
    bool seen_a = false, seen_off = false;
    for (int i = 0; i < gl->group_cnt; i++) {
        const struct rd_kafka_group_info *gi = &gl->groups[i];
        assert_int_equal(gi->err, 0);
        if (strcmp(gi->group, "g-a") == 0) {
            seen_a = true;
            assert_string_equal(gi->state, "Stable");
            assert_string_equal(gi->protocol_type, "consumer");
            assert_string_equal(gi->protocol, "range");
            assert_int_equal(gi->member_cnt, 1);
            const struct rd_kafka_group_member_info *m = &gi->members[0];
            assert_string_equal(m->member_id, j.member);
            assert_string_equal(m->client_id, "raw-test");
            assert_string_equal(m->client_host, "/127.0.0.1");
            assert_int_equal(m->member_metadata_size, 8);
            assert_memory_equal(m->member_metadata, "md-bytes", 8);
            assert_int_equal(m->member_assignment_size, 10);
            assert_memory_equal(m->member_assignment, "assignment", 10);
        } else if (strcmp(gi->group, "g-off") == 0) {
            seen_off = true;
            assert_string_equal(gi->state, "Empty");
            assert_int_equal(gi->member_cnt, 0);
        }
    }
    assert_true(seen_a && seen_off);
    rd_kafka_group_list_destroy(gl);

    /* One group by name. */
    e = rd_kafka_list_groups(rk, "g-a", &gl, 10000);
    assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(gl->group_cnt, 1);
    assert_string_equal(gl->groups[0].group, "g-a");
    assert_int_equal(gl->groups[0].member_cnt, 1);
    rd_kafka_group_list_destroy(gl);
    rd_kafka_destroy(rk);
    close(member_fd);
}

/* ------------------------------------------------------------------ per-request caps */

/* Sends b and expects the server to close the connection without answering. */
static void expect_close(unsigned port, const rl_buf *b, const char *what)
{
    int fd = kt_connect(port);
    (void)kt_send(fd, b->p, b->len);
    if (!kt_closed(fd))
        fail_msg("%s: the connection was not closed", what);
    close(fd);
}

/* Metadata v1 naming `n` topics, all "orders". */
static void metadata_req(rl_buf *b, int32_t n)
{
    kt_req_begin(b, 3, 1, 31);
    rl_buf_put_be32(b, (uint32_t)n);
    for (int32_t i = 0; i < n; i++)
        kt_put_str(b, "orders");
    kt_req_end(b);
}

/* ListOffsets v1, topic "orders" with n partition entries (earliest). */
static void list_offsets_req(rl_buf *b, int32_t n)
{
    kt_req_begin(b, 2, 1, 21);
    rl_buf_put_be32(b, (uint32_t)-1);
    rl_buf_put_be32(b, 1);
    kt_put_str(b, "orders");
    rl_buf_put_be32(b, (uint32_t)n);
    for (int32_t i = 0; i < n; i++) {
        rl_buf_put_be32(b, (uint32_t)(i % 4));
        rl_buf_put_be64(b, (uint64_t)-2);
    }
    kt_req_end(b);
}

static void test_request_caps(void **state)
{
    fixture *fx = *state;
    unsigned port = fx->st.port;
    rl_buf b = RL_BUF_INIT, resp = RL_BUF_INIT;
    kafka_server_stats st0, st1;
    kafka_server_stats_get(fx->st.srv, &st0);

    /* Metadata: 10,000 topics are answered, 10,001 close the connection. */
    metadata_req(&b, 10000);
    int fd = kt_connect(port);
    rl_reader rd = kt_call(fd, &b, &resp);
    (void)rl_get_i32be(&rd); /* brokers */
    close(fd);
    metadata_req(&b, 10001);
    expect_close(port, &b, "Metadata with 10,001 topics");

    /* ListOffsets: 100,000 partitions answered (every entry), 100,001 refused. */
    list_offsets_req(&b, 100000);
    fd = kt_connect(port);
    rd = kt_call(fd, &b, &resp);
    assert_int_equal(rl_get_i32be(&rd), 1);
    assert_true(rl_slice_eq_str(kt_get_str(&rd), "orders"));
    assert_int_equal(rl_get_i32be(&rd), 100000);
    close(fd);
    list_offsets_req(&b, 100001);
    expect_close(port, &b, "ListOffsets with 100,001 partitions");

    /* OffsetCommit of 100,001 partitions. */
    kt_req_begin(&b, 8, 7, 81);
    kt_put_str(&b, "g-caps");
    rl_buf_put_be32(&b, (uint32_t)-1);
    kt_put_str(&b, "");
    rl_buf_put_be16(&b, (uint16_t)-1);
    rl_buf_put_be32(&b, 1);
    kt_put_str(&b, "orders");
    rl_buf_put_be32(&b, 100001);
    for (int i = 0; i < 100001; i++) {
        rl_buf_put_be32(&b, 0);
        rl_buf_put_be64(&b, 1);
        rl_buf_put_be32(&b, (uint32_t)-1);
        rl_buf_put_be16(&b, (uint16_t)-1);
    }
    kt_req_end(&b);
    expect_close(port, &b, "OffsetCommit with 100,001 partitions");

    /* Fetch v4 with 10,001 topics. */
    kt_req_begin(&b, 1, 4, 11);
    rl_buf_put_be32(&b, (uint32_t)-1);
    rl_buf_put_be32(&b, 0);
    rl_buf_put_be32(&b, 1);
    rl_buf_put_be32(&b, 1 << 20);
    rl_buf_putc(&b, 0);
    rl_buf_put_be32(&b, 10001);
    for (int i = 0; i < 10001; i++) {
        kt_put_str(&b, "orders");
        rl_buf_put_be32(&b, 0);
    }
    kt_req_end(&b);
    expect_close(port, &b, "Fetch with 10,001 topics");

    /* DescribeGroups of 1,001 groups. */
    kt_req_begin(&b, 15, 0, 151);
    rl_buf_put_be32(&b, 1001);
    for (int i = 0; i < 1001; i++)
        kt_put_str(&b, "g");
    kt_req_end(&b);
    expect_close(port, &b, "DescribeGroups with 1,001 groups");

    /* OffsetFetch: 17,000 answers carrying 4 KiB of committed metadata each would be a
     * 68 MiB response from a 68 KiB request; the response cap closes it. */
    char md[4097];
    memset(md, 'm', 4096);
    md[4096] = 0;
    kt_req_begin(&b, 8, 7, 82);
    kt_put_str(&b, "g-caps");
    rl_buf_put_be32(&b, (uint32_t)-1);
    kt_put_str(&b, "");
    rl_buf_put_be16(&b, (uint16_t)-1);
    rl_buf_put_be32(&b, 1);
    kt_put_str(&b, "orders");
    rl_buf_put_be32(&b, 4);
    for (int i = 0; i < 4; i++) {
        rl_buf_put_be32(&b, (uint32_t)i);
        rl_buf_put_be64(&b, 1);
        rl_buf_put_be32(&b, (uint32_t)-1);
        kt_put_str(&b, md);
    }
    kt_req_end(&b);
    fd = kt_connect(port);
    rd = kt_call(fd, &b, &resp);
    close(fd);
    kt_req_begin(&b, 9, 5, 91);
    kt_put_str(&b, "g-caps");
    rl_buf_put_be32(&b, 1);
    kt_put_str(&b, "orders");
    rl_buf_put_be32(&b, 17000);
    for (int i = 0; i < 17000; i++)
        rl_buf_put_be32(&b, (uint32_t)(i % 4));
    kt_req_end(&b);
    expect_close(port, &b, "OffsetFetch answering 68 MiB");

    /* Every refusal was counted, and the server still answers. */
    kafka_server_stats_get(fx->st.srv, &st1);
    assert_int_equal(st1.protocol_errors - st0.protocol_errors, 6);
    metadata_req(&b, 1);
    fd = kt_connect(port);
    rd = kt_call(fd, &b, &resp);
    assert_int_equal(rl_get_i32be(&rd), 1);
    close(fd);
    rl_buf_free(&b);
    rl_buf_free(&resp);
}

/* ------------------------------------------------------------------ compacted offsets store */

/* Commits offsets[0..4) for partitions 0-3 of "orders" in group g with metadata md. */
static void commit4(int fd, const char *g, const int64_t *offsets, const char *md)
{
    rl_buf b = RL_BUF_INIT, resp = RL_BUF_INIT;
    kt_req_begin(&b, 8, 7, 83);
    kt_put_str(&b, g);
    rl_buf_put_be32(&b, (uint32_t)-1);
    kt_put_str(&b, "");
    rl_buf_put_be16(&b, (uint16_t)-1);
    rl_buf_put_be32(&b, 1);
    kt_put_str(&b, "orders");
    rl_buf_put_be32(&b, 4);
    for (int i = 0; i < 4; i++) {
        rl_buf_put_be32(&b, (uint32_t)i);
        rl_buf_put_be64(&b, (uint64_t)offsets[i]);
        rl_buf_put_be32(&b, (uint32_t)-1);
        kt_put_str(&b, md);
    }
    kt_req_end(&b);
    rl_reader rd = kt_call(fd, &b, &resp);
    assert_int_equal(rl_get_i32be(&rd), 0);
    assert_int_equal(rl_get_i32be(&rd), 1);
    (void)kt_get_str(&rd);
    assert_int_equal(rl_get_i32be(&rd), 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(rl_get_i32be(&rd), i);
        assert_int_equal(rl_get_i16be(&rd), 0);
    }
    rl_buf_free(&b);
    rl_buf_free(&resp);
}

/* OffsetFetch v5 of partitions 0-3: offsets and the first byte of each metadata. */
static void fetch4(unsigned port, const char *g, int64_t *offsets, size_t *md_len)
{
    rl_buf b = RL_BUF_INIT, resp = RL_BUF_INIT;
    int fd = kt_connect(port);
    kt_req_begin(&b, 9, 5, 92);
    kt_put_str(&b, g);
    rl_buf_put_be32(&b, 1);
    kt_put_str(&b, "orders");
    rl_buf_put_be32(&b, 4);
    for (int i = 0; i < 4; i++)
        rl_buf_put_be32(&b, (uint32_t)i);
    kt_req_end(&b);
    rl_reader rd = kt_call(fd, &b, &resp);
    assert_int_equal(rl_get_i32be(&rd), 0);
    assert_int_equal(rl_get_i32be(&rd), 1);
    (void)kt_get_str(&rd);
    assert_int_equal(rl_get_i32be(&rd), 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(rl_get_i32be(&rd), i);
        offsets[i] = rl_get_i64be(&rd);
        (void)rl_get_i32be(&rd);
        md_len[i] = kt_get_str(&rd).len;
        assert_int_equal(rl_get_i16be(&rd), 0);
    }
    assert_false(rd.err);
    close(fd);
    rl_buf_free(&b);
    rl_buf_free(&resp);
}

static int count_record(void *ctx, const log_record *rec)
{
    (void)rec;
    (*(size_t *)ctx)++;
    return 0;
}

/* Records left in the offsets store (the server must be stopped: the store is locked). */
static size_t offsets_store_records(const char *dir)
{
    log_store_t *store = NULL;
    rl_err err = {0};
    if (log_store_open(&store, dir, NULL, &err) != 0)
        fail_msg("open %s: %s", dir, err.msg);
    int64_t start, hwm;
    assert_int_equal(log_store_offsets(store, "__consumer_offsets", 0, &start, &hwm), 0);
    size_t count = 0;
    rl_buf scratch = RL_BUF_INIT;
    int64_t next = start;
    while (next < hwm) {
        log_read lr;
        memset(&lr, 0, sizeof lr);
        if (log_store_read(store, "__consumer_offsets", 0, next, 1 << 20, &lr, &err) != 0)
            fail_msg("read at %" PRId64 ": %s", next, err.msg);
        rl_slice bytes = lr.bytes;
        int64_t before = next;
        while (bytes.len >= 27) {
            rl_reader hd = rl_reader_make(bytes);
            int64_t base = rl_get_i64be(&hd);
            rl_reader_skip(&hd, 15);
            int32_t last = rl_get_i32be(&hd);
            int n = log_batch_decode(bytes, &scratch, 64 << 20, base >= next ? count_record : NULL,
                                     &count, &err);
            if (n == RL_EAGAIN)
                break;
            if (n < 0)
                fail_msg("decode: %s", err.msg);
            next = base + last + 1;
            bytes.p += n;
            bytes.len -= (size_t)n;
        }
        log_read_release(&lr);
        assert_true(next > before);
    }
    rl_buf_free(&scratch);
    log_store_close(store);
    return count;
}

static void test_offsets_compacted(void **state)
{
    fixture *fx = *state;
    kt_server_stop(&fx->st);
    fx->ko.offsets_segment_bytes = 1 << 20;
    fx->ko.offsets_compact_interval_ms = 50;
    kt_server_start(&fx->st, fx->store, &fx->ko);

    /* 300 commits of the same 4 keys with 4,000 bytes of metadata each: ~5 MiB of records,
     * five sealed segments of 1 MiB; compaction keeps the latest record per key. */
    enum { NCOMMITS = 300 };
    char md[4001];
    memset(md, 'x', 4000);
    md[4000] = 0;
    int fd = kt_connect(fx->st.port);
    int64_t offs[4];
    for (int c = 0; c < NCOMMITS; c++) {
        for (int i = 0; i < 4; i++)
            offs[i] = c * 10 + i;
        if (c == NCOMMITS - 1)
            md[7] = 0; /* the last metadata is 7 bytes, so replay must find the last one */
        commit4(fd, "g-compact", offs, md);
    }
    close(fd);
    /* Wait for at least 4 compacted segments, then for the count to settle: a pass runs only
     * when a segment was sealed since the last one, so once the last sealed segment is
     * compacted the count stops moving (stopping at the first 4 could leave a later sealed
     * segment uncompacted on a slow machine). */
    int64_t deadline = kt_now_ms() + 20000;
    kafka_server_stats st;
    uint64_t seen = 0;
    int64_t seen_since = kt_now_ms();
    for (;;) {
        kafka_server_stats_get(fx->st.srv, &st);
        if (st.offsets_compacted != seen) {
            seen = st.offsets_compacted;
            seen_since = kt_now_ms();
        }
        if (seen >= 4 && kt_now_ms() - seen_since >= 1000)
            break;
        if (kt_now_ms() > deadline)
            fail_msg("offsets store: %" PRIu64 " segments compacted in 20 s", st.offsets_compacted);
        kt_sleep_ms(20);
    }
    kt_server_stop(&fx->st);
    size_t left = offsets_store_records(fx->offsets_dir);
    /* At most the active segment's records (1 MiB / 16 KiB per commit = 64 commits) plus one
     * per key in the sealed ones, out of 1,200 written. */
    if (left > 4 * 70)
        fail_msg("%zu records left of %d after compaction", left, 4 * NCOMMITS);

    /* Replay over the compacted log gives the latest commit of each key. */
    kt_server_start(&fx->st, fx->store, &fx->ko);
    int64_t got[4];
    size_t md_len[4];
    fetch4(fx->st.port, "g-compact", got, md_len);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(got[i], (NCOMMITS - 1) * 10 + i);
        assert_int_equal(md_len[i], 7);
    }
    kafka_committed_offset *v = NULL;
    size_t n = 0;
    assert_int_equal(kafka_server_committed_offsets(fx->st.srv, &v, &n), 0);
    assert_int_equal(n, 4);
    assert_int_equal(v[3].offset, (NCOMMITS - 1) * 10 + 3);
    free(v);
}

/* ------------------------------------------------------------------ fuzz seed corpus */

#include <dirent.h>

/* Every seed of the request fuzzer is real requests: sent to a server as they are, each is
 * answered with its correlation id and the connection stays open, so the fuzzer starts from
 * inputs that reach the handlers, not from ones the header check throws away. */
static void test_fuzz_corpus_answered(void **state)
{
    fixture *fx = *state;
    const char *dir = RL_FUZZ_CORPUS;
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("%s: %s", dir, strerror(errno));
    struct dirent *de;
    int files = 0;
    rl_buf in = RL_BUF_INIT, resp = RL_BUF_INIT;
    kafka_server_opts ko;
    kafka_server_opts_init(&ko); /* committed offsets in memory, as in the fuzzer */
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        rl_buf_reset(&in);
        uint8_t chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
            rl_buf_append(&in, chunk, n);
        fclose(f);
        /* A fresh server per seed, as the fuzzer has: members left by an earlier seed would
         * make a JoinGroup wait for them to rejoin or time out. */
        kt_server one;
        kt_server_start(&one, fx->store, &ko);
        int fd = kt_connect(one.port);
        assert_true(kt_send(fd, in.p, in.len));
        rl_reader rd = rl_reader_make(rl_buf_slice(&in));
        int frames = 0;
        while (rl_reader_left(&rd) > 0) {
            int32_t size = rl_get_i32be(&rd);
            rl_reader fr = rl_reader_make(rl_get_bytes(&rd, (size_t)size));
            assert_false(rd.err);
            rl_reader_skip(&fr, 4);
            int32_t corr = rl_get_i32be(&fr);
            if (!kt_recv_frame_or_close(fd, &resp))
                fail_msg("%s: request %d (correlation id %d) not answered", de->d_name, frames,
                         corr);
            rl_reader r2 = rl_reader_make(rl_buf_slice(&resp));
            assert_int_equal(rl_get_i32be(&r2), corr);
            frames++;
        }
        assert_true(frames > 0);
        close(fd);
        kt_server_stop(&one);
        files++;
    }
    closedir(d);
    assert_true(files >= 70);
    rl_buf_free(&in);
    rl_buf_free(&resp);
}

/* ------------------------------------------------------------------ librdkafka admin API */

/* What kafka-consumer-groups-style tools do, through librdkafka's admin API (ListGroups v4
 * with a states filter, DescribeGroups, OffsetFetch): a member with a real consumer-protocol
 * assignment (orders 0 and 1), and a group holding only committed offsets. */
static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, rd_kafka_event_type_t type)
{
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 15000);
    if (!ev)
        fail_msg("admin request: no result in 15 s");
    assert_int_equal(rd_kafka_event_type(ev), type);
    if (rd_kafka_event_error(ev))
        fail_msg("admin request: %s", rd_kafka_event_error_string(ev));
    return ev;
}

static void test_admin_api(void **state)
{
    fixture *fx = *state;
    /* ConsumerProtocol (Kafka's ConsumerProtocolSubscription/Assignment v0): version int16,
     * topics array of string [+ partitions array of int32 for the assignment], user_data
     * bytes (null). */
    rl_buf md = RL_BUF_INIT, as = RL_BUF_INIT;
    rl_buf_put_be16(&md, 0);
    rl_buf_put_be32(&md, 1);
    kt_put_str(&md, "orders");
    rl_buf_put_be32(&md, (uint32_t)-1);
    rl_buf_put_be16(&as, 0);
    rl_buf_put_be32(&as, 1);
    kt_put_str(&as, "orders");
    rl_buf_put_be32(&as, 2);
    rl_buf_put_be32(&as, 0);
    rl_buf_put_be32(&as, 1);
    rl_buf_put_be32(&as, (uint32_t)-1);
    int fd = kt_connect(fx->st.port);
    joined j;
    join_and_sync_bytes(fd, "g-admin", rl_buf_slice(&md), rl_buf_slice(&as), &j);
    int32_t p[1] = {2};
    int64_t o[1] = {17};
    commit_offsets(fx->st.port, "g-off", -1, "", "orders", 1, p, o);

    char bootstrap[64], errstr[256];
    snprintf(bootstrap, sizeof bootstrap, "127.0.0.1:%u", fx->st.port);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof errstr),
                     RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    assert_non_null(rk);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);

    /* ListConsumerGroups, all states, then Stable only. */
    for (int filtered = 0; filtered <= 1; filtered++) {
        rd_kafka_AdminOptions_t *ao =
            rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS);
        if (filtered) {
            rd_kafka_consumer_group_state_t st = RD_KAFKA_CONSUMER_GROUP_STATE_STABLE;
            assert_null(rd_kafka_AdminOptions_set_match_consumer_group_states(ao, &st, 1));
        }
        rd_kafka_ListConsumerGroups(rk, ao, q);
        rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_LISTCONSUMERGROUPS_RESULT);
        const rd_kafka_ListConsumerGroups_result_t *res =
            rd_kafka_event_ListConsumerGroups_result(ev);
        size_t nerr = 0, n = 0;
        (void)rd_kafka_ListConsumerGroups_result_errors(res, &nerr);
        assert_int_equal(nerr, 0);
        const rd_kafka_ConsumerGroupListing_t **gl =
            rd_kafka_ListConsumerGroups_result_valid(res, &n);
        assert_int_equal(n, filtered ? 1 : 2);
        for (size_t i = 0; i < n; i++) {
            const char *g = rd_kafka_ConsumerGroupListing_group_id(gl[i]);
            rd_kafka_consumer_group_state_t st = rd_kafka_ConsumerGroupListing_state(gl[i]);
            if (strcmp(g, "g-admin") == 0) {
                assert_int_equal(st, RD_KAFKA_CONSUMER_GROUP_STATE_STABLE);
                assert_false(rd_kafka_ConsumerGroupListing_is_simple_consumer_group(gl[i]));
            } else {
                assert_false(filtered);
                assert_string_equal(g, "g-off");
                assert_int_equal(st, RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY);
                assert_true(rd_kafka_ConsumerGroupListing_is_simple_consumer_group(gl[i]));
            }
        }
        rd_kafka_event_destroy(ev);
        rd_kafka_AdminOptions_destroy(ao);
    }

    /* DescribeConsumerGroups: the member, its client id and host, its assignment. */
    const char *groups[1] = {"g-admin"};
    rd_kafka_DescribeConsumerGroups(rk, groups, 1, NULL, q);
    rd_kafka_event_t *ev = admin_wait(q, RD_KAFKA_EVENT_DESCRIBECONSUMERGROUPS_RESULT);
    size_t n = 0;
    const rd_kafka_ConsumerGroupDescription_t **gd = rd_kafka_DescribeConsumerGroups_result_groups(
        rd_kafka_event_DescribeConsumerGroups_result(ev), &n);
    assert_int_equal(n, 1);
    assert_null(rd_kafka_ConsumerGroupDescription_error(gd[0]));
    assert_int_equal(rd_kafka_ConsumerGroupDescription_state(gd[0]),
                     RD_KAFKA_CONSUMER_GROUP_STATE_STABLE);
    assert_string_equal(rd_kafka_ConsumerGroupDescription_partition_assignor(gd[0]), "range");
    assert_int_equal(rd_kafka_ConsumerGroupDescription_member_count(gd[0]), 1);
    const rd_kafka_MemberDescription_t *m = rd_kafka_ConsumerGroupDescription_member(gd[0], 0);
    assert_string_equal(rd_kafka_MemberDescription_consumer_id(m), j.member);
    assert_string_equal(rd_kafka_MemberDescription_client_id(m), "raw-test");
    assert_string_equal(rd_kafka_MemberDescription_host(m), "/127.0.0.1");
    const rd_kafka_topic_partition_list_t *parts =
        rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(m));
    assert_non_null(parts);
    assert_int_equal(parts->cnt, 2);
    assert_string_equal(parts->elems[0].topic, "orders");
    assert_int_equal(parts->elems[0].partition, 0);
    assert_int_equal(parts->elems[1].partition, 1);
    rd_kafka_event_destroy(ev);

    /* ListConsumerGroupOffsets of the offsets-only group. */
    rd_kafka_topic_partition_list_t *want = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(want, "orders", 2);
    rd_kafka_ListConsumerGroupOffsets_t *lo = rd_kafka_ListConsumerGroupOffsets_new("g-off", want);
    rd_kafka_ListConsumerGroupOffsets(rk, &lo, 1, NULL, q);
    ev = admin_wait(q, RD_KAFKA_EVENT_LISTCONSUMERGROUPOFFSETS_RESULT);
    const rd_kafka_group_result_t **gr = rd_kafka_ListConsumerGroupOffsets_result_groups(
        rd_kafka_event_ListConsumerGroupOffsets_result(ev), &n);
    assert_int_equal(n, 1);
    const rd_kafka_topic_partition_list_t *got = rd_kafka_group_result_partitions(gr[0]);
    assert_int_equal(got->cnt, 1);
    assert_int_equal(got->elems[0].offset, 17);
    rd_kafka_event_destroy(ev);
    rd_kafka_ListConsumerGroupOffsets_destroy(lo);
    rd_kafka_topic_partition_list_destroy(want);

    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
    close(fd);
    rl_buf_free(&md);
    rl_buf_free(&as);
}

int main(void)
{
    rl_log_set_level(RL_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_committed_offsets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_committed_offsets_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_groups_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_describe_groups_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_groups_rdkafka, setup, teardown),
        cmocka_unit_test_setup_teardown(test_admin_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_caps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_offsets_compacted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fuzz_corpus_answered, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
