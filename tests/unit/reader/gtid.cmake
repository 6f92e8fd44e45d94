# GTID sets of both flavors, the decoder's GTID state (MySQL executed set, GTID_TAGGED,
# PREVIOUS_GTIDS), decoder counters and statement-format DML.
rl_add_unit_test(test_reader_gtid_set test_gtid_set.c rowlog_reader)
rl_add_unit_test(test_reader_gtid_events test_gtid_events.c rowlog_reader)
