# server/: Fetch records sent with sendfile(2) (test_kafka_sendfile.c): byte-identical to the
# mapped bytes, partial writes to a slow client resume, a segment deleted by retention while
# queued still sends, a cold fetch of many warm-up chunks (log under /var/tmp, or
# RL_TEST_COLD_DIR).
if(TARGET rowlog_server AND TARGET rowlog_log)
  rl_add_unit_test(test_kafka_sendfile test_kafka_sendfile.c rowlog_server rowlog_log
                   rowlog_common Threads::Threads)
  set_tests_properties(test_kafka_sendfile PROPERTIES TIMEOUT 180)
endif()
