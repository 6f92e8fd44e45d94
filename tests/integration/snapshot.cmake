# rowlogd's initial snapshot (snapshot_test.sh), two entries that ctest -j runs in parallel:
# integration_snapshot_exact: a 1,000,000-row table snapshotted under a workload, exact
# reduction, include/exclude filters (cases a, d); integration_snapshot: SIGTERM/SIGKILL and
# resume, when-needed after a purge (cases b, c).
if(TARGET rowlogd AND TARGET rowlog)
  add_test(NAME integration_snapshot_exact
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/snapshot_test.sh
                   $<TARGET_FILE:rowlogd> $<TARGET_FILE:rowlog> ${CMAKE_SOURCE_DIR}/scripts ad)
  set_tests_properties(integration_snapshot_exact PROPERTIES
                       LABELS integration TIMEOUT 600 SKIP_RETURN_CODE 77)
  add_test(NAME integration_snapshot
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/snapshot_test.sh
                   $<TARGET_FILE:rowlogd> $<TARGET_FILE:rowlog> ${CMAKE_SOURCE_DIR}/scripts bc)
  set_tests_properties(integration_snapshot PROPERTIES
                       LABELS integration TIMEOUT 300 SKIP_RETURN_CODE 77)
endif()
