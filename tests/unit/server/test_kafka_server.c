/*
 * test_kafka_server.c - the Kafka server against real clients.
 *
 * Opens a log in a temporary directory, appends keyed JSON records to "orders" (4 partitions)
 * and "users" (1 partition) with the codec named by argv[1] (none, lz4 or zstd; default lz4),
 * commits them in several batches, starts kafka_server on port 0 on a libev loop in its own
 * thread, then checks the server with:
 *   - kcat subprocesses (metadata, consuming every partition with CRC checks, offsets inside
 *     a batch, relative and timestamp offsets, small fetch sizes, negotiated versions,
 *     refused produce), each under `timeout 30`;
 *   - librdkafka in-process (all partitions through one queue; long-poll woken by an append
 *     committed from another thread and kafka_server_notify);
 *   - a raw socket speaking the protocol byte by byte (layouts per the Kafka message schemas,
 *     pipelined requests with backpressure, malformed, oversized and unsupported requests).
 * Expected records are computed here from what was appended (partition = Kafka's murmur2
 * partitioner, offsets in append order), never taken from the server.
 * Exit code 77 (skipped) when kcat is not installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <ev.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/rl.h"
#include "log/log.h"
#include "server/kafka.h"

#include "kafka_test_util.h"

#define KCAT "/usr/bin/kcat"
#define T0_MS INT64_C(1700000000000)
#define MAX_RECS 2048
#define MAX_REQUEST_BYTES (1u << 20)

enum { T_ORDERS = 0, T_USERS = 1, NTOPICS = 2 };
static const char *const topic_names[NTOPICS] = {"orders", "users"};
static const uint32_t topic_parts[NTOPICS] = {4, 1};

typedef struct rec {
    int topic;
    uint32_t partition;
    int64_t offset;
    int64_t ts;
    char key[32];
    char value[640];
} rec;

/* A kafka_server on its own libev loop and thread. */
typedef struct server_thread {
    struct ev_loop *loop;
    ev_async stop_w;
    pthread_t thread;
    kafka_server_t *srv;
    unsigned port;
} server_thread;

typedef struct fixture {
    char dir[128];
    char offsets_dir[160];
    int compression;
    log_store_t *store;
    server_thread st;
    kafka_server_t *srv;
    unsigned port;
    char bootstrap[64];
    rec recs[MAX_RECS];
    size_t nrecs;
    int64_t next_offset[NTOPICS][4];
    int next_index[NTOPICS];
} fixture;

/* ------------------------------------------------------------------ helpers */

static void value_for(char *out, size_t outlen, int topic, int i)
{
    /* JSON of varying length (60-560 bytes), so batches and fetch cuts fall anywhere. */
    char pad[512];
    size_t n = (size_t)((i * 37) % 500);
    for (size_t k = 0; k < n; k++)
        pad[k] = (char)('a' + (i + (int)k) % 26);
    pad[n] = 0;
    snprintf(out, outlen, "{\"id\":%d,\"table\":\"%s\",\"total\":%d.%02d,\"note\":\"%s\"}", i,
             topic_names[topic], i * 7, i % 100, pad);
}

/* Appends one record to topic (writer thread) and records what is expected of it. */
static void append_rec(fixture *fx, int topic)
{
    assert_true(fx->nrecs < MAX_RECS);
    rec *r = &fx->recs[fx->nrecs++];
    int i = fx->next_index[topic]++;
    r->topic = topic;
    snprintf(r->key, sizeof r->key, "%s-%d", topic == T_ORDERS ? "order" : "user", i);
    value_for(r->value, sizeof r->value, topic, i);
    r->ts = T0_MS + (int64_t)i * 1000;
    r->partition = rl_partition_for_key(r->key, strlen(r->key), topic_parts[topic]);
    r->offset = fx->next_offset[topic][r->partition]++;
    rl_err err = {0};
    int rc = log_store_append(fx->store, rl_slice_str(topic_names[topic]), rl_slice_str(r->key),
                              rl_slice_str(r->value), r->ts, &err);
    if (rc != 0)
        fail_msg("append: %s", err.msg);
}

static void commit(fixture *fx)
{
    rl_err err = {0};
    int rc = log_store_commit(fx->store, rl_slice_str("test-checkpoint"), &err);
    if (rc != 0)
        fail_msg("commit: %s", err.msg);
}

/* Expected kcat -f '%o %k %s\n' output for a partition from offset `from` (inclusive). */
static void expected_lines(const fixture *fx, int topic, uint32_t partition, int64_t from,
                           rl_buf *out)
{
    rl_buf_reset(out);
    for (size_t i = 0; i < fx->nrecs; i++) {
        const rec *r = &fx->recs[i];
        if (r->topic == topic && r->partition == partition && r->offset >= from)
            rl_buf_printf(out, "%" PRId64 " %s %s\n", r->offset, r->key, r->value);
    }
    (void)rl_buf_cstr(out);
}

static int64_t hwm_of(const fixture *fx, int topic, uint32_t partition)
{
    return fx->next_offset[topic][partition];
}

/* Runs a shell command; stdout into out (NUL-terminated). Returns the exit status, -1 when
 * it did not exit normally. */
