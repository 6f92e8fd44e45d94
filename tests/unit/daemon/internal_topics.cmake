# Internal topics (names beginning with "__"): is_internal in Metadata (server/kafka_api.c) and
# `rowlog topics` without and with --internal, against a real kafka_server and log store.
if(TARGET rowlog_server AND TARGET rowlog_log AND TARGET rowlog)
  rl_add_unit_test(test_internal_topics test_internal_topics.c rowlog_server rowlog_log
                   rowlog_common Threads::Threads)
  target_compile_definitions(test_internal_topics PRIVATE ROWLOG_BIN="$<TARGET_FILE:rowlog>")
  add_dependencies(test_internal_topics rowlog)
endif()
