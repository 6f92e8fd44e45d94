# `rowlog binlog dump --format raw` against every fixture's mariadb-binlog oracle.
if(TARGET rowlog)
  rl_add_unit_test(test_tools_binlog_raw test_binlog_raw.c rowlog_common)
  target_compile_definitions(test_tools_binlog_raw PRIVATE ROWLOG_BIN="$<TARGET_FILE:rowlog>")
  add_dependencies(test_tools_binlog_raw rowlog)
endif()
