# server/: group views and request limits (test_kafka_groups.c): kafka_server_committed_offsets,
# ListGroups/DescribeGroups (raw socket and librdkafka), per-request caps, the compacted
# committed-offsets store.
if(TARGET rowlog_server AND TARGET rowlog_log)
  rl_add_unit_test(test_kafka_groups test_kafka_groups.c rowlog_server rowlog_log rowlog_common
                   PkgConfig::RDKAFKA Threads::Threads)
  target_compile_definitions(test_kafka_groups PRIVATE
                             RL_FUZZ_CORPUS="${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/fuzz_kafka_request")
  set_tests_properties(test_kafka_groups PROPERTIES TIMEOUT 180)
endif()
