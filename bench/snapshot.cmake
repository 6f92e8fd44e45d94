# bench/snapshot.sh: rowlogd --snapshot initial-only on a 5-million-row table against
# mariadb-dump --single-transaction of the same table (bench/RESULTS.md section "Snapshot").
# A script run by hand against a built tree: nothing to compile.
