# Schema history (reader/schema.c): DDL parser, lookups by position, the decoder with a fake
# information_schema provider on fixtures without column names, persistence through the
# schema-change events. Fixture tests skip when RL_FIXTURES_DIR is absent.
rl_add_unit_test(test_reader_schema test_schema.c rowlog_reader)
