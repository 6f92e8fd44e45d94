# rowlogd's metrics pieces (server/rowlogd_prom.c, the lag rule of rowlogd_source.c) and the
# primary-side arithmetic of reader/primary.c.
if(TARGET rowlog_log AND TARGET rowlog_reader)
  rl_add_unit_test(test_rowlogd_metrics test_metrics.c rowlog_reader rowlog_log rowlog_common)
  target_sources(test_rowlogd_metrics PRIVATE ${CMAKE_SOURCE_DIR}/server/rowlogd_prom.c
                 ${CMAKE_SOURCE_DIR}/server/rowlogd_source.c
                 ${CMAKE_SOURCE_DIR}/server/rowlogd_schema.c)
endif()
