# XA transactions in the decoder: the MariaDB XA fixture, XID texts, hand-built MySQL events.
rl_add_unit_test(test_reader_xa test_xa.c rowlog_reader)
