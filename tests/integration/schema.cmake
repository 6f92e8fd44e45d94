# Schema history against a real MariaDB with binlog_row_metadata=MINIMAL: column names and keys
# from information_schema by binlog position, DDL events on topic PREFIX, restore after
# SIGKILL, MariaDB JSON as a JSON value, and the documented lagging limit (schema_test.sh).
if(TARGET rowlogd AND TARGET rowlog)
  add_test(NAME integration_schema
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/schema_test.sh
                   $<TARGET_FILE:rowlogd> $<TARGET_FILE:rowlog> ${CMAKE_SOURCE_DIR}/scripts)
  set_tests_properties(integration_schema PROPERTIES
                       LABELS integration TIMEOUT 300 SKIP_RETURN_CODE 77)
endif()
