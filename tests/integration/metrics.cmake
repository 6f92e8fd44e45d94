# rowlogd's metrics endpoint: promtool, lag under SIGSTOP and idle, consumer lag, retention
# headroom after PURGE BINARY LOGS, /health, /v1/offsets, a real Prometheus scraping it.
if(TARGET rowlogd AND TARGET rowlog)
  add_test(NAME integration_metrics
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/metrics_test.sh
                   $<TARGET_FILE:rowlogd> $<TARGET_FILE:rowlog> ${CMAKE_SOURCE_DIR}/scripts)
  set_tests_properties(integration_metrics PROPERTIES
                       LABELS integration TIMEOUT 240 SKIP_RETURN_CODE 77)
endif()
