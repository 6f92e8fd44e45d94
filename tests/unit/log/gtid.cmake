rl_add_unit_test(test_log_gtid test_gtid.c rowlog_log)
