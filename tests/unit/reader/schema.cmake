# Schema history (reader/schema.c): DDL parser, lookups by position, the decoder with a fake
# information_schema provider on fixtures without column names, persistence through the
# schema-change events (restored by server/rowlogd_schema.c, which the test includes).
# Fixture tests skip when RL_FIXTURES_DIR is absent.
if(TARGET rowlog_log)
  rl_add_unit_test(test_reader_schema test_schema.c rowlog_reader rowlog_log rowlog_common)
endif()
