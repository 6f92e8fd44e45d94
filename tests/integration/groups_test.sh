#!/usr/bin/env bash
# groups_test.sh ROWLOGD ROWLOG SCRIPTS_DIR - consumer groups and positions against rowlogd.
#
# A sandbox MariaDB and rowlogd --partitions 4; table itest.g gets rows in phases, one
# transaction per 10 rows, so records carry distinct GTIDs and times:
#   1. kcat -G, two members: the 4 partitions split 2 + 2 (each member's assignment from
#      kcat's rebalance lines and from `rowlog groups`); one member leaving (SIGTERM) moves its
#      partitions to the other; every record is read (no gap); after a clean stop and new rows,
#      a restarted member prints exactly the new rows (no duplicate beyond the last commit).
#   2. rowlog tail --group: a run stopped by --max and a second run print every record once;
#      a --follow run stopped by SIGINT commits what it printed and the next run prints only
#      the rows added since. `rowlog groups` shows the group with lag 0 on every partition.
#   3. --from TIME and `rowlog offsets --time`: exactly the rows written after TIME.
#   4. --from gtid: and `rowlog offsets --gtid`: exactly the records of transactions at or
#      after the GTID (skipped, saying why, when rowlogd has no /v1/offsets).
# Exit status: 0 pass, 1 fail, 77 skip (MariaDB or kcat not installed).
set -uo pipefail

ROWLOGD=${1:?usage: groups_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}
ROWLOG=${2:?usage: groups_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}
SCRIPTS=${3:?usage: groups_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}
TOPIC=rowlog.itest.g

. "$(dirname "$0")/lib.sh"

rl_require_tools mariadbd mariadb mariadb-install-db kcat python3 curl timeout

D=$(mktemp -d /tmp/rl-groups.XXXXXX)
RPID=""
PIDS=()
log() { echo "[groups $(date +%H:%M:%S)] $*"; }
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2> /dev/null; done
    if [ -n "$RPID" ]; then kill -TERM "$RPID" 2> /dev/null; wait "$RPID" 2> /dev/null; fi
    "$SCRIPTS/mariadb-sandbox.sh" stop "$D" > /dev/null 2>&1 || true
    if [ "${ITEST_KEEP:-0}" = 1 ]; then echo "work directory kept: $D"; else rm -rf "$D"; fi
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    echo "---- rowlogd log (last 30 lines) ----"
    tail -n 30 "$D/rowlogd.log"
    exit 1
}
P=$(free_port); K=$(free_port); H=$(free_port)
BOOT="127.0.0.1:$K"
HTTP="127.0.0.1:$H"
sql() { "$SCRIPTS/mariadb-sandbox.sh" sql "$D" "$@"; }

# insert FIRST LAST: rows FIRST..LAST, one transaction per 10 rows.
insert() {
    local a=$1 b=$2 i s=""
    for ((i = a; i <= b; i += 10)); do
        s+="INSERT INTO g SELECT seq, seq FROM seq_${i}_to_$((i + 9 > b ? b : i + 9));"
    done
    sql itest -e "$s" || fail "insert $a..$b"
}
# wait_end N: until the topic's log end offsets add up to N.
wait_end() {
    local have=0
    for _ in $(seq 300); do
        have=$(rl_records "$TOPIC")
        [ "$have" -ge "$1" ] && break
        sleep 0.2
    done
    [ "$have" -eq "$1" ] || fail "log end offsets add up to $have, expected $1"
}
# keys FILE...: the sorted ids of kcat -f '%p %o %k' lines or rowlog tail json lines.
keys() {
    python3 - "$@" << 'PY'
import json, sys
ids = []
for path in sys.argv[1:]:
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            ids.append(json.loads(line)["key"]["id"])
        else:
            ids.append(json.loads(line.split(" ", 2)[2])["id"])
print(" ".join(str(i) for i in sorted(ids)))
PY
}
expect_keys() { # WHAT FIRST LAST FILE...: exactly ids FIRST..LAST, each once
    local what=$1 want got
    want=$(seq -s ' ' "$2" "$3")
    got=$(keys "${@:4}")
    [ "$got" = "$want" ] || fail "$what: ids [$(echo "$got" | cut -c1-300)...] want $2..$3 once each"
}

