# XA transactions against a real MariaDB: a prepared transaction held across a SIGKILL of
# rowlogd and published once at its XA COMMIT, XA ROLLBACK, XA COMMIT ONE PHASE (xa_test.sh).
if(TARGET rowlogd AND TARGET rowlog)
  add_test(NAME integration_xa
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/xa_test.sh
                   $<TARGET_FILE:rowlogd> $<TARGET_FILE:rowlog> ${CMAKE_SOURCE_DIR}/scripts)
  set_tests_properties(integration_xa PROPERTIES
                       LABELS integration TIMEOUT 200 SKIP_RETURN_CODE 77)
endif()
