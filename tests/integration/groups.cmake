# Consumer groups end to end: kcat -G members splitting and moving partitions, committed
# offsets across restarts, rowlog tail --group / groups / offsets, --from TIME and gtid:.
if(TARGET rowlogd AND TARGET rowlog)
  add_test(NAME integration_groups
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/groups_test.sh
                   $<TARGET_FILE:rowlogd> $<TARGET_FILE:rowlog> ${CMAKE_SOURCE_DIR}/scripts)
  set_tests_properties(integration_groups PROPERTIES
                       LABELS integration TIMEOUT 240 SKIP_RETURN_CODE 77)
endif()