"$SCRIPTS/mariadb-sandbox.sh" start "$D" "$P" > /dev/null || fail "sandbox start"
sql -e "CREATE DATABASE itest; CREATE TABLE itest.g (id INT PRIMARY KEY, v INT NOT NULL)"
"$ROWLOGD" --source "mysql://rowlog:rowlogpw@127.0.0.1:$P" --data-dir "$D/log" \
    --listen "$BOOT" --http "$HTTP" --partitions 4 > "$D/rowlogd.log" 2>&1 &
RPID=$!
for _ in $(seq 100); do grep -q "streaming from" "$D/rowlogd.log" && break; sleep 0.1; done
grep -q "streaming from" "$D/rowlogd.log" || fail "rowlogd did not start streaming"

# Phase 1, a pause with TIME in the middle, phase 2.
insert 1 200
wait_end 200
sleep 2
TIME=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
sleep 2
insert 201 300
wait_end 300
log "300 records in 4 partitions; TIME $TIME between ids 200 and 201"

# ---- 1. kcat -G: two members ----------------------------------------------------------
KCAT_G=(kcat -b "$BOOT" -G kg -X auto.offset.reset=earliest -X session.timeout.ms=6000
    -X heartbeat.interval.ms=500 -f '%p %o %k\n' -u)
# last_assigned ERRFILE: the partitions of the last "assigned:" line of kcat's stderr.
last_assigned() {
    grep 'assigned:' "$1" | tail -n 1 | sed 's/.*assigned://' | grep -o '\[[0-9]*\]' |
        tr -d '[]' | sort -n | tr '\n' ' '
}
"${KCAT_G[@]}" "$TOPIC" > "$D/a1.out" 2> "$D/a1.err" &
A=$!; PIDS+=("$A")
for _ in $(seq 150); do [ "$(last_assigned "$D/a1.err")" = "0 1 2 3 " ] && break; sleep 0.2; done
[ "$(last_assigned "$D/a1.err")" = "0 1 2 3 " ] || fail "member A alone: assigned '$(last_assigned "$D/a1.err")'; stderr: $(tail -5 "$D/a1.err")"
"${KCAT_G[@]}" "$TOPIC" > "$D/b.out" 2> "$D/b.err" &
B=$!; PIDS+=("$B")
split=""
for _ in $(seq 150); do
    a=$(last_assigned "$D/a1.err"); b=$(last_assigned "$D/b.err")
    if [ -n "$b" ] && [ "$(echo $a $b | tr ' ' '\n' | sort -n | tr '\n' ' ')" = "0 1 2 3 " ] &&
        [ "$(echo $a | wc -w)" = 2 ]; then
        split="$a| $b"
        break
    fi
    sleep 0.2
done
[ -n "$split" ] || fail "no 2 + 2 split: A '$(last_assigned "$D/a1.err")', B '$(last_assigned "$D/b.err")'"
log "kcat members split the partitions: A $a, B $b"
# rowlog groups sees the same: two members, 2 partitions each, 4 in all.
for _ in $(seq 50); do
    "$ROWLOG" groups --bootstrap "$BOOT" kg > "$D/groups.kg" 2> "$D/groups.err" &&
        [ "$(grep -c '^member' "$D/groups.kg")" = 2 ] && break
    sleep 0.2
done
python3 - "$D/groups.kg" << 'PY' || fail "rowlog groups kg: $(cat "$D/groups.kg" "$D/groups.err")"
import sys
members = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.startswith("member\t")]
assert len(members) == 2, members
parts = []
for m in members:
    mine = [int(p) for t in m[5].split() for p in t.split(":", 1)[1].split(",")]
    assert len(mine) == 2, m
    parts += mine
