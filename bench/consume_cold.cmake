# bench/consume_cold.c: a hot consumer's Fetch latency while others read a log that is not in
# the page cache, with and without the server's fetch warming threads (bench/RESULTS.md
# section "Cold fetch").
if(TARGET rowlog_server AND TARGET rowlog_log)
  add_executable(consume_cold consume_cold.c)
  target_link_libraries(consume_cold PRIVATE rowlog_server rowlog_log rowlog_common
                        Threads::Threads)
endif()
