# bench/decode.c + decode.sh: binlog decoding speed, with and without JSON, from a file and
# from a server's replication stream, against mariadb-binlog (bench/RESULTS.md section 1).
# decode.c uses the reader's internal check-only switch (reader/rows_int.h).
if(TARGET rowlog_reader)
  add_executable(decode decode.c)
  target_include_directories(decode PRIVATE ${CMAKE_SOURCE_DIR})
  target_link_libraries(decode PRIVATE rowlog_reader rowlog_common)
endif()
