# MySQL over the wire: rowlogd against the test-only fake MySQL primary (fake_mysql_primary.py)
# serving MySQL 8/9 binlog fixtures by COM_BINLOG_DUMP_GTID, with SIGKILLs and restarts.
if(TARGET rowlogd AND TARGET rowlog)
  add_test(NAME integration_mysql_wire
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/mysql_wire_test.sh
                   $<TARGET_FILE:rowlogd> $<TARGET_FILE:rowlog> "${RL_FIXTURES_DIR}")
  set_tests_properties(integration_mysql_wire PROPERTIES
                       LABELS integration TIMEOUT 180 SKIP_RETURN_CODE 77)
endif()
