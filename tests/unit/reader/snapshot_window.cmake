# The on-demand snapshot's watermark window (reader/snapshot_window.c), no server needed.
rl_add_unit_test(test_reader_snapshot_window test_snapshot_window.c rowlog_reader)
