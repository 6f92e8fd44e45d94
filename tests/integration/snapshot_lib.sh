# snapshot_lib.sh - the MariaDB + rowlogd harness shared by snapshot_test.sh and
# ondemand_test.sh (bash only; sourced, never run). Uses lib.sh (alive, wait_exit,
# rl_require_tools, rl_require_bins, free_ports).
#
#   . "$(dirname "$0")/snapshot_lib.sh"
#   sl_init TAG ROWLOGD ROWLOG SCRIPTS_DIR SERVER_ID
#
# sl_init checks the tools (exit 77 when MariaDB's are missing) and binaries (exit 1), makes
# the work directory WORK (/tmp/rl-TAG.XXXXXX; ITEST_KEEP=1 keeps it), picks free ports and
# sets ROWLOGD ROWLOG SANDBOX DBPORT BOOT (Kafka listener) HTTP (rowlogd's HTTP endpoint),
# and installs the EXIT trap: it stops the workload (WL_PID) and rowlogd (RLD_PID), stops the
# sandbox and, when STATUS is not 0, prints the end of every rowlogd log. The caller sets
# STATUS=0 at the end of a passing run. Then:
#   log MSG...                 "[TAG HH:MM:SS] MSG"
#   die MSG...                 "FAIL: MSG", exit 1
#   sql ARGS...                the sandbox's mariadb client as root
#   sl_start_db                start the sandbox server (users rowlog and app, see
#                              scripts/mariadb-sandbox.sh)
#   start_rowlogd DIR READY ARGS...
#                              rowlogd on DIR in the background (its log in LOGF, pid in
#                              RLD_PID), then wait_log READY 120 ("" = do not wait)
#   wait_log PATTERN SECONDS   until LOGF has PATTERN; fails when rowlogd exits first
#   stop_rowlogd SIGNAL        signal rowlogd and reap it (SIGTERM must give exit status 0)
#   metric NAME LABEL          the first sample of NAME with LABEL in its labels, or empty
#   wait_caught_up             until rowlogd's GTID sequence (every domain) reaches the
#                              primary's @@gtid_binlog_pos, plus a second for its commit
#   read_topic TOPIC OUT       every record of TOPIC, `rowlog tail` json lines, into OUT
#   stop_workload              SIGTERM the workload (WL_PID) and reap it

. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

sl_init() {
    SL_TAG=$1
    ROWLOGD=$2
    ROWLOG=$3
    SANDBOX="$4/mariadb-sandbox.sh"
    SL_SERVER_ID=$5
    rl_require_tools mariadbd mariadb mariadb-admin mariadb-install-db python3 curl timeout
    rl_require_bins "$ROWLOGD" "$ROWLOG"
    WORK=$(mktemp -d "/tmp/rl-$SL_TAG.XXXXXX")
    RLD_PID=""
    WL_PID=""
    RLD_RUN=0
    STATUS=1
    trap sl_cleanup EXIT
    trap 'echo "[$SL_TAG] interrupted"; exit 130' INT TERM
    local kport hport
    read -r DBPORT kport hport < <(free_ports 3)
    BOOT="127.0.0.1:$kport"
    HTTP="127.0.0.1:$hport"
}

log() { echo "[$SL_TAG $(date +%H:%M:%S)] $*"; }

die() {
    echo "FAIL: $*"
    exit 1
}