static int run(rl_buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run(rl_buf *out, const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    rl_buf_reset(out);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, p)) > 0)
        rl_buf_append(out, tmp, n);
    (void)rl_buf_cstr(out);
    int st = pclose(p);
    if (st == -1 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

static void show_stderr(const fixture *fx)
{
    char path[256];
    snprintf(path, sizeof path, "%s/kcat.err", fx->dir);
    rl_buf b = RL_BUF_INIT;
    if (rl_file_read_all(path, &b, 1 << 20, NULL) == 0)
        fprintf(stderr, "--- kcat stderr ---\n%.*s\n---\n", (int)b.len, (const char *)b.p);
    rl_buf_free(&b);
}

/* kcat -C of one partition, compared with the expected lines. */
static void kcat_consume_check(fixture *fx, int topic, uint32_t partition, const char *offset,
                               int64_t expect_from, const char *extra)
{
    rl_buf got = RL_BUF_INIT, want = RL_BUF_INIT;
    int st = run(&got,
                 "timeout 30 " KCAT " -b %s -C -t %s -p %u -o %s -e -q -X check.crcs=true %s "
                 "-f '%%o %%k %%s\\n' 2>%s/kcat.err",
                 fx->bootstrap, topic_names[topic], partition, offset, extra ? extra : "",
                 fx->dir);
    expected_lines(fx, topic, partition, expect_from, &want);
    if (st != 0 || got.len != want.len || memcmp(got.p, want.p, want.len) != 0) {
        show_stderr(fx);
        fprintf(stderr, "kcat %s-%u -o %s %s: exit %d, got %zu bytes, want %zu bytes\n",
                topic_names[topic], partition, offset, extra ? extra : "", st, got.len,
                want.len);
        size_t i = 0;
        while (i < got.len && i < want.len && got.p[i] == want.p[i])
            i++;
        fprintf(stderr, "first difference at byte %zu:\n got: %.80s\nwant: %.80s\n", i,
                (const char *)got.p + (i < got.len ? i : 0),
                (const char *)want.p + (i < want.len ? i : 0));
        fail();
    }
    rl_buf_free(&got);
    rl_buf_free(&want);
}

static void stats(const fixture *fx, kafka_server_stats *st)
{
    kafka_server_stats_get(fx->srv, st);
}

/* ------------------------------------------------------------------ raw protocol client */

/* The raw client of kafka_test_util.h (kt_connect, kt_recv_frame, kt_req_begin, ...). */
static int raw_connect(const fixture *fx) { return kt_connect(fx->port); }

static void raw_send(int fd, const void *p, size_t n)
{
    if (!kt_send(fd, p, n))
        fail_msg("send: %s", strerror(errno));
}

/* Fetch request, one topic, one partition. */
static void fetch_req(rl_buf *b, int16_t v, int32_t corr, int32_t max_wait, int32_t min_bytes,
                      int32_t max_bytes, const char *topic, int32_t partition, int64_t offset,
                      int32_t part_max)
{
    kt_req_begin(b, 1, v, corr);
    rl_buf_put_be32(b, (uint32_t)-1); /* replica_id */
    rl_buf_put_be32(b, (uint32_t)max_wait);
    rl_buf_put_be32(b, (uint32_t)min_bytes);
    rl_buf_put_be32(b, (uint32_t)max_bytes);
    rl_buf_putc(b, 1); /* read_committed */
    if (v >= 7) {
        rl_buf_put_be32(b, 0);
        rl_buf_put_be32(b, (uint32_t)-1);
    }
    rl_buf_put_be32(b, 1);
    kt_put_str(b, topic);
    rl_buf_put_be32(b, 1);
    rl_buf_put_be32(b, (uint32_t)partition);
    if (v >= 9)
        rl_buf_put_be32(b, (uint32_t)-1);
    rl_buf_put_be64(b, (uint64_t)offset);
    if (v >= 5)
        rl_buf_put_be64(b, (uint64_t)-1);
    rl_buf_put_be32(b, (uint32_t)part_max);
    if (v >= 7)
        rl_buf_put_be32(b, 0); /* forgotten topics */
    if (v >= 11)
        rl_buf_put_be16(b, (uint16_t)-1); /* rack_id null, as librdkafka sends it */
    kt_req_end(b);
}

typedef struct fetch_resp {
    int32_t corr;
    int16_t top_error;
    int32_t session_id;
    int16_t error;
    int64_t hwm, lso, log_start;
    int32_t aborted_count;
    int32_t preferred_replica;
    rl_slice records;
} fetch_resp;

/* Decodes a one-topic one-partition Fetch response per FetchResponse.json for version v. */
static void fetch_decode(const rl_buf *frame, int16_t v, const char *topic, int32_t partition,
                         fetch_resp *out)
{
    rl_reader rd = rl_reader_make(rl_buf_slice(frame));
    memset(out, 0, sizeof *out);
    out->corr = rl_get_i32be(&rd);
    assert_int_equal(rl_get_i32be(&rd), 0); /* throttle */
    if (v >= 7) {
        out->top_error = rl_get_i16be(&rd);
        out->session_id = rl_get_i32be(&rd);
    }
    assert_int_equal(rl_get_i32be(&rd), 1);
    assert_true(rl_slice_eq_str(kt_get_str(&rd), topic));
    assert_int_equal(rl_get_i32be(&rd), 1);
    assert_int_equal(rl_get_i32be(&rd), partition);
    out->error = rl_get_i16be(&rd);
    out->hwm = rl_get_i64be(&rd);
    out->lso = rl_get_i64be(&rd);
    out->log_start = v >= 5 ? rl_get_i64be(&rd) : -1;
    out->aborted_count = rl_get_i32be(&rd);
    out->preferred_replica = v >= 11 ? rl_get_i32be(&rd) : -1;
    int32_t n = rl_get_i32be(&rd);
    assert_true(n >= 0);
    out->records = rl_get_bytes(&rd, (size_t)n);
    assert_false(rd.err);
    assert_int_equal(rl_reader_left(&rd), 0);
}

typedef struct decode_ctx {
    const fixture *fx;
    int topic;
    uint32_t partition;
    int64_t from;
    int64_t next; /* next offset expected at or after from */
    int64_t last;
} decode_ctx;

static int check_record(void *ctx, const log_record *lr)
{
    decode_ctx *d = ctx;
    d->last = lr->offset;
    if (lr->offset < d->from)
        return 0; /* a batch may start before the fetch offset */
    if (lr->offset != d->next)
        return RL_ECORRUPT;
    for (size_t i = 0; i < d->fx->nrecs; i++) {
        const rec *r = &d->fx->recs[i];
        if (r->topic == d->topic && r->partition == d->partition && r->offset == lr->offset) {
            if (!(lr->key.len == strlen(r->key) && memcmp(lr->key.p, r->key, lr->key.len) == 0))
                return RL_ECORRUPT;
            if (!(lr->value.len == strlen(r->value) &&
                  memcmp(lr->value.p, r->value, lr->value.len) == 0))
                return RL_ECORRUPT;
            if (lr->timestamp != r->ts)
                return RL_ECORRUPT;
            d->next++;
            return 0;
        }
    }
    return RL_ECORRUPT;
}

/* Decodes the whole batches in records and checks them against what was appended; returns
 * the number of records at or after from. A cut last batch is allowed (KIP-74). */
static int64_t check_records(const fixture *fx, int topic, uint32_t partition, int64_t from,
                             rl_slice records)
{
    decode_ctx d = {fx, topic, partition, from, from, -1};
    rl_buf scratch = RL_BUF_INIT;
    while (records.len > 0) {
        rl_err err = {0};
        int n = log_batch_decode(records, &scratch, 16u << 20, check_record, &d, &err);
        if (n == RL_EAGAIN)
            break;
        if (n < 0)
            fail_msg("records of %s-%u from %" PRId64 ": %s (%s)", topic_names[topic], partition,
                     from, err.msg, rl_errname(n));
        records.p += n;
        records.len -= (size_t)n;
    }
    rl_buf_free(&scratch);
    return d.next - from;
}

/* ------------------------------------------------------------------ fixture */

static void on_stop(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void *loop_main(void *arg)
{
    server_thread *st = arg;
    ev_run(st->loop, 0);
    return NULL;
}

/* Starts a server on port 0 on a new loop, then the loop's thread. */
static void server_thread_start(server_thread *st, log_store_t *store, size_t max_connections,
                                const char *offsets_dir)
{
    rl_err err = {0};
    st->loop = ev_loop_new(EVFLAG_AUTO);
    assert_non_null(st->loop);
    kafka_server_opts ko;
    kafka_server_opts_init(&ko);
    ko.listen_port = 0;
    ko.max_request_bytes = MAX_REQUEST_BYTES;
    ko.max_connections = max_connections;
    if (offsets_dir)
        snprintf(ko.offsets_dir, sizeof ko.offsets_dir, "%s", offsets_dir);
    if (kafka_server_start(&st->srv, st->loop, store, &ko, &err) != 0)
        fail_msg("kafka_server_start: %s", err.msg);
    st->port = kafka_server_port(st->srv);
    assert_true(st->port > 0);
    ev_async_init(&st->stop_w, on_stop);
    ev_async_start(st->loop, &st->stop_w);
    assert_int_equal(pthread_create(&st->thread, NULL, loop_main, st), 0);
}

/* Stops the loop's thread, then the server (on this thread, which now owns the loop). */
static void server_thread_stop(server_thread *st)
{
    ev_async_send(st->loop, &st->stop_w);
    pthread_join(st->thread, NULL);
    kafka_server_stop(st->srv);
    ev_async_stop(st->loop, &st->stop_w);
    ev_loop_destroy(st->loop);
}

static int compression_arg = LOG_COMPRESSION_LZ4;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->compression = compression_arg;
    snprintf(fx->dir, sizeof fx->dir, "/tmp/rowlog-kafka-test-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    char logdir[256];
    snprintf(logdir, sizeof logdir, "%s/log", fx->dir);

    /* "orders" is created with 4 partitions; the store is then reopened with a 1-partition
     * default for "users" (a topic keeps the partition count it was created with). */
    log_store_opts lo;
    memset(&lo, 0, sizeof lo);
    lo.compression = fx->compression;
    lo.partitions = 4;
    rl_err err = {0};
    if (log_store_open(&fx->store, logdir, &lo, &err) != 0)
        fail_msg("log_store_open: %s", err.msg);
    for (int i = 0; i < 200; i++) {
        append_rec(fx, T_ORDERS);
        if (i % 20 == 19)
            commit(fx);
    }
    log_store_close(fx->store);
    lo.partitions = 1;
    if (log_store_open(&fx->store, logdir, &lo, &err) != 0)
        fail_msg("log_store_open (again): %s", err.msg);
    for (int i = 0; i < 100; i++) {
        append_rec(fx, T_USERS);
        if (i % 10 == 9)
            commit(fx);
    }
    assert_int_equal(log_store_partitions(fx->store, "orders"), 4);
    assert_int_equal(log_store_partitions(fx->store, "users"), 1);

    snprintf(fx->offsets_dir, sizeof fx->offsets_dir, "%s/offsets", fx->dir);
    server_thread_start(&fx->st, fx->store, 0, fx->offsets_dir);
    fx->srv = fx->st.srv;
    fx->port = fx->st.port;
    snprintf(fx->bootstrap, sizeof fx->bootstrap, "127.0.0.1:%u", fx->port);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    server_thread_stop(&fx->st);
    log_store_close(fx->store);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", fx->dir);
    free(fx);
    return 0;
}

/* ------------------------------------------------------------------ kcat tests */

static void test_kcat_metadata(void **state)
{
    fixture *fx = *state;
    rl_buf out = RL_BUF_INIT;
    char want[128];

    int st = run(&out, "timeout 30 " KCAT " -b %s -L 2>%s/kcat.err", fx->bootstrap, fx->dir);
    if (st != 0)
        show_stderr(fx);
    assert_int_equal(st, 0);
    snprintf(want, sizeof want, "broker 0 at 127.0.0.1:%u", fx->port);
    assert_non_null(strstr((const char *)out.p, want));
    assert_non_null(strstr((const char *)out.p, "topic \"orders\" with 4 partitions:"));
    assert_non_null(strstr((const char *)out.p, "topic \"users\" with 1 partitions:"));
    assert_non_null(strstr((const char *)out.p, " 2 topics:"));
    for (int p = 0; p < 4; p++) {
        snprintf(want, sizeof want, "partition %d, leader 0, replicas: 0, isrs: 0", p);
        assert_non_null(strstr((const char *)out.p, want));
    }

    st = run(&out, "timeout 30 " KCAT " -b %s -L -J 2>%s/kcat.err", fx->bootstrap, fx->dir);
    assert_int_equal(st, 0);
    const char *j = (const char *)out.p;
    const char *o = strstr(j, "{\"topic\":\"orders\",\"partitions\":[");
    const char *u = strstr(j, "{\"topic\":\"users\",\"partitions\":[");
    assert_non_null(o);
    assert_non_null(u);
    /* Count the partition objects of each topic up to the end of its partitions array. */
    const char *tops[2] = {o, u};
    int want_parts[2] = {4, 1};
    for (int t = 0; t < 2; t++) {
        const char *end = strstr(tops[t], "]}]}");
        assert_non_null(end);
        int n = 0;
        for (const char *q = tops[t]; (q = strstr(q, "\"partition\":")) && q < end; q++)
            n++;
        assert_int_equal(n, want_parts[t]);
    }

    /* An unknown topic is reported, not created. */
    st = run(&out, "timeout 30 " KCAT " -b %s -L -t nosuch 2>&1", fx->bootstrap);
    assert_non_null(strstr((const char *)out.p, "Unknown topic or partition"));
    assert_int_equal(log_store_partitions(fx->store, "nosuch"), RL_ENOTFOUND);
    rl_buf_free(&out);
}

static void test_kcat_consume_all(void **state)
{
    fixture *fx = *state;
    for (int t = 0; t < NTOPICS; t++)
        for (uint32_t p = 0; p < topic_parts[t]; p++) {
            assert_true(hwm_of(fx, t, p) > 0);
            kcat_consume_check(fx, t, p, "beginning", 0, NULL);
        }
}

static void test_kcat_offsets(void **state)
{
    fixture *fx = *state;
    char off[64];
    /* Inside a batch: users was committed every 10 records, so 15 is mid-batch. */
    kcat_consume_check(fx, T_USERS, 0, "15", 15, NULL);
    for (uint32_t p = 0; p < 4; p++) {
        int64_t h = hwm_of(fx, T_ORDERS, p);
        snprintf(off, sizeof off, "%" PRId64, h / 2 + 1);
        kcat_consume_check(fx, T_ORDERS, p, off, h / 2 + 1, NULL);
        kcat_consume_check(fx, T_ORDERS, p, "-3", h - 3, NULL);
    }
    kcat_consume_check(fx, T_USERS, 0, "-3", hwm_of(fx, T_USERS, 0) - 3, NULL);
    /* By timestamp: user i has T0 + i s; half a second after user 37 is user 38's offset. */
    snprintf(off, sizeof off, "s@%" PRId64, T0_MS + 37 * 1000 + 500);
    kcat_consume_check(fx, T_USERS, 0, off, 38, NULL);
    snprintf(off, sizeof off, "s@%" PRId64, T0_MS - 5000);
    kcat_consume_check(fx, T_USERS, 0, off, 0, NULL);
}

static void test_kcat_small_fetches(void **state)
{
    fixture *fx = *state;
    /* librdkafka wants fetch.max.bytes >= message.max.bytes (min 1000). Limits at or below a
     * batch: every response is one whole first batch (KIP-74), possibly followed by a batch
     * cut short; the client must still get every record once, in order. */
    const char *limits[] = {
        "-X message.max.bytes=1000 -X fetch.max.bytes=1000 -X max.partition.fetch.bytes=300",
        "-X message.max.bytes=1000 -X fetch.max.bytes=4000 -X max.partition.fetch.bytes=1500",
        "-X max.partition.fetch.bytes=1",
    };
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        kcat_consume_check(fx, T_USERS, 0, "beginning", 0, limits[i]);
        kcat_consume_check(fx, T_ORDERS, 2, "beginning", 0, limits[i]);
        kcat_consume_check(fx, T_USERS, 0, "33", 33, limits[i]);
    }
}

static void test_kcat_versions(void **state)
{
    fixture *fx = *state;
    rl_buf out = RL_BUF_INIT;
    int st = run(&out,
                 "timeout 30 " KCAT " -b %s -C -t users -p 0 -o -2 -e -d protocol "
                 "-f '%%o\\n' 2>&1",
                 fx->bootstrap);
    assert_int_equal(st, 0);
    const char *s = (const char *)out.p;
    const char *want[] = {"Sent ApiVersionRequest (v3", "Sent MetadataRequest (v4",
                          "Sent ListOffsetsRequest (v2", "Sent FetchRequest (v11"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(s, want[i])) {
            fprintf(stderr, "%s\n--- missing: %s\n", s, want[i]);
            fail();
        }
    }
    /* Nothing was refused or retried with another version. */
    assert_null(strstr(s, "UNSUPPORTED_VERSION"));
    rl_buf_free(&out);
}

static void test_kcat_produce_refused(void **state)
{
    fixture *fx = *state;
    rl_buf out = RL_BUF_INIT;
    kafka_server_stats before, after;
    stats(fx, &before);
    int64_t ls0, h0, ls1, h1;
    assert_int_equal(log_store_offsets(fx->store, "users", 0, &ls0, &h0), 0);
    int st = run(&out,
                 "printf 'k1:v1\\nk2:v2\\n' | timeout 30 " KCAT
                 " -b %s -P -t users -p 0 -K: -X message.timeout.ms=20000 2>&1",
                 fx->bootstrap);
    if (!strstr((const char *)out.p, "Policy violation")) {
        fprintf(stderr, "kcat -P (exit %d):\n%s\n", st, (const char *)out.p);
        fail();
    }
    assert_int_not_equal(st, 0);
    assert_int_equal(log_store_offsets(fx->store, "users", 0, &ls1, &h1), 0);
    assert_int_equal(h1, h0);
    assert_int_equal(ls1, ls0);
    stats(fx, &after);
    assert_true(after.produce_refused > before.produce_refused);
    rl_buf_free(&out);
}

