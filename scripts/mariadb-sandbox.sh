#!/usr/bin/env bash
# mariadb-sandbox.sh - a throwaway MariaDB server for rowlog's demo and integration tests.
#
#   mariadb-sandbox.sh start DIR PORT     initialise DIR/data (first time only), start mariadbd on
#                                         127.0.0.1:PORT and the socket DIR/s.sock, create users
#   mariadb-sandbox.sh stop DIR           SIGTERM the server by the PID in DIR/mdb.pid, wait for it
#   mariadb-sandbox.sh sql DIR [ARGS...]  the mariadb client as root over the socket (utf8mb4);
#                                         ARGS go to the client (e.g. -e "SELECT 1", -N -B, a db)
#   mariadb-sandbox.sh replica DIR PORT PRIMARY_PORT [SERVER_ID]
#                                         a new server in DIR (server_id SERVER_ID, default 2) that
#                                         replicates the sandbox on PRIMARY_PORT by GTID, waits
#                                         until it has applied everything the primary had
#   mariadb-sandbox.sh sync DIR PRIMARY_PORT [TIMEOUT]
#                                         wait (MASTER_GTID_WAIT) until the replica in DIR has
#                                         applied the primary's current @@gtid_binlog_pos
#   mariadb-sandbox.sh promote DIR        make the replica in DIR a primary: STOP SLAVE,
#                                         RESET SLAVE ALL, read_only=OFF
#
# The recipe is /work/shared/notes/mariadb-test-server.md section 1: --no-defaults everywhere (so
# /etc/mysql is never read), a row-based binlog with full row metadata, real users with passwords:
#   root@localhost        rootpw     (socket only; password-less root@other hosts are dropped)
#   rowlog@127.0.0.1, rowlog@localhost
#                         rowlogpw   REPLICATION SLAVE, BINLOG MONITOR, SELECT ON *.*
#   app@127.0.0.1         apppw      ALL ON shop.*, itest.*, itest\_%.*
# Anonymous users are dropped (''@localhost would otherwise shadow app@127.0.0.1).
#
# The server runs in its own session (setsid) so a terminal's Ctrl-C reaches only the caller, whose
# cleanup then stops it by PID. Nothing is ever killed by name.
#
# A replica (replication as in the MariaDB manual, "Setting up a Replica with GTID"): the same
# binlog settings plus --log-slave-updates (so it can become the primary rowlog reads, with the
# primary's GTIDs in its own binlog), --read-only (only replication and SUPER write until
# `promote`), the default gtid_domain_id 0, CHANGE MASTER TO ... MASTER_USE_GTID=slave_pos as the
# `rowlog` user. It gets no users of its own: the primary's CREATE USER statements replicate,
# so it ends with the same accounts and passwords and its binlog holds only the primary's
# transactions (no local GTIDs of server_id 2 until it is promoted and written to).
#
# The server options of the first start (server id, replica options, SANDBOX_MARIADBD_ARGS) are
# kept in DIR/server.args, so `start DIR PORT` restarts a server as what it was created as.
#
# Environment: MARIADBD (server binary, default /usr/sbin/mariadbd or the one on PATH),
# SANDBOX_START_TIMEOUT (s, default 30), SANDBOX_STOP_TIMEOUT (s, default 60),
# SANDBOX_MARIADBD_ARGS (extra server options at a first start, e.g.
# "--innodb-flush-log-at-trx-commit=2" for write-heavy tests that do not crash the server).
# Exit status: 0 on success, 1 on failure (with a message on stderr), 2 on a usage error.
set -euo pipefail

ROOT_PW=rootpw
ROWLOG_PW=rowlogpw
APP_PW=apppw

die() { echo "mariadb-sandbox: $*" >&2; exit 1; }
usage() {
    sed -n '4,18p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

find_mariadbd() {
    if [ -n "${MARIADBD:-}" ]; then echo "$MARIADBD"; return; fi
    if [ -x /usr/sbin/mariadbd ]; then echo /usr/sbin/mariadbd; return; fi
    command -v mariadbd || die "mariadbd not found (install mariadb-server, or set MARIADBD)"
}

# PID of the server if DIR/mdb.pid names a live mariadbd process, else nothing.
# The process name is checked so a recycled PID is never signalled.
server_pid() {
    local dir=$1 pid comm
    [ -s "$dir/mdb.pid" ] || return 0
    pid=$(tr -dc '0-9' < "$dir/mdb.pid")
    [ -n "$pid" ] || return 0
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
    case "$comm" in mariadbd|mysqld) echo "$pid" ;; esac
}

