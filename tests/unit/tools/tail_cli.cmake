# rowlog tail's formats, filters, wildcards, --from gtid: and --group against librdkafka's
# mock cluster (and a fake rowlogd HTTP endpoint in the test process).
if(TARGET rowlog)
  rl_add_unit_test(test_tools_tail_cli test_tail_cli.c rowlog_common PkgConfig::RDKAFKA)
  target_compile_definitions(test_tools_tail_cli PRIVATE ROWLOG_BIN="$<TARGET_FILE:rowlog>")
  find_package(Threads REQUIRED)
  target_link_libraries(test_tools_tail_cli PRIVATE Threads::Threads util) # util: forkpty
  add_dependencies(test_tools_tail_cli rowlog)
endif()
