# reader/rows.c renderings set by the decoder's state: JSON_TEXT columns, source.query, and
# check-only decoding (the "decode alone" benchmark path).
rl_add_unit_test(test_reader_rows_render test_rows_render.c rowlog_reader)
