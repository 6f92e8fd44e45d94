# rl_crc32c's hardware and table implementations against a bitwise reference. The test
# includes common/rl.c (to reach its static functions), so it links rl.c's own dependencies
# instead of rowlog_common.
rl_add_unit_test(test_common_crc32c test_crc32c.c PkgConfig::DEFLATE Threads::Threads)
