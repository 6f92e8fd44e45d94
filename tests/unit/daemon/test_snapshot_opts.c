/* rowlogd's snapshot options (--snapshot, --snapshot-threads, --snapshot-chunk-rows,
 * --include, --exclude: server/rowlogd_opts.c) from the command line and the config file,
 * and `rowlog status`'s snapshot progress (tools/status.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rowlogd_opts_util.h"
#include "tools/status.h"

/* Whether name matches the anchored form of re, as the snapshot library and the stream filter
 * compile it. */
static bool matches(const char *re, const char *name)
{
    char pat[5000];
    snprintf(pat, sizeof pat, "^(%s)$", re);
    regex_t r;
    assert_int_equal(regcomp(&r, pat, REG_EXTENDED | REG_NOSUB), 0);
    bool m = regexec(&r, name, 0, NULL, 0) == 0;
    regfree(&r);
    return m;
}

static void test_defaults(void **state)
{
    (void)state;
    rowlogd_opts o;
    rl_err err;
    assert_int_equal(opts_parse(&o, &err, "--source", "mysql://u@h", "--data-dir", "/tmp/x", NULL),
                     0);
    assert_int_equal(o.snapshot_mode, ROWLOGD_SNAPSHOT_INITIAL);
    assert_int_equal(o.snapshot_threads, 1);
    assert_int_equal(o.snapshot_chunk_rows, 10000);
    assert_string_equal(o.include, "");
    assert_string_equal(o.exclude, "");
}

static void test_modes_and_numbers(void **state)
{
    (void)state;
    static const struct {
        const char *arg;
        int mode;
    } modes[] = {{"initial", ROWLOGD_SNAPSHOT_INITIAL},
                 {"never", ROWLOGD_SNAPSHOT_NEVER},
                 {"when-needed", ROWLOGD_SNAPSHOT_WHEN_NEEDED},
                 {"initial-only", ROWLOGD_SNAPSHOT_INITIAL_ONLY}};
    rowlogd_opts o;
    rl_err err;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        assert_int_equal(opts_parse(&o, &err, "--source", "mysql://u@h", "--data-dir", "/d",
                                    "--snapshot", modes[i].arg, "--snapshot-threads", "4",
                                    "--snapshot-chunk-rows", "500", NULL),
                         0);
        assert_int_equal(o.snapshot_mode, modes[i].mode);
        assert_int_equal(o.snapshot_threads, 4);
        assert_int_equal(o.snapshot_chunk_rows, 500);
    }
    assert_int_equal(opts_parse(&o, &err, "--source", "mysql://u@h", "--data-dir", "/d",
                                "--snapshot", "always", NULL),
                     RL_ECONFIG);
    assert_non_null(strstr(err.msg, "--snapshot"));
    assert_int_equal(opts_parse(&o, &err, "--source", "mysql://u@h", "--data-dir", "/d",
                                "--snapshot-threads", "65", NULL),
                     RL_ECONFIG);
    assert_non_null(strstr(err.msg, "--snapshot-threads"));
    assert_int_equal(opts_parse(&o, &err, "--source", "mysql://u@h", "--data-dir", "/d",
                                "--snapshot-chunk-rows", "0", NULL),
                     RL_ECONFIG);
}

static void test_filters(void **state)
{
    (void)state;
    rowlogd_opts o;
    rl_err err;
    assert_int_equal(opts_parse(&o, &err, "--source", "mysql://u@h", "--data-dir", "/d",
                                "--include", "shop\\..*", "--include", "crm\\.users", "--exclude",
                                "shop\\.tmp_.*", NULL),
                     0);
    /* Repeated options: any of them. */
    assert_true(matches(o.include, "shop.orders"));
    assert_true(matches(o.include, "crm.users"));
    assert_false(matches(o.include, "crm.users2"));   /* anchored */
    assert_false(matches(o.include, "xshop.orders")); /* anchored */
    assert_true(matches(o.exclude, "shop.tmp_1"));
    assert_false(matches(o.exclude, "shop.orders"));
    /* An alternation inside one regex stays inside its group. */
    assert_int_equal(opts_parse(&o, &err, "--source", "mysql://u@h", "--data-dir", "/d",
                                "--include", "a\\.x|b\\.y", "--include", "c\\.z", NULL),
                     0);
    assert_true(matches(o.include, "a.x"));
    assert_true(matches(o.include, "b.y"));
    assert_true(matches(o.include, "c.z"));
    assert_false(matches(o.include, "a.xc.z"));
    /* A regex that does not compile fails at start, naming the option. */
    assert_int_equal(opts_parse(&o, &err, "--source", "mysql://u@h", "--data-dir", "/d",
                                "--exclude", "shop\\.(", NULL),
                     RL_ECONFIG);
    assert_non_null(strstr(err.msg, "--exclude"));
}