/* ------------------------------------------------------------------ raw protocol tests */

static void test_raw_api_versions(void **state)
{
    fixture *fx = *state;
    rl_buf req = RL_BUF_INIT, resp = RL_BUF_INIT;
    int fd = raw_connect(fx);
    static const int16_t want[][3] = {{0, 3, 7},  {1, 4, 11}, {2, 1, 2},  {3, 1, 4},
                                      {8, 2, 7},  {9, 1, 5},  {10, 0, 2}, {11, 0, 5},
                                      {12, 0, 3}, {13, 0, 3}, {14, 0, 3}, {15, 0, 5},
                                      {16, 0, 4}, {18, 0, 3}};
    const size_t nwant = sizeof want / sizeof want[0];

    for (int16_t v = 0; v <= 3; v++) {
        kt_req_begin(&req, 18, v, 100 + v);
        if (v >= 3) {
            rl_buf_putc(&req, 0);                  /* header tags */
            rl_buf_put_uvarint(&req, 4 + 1);       /* client_software_name */
            rl_buf_puts(&req, "test");
            rl_buf_put_uvarint(&req, 3 + 1);       /* client_software_version */
            rl_buf_puts(&req, "1.0");
            rl_buf_putc(&req, 0);                  /* body tags */
        }
        kt_req_end(&req);
        raw_send(fd, req.p, req.len);
        kt_recv_frame(fd, &resp);
        rl_reader rd = rl_reader_make(rl_buf_slice(&resp));
        assert_int_equal(rl_get_i32be(&rd), 100 + v);
        assert_int_equal(rl_get_i16be(&rd), 0);
        uint64_t n = v >= 3 ? rl_get_uvarint(&rd) - 1 : (uint64_t)rl_get_i32be(&rd);
        assert_int_equal(n, nwant);
        bool seen[sizeof want / sizeof want[0]] = {false};
        for (uint64_t i = 0; i < n; i++) {
            int16_t key = rl_get_i16be(&rd), min = rl_get_i16be(&rd), max = rl_get_i16be(&rd);
            if (v >= 3)
                assert_int_equal(rl_get_uvarint(&rd), 0);
            size_t k = 0;
            while (k < nwant && want[k][0] != key)
                k++;
            assert_true(k < nwant);
            assert_false(seen[k]);
            seen[k] = true;
            assert_int_equal(min, want[k][1]);
            assert_int_equal(max, want[k][2]);
        }
        if (v >= 1)
            assert_int_equal(rl_get_i32be(&rd), 0);
        if (v >= 3)
            assert_int_equal(rl_get_uvarint(&rd), 0);
        assert_false(rd.err);
        assert_int_equal(rl_reader_left(&rd), 0);
    }

    /* A version above 3: UNSUPPORTED_VERSION in the v0 layout, listing ApiVersions 0-3. */
    kt_req_begin(&req, 18, 9, 7);
    rl_buf_putc(&req, 0);
    rl_buf_putc(&req, 0);
    rl_buf_putc(&req, 0);
    rl_buf_putc(&req, 0);
    kt_req_end(&req);
    raw_send(fd, req.p, req.len);
    kt_recv_frame(fd, &resp);
    rl_reader rd = rl_reader_make(rl_buf_slice(&resp));
    assert_int_equal(rl_get_i32be(&rd), 7);
    assert_int_equal(rl_get_i16be(&rd), 35);
    assert_int_equal(rl_get_i32be(&rd), 1);
    assert_int_equal(rl_get_i16be(&rd), 18);
    assert_int_equal(rl_get_i16be(&rd), 0);
    assert_int_equal(rl_get_i16be(&rd), 3);
    assert_int_equal(rl_reader_left(&rd), 0);
    close(fd);
    rl_buf_free(&req);
    rl_buf_free(&resp);
}

static void test_raw_metadata_list_offsets(void **state)
{
    fixture *fx = *state;
    rl_buf req = RL_BUF_INIT, resp = RL_BUF_INIT;
    int fd = raw_connect(fx);

    for (int16_t v = 1; v <= 4; v++) {
        kt_req_begin(&req, 3, v, 200 + v);
        if (v % 2) {
            rl_buf_put_be32(&req, (uint32_t)-1); /* all topics */
        } else {
            rl_buf_put_be32(&req, 3);
            kt_put_str(&req, "users");
            kt_put_str(&req, "nosuch");
            kt_put_str(&req, "bad/name");
        }
        if (v >= 4)
            rl_buf_putc(&req, 1); /* allow_auto_topic_creation: must not create */
        kt_req_end(&req);
        raw_send(fd, req.p, req.len);
        kt_recv_frame(fd, &resp);
        rl_reader rd = rl_reader_make(rl_buf_slice(&resp));
        assert_int_equal(rl_get_i32be(&rd), 200 + v);
        if (v >= 3)
            assert_int_equal(rl_get_i32be(&rd), 0);
        assert_int_equal(rl_get_i32be(&rd), 1); /* one broker */
        assert_int_equal(rl_get_i32be(&rd), 0);
        assert_true(rl_slice_eq_str(kt_get_str(&rd), "127.0.0.1"));
        assert_int_equal(rl_get_i32be(&rd), (int32_t)fx->port);
        assert_int_equal(rl_get_i16be(&rd), -1); /* rack null */
        if (v >= 2)
            assert_int_equal(rl_get_i16be(&rd), -1); /* cluster id null */
        assert_int_equal(rl_get_i32be(&rd), 0);      /* controller */
        int32_t nt = rl_get_i32be(&rd);
        assert_int_equal(nt, v % 2 ? 2 : 3);
        for (int32_t t = 0; t < nt; t++) {
            int16_t ec = rl_get_i16be(&rd);
            rl_slice name = kt_get_str(&rd);
            assert_int_equal(rl_get_u8(&rd), 0); /* is_internal */
            int32_t np = rl_get_i32be(&rd);
            int32_t want_np = rl_slice_eq_str(name, "orders") ? 4
                              : rl_slice_eq_str(name, "users") ? 1
                                                                : 0;
            int16_t want_ec = rl_slice_eq_str(name, "nosuch")     ? 3
                              : rl_slice_eq_str(name, "bad/name") ? 17
                                                                  : 0;
            assert_int_equal(ec, want_ec);
            assert_int_equal(np, want_np);
            for (int32_t p = 0; p < np; p++) {
                assert_int_equal(rl_get_i16be(&rd), 0);
                assert_int_equal(rl_get_i32be(&rd), p);
                assert_int_equal(rl_get_i32be(&rd), 0); /* leader */
                assert_int_equal(rl_get_i32be(&rd), 1);
                assert_int_equal(rl_get_i32be(&rd), 0);
                assert_int_equal(rl_get_i32be(&rd), 1);
                assert_int_equal(rl_get_i32be(&rd), 0);
            }
        }
        assert_false(rd.err);
        assert_int_equal(rl_reader_left(&rd), 0);
    }
    assert_int_equal(log_store_partitions(fx->store, "nosuch"), RL_ENOTFOUND);

    /* ListOffsets v1 and v2: earliest, latest, by time, unknown partition and topic. */
    for (int16_t v = 1; v <= 2; v++) {
        kt_req_begin(&req, 2, v, 300 + v);
        rl_buf_put_be32(&req, (uint32_t)-1);
        if (v >= 2)
            rl_buf_putc(&req, 1);
        rl_buf_put_be32(&req, 2);
        kt_put_str(&req, "users");
        rl_buf_put_be32(&req, 4);
        const int64_t ts[4] = {-2, -1, T0_MS + 10 * 1000, -1};
        const int32_t parts[4] = {0, 0, 0, 7};
        for (int i = 0; i < 4; i++) {
            rl_buf_put_be32(&req, (uint32_t)parts[i]);
            rl_buf_put_be64(&req, (uint64_t)ts[i]);
        }
        kt_put_str(&req, "nosuch");
        rl_buf_put_be32(&req, 1);
        rl_buf_put_be32(&req, 0);
        rl_buf_put_be64(&req, (uint64_t)-1);
        kt_req_end(&req);
        raw_send(fd, req.p, req.len);
        kt_recv_frame(fd, &resp);
        rl_reader rd = rl_reader_make(rl_buf_slice(&resp));
        assert_int_equal(rl_get_i32be(&rd), 300 + v);
        if (v >= 2)
            assert_int_equal(rl_get_i32be(&rd), 0);
        assert_int_equal(rl_get_i32be(&rd), 2);
        assert_true(rl_slice_eq_str(kt_get_str(&rd), "users"));
        assert_int_equal(rl_get_i32be(&rd), 4);
        const int64_t want_off[4] = {0, hwm_of(fx, T_USERS, 0), 10, -1};
        const int16_t want_ec[4] = {0, 0, 0, 3};
        for (int i = 0; i < 4; i++) {
            assert_int_equal(rl_get_i32be(&rd), parts[i]);
            assert_int_equal(rl_get_i16be(&rd), want_ec[i]);
            (void)rl_get_i64be(&rd); /* timestamp */
            assert_int_equal(rl_get_i64be(&rd), want_off[i]);
        }
        assert_true(rl_slice_eq_str(kt_get_str(&rd), "nosuch"));
        assert_int_equal(rl_get_i32be(&rd), 1);
        assert_int_equal(rl_get_i32be(&rd), 0);
        assert_int_equal(rl_get_i16be(&rd), 3);
        (void)rl_get_i64be(&rd);
        assert_int_equal(rl_get_i64be(&rd), -1);
        assert_false(rd.err);
        assert_int_equal(rl_reader_left(&rd), 0);
    }
    close(fd);
    rl_buf_free(&req);
    rl_buf_free(&resp);
}

