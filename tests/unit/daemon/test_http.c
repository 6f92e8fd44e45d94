/* rowlogd's HTTP endpoint on a real socket (libmicrohttpd thread, any free port) over a real
 * log store in a temp dir, with a source that is not running: /health/live, /health/ready
 * (503 with the reason), /metrics (families of the log and the process, no source-side
 * primary poll), /v1/offsets answers (400, 404, 200 with one entry per partition), 404 and
 * 405. Also the --http and --primary-poll-ms options. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/rowlogd_int.h"

/* One HTTP/1.0 exchange; returns the status code and fills body (headers stripped). */
static int http(unsigned port, const char *method, const char *path, rl_buf *body)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[512];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.0\r\nHost: x\r\n\r\n", method, path);
    assert_int_equal(write(fd, req, (size_t)n), n);
    rl_buf all = RL_BUF_INIT;
    char buf[4096];
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0)
        rl_buf_append(&all, buf, (size_t)r);
    close(fd);
    const char *s = rl_buf_cstr(&all);
    assert_non_null(s);
    int status = 0;
    assert_int_equal(sscanf(s, "HTTP/1.%*d %d", &status), 1);
    const char *b = strstr(s, "\r\n\r\n");
    assert_non_null(b);
    rl_buf_reset(body);
    rl_buf_puts(body, b + 4);
    assert_non_null(rl_buf_cstr(body));
    rl_buf_free(&all);
    return status;
}

