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
