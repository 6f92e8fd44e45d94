/* Tests of `rowlog tail` and `rowlog topics` against librdkafka's in-process mock cluster
 * (rdkafka_mock.h): this process hosts the mock broker and produces known records, then runs
 * the built rowlog binary (ROWLOG_BIN) against it and compares its output with expected lines
 * written out by hand from the records produced. Also covers the usage errors of every
 * subcommand. End-to-end runs against rowlogd itself are the integration tests' job. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "run_cmd.h"

typedef struct mock_env {
    rd_kafka_t *host; /* owns the mock cluster */
    rd_kafka_mock_cluster_t *mc;
    rd_kafka_t *prod;
    char bootstrap[256];
} mock_env;

static mock_env env;

typedef struct rec {
    const char *topic;
    int32_t partition;
    const char *key; /* NULL = null key */
    size_t key_len;
    const char *value; /* NULL = null value */
    size_t value_len;
} rec;

#define S(lit) lit, sizeof(lit) - 1

/* The records, in produce order; offsets count up per partition from 0. */
static const rec records[] = {
    {"orders", 0, S("{\"id\":1}"), S("{\"op\":\"c\",\"n\":1}")},
    {"orders", 0, S("{\"id\":2}"), S("{\"a\":\n1}")},
    {"orders", 0, NULL, 0, S("not json")},
    {"orders", 1, S("{\"id\":3}"), NULL, 0},
    {"orders", 1, S("plain"), S("\xff")},
    {"orders", 2, S("{\"id\":4}"), S("[1, 2, 3]")},
};

/* What rowlog tail must print for them (any order across partitions). */
static const char *const expected_lines[] = {
    "{\"topic\":\"orders\",\"partition\":0,\"offset\":0,\"key\":{\"id\":1},"
    "\"value\":{\"op\":\"c\",\"n\":1}}",
    "{\"topic\":\"orders\",\"partition\":0,\"offset\":1,\"key\":{\"id\":2},\"value\":{\"a\": 1}}",
    "{\"topic\":\"orders\",\"partition\":0,\"offset\":2,\"key\":null,\"value\":\"not json\"}",
    "{\"topic\":\"orders\",\"partition\":1,\"offset\":0,\"key\":{\"id\":3},\"value\":null}",
    "{\"topic\":\"orders\",\"partition\":1,\"offset\":1,\"key\":\"plain\",\"value\":\"\\u00ff\"}",
    "{\"topic\":\"orders\",\"partition\":2,\"offset\":0,\"key\":{\"id\":4},\"value\":[1, 2, 3]}",
};
#define NEXPECTED (sizeof expected_lines / sizeof expected_lines[0])

