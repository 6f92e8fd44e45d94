# server/: group views and request limits (test_kafka_groups.c): kafka_server_committed_offsets,
# ListGroups/DescribeGroups (raw socket and librdkafka), per-request caps, the compacted
# committed-offsets store.
if(TARGET rowlog_server AND TARGET rowlog_log)
  rl_add_unit_test(test_kafka_groups test_kafka_groups.c rowlog_server rowlog_log rowlog_common
                   PkgConfig::RDKAFKA Threads::Threads)
  set_tests_properties(test_kafka_groups PROPERTIES TIMEOUT 180)
endif()
