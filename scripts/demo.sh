#!/usr/bin/env bash
# demo.sh - rowlog in half a minute: a throwaway MariaDB, rowlogd capturing it, and
# `rowlog tail --follow` printing each committed row change as it arrives.
#
#   scripts/demo.sh [--keep]
#
# Run it from the repository after building (README):
#   bash scripts/install-deps.sh && cmake -S . -B build && cmake --build build -j && scripts/demo.sh
# Everything it starts (MariaDB, rowlogd, rowlog tail) lives in one temp dir and is stopped by
# PID on exit, Ctrl-C included; the temp dir is then removed. With --keep it waits for Ctrl-C
# after the workload so you can point kcat or your own consumer at the printed address.
#
# Environment: ROWLOG_BUILD_DIR (default: <repo>/build), DEMO_TIMEOUT (s to wait for the events,
# default 30).
set -uo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${ROWLOG_BUILD_DIR:-$REPO/build}
ROWLOGD="$BUILD/server/rowlogd"
ROWLOG="$BUILD/tools/rowlog"
SANDBOX="$REPO/scripts/mariadb-sandbox.sh"
KEEP=0
[ "${1:-}" = "--keep" ] && KEEP=1

if [ -t 1 ]; then
    say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
else
    say() { printf '\n==> %s\n' "$*"; }
fi
die() { printf '\ndemo: %s\n' "$*" >&2; exit 1; }

for bin in "$ROWLOGD" "$ROWLOG"; do
    [ -x "$bin" ] || die "$bin not found: build first (cmake -S . -B build && cmake --build build -j)"
done
for tool in mariadb mariadb-install-db python3 setsid; do
    command -v "$tool" > /dev/null 2>&1 || die "$tool not found: run bash scripts/install-deps.sh"
done

TMP=$(mktemp -d /tmp/rowlog-demo.XXXXXX)
RLD_PID=""
TAIL_PID=""
SHOW_PID=""