assert sorted(parts) == [0, 1, 2, 3], parts
PY
kill -TERM "$B"; wait "$B" 2> /dev/null
for _ in $(seq 150); do [ "$(last_assigned "$D/a1.err")" = "0 1 2 3 " ] && break; sleep 0.2; done
[ "$(last_assigned "$D/a1.err")" = "0 1 2 3 " ] || fail "after B left, A has '$(last_assigned "$D/a1.err")'"
log "B left: A has all 4 partitions again"
for _ in $(seq 100); do [ "$(cat "$D/a1.out" "$D/b.out" | wc -l)" -ge 300 ] && break; sleep 0.2; done
# Every record read by one member or the other (no gap); duplicates only from the rebalance.
python3 - "$D/a1.out" "$D/b.out" << 'PY' || fail "kcat members missed records"
import sys
seen = set()
for path in sys.argv[1:]:
    for line in open(path):
        if line.strip():
            p, o, _ = line.split(" ", 2)
            seen.add((int(p), int(o)))
assert len(seen) == 300, f"{len(seen)} distinct records of 300"
PY
kill -TERM "$A"; wait "$A" 2> /dev/null
insert 301 350
wait_end 350
"${KCAT_G[@]}" -e "$TOPIC" > "$D/a2.out" 2> "$D/a2.err" &
A2=$!; PIDS+=("$A2")
for _ in $(seq 200); do alive=$(kill -0 "$A2" 2> /dev/null && echo 1); [ -z "$alive" ] && break; sleep 0.2; done
[ -z "$alive" ] || { kill -TERM "$A2"; fail "restarted kcat member did not reach the end"; }
expect_keys "restarted kcat member" 301 350 "$D/a2.out"
log "restarted kcat member resumed at the committed offsets: ids 301..350 only"

# ---- 2. rowlog tail --group -----------------------------------------------------------
"$ROWLOG" tail --bootstrap "$BOOT" --group rg --max 120 "$TOPIC" > "$D/t1.out" 2> "$D/t1.err" ||
    fail "tail --group --max: $(cat "$D/t1.err")"
[ "$(wc -l < "$D/t1.out")" = 120 ] || fail "tail --max 120 printed $(wc -l < "$D/t1.out")"
timeout 60 "$ROWLOG" tail --bootstrap "$BOOT" --group rg "$TOPIC" > "$D/t2.out" 2> "$D/t2.err" ||
    fail "tail --group second run: $(cat "$D/t2.err")"
expect_keys "tail --group, two runs" 1 350 "$D/t1.out" "$D/t2.out"
log "tail --group: 120 + $(wc -l < "$D/t2.out") records across a restart, each once"
"$ROWLOG" groups --bootstrap "$BOOT" rg > "$D/groups.rg" 2> "$D/groups.err" ||
    fail "rowlog groups rg: $(cat "$D/groups.err")"
python3 - "$D/groups.rg" "$TOPIC" << 'PY' || fail "rowlog groups rg: $(cat "$D/groups.rg")"
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
assert rows[0][0] == "group" and rows[0][1] == "rg", rows[0]
offs = [r for r in rows if r[0] == "offset" and r[2] == sys.argv[2]]
assert sorted(int(r[3]) for r in offs) == [0, 1, 2, 3], offs
assert sum(int(r[5]) for r in offs) == 350, offs
for r in offs:
    assert r[4] == r[5] and r[6] == "0", f"partition {r[3]}: committed {r[4]} end {r[5]} lag {r[6]}"
PY
log "rowlog groups: rg committed at the log end on every partition, lag 0"
"$ROWLOG" groups --bootstrap "$BOOT" > "$D/groups.all" 2> "$D/groups.err" ||
    fail "rowlog groups: $(cat "$D/groups.err")"
grep -q "^group	kg	" "$D/groups.all" && grep -q "^group	rg	" "$D/groups.all" ||
    fail "rowlog groups does not list kg and rg: $(cat "$D/groups.all")"

