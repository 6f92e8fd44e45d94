/* Tests of the `rowlog tail` options added on top of the plain JSON reader: --format value and
 * pretty, --op, --max, --partition, topic wildcards, --from gtid: (against a one-shot HTTP
 * server in this process standing in for rowlogd's /v1/offsets), --group (committed offsets
 * carry a second run on where the first stopped) and option errors. The broker is
 * librdkafka's in-process mock cluster; records are change envelopes written here, and the
 * expected lines are written out by hand from them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pty.h>
#include <sys/socket.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "run_cmd.h"

static struct {
    rd_kafka_t *host;
    rd_kafka_mock_cluster_t *mc;
    rd_kafka_t *prod;
    char bootstrap[256];
} env;

static char rowlog_bin[] = ROWLOG_BIN;

#define ENV(op, before, after)                                                                     \
    "{\"before\":" before ",\"after\":" after ",\"source\":{\"name\":\"rowlog\",\"server_id\":1,"  \
    "\"file\":\"binlog.000001\",\"pos\":4,\"row\":0,\"gtid\":\"0-1-1\",\"db\":\"shop\","           \
    "\"table\":\"orders\",\"ts_ms\":1,\"snapshot\":false},\"op\":\"" op "\",\"ts_ms\":2}"

typedef struct rec {
    const char *topic;
    int32_t partition;
    const char *key;
    const char *value; /* NULL: tombstone */
} rec;

/* Offsets per partition count from 0 in this order. */
static const rec records[] = {
    {"rowlog.shop.orders", 0, "{\"id\":1}", ENV("c", "null", "{\"id\":1,\"qty\":1}")},
    {"rowlog.shop.orders", 0, "{\"id\":1}",
     ENV("u", "{\"id\":1,\"qty\":1}", "{\"id\":1,\"qty\":4}")},
    {"rowlog.shop.orders", 1, "{\"id\":2}", ENV("c", "null", "{\"id\":2,\"qty\":7}")},
    {"rowlog.shop.orders", 1, "{\"id\":2}", ENV("d", "{\"id\":2,\"qty\":7}", "null")},
    {"rowlog.shop.orders", 1, "{\"id\":2}", NULL},
    {"rowlog.shop.orders", 2, "{\"id\":3}", ENV("r", "null", "{\"id\":3,\"qty\":0}")},
    {"rowlog.shop.items", 0, "{\"sku\":\"a\"}", "{\"op\":\"c\"}"},
    {"rowlog.other.x", 0, "{\"k\":1}", "{\"op\":\"c\"}"},
};

