/* `rowlog status` without a server: the exposition parser (labels with escapes, timestamps,
 * comments, malformed lines), a round trip through rowlogd's own exposition writer, and the
 * summary rendered from a known scrape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/rowlogd_int.h"
#include "tools/status.h"

static void test_parse(void **state)
{
    (void)state;
    const char *text = "# HELP a_total A\n"
                       "# TYPE a_total counter\n"
                       "a_total{x=\"1\",y=\"q\\\"u\\\\o}te\\n\"} 12 1700000000000\n"
                       "\n"
                       "b 2.5\n"
                       "c{} +Inf\n"
                       "d NaN\n";
    tool_metrics ms = TOOL_METRICS_INIT;
    rl_err err = {0};
    assert_int_equal(tool_metrics_parse(&ms, text, strlen(text), &err), 4);
    assert_string_equal(ms.m[0].name, "a_total");
    assert_true(ms.m[0].value == 12);
    char v[64];
    assert_true(tool_metric_label(&ms.m[0], "y", v, sizeof v));
    assert_string_equal(v, "q\"u\\o}te\n");
    assert_true(tool_metric_label(&ms.m[0], "x", v, sizeof v));
    assert_string_equal(v, "1");
    assert_false(tool_metric_label(&ms.m[0], "z", v, sizeof v));
    /* A value cut to the buffer. */
    assert_true(tool_metric_label(&ms.m[0], "y", v, 4));
    assert_string_equal(v, "q\"u");
    assert_true(tool_metrics_find(&ms, "b", NULL, NULL)->value == 2.5);
    assert_true(isinf(tool_metrics_find(&ms, "c", NULL, NULL)->value));
    assert_true(isnan(tool_metrics_find(&ms, "d", NULL, NULL)->value));
    assert_non_null(tool_metrics_find(&ms, "a_total", "x", "1"));
    assert_null(tool_metrics_find(&ms, "a_total", "x", "2"));
    assert_null(tool_metrics_find(&ms, "zz", NULL, NULL));

    const char *bad[] = {"1abc 3\n", "a{x=\"1\" 3\n", "a\n", "a 3x\n", "a{x=\"}\"\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memset(&err, 0, sizeof err);
        assert_int_equal(tool_metrics_parse(&ms, bad[i], strlen(bad[i]), &err), RL_EPROTO);
        assert_non_null(strstr(err.msg, "line 1"));
    }
    tool_metrics_free(&ms);
}

/* What rowlogd writes, the status command reads back label for label. */
static void test_round_trip(void **state)
{
    (void)state;
    rl_buf b = RL_BUF_INIT;
    rowlogd_prom w;
    rowlogd_prom_init(&w, &b);
    rowlogd_prom_family(&w, "rowlog_source_last_error_info", "gauge", "h");
    const char *msg = "host \"db\\1\": lost\nconnection {x}, y=\"z\"";
    const char *l[] = {"code", "ECONNRESET", "message", msg};
    rowlogd_prom_sample(&w, l, 2, 1);
    rowlogd_prom_family(&w, "rowlog_x_total", "counter", "h");
    rowlogd_prom_sample_u64(&w, NULL, 0, 9007199254740993ull);
    assert_int_equal(rowlogd_prom_error(&w), 0);
    tool_metrics ms = TOOL_METRICS_INIT;
    assert_int_equal(tool_metrics_parse(&ms, (const char *)b.p, b.len, NULL), 2);
    char v[256];
    assert_true(tool_metric_label(&ms.m[0], "message", v, sizeof v));
    assert_string_equal(v, msg);
    assert_true(tool_metric_label(&ms.m[0], "code", v, sizeof v));
    assert_string_equal(v, "ECONNRESET");
    assert_true(ms.m[1].value == 9007199254740992.0); /* nearest double */
    tool_metrics_free(&ms);
    rowlogd_prom_free(&w);
    rl_buf_free(&b);
}

