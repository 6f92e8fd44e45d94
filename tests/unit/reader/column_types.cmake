# Column types (reader/rows.c, tablemap.c, json_binary.c, charset.c): MySQL binary JSON and
# JSON diffs, VECTOR, character sets.
rl_add_unit_test(test_reader_json_binary test_json_binary.c rowlog_reader)
rl_add_unit_test(test_reader_charsets test_charsets.c rowlog_reader)
rl_add_unit_test(test_reader_oracle_all test_oracle_all.c rowlog_reader m)
