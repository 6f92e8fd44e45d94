# Prepared XA transactions held in the log (server/rowlogd_xa.c): hold, replay after a reopen,
# commit in order, rollback, crash before the prepare's commit.
if(TARGET rowlog_log AND TARGET rowlog_reader)
  rl_add_unit_test(test_rowlogd_xa test_xa.c rowlog_reader rowlog_log rowlog_common)
  target_sources(test_rowlogd_xa PRIVATE ${CMAKE_SOURCE_DIR}/server/rowlogd_xa.c)
endif()
# rowlogd_source.c calls rowlogd_xa.c: the tests that build rowlogd_source.c (the fragments
# before this one, sorted by name) need it too.
foreach(t test_rowlogd_metrics test_rowlogd_http test_rowlogd_source_seams)
  if(TARGET ${t})
    target_sources(${t} PRIVATE ${CMAKE_SOURCE_DIR}/server/rowlogd_xa.c)
  endif()
endforeach()