static const char *scrape(double rows_insert, double read_bytes)
{
    static char text[4096];
    snprintf(
        text, sizeof text,
        "rowlog_source_connected 1\n"
        "rowlog_source_running 1\n"
        "rowlog_source_info{flavor=\"mariadb\",version=\"10.11.6-MariaDB\",server_id=\"7\"} 1\n"
        "rowlog_source_position_info{file=\"bin.000004\"} 1\n"
        "rowlog_source_position_bytes 1500\n"
        "rowlog_source_gtid_sequence{gtid_domain=\"0\"} 41\n"
        "rowlog_source_head_position_info{file=\"bin.000005\"} 1\n"
        "rowlog_source_head_position_bytes 300\n"
        "rowlog_source_head_gtid_sequence{gtid_domain=\"0\"} 44\n"
        "rowlog_source_head_poll_age_seconds 1.25\n"
        "rowlog_source_lag_seconds 3.5\n"
        "rowlog_source_lag_bytes 2048\n"
        "rowlog_source_lag_transactions 3\n"
        "rowlog_source_retention_headroom_bytes 1048576\n"
        "rowlog_source_position_purged 0\n"
        "rowlog_source_binlog_files 2\n"
        "rowlog_source_binlog_bytes 2097152\n"
        "rowlog_source_read_bytes_total %.0f\n"
        "rowlog_source_rows_total{op=\"insert\"} %.0f\n"
        "rowlog_source_rows_total{op=\"update\"} 5\n"
        "rowlog_source_rows_total{op=\"delete\"} 0\n"
        "rowlog_source_transactions_total 10\n"
        "rowlog_source_decode_errors_total 0\n"
        "rowlog_source_reconnects_total 2\n"
        "rowlog_log_checkpoint_age_seconds 0.5\n"
        "rowlog_log_writable 1\n"
        "rowlog_log_start_offset{topic=\"rowlog.shop.orders\",partition=\"0\"} 10\n"
        "rowlog_log_high_watermark{topic=\"rowlog.shop.orders\",partition=\"0\"} 110\n"
        "rowlog_log_partition_bytes{topic=\"rowlog.shop.orders\",partition=\"0\"} 8192\n"
        "rowlog_log_partition_segments{topic=\"rowlog.shop.orders\",partition=\"0\"} 2\n"
        "rowlog_log_topics 1\n"
        "rowlog_consumer_committed_offset{group=\"etl\",topic=\"rowlog.shop.orders\",partition="
        "\"0\"} 100\n"
        "rowlog_consumer_lag_records{group=\"etl\",topic=\"rowlog.shop.orders\",partition=\"0\"} "
        "10\n"
        "rowlog_consumer_lag_seconds{group=\"etl\",topic=\"rowlog.shop.orders\",partition=\"0\"} "
        "4.5\n"
        "rowlog_consumer_group_members{group=\"etl\"} 1\n"
        "process_resident_memory_bytes 10485760\n"
        "process_open_fds 12\n",
        read_bytes, rows_insert);
    return text;
}

