# On-demand snapshots while streaming (ondemand_test.sh): refusals, exactness under a
# workload, SIGKILL and resume.
if(TARGET rowlogd AND TARGET rowlog)
  add_test(NAME integration_ondemand
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/ondemand_test.sh
                   $<TARGET_FILE:rowlogd> $<TARGET_FILE:rowlog> ${CMAKE_SOURCE_DIR}/scripts)
  set_tests_properties(integration_ondemand PROPERTIES
                       LABELS integration TIMEOUT 300 SKIP_RETURN_CODE 77)
endif()
