# rowlogd_source.c's static pieces (checkpoint parsing, on_change) through the file itself.
if(TARGET rowlog_log AND TARGET rowlog_reader)
  rl_add_unit_test(test_rowlogd_source_seams test_source_seams.c rowlog_reader rowlog_log
                   rowlog_common)
  target_sources(test_rowlogd_source_seams PRIVATE ${CMAKE_SOURCE_DIR}/server/rowlogd_schema.c)
endif()
