# server/: librdkafka consumers against a log that rolls and compacts under them, and 1,000
# group connections beside a consumer that must not starve (test_kafka_consumer.c).
if(TARGET rowlog_server AND TARGET rowlog_log)
  rl_add_unit_test(test_kafka_consumer test_kafka_consumer.c rowlog_server rowlog_log
                   rowlog_common PkgConfig::RDKAFKA Threads::Threads)
  set_tests_properties(test_kafka_consumer PROPERTIES TIMEOUT 240)
endif()