static void produce(const rec *r)
{
    rd_kafka_resp_err_t e =
        rd_kafka_producev(env.prod, RD_KAFKA_V_TOPIC(r->topic), RD_KAFKA_V_PARTITION(r->partition),
                          RD_KAFKA_V_KEY(r->key, strlen(r->key)),
                          RD_KAFKA_V_VALUE((void *)r->value, r->value ? strlen(r->value) : 0),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    assert_int_equal(e, RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(rd_kafka_flush(env.prod, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

static int setup(void **state)
{
    (void)state;
    char why[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "log_level", "3", why, sizeof why))
        return -1;
    env.host = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!env.host)
        return -1;
    env.mc = rd_kafka_mock_cluster_new(env.host, 1);
    if (!env.mc)
        return -1;
    snprintf(env.bootstrap, sizeof env.bootstrap, "%s", rd_kafka_mock_cluster_bootstraps(env.mc));
    if (rd_kafka_mock_topic_create(env.mc, "rowlog.shop.orders", 3, 1) ||
        rd_kafka_mock_topic_create(env.mc, "rowlog.shop.items", 1, 1) ||
        rd_kafka_mock_topic_create(env.mc, "rowlog.other.x", 1, 1) ||
        rd_kafka_mock_topic_create(env.mc, "grouped", 2, 1))
        return -1;
    conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", env.bootstrap, why, sizeof why) ||
        rd_kafka_conf_set(conf, "linger.ms", "0", why, sizeof why))
        return -1;
    env.prod = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!env.prod)
        return -1;
    for (size_t i = 0; i < sizeof records / sizeof records[0]; i++)
        produce(&records[i]);
    return 0;
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

/* Sorts the lines of out (partitions interleave in any order) and compares with want, whose
 * lines must be given sorted. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void expect_sorted(run_result *r, const char *want)
{
    if (r->status != 0)
        fail_msg("exit %d, stderr: %s", r->status, (char *)r->err.p);
    char *lines[64];
    size_t n = 0;
    char *s = (char *)r->out.p;
    while (s && *s && n < 64) {
        char *nl = strchr(s, '\n');
        assert_non_null(nl);
        *nl = '\0';
        lines[n++] = s;
        s = nl + 1;
    }
    qsort(lines, n, sizeof lines[0], cmp_str);
    rl_buf got = RL_BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        rl_buf_puts(&got, lines[i]);
        rl_buf_putc(&got, '\n');
    }
    const char *g = rl_buf_cstr(&got);
    if (strcmp(g ? g : "", want) != 0)
        fail_msg("got:\n%swant:\n%s", g ? g : "", want);
    rl_buf_free(&got);
}

/* Runs rowlog tail --bootstrap MOCK with the NULL-terminated further arguments. */
static void run_tail(run_result *r, ...)
{
    char *argv[24];
    int n = 0;
    argv[n++] = rowlog_bin;
    argv[n++] = "tail";
    argv[n++] = "--bootstrap";
    argv[n++] = env.bootstrap;
    va_list ap;
    va_start(ap, r);
    for (char *a = va_arg(ap, char *); a && n < 23; a = va_arg(ap, char *))
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    run_cmd(argv, 60, r);
}

static void test_format_value_and_op(void **state)
{
    (void)state;
    run_result r;
    run_tail(&r, "--format", "value", "--op", "u,d", "rowlog.shop.orders", NULL);
    expect_sorted(&r, ENV("u", "{\"id\":1,\"qty\":1}", "{\"id\":1,\"qty\":4}") "\n" ENV(
                          "d", "{\"id\":2,\"qty\":7}", "null") "\n");
    run_result_free(&r);

    /* Value format of a tombstone is null; --partition reads one partition. */
    run_tail(&r, "--format", "value", "--partition", "1", "rowlog.shop.orders", NULL);
    expect_sorted(&r, "null\n" ENV("c", "null", "{\"id\":2,\"qty\":7}") "\n" ENV(
                          "d", "{\"id\":2,\"qty\":7}", "null") "\n");
    run_result_free(&r);

    run_tail(&r, "--partition", "7", "rowlog.shop.orders", NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr((char *)r.err.p, "has no partition 7"));
    run_result_free(&r);
}

static void test_format_pretty(void **state)
{
    (void)state;
    /* stdout is a pipe: no colour even without NO_COLOR. */
    unsetenv("NO_COLOR");
    run_result r;
    run_tail(&r, "--format", "pretty", "rowlog.shop.orders", NULL);
    expect_sorted(&r, "c shop.orders {\"id\":1} id=1 qty=1\n"
                      "c shop.orders {\"id\":2} id=2 qty=7\n"
                      "d shop.orders {\"id\":2} id=2 qty=7\n"
                      "r shop.orders {\"id\":3} id=3 qty=0\n"
                      "rowlog.shop.orders[1]@2 {\"id\":2} (tombstone)\n"
                      "u shop.orders {\"id\":1} qty=1->4\n");
    run_result_free(&r);
}

/* Runs argv with stdout and stderr on a pseudo-terminal (so isatty(1) is true) and NO_COLOR
 * set to no_color (NULL: unset); collects what it wrote. */
static void run_pty(char *const argv[], const char *no_color, rl_buf *out)
{
    int master = -1;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    assert_true(pid >= 0);
    if (pid == 0) {
        if (no_color)
            setenv("NO_COLOR", no_color, 1);
        else
            unsetenv("NO_COLOR");
        execv(argv[0], argv);
        _exit(127);
    }
    char buf[4096];
    int64_t deadline = run_now_ms() + 60000;
    for (;;) {
        struct pollfd pf = {master, POLLIN, 0};
        if (poll(&pf, 1, 200) > 0) {
            ssize_t got = read(master, buf, sizeof buf);
            if (got <= 0)
                break; /* EIO once the child closed the terminal */
            rl_buf_append(out, buf, (size_t)got);
        }
        if (run_now_ms() > deadline) {
            kill(pid, SIGKILL);
            break;
        }
    }
    int st = 0;
    waitpid(pid, &st, 0);
    close(master);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    rl_buf_cstr(out);
}

static void test_pretty_terminal(void **state)
{
    (void)state;
    char *argv[] = {rowlog_bin, "tail", "--bootstrap", env.bootstrap,        "--format",
                    "pretty",   "--op", "u",           "rowlog.shop.orders", NULL};
    rl_buf out = RL_BUF_INIT;
    /* A terminal turns LF into CR LF. */
    run_pty(argv, NULL, &out);
    assert_string_equal((char *)out.p, "\033[33mu\033[0m \033[1mshop.orders\033[0m "
                                       "\033[36m{\"id\":1}\033[0m qty=\033[31m1\033[0m->"
                                       "\033[32m4\033[0m\r\n");
    rl_buf_reset(&out);
    run_pty(argv, "1", &out);
    assert_string_equal((char *)out.p, "u shop.orders {\"id\":1} qty=1->4\r\n");
    rl_buf_reset(&out);
    /* An empty NO_COLOR does not count (no-color.org). */
    run_pty(argv, "", &out);
    assert_non_null(strstr((char *)out.p, "\033[33mu"));
    rl_buf_free(&out);
}

static void test_max_with_op(void **state)
{
    (void)state;
    run_result r;
    /* Creates and snapshot reads: 3 in the topic; --max 2 stops after two of them. */
    run_tail(&r, "--op", "c,r", "--max", "2", "--format", "value", "rowlog.shop.orders", NULL);
    assert_int_equal(r.status, 0);
    assert_int_equal(run_count_lines(&r.out), 2);
    assert_null(strstr((char *)r.out.p, "\"op\":\"u\""));
    assert_null(strstr((char *)r.out.p, "\"op\":\"d\""));
    run_result_free(&r);
}

static void test_wildcards(void **state)
{
    (void)state;
    run_result r;
    run_tail(&r, "--format", "pretty", "rowlog.shop.i*", NULL);
    /* {"op":"c"} alone is an envelope without source: the table falls back to the topic. */
    expect_sorted(&r, "c rowlog.shop.items {\"sku\":\"a\"}\n");
    run_result_free(&r);

    run_tail(&r, "--op", "c", "rowlog.*.[ix]*", "rowlog.shop.items", NULL);
    expect_sorted(&r,
                  "{\"topic\":\"rowlog.other.x\",\"partition\":0,\"offset\":0,\"key\":{\"k\":1},"
                  "\"value\":{\"op\":\"c\"}}\n"
                  "{\"topic\":\"rowlog.shop.items\",\"partition\":0,\"offset\":0,\"key\":"
                  "{\"sku\":\"a\"},\"value\":{\"op\":\"c\"}}\n");
    run_result_free(&r);

    run_tail(&r, "rowlog.none.*", NULL);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr((char *)r.err.p, "no topic matches 'rowlog.none.*'"));
    run_result_free(&r);
}

/* ---- a one-shot HTTP server standing in for rowlogd's /v1/offsets ---------------------- */

typedef struct http_fake {
    int lfd;
    int port;
    int status;
    const char *body;
    char request[1024]; /* the request line received */
    pthread_t th;
} http_fake;

static void *http_fake_run(void *arg)
{
    http_fake *h = arg;
    int fd = accept(h->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    char buf[4096];
    size_t n = 0;
    while (n < sizeof buf - 1) {
        ssize_t got = read(fd, buf + n, sizeof buf - 1 - n);
        if (got <= 0)
            break;
        n += (size_t)got;
        buf[n] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            break;
    }
    buf[n] = '\0';
    char *eol = strstr(buf, "\r\n");
    if (eol)
        *eol = '\0';
    snprintf(h->request, sizeof h->request, "%s", buf);
    if (h->status == 0) { /* a server that never answers: wait for the client to give up */
        while (read(fd, buf, sizeof buf) > 0) {
        }
        close(fd);
        return NULL;
    }
    char resp[2048];
    int len = snprintf(resp, sizeof resp,
                       "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                       "Connection: close\r\n\r\n%s",
                       h->status, strlen(h->body), h->body);
    if (write(fd, resp, (size_t)len) != len)
        fprintf(stderr, "fake http: short write\n");
    close(fd);
    return NULL;
}

static void http_fake_start(http_fake *h, int status, const char *body)
{
    memset(h, 0, sizeof *h);
    h->status = status;
    h->body = body;
    h->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(h->lfd >= 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(h->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(h->lfd, 4), 0);
    assert_int_equal(getsockname(h->lfd, (struct sockaddr *)&sa, &sl), 0);
    h->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&h->th, NULL, http_fake_run, h), 0);
}

static void http_fake_stop(http_fake *h)
{
    shutdown(h->lfd, SHUT_RDWR); /* ends an accept() nobody connected to */
    pthread_join(h->th, NULL);
    close(h->lfd);
}

static void test_from_gtid(void **state)
{
    (void)state;
    http_fake h;
    char http[64];
    run_result r;
    http_fake_start(&h, 200,
                    "{\"topic\":\"rowlog.shop.orders\",\"gtid\":\"0-1-9\",\"partitions\":["
                    "{\"partition\":0,\"offset\":1},{\"partition\":1,\"offset\":3},"
                    "{\"partition\":2,\"offset\":1}]}");
    snprintf(http, sizeof http, "127.0.0.1:%d", h.port);
    char *argv[] = {
        rowlog_bin,   "tail",     "--bootstrap", env.bootstrap,        "--http", http, "--from",
        "gtid:0-1-9", "--format", "pretty",      "rowlog.shop.orders", NULL};
    run_cmd(argv, 60, &r);
    http_fake_stop(&h);
    assert_string_equal(h.request, "GET /v1/offsets?topic=rowlog.shop.orders&gtid=0-1-9 HTTP/1.1");
    /* Partition 0 from offset 1, partition 1 at its end (3), partition 2 at its end (1). */
    expect_sorted(&r, "u shop.orders {\"id\":1} qty=1->4\n");
    run_result_free(&r);

    /* 400: rowlogd's reason is shown. */
    http_fake_start(&h, 400, "{\"error\":\"bad GTID 'zz'\"}");
    snprintf(http, sizeof http, "127.0.0.1:%d", h.port);
    char *bad[] = {rowlog_bin, "tail",   "--bootstrap", env.bootstrap,        "--http",
                   http,       "--from", "gtid:zz",     "rowlog.shop.orders", NULL};
    run_cmd(bad, 60, &r);
    http_fake_stop(&h);
    assert_int_equal(r.status, 1);
    if (!strstr((char *)r.err.p, "refused GTID 'zz'") || !strstr((char *)r.err.p, "bad GTID"))
        fail_msg("stderr: %s", (char *)r.err.p);
    run_result_free(&r);

    /* 404: unknown topic. */
    http_fake_start(&h, 404, "{\"error\":\"unknown topic\"}");
    snprintf(http, sizeof http, "127.0.0.1:%d", h.port);
    char *nf[] = {rowlog_bin, "tail",        "--bootstrap", env.bootstrap,        "--http",
                  http,       "--from-gtid", "0-1-1",       "rowlog.shop.orders", NULL};
    run_cmd(nf, 60, &r);
    http_fake_stop(&h);
    assert_int_equal(r.status, 1);
    if (!strstr((char *)r.err.p, "has no topic 'rowlog.shop.orders'"))
        fail_msg("stderr: %s", (char *)r.err.p);
    run_result_free(&r);

    /* Nobody listening: the error names the URL. */
    http_fake_start(&h, 200, "{}");
    snprintf(http, sizeof http, "127.0.0.1:%d", h.port);
    http_fake_stop(&h);
    char *down[] = {rowlog_bin, "tail",   "--bootstrap", env.bootstrap,        "--http",
                    http,       "--from", "gtid:0-1-1",  "rowlog.shop.orders", NULL};
    run_cmd(down, 60, &r);
    assert_int_equal(r.status, 1);
    char want[128];
    snprintf(want, sizeof want, "GET http://%s/v1/offsets?topic=rowlog.shop.orders", http);
    if (!strstr((char *)r.err.p, want))
        fail_msg("stderr: %s", (char *)r.err.p);
    run_result_free(&r);

    /* A server that accepts and never answers: --timeout bounds the wait. */
    http_fake_start(&h, 0, "");
    snprintf(http, sizeof http, "127.0.0.1:%d", h.port);
    char *silent[] = {rowlog_bin, "tail",       "--bootstrap",        env.bootstrap,
                      "--http",   http,         "--timeout",          "700",
                      "--from",   "gtid:0-1-1", "rowlog.shop.orders", NULL};
    int64_t t0 = run_now_ms();
    run_cmd(silent, 60, &r);
    http_fake_stop(&h);
    assert_int_equal(r.status, 1);
    if (!strstr((char *)r.err.p, "no answer within 700 ms"))
        fail_msg("stderr: %s", (char *)r.err.p);
    assert_true(run_now_ms() - t0 < 8000);
    run_result_free(&r);
}

/* `rowlog offsets` and `rowlog groups` where the mock cluster can answer them (offsets by
 * GTID through the fake HTTP endpoint, watermarks); the mock has no ListGroups, which
 * `rowlog groups` must say plainly. The group listings themselves run against rowlogd in
 * tests/integration/groups_test.sh. */
static void test_offsets_and_groups(void **state)
{
    (void)state;
    run_result r;
    char *marks[] = {rowlog_bin, "offsets", "--bootstrap", env.bootstrap, "rowlog.shop.*", NULL};
    run_cmd(marks, 60, &r);
    if (r.status != 0)
        fail_msg("exit %d, stderr: %s", r.status, (char *)r.err.p);
    assert_string_equal((char *)r.out.p, "rowlog.shop.items\t0\t0\t1\n"
                                         "rowlog.shop.orders\t0\t0\t2\n"
                                         "rowlog.shop.orders\t1\t0\t3\n"
                                         "rowlog.shop.orders\t2\t0\t1\n");
    run_result_free(&r);

    http_fake h;
    char http[64];
    http_fake_start(&h, 200,
                    "{\"topic\":\"rowlog.shop.orders\",\"gtid\":\"0-1-9\",\"partitions\":["
                    "{\"partition\":2,\"offset\":1},{\"partition\":0,\"offset\":1},"
                    "{\"partition\":1,\"offset\":3}]}");
    snprintf(http, sizeof http, "127.0.0.1:%d", h.port);
    char *gtid[] = {rowlog_bin, "offsets", "--bootstrap", env.bootstrap,        "--http",
                    http,       "--gtid",  "0-1-9",       "rowlog.shop.orders", NULL};
    run_cmd(gtid, 60, &r);
    http_fake_stop(&h);
    if (r.status != 0)
        fail_msg("exit %d, stderr: %s", r.status, (char *)r.err.p);
    assert_string_equal((char *)r.out.p, "rowlog.shop.orders\t0\t1\n"
                                         "rowlog.shop.orders\t1\t3\n"
                                         "rowlog.shop.orders\t2\t1\n");
    run_result_free(&r);

    /* An answer that leaves a partition out is an error, not a guess. */
    http_fake_start(&h, 200, "{\"partitions\":[{\"partition\":0,\"offset\":1}]}");
    snprintf(http, sizeof http, "127.0.0.1:%d", h.port);
    char *partial[] = {rowlog_bin, "offsets", "--bootstrap", env.bootstrap,        "--http",
                       http,       "--gtid",  "0-1-9",       "rowlog.shop.orders", NULL};
    run_cmd(partial, 60, &r);
    http_fake_stop(&h);
    assert_int_equal(r.status, 1);
    if (!strstr((char *)r.err.p, "no offset for partition 1"))
        fail_msg("stderr: %s", (char *)r.err.p);
    run_result_free(&r);

    char *groups[] = {rowlog_bin, "groups", "--bootstrap", env.bootstrap, NULL};
    run_cmd(groups, 60, &r);
    assert_int_equal(r.status, 1);
    if (!strstr((char *)r.err.p, "does not support listing groups"))
        fail_msg("stderr: %s", (char *)r.err.p);
    run_result_free(&r);

    static const struct {
        const char *a1, *a2, *a3, *a4, *err_has;
        int status;
    } usage[] = {
        {"offsets", "--gtid", "0-1-1", NULL, "no TOPIC", 2},
        {"offsets", "--gtid", "0-1-1", "--time=-1h", "exclude each other", 2},
        {"offsets", "--time", "yesterday", "t", "--time takes", 2},
        {"offsets", "--help", NULL, NULL, NULL, 0},
        {"groups", "--bogus", NULL, NULL, "unknown option '--bogus'", 2},
        {"groups", "--help", NULL, NULL, NULL, 0},
        {"status", "--help", NULL, NULL, NULL, 0},
    };
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
        char *argv[] = {rowlog_bin,          (char *)usage[i].a1, (char *)usage[i].a2,
                        (char *)usage[i].a3, (char *)usage[i].a4, NULL};
        run_cmd(argv, 30, &r);
        if (r.status != usage[i].status ||
            (usage[i].err_has && !strstr((char *)r.err.p, usage[i].err_has)) ||
            (!usage[i].err_has && !strstr((char *)r.out.p, "usage: rowlog")))
            fail_msg("%s %s: exit %d, stdout %s stderr %s", usage[i].a1, usage[i].a2, r.status,
                     (char *)r.out.p, (char *)r.err.p);
        run_result_free(&r);
    }
}