sl_cleanup() {
    rl_stop "$WL_PID" 5
    rl_stop "$RLD_PID" 30
    "$SANDBOX" stop "$WORK/db" > /dev/null 2>&1
    if [ "$STATUS" -ne 0 ]; then
        local f
        for f in "$WORK"/rowlogd.*.log; do
            [ -e "$f" ] || continue
            echo "---- last 30 lines of $(basename "$f") ----"
            tail -n 30 "$f"
        done
    fi
    if [ "${ITEST_KEEP:-0}" = 1 ]; then
        echo "[$SL_TAG] ITEST_KEEP=1: work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}

sql() { "$SANDBOX" sql "$WORK/db" "$@"; }

sl_start_db() {
    log "starting MariaDB on 127.0.0.1:$DBPORT; work dir $WORK"
    "$SANDBOX" start "$WORK/db" "$DBPORT" || die "sandbox start"
}

start_rowlogd() {  # DIR READY_PATTERN ARGS...
    local dir=$1 ready=$2
    shift 2
    RLD_RUN=$((RLD_RUN + 1))
    LOGF="$WORK/rowlogd.$RLD_RUN.log"
    log "rowlogd run $RLD_RUN: $*"
    "$ROWLOGD" --source "mysql://rowlog:rowlogpw@127.0.0.1:$DBPORT" --data-dir "$dir" \
        --listen "$BOOT" --partitions 1 --server-id "$SL_SERVER_ID" --http "$HTTP" \
        --log-level info "$@" > "$LOGF" 2>&1 &
    RLD_PID=$!
    [ -n "$ready" ] || return 0
    wait_log "$ready" 120
}

wait_log() {  # PATTERN SECONDS
    local deadline=$((SECONDS + $2))
    until grep -q -- "$1" "$LOGF"; do
        if ! alive "$RLD_PID"; then
            wait_exit "$RLD_PID" 1
            die "rowlogd exited with status $EXIT_RC before logging '$1'"
        fi
        [ $SECONDS -lt $deadline ] || die "no '$1' in rowlogd's log after $2 s"
        sleep 0.2
    done
}

stop_rowlogd() {  # SIGNAL
    kill -"$1" "$RLD_PID" 2> /dev/null || die "rowlogd is not running"
    wait_exit "$RLD_PID" 60 || die "rowlogd did not exit within 60 s of SIG$1"
    if [ "$1" = TERM ] && [ "$EXIT_RC" -ne 0 ]; then
        die "rowlogd exited with status $EXIT_RC after SIGTERM"
    fi
    RLD_PID=""
}

metric() {  # NAME LABEL_SUBSTRING
    curl -sf "http://$HTTP/metrics" 2> /dev/null |
        awk -v n="$1 " -v m="$1{" -v l="$2" \
            '(index($0, n) == 1 || index($0, m) == 1) && index($0, l) > 0 { print $NF; exit }'
}

wait_caught_up() {
    local want deadline=$((SECONDS + 120))
    want=$(sql -N -B -e "SELECT @@gtid_binlog_pos")
    while :; do
        if curl -sf "http://$HTTP/metrics" > "$WORK/metrics.txt" 2> /dev/null &&
            python3 - "$want" "$WORK/metrics.txt" << 'EOF'
import re, sys
want = {}
for g in sys.argv[1].split(","):
    d, s, n = g.split("-")
    want[d] = int(n)
have = {}
for line in open(sys.argv[2]):
    m = re.match(r'rowlog_source_gtid_sequence\{(.*)\} (\d+)', line)
    if m:
        d = re.search(r'gtid_domain="([^"]+)"', m.group(1))
        if d:
            have[d.group(1)] = max(have.get(d.group(1), 0), int(m.group(2)))
sys.exit(0 if all(have.get(d, 0) >= n for d, n in want.items()) else 1)
EOF
        then
            sleep 1 # the position is published before its group commit is durable
            return 0
        fi
        [ $SECONDS -lt $deadline ] || die "rowlogd did not reach the primary's GTID $want"
        sleep 0.3
    done
}

read_topic() {  # TOPIC OUT
    timeout 300 "$ROWLOG" tail --bootstrap "$BOOT" --from beginning "$1" > "$2" \
        2> "$2.err" || die "rowlog tail $1: $(tail -n 3 "$2.err")"
}

stop_workload() {
    if alive "$WL_PID"; then
        kill -TERM "$WL_PID" 2> /dev/null
        wait_exit "$WL_PID" 30
    fi
    WL_PID=""
}