# --follow stopped by SIGINT commits what it printed.
"$ROWLOG" tail --bootstrap "$BOOT" --group rf --follow "$TOPIC" > "$D/f1.out" 2> "$D/f1.err" &
F=$!; PIDS+=("$F")
for _ in $(seq 150); do [ "$(wc -l < "$D/f1.out")" -ge 350 ] && break; sleep 0.2; done
kill -INT "$F"; wait "$F"; rc=$?
[ "$rc" = 0 ] || fail "tail --follow exit status $rc after SIGINT: $(cat "$D/f1.err")"
insert 351 400
wait_end 400
timeout 60 "$ROWLOG" tail --bootstrap "$BOOT" --group rf "$TOPIC" > "$D/f2.out" 2> "$D/f2.err" ||
    fail "tail --group after SIGINT: $(cat "$D/f2.err")"
expect_keys "tail --follow stopped by SIGINT" 1 350 "$D/f1.out"
expect_keys "tail --group after SIGINT" 351 400 "$D/f2.out"
log "SIGINT committed the printed offsets: the next run printed ids 351..400 only"

# ---- 3. time ---------------------------------------------------------------------------
timeout 60 "$ROWLOG" tail --bootstrap "$BOOT" --from "$TIME" "$TOPIC" > "$D/time.out" 2> "$D/time.err" ||
    fail "tail --from $TIME: $(cat "$D/time.err")"
expect_keys "tail --from $TIME" 201 400 "$D/time.out"
"$ROWLOG" offsets --bootstrap "$BOOT" --time "$TIME" "$TOPIC" > "$D/off.time" 2> "$D/off.err" ||
    fail "offsets --time: $(cat "$D/off.err")"
timeout 60 "$ROWLOG" tail --bootstrap "$BOOT" "$TOPIC" > "$D/all.out" || fail "tail all"
python3 - "$D/off.time" "$D/all.out" << 'PY' || fail "offsets --time: $(cat "$D/off.time")"
import json, sys
first = {}
for line in open(sys.argv[2]):
    r = json.loads(line)
    if r["key"]["id"] > 200:
        first[r["partition"]] = min(first.get(r["partition"], 1 << 60), r["offset"])
got = {int(p): int(o) for _, p, o in (l.split("\t") for l in open(sys.argv[1]))}
assert got == first, f"offsets --time {got}, first records after TIME {first}"
PY
log "--from TIME and offsets --time: exactly the records after $TIME"

# ---- 4. GTID ---------------------------------------------------------------------------
GTID=$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["key"]["id"] == 151:
        print(r["value"]["source"]["gtid"])' "$D/all.out")
code=$(curl -s -o "$D/probe.json" -w '%{http_code}' "http://$HTTP/v1/offsets?topic=$TOPIC&gtid=$GTID")
if [ "$code" != 200 ]; then
    log "SKIP the gtid part: GET /v1/offsets answered $code ($(head -c 200 "$D/probe.json"))"
else
    timeout 60 "$ROWLOG" tail --bootstrap "$BOOT" --http "$HTTP" --from "gtid:$GTID" "$TOPIC" \
        > "$D/gtid.out" 2> "$D/gtid.err" || fail "tail --from gtid:$GTID: $(cat "$D/gtid.err")"
    # Rows go 10 per transaction: the one of id 151 holds ids 151..160.
    expect_keys "tail --from gtid:$GTID" 151 400 "$D/gtid.out"
    "$ROWLOG" offsets --bootstrap "$BOOT" --http "$HTTP" --gtid "$GTID" "$TOPIC" \
        > "$D/off.gtid" 2> "$D/off.err" || fail "offsets --gtid: $(cat "$D/off.err")"
    python3 - "$D/off.gtid" "$D/all.out" << 'PY' || fail "offsets --gtid: $(cat "$D/off.gtid")"
import json, sys
first = {}
for line in open(sys.argv[2]):
    r = json.loads(line)
    if r["key"]["id"] >= 151:
        first[r["partition"]] = min(first.get(r["partition"], 1 << 60), r["offset"])
got = {int(p): int(o) for _, p, o in (l.split("\t") for l in open(sys.argv[1]))}
assert got == first, f"offsets --gtid {got}, first records of the transaction or later {first}"
PY
    log "--from gtid:$GTID and offsets --gtid: exactly the records from that transaction on"
fi

kill -TERM "$RPID"; wait "$RPID" || fail "rowlogd exit status $?"
RPID=""
echo PASS