/* ---- consumer group ---------------------------------------------------------------------- */

/* librdkafka 2.0's mock cluster ignores LeaveGroup: a member that left counts until its
 * session times out, so every run here uses a short session (-X) to keep the next join quick. */
static void test_group_resume(void **state)
{
    (void)state;
    for (int i = 0; i < 6; i++) {
        char key[32], value[64];
        snprintf(key, sizeof key, "{\"id\":%d}", i);
        snprintf(value, sizeof value, "{\"n\":%d}", i);
        rec r = {"grouped", i % 2, key, value};
        produce(&r);
    }
    /* First member prints 4 of the 6 and exits: what it printed is committed. */
    run_result r1, r2, r3;
    char *first[] = {rowlog_bin,    "tail",
                     "--bootstrap", env.bootstrap,
                     "--group",     "g1",
                     "-X",          "session.timeout.ms=3000",
                     "-X",          "heartbeat.interval.ms=500",
                     "--format",    "value",
                     "--max",       "4",
                     "grouped",     NULL};
    run_cmd(first, 60, &r1);
    if (r1.status != 0)
        fail_msg("exit %d, stderr: %s", r1.status, (char *)r1.err.p);
    assert_int_equal(run_count_lines(&r1.out), 4);
    /* A second run in the same group prints exactly the other 2. */
    char *second[] = {rowlog_bin,    "tail",
                      "--bootstrap", env.bootstrap,
                      "--group",     "g1",
                      "-X",          "session.timeout.ms=3000",
                      "-X",          "heartbeat.interval.ms=500",
                      "--format",    "value",
                      "grouped",     NULL};
    run_cmd(second, 60, &r2);
    if (r2.status != 0)
        fail_msg("exit %d, stderr: %s", r2.status, (char *)r2.err.p);
    assert_int_equal(run_count_lines(&r2.out), 2);
    for (int i = 0; i < 6; i++) {
        char v[32];
        snprintf(v, sizeof v, "{\"n\":%d}\n", i);
        int seen = (strstr((char *)r1.out.p, v) != NULL) + (strstr((char *)r2.out.p, v) != NULL);
        if (seen != 1)
            fail_msg("%s printed %d times; first:\n%ssecond:\n%s", v, seen, (char *)r1.out.p,
                     (char *)r2.out.p);
    }
    /* A third run has nothing left; another group starts from the beginning. */
    run_cmd(second, 60, &r3);
    assert_int_equal(r3.status, 0);
    assert_int_equal(r3.out.len, 0);
    run_result_free(&r3);
    char *other[] = {rowlog_bin,    "tail",
                     "--bootstrap", env.bootstrap,
                     "--group",     "g2",
                     "-X",          "session.timeout.ms=3000",
                     "-X",          "heartbeat.interval.ms=500",
                     "--format",    "value",
                     "grouped",     NULL};
    run_cmd(other, 60, &r3);
    assert_int_equal(r3.status, 0);
    assert_int_equal(run_count_lines(&r3.out), 6);
    run_result_free(&r1);
    run_result_free(&r2);
    run_result_free(&r3);

    /* --from end in a new group: nothing to print (no committed offset, start at the end). */
    char *end[] = {rowlog_bin,    "tail",
                   "--bootstrap", env.bootstrap,
                   "--group",     "g3",
                   "-X",          "session.timeout.ms=3000",
                   "-X",          "heartbeat.interval.ms=500",
                   "--from",      "end",
                   "grouped",     NULL};
    run_cmd(end, 60, &r3);
    assert_int_equal(r3.status, 0);
    assert_int_equal(r3.out.len, 0);
    run_result_free(&r3);
}

