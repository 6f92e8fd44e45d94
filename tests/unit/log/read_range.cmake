# log_store_read's range from the offset index against a walk of the batches.
rl_add_unit_test(test_log_read_range test_read_range.c rowlog_log)
