# Positions and exactly once (issue 6): SIGKILLs under load with several GTID domains,
# failover to a MariaDB replica by GTID, a purged binlog position. Each starts its own
# MariaDB server(s) on free ports; reproduce a failing run with the ITEST_SEED it prints.
if(TARGET rowlogd AND TARGET rowlog)
  add_test(NAME integration_crash
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/crash_test.sh
                   $<TARGET_FILE:rowlogd> $<TARGET_FILE:rowlog> ${CMAKE_SOURCE_DIR}/scripts
           WORKING_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(integration_crash PROPERTIES
                       LABELS integration TIMEOUT 900 SKIP_RETURN_CODE 77)
endif()

if(TARGET rowlogd AND TARGET rowlog)
  add_test(NAME integration_purge
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/purge_test.sh
                   $<TARGET_FILE:rowlogd> $<TARGET_FILE:rowlog> ${CMAKE_SOURCE_DIR}/scripts)
  set_tests_properties(integration_purge PROPERTIES
                       LABELS integration TIMEOUT 300 SKIP_RETURN_CODE 77)
endif()

if(TARGET rowlogd AND TARGET rowlog)
  add_test(NAME integration_failover
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/failover_test.sh
                   $<TARGET_FILE:rowlogd> $<TARGET_FILE:rowlog> ${CMAKE_SOURCE_DIR}/scripts)
  set_tests_properties(integration_failover PROPERTIES
                       LABELS integration TIMEOUT 600 SKIP_RETURN_CODE 77)
endif()
