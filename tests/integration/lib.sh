# lib.sh - shell helpers shared by the integration tests (bash only; sourced, never run).
#
#   . "$(dirname "$0")/lib.sh"
#
# Defines functions only (no variables the caller has not asked for, no traps), so it is safe
# under `set -euo pipefail` and under `set -uo pipefail`:
#   rl_require_tools TOOL...   exit 77 with "SKIP: TOOL not installed ..." when one is missing
#                              (looked up in PATH and in /usr/sbin, where mariadbd lives)
#   rl_require_bins BIN...     exit 1 with "FAIL: BIN is not an executable (build first)"
#   alive PID                  0 when PID is running and not a zombie
#   wait_exit PID SECONDS      reap a child with a deadline; sets EXIT_RC
#   rl_stop PID SECONDS        SIGTERM a running child, SIGKILL it if it is still there after
#                              SECONDS (cleanup traps; sets EXIT_RC when it exits in time)
#   free_port                  print one free TCP port on 127.0.0.1
#   free_ports N               print N distinct free TCP ports on one line
#   rl_watchdog TAG SECONDS    SIGTERM this shell after SECONDS (sets WATCHDOG_PID)
#   rl_show_logs LINES FILE... print the last LINES lines of each existing FILE
#
# The harness of a test of rowlogd against a sandbox MariaDB (schema_test.sh, xa_test.sh).
# rl_db_init sets the variables and traps below when called, nothing before:
#   rl_db_init TAG ROWLOGD ROWLOG SCRIPTS_DIR SECONDS
#                              checks the tools (exit 77 without MariaDB's) and binaries;
#                              sets ROWLOGD ROWLOG SANDBOX RL_TAG, WORK (a new
#                              /tmp/rl-TAG.XXXXXX; ITEST_KEEP=1 keeps it), DBPORT, BOOT (the
#                              Kafka listener, 127.0.0.1:PORT), RLD_PID="" RLD_RUN=0 STATUS=1;
#                              defines log MSG ("[TAG HH:MM:SS] MSG") and die MSG ("FAIL: MSG",
#                              exit 1); traps EXIT with rl_db_cleanup and INT/TERM (exit 130);
#                              starts rl_watchdog TAG SECONDS. The caller sets STATUS=0 when
#                              it passed.
#   rl_db_cleanup              stops the watchdog, rowlogd (RLD_PID) and the sandbox; when
#                              STATUS is not 0 prints the end of every rowlogd log and the
#                              start of WORK/tail.jsonl
#   rl_db_start                starts the sandbox on DBPORT (users rowlog and app:
#                              scripts/mariadb-sandbox.sh) and creates database itest
#   rl_app SQL                 runs SQL as `app` in itest over TCP (utf8mb4); dies on error
#   rl_root SQL                runs SQL as root in itest; dies on error
#   rl_rowlogd_start ARGS...   rowlogd on this source, WORK/rowlog-data, BOOT, --http off,
#                              --log-level info and ARGS, in the background (pid RLD_PID, log
#                              RLD_LOG = WORK/rowlogd.N.log for run N = RLD_RUN); waits up to
#                              60 s for "streaming from"; dies if rowlogd exits first
#   rl_records TOPIC           prints the records in TOPIC's partitions (0 when absent;
#                              internal topics included)
#   rl_wait_records TOPIC N [SECONDS]
#                              until TOPIC holds N records or more (default 90 s); dies if
#                              rowlogd exits meanwhile or the time runs out

rl_require_tools() {
    local tool
    for tool in "$@"; do
        if ! command -v "$tool" > /dev/null 2>&1 && ! [ -x "/usr/sbin/$tool" ]; then
            echo "SKIP: $tool not installed (bash scripts/install-deps.sh)"
            exit 77
        fi
    done
}

rl_require_bins() {
    local bin
    for bin in "$@"; do
        [ -x "$bin" ] || { echo "FAIL: $bin is not an executable (build first)"; exit 1; }
    done
}

# alive PID: running and not a zombie (kill -0 succeeds on an unreaped zombie). No fork: it
# is polled often, on machines that may be busy.
alive() {
    [ -n "${1:-}" ] || return 1
    local st
    { read -r st < "/proc/$1/stat"; } 2> /dev/null || return 1
    st=${st##*) }
    [ "${st%% *}" != Z ]
}

# wait_exit PID SECONDS: reap a child of this shell with a deadline (polling every WAIT_POLL_S
# seconds, default 0.1); sets EXIT_RC. Returns 1 on timeout (the child is left running).
wait_exit() {
    local pid=$1 deadline=$((SECONDS + $2)) poll=${WAIT_POLL_S:-0.1}
    while alive "$pid"; do
        [ $SECONDS -lt $deadline ] || return 1
        sleep "$poll"
    done
    EXIT_RC=0
    wait "$pid" 2> /dev/null || EXIT_RC=$?
    return 0
}

# rl_stop PID SECONDS: for cleanup traps; nothing happens when PID is empty or gone.
rl_stop() {
    if alive "$1"; then
        kill -TERM "$1" 2> /dev/null
        wait_exit "$1" "$2" || kill -KILL "$1" 2> /dev/null
    fi
    return 0
}

# free_ports N: N ports bound at the same time, so they are distinct from each other.
free_ports() {
    python3 -c '
import socket, sys
s = [socket.socket() for _ in range(int(sys.argv[1]))]
for x in s:
    x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))' "$1"
}

