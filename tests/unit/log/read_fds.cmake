# Segment read descriptors: at most read_fds_max open, least recently used unheld closed,
# held ones kept, asks beyond refused, deleted segments remembered (test_read_fds.c).
rl_add_unit_test(test_log_read_fds test_read_fds.c rowlog_log)