static void test_raw_fetch(void **state)
{
    fixture *fx = *state;
    rl_buf req = RL_BUF_INIT, resp = RL_BUF_INIT;
    int fd = raw_connect(fx);
    int64_t hwm = hwm_of(fx, T_USERS, 0);
    fetch_resp fr;

    /* Every version, from an offset inside a batch: the records decode to what was appended. */
    for (int16_t v = 4; v <= 11; v++) {
        fetch_req(&req, v, 400 + v, 100, 1, 1 << 20, "users", 0, 15, 1 << 20);
        raw_send(fd, req.p, req.len);
        kt_recv_frame(fd, &resp);
        fetch_decode(&resp, v, "users", 0, &fr);
        assert_int_equal(fr.corr, 400 + v);
        assert_int_equal(fr.top_error, 0);
        assert_int_equal(fr.session_id, 0);
        assert_int_equal(fr.error, 0);
        assert_int_equal(fr.hwm, hwm);
        assert_int_equal(fr.lso, hwm);
        if (v >= 5)
            assert_int_equal(fr.log_start, 0);
        assert_int_equal(fr.aborted_count, 0);
        assert_int_equal(fr.preferred_replica, -1);
        assert_int_equal(check_records(fx, T_USERS, 0, 15, fr.records), hwm - 15);
    }

    /* A small partition limit: the first batch comes whole, nothing more than one batch. */
    fetch_req(&req, 11, 500, 100, 1, 1 << 20, "users", 0, 0, 1);
    raw_send(fd, req.p, req.len);
    kt_recv_frame(fd, &resp);
    fetch_decode(&resp, 11, "users", 0, &fr);
    assert_int_equal(fr.error, 0);
    assert_true(fr.records.len > 61);
    rl_reader br = rl_reader_make(fr.records);
    assert_int_equal(rl_get_i64be(&br), 0);
    int32_t batch_len = rl_get_i32be(&br);
    assert_int_equal(fr.records.len, (size_t)batch_len + 12);
    assert_int_equal(check_records(fx, T_USERS, 0, 0, fr.records), 10);

    /* Past the high watermark: OFFSET_OUT_OF_RANGE, at once. */
    fetch_req(&req, 11, 501, 10000, 1, 1 << 20, "users", 0, hwm + 5, 1 << 20);
    raw_send(fd, req.p, req.len);
    kt_recv_frame(fd, &resp);
    fetch_decode(&resp, 11, "users", 0, &fr);
    assert_int_equal(fr.error, 1);
    assert_int_equal(fr.hwm, hwm);
    assert_int_equal(fr.records.len, 0);

    /* Unknown topic and partition: UNKNOWN_TOPIC_OR_PARTITION, at once. */
    fetch_req(&req, 11, 502, 10000, 1, 1 << 20, "nosuch", 0, 0, 1 << 20);
    raw_send(fd, req.p, req.len);
    kt_recv_frame(fd, &resp);
    fetch_decode(&resp, 11, "nosuch", 0, &fr);
    assert_int_equal(fr.error, 3);
    fetch_req(&req, 11, 503, 10000, 1, 1 << 20, "users", 3, 0, 1 << 20);
    raw_send(fd, req.p, req.len);
    kt_recv_frame(fd, &resp);
    fetch_decode(&resp, 11, "users", 3, &fr);
    assert_int_equal(fr.error, 3);

    /* At the high watermark with a short max wait: parked, then answered empty on expiry;
     * a request pipelined behind it is answered after it (responses in request order). */
    kafka_server_stats before, after;
    stats(fx, &before);
    fetch_req(&req, 11, 504, 300, 1, 1 << 20, "users", 0, hwm, 1 << 20);
    rl_buf both = RL_BUF_INIT;
    rl_buf_append(&both, req.p, req.len);
    kt_req_begin(&req, 18, 0, 505);
    kt_req_end(&req);
    rl_buf_append(&both, req.p, req.len);
    raw_send(fd, both.p, both.len);
    kt_recv_frame(fd, &resp);
    fetch_decode(&resp, 11, "users", 0, &fr);
    assert_int_equal(fr.corr, 504);
    assert_int_equal(fr.error, 0);
    assert_int_equal(fr.hwm, hwm);
    assert_int_equal(fr.records.len, 0);
    kt_recv_frame(fd, &resp);
    rl_reader rd = rl_reader_make(rl_buf_slice(&resp));
    assert_int_equal(rl_get_i32be(&rd), 505);
    stats(fx, &after);
    /* At least this one: a parked fetch of an earlier test's client that went away (a parked
     * connection is not read, so its close is seen when its wait ends) may expire meanwhile
     * on a slow (sanitized) build. */
    assert_true(after.fetch_expired >= before.fetch_expired + 1);
    rl_buf_free(&both);

    close(fd);
    rl_buf_free(&req);
    rl_buf_free(&resp);
}

typedef struct send_job {
    int fd;
    rl_slice bytes;
} send_job;

static void *send_thread(void *arg)
{
    send_job *job = arg;
    const uint8_t *p = job->bytes.p;
    size_t n = job->bytes.len;
    while (n > 0) {
        ssize_t w = send(job->fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        p += w;
        n -= (size_t)w;
    }
    return NULL;
}

static void test_raw_pipeline_backpressure(void **state)
{
    fixture *fx = *state;
    rl_buf req = RL_BUF_INIT, all = RL_BUF_INIT, resp = RL_BUF_INIT;
    int fd = raw_connect(fx);
    fetch_resp fr;

    /* One whole-partition fetch to learn the response size. */
    fetch_req(&req, 11, 999, 0, 0, 1 << 20, "users", 0, 0, 1 << 20);
    raw_send(fd, req.p, req.len);
    kt_recv_frame(fd, &resp);
    fetch_decode(&resp, 11, "users", 0, &fr);
    size_t first_len = fr.records.len;
    assert_int_equal(check_records(fx, T_USERS, 0, 0, fr.records), hwm_of(fx, T_USERS, 0));

    /* Enough identical fetches, all sent before any response is read, for more than 4 MiB of
     * responses: the server must stop reading above its output limit, resume as the client
     * drains, and answer every request in order with the same records. */
    size_t n = (4u << 20) / first_len + 1;
    if (n < 100)
        n = 100;
    for (size_t i = 0; i < n; i++) {
        fetch_req(&req, 11, 1000 + (int32_t)i, 0, 0, 1 << 20, "users", 0, 0, 1 << 20);
        rl_buf_append(&all, req.p, req.len);
    }
    assert_true(rl_buf_ok(&all));
    send_job job = {fd, rl_buf_slice(&all)};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, send_thread, &job), 0);
    for (size_t i = 0; i < n; i++) {
        kt_recv_frame(fd, &resp);
        fetch_decode(&resp, 11, "users", 0, &fr);
        assert_int_equal(fr.corr, 1000 + (int32_t)i);
        assert_int_equal(fr.error, 0);
        assert_int_equal(fr.records.len, first_len);
    }
    pthread_join(th, NULL);
    close(fd);
    rl_buf_free(&req);
    rl_buf_free(&all);
    rl_buf_free(&resp);
}

/* Sends bytes on a fresh connection and checks the server closes it. */
static void expect_closed(fixture *fx, const void *p, size_t n, const char *what)
{
    kafka_server_stats before, after;
    stats(fx, &before);
    int fd = raw_connect(fx);
    raw_send(fd, p, n);
    if (!kt_closed(fd))
        fail_msg("%s: connection not closed", what);
    close(fd);
    stats(fx, &after);
    if (after.protocol_errors != before.protocol_errors + 1)
        fail_msg("%s: protocol_errors %" PRIu64 " -> %" PRIu64, what, before.protocol_errors,
                 after.protocol_errors);
}

static void test_raw_malformed(void **state)
{
    fixture *fx = *state;
    rl_buf b = RL_BUF_INIT, out = RL_BUF_INIT;

    /* Garbage: a frame whose api key is nonsense. */
    uint8_t garbage[16] = {0, 0, 0, 12, 0x77, 0x77, 0, 1, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4};
    expect_closed(fx, garbage, sizeof garbage, "garbage");
    /* Sizes: negative, above max_request_bytes (checked before the bytes arrive). */
    uint8_t neg[4] = {0xff, 0xff, 0xff, 0xf0};
    expect_closed(fx, neg, sizeof neg, "negative size");
    uint8_t big[4] = {0, 0x20, 0, 0}; /* 2 MiB > 1 MiB */
    expect_closed(fx, big, sizeof big, "oversized");
    /* Shorter than a header. */
    uint8_t tiny[7] = {0, 0, 0, 3, 0, 3, 0};
    expect_closed(fx, tiny, sizeof tiny, "short header");
    /* Truncated inside the frame: Metadata announcing 3 topics, carrying one. */
    kt_req_begin(&b, 3, 1, 1);
    rl_buf_put_be32(&b, 3);
    kt_put_str(&b, "users");
    kt_req_end(&b);
    expect_closed(fx, b.p, b.len, "truncated Metadata");
    /* Fetch with a partition array count larger than its bytes. */
    fetch_req(&b, 11, 2, 0, 0, 1000, "users", 0, 0, 1000);
    b.len -= 8;
    kt_req_end(&b);
    expect_closed(fx, b.p, b.len, "truncated Fetch");
    /* Negative string length in the client id. */
    uint8_t badcid[14] = {0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xf0};
    expect_closed(fx, badcid, sizeof badcid, "bad client id");
    /* Unsupported versions and keys: Fetch v3, Metadata v9, FindCoordinator v3,
     * InitProducerId. */
    fetch_req(&b, 3, 3, 0, 0, 1000, "users", 0, 0, 1000);
    expect_closed(fx, b.p, b.len, "Fetch v3");
    kt_req_begin(&b, 3, 9, 4);
    kt_req_end(&b);
    expect_closed(fx, b.p, b.len, "Metadata v9");
    kt_req_begin(&b, 10, 3, 5);
    kt_put_str(&b, "group");
    rl_buf_putc(&b, 0);
    kt_req_end(&b);
    expect_closed(fx, b.p, b.len, "FindCoordinator v3");
    kt_req_begin(&b, 22, 0, 5);
    kt_put_str(&b, "txn");
    rl_buf_put_be32(&b, 1000);
    kt_req_end(&b);
    expect_closed(fx, b.p, b.len, "InitProducerId");
    /* Produce with acks=0: nothing to answer, so the connection is closed (as Kafka does). */
    kt_req_begin(&b, 0, 7, 6);
    rl_buf_put_be16(&b, (uint16_t)-1);
    rl_buf_put_be16(&b, 0);
    rl_buf_put_be32(&b, 1000);
    rl_buf_put_be32(&b, 1);
    kt_put_str(&b, "users");
    rl_buf_put_be32(&b, 1);
    rl_buf_put_be32(&b, 0);
    rl_buf_put_be32(&b, 3);
    rl_buf_append(&b, "abc", 3);
    kt_req_end(&b);
    expect_closed(fx, b.p, b.len, "Produce acks=0");

    /* A truncated request that simply stops: the server waits (no error), and the client's
     * close is handled. */
    int fd = raw_connect(fx);
    kt_req_begin(&b, 3, 1, 7);
    rl_buf_put_be32(&b, (uint32_t)-1);
    kt_req_end(&b);
    raw_send(fd, b.p, b.len - 2);
    close(fd);

    /* The server goes on. */
    int st = run(&out, "timeout 30 " KCAT " -b %s -L 2>%s/kcat.err", fx->bootstrap, fx->dir);
    assert_int_equal(st, 0);
    assert_non_null(strstr((const char *)out.p, "topic \"users\" with 1 partitions:"));
    rl_buf_free(&b);
    rl_buf_free(&out);
}

static void api_versions_v0(int fd, int32_t corr, rl_buf *req)
{
    kt_req_begin(req, 18, 0, corr);
    kt_req_end(req);
    raw_send(fd, req->p, req->len);
}

static void test_max_connections(void **state)
{
    fixture *fx = *state;
    server_thread st;
    rl_buf req = RL_BUF_INIT, resp = RL_BUF_INIT;
    server_thread_start(&st, fx->store, 2, NULL);

    int a = kt_connect(st.port), b = kt_connect(st.port);
    api_versions_v0(a, 1, &req);
    kt_recv_frame(a, &resp);
    api_versions_v0(b, 2, &req);
    kt_recv_frame(b, &resp);
    /* A third client connects (the kernel's backlog) but is not served while two are open. */
    int c = kt_connect(st.port);
    api_versions_v0(c, 3, &req);
    struct pollfd pfd = {c, POLLIN, 0};
    assert_int_equal(poll(&pfd, 1, 300), 0);
    kafka_server_stats s;
    kafka_server_stats_get(st.srv, &s);
    assert_int_equal(s.connections_open, 2);
    assert_true(s.accept_pauses >= 1);
    /* One closes: accepting resumes and the third is answered. */
    close(a);
    kt_recv_frame(c, &resp);
    rl_reader rd = rl_reader_make(rl_buf_slice(&resp));
    assert_int_equal(rl_get_i32be(&rd), 3);
    kafka_server_stats_get(st.srv, &s);
    assert_int_equal(s.connections_accepted, 3);
    close(b);
    close(c);
    server_thread_stop(&st);
    rl_buf_free(&req);
    rl_buf_free(&resp);
}

