rl_add_unit_test(test_log_leo test_leo.c rowlog_log)