static void test_render(void **state)
{
    (void)state;
    tool_metrics prev = TOOL_METRICS_INIT, cur = TOOL_METRICS_INIT;
    const char *t = scrape(100, 4096);
    assert_true(tool_metrics_parse(&prev, t, strlen(t), NULL) > 0);
    t = scrape(300, 4096 + 2 * 1024 * 1024);
    assert_true(tool_metrics_parse(&cur, t, strlen(t), NULL) > 0);
    rl_buf b = RL_BUF_INIT;
    tool_status_render(&cur, &prev, 2.0, &b);
    const char *s = rl_buf_cstr(&b);
    assert_non_null(s);
    const char *want[] = {
        "source     MariaDB 10.11.6-MariaDB, server id 7: connected\n",
        "position   bin.000004:1500  gtid 0:41\n",
        "primary    bin.000005:300  gtid 0:44  (polled 1.2 s ago)\n",
        "lag        3.50 s, 2.0 KiB, 3 transactions behind the primary\n",
        "retention  1.0 MiB of binlog before our position (primary keeps 2 files, 2.0 MiB)\n",
        "throughput 100.0 rows/s, 0.0 transactions/s, 1.0 MiB/s binlog read\n",
        "totals     305 rows (insert 300, update 5, delete 0), 10 transactions, 0 decode errors, "
        "2 reconnects\n",
        "log        1 topics, 8.0 KiB on disk, 0.5 s not yet durable\n",
        "rowlog.shop.orders",
        "etl",
        "process    10.0 MiB resident, 12 open files\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        if (!strstr(s, want[i]))
            fail_msg("missing \"%s\" in:\n%s", want[i], s);
    }
    /* The partition and group rows carry their numbers. */
    const char *row = strstr(s, "  rowlog.shop.orders");
    assert_non_null(row);
    long start, end;
    assert_int_equal(sscanf(row, " rowlog.shop.orders 0 %ld %ld", &start, &end), 2);
    assert_int_equal(start, 10);
    assert_int_equal(end, 110);
    row = strstr(s, "  etl ");
    assert_non_null(row);
    double committed, lag, lag_s, members;
    assert_int_equal(sscanf(row, " etl rowlog.shop.orders 0 %lf %lf %lf %lf", &committed, &lag,
                            &lag_s, &members),
                     4);
    assert_true(committed == 100 && lag == 10 && lag_s == 4.5 && members == 1);
    assert_null(strstr(s, "last error"));
    assert_null(strstr(s, "NOT CONNECTED"));

    /* An on-demand snapshot in progress: the table not done is listed with its numbers,
     * the done one only counted. */
    const char *t3 = "rowlog_ondemand_snapshot_running 1\n"
                     "rowlog_ondemand_snapshot_rows_read{table=\"shop.a\"} 250\n"
                     "rowlog_ondemand_snapshot_rows_read{table=\"shop.b\"} 40\n"
                     "rowlog_ondemand_snapshot_rows_estimated{table=\"shop.a\"} 1000\n"
                     "rowlog_ondemand_snapshot_rows_estimated{table=\"shop.b\"} 40\n"
                     "rowlog_ondemand_snapshot_chunks_total{table=\"shop.a\"} 3\n"
                     "rowlog_ondemand_snapshot_chunks_total{table=\"shop.b\"} 1\n"
                     "rowlog_ondemand_snapshot_rows_dropped_total{table=\"shop.a\"} 2\n"
                     "rowlog_ondemand_snapshot_rows_dropped_total{table=\"shop.b\"} 0\n"
                     "rowlog_ondemand_snapshot_table_done{table=\"shop.a\"} 0\n"
                     "rowlog_ondemand_snapshot_table_done{table=\"shop.b\"} 1\n";
    assert_true(tool_metrics_parse(&cur, t3, strlen(t3), NULL) > 0);
    rl_buf_reset(&b);
    tool_status_render(&cur, NULL, 0, &b);
    s = rl_buf_cstr(&b);
    assert_non_null(strstr(s, "on demand  RUNNING: 1 of 2 tables done\n"));
    assert_non_null(strstr(s, "250 of ~1000 rows (25%), 3 chunks, 2 left to the stream\n"));
    assert_null(strstr(s, "shop.b"));

    /* A stopped source and its error; no primary poll. */
    const char *t2 = "rowlog_source_connected 0\nrowlog_source_running 0\n"
                     "rowlog_source_last_error_info{code=\"RL_ESOURCE\",message=\"purged\"} 1\n";
    assert_true(tool_metrics_parse(&cur, t2, strlen(t2), NULL) > 0);
    rl_buf_reset(&b);
    tool_status_render(&cur, NULL, 0, &b);
    s = rl_buf_cstr(&b);
    assert_string_equal(s, "source     STOPPED\nlast error RL_ESOURCE: purged\n");
    rl_buf_free(&b);
    tool_metrics_free(&prev);
    tool_metrics_free(&cur);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_render),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
