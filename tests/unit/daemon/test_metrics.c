/* rowlogd's metrics pieces without a server: the Prometheus exposition writer (escaping,
 * HELP/TYPE once per family, number forms), /proc parsing, the source lag rule, and the
 * primary-side arithmetic of reader/primary.c (lag in bytes, retention headroom, GTID lag). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/rowlogd_int.h"

static const char *text(rl_buf *b)
{
    const char *s = rl_buf_cstr(b);
    assert_non_null(s);
    return s;
}

static void test_prom_families_and_samples(void **state)
{
    (void)state;
    rl_buf b = RL_BUF_INIT;
    rowlogd_prom w;
    rowlogd_prom_init(&w, &b);
    rowlogd_prom_family(&w, "rowlog_x_total", "counter", "Things\\counted\nin two lines");
    const char *l1[] = {"type", "a"};
    const char *l2[] = {"type", "b"};
    rowlogd_prom_sample_u64(&w, l1, 1, 18446744073709551615ull);
    rowlogd_prom_sample_u64(&w, l2, 1, 0);
    rowlogd_prom_family(&w, "rowlog_y_seconds", "gauge", "Y");
    rowlogd_prom_sample(&w, NULL, 0, 1.5);
    rowlogd_prom_family(&w, "rowlog_z", "gauge", "Z");
    rowlogd_prom_sample(&w, NULL, 0, 42.0);
    rowlogd_prom_sample(&w, l1, 1, -3.0);
    assert_int_equal(rowlogd_prom_error(&w), 0);
    assert_string_equal(text(&b), "# HELP rowlog_x_total Things\\\\counted\\nin two lines\n"
                                  "# TYPE rowlog_x_total counter\n"
                                  "rowlog_x_total{type=\"a\"} 18446744073709551615\n"
                                  "rowlog_x_total{type=\"b\"} 0\n"
                                  "# HELP rowlog_y_seconds Y\n"
                                  "# TYPE rowlog_y_seconds gauge\n"
                                  "rowlog_y_seconds 1.5\n"
                                  "# HELP rowlog_z Z\n"
                                  "# TYPE rowlog_z gauge\n"
                                  "rowlog_z 42\n"
                                  "rowlog_z{type=\"a\"} -3\n");
    /* A family written twice would split its samples: refused, and the error sticks. */
    size_t len = b.len;
    rowlogd_prom_family(&w, "rowlog_x_total", "counter", "again");
    assert_int_equal(rowlogd_prom_error(&w), RL_ECONFIG);
    rowlogd_prom_sample(&w, NULL, 0, 1);
    assert_int_equal(b.len, len);
    rowlogd_prom_free(&w);
    rl_buf_free(&b);
}

static void test_prom_label_escaping(void **state)
{
    (void)state;
    rl_buf b = RL_BUF_INIT;
    rowlogd_prom w;
    rowlogd_prom_init(&w, &b);
    rowlogd_prom_family(&w, "m", "gauge", "h");
    /* backslash, quote, newline escaped; valid UTF-8 kept; an invalid byte, a lone
     * continuation byte and an overlong form become U+FFFD each. */
    const char *l[] = {"v", "a\\b\"c\nd \xc3\xa9 \xff \x80 \xc0\xaf", "empty", NULL};
    rowlogd_prom_sample(&w, l, 2, 1);
    assert_int_equal(rowlogd_prom_error(&w), 0);
    assert_string_equal(text(&b), "# HELP m h\n# TYPE m gauge\n"
                                  "m{v=\"a\\\\b\\\"c\\nd \xc3\xa9 \xef\xbf\xbd \xef\xbf\xbd "
                                  "\xef\xbf\xbd\xef\xbf\xbd\",empty=\"\"} 1\n");
    rowlogd_prom_free(&w);
    rl_buf_free(&b);
}