static void test_config_file(void **state)
{
    (void)state;
    char path[] = "/tmp/rl-snapopts-XXXXXX";
    opts_write_config(path,
                      "source = mysql://u@h\ndata-dir = /d\nsnapshot = when-needed\n"
                      "snapshot-threads = 3\nsnapshot-chunk-rows = 2000\ninclude = shop\\..*\n"
                      "exclude = shop\\.log\n");
    rowlogd_opts o;
    rl_err err;
    int rc = opts_parse(&o, &err, "--config", path, "--snapshot-chunk-rows", "77", NULL);
    unlink(path);
    assert_int_equal(rc, 0);
    assert_int_equal(o.snapshot_mode, ROWLOGD_SNAPSHOT_WHEN_NEEDED);
    assert_int_equal(o.snapshot_threads, 3);
    assert_int_equal(o.snapshot_chunk_rows, 77); /* the command line wins */
    assert_true(matches(o.include, "shop.orders"));
    assert_true(matches(o.exclude, "shop.log"));
    assert_false(matches(o.exclude, "shop.logs"));
}

static void render(const char *text, const char *prev_text, double dt, rl_buf *out)
{
    tool_metrics cur = TOOL_METRICS_INIT, prev = TOOL_METRICS_INIT;
    rl_err err = {0};
    assert_true(tool_metrics_parse(&cur, text, strlen(text), &err) > 0);
    if (prev_text)
        assert_true(tool_metrics_parse(&prev, prev_text, strlen(prev_text), &err) > 0);
    rl_buf_reset(out);
    tool_status_render(&cur, prev_text ? &prev : NULL, dt, out);
    rl_buf_putc(out, 0);
    tool_metrics_free(&cur);
    tool_metrics_free(&prev);
}

static void test_status_progress(void **state)
{
    (void)state;
    /* Two tables: a.big at 250000 of ~750000 rows, a.small done with 250000; 500000 of
     * ~1000000 rows in all. 100000 records in 2 s: 50000 rows/s, 500000 rows left: ETA 10 s. */
    const char *prev = "rowlog_snapshot_running 1\n"
                       "rowlog_snapshot_records_total 400000\n";
    const char *cur = "rowlog_source_running 1\n"
                      "rowlog_snapshot_running 1\n"
                      "rowlog_snapshot_records_total 500000\n"
                      "rowlog_snapshot_rows_read{table=\"a.big\"} 250000\n"
                      "rowlog_snapshot_rows_read{table=\"a.small\"} 250000\n"
                      "rowlog_snapshot_rows_estimated{table=\"a.big\"} 750000\n"
                      "rowlog_snapshot_rows_estimated{table=\"a.small\"} 240000\n"
                      "rowlog_snapshot_chunks_total{table=\"a.big\"} 25\n"
                      "rowlog_snapshot_chunks_total{table=\"a.small\"} 26\n"
                      "rowlog_snapshot_table_done{table=\"a.big\"} 0\n"
                      "rowlog_snapshot_table_done{table=\"a.small\"} 1\n";
    rl_buf b = RL_BUF_INIT;
    render(cur, prev, 2.0, &b);
    const char *s = (const char *)b.p;
    assert_non_null(strstr(s, "1 of 2 tables done, 500000 of ~1000000 rows, 51 chunks"));
    assert_non_null(strstr(s, "[####################--------------------]  50%"));
    assert_non_null(strstr(s, "50000 rows/s, ETA 10.0 s"));
    assert_non_null(strstr(s, "a.big"));
    assert_null(strstr(s, "a.small ")); /* done tables are not listed */
    /* No snapshot running: no snapshot section. */
    render("rowlog_source_running 1\nrowlog_snapshot_running 0\n", NULL, 0, &b);
    assert_null(strstr((const char *)b.p, "snapshot"));
    rl_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),        cmocka_unit_test(test_modes_and_numbers),
        cmocka_unit_test(test_filters),         cmocka_unit_test(test_config_file),
        cmocka_unit_test(test_status_progress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
