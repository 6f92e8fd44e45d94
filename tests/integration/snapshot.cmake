# rowlogd's initial snapshot: exactness under a workload, SIGKILL and resume, when-needed after
# a purge, include/exclude filters (snapshot_test.sh).
if(TARGET rowlogd AND TARGET rowlog)
  add_test(NAME integration_snapshot
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/snapshot_test.sh
                   $<TARGET_FILE:rowlogd> $<TARGET_FILE:rowlog> ${CMAKE_SOURCE_DIR}/scripts)
  set_tests_properties(integration_snapshot PROPERTIES
                       LABELS integration TIMEOUT 300 SKIP_RETURN_CODE 77)
endif()
