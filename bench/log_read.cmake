# bench/log_read.c: sequential read throughput of log_store_read (page cache and cold) and the
# memory of a writer and a reader of a large log (bench/RESULTS.md "Log read and memory").
if(TARGET rowlog_log)
  add_executable(log_read log_read.c)
  target_link_libraries(log_read PRIVATE rowlog_log rowlog_common)
endif()
