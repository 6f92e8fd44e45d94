# The decoder against a live MariaDB (issue 3 "Live oracle"): a table with every column type,
# 10000 random rows and random changes; the last change per key equals SELECT, column by
# column (oracle_live_test.sh, oracle_live.py). The second test runs the same with
# --mysql56-temporal-format=OFF (MariaDB's old TIME/DATETIME/TIMESTAMP binlog formats).
# Reproduce a failure with ORACLE_SEED=<seed printed by the test>.
if(TARGET rowlogd AND TARGET rowlog)
  add_test(NAME integration_oracle_live
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/oracle_live_test.sh
                   $<TARGET_FILE:rowlogd> $<TARGET_FILE:rowlog> ${CMAKE_SOURCE_DIR}/scripts)
  set_tests_properties(integration_oracle_live PROPERTIES
                       LABELS integration TIMEOUT 600 SKIP_RETURN_CODE 77)
  add_test(NAME integration_oracle_live_old_temporal
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/oracle_live_test.sh
                   $<TARGET_FILE:rowlogd> $<TARGET_FILE:rowlog> ${CMAKE_SOURCE_DIR}/scripts
                   --old-temporal)
  set_tests_properties(integration_oracle_live_old_temporal PROPERTIES
                       LABELS integration TIMEOUT 600 SKIP_RETURN_CODE 77)
endif()
