# bench/consume.c: consumer throughput of the Kafka server (1, 4, 16 librdkafka consumers on a
# 10-million-record topic from the page cache) against loopback TCP bandwidth
# (bench/RESULTS.md section "Consume").
if(TARGET rowlog_server AND TARGET rowlog_log)
  add_executable(consume consume.c)
  target_link_libraries(consume PRIVATE rowlog_server rowlog_log rowlog_common
                        PkgConfig::RDKAFKA Threads::Threads)
endif()
