rl_add_unit_test(test_log_index test_index.c rowlog_log)