static int count_open_fds(void)
{
    FILE *p = popen("ls /proc/self/fd | wc -l", "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1)
            n = -1;
        pclose(p);
    }
    return n;
}

/* Child of test_accept_emfile (only async-signal-safe calls): waits for a byte on start_fd
 * (the server's descriptor limit is lowered by then), opens n connections, sends an
 * ApiVersions request on each, waits for a byte on go_fd, then reads every response. Exit
 * status 0 when all n were answered. */
static void emfile_child(unsigned port, int n, int start_fd, int go_fd)
{
    int fds[16];
    char start;
    if (read(start_fd, &start, 1) != 1)
        _exit(9);
    for (int i = 0; i < n; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof sa);
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&sa, sizeof sa) != 0)
            _exit(10);
        struct timeval tv = {20, 0};
        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        uint8_t req[18] = {0, 0, 0, 14, 0, 18, 0, 0, 0, 0, 0, (uint8_t)i, 0, 4, 't', 'e', 's', 't'};
        if (send(fds[i], req, sizeof req, MSG_NOSIGNAL) != (ssize_t)sizeof req)
            _exit(11);
    }
    char go;
    if (read(go_fd, &go, 1) != 1)
        _exit(12);
    for (int i = 0; i < n; i++) {
        uint8_t hdr[8];
        size_t got = 0;
        while (got < sizeof hdr) {
            ssize_t r = recv(fds[i], hdr + got, sizeof hdr - got, 0);
            if (r <= 0)
                _exit(20 + i);
            got += (size_t)r;
        }
        if (hdr[7] != (uint8_t)i)
            _exit(40 + i);
    }
    _exit(0);
}

static void test_accept_emfile(void **state)
{
    fixture *fx = *state;
    server_thread st;
    server_thread_start(&st, fx->store, 0, NULL);

    /* Leave room for 3 more descriptors: the server runs out while accepting 8 clients. */
    enum { NCLIENTS = 8 };
    int go[2], start[2];
    assert_int_equal(pipe(go), 0);
    assert_int_equal(pipe(start), 0);
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    int open_now = count_open_fds();
    assert_true(open_now > 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(go[1]);
        close(start[1]);
        emfile_child(st.port, NCLIENTS, start[0], go[0]);
    }
    close(go[0]);
    close(start[0]);
    low = old;
    low.rlim_cur = (rlim_t)open_now + 3;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    /* Only now may the clients connect: before, the server could accept them all. */
    assert_int_equal(write(start[1], "s", 1), 1);
    close(start[1]);

    kafka_server_stats s;
    int64_t deadline = rl_now_ms() + 20000;
    do {
        kafka_server_stats_get(st.srv, &s);
        if (s.accept_pauses > 0)
            break;
        usleep(10000);
    } while (rl_now_ms() < deadline);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_true(s.accept_pauses > 0);
    assert_true(s.connections_accepted < NCLIENTS);

    /* With descriptors available again, the retry timer resumes accepting: all are served. */
    assert_int_equal(write(go[1], "g", 1), 1);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    close(go[1]);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    kafka_server_stats_get(st.srv, &s);
    assert_int_equal(s.connections_accepted, NCLIENTS);
    server_thread_stop(&st);
}

/* ------------------------------------------------------------------ librdkafka */

static rd_kafka_t *consumer_new(const fixture *fx)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[][2] = {
        {"bootstrap.servers", fx->bootstrap},
        {"check.crcs", "true"},
        /* A long broker wait: records appended meanwhile can only arrive early through
         * kafka_server_notify, which fetch_woken counts. */
        {"fetch.wait.max.ms", "20000"},
        {"socket.timeout.ms", "60000"},
        {"log_level", "4"},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK)
            fail_msg("conf %s: %s", kv[i][0], errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk)
        fail_msg("rd_kafka_new: %s", errstr);
    return rk;
}

/* Consumes from q until `want` records arrived (or 60 s passed); checks each against the
 * expected records and that offsets per partition increase by one from `from[p]`. */
static size_t consume_check(fixture *fx, rd_kafka_queue_t *q, int topic, int64_t *next,
                            size_t want)
{
    size_t got = 0;
    int64_t deadline = rl_now_ms() + 60000;
    while (got < want && rl_now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consume_queue(q, 500);
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fail_msg("consume: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        uint32_t p = (uint32_t)m->partition;
        assert_true(p < topic_parts[topic]);
        assert_int_equal(m->offset, next[p]);
        const rec *r = NULL;
        for (size_t i = 0; i < fx->nrecs && !r; i++)
            if (fx->recs[i].topic == topic && fx->recs[i].partition == p &&
                fx->recs[i].offset == m->offset)
                r = &fx->recs[i];
        if (!r) {
            fail_msg("%s-%u offset %" PRId64 " was never appended", topic_names[topic], p,
                     (int64_t)m->offset);
            rd_kafka_message_destroy(m);
            return got;
        }
        assert_int_equal(m->key_len, strlen(r->key));
        assert_memory_equal(m->key, r->key, m->key_len);
        assert_int_equal(m->len, strlen(r->value));
        assert_memory_equal(m->payload, r->value, m->len);
        rd_kafka_timestamp_type_t tt;
        assert_int_equal(rd_kafka_message_timestamp(m, &tt), r->ts);
        assert_int_equal(tt, RD_KAFKA_TIMESTAMP_CREATE_TIME);
        next[p]++;
        got++;
        rd_kafka_message_destroy(m);
    }
    return got;
}

static void test_rdkafka_all_partitions(void **state)
{
    fixture *fx = *state;
    rd_kafka_t *rk = consumer_new(fx);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, "orders", NULL);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    int64_t next[4] = {0, 0, 0, 0};
    size_t total = 0;
    for (int32_t p = 0; p < 4; p++) {
        assert_int_equal(rd_kafka_consume_start_queue(rkt, p, RD_KAFKA_OFFSET_BEGINNING, q), 0);
        total += (size_t)hwm_of(fx, T_ORDERS, (uint32_t)p);
    }
    assert_int_equal(consume_check(fx, q, T_ORDERS, next, total), total);
    for (uint32_t p = 0; p < 4; p++)
        assert_int_equal(next[p], hwm_of(fx, T_ORDERS, p));
    for (int32_t p = 0; p < 4; p++)
        rd_kafka_consume_stop(rkt, p);
    rd_kafka_queue_destroy(q);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
}

typedef struct append_job {
    fixture *fx;
    int n;
} append_job;

static void *append_thread(void *arg)
{
    append_job *job = arg;
    for (int i = 0; i < job->n; i++)
        append_rec(job->fx, T_USERS);
    commit(job->fx);
    kafka_server_notify(job->fx->srv);
    return NULL;
}

static void test_rdkafka_long_poll(void **state)
{
    fixture *fx = *state;
    rd_kafka_t *rk = consumer_new(fx);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, "users", NULL);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    int64_t next[1] = {0};
    size_t have = (size_t)hwm_of(fx, T_USERS, 0);
    assert_int_equal(rd_kafka_consume_start_queue(rkt, 0, RD_KAFKA_OFFSET_BEGINNING, q), 0);
    assert_int_equal(consume_check(fx, q, T_USERS, next, have), have);

    /* Wait until the consumer's next Fetch (at the high watermark) is parked. */
    kafka_server_stats before, after;
    int64_t deadline = rl_now_ms() + 30000;
    do {
        stats(fx, &before);
        if (before.fetch_parked_now > 0)
            break;
        usleep(10000);
    } while (rl_now_ms() < deadline);
    assert_true(before.fetch_parked_now > 0);

    append_job job = {fx, 7};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, append_thread, &job), 0);
    pthread_join(th, NULL);
    assert_int_equal(consume_check(fx, q, T_USERS, next, 7), 7);
    assert_int_equal(next[0], hwm_of(fx, T_USERS, 0));
    stats(fx, &after);
    assert_true(after.fetch_woken > before.fetch_woken);

    rd_kafka_consume_stop(rkt, 0);
    rd_kafka_queue_destroy(q);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);

    /* kcat sees the appended records too. */
    kcat_consume_check(fx, T_USERS, 0, "beginning", 0, NULL);
}

/* ------------------------------------------------------------------ consumer groups */

/* Runs a shell command in the background (exec'd, so signals reach it). */
static pid_t spawn_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static pid_t spawn_sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* Waits for pid to exit; returns its exit status, or -1 (killed with SIGKILL) after
 * timeout_ms. */