static void expect_usage(const char *a1, const char *a2, const char *a3, const char *err_has)
{
    char *argv[] = {rowlog_bin, "tail", (char *)a1, (char *)a2, (char *)a3, NULL};
    run_result r;
    run_cmd(argv, 30, &r);
    if (r.status != 2 || !strstr((char *)r.err.p, err_has))
        fail_msg("tail %s %s %s: exit %d, stderr: %s", a1, a2, a3, r.status, (char *)r.err.p);
    run_result_free(&r);
}

static void test_option_errors(void **state)
{
    (void)state;
    expect_usage("--format", "yaml", "t", "--format takes json, pretty or value, not 'yaml'");
    expect_usage("--op", "x", "t", "--op takes");
    expect_usage("--op", "c,,u", "t", "--op takes");
    expect_usage("--op", "cu", "t", "--op takes");
    expect_usage("--op", "c,", "t", "--op takes");
    expect_usage("--from", "gtid:", "t", "--from takes");
    expect_usage("--from", "2026-11-23T10:00:00", "t", "--from takes"); /* no offset */
    expect_usage("--from", "-10q", "t", "--from takes");
    expect_usage("--partition", "-1", "t", "--partition takes");
    expect_usage("--group", "", "t", "--group needs");
    expect_usage("--http", "", "t", "--http needs");
    expect_usage("-X", "novalue", "t", "-X takes NAME=VALUE");
    char *both[] = {rowlog_bin, "tail", "--group", "g", "--partition", "1", "t", NULL};
    run_result r;
    run_cmd(both, 30, &r);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr((char *)r.err.p, "--partition cannot be used with --group"));
    run_result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_option_errors), cmocka_unit_test(test_format_value_and_op),
        cmocka_unit_test(test_format_pretty), cmocka_unit_test(test_pretty_terminal),
        cmocka_unit_test(test_max_with_op),   cmocka_unit_test(test_wildcards),
        cmocka_unit_test(test_from_gtid),     cmocka_unit_test(test_offsets_and_groups),
        cmocka_unit_test(test_group_resume),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
