# rowlogd_source.c's static pieces (checkpoint parsing, on_change, the XA changes in an
# on-demand window) through the file itself (it #includes rowlogd_ondemand.c as well).
if(TARGET rowlog_log AND TARGET rowlog_reader)
  rl_add_unit_test(test_rowlogd_source_seams test_source_seams.c rowlog_reader rowlog_log
                   rowlog_common)
  target_sources(test_rowlogd_source_seams PRIVATE ${CMAKE_SOURCE_DIR}/server/rowlogd_schema.c)
endif()
# The on-demand part of the source thread lives in rowlogd_ondemand.c: the tests that build
# rowlogd_source.c as a source (fragments sorted before this one) need it too.
foreach(t test_rowlogd_metrics test_rowlogd_http)
  if(TARGET ${t})
    target_sources(${t} PRIVATE ${CMAKE_SOURCE_DIR}/server/rowlogd_ondemand.c)
  endif()
endforeach()