static void test_prom_values_and_names(void **state)
{
    (void)state;
    rl_buf b = RL_BUF_INIT;
    rowlogd_prom w;
    rowlogd_prom_init(&w, &b);
    rowlogd_prom_family(&w, "m", "gauge", "h");
    rowlogd_prom_sample(&w, NULL, 0, 0.0 / 0.0);
    rowlogd_prom_sample(&w, NULL, 0, 1.0 / 0.0);
    rowlogd_prom_sample(&w, NULL, 0, -1.0 / 0.0);
    rowlogd_prom_sample(&w, NULL, 0, 0.1);
    rowlogd_prom_sample(&w, NULL, 0, 1e300);
    assert_int_equal(rowlogd_prom_error(&w), 0);
    const char *s = text(&b);
    const char *body = strstr(s, "gauge\n") + 6;
    char a[5][64];
    assert_int_equal(
        sscanf(body, "m %63s\nm %63s\nm %63s\nm %63s\nm %63s", a[0], a[1], a[2], a[3], a[4]), 5);
    assert_string_equal(a[0], "NaN");
    assert_string_equal(a[1], "+Inf");
    assert_string_equal(a[2], "-Inf");
    assert_true(strtod(a[3], NULL) == 0.1); /* round-trips exactly */
    assert_true(strtod(a[4], NULL) == 1e300);
    rowlogd_prom_free(&w);
    rl_buf_free(&b);

    /* Bad metric and label names are refused; no sample before a family. */
    const char *bad_names[] = {"", "1abc", "a-b", "a b", "é"};
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++) {
        rl_buf c = RL_BUF_INIT;
        rowlogd_prom_init(&w, &c);
        rowlogd_prom_family(&w, bad_names[i], "gauge", "h");
        assert_int_equal(rowlogd_prom_error(&w), RL_ECONFIG);
        rowlogd_prom_free(&w);
        rl_buf_free(&c);
    }
    rl_buf c = RL_BUF_INIT;
    rowlogd_prom_init(&w, &c);
    rowlogd_prom_sample(&w, NULL, 0, 1);
    assert_int_equal(rowlogd_prom_error(&w), RL_ECONFIG);
    rowlogd_prom_free(&w);
    rowlogd_prom_init(&w, &c);
    rowlogd_prom_family(&w, "ok", "gauge", "h");
    const char *bl[] = {"a:b", "v"};
    rowlogd_prom_sample(&w, bl, 1, 1);
    assert_int_equal(rowlogd_prom_error(&w), RL_ECONFIG);
    rowlogd_prom_free(&w);
    rl_buf_free(&c);
}

static void test_proc_stat(void **state)
{
    (void)state;
    /* proc(5) layout; the command name holds spaces and parentheses. Field 14 utime 250,
     * 15 stime 150, 22 starttime 1000 ticks, 23 vsize 123456789, 24 rss 300 pages. */
    const char *stat = "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 150 0 0 20 0 "
                       "3 0 1000 123456789 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 "
                       "1 0 0 0 0 0\n";
    rowlogd_proc pr;
    memset(&pr, 0, sizeof pr);
    assert_int_equal(rowlogd_proc_parse_stat(stat, 100, 4096, 1700000000, &pr), 0);
    assert_true(pr.cpu_seconds == 4.0);
    assert_true(pr.start_time_seconds == 1700000010.0);
    assert_int_equal(pr.virtual_bytes, 123456789);
    assert_int_equal(pr.resident_bytes, 300 * 4096);
    assert_int_equal(rowlogd_proc_parse_stat("4242 (x) S 1 2 3", 100, 4096, 0, &pr), RL_ECORRUPT);
    assert_int_equal(rowlogd_proc_parse_stat("no parenthesis", 100, 4096, 0, &pr), RL_ECORRUPT);
    assert_int_equal(rowlogd_proc_parse_stat("1 (x) S 1 2 3 4 5 6 7 8 9 10 z", 100, 4096, 0, &pr),
                     RL_ECORRUPT);

    uint64_t bt = 0;
    assert_int_equal(rowlogd_proc_parse_btime("cpu 1 2 3\nintr 5\nbtime 1699999999\n"
                                              "processes 7\n",
                                              &bt),
                     0);
    assert_int_equal(bt, 1699999999);
    assert_int_equal(rowlogd_proc_parse_btime("cpu 1\nxbtime 5\n", &bt), RL_ENOTFOUND);

    /* The live process: this test has stdin/out/err and the CPU it used. */
    assert_int_equal(rowlogd_proc_read(&pr), 0);
    assert_true(pr.open_fds >= 3);
    assert_true(pr.max_fds >= pr.open_fds);
    assert_true(pr.resident_bytes > 0);
    double now = (double)rl_now_ms() / 1000.0;
    assert_true(pr.start_time_seconds > now - 600 && pr.start_time_seconds <= now + 1);
}