static int wait_exit(pid_t pid, int timeout_ms)
{
    int64_t deadline = rl_now_ms() + timeout_ms;
    int status;
    while (rl_now_ms() < deadline) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        usleep(20000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

static void slurp(const char *path, rl_buf *out)
{
    rl_buf_reset(out);
    (void)rl_file_read_all(path, out, 16u << 20, NULL);
    (void)rl_buf_cstr(out);
}

/* Partitions of topic in kcat's last "rebalanced ...: assigned:" line on stderr (a bit mask),
 * or -1 when it printed none yet. */
static int kcat_assigned(const char *err_path, const char *topic)
{
    rl_buf b = RL_BUF_INIT;
    slurp(err_path, &b);
    const char *s = b.p ? (const char *)b.p : "", *last = NULL, *q = s;
    while ((q = strstr(q, "assigned:")) != NULL)
        last = q++;
    int mask = -1;
    if (last) {
        mask = 0;
        const char *eol = strchr(last, '\n');
        char pat[300];
        snprintf(pat, sizeof pat, "%s [", topic);
        for (const char *t = last; (t = strstr(t, pat)) && (!eol || t < eol); t++)
            mask |= 1 << atoi(t + strlen(pat));
    }
    rl_buf_free(&b);
    return mask;
}

static int popcount4(int m) { return (m & 1) + (m >> 1 & 1) + (m >> 2 & 1) + (m >> 3 & 1); }

/* Highest offset + 1 per partition of "orders" printed by kcat -f '%t %p %o\n' into path,
 * and checks that per partition the offsets printed from `from` on are consecutive. Returns
 * the number of lines. */
static int scan_kcat_lines(const char *path, int64_t next[4], bool strict_start,
                           const int64_t start[4])
{
    rl_buf b = RL_BUF_INIT;
    slurp(path, &b);
    /* kcat may be writing while this reads: only complete lines count. */
    while (b.len > 0 && b.p[b.len - 1] != '\n')
        b.len--;
    if (b.p)
        b.p[b.len] = 0;
    int lines = 0;
    char *save = NULL;
    for (char *ln = strtok_r(b.p ? (char *)b.p : (char *)"", "\n", &save); ln;
         ln = strtok_r(NULL, "\n", &save)) {
        char topic[64];
        int p;
        long long o;
        if (sscanf(ln, "%63s %d %lld", topic, &p, &o) != 3 || strcmp(topic, "orders") != 0 ||
            p < 0 || p > 3)
            fail_msg("%s: unexpected line '%s'", path, ln);
        if (strict_start && next[p] == start[p] && o != start[p])
            fail_msg("%s: partition %d starts at %lld, committed offset was %" PRId64, path, p,
                     o, start[p]);
        /* After a rebalance a partition may be re-read from its committed offset (at most
         * what was not committed yet); it never skips. */
        if (o > next[p])
            fail_msg("%s: partition %d jumps from %" PRId64 " to %lld (a gap)", path, p,
                     next[p], o);
        if (o == next[p])
            next[p]++;
        lines++;
    }
    rl_buf_free(&b);
    return lines;
}

/* Raw OffsetCommit v7 of `n` partitions of topic for group (generation, member). Returns the
 * error codes in ec. */
static void raw_offset_commit(unsigned port, const char *group, int32_t generation,
                              const char *member, const char *topic, int n,
                              const int32_t *parts, const int64_t *offsets, const char *metadata,
                              int16_t *ec)
{
    rl_buf req = RL_BUF_INIT, resp = RL_BUF_INIT;
    int fd = kt_connect(port);
    kt_req_begin(&req, 8, 7, 77);
    kt_put_str(&req, group);
    rl_buf_put_be32(&req, (uint32_t)generation);
    kt_put_str(&req, member);
    rl_buf_put_be16(&req, (uint16_t)-1); /* group_instance_id */
    rl_buf_put_be32(&req, 1);
    kt_put_str(&req, topic);
    rl_buf_put_be32(&req, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        rl_buf_put_be32(&req, (uint32_t)parts[i]);
        rl_buf_put_be64(&req, (uint64_t)offsets[i]);
        rl_buf_put_be32(&req, 7); /* leader epoch */
        if (metadata)
            kt_put_str(&req, metadata);
        else
            rl_buf_put_be16(&req, (uint16_t)-1);
    }
    kt_req_end(&req);
    raw_send(fd, req.p, req.len);
    kt_recv_frame(fd, &resp);
    rl_reader rd = rl_reader_make(rl_buf_slice(&resp));
    assert_int_equal(rl_get_i32be(&rd), 77);
    assert_int_equal(rl_get_i32be(&rd), 0);
    assert_int_equal(rl_get_i32be(&rd), 1);
    assert_true(rl_slice_eq_str(kt_get_str(&rd), topic));
    assert_int_equal(rl_get_i32be(&rd), n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(rl_get_i32be(&rd), parts[i]);
        ec[i] = rl_get_i16be(&rd);
    }
    assert_false(rd.err);
    assert_int_equal(rl_reader_left(&rd), 0);
    close(fd);
    rl_buf_free(&req);
    rl_buf_free(&resp);
}

/* Raw OffsetFetch v5 of partitions 0..n-1 of topic: offsets (-1: none), leader epochs and
 * metadata (into md[i], up to 63 bytes). */
static void raw_offset_fetch(unsigned port, const char *group, const char *topic, int n,
                             int64_t *offsets, int32_t *epochs, char (*md)[64])
{
    rl_buf req = RL_BUF_INIT, resp = RL_BUF_INIT;
    int fd = kt_connect(port);
    kt_req_begin(&req, 9, 5, 78);
    kt_put_str(&req, group);
    rl_buf_put_be32(&req, 1);
    kt_put_str(&req, topic);
    rl_buf_put_be32(&req, (uint32_t)n);
    for (int i = 0; i < n; i++)
        rl_buf_put_be32(&req, (uint32_t)i);
    kt_req_end(&req);
    raw_send(fd, req.p, req.len);
    kt_recv_frame(fd, &resp);
    rl_reader rd = rl_reader_make(rl_buf_slice(&resp));
    assert_int_equal(rl_get_i32be(&rd), 78);
    assert_int_equal(rl_get_i32be(&rd), 0);
    assert_int_equal(rl_get_i32be(&rd), 1);
    assert_true(rl_slice_eq_str(kt_get_str(&rd), topic));
    assert_int_equal(rl_get_i32be(&rd), n);
    for (int i = 0; i < n; i++) {
        assert_int_equal(rl_get_i32be(&rd), i);
        offsets[i] = rl_get_i64be(&rd);
        int32_t e = rl_get_i32be(&rd);
        if (epochs)
            epochs[i] = e;
        rl_slice m = kt_get_str(&rd);
        if (md)
            snprintf(md[i], 64, "%.*s", (int)(m.len < 63 ? m.len : 63),
                     m.p ? (const char *)m.p : "");
        assert_int_equal(rl_get_i16be(&rd), 0);
    }
    assert_int_equal(rl_get_i16be(&rd), 0);
    assert_false(rd.err);
    assert_int_equal(rl_reader_left(&rd), 0);
    close(fd);
    rl_buf_free(&req);
    rl_buf_free(&resp);
}

static void append_orders(fixture *fx, int n)
{
    for (int i = 0; i < n; i++)
        append_rec(fx, T_ORDERS);
    commit(fx);
    kafka_server_notify(fx->srv);
}

#define KCAT_G_ARGS                                                                            \
    "-X auto.offset.reset=earliest -X auto.commit.interval.ms=100 -X session.timeout.ms=6000 " \
    "-X heartbeat.interval.ms=500 -u -f '%%t %%p %%o\\n'"

static void test_kcat_group(void **state)
{
    fixture *fx = *state;
    char a_out[256], a_err[256], b_out[256], b_err[256], c_out[256], c_err[256];
    snprintf(a_out, sizeof a_out, "%s/ga.out", fx->dir);
    snprintf(a_err, sizeof a_err, "%s/ga.err", fx->dir);
    snprintf(b_out, sizeof b_out, "%s/gb.out", fx->dir);
    snprintf(b_err, sizeof b_err, "%s/gb.err", fx->dir);
    snprintf(c_out, sizeof c_out, "%s/gc.out", fx->dir);
    snprintf(c_err, sizeof c_err, "%s/gc.err", fx->dir);

    /* Member A alone gets all 4 partitions. */
    pid_t a = spawn_sh("exec timeout 120 " KCAT " -b %s -G g-kcat " KCAT_G_ARGS
                       " orders >%s 2>%s",
                       fx->bootstrap, a_out, a_err);
    int64_t deadline = rl_now_ms() + 30000;
    while (kcat_assigned(a_err, "orders") != 0xf && rl_now_ms() < deadline)
        usleep(50000);
    assert_int_equal(kcat_assigned(a_err, "orders"), 0xf);

    /* B joins: the partitions split 2/2 between them. */
    pid_t b = spawn_sh("exec timeout 120 " KCAT " -b %s -G g-kcat " KCAT_G_ARGS
                       " orders >%s 2>%s",
                       fx->bootstrap, b_out, b_err);
    int ma = -1, mb = -1;
    deadline = rl_now_ms() + 30000;
    do {
        usleep(50000);
        ma = kcat_assigned(a_err, "orders");
        mb = kcat_assigned(b_err, "orders");
    } while (!(ma > 0 && mb > 0 && (ma | mb) == 0xf && (ma & mb) == 0) &&
             rl_now_ms() < deadline);
    if (!(popcount4(ma) == 2 && popcount4(mb) == 2 && (ma | mb) == 0xf)) {
        rl_buf e = RL_BUF_INIT;
        slurp(a_err, &e);
        fprintf(stderr, "--- A ---\n%s\n", e.p ? (char *)e.p : "");
        slurp(b_err, &e);
        fprintf(stderr, "--- B ---\n%s\n", e.p ? (char *)e.p : "");
        rl_buf_free(&e);
        fail_msg("assignments A 0x%x, B 0x%x: not a 2/2 split", ma, mb);
    }
    kafka_server_stats st;
    stats(fx, &st);
    assert_true(st.members >= 2);
    assert_true(st.rebalances >= 2);

    /* B leaves (SIGTERM: kcat closes the consumer, LeaveGroup): A gets all 4 again. */
    assert_int_equal(kill(b, SIGTERM), 0);
    assert_int_equal(wait_exit(b, 30000), 0);
    deadline = rl_now_ms() + 30000;
    while (kcat_assigned(a_err, "orders") != 0xf && rl_now_ms() < deadline)
        usleep(50000);
    assert_int_equal(kcat_assigned(a_err, "orders"), 0xf);

    /* New records reach A; everything of orders was printed by A or B, without a gap. */
    append_orders(fx, 40);
    int64_t zero[4] = {0, 0, 0, 0}, seen[4];
    deadline = rl_now_ms() + 30000;
    for (;;) {
        memset(seen, 0, sizeof seen);
        /* Offsets printed by B, then A (A took B's partitions from B's last commit). */
        (void)scan_kcat_lines(b_out, seen, false, zero);
        int64_t after_b[4];
        memcpy(after_b, seen, sizeof seen);
        int64_t a_seen[4] = {0, 0, 0, 0};
        (void)scan_kcat_lines(a_out, a_seen, false, zero);
        bool done = true;
        for (int p = 0; p < 4; p++) {
            seen[p] = a_seen[p] > after_b[p] ? a_seen[p] : after_b[p];
            if (seen[p] != hwm_of(fx, T_ORDERS, (uint32_t)p))
                done = false;
        }
        if (done || rl_now_ms() > deadline)
            break;
        usleep(100000);
    }
    for (int p = 0; p < 4; p++)
        assert_int_equal(seen[p], hwm_of(fx, T_ORDERS, (uint32_t)p));

    /* A stops (its last offsets are committed on close); the committed offsets are the high
     * watermarks. */
    assert_int_equal(kill(a, SIGTERM), 0);
    assert_int_equal(wait_exit(a, 30000), 0);
    int64_t committed[4];
    raw_offset_fetch(fx->port, "g-kcat", "orders", 4, committed, NULL, NULL);
    for (int p = 0; p < 4; p++)
        assert_int_equal(committed[p], hwm_of(fx, T_ORDERS, (uint32_t)p));

    /* More records; a restarted member resumes from the committed offsets: exactly the new
     * records, no gap, no duplicate. */
    append_orders(fx, 30);
    pid_t c = spawn_sh("exec timeout 60 " KCAT " -b %s -G g-kcat -e " KCAT_G_ARGS
                       " orders >%s 2>%s",
                       fx->bootstrap, c_out, c_err);
    int cst = wait_exit(c, 60000);
    if (cst != 0) {
        rl_buf e = RL_BUF_INIT;
        slurp(c_err, &e);
        fprintf(stderr, "--- C ---\n%s\n", e.p ? (char *)e.p : "");
        rl_buf_free(&e);
    }
    assert_int_equal(cst, 0);
    int64_t next[4];
    memcpy(next, committed, sizeof next);
    int lines = scan_kcat_lines(c_out, next, true, committed);
    assert_int_equal(lines, 30);
    for (int p = 0; p < 4; p++)
        assert_int_equal(next[p], hwm_of(fx, T_ORDERS, (uint32_t)p));
    raw_offset_fetch(fx->port, "g-kcat", "orders", 4, committed, NULL, NULL);
    for (int p = 0; p < 4; p++)
        assert_int_equal(committed[p], hwm_of(fx, T_ORDERS, (uint32_t)p));
}

static void test_rdkafka_group(void **state)
{
    fixture *fx = *state;
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    const char *kv[][2] = {
        {"bootstrap.servers", fx->bootstrap}, {"group.id", "g-rdkafka"},
        {"auto.offset.reset", "earliest"},    {"enable.auto.commit", "false"},
        {"session.timeout.ms", "6000"},       {"check.crcs", "true"},
        {"log_level", "4"},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK)
            fail_msg("conf %s: %s", kv[i][0], errstr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    assert_non_null(rk);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(topics, "orders", RD_KAFKA_PARTITION_UA);
    rd_kafka_topic_partition_list_add(topics, "users", RD_KAFKA_PARTITION_UA);
    assert_int_equal(rd_kafka_subscribe(rk, topics), 0);
    rd_kafka_topic_partition_list_destroy(topics);

    int64_t next[NTOPICS][4];
    memset(next, 0, sizeof next);
    size_t want = 0, got = 0;
    for (int t = 0; t < NTOPICS; t++)
        for (uint32_t p = 0; p < topic_parts[t]; p++)
            want += (size_t)hwm_of(fx, t, p);
    int64_t deadline = rl_now_ms() + 60000;
    while (got < want && rl_now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 500);
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fail_msg("consume: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        int t = strcmp(rd_kafka_topic_name(m->rkt), "orders") == 0 ? T_ORDERS : T_USERS;
        uint32_t p = (uint32_t)m->partition;
        assert_int_equal(m->offset, next[t][p]);
        const rec *r = NULL;
        for (size_t i = 0; i < fx->nrecs && !r; i++)
            if (fx->recs[i].topic == t && fx->recs[i].partition == p &&
                fx->recs[i].offset == m->offset)
                r = &fx->recs[i];
        assert_non_null(r);
        assert_int_equal(m->len, strlen(r->value));
        assert_memory_equal(m->payload, r->value, m->len);
        next[t][p]++;
        got++;
        rd_kafka_message_destroy(m);
    }
    assert_int_equal(got, want);
    assert_int_equal(rd_kafka_commit(rk, NULL, 0), RD_KAFKA_RESP_ERR_NO_ERROR);

    /* The client reads its committed offsets back through OffsetFetch. */
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(5);
    for (int32_t p = 0; p < 4; p++)
        rd_kafka_topic_partition_list_add(parts, "orders", p);
    rd_kafka_topic_partition_list_add(parts, "users", 0);
    assert_int_equal(rd_kafka_committed(rk, parts, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    for (int i = 0; i < parts->cnt; i++) {
        int t = strcmp(parts->elems[i].topic, "orders") == 0 ? T_ORDERS : T_USERS;
        assert_int_equal(parts->elems[i].err, 0);
        assert_int_equal(parts->elems[i].offset,
                         hwm_of(fx, t, (uint32_t)parts->elems[i].partition));
    }
    rd_kafka_topic_partition_list_destroy(parts);
    assert_int_equal(rd_kafka_consumer_close(rk), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_destroy(rk);

    int64_t committed[4];
    raw_offset_fetch(fx->port, "g-rdkafka", "orders", 4, committed, NULL, NULL);
    for (int p = 0; p < 4; p++)
        assert_int_equal(committed[p], hwm_of(fx, T_ORDERS, (uint32_t)p));
    kafka_server_stats st;
    stats(fx, &st);
    assert_int_equal(st.members, 0);
}

/* Commit validation, then the committed offsets across a server restart (same offsets
 * directory), and none for a server that keeps them in memory only. */
static void test_offsets_restart(void **state)
{
    fixture *fx = *state;
    int32_t parts[4] = {0, 1, 2, 3};
    int64_t offs[4] = {11, 12, 13, 14};
    int16_t ec[4];
    raw_offset_commit(fx->port, "g-restart", -1, "", "orders", 4, parts, offs, "meta", ec);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ec[i], 0);
    /* Unknown partition and topic, oversized metadata, empty group, a generation for a
     * group without members, an unknown member of a group with members. */
    int32_t bad_part[1] = {4};
    raw_offset_commit(fx->port, "g-restart", -1, "", "orders", 1, bad_part, offs, NULL, ec);
    assert_int_equal(ec[0], 3);
    raw_offset_commit(fx->port, "g-restart", -1, "", "nosuch", 1, parts, offs, NULL, ec);
    assert_int_equal(ec[0], 3);
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    raw_offset_commit(fx->port, "g-restart", -1, "", "orders", 1, parts, offs, big, ec);
    assert_int_equal(ec[0], 12);
    raw_offset_commit(fx->port, "", -1, "", "orders", 1, parts, offs, NULL, ec);
    assert_int_equal(ec[0], 24);
    raw_offset_commit(fx->port, "g-restart", 3, "m-1", "orders", 1, parts, offs, NULL, ec);
    assert_int_equal(ec[0], 22);

    int64_t got[4];
    int32_t epochs[4];
    char md[4][64];
    raw_offset_fetch(fx->port, "g-restart", "orders", 4, got, epochs, md);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(got[i], offs[i]);
        assert_int_equal(epochs[i], 7);
        assert_string_equal(md[i], "meta");
    }
    int64_t kcat_offs[4];
    raw_offset_fetch(fx->port, "g-kcat", "orders", 4, kcat_offs, NULL, NULL);

    /* Restart on the same offsets directory: everything committed is back. */
    server_thread_stop(&fx->st);
    server_thread_start(&fx->st, fx->store, 0, fx->offsets_dir);
    fx->srv = fx->st.srv;
    fx->port = fx->st.port;
    snprintf(fx->bootstrap, sizeof fx->bootstrap, "127.0.0.1:%u", fx->port);
    int64_t again[4];
    raw_offset_fetch(fx->port, "g-restart", "orders", 4, got, epochs, md);
    raw_offset_fetch(fx->port, "g-kcat", "orders", 4, again, NULL, NULL);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(got[i], offs[i]);
        assert_int_equal(epochs[i], 7);
        assert_string_equal(md[i], "meta");
        assert_int_equal(again[i], kcat_offs[i]);
    }
    /* A later commit replaces the earlier one, also after the next restart. */
    int64_t offs2[1] = {99};
    raw_offset_commit(fx->port, "g-restart", -1, "", "orders", 1, parts, offs2, NULL, ec);
    assert_int_equal(ec[0], 0);
    server_thread_stop(&fx->st);
    server_thread_start(&fx->st, fx->store, 0, fx->offsets_dir);
    fx->srv = fx->st.srv;
    fx->port = fx->st.port;
    snprintf(fx->bootstrap, sizeof fx->bootstrap, "127.0.0.1:%u", fx->port);
    raw_offset_fetch(fx->port, "g-restart", "orders", 4, got, NULL, md);
    assert_int_equal(got[0], 99);
    assert_string_equal(md[0], "");
    assert_int_equal(got[1], 12);

    /* Memory only: nothing committed is known. */
    server_thread mem;
    server_thread_start(&mem, fx->store, 0, NULL);
    raw_offset_fetch(mem.port, "g-restart", "orders", 4, got, epochs, md);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(got[i], -1);
        assert_int_equal(epochs[i], -1);
    }
    server_thread_stop(&mem);
}

/* Child of test_offsets_crash: a server on its own log with an "orders" topic of 4
 * partitions, committed offsets in dir; writes its port to port_fd, then serves until
 * killed. */
static void crash_child(const char *dir, int port_fd)
{
    char logdir[300], offdir[300];
    snprintf(logdir, sizeof logdir, "%s/crash-log", dir);
    snprintf(offdir, sizeof offdir, "%s/crash-offsets", dir);
    log_store_opts lo;
    memset(&lo, 0, sizeof lo);
    lo.partitions = 4;
    log_store_t *store;
    if (log_store_open(&store, logdir, &lo, NULL) != 0)
        _exit(10);
    if (log_store_append(store, rl_slice_str("orders"), rl_slice_str("k"), rl_slice_str("v"), 1,
                         NULL) != 0 ||
        log_store_commit(store, rl_slice_str("c"), NULL) != 0)
        _exit(11);
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    kafka_server_opts ko;
    kafka_server_opts_init(&ko);
    ko.listen_port = 0;
    snprintf(ko.offsets_dir, sizeof ko.offsets_dir, "%s", offdir);
    kafka_server_t *srv;
    if (kafka_server_start(&srv, loop, store, &ko, NULL) != 0)
        _exit(12);
    unsigned port = kafka_server_port(srv);
    if (write(port_fd, &port, sizeof port) != (ssize_t)sizeof port)
        _exit(13);
    ev_run(loop, 0);
    _exit(14);
}

/* Acknowledged commits survive a crash (SIGKILL) of the serving process. */
static void test_offsets_crash(void **state)
{
    fixture *fx = *state;
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        crash_child(fx->dir, pfd[1]);
    }
    close(pfd[1]);
    unsigned port = 0;
    assert_int_equal(read(pfd[0], &port, sizeof port), (ssize_t)sizeof port);
    close(pfd[0]);
    int32_t parts[4] = {0, 1, 2, 3};
    int16_t ec[4];
    for (int64_t round = 1; round <= 20; round++) {
        int64_t offs[4] = {round, round * 2, round * 3, round * 4};
        raw_offset_commit(port, "g-crash", -1, "", "orders", 4, parts, offs, "c", ec);
        for (int i = 0; i < 4; i++)
            assert_int_equal(ec[i], 0);
    }
    kill(pid, SIGKILL);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);

    char offdir[300];
    snprintf(offdir, sizeof offdir, "%s/crash-offsets", fx->dir);
    server_thread st;
    server_thread_start(&st, fx->store, 0, offdir);
    int64_t got[4];
    raw_offset_fetch(st.port, "g-crash", "orders", 4, got, NULL, NULL);
    for (int i = 0; i < 4; i++)
        assert_int_equal(got[i], 20 * (i + 1));
    server_thread_stop(&st);
}

