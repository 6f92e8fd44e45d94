# bench/crc32c.c: GB/s of rl_crc32c's table and SSE4.2 paths (bench/RESULTS.md "Log append").
# It includes common/rl.c to reach the static implementations, so it links rl.c's own
# dependencies instead of rowlog_common.
add_executable(crc32c crc32c.c)
target_include_directories(crc32c PRIVATE ${CMAKE_SOURCE_DIR})
target_link_libraries(crc32c PRIVATE PkgConfig::DEFLATE Threads::Threads)
