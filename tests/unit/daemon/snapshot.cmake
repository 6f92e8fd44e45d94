# rowlogd's snapshot options and `rowlog status`'s snapshot progress.
if(TARGET rowlog_log AND TARGET rowlog_reader AND TARGET rowlog_tool_util)
  rl_add_unit_test(test_rowlogd_snapshot_opts test_snapshot_opts.c rowlog_reader rowlog_log
                   rowlog_tool_util rowlog_common PkgConfig::INIH PkgConfig::CURL m)
  target_sources(test_rowlogd_snapshot_opts PRIVATE ${CMAKE_SOURCE_DIR}/server/rowlogd_opts.c
                 ${CMAKE_SOURCE_DIR}/tools/status.c ${CMAKE_SOURCE_DIR}/tools/http_get.c)
endif()
