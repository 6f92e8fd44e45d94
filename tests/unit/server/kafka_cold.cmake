# server/: a Fetch of bytes not in the page cache does not stall the loop for other clients
# (kafka_warm.c), and cold and hot Fetch responses carry log_store_read's bytes
# (test_kafka_cold.c; writes a 288 MiB log under /var/tmp, or RL_TEST_COLD_DIR).
if(TARGET rowlog_server AND TARGET rowlog_log)
  rl_add_unit_test(test_kafka_cold test_kafka_cold.c rowlog_server rowlog_log rowlog_common
                   Threads::Threads)
  set_tests_properties(test_kafka_cold PROPERTIES TIMEOUT 180)
endif()
