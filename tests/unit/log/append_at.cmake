# log_store_append_at: the partition and offset each append went to.
rl_add_unit_test(test_log_append_at test_append_at.c rowlog_log)