# Running and not a zombie.
alive() {
    [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
    [ "$(sed -E 's/^[0-9]+ \(.*\) (.).*$/\1/' "/proc/$1/stat" 2>/dev/null)" != Z ]
}
stop_pid() {  # pid name: SIGTERM, wait up to 20 s, then SIGKILL
    local pid=$1 i
    alive "$pid" || return 0
    kill -TERM "$pid" 2> /dev/null
    for ((i = 0; i < 200; i++)); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then
        echo "demo: $2 (pid $pid) ignored SIGTERM; killing it" >&2
        kill -KILL "$pid" 2> /dev/null
    fi
    wait "$pid" 2> /dev/null
}
cleanup() {
    say "cleaning up: stopping rowlog tail, rowlogd and MariaDB, removing $TMP"
    stop_pid "$TAIL_PID" "rowlog tail"
    stop_pid "$SHOW_PID" "tail -f"
    stop_pid "$RLD_PID" "rowlogd"
    "$SANDBOX" stop "$TMP/db" > /dev/null 2>&1
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

read -r DBPORT KPORT HPORT < <(python3 -c '
import socket
s = [socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')
BOOT="127.0.0.1:$KPORT"
HTTP="127.0.0.1:$HPORT"

sql() {  # the application's connection: user app over TCP, database shop
    mariadb --no-defaults --default-character-set=utf8mb4 -h127.0.0.1 -P"$DBPORT" \
        -uapp -papppw shop -e "$1" || die "SQL failed: $1"
}

say "starting a throwaway MariaDB on 127.0.0.1:$DBPORT (row-based binlog, full row metadata)"
"$SANDBOX" start "$TMP/db" "$DBPORT" > /dev/null || die "could not start MariaDB"

say "creating shop.customers and shop.orders"
mariadb --no-defaults --default-character-set=utf8mb4 -h127.0.0.1 -P"$DBPORT" -uapp -papppw \
    <<'SQL' || die "schema"
CREATE DATABASE shop CHARACTER SET utf8mb4;
USE shop;
CREATE TABLE customers (
  id INT NOT NULL PRIMARY KEY,
  name VARCHAR(100) NOT NULL,
  email VARCHAR(255),
  vip BOOLEAN NOT NULL DEFAULT FALSE,
  created_at DATETIME(3) NOT NULL
);
CREATE TABLE orders (
  id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  customer_id INT NOT NULL,
  total DECIMAL(10,2) NOT NULL,
  status ENUM('new','paid','shipped','cancelled') NOT NULL DEFAULT 'new',
  placed_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  note TEXT
);
SQL

say "starting rowlogd: replica of that MariaDB, Kafka protocol on $BOOT (log: rowlogd.log)"
"$ROWLOGD" --source "mysql://rowlog:rowlogpw@127.0.0.1:$DBPORT" --data-dir "$TMP/data" \
    --listen "$BOOT" --http "$HTTP" --partitions 3 --compression lz4 \
    > "$TMP/rowlogd.log" 2>&1 &
RLD_PID=$!
for ((i = 0; ; i++)); do
    alive "$RLD_PID" || { cat "$TMP/rowlogd.log" >&2; die "rowlogd exited"; }
    if grep -q "streaming from" "$TMP/rowlogd.log"; then break; fi
    [ $i -lt 300 ] || { tail -n 20 "$TMP/rowlogd.log" >&2; die "rowlogd not ready after 30 s"; }
    sleep 0.1
done
echo "rowlogd: $(grep -m1 'streaming from' "$TMP/rowlogd.log")"

say "first rows: one customer, one order (a topic per table appears with its first change)"
sql "INSERT INTO customers VALUES (1, 'Ada Lovelace', 'ada@example.com', FALSE, NOW(3));
     INSERT INTO orders (id, customer_id, total, note) VALUES (1001, 1, 42.50, 'first order ☕');"
for ((i = 0; ; i++)); do
    n=$("$ROWLOG" topics --bootstrap "$BOOT" 2> /dev/null | grep -c '^rowlog\.shop\.')
    [ "${n:-0}" -ge 2 ] && break
    [ $i -lt 150 ] || die "topics rowlog.shop.customers/orders did not appear within 30 s"
    sleep 0.2
done

say "rowlog tail --follow --from beginning rowlog.shop.customers rowlog.shop.orders"
echo "(one JSON line per change: topic, partition, offset, key, value = before/after/source/op)"
"$ROWLOG" tail --bootstrap "$BOOT" --follow --from beginning \
    rowlog.shop.customers rowlog.shop.orders > "$TMP/events.jsonl" 2> "$TMP/tail.err" &
TAIL_PID=$!
tail -n +1 -f --pid="$TAIL_PID" "$TMP/events.jsonl" &
SHOW_PID=$!
sleep 1.5

say "two customers in one INSERT (2 events, op c)"
sql "INSERT INTO customers VALUES
       (2, 'Grace Hopper', 'grace@example', FALSE, NOW(3)),
       (3, 'Edsger Dijkstra', NULL, FALSE, NOW(3));"
sleep 1

say "UPDATE fixes a customer's email (1 event, op u, with before and after)"
sql "UPDATE customers SET email = 'grace@example.com' WHERE id = 2;"
sleep 1

say "a transaction: two orders and a VIP flag commit together (3 events, one gtid)"
sql "START TRANSACTION;
     INSERT INTO orders (id, customer_id, total) VALUES (1002, 2, 19.99), (1003, 1, 7.00);
     UPDATE customers SET vip = TRUE WHERE id = 1;
     COMMIT;"
sleep 1

say "a transaction that rolls back: nothing may appear"
sql "START TRANSACTION;
     INSERT INTO orders (id, customer_id, total) VALUES (9999, 3, 1000000.00);
     DELETE FROM customers WHERE id = 3;
     ROLLBACK;"
sleep 1

say "two orders paid in one UPDATE (2 events)"
sql "UPDATE orders SET status = 'paid' WHERE id IN (1001, 1002);"
sleep 1

say "an UPDATE that changes a primary key: op d under the old key, op c under the new one"
sql "UPDATE orders SET id = 1004 WHERE id = 1003;"
sleep 1

say "deletes (op d, after = null)"
sql "DELETE FROM orders WHERE id = 1002; DELETE FROM customers WHERE id = 3;"

EXPECTED=14
TIMEOUT=${DEMO_TIMEOUT:-30}
for ((i = 0; i < TIMEOUT * 10; i++)); do
    got=$(wc -l < "$TMP/events.jsonl")
    [ "$got" -ge "$EXPECTED" ] && break
    alive "$TAIL_PID" || break
    sleep 0.1
done
sleep 0.3   # let tail -f print the last lines before the summary
got=$(wc -l < "$TMP/events.jsonl")
if [ "$got" -eq "$EXPECTED" ]; then
    say "all $EXPECTED change events arrived (the rolled-back transaction left none)"
else
    say "received $got change events, expected $EXPECTED"
    [ -s "$TMP/tail.err" ] && cat "$TMP/tail.err"
    tail -n 20 "$TMP/rowlogd.log"
fi
echo "rowlog topics (TOPIC PARTITION LOG_START LOG_END):"
"$ROWLOG" topics --bootstrap "$BOOT"
say "rowlog status (from rowlogd's metrics endpoint http://$HTTP/metrics)"
"$ROWLOG" status --http "$HTTP" || true

if [ "$KEEP" -eq 1 ]; then
    say "still running: MariaDB 127.0.0.1:$DBPORT (app/apppw, db shop), Kafka $BOOT, metrics http://$HTTP/metrics; Ctrl-C ends"
    echo "try: kcat -b $BOOT -L    or    kcat -b $BOOT -C -t rowlog.shop.orders -J -e"
    wait "$RLD_PID"
fi
[ "$got" -eq "$EXPECTED" ]
