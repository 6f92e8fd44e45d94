# binlog_file_next_transient (pread into a reused buffer) against binlog_file_next (mmap).
rl_add_unit_test(test_file_transient test_file_transient.c rowlog_reader)
