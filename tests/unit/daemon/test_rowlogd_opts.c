/* rowlogd options: the source URL, command-line options, the INI config file and the
 * precedence between them, and the errors a wrong configuration gets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "rowlogd_opts_util.h"

static void test_source_url(void **state)
{
    (void)state;
    binlog_source_opts s;
    rl_err err = {0};
    memset(&s, 0, sizeof s);
    assert_int_equal(binlog_source_parse_url(&s, "mysql://repl:p%40ss%3Aw@db.example:3307", &err),
                     0);
    assert_string_equal(s.user, "repl");
    assert_string_equal(s.password, "p@ss:w");
    assert_string_equal(s.host, "db.example");
    assert_int_equal(s.port, 3307);

    memset(&s, 0, sizeof s);
    assert_int_equal(binlog_source_parse_url(&s, "mariadb://u@[::1]", &err), 0);
    assert_string_equal(s.host, "::1");
    assert_string_equal(s.password, "");
    assert_int_equal(s.port, 3306);

    const char *bad[] = {"http://u@h",      "mysql://h:3306", "mysql://u@h:0",  "mysql://u@h:99999",
                         "mysql://u@h:12x", "mysql://:p@h",   "mysql://u:%4@h", "mysql://u@"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&s, 0, sizeof s);
        memset(&err, 0, sizeof err);
        assert_int_equal(binlog_source_parse_url(&s, bad[i], &err), RL_ECONFIG);
        assert_true(err.msg[0] != 0);
    }
}

static void test_defaults_and_cli(void **state)
{
    (void)state;
    rowlogd_opts o;
    rl_err err;
    assert_int_equal(opts_parse(&o, &err, "--source", "mysql://u:p@127.0.0.1:13306", "--data-dir",
                                "/tmp/x", NULL),
                     0);
    assert_string_equal(o.listen_host, "127.0.0.1");
    assert_int_equal(o.listen_port, 9092);
    assert_string_equal(o.topic_prefix, "rowlog");
    assert_int_equal(o.log.partitions, 1);
    assert_int_equal(o.log.compression, LOG_COMPRESSION_LZ4);
    assert_int_equal(o.source.port, 13306);

    assert_int_equal(opts_parse(&o, &err, "--source", "mysql://u@h", "--data-dir", "/d", "--listen",
                                "0.0.0.0:19092", "--partitions", "4", "--compression", "zstd",
                                "--topic-prefix", "cdc", "--server-id", "77", NULL),
                     0);
    assert_string_equal(o.listen_host, "0.0.0.0");
    assert_int_equal(o.listen_port, 19092);
    assert_int_equal(o.log.partitions, 4);
    assert_int_equal(o.log.compression, LOG_COMPRESSION_ZSTD);
    assert_string_equal(o.topic_prefix, "cdc");
    assert_int_equal(o.source.server_id, 77);
}

static void test_log_policies(void **state)
{
    (void)state;
    rowlogd_opts o;
    rl_err err;
    assert_int_equal(opts_parse(&o, &err, "--source", "mysql://u@h", "--data-dir", "/d", NULL), 0);
    assert_int_equal(o.topic_defaults.retention_ms, -1);
    assert_int_equal(o.topic_defaults.cleanup, LOG_CLEANUP_DELETE);
    assert_ptr_equal(o.log.topic_defaults, &o.topic_defaults);
    assert_int_equal(opts_parse(&o, &err, "--source", "mysql://u@h", "--data-dir", "/d", "--flush",
                                "interval", "--flush-interval-ms", "250", "--retention-ms",
                                "3600000", "--retention-bytes", "-1", "--cleanup-policy",
                                "compact,delete", "--delete-retention-ms", "0", NULL),
                     0);
    assert_int_equal(o.log.flush, LOG_FLUSH_INTERVAL);
    assert_int_equal(o.log.flush_interval_ms, 250);
    assert_int_equal(o.topic_defaults.retention_ms, 3600000);
    assert_int_equal(o.topic_defaults.retention_bytes, -1);
    assert_int_equal(o.topic_defaults.cleanup, LOG_CLEANUP_COMPACT | LOG_CLEANUP_DELETE);
    assert_int_equal(o.topic_defaults.delete_retention_ms, 0);
    assert_int_equal(opts_parse(&o, &err, "--source", "mysql://u@h", "--data-dir", "/d",
                                "--cleanup-policy", "shred", NULL),
                     RL_ECONFIG);
    assert_non_null(strstr(err.msg, "--cleanup-policy"));
    assert_int_equal(opts_parse(&o, &err, "--source", "mysql://u@h", "--data-dir", "/d", "--flush",
                                "never", NULL),
                     RL_ECONFIG);
    assert_int_equal(opts_parse(&o, &err, "--source", "mysql://u@h", "--data-dir", "/d",
                                "--retention-ms", "-5", NULL),
                     RL_ECONFIG);
}

static void test_errors_name_the_option(void **state)
{
    (void)state;
    rowlogd_opts o;
    rl_err err;
    assert_int_equal(opts_parse(&o, &err, "--data-dir", "/d", NULL), RL_ECONFIG);
    assert_non_null(strstr(err.msg, "--source"));
    assert_int_equal(opts_parse(&o, &err, "--source", "mysql://u@h", NULL), RL_ECONFIG);
    assert_non_null(strstr(err.msg, "--data-dir"));
    assert_int_equal(opts_parse(&o, &err, "--source", "mysql://u@h", "--data-dir", "/d",
                                "--partitions", "0", NULL),
                     RL_ECONFIG);
    assert_non_null(strstr(err.msg, "--partitions"));
    assert_int_equal(opts_parse(&o, &err, "--source", "mysql://u@h", "--data-dir", "/d",
                                "--compression", "gzip", NULL),
                     RL_ECONFIG);
    assert_non_null(strstr(err.msg, "gzip"));
    assert_int_equal(opts_parse(&o, &err, "--source", "mysql://u@h", "--data-dir", "/d", "--listen",
                                "9092", NULL),
                     RL_ECONFIG);
    assert_int_equal(opts_parse(&o, &err, "--source", "mysql://u@h", "--data-dir", "/d",
                                "--topic-prefix", "a/b", NULL),
                     RL_ECONFIG);
    assert_int_equal(
        opts_parse(&o, &err, "--source", "mysql://u@h", "--data-dir", "/d", "--bogus", NULL),
        RL_ECONFIG);
    assert_int_equal(
        opts_parse(&o, &err, "--source", "mysql://u@h", "--data-dir", "/d", "extra", NULL),
        RL_ECONFIG);
}

static void test_config_file(void **state)
{
    (void)state;
    char path[] = "/tmp/rowlogd-test-XXXXXX";
    opts_write_config(path, "; rowlogd configuration\nsource = mysql://cfg:pw@10.0.0.1:3306\n"
                            "data-dir = /var/lib/rowlog\npartitions = 8\ncompression = none\n");
    rowlogd_opts o;
    rl_err err;
    /* The command line wins over the file, whatever their order. */
    assert_int_equal(opts_parse(&o, &err, "--partitions", "2", "--config", path, NULL), 0);
    assert_string_equal(o.source.user, "cfg");
    assert_string_equal(o.source.host, "10.0.0.1");
    assert_string_equal(o.data_dir, "/var/lib/rowlog");
    assert_int_equal(o.log.partitions, 2);
    assert_int_equal(o.log.compression, LOG_COMPRESSION_NONE);

    opts_rewrite_config(path, "source = mysql://cfg@h\npartitions = lots\n");
    assert_int_equal(opts_parse(&o, &err, "--config", path, NULL), RL_ECONFIG);
    assert_non_null(strstr(err.msg, path)); /* names the file */
    assert_non_null(strstr(err.msg, ":2")); /* and the line */

    opts_rewrite_config(path, "colour = blue\n");
    assert_int_equal(opts_parse(&o, &err, "--config", path, NULL), RL_ECONFIG);
    assert_non_null(strstr(err.msg, "colour"));
    unlink(path);
    assert_int_equal(opts_parse(&o, &err, "--config", path, NULL), RL_ECONFIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_source_url),   cmocka_unit_test(test_defaults_and_cli),
        cmocka_unit_test(test_log_policies), cmocka_unit_test(test_errors_name_the_option),
        cmocka_unit_test(test_config_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