free_port() { free_ports 1; }

# rl_watchdog TAG SECONDS: our own deadline, below ctest's TIMEOUT. ctest kills only the test
# shell, which would leave the servers it started running; a SIGTERM to ourselves runs the
# caller's EXIT trap instead. The caller kills WATCHDOG_PID in its cleanup.
rl_watchdog() {
    local tag=$1 secs=$2
    (
        sleep "$secs" &
        trap 'kill $! 2> /dev/null; exit 0' TERM
        wait $!
        echo "[$tag] deadline of ${secs} s reached: stopping"
        kill -TERM $$
    ) &
    WATCHDOG_PID=$!
}

# rl_show_logs LINES FILE...: the tail of each log (rowlogd's, usually) on failure.
rl_show_logs() {
    local n=$1 f
    shift
    for f in "$@"; do
        [ -e "$f" ] || continue
        echo "---- last $n lines of $(basename "$f") ----"
        tail -n "$n" "$f"
    done
}

# ---------------------------------------------------------------- rowlogd against MariaDB

rl_db_init() {
    RL_TAG=$1
    ROWLOGD=$2
    ROWLOG=$3
    SANDBOX="$4/mariadb-sandbox.sh"
    rl_require_tools mariadbd mariadb mariadb-admin mariadb-install-db python3 setsid timeout
    rl_require_bins "$ROWLOGD" "$ROWLOG"
    log() { echo "[$RL_TAG $(date +%H:%M:%S)] $*"; }
    die() {
        echo "FAIL: $*"
        exit 1
    }
    WORK=$(mktemp -d "/tmp/rl-$RL_TAG.XXXXXX")
    RLD_PID=""
    RLD_RUN=0
    STATUS=1
    trap rl_db_cleanup EXIT
    trap 'echo "[$RL_TAG] interrupted"; exit 130' INT TERM
    rl_watchdog "$RL_TAG" "$5"
    local kport
    read -r DBPORT kport < <(free_ports 2)
    BOOT="127.0.0.1:$kport"
}

rl_db_cleanup() {
    [ -n "${WATCHDOG_PID:-}" ] && kill -TERM "$WATCHDOG_PID" 2> /dev/null
    rl_stop "$RLD_PID" 30
    "$SANDBOX" stop "$WORK/db" > /dev/null 2>&1
    if [ "$STATUS" -ne 0 ]; then
        rl_show_logs 40 "$WORK"/rowlogd.*.log
        [ -f "$WORK/tail.jsonl" ] && { echo "---- tail.jsonl"; head -c 6000 "$WORK/tail.jsonl"; }
    fi
    if [ "${ITEST_KEEP:-0}" = 1 ]; then
        echo "[$RL_TAG] ITEST_KEEP=1: work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}

rl_db_start() {
    log "starting MariaDB on 127.0.0.1:$DBPORT; work dir $WORK"
    "$SANDBOX" start "$WORK/db" "$DBPORT" || die "sandbox start"
    "$SANDBOX" sql "$WORK/db" -e "CREATE DATABASE IF NOT EXISTS itest;" || die "sandbox setup"
}

rl_app() {
    mariadb --no-defaults --default-character-set=utf8mb4 -h127.0.0.1 -P"$DBPORT" -uapp -papppw \
        itest -e "$1" || die "SQL failed: $1"
}

rl_root() {
    "$SANDBOX" sql "$WORK/db" itest -e "$1" || die "SQL (root) failed: $1"
}

rl_rowlogd_start() {
    RLD_RUN=$((RLD_RUN + 1))
    RLD_LOG="$WORK/rowlogd.$RLD_RUN.log"
    "$ROWLOGD" --source "mysql://rowlog:rowlogpw@127.0.0.1:$DBPORT" \
        --data-dir "$WORK/rowlog-data" --listen "$BOOT" --http off --log-level info "$@" \
        > "$RLD_LOG" 2>&1 &
    RLD_PID=$!
    local deadline=$((SECONDS + 60))
    until grep -q "streaming from" "$RLD_LOG"; do
        alive "$RLD_PID" || { wait_exit "$RLD_PID" 1; die "rowlogd exited ($EXIT_RC) at start"; }
        [ $SECONDS -lt $deadline ] || die "rowlogd not streaming after 60 s"
        sleep 0.2
    done
    log "rowlogd run $RLD_RUN streaming (pid $RLD_PID)"
}

rl_records() {
    timeout 20 "$ROWLOG" topics --internal --bootstrap "$BOOT" 2> /dev/null |
        awk -F'\t' -v t="$1" '$1 == t { s += $4 } END { print s + 0 }'
}

rl_wait_records() {
    local secs=${3:-90} have=0
    local deadline=$((SECONDS + secs))
    while [ $SECONDS -lt $deadline ]; do
        have=$(rl_records "$1")
        [ "$have" -ge "$2" ] && return 0
        alive "$RLD_PID" || die "rowlogd died while waiting for $1"
        sleep 0.3
    done
    die "$1 holds $have records after $secs s, expected $2"
}