static void test_lag_rule(void **state)
{
    (void)state;
    int64_t now = 1700000000000;
    /* Nothing read yet. */
    assert_int_equal(rowlogd_lag_ms(now, 0, false, 0, 1000), 0);
    /* Busy: now minus the last event's source time. */
    assert_int_equal(rowlogd_lag_ms(now, (now - 2500) * 1000, false, 0, 1000), 2500);
    /* A source clock ahead of ours never gives a negative lag. */
    assert_int_equal(rowlogd_lag_ms(now, (now + 300) * 1000, false, 0, 1000), 0);
    /* Idle: a heartbeat after the last event; lag only once it is overdue. */
    assert_int_equal(rowlogd_lag_ms(now, (now - 60000) * 1000, true, now - 800, 1000), 0);
    assert_int_equal(rowlogd_lag_ms(now, (now - 60000) * 1000, true, now - 7000, 1000), 6000);
    /* An event after the heartbeat: its time counts again. */
    assert_int_equal(rowlogd_lag_ms(now, (now - 4000) * 1000, false, now - 200, 1000), 4000);
}

static binlog_primary_status make_status(void)
{
    binlog_primary_status st;
    memset(&st, 0, sizeof st);
    static binlog_primary_file files[] = {
        {"bin.000003", 1000}, {"bin.000004", 2000}, {"bin.000005", 500}, {"bin.000006", 300}};
    st.files = files;
    st.nfiles = 4;
    snprintf(st.head.file, sizeof st.head.file, "bin.000006");
    st.head.pos = 300;
    return st;
}

static void test_primary_lag_and_headroom(void **state)
{
    (void)state;
    binlog_primary_status st = make_status();
    binlog_pos at;
    uint64_t x = 99;
    memset(&at, 0, sizeof at);
    snprintf(at.file, sizeof at.file, "bin.000006");
    at.pos = 120;
    assert_int_equal(binlog_primary_lag_bytes(&st, &at, &x), 0);
    assert_int_equal(x, 180);
    assert_int_equal(binlog_primary_headroom_bytes(&st, &at, &x), 0);
    assert_int_equal(x, 1000 + 2000 + 500 + 120);
    at.pos = 400; /* past a polled head that is older than our position */
    assert_int_equal(binlog_primary_lag_bytes(&st, &at, &x), 0);
    assert_int_equal(x, 0);

    snprintf(at.file, sizeof at.file, "bin.000004");
    at.pos = 1500;
    assert_int_equal(binlog_primary_lag_bytes(&st, &at, &x), 0);
    assert_int_equal(x, (2000 - 1500) + 500 + 300);
    assert_int_equal(binlog_primary_headroom_bytes(&st, &at, &x), 0);
    assert_int_equal(x, 1000 + 1500);

    /* Purged: our file is gone. */
    snprintf(at.file, sizeof at.file, "bin.000002");
    assert_int_equal(binlog_primary_lag_bytes(&st, &at, &x), RL_ENOTFOUND);
    assert_int_equal(binlog_primary_headroom_bytes(&st, &at, &x), RL_ENOTFOUND);
    assert_int_equal(x, 0);

    /* Copy is deep. */
    binlog_primary_status cp;
    memset(&cp, 0, sizeof cp);
    assert_int_equal(binlog_primary_status_copy(&cp, &st), 0);
    assert_ptr_not_equal(cp.files, st.files);
    assert_int_equal(cp.nfiles, 4);
    assert_string_equal(cp.files[3].name, "bin.000006");
    binlog_primary_status_free(&cp);
    assert_null(cp.files);
}