error_log_tail() {
    local dir=$1
    echo "---- last lines of $dir/error.log ----" >&2
    tail -n 30 "$dir/error.log" >&2 2>/dev/null || echo "(no error log)" >&2
    if [ -s "$dir/mariadbd.out" ]; then
        echo "---- $dir/mariadbd.out ----" >&2
        tail -n 10 "$dir/mariadbd.out" >&2
    fi
}

# Client as root over the socket; $1 is the password ("" right after mariadb-install-db).
root_client() {
    local dir=$1 pw=$2; shift 2
    local args=(--no-defaults --default-character-set=utf8mb4 --socket="$dir/s.sock" -uroot)
    [ -n "$pw" ] && args+=("-p$pw")
    mariadb "${args[@]}" "$@"
}

cmd_start() {
    [ $# -eq 2 ] || usage
    start_server "$1" "$2" primary
}

# start_server DIR PORT primary|replica [SERVER_ID]: initialise (first time), start, wait until
# it answers; a fresh primary gets its users (create_users), a fresh replica none (they
# replicate). Sets DIR (absolute) in SERVER_DIR.
start_server() {
    local dir=$1 port=$2 role=$3 sid=${4:-}
    case "$port" in ''|*[!0-9]*) die "PORT must be a number, got '$port'" ;; esac
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    # sun_path is 108 bytes including the NUL.
    [ ${#dir} -le 100 ] || die "DIR path too long for a unix socket (${#dir} bytes): $dir"
    [ -z "$(server_pid "$dir")" ] || die "a server is already running for $dir (pid $(server_pid "$dir"))"

    local mariadbd user
    mariadbd=$(find_mariadbd)
    user=$(id -un)

    local fresh=0
    if [ ! -d "$dir/data/mysql" ]; then
        fresh=1
        rm -f "$dir/.users-created"
        # The server's identity and options, fixed at creation (see the file comment).
        {
            if [ "$role" = replica ]; then
                echo "--server-id=${sid:-2}"
                echo "--log-slave-updates=ON"
                echo "--read-only=ON"
            else
                echo "--server-id=1"
            fi
            local extra
            for extra in ${SANDBOX_MARIADBD_ARGS:-}; do echo "$extra"; done
        } > "$dir/server.args"
        # One retry on a fresh directory: on a loaded machine the bootstrap server has been
        # seen to fail once without a reason that repeats; a second failure is reported with
        # the server's own error lines.
        local try
        for try in 1 2; do
            if mariadb-install-db --no-defaults --user="$user" --datadir="$dir/data" \
                    --auth-root-authentication-method=normal --skip-test-db \
                    > "$dir/install-db.log" 2>&1; then
                break
            fi
            grep -iE "error|warn|abort|signal" "$dir/install-db.log" | head -n 20 >&2
            [ $try = 2 ] && die "mariadb-install-db failed twice (log: $dir/install-db.log)"
            echo "mariadb-sandbox: mariadb-install-db failed; retrying once" >&2
            mv "$dir/install-db.log" "$dir/install-db.1.log"
            rm -rf "$dir/data"
        done
    fi

    # Servers created before server.args existed were primaries with server_id 1.
    local args=()
    if [ -s "$dir/server.args" ]; then
        mapfile -t args < "$dir/server.args"
    else
        args=(--server-id=1)
    fi
    : > "$dir/mariadbd.out"
    # setsid: the server must not get the caller's terminal signals (see the file comment).
    setsid "$mariadbd" --no-defaults --user="$user" --datadir="$dir/data" \
        --socket="$dir/s.sock" --port="$port" --bind-address=127.0.0.1 \
        --pid-file="$dir/mdb.pid" --log-error="$dir/error.log" \
        --log-bin="$dir/data/binlog" --binlog-format=ROW --binlog-row-metadata=FULL \
        "${args[@]}" < /dev/null >> "$dir/mariadbd.out" 2>&1 &
    local launcher=$!
    echo "$launcher" > "$dir/launcher.pid"

    local timeout=${SANDBOX_START_TIMEOUT:-30}
    local deadline=$((SECONDS + timeout))
    until mariadb-admin --no-defaults --socket="$dir/s.sock" -uroot --connect-timeout=2 ping \
            > /dev/null 2>&1; do
        # mariadb-admin ping succeeds even when access is denied: the server is up.
        if ! kill -0 "$launcher" 2>/dev/null; then
            error_log_tail "$dir"
            die "mariadbd exited during startup (port $port in use?)"
        fi
        if [ $SECONDS -ge $deadline ]; then
            error_log_tail "$dir"
            kill -TERM "$launcher" 2>/dev/null || true
            die "mariadbd not answering after ${timeout}s"
        fi
        sleep 0.1
    done
    # The pid file is written before the socket accepts; make sure it is there.
    while [ -z "$(server_pid "$dir")" ]; do
        [ $SECONDS -lt $deadline ] || die "mariadbd answers but $dir/mdb.pid is missing"
        sleep 0.1
    done

    SERVER_DIR=$dir
    if [ "$role" = replica ]; then
        echo "mariadb-sandbox: MariaDB replica pid $(server_pid "$dir") on 127.0.0.1:$port, socket $dir/s.sock"
        return 0
    fi
    if [ ! -e "$dir/.users-created" ]; then
        [ $fresh -eq 1 ] || die "$dir/data exists but its users were never created; remove $dir"
        create_users "$dir"
        touch "$dir/.users-created"
    fi
    echo "mariadb-sandbox: MariaDB pid $(server_pid "$dir") on 127.0.0.1:$port, socket $dir/s.sock"
}

# The primary's @@gtid_binlog_pos, read over TCP as `rowlog` (root is socket-only).
primary_gtid_pos() {
    mariadb --no-defaults -h127.0.0.1 -P"$1" -urowlog -p"$ROWLOG_PW" --connect-timeout=5 -N -B \
        -e "SELECT @@global.gtid_binlog_pos"
}

# replica_wait DIR PRIMARY_PORT TIMEOUT PW: MASTER_GTID_WAIT on the replica for the primary's
# current position; on a timeout or a stopped replication thread, prints SHOW SLAVE STATUS.
replica_wait() {
    local dir=$1 pport=$2 timeout=$3 pw=$4 pos rc
    pos=$(primary_gtid_pos "$pport") || die "cannot read @@gtid_binlog_pos of 127.0.0.1:$pport"
    rc=$(root_client "$dir" "$pw" -N -B -e "SELECT MASTER_GTID_WAIT('$pos', $timeout)") ||
        die "MASTER_GTID_WAIT failed on the replica in $dir"
    if [ "$rc" != 0 ]; then
        root_client "$dir" "$pw" -e "SHOW SLAVE STATUS\G" >&2 || true
        error_log_tail "$dir"
        die "the replica in $dir did not reach the primary's GTID position '$pos' within ${timeout}s"
    fi
    echo "$pos"
}

cmd_replica() {
    [ $# -eq 3 ] || [ $# -eq 4 ] || usage
    local dir=$1 port=$2 pport=$3 sid=${4:-2}
    case "$pport" in ''|*[!0-9]*) die "PRIMARY_PORT must be a number, got '$pport'" ;; esac
    case "$sid" in ''|*[!0-9]*) die "SERVER_ID must be a number, got '$sid'" ;; esac
    [ "$sid" != 1 ] || die "SERVER_ID 1 is the primary's"
    [ ! -d "$dir/data/mysql" ] || die "$dir already holds a server: a replica starts empty"
    start_server "$dir" "$port" replica "$sid"
    dir=$SERVER_DIR
    local pos rc timeout=${SANDBOX_START_TIMEOUT:-30}
    pos=$(primary_gtid_pos "$pport") || die "cannot read @@gtid_binlog_pos of 127.0.0.1:$pport"
    # Right after mariadb-install-db root@localhost has no password; replication brings the
    # primary's ALTER USER at once, so everything happens in this one session.
    local q="CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = $pport,
        MASTER_USER = 'rowlog', MASTER_PASSWORD = '$ROWLOG_PW', MASTER_USE_GTID = slave_pos,
        MASTER_CONNECT_RETRY = 1;
      START SLAVE;
      SELECT MASTER_GTID_WAIT('$pos', $timeout);"
    rc=$(root_client "$dir" "" -N -B -e "$q") || die "CHANGE MASTER on the replica failed"
    if [ "$rc" != 0 ]; then
        root_client "$dir" "$ROOT_PW" -e "SHOW SLAVE STATUS\G" >&2 || true
        error_log_tail "$dir"
        die "the new replica did not reach the primary's GTID position '$pos' within ${timeout}s"
    fi
    touch "$dir/.users-created"
    echo "mariadb-sandbox: replica of 127.0.0.1:$pport (server_id $sid) at GTID $pos"
}

cmd_sync() {
    [ $# -eq 2 ] || [ $# -eq 3 ] || usage
    local dir=$1 pport=$2 timeout=${3:-60} pos
    [ -S "$dir/s.sock" ] || die "no server socket at $dir/s.sock (is the replica started?)"
    pos=$(replica_wait "$dir" "$pport" "$timeout" "$ROOT_PW") || exit 1
    echo "mariadb-sandbox: replica in $dir at GTID $pos"
}

cmd_promote() {
    [ $# -eq 1 ] || usage
    local dir=$1
    [ -S "$dir/s.sock" ] || die "no server socket at $dir/s.sock (is the replica started?)"
    root_client "$dir" "$ROOT_PW" -e \
        "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only = OFF" ||
        die "promoting the replica in $dir failed"
    # Later restarts of this server start it as a primary that keeps its server_id.
    [ ! -s "$dir/server.args" ] || sed -i '/^--read-only=ON$/d' "$dir/server.args"
    echo "mariadb-sandbox: $dir promoted (gtid_binlog_pos" \
        "$(root_client "$dir" "$ROOT_PW" -N -B -e 'SELECT @@global.gtid_binlog_pos'))"
}

create_users() {
    local dir=$1 u
    root_client "$dir" "" <<SQL
ALTER USER 'root'@'localhost' IDENTIFIED BY '$ROOT_PW';
CREATE USER 'rowlog'@'127.0.0.1' IDENTIFIED BY '$ROWLOG_PW';
CREATE USER 'rowlog'@'localhost' IDENTIFIED BY '$ROWLOG_PW';
GRANT REPLICATION SLAVE, BINLOG MONITOR, SELECT ON *.* TO 'rowlog'@'127.0.0.1';
GRANT REPLICATION SLAVE, BINLOG MONITOR, SELECT ON *.* TO 'rowlog'@'localhost';
CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY '$APP_PW';
GRANT ALL PRIVILEGES ON \`shop\`.* TO 'app'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`itest\`.* TO 'app'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`itest\\_%\`.* TO 'app'@'127.0.0.1';
SQL
    # Anonymous users and the password-less root accounts for other hosts
    # (127.0.0.1, ::1, the host name) that mariadb-install-db creates.
    local victims
    victims=$(root_client "$dir" "$ROOT_PW" -N -B -e \
        "SELECT CONCAT(QUOTE(User), '@', QUOTE(Host)) FROM mysql.user
         WHERE User = '' OR (User = 'root' AND Host <> 'localhost')")
    while IFS= read -r u; do
        [ -n "$u" ] || continue
        root_client "$dir" "$ROOT_PW" -e "DROP USER $u"
    done <<< "$victims"
    root_client "$dir" "$ROOT_PW" -e "FLUSH PRIVILEGES"
}

cmd_stop() {
    [ $# -eq 1 ] || usage
    local dir=$1 pid
    [ -d "$dir" ] || die "no such directory: $dir"
    pid=$(server_pid "$dir")
    if [ -z "$pid" ]; then
        # Startup may have failed before the pid file existed: try the launcher.
        if [ -s "$dir/launcher.pid" ]; then
            pid=$(tr -dc '0-9' < "$dir/launcher.pid")
            case "$(cat "/proc/$pid/comm" 2>/dev/null || true)" in
                mariadbd|mysqld) ;;
                *) pid="" ;;
            esac
        fi
    fi
    if [ -z "$pid" ]; then
        echo "mariadb-sandbox: no server running for $dir"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    local timeout=${SANDBOX_STOP_TIMEOUT:-60}
    local deadline=$((SECONDS + timeout))
    while kill -0 "$pid" 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
            error_log_tail "$dir"
            kill -KILL "$pid" 2>/dev/null || true
            die "mariadbd (pid $pid) did not stop within ${timeout}s; killed"
        fi
        sleep 0.1
    done
    echo "mariadb-sandbox: MariaDB pid $pid stopped"
}

cmd_sql() {
    [ $# -ge 1 ] || usage
    local dir=$1; shift
    [ -S "$dir/s.sock" ] || die "no server socket at $dir/s.sock (is the sandbox started?)"
    root_client "$dir" "$ROOT_PW" "$@"
}

[ $# -ge 1 ] || usage
sub=$1; shift
case "$sub" in
    start) cmd_start "$@" ;;
    stop)  cmd_stop "$@" ;;
    sql)   cmd_sql "$@" ;;
    replica) cmd_replica "$@" ;;
    sync)  cmd_sync "$@" ;;
    promote) cmd_promote "$@" ;;
    -h|--help|help) usage ;;
    *) echo "mariadb-sandbox: unknown command '$sub'" >&2; usage ;;
esac
