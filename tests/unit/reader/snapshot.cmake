# Snapshot engine (reader/snapshot*.c) against a throwaway MariaDB (scripts/mariadb-sandbox.sh);
# skips when mariadbd is not installed.
rl_add_unit_test(test_reader_snapshot test_snapshot.c rowlog_reader Threads::Threads)
target_compile_definitions(test_reader_snapshot PRIVATE RL_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
set_tests_properties(test_reader_snapshot PROPERTIES TIMEOUT 240)
# Value rendering and key literals, no server needed.
rl_add_unit_test(test_reader_snapshot_render test_snapshot_render.c rowlog_reader)