/* JoinGroup v5 on fd (one "range" protocol with metadata "m<i>"). */
static void send_join(int fd, int32_t corr, const char *group, const char *member)
{
    rl_buf req = RL_BUF_INIT;
    kt_req_begin(&req, 11, 5, corr);
    kt_put_str(&req, group);
    rl_buf_put_be32(&req, 30000); /* session timeout */
    rl_buf_put_be32(&req, 60000); /* rebalance timeout */
    kt_put_str(&req, member);
    rl_buf_put_be16(&req, (uint16_t)-1); /* group_instance_id */
    kt_put_str(&req, "consumer");
    rl_buf_put_be32(&req, 1);
    kt_put_str(&req, "range");
    rl_buf_put_be32(&req, 4);
    rl_buf_printf(&req, "m%03d", corr % 1000);
    kt_req_end(&req);
    raw_send(fd, req.p, req.len);
    rl_buf_free(&req);
}

typedef struct join_resp {
    int16_t error;
    int32_t generation;
    char protocol[32], leader[128], member[128];
    int32_t nmembers;
} join_resp;

static void recv_join(int fd, int32_t corr, join_resp *out, rl_buf *resp)
{
    kt_recv_frame(fd, resp);
    rl_reader rd = rl_reader_make(rl_buf_slice(resp));
    memset(out, 0, sizeof *out);
    assert_int_equal(rl_get_i32be(&rd), corr);
    assert_int_equal(rl_get_i32be(&rd), 0);
    out->error = rl_get_i16be(&rd);
    out->generation = rl_get_i32be(&rd);
    rl_slice s = kt_get_str(&rd);
    snprintf(out->protocol, sizeof out->protocol, "%.*s", (int)s.len, s.p ? (char *)s.p : "");
    s = kt_get_str(&rd);
    snprintf(out->leader, sizeof out->leader, "%.*s", (int)s.len, s.p ? (char *)s.p : "");
    s = kt_get_str(&rd);
    snprintf(out->member, sizeof out->member, "%.*s", (int)s.len, s.p ? (char *)s.p : "");
    out->nmembers = rl_get_i32be(&rd);
    for (int32_t i = 0; i < out->nmembers; i++) {
        (void)kt_get_str(&rd);
        assert_int_equal(rl_get_i16be(&rd), -1); /* group_instance_id */
        int32_t n = rl_get_i32be(&rd);
        assert_int_equal(n, 4);
        rl_slice md = rl_get_bytes(&rd, 4);
        assert_true(md.p && md.p[0] == 'm');
    }
    assert_false(rd.err);
    assert_int_equal(rl_reader_left(&rd), 0);
}

/* 1,000 connections in 100 groups of 10 members on one server, all waiting in the join and
 * sync barriers at the same time: the MEMBER_ID_REQUIRED handshake, one generation per group
 * with its leader listing all 10 members, the leader's assignment relayed to each member,
 * heartbeats, a commit per member, and a Fetch on every connection. */