static void test_primary_gtid_lag(void **state)
{
    (void)state;
    uint64_t x = 99;
    /* MariaDB: per domain, a domain we never saw counts from 0. */
    assert_int_equal(binlog_primary_gtid_lag("0-1-100,1-2-7", "0-1-90", &x), 0);
    assert_int_equal(x, 10 + 7);
    assert_int_equal(binlog_primary_gtid_lag("0-1-100", "0-1-100, 1-2-3", &x), 0);
    assert_int_equal(x, 0);
    /* Another server id in the same domain: still the domain's sequence. */
    assert_int_equal(binlog_primary_gtid_lag("0-2-105", "0-1-100", &x), 0);
    assert_int_equal(x, 5);
    /* MySQL: last interval end per uuid; tags keyed apart. */
    const char *u1 = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
    const char *u2 = "4e11fa47-71ca-11e1-9e33-c80aa9429562";
    char head[256], ours[256];
    snprintf(head, sizeof head, "%s:1-50:60-80,\n%s:1-3", u1, u2);
    snprintf(ours, sizeof ours, "%s:1-50:60-70", u1);
    assert_int_equal(binlog_primary_gtid_lag(head, ours, &x), 0);
    assert_int_equal(x, 10 + 3);
    snprintf(head, sizeof head, "%s:1-5:tag_a:1-9", u1);
    snprintf(ours, sizeof ours, "%s:1-5:tag_a:1-4", u1);
    assert_int_equal(binlog_primary_gtid_lag(head, ours, &x), 0);
    assert_int_equal(x, 5);
    /* Unknown and malformed. */
    assert_int_equal(binlog_primary_gtid_lag("", "0-1-1", &x), RL_ENOTFOUND);
    assert_int_equal(binlog_primary_gtid_lag("0-1-1", "", &x), RL_ENOTFOUND);
    const char *bad[] = {"0-1",
                         "0-1-x",
                         "a-1-2",
                         "0-1-2-3",
                         "0--2",
                         "zz:1-5",
                         "3e11fa47-71ca-11e1-9e33-c80aa9429562:5-1",
                         "3e11fa47-71ca-11e1-9e33-c80aa9429562",
                         "0-1-99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(binlog_primary_gtid_lag(bad[i], "0-1-1", &x), RL_ECORRUPT);
}

static void collect(void *ctx, const char *key, uint64_t seq)
{
    rl_buf_printf(ctx, "%s=%llu;", key, (unsigned long long)seq);
}

static void test_primary_gtid_each(void **state)
{
    (void)state;
    rl_buf b = RL_BUF_INIT;
    assert_int_equal(binlog_primary_gtid_each("0-1-100, 7-2-5,0-3-90", collect, &b), 2);
    assert_string_equal(text(&b), "0=100;7=5;");
    rl_buf_reset(&b);
    assert_int_equal(binlog_primary_gtid_each("", collect, &b), 0);
    assert_int_equal(binlog_primary_gtid_each("0-1-x", collect, &b), RL_ECORRUPT);
    assert_int_equal(b.len, 0);
    rl_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prom_families_and_samples),
        cmocka_unit_test(test_prom_label_escaping),
        cmocka_unit_test(test_prom_values_and_names),
        cmocka_unit_test(test_proc_stat),
        cmocka_unit_test(test_lag_rule),
        cmocka_unit_test(test_primary_lag_and_headroom),
        cmocka_unit_test(test_primary_gtid_lag),
        cmocka_unit_test(test_primary_gtid_each),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