static void produce(const rec *r)
{
    rd_kafka_resp_err_t e;
    if (r->key)
        e = rd_kafka_producev(
            env.prod, RD_KAFKA_V_TOPIC(r->topic), RD_KAFKA_V_PARTITION(r->partition),
            RD_KAFKA_V_KEY(r->key, r->key_len), RD_KAFKA_V_VALUE((void *)r->value, r->value_len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    else
        e = rd_kafka_producev(env.prod, RD_KAFKA_V_TOPIC(r->topic),
                              RD_KAFKA_V_PARTITION(r->partition),
                              RD_KAFKA_V_VALUE((void *)r->value, r->value_len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(env.prod, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

static int delivery_errors;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err)
        delivery_errors++;
}

static int setup(void **state)
{
    (void)state;
    char why[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* The host handle only owns the mock cluster: silence its "no bootstrap.servers" notice. */
    if (rd_kafka_conf_set(conf, "log_level", "3", why, sizeof why))
        return -1;
    env.host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!env.host)
        return -1;
    env.mc = rd_kafka_mock_cluster_new(env.host, 1);
    if (!env.mc)
        return -1;
    snprintf(env.bootstrap, sizeof env.bootstrap, "%s", rd_kafka_mock_cluster_bootstraps(env.mc));
    if (rd_kafka_mock_topic_create(env.mc, "orders", 3, 1) ||
        rd_kafka_mock_topic_create(env.mc, "empty", 2, 1) ||
        rd_kafka_mock_topic_create(env.mc, "live", 1, 1))
        return -1;

    conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", env.bootstrap, why, sizeof why) ||
        rd_kafka_conf_set(conf, "linger.ms", "0", why, sizeof why))
        return -1;
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    env.prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!env.prod)
        return -1;
    for (size_t i = 0; i < sizeof records / sizeof records[0]; i++)
        produce(&records[i]);
    return delivery_errors ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    if (env.prod)
        rd_kafka_destroy(env.prod);
    if (env.mc)
        rd_kafka_mock_cluster_destroy(env.mc);
    if (env.host)
        rd_kafka_destroy(env.host);
    return 0;
}

/* Splits b into lines (NUL-terminating them in place); returns the count. */
static size_t split_lines(rl_buf *b, char **lines, size_t max)
{
    size_t n = 0;
    char *s = (char *)b->p;
    char *end = s + b->len;
    while (s < end && n < max) {
        char *nl = memchr(s, '\n', (size_t)(end - s));
        if (!nl)
            fail_msg("unterminated last line: %.*s", (int)(end - s), s);
        *nl = '\0';
        lines[n++] = s;
        s = nl + 1;
    }
    return n;
}

/* Asserts that out holds exactly the expected lines whose index is set in want (a bit mask),
 * in any order, each once, and that offsets increase within a partition. */
static void expect_lines(rl_buf *out, unsigned want)
{
    char *lines[64];
    size_t n = split_lines(out, lines, 64);
    size_t nwant = 0;
    bool seen[NEXPECTED] = {false};
    for (size_t e = 0; e < NEXPECTED; e++)
        nwant += (want >> e) & 1;
    for (size_t i = 0; i < n; i++) {
        size_t e = 0;
        while (e < NEXPECTED && strcmp(lines[i], expected_lines[e]) != 0)
            e++;
        if (e == NEXPECTED || !((want >> e) & 1))
            fail_msg("unexpected line: %s", lines[i]);
        if (seen[e])
            fail_msg("line printed twice: %s", lines[i]);
        seen[e] = true;
        /* expected_lines are in offset order per partition: a later one must come later. */
        for (size_t j = e + 1; j < NEXPECTED; j++) {
            if (seen[j] && records[j].partition == records[e].partition)
                fail_msg("out of order within partition: %s", lines[i]);
        }
    }
    assert_int_equal(n, nwant);
}

static char rowlog_bin[] = ROWLOG_BIN;

static void test_tail_from_beginning(void **state)
{
    (void)state;
    char *argv[] = {rowlog_bin, "tail", "--bootstrap", env.bootstrap, "orders", NULL};
    run_result r;
    run_cmd(argv, 60, &r);
    if (r.status != 0)
        fail_msg("exit %d, stderr: %s", r.status, (char *)r.err.p);
    expect_lines(&r.out, 0x3f);
    run_result_free(&r);
}

static void test_tail_from_offset_and_end(void **state)
{
    (void)state;
    run_result r;
    char *from1[] = {rowlog_bin, "tail", "--bootstrap", env.bootstrap,
                     "--from",   "1",    "orders",      NULL};
    run_cmd(from1, 60, &r);
    if (r.status != 0)
        fail_msg("exit %d, stderr: %s", r.status, (char *)r.err.p);
    expect_lines(&r.out, (1u << 1) | (1u << 2) | (1u << 4)); /* offsets >= 1 */
    run_result_free(&r);

    char *end[] = {rowlog_bin, "tail",   "--bootstrap", env.bootstrap, "--from",
                   "end",      "orders", "empty",       NULL};
    run_cmd(end, 60, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.out.len, 0);
    run_result_free(&r);

    /* Offset 1 does not exist in the partitions of `empty`: an error, not a silent jump. */
    char *oob[] = {rowlog_bin, "tail", "--bootstrap", env.bootstrap, "--from", "1", "empty", NULL};
    run_cmd(oob, 60, &r);
    assert_int_equal(r.status, 1);
    assert_int_equal(r.out.len, 0);
    assert_non_null(strstr((char *)r.err.p, "empty ["));
    run_result_free(&r);
}

static void test_tail_several_topics_and_max(void **state)
{
    (void)state;
    run_result r;
    /* A topic named twice is read once; an empty topic ends at once. */
    char *two[] = {rowlog_bin, "tail",   "--bootstrap", env.bootstrap,
                   "empty",    "orders", "orders",      NULL};
    run_cmd(two, 60, &r);
    if (r.status != 0)
        fail_msg("exit %d, stderr: %s", r.status, (char *)r.err.p);
    expect_lines(&r.out, 0x3f);
    run_result_free(&r);

    char *max[] = {rowlog_bin, "tail", "--bootstrap", env.bootstrap, "--max", "2", "orders", NULL};
    run_cmd(max, 60, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(run_count_lines(&r.out), 2);
    run_result_free(&r);
}

static void test_tail_errors(void **state)
{
    (void)state;
    run_result r;
    /* The mock broker creates topics on demand; make it answer as rowlogd does for a topic it
     * does not have. */
    rd_kafka_mock_topic_set_error(env.mc, "nope", RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
    char *unknown[] = {rowlog_bin, "tail", "--bootstrap", env.bootstrap, "nope", NULL};
    run_cmd(unknown, 60, &r);
    assert_int_equal(r.status, 1);
    if (!strstr((char *)r.err.p, "unknown topic 'nope'"))
        fail_msg("stderr: %s", (char *)r.err.p);
    run_result_free(&r);

    /* A port nobody listens on: bind one, note it, close it. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    close(fd);
    char down[64];
    snprintf(down, sizeof down, "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    char *tail_down[] = {rowlog_bin, "tail", "--bootstrap", down, "orders", NULL};
    int64_t t0 = run_now_ms();
    run_cmd(tail_down, 60, &r);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr((char *)r.err.p, "cannot reach"));
    assert_true(run_now_ms() - t0 < 9000); /* fails fast, not after the 10 s timeout */
    run_result_free(&r);
    char *topics_down[] = {rowlog_bin, "topics", "--bootstrap", down, NULL};
    run_cmd(topics_down, 60, &r);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr((char *)r.err.p, "cannot reach"));
    assert_int_equal(r.out.len, 0);
    run_result_free(&r);
}

/* Reads from the running process until its stdout holds `lines` lines or the deadline. */
static void pump_until_lines(run_proc *rp, run_result *res, size_t lines, int64_t deadline)
{
    while (run_count_lines(&res->out) < lines && run_now_ms() < deadline) {
        if (!run_pump(rp, res, 100))
            break;
    }
}

static void test_tail_follow(void **state)
{
    (void)state;
    static const rec first = {"live", 0, S("{\"id\":10}"), S("{\"v\":1}")};
    static const rec second = {"live", 0, S("{\"id\":11}"), S("{\"v\":2}")};
    produce(&first);
    run_proc rp;
    run_result r;
    memset(&r, 0, sizeof r);
    char *argv[] = {rowlog_bin, "tail", "--bootstrap", env.bootstrap, "--follow", "live", NULL};
    assert_int_equal(run_start(&rp, argv), 0);
    /* The existing record arrives through the pipe while rowlog keeps running... */
    pump_until_lines(&rp, &r, 1, run_now_ms() + 20000);
    rl_buf_cstr(&r.out);
    assert_string_equal((char *)r.out.p, "{\"topic\":\"live\",\"partition\":0,\"offset\":0,"
                                         "\"key\":{\"id\":10},\"value\":{\"v\":1}}\n");
    /* ...and so does one produced later: output is flushed before it waits again. */
    produce(&second);
    pump_until_lines(&rp, &r, 2, run_now_ms() + 20000);
    assert_int_equal(waitpid(rp.pid, NULL, WNOHANG), 0); /* still following */
    kill(rp.pid, SIGTERM);
    run_finish(&rp, &r, run_now_ms() + 20000);
    assert_int_equal(r.status, 0); /* SIGTERM is a clean stop */
    assert_string_equal((char *)r.out.p, "{\"topic\":\"live\",\"partition\":0,\"offset\":0,"
                                         "\"key\":{\"id\":10},\"value\":{\"v\":1}}\n"
                                         "{\"topic\":\"live\",\"partition\":0,\"offset\":1,"
                                         "\"key\":{\"id\":11},\"value\":{\"v\":2}}\n");
    run_result_free(&r);
}

static void test_topics(void **state)
{
    (void)state;
    run_result r;
    char *argv[] = {rowlog_bin, "topics", "--bootstrap", env.bootstrap, NULL};
    run_cmd(argv, 60, &r);
    /* `nope` answers UNKNOWN_TOPIC_OR_PART (test_tail_errors): reported, the rest listed,
     * exit status 1. */
    if (r.status != 1 || !strstr((char *)r.err.p, "topic 'nope'"))
        fail_msg("exit %d, stderr: %s", r.status, (char *)r.err.p);
    /* Counts from `records` (3, 2, 1 per partition of orders) and the two records that
     * test_tail_follow adds to `live` (both tests run before this one). */
    assert_string_equal((char *)r.out.p, "empty\t0\t0\t0\n"
                                         "empty\t1\t0\t0\n"
                                         "live\t0\t0\t2\n"
                                         "orders\t0\t0\t3\n"
                                         "orders\t1\t0\t2\n"
                                         "orders\t2\t0\t1\n");
    run_result_free(&r);
}

static void expect_status(char *const argv[], int status, const char *out_has, const char *err_has)
{
    run_result r;
    run_cmd(argv, 30, &r);
    if (r.status != status)
        fail_msg("%s %s: exit %d, want %d; stderr: %s", argv[1], argv[2] ? argv[2] : "", r.status,
                 status, (char *)r.err.p);
    if (out_has && !strstr((char *)r.out.p, out_has))
        fail_msg("%s: stdout lacks '%s': %s", argv[1], out_has, (char *)r.out.p);
    if (err_has && !strstr((char *)r.err.p, err_has))
        fail_msg("%s: stderr lacks '%s': %s", argv[1], err_has, (char *)r.err.p);
    run_result_free(&r);
}

static void test_usage(void **state)
{
    (void)state;
    char *none[] = {rowlog_bin, NULL};
    expect_status(none, 2, NULL, "usage: rowlog");
    char *help[] = {rowlog_bin, "--help", NULL};
    expect_status(help, 0, "usage: rowlog", NULL);
    char *help2[] = {rowlog_bin, "help", NULL};
    expect_status(help2, 0, "usage: rowlog", NULL);
    char *help_tail[] = {rowlog_bin, "help", "tail", NULL};
    expect_status(help_tail, 0, "usage: rowlog tail", NULL);
    char *bad_cmd[] = {rowlog_bin, "frobnicate", NULL};
    expect_status(bad_cmd, 2, NULL, "unknown command 'frobnicate'");

    char *tail_help[] = {rowlog_bin, "tail", "--help", NULL};
    expect_status(tail_help, 0, "usage: rowlog tail", NULL);
    char *tail_none[] = {rowlog_bin, "tail", NULL};
    expect_status(tail_none, 2, NULL, "no TOPIC");
    char *tail_opt[] = {rowlog_bin, "tail", "--bogus", "t", NULL};
    expect_status(tail_opt, 2, NULL, "unknown option '--bogus'");
    char *tail_from[] = {rowlog_bin, "tail", "--from", "start", "t", NULL};
    expect_status(tail_from, 2, NULL, "--from");
    char *tail_from_neg[] = {rowlog_bin, "tail", "--from", "-5", "t", NULL};
    expect_status(tail_from_neg, 2, NULL, "--from");
    char *tail_max[] = {rowlog_bin, "tail", "--max", "0", "t", NULL};
    expect_status(tail_max, 2, NULL, "--max");
    char *tail_noarg[] = {rowlog_bin, "tail", "t", "--bootstrap", NULL};
    expect_status(tail_noarg, 2, NULL, "needs a value");

    char *topics_help[] = {rowlog_bin, "topics", "--help", NULL};
    expect_status(topics_help, 0, "usage: rowlog topics", NULL);
    char *topics_extra[] = {rowlog_bin, "topics", "extra", NULL};
    expect_status(topics_extra, 2, NULL, "unexpected argument 'extra'");
    char *topics_opt[] = {rowlog_bin, "topics", "-x", NULL};
    expect_status(topics_opt, 2, NULL, "unknown option '-x'");

    char *binlog_none[] = {rowlog_bin, "binlog", NULL};
    expect_status(binlog_none, 2, NULL, "usage: rowlog binlog dump");
    char *binlog_help[] = {rowlog_bin, "binlog", "--help", NULL};
    expect_status(binlog_help, 0, "usage: rowlog binlog dump", NULL);
    char *dump_help[] = {rowlog_bin, "binlog", "dump", "--help", NULL};
    expect_status(dump_help, 0, "usage: rowlog binlog dump", NULL);
    char *binlog_sub[] = {rowlog_bin, "binlog", "load", NULL};
    expect_status(binlog_sub, 2, NULL, "unknown subcommand 'load'");
    char *dump_none[] = {rowlog_bin, "binlog", "dump", NULL};
    expect_status(dump_none, 2, NULL, "no FILE");
    char *dump_opt[] = {rowlog_bin, "binlog", "dump", "--prefix", "x", "f", NULL};
    expect_status(dump_opt, 2, NULL, "unknown option '--prefix'");
    char *dump_missing[] = {rowlog_bin, "binlog", "dump", "/nonexistent/binlog.000001", NULL};
    expect_status(dump_missing, 1, NULL, "/nonexistent/binlog.000001");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_tail_from_beginning),
        cmocka_unit_test(test_tail_from_offset_and_end),
        cmocka_unit_test(test_tail_several_topics_and_max),
        cmocka_unit_test(test_tail_errors),
        cmocka_unit_test(test_tail_follow),
        cmocka_unit_test(test_topics),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
