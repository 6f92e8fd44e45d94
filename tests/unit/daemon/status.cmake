# `rowlog status` (tools/status.c): the exposition parser, a round trip through rowlogd's
# exposition writer (server/rowlogd_prom.c) and the rendered summary.
if(TARGET rowlog_tool_util)
  rl_add_unit_test(test_rowlog_status test_status.c rowlog_tool_util rowlog_common
                   PkgConfig::CURL m)
  target_sources(test_rowlog_status PRIVATE ${CMAKE_SOURCE_DIR}/tools/status.c
                 ${CMAKE_SOURCE_DIR}/tools/http_get.c ${CMAKE_SOURCE_DIR}/server/rowlogd_prom.c)
endif()
