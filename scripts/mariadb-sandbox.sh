#!/usr/bin/env bash
# mariadb-sandbox.sh - a throwaway MariaDB server for rowlog's demo and integration tests.
#
#   mariadb-sandbox.sh start DIR PORT     initialise DIR/data (first time only), start mariadbd on
#                                         127.0.0.1:PORT and the socket DIR/s.sock, create users
#   mariadb-sandbox.sh stop DIR           SIGTERM the server by the PID in DIR/mdb.pid, wait for it
#   mariadb-sandbox.sh sql DIR [ARGS...]  the mariadb client as root over the socket (utf8mb4);
#                                         ARGS go to the client (e.g. -e "SELECT 1", -N -B, a db)
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
# Environment: MARIADBD (server binary, default /usr/sbin/mariadbd or the one on PATH),
# SANDBOX_START_TIMEOUT (s, default 30), SANDBOX_STOP_TIMEOUT (s, default 60).
# Exit status: 0 on success, 1 on failure (with a message on stderr), 2 on a usage error.
set -euo pipefail

ROOT_PW=rootpw
ROWLOG_PW=rowlogpw
APP_PW=apppw

die() { echo "mariadb-sandbox: $*" >&2; exit 1; }
usage() {
    sed -n '4,8p' "$0" | sed 's/^# \{0,1\}//' >&2
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
    local dir=$1 port=$2
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
        if ! mariadb-install-db --no-defaults --user="$user" --datadir="$dir/data" \
                --auth-root-authentication-method=normal --skip-test-db \
                > "$dir/install-db.log" 2>&1; then
            tail -n 30 "$dir/install-db.log" >&2
            die "mariadb-install-db failed (log: $dir/install-db.log)"
        fi
    fi

    : > "$dir/mariadbd.out"
    # setsid: the server must not get the caller's terminal signals (see the file comment).
    setsid "$mariadbd" --no-defaults --user="$user" --datadir="$dir/data" \
        --socket="$dir/s.sock" --port="$port" --bind-address=127.0.0.1 \
        --pid-file="$dir/mdb.pid" --log-error="$dir/error.log" \
        --log-bin="$dir/data/binlog" --binlog-format=ROW --binlog-row-metadata=FULL \
        --server-id=1 < /dev/null >> "$dir/mariadbd.out" 2>&1 &
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

    if [ ! -e "$dir/.users-created" ]; then
        [ $fresh -eq 1 ] || die "$dir/data exists but its users were never created; remove $dir"
        create_users "$dir"
        touch "$dir/.users-created"
    fi
    echo "mariadb-sandbox: MariaDB pid $(server_pid "$dir") on 127.0.0.1:$port, socket $dir/s.sock"
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
    -h|--help|help) usage ;;
    *) echo "mariadb-sandbox: unknown command '$sub'" >&2; usage ;;
esac
