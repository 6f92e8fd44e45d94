# rowlogd's HTTP endpoint (server/rowlogd_http.c and what it renders) on a real socket and a
# real log store; the --http and --primary-poll-ms options.
if(TARGET rowlog_server AND TARGET rowlog_reader)
  rl_add_unit_test(test_rowlogd_http test_http.c rowlog_server rowlog_reader rowlog_log
                   rowlog_common PkgConfig::MHD PkgConfig::INIH)
  target_sources(test_rowlogd_http PRIVATE ${CMAKE_SOURCE_DIR}/server/rowlogd_http.c
                 ${CMAKE_SOURCE_DIR}/server/rowlogd_metrics.c
                 ${CMAKE_SOURCE_DIR}/server/rowlogd_prom.c
                 ${CMAKE_SOURCE_DIR}/server/rowlogd_poller.c
                 ${CMAKE_SOURCE_DIR}/server/rowlogd_source.c
                 ${CMAKE_SOURCE_DIR}/server/rowlogd_schema.c
                 ${CMAKE_SOURCE_DIR}/server/rowlogd_opts.c)
endif()