static void test_endpoint(void **state)
{
    (void)state;
    char dir[] = "/tmp/rowlogd-http-XXXXXX";
    assert_non_null(mkdtemp(dir));
    log_store_t *store = NULL;
    log_store_opts lopts = {.partitions = 3};
    rl_err err = {0};
    assert_int_equal(log_store_open(&store, dir, &lopts, &err), 0);
    const char *val = "{\"a\":1}";
    for (int i = 0; i < 10; i++) {
        char key[16];
        snprintf(key, sizeof key, "{\"id\":%d}", i);
        assert_int_equal(log_store_append(store, rl_slice_str("rowlog.db.t"), rl_slice_str(key),
                                          rl_slice_str(val), 1700000000000 + i, &err),
                         0);
    }
    assert_int_equal(log_store_txn_end(store, "0-1-5", &err), 0);
    assert_int_equal(log_store_commit(store, rl_slice_str("file=x\npos=4\n"), &err), 0);

    rowlogd_opts opts;
    memset(&opts, 0, sizeof opts);
    snprintf(opts.data_dir, sizeof opts.data_dir, "%s", dir);
    snprintf(opts.http_host, sizeof opts.http_host, "127.0.0.1");
    opts.http_port = 0;
    opts.http_enabled = true;
    rowlogd_source src;
    memset(&src, 0, sizeof src);
    src.opts = &opts;
    src.store = store;
    rowlogd_source_init(&src);
    rowlogd_view view = {.opts = &opts, .store = store, .src = &src};
    rowlogd_http *h = NULL;
    assert_int_equal(rowlogd_http_start(&h, &view, &err), 0);
    unsigned port = rowlogd_http_port(h);
    assert_true(port > 0);

    rl_buf b = RL_BUF_INIT;
    assert_int_equal(http(port, "GET", "/health/live", &b), 200);
    assert_string_equal((const char *)b.p, "{\"status\":\"live\"}\n");
    assert_int_equal(http(port, "GET", "/health/ready", &b), 503);
    assert_non_null(strstr((const char *)b.p, "\"status\":\"not ready\",\"reason\":\"the source "
                                              "stopped\""));
    /* Connected and running: ready. */
    atomic_store(&src.stats.running, true);
    atomic_store(&src.stats.connected, true);
    assert_int_equal(http(port, "GET", "/health/ready", &b), 200);
    assert_string_equal((const char *)b.p, "{\"status\":\"ready\",\"phase\":\"streaming\"}\n");
    atomic_store(&src.stats.connected, false);
    assert_int_equal(http(port, "GET", "/health/ready", &b), 503);
    assert_non_null(strstr((const char *)b.p, "not connected to the source"));
    /* Reading the initial snapshot (not connected to the stream yet): ready, phase said. */
    atomic_store(&src.stats.snapshot_running, true);
    assert_int_equal(http(port, "GET", "/health/ready", &b), 200);
    assert_string_equal((const char *)b.p, "{\"status\":\"ready\",\"phase\":\"snapshot\"}\n");
    /* ... but not when the log refuses writes or the source stopped. */
    atomic_store(&src.stats.running, false);
    assert_int_equal(http(port, "GET", "/health/ready", &b), 503);
    atomic_store(&src.stats.running, true);
    atomic_store(&src.stats.snapshot_running, false);
    assert_int_equal(http(port, "GET", "/health/ready", &b), 503);

    assert_int_equal(http(port, "GET", "/metrics", &b), 200);
    const char *m = (const char *)b.p;
    int64_t hw_sum = 0;
    for (int p = 0; p < 3; p++) {
        char want[128];
        long long v = -1;
        snprintf(want, sizeof want,
                 "rowlog_log_high_watermark{topic=\"rowlog.db.t\",partition=\"%d\"} ", p);
        const char *at = strstr(m, want);
        assert_non_null(at);
        assert_int_equal(sscanf(at + strlen(want), "%lld", &v), 1);
        hw_sum += v;
    }
    assert_int_equal(hw_sum, 10);
    assert_non_null(strstr(m, "\nrowlog_log_topics 1\n"));
    assert_non_null(strstr(m, "\nrowlog_log_writable 1\n"));
    assert_non_null(strstr(m, "\nrowlog_source_connected 0\n"));
    assert_non_null(strstr(m, "\n# TYPE rowlog_source_schema_changes_total counter\n"));
    assert_non_null(strstr(m, "\nrowlog_source_schema_changes_total 0\n"));
    assert_non_null(strstr(m, "\n# TYPE process_cpu_seconds_total counter\n"));
    assert_null(strstr(m, "rowlog_source_head_")); /* no poller */
    /* Lag unknown until something was read; a fresh heartbeat makes it 0, an old one
     * (5 s ago, 1 s period) 4 s. */
    assert_null(strstr(m, "\nrowlog_source_lag_seconds "));
    opts.source.heartbeat_ms = 1000;
    atomic_store(&src.stats.caught_up_ms, rl_now_ms());
    atomic_store(&src.stats.idle, true);
    assert_int_equal(http(port, "GET", "/metrics", &b), 200);
    assert_non_null(strstr((const char *)b.p, "\nrowlog_source_lag_seconds 0\n"));
    atomic_store(&src.stats.caught_up_ms, rl_now_ms() - 5000);
    assert_int_equal(http(port, "GET", "/metrics", &b), 200);
    const char *lag = strstr((const char *)b.p, "\nrowlog_source_lag_seconds ");
    assert_non_null(lag);
    double lag_s = strtod(lag + 27, NULL);
    assert_true(lag_s >= 4.0 && lag_s < 5.0);

    assert_int_equal(http(port, "GET", "/v1/offsets?topic=rowlog.db.t", &b), 400);
    assert_int_equal(http(port, "GET", "/v1/offsets?topic=nope&gtid=0-1-1", &b), 404);
    assert_int_equal(http(port, "GET", "/v1/offsets?topic=rowlog.db.t&gtid=x", &b), 400);
    assert_non_null(strstr((const char *)b.p, "\"reason\":"));
    assert_int_equal(http(port, "GET", "/v1/offsets?topic=rowlog.db.t&gtid=0-1-5", &b), 200);
    assert_string_equal((const char *)b.p,
                        "{\"topic\":\"rowlog.db.t\",\"gtid\":\"0-1-5\",\"partitions\":["
                        "{\"partition\":0,\"offset\":0},{\"partition\":1,\"offset\":0},"
                        "{\"partition\":2,\"offset\":0}]}\n");
    assert_int_equal(http(port, "GET", "/nope", &b), 404);
    assert_int_equal(http(port, "POST", "/metrics", &b), 405);
    /* On-demand snapshots: malformed requests are refused before any connection; the
     * progress list starts empty. */
    assert_int_equal(http(port, "POST", "/v1/snapshots", &b), 400);
    assert_non_null(strstr((const char *)b.p, "tables=db.table"));
    assert_int_equal(http(port, "POST", "/v1/snapshots?tables=nodot", &b), 400);
    assert_non_null(strstr((const char *)b.p, "'nodot': not db.table"));
    assert_int_equal(http(port, "POST", "/v1/snapshots?tables=db.", &b), 400);
    assert_int_equal(http(port, "GET", "/v1/snapshots", &b), 200);
    assert_string_equal((const char *)b.p, "{\"running\":false,\"tables\":[]}\n");
    assert_int_equal(http(port, "DELETE", "/v1/snapshots", &b), 405);

    rowlogd_http_stop(h);
    rowlogd_source_destroy(&src);
    log_store_close(store);
    rl_buf_free(&b);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static int parse(rowlogd_opts *o, rl_err *err, const char *a, const char *b)
{
    char *argv[] = {"rowlogd", "--source", "mysql://u@h", "--data-dir",
                    "/d",      (char *)a,  (char *)b,     NULL};
    memset(err, 0, sizeof *err);
    return rowlogd_opts_parse(o, a ? 7 : 5, argv, err);
}

static void test_http_options(void **state)
{
    (void)state;
    rowlogd_opts o;
    rl_err err;
    assert_int_equal(parse(&o, &err, NULL, NULL), 0);
    assert_true(o.http_enabled);
    assert_string_equal(o.http_host, "127.0.0.1");
    assert_int_equal(o.http_port, 9100);
    assert_int_equal(o.poll_ms, 2000);
    assert_int_equal(parse(&o, &err, "--http", "off"), 0);
    assert_false(o.http_enabled);
    assert_int_equal(parse(&o, &err, "--http", "0.0.0.0:9200"), 0);
    assert_true(o.http_enabled);
    assert_string_equal(o.http_host, "0.0.0.0");
    assert_int_equal(o.http_port, 9200);
    assert_int_equal(parse(&o, &err, "--primary-poll-ms", "500"), 0);
    assert_int_equal(o.poll_ms, 500);
    const char *bad[][2] = {{"--http", "9200"},          {"--http", ":9200"},
                            {"--http", "h:70000"},       {"--http", "h:x"},
                            {"--primary-poll-ms", "10"}, {"--primary-poll-ms", "x"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(parse(&o, &err, bad[i][0], bad[i][1]), RL_ECONFIG);
        assert_non_null(strstr(err.msg, bad[i][0] + 2));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoint),
        cmocka_unit_test(test_http_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
