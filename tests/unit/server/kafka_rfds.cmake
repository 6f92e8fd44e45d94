# server/ + log/: Fetch through a store that keeps at most read_fds_max segment read
# descriptors open (test_kafka_rfds.c): many segments read with sendfile, byte-identical,
# descriptors bounded; responses queued beyond the cap go out from the mapping.
if(TARGET rowlog_server AND TARGET rowlog_log)
  rl_add_unit_test(test_kafka_rfds test_kafka_rfds.c rowlog_server rowlog_log
                   rowlog_common Threads::Threads)
  set_tests_properties(test_kafka_rfds PROPERTIES TIMEOUT 120)
endif()