static void test_many_groups(void **state)
{
    fixture *fx = *state;
    enum { NGROUPS = 100, PER = 10, NCONN = NGROUPS * PER };
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    if (old.rlim_max < 2 * NCONN + 200) {
        fprintf(stderr, "RLIMIT_NOFILE hard limit %lu: skipping\n", (unsigned long)old.rlim_max);
        skip();
    }
    lim = old;
    lim.rlim_cur = 2 * NCONN + 200;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);

    int *fds = calloc(NCONN, sizeof *fds);
    join_resp *jr = calloc(NCONN, sizeof *jr);
    char(*ids)[128] = calloc(NCONN, sizeof *ids);
    assert_true(fds && jr && ids);
    rl_buf resp = RL_BUF_INIT, req = RL_BUF_INIT;
    char group[32];
    kafka_server_stats before, st;
    stats(fx, &before);
    for (int i = 0; i < NCONN; i++)
        fds[i] = raw_connect(fx);

    /* Handshake: every member gets its id. */
    for (int i = 0; i < NCONN; i++) {
        snprintf(group, sizeof group, "scale-%d", i / PER);
        send_join(fds[i], i, group, "");
    }
    for (int i = 0; i < NCONN; i++) {
        recv_join(fds[i], i, &jr[i], &resp);
        assert_int_equal(jr[i].error, 79);
        assert_int_equal(jr[i].generation, -1);
        assert_true(jr[i].member[0] != 0);
        snprintf(ids[i], sizeof ids[i], "%s", jr[i].member);
    }
    /* Join with the ids: each group's joins wait until its 10th member arrives. */
    for (int i = 0; i < NCONN; i++) {
        snprintf(group, sizeof group, "scale-%d", i / PER);
        send_join(fds[i], i, group, ids[i]);
        if (i % PER == PER / 2) {
            /* Half the group in: its first joins are still waiting. */
            struct pollfd pfd = {fds[i - PER / 2], POLLIN, 0};
            assert_int_equal(poll(&pfd, 1, 0), 0);
        }
    }
    stats(fx, &st);
    assert_int_equal(st.connections_open, before.connections_open + NCONN);
    for (int i = 0; i < NCONN; i++) {
        recv_join(fds[i], i, &jr[i], &resp);
        assert_int_equal(jr[i].error, 0);
        assert_string_equal(jr[i].member, ids[i]);
        assert_string_equal(jr[i].protocol, "range");
    }
    for (int g = 0; g < NGROUPS; g++) {
        int leaders = 0;
        for (int k = 0; k < PER; k++) {
            int i = g * PER + k;
            assert_int_equal(jr[i].generation, jr[g * PER].generation);
            assert_string_equal(jr[i].leader, jr[g * PER].leader);
            if (strcmp(jr[i].leader, ids[i]) == 0) {
                leaders++;
                assert_int_equal(jr[i].nmembers, PER);
            } else {
                assert_int_equal(jr[i].nmembers, 0);
            }
        }
        assert_int_equal(leaders, 1);
    }
    stats(fx, &st);
    assert_int_equal(st.members, before.members + NCONN);

    /* Sync: followers first (they wait), then each leader hands out "a<i>" per member. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < NCONN; i++) {
            bool leader = strcmp(jr[i].leader, ids[i]) == 0;
            if (leader != (pass == 1))
                continue;
            snprintf(group, sizeof group, "scale-%d", i / PER);
            kt_req_begin(&req, 14, 3, 5000 + i);
            kt_put_str(&req, group);
            rl_buf_put_be32(&req, (uint32_t)jr[i].generation);
            kt_put_str(&req, ids[i]);
            rl_buf_put_be16(&req, (uint16_t)-1);
            if (leader) {
                rl_buf_put_be32(&req, PER);
                for (int k = 0; k < PER; k++) {
                    int j = (i / PER) * PER + k;
                    kt_put_str(&req, ids[j]);
                    rl_buf_put_be32(&req, 5);
                    rl_buf_printf(&req, "a%04d", j);
                }
            } else {
                rl_buf_put_be32(&req, 0);
            }
            kt_req_end(&req);
            raw_send(fds[i], req.p, req.len);
            if (!leader && i % PER == PER - 1) {
                struct pollfd pfd = {fds[i], POLLIN, 0};
                assert_int_equal(poll(&pfd, 1, 0), 0);
            }
        }
    for (int i = 0; i < NCONN; i++) {
        kt_recv_frame(fds[i], &resp);
        rl_reader rd = rl_reader_make(rl_buf_slice(&resp));
        assert_int_equal(rl_get_i32be(&rd), 5000 + i);
        assert_int_equal(rl_get_i32be(&rd), 0);
        assert_int_equal(rl_get_i16be(&rd), 0);
        assert_int_equal(rl_get_i32be(&rd), 5);
        char want[8];
        snprintf(want, sizeof want, "a%04d", i);
        assert_true(rl_slice_eq_str(rl_get_bytes(&rd, 5), want));
        assert_int_equal(rl_reader_left(&rd), 0);
    }

    /* Heartbeat with a wrong generation, then a right one; commit; fetch. */
    for (int i = 0; i < NCONN; i++) {
        snprintf(group, sizeof group, "scale-%d", i / PER);
        for (int h = 0; h < 2; h++) {
            kt_req_begin(&req, 12, 3, 6000 + 2 * i + h);
            kt_put_str(&req, group);
            rl_buf_put_be32(&req, (uint32_t)(jr[i].generation + (h == 0 ? 7 : 0)));
            kt_put_str(&req, ids[i]);
            rl_buf_put_be16(&req, (uint16_t)-1);
            kt_req_end(&req);
            raw_send(fds[i], req.p, req.len);
        }
        int32_t part = i % 4;
        /* Several members of a group commit the same partition, from different connections
         * whose requests the server may read in any order: they commit the same offset, so
         * the outcome does not depend on that order. */
        int64_t off = (int64_t)(i / PER) * 1000 + part;
        kt_req_begin(&req, 8, 7, 7000 + i);
        kt_put_str(&req, group);
        rl_buf_put_be32(&req, (uint32_t)jr[i].generation);
        kt_put_str(&req, ids[i]);
        rl_buf_put_be16(&req, (uint16_t)-1);
        rl_buf_put_be32(&req, 1);
        kt_put_str(&req, "orders");
        rl_buf_put_be32(&req, 1);
        rl_buf_put_be32(&req, (uint32_t)part);
        rl_buf_put_be64(&req, (uint64_t)off);
        rl_buf_put_be32(&req, (uint32_t)-1);
        rl_buf_put_be16(&req, (uint16_t)-1);
        kt_req_end(&req);
        raw_send(fds[i], req.p, req.len);
        fetch_req(&req, 11, 8000 + i, 0, 0, 4096, "orders", part, 0, 4096);
        raw_send(fds[i], req.p, req.len);
    }
    for (int i = 0; i < NCONN; i++) {
        for (int h = 0; h < 2; h++) {
            kt_recv_frame(fds[i], &resp);
            rl_reader rd = rl_reader_make(rl_buf_slice(&resp));
            assert_int_equal(rl_get_i32be(&rd), 6000 + 2 * i + h);
            assert_int_equal(rl_get_i32be(&rd), 0);
            assert_int_equal(rl_get_i16be(&rd), h == 0 ? 22 : 0);
        }
        kt_recv_frame(fds[i], &resp);
        rl_reader rd = rl_reader_make(rl_buf_slice(&resp));
        assert_int_equal(rl_get_i32be(&rd), 7000 + i);
        assert_int_equal(rl_get_i32be(&rd), 0);
        assert_int_equal(rl_get_i32be(&rd), 1);
        (void)kt_get_str(&rd);
        assert_int_equal(rl_get_i32be(&rd), 1);
        assert_int_equal(rl_get_i32be(&rd), i % 4);
        assert_int_equal(rl_get_i16be(&rd), 0);
        kt_recv_frame(fds[i], &resp);
        fetch_resp fr;
        fetch_decode(&resp, 11, "orders", i % 4, &fr);
        assert_int_equal(fr.corr, 8000 + i);
        assert_int_equal(fr.error, 0);
        assert_true(check_records(fx, T_ORDERS, (uint32_t)(i % 4), 0, fr.records) > 0);
    }
    stats(fx, &st);
    assert_true(st.offset_commits >= before.offset_commits + NCONN);
    /* Group commit: far fewer durable commits than commit requests. */
    assert_true(st.offset_commit_syncs - before.offset_commit_syncs < NCONN);
    for (int g = 0; g < NGROUPS; g += 33) {
        snprintf(group, sizeof group, "scale-%d", g);
        int64_t got[4];
        raw_offset_fetch(fx->port, group, "orders", 4, got, NULL, NULL);
        for (int p = 0; p < 4; p++) {
            /* Some member of the group committed partition p (PER >= 4). */
            assert_int_equal(got[p], (int64_t)g * 1000 + p);
        }
    }

    /* Everyone leaves by closing: members stay until their session times out (Kafka's
     * behaviour); a LeaveGroup from one member of group 0 rebalances that group. */
    kt_req_begin(&req, 13, 0, 9000);
    kt_put_str(&req, "scale-0");
    kt_put_str(&req, ids[0]);
    kt_req_end(&req);
    raw_send(fds[0], req.p, req.len);
    kt_recv_frame(fds[0], &resp);
    rl_reader rd = rl_reader_make(rl_buf_slice(&resp));
    assert_int_equal(rl_get_i32be(&rd), 9000);
    assert_int_equal(rl_get_i16be(&rd), 0);
    stats(fx, &st);
    assert_int_equal(st.members, before.members + NCONN - 1);
    for (int i = 0; i < NCONN; i++)
        close(fds[i]);
    int64_t deadline = rl_now_ms() + 20000;
    do {
        stats(fx, &st);
        if (st.connections_open == before.connections_open)
            break;
        usleep(20000);
    } while (rl_now_ms() < deadline);
    assert_int_equal(st.connections_open, before.connections_open);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    free(fds);
    free(jr);
    free(ids);
    rl_buf_free(&resp);
    rl_buf_free(&req);
}

int main(int argc, char **argv)
{
    if (access(KCAT, X_OK) != 0) {
        fprintf(stderr, "%s not installed: skipping\n", KCAT);
        return 77;
    }
    if (argc > 1) {
        compression_arg = log_compression_parse(argv[1]);
        if (compression_arg < 0) {
            fprintf(stderr, "unknown codec %s\n", argv[1]);
            return 2;
        }
    }
    rl_log_set_level(RL_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kcat_metadata),
        cmocka_unit_test(test_kcat_consume_all),
        cmocka_unit_test(test_kcat_offsets),
        cmocka_unit_test(test_kcat_small_fetches),
        cmocka_unit_test(test_kcat_versions),
        cmocka_unit_test(test_raw_api_versions),
        cmocka_unit_test(test_raw_metadata_list_offsets),
        cmocka_unit_test(test_raw_fetch),
        cmocka_unit_test(test_raw_pipeline_backpressure),
        cmocka_unit_test(test_raw_malformed),
        cmocka_unit_test(test_max_connections),
        cmocka_unit_test(test_accept_emfile),
        cmocka_unit_test(test_kcat_produce_refused),
        cmocka_unit_test(test_rdkafka_all_partitions),
        cmocka_unit_test(test_rdkafka_long_poll),
        cmocka_unit_test(test_kcat_group),
        cmocka_unit_test(test_rdkafka_group),
        cmocka_unit_test(test_offsets_restart),
        cmocka_unit_test(test_offsets_crash),
        cmocka_unit_test(test_many_groups),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
