#!/usr/bin/env bash
# sandbox_test.sh SCRIPTS_DIR - checks scripts/mariadb-sandbox.sh and the MariaDB it starts,
# without rowlog: a failure here means the environment (or the sandbox script) is broken, not
# rowlog. Asserts: start on a free port, the binlog settings rowlog needs (ROW format, FULL row
# metadata, checked both as variables and in a real TABLE_MAP read over the replication protocol
# as the `rowlog` user), the users and their privileges, no anonymous or password-less root
# accounts, utf8mb4 through the `sql` subcommand, stop by PID, restart on the same data.
# Exit status: 0 pass, 1 fail, 77 skip (MariaDB tools not installed).
set -uo pipefail

SCRIPTS=${1:?usage: sandbox_test.sh SCRIPTS_DIR}
SANDBOX="$SCRIPTS/mariadb-sandbox.sh"

. "$(dirname "$0")/lib.sh"

rl_require_tools mariadbd mariadb mariadb-admin mariadb-install-db mariadb-binlog python3 setsid

WORK=$(mktemp -d /tmp/rl-sbt.XXXXXX)
cleanup() {
    "$SANDBOX" stop "$WORK" > /dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

FAILS=0
pass() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; FAILS=$((FAILS + 1)); }
check_eq() {  # description expected actual
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: expected [$2], got [$3]"; fi
}

PORT=$(free_port)
tcp() {  # user password [args...]: mariadb client over TCP
    local u=$1 p=$2; shift 2
    mariadb --no-defaults --default-character-set=utf8mb4 -h127.0.0.1 -P"$PORT" -u"$u" -p"$p" \
        -N -B "$@"
}

echo "# sandbox in $WORK on port $PORT"
if ! "$SANDBOX" start "$WORK" "$PORT"; then
    echo "FAIL - sandbox start"
    exit 1
fi
pass "start"

PID=$(cat "$WORK/mdb.pid")
check_eq "pid file names a running mariadbd" "mariadbd" "$(cat "/proc/$PID/comm" 2>/dev/null)"

check_eq "binlog settings" "ROW FULL ON 1 FULL" "$("$SANDBOX" sql "$WORK" -N -B -e \
    "SELECT CONCAT_WS(' ', @@binlog_format, @@binlog_row_metadata, @@log_bin, @@server_id,
                          @@binlog_row_image)")"

check_eq "no anonymous or password-less accounts" "0" "$("$SANDBOX" sql "$WORK" -N -B -e \
    "SELECT COUNT(*) FROM mysql.user WHERE User = '' OR (User = 'root' AND Host <> 'localhost')
        OR (User IN ('root', 'rowlog', 'app') AND authentication_string = '')")"

if tcp root "" -e "SELECT 1" > /dev/null 2>&1; then fail "root over TCP without password"
else pass "root over TCP without password is refused"; fi

# app: ALL on shop and itest, nothing else.
if tcp app apppw -e "CREATE DATABASE itest; CREATE DATABASE shop;
        CREATE TABLE itest.t (id INT PRIMARY KEY, s VARCHAR(20), d DOUBLE) CHARSET utf8mb4;
        INSERT INTO itest.t VALUES (1, 'café 😀', 0.1);
        CREATE TABLE shop.x (id INT PRIMARY KEY); DROP TABLE shop.x;" 2> "$WORK/app.err"; then
    pass "app creates and writes itest and shop"
else
    fail "app on itest/shop: $(cat "$WORK/app.err")"
fi
if tcp app apppw -e "SELECT COUNT(*) FROM mysql.user" > /dev/null 2>&1; then
    fail "app can read mysql.user"
else pass "app cannot read mysql.user"; fi

# utf8mb4 through the sql subcommand (4-byte UTF-8 survives the round trip).
check_eq "utf8mb4 round trip" "636166C3A920F09F9880" "$("$SANDBOX" sql "$WORK" -N -B -e \
    "SELECT HEX(s) FROM itest.t WHERE id = 1")"

# rowlog: what rowlogd needs, over TCP.
GRANTS=$(tcp rowlog rowlogpw -e "SHOW GRANTS" 2>&1)
for g in "REPLICATION SLAVE" "BINLOG MONITOR" "SELECT"; do
    case "$GRANTS" in *"$g"*) pass "rowlog has $g" ;; *) fail "rowlog lacks $g: $GRANTS" ;; esac
done
LAST=$(tcp rowlog rowlogpw -e "SHOW BINARY LOGS" 2>&1 | tail -n 1 | cut -f1)
case "$LAST" in binlog.[0-9]*) pass "rowlog sees binary logs ($LAST)" ;;
    *) fail "SHOW BINARY LOGS as rowlog: $LAST" ;; esac

# FULL row metadata in a real TABLE_MAP, read over the replication protocol as rowlog.
mkdir -p "$WORK/remote"
if mariadb-binlog --no-defaults --read-from-remote-server -h127.0.0.1 -P"$PORT" -urowlog \
        -prowlogpw --print-table-metadata --base64-output=decode-rows -vv "$LAST" \
        > "$WORK/remote/decoded.txt" 2> "$WORK/remote/err.txt"; then
    pass "binlog dump as rowlog over TCP"
    if grep -q '^# Columns(`id` INT' "$WORK/remote/decoded.txt" \
            && grep -q '`s` VARCHAR(20)' "$WORK/remote/decoded.txt"; then
        pass "TABLE_MAP carries column names (binlog_row_metadata=FULL)"
    else
        fail "TABLE_MAP without column names: $(grep -m3 'Columns' "$WORK/remote/decoded.txt")"
    fi
    if grep -q '^### INSERT INTO `itest`.`t`' "$WORK/remote/decoded.txt"; then
        pass "row event for the insert"
    else fail "no row event for itest.t in $LAST"; fi
else
    fail "mariadb-binlog --read-from-remote-server as rowlog: $(cat "$WORK/remote/err.txt")"
fi

# Stop by PID; stopping twice is harmless; a second start reuses the data.
if "$SANDBOX" stop "$WORK" > /dev/null; then pass "stop"; else fail "stop"; fi
if [ -e "/proc/$PID" ]; then fail "mariadbd $PID still running after stop"
else pass "mariadbd $PID is gone"; fi
if "$SANDBOX" stop "$WORK" > /dev/null; then pass "second stop is a no-op"
else fail "second stop"; fi
if "$SANDBOX" sql "$WORK" -e "SELECT 1" > /dev/null 2>&1; then fail "sql works after stop"
else pass "sql fails after stop"; fi
if "$SANDBOX" start "$WORK" "$PORT" > /dev/null; then
    check_eq "restart keeps data and users" "1" "$(tcp app apppw -e "SELECT COUNT(*) FROM itest.t")"
    "$SANDBOX" stop "$WORK" > /dev/null || fail "stop after restart"
else
    fail "restart on the same data directory"
fi

if [ "$FAILS" -ne 0 ]; then
    echo "# $FAILS check(s) failed; error log tail:"
    tail -n 20 "$WORK/error.log" 2>/dev/null
    exit 1
fi
echo "# all sandbox checks passed"
