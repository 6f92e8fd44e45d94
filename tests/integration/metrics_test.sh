#!/usr/bin/env bash
# The metrics endpoint against a real MariaDB: /metrics passes `promtool check metrics`; the
# source lag in seconds rises while rowlogd is stopped (SIGSTOP) during a workload and falls
# under 1 s after SIGCONT, and stays under 1 s on an idle source (heartbeats); a consumer
# group's lag rises while it is not consuming and returns to 0 when it catches up; retention
# headroom falls when the primary purges binlogs; /health and /v1/offsets answer; a real
# Prometheus scrapes the endpoint and a PromQL query returns the lag.
# Usage: metrics_test.sh ROWLOGD ROWLOG SCRIPTS_DIR
set -euo pipefail
ROWLOGD=$1 ROWLOG=$2 SCRIPTS=$3
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || { echo "SKIP: no mariadbd"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: no curl"; exit 77; }
D=$(mktemp -d /tmp/rowlog-metrics.XXXXXX)
RPID="" PPID_PROM="" WPID=""
cleanup() {
    [ -n "$WPID" ] && kill "$WPID" 2>/dev/null && wait "$WPID" 2>/dev/null
    [ -n "$RPID" ] && kill -CONT "$RPID" 2>/dev/null && kill -TERM "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null
    [ -n "$PPID_PROM" ] && kill -TERM "$PPID_PROM" 2>/dev/null && wait "$PPID_PROM" 2>/dev/null
    "$SCRIPTS/mariadb-sandbox.sh" stop "$D" >/dev/null 2>&1 || true
    rm -rf "$D"
}
trap cleanup EXIT
. "$(dirname "$0")/lib.sh"
P=$(free_port); K=$(free_port); H=$(free_port); PP=$(free_port)
sql() { "$SCRIPTS/mariadb-sandbox.sh" sql "$D" "$@"; }
fail() {
    echo "FAIL: $*"
    echo "---- rowlogd log ----"; tail -n 30 "$D/rowlogd.log"
    [ -s "$D/m.txt" ] && { echo "---- last scrape (rowlog_source_*) ----"; grep '^rowlog_source' "$D/m.txt" | head -40; }
    exit 1
}
# scrape: the endpoint's text into $D/m.txt; metric NAME [LABELS]: one sample's value.
scrape() { curl -sf --max-time 5 "http://127.0.0.1:$H/metrics" > "$D/m.txt"; }
metric() {
    awk -v n="$1" -v l="${2:-}" '
        { split($1, a, "{"); name = a[1]; lab = (index($1, "{") ? substr($1, index($1, "{")) : "") }
        name == n && (l == "" || index(lab, l)) { print $2; exit }' "$D/m.txt"
}
# lt A B / ge A B: float comparisons.
lt() { python3 -c "import sys; sys.exit(0 if float('$1') < float('$2') else 1)"; }
ge() { python3 -c "import sys; sys.exit(0 if float('$1') >= float('$2') else 1)"; }

"$SCRIPTS/mariadb-sandbox.sh" start "$D" "$P" >/dev/null
sql -e "CREATE DATABASE itest; CREATE TABLE itest.m (id INT PRIMARY KEY, v INT NOT NULL)"

# A real Prometheus, started first (it takes a few seconds), scraping every second.
PROM=""
if command -v prometheus >/dev/null; then
    PROM=1
    cat > "$D/prometheus.yml" <<EOF
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: rowlogd
    static_configs: [{targets: ["127.0.0.1:$H"]}]
EOF
    prometheus --config.file="$D/prometheus.yml" --storage.tsdb.path="$D/prom" \
        --web.listen-address="127.0.0.1:$PP" > "$D/prometheus.log" 2>&1 &
    PPID_PROM=$!
fi

"$ROWLOGD" --source "mysql://rowlog:rowlogpw@127.0.0.1:$P" --data-dir "$D/log" \
    --listen "127.0.0.1:$K" --http "127.0.0.1:$H" --heartbeat-ms 500 --primary-poll-ms 500 \
    > "$D/rowlogd.log" 2>&1 &
RPID=$!
for _ in $(seq 100); do grep -q "streaming from" "$D/rowlogd.log" && break; sleep 0.1; done
grep -q "streaming from" "$D/rowlogd.log" || fail "rowlogd did not start streaming"

# 1. Health and format.
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$H/health/live")" = 200 ] || fail "/health/live"
for _ in $(seq 50); do
    code=$(curl -s -o "$D/ready.json" -w '%{http_code}' "http://127.0.0.1:$H/health/ready")
    [ "$code" = 200 ] && break; sleep 0.1
done
[ "$code" = 200 ] && grep -q '"status":"ready"' "$D/ready.json" || fail "/health/ready: $code $(cat "$D/ready.json")"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$H/nope")" = 404 ] || fail "unknown path"
sql itest -e "INSERT INTO m SELECT seq, 0 FROM seq_1_to_100"
for _ in $(seq 50); do scrape; [ "$(metric rowlog_log_high_watermark 'topic="rowlog.itest.m"')" = 100 ] && break; sleep 0.1; done
[ "$(metric rowlog_log_high_watermark 'topic="rowlog.itest.m"')" = 100 ] || fail "high watermark"
[ "$(metric rowlog_source_rows_total 'op="insert"')" = 100 ] || fail "rows_total"
if command -v promtool >/dev/null; then
    promtool check metrics < "$D/m.txt" > "$D/promtool.out" 2>&1 || { cat "$D/promtool.out"; fail "promtool check metrics"; }
fi
for _ in $(seq 50); do scrape; [ -n "$(metric rowlog_source_lag_bytes)" ] && break; sleep 0.1; done
[ "$(metric rowlog_source_lag_bytes)" = 0 ] || fail "lag in bytes on a caught-up source: $(metric rowlog_source_lag_bytes)"
[ "$(metric rowlog_source_lag_transactions)" = 0 ] || fail "lag in transactions: $(metric rowlog_source_lag_transactions)"
grep -q '^rowlog_source_info{flavor="mariadb"' "$D/m.txt" || fail "rowlog_source_info"
grep -q '^rowlog_kafka_fetch_sendfile_bytes_total ' "$D/m.txt" || fail "rowlog_kafka_fetch_sendfile_bytes_total"

# 2. /v1/offsets from the GTID index.
gtid=$(sql -N -e "SELECT @@global.gtid_binlog_pos")
code=$(curl -s -o "$D/off.json" -w '%{http_code}' "http://127.0.0.1:$H/v1/offsets?topic=rowlog.itest.m&gtid=$gtid")
[ "$code" = 200 ] && grep -q '"partitions":\[{"partition":0,"offset":0}\]' "$D/off.json" || fail "/v1/offsets: $code $(cat "$D/off.json")"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$H/v1/offsets?topic=rowlog.itest.m&gtid=x-y")" = 400 ] || fail "/v1/offsets bad gtid"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$H/v1/offsets?topic=nope&gtid=$gtid")" = 404 ] || fail "/v1/offsets unknown topic"

# 3. Idle source: heartbeats keep the lag under a second.
sleep 1.5
for _ in $(seq 6); do
    scrape; l=$(metric rowlog_source_lag_seconds)
    lt "$l" 1 || fail "idle lag $l s"
    sleep 0.5
done

# 4. Workload; rowlogd stopped for 6 s: the lag rises; after SIGCONT it falls under 1 s.
( for i in $(seq 0 100); do
      echo "INSERT INTO m SELECT 1000 + $i * 2000 + seq, $i FROM seq_1_to_2000; DO SLEEP(0.1);"
  done | "$SCRIPTS/mariadb-sandbox.sh" sql "$D" itest ) &
WPID=$!
sleep 1.5
kill -STOP "$RPID"
sleep 6
# The kernel accepts and queues this request while rowlogd is stopped: it is answered at
# once after SIGCONT, before the source thread has read the backlog (which takes it only a
# fraction of a second).
curl -sf --max-time 20 "http://127.0.0.1:$H/metrics" > "$D/m.txt" &
CPID=$!
sleep 0.5
kill -CONT "$RPID"
wait "$CPID" || fail "no answer after SIGCONT"
max=$(metric rowlog_source_lag_seconds)
ge "$max" 4 || fail "lag after a 6 s stop was $max s"
ok=""
for _ in $(seq 200); do
    scrape; l=$(metric rowlog_source_lag_seconds)
    lt "$l" 1 && { ok=1; break; }
    sleep 0.1
done
[ -n "$ok" ] || fail "lag did not fall under 1 s after SIGCONT (last $l s)"
echo "lag peaked at $max s during the stop, back to $l s"
wait "$WPID"; WPID=""

# 5. Consumer group: caught up (lag 0), then behind while it is not consuming, then 0 again.
topic=rowlog.itest.m
hw() { scrape; metric rowlog_log_high_watermark "topic=\"$topic\""; }
want=$(sql -N -e "SELECT COUNT(*) FROM itest.m")
for _ in $(seq 300); do [ "$(hw)" = "$want" ] && break; sleep 0.1; done
[ "$(hw)" = "$want" ] || fail "log holds $(hw) records, table $want"
consume() {
    if "$ROWLOG" tail --help 2>&1 | grep -q -- '--group'; then
        "$ROWLOG" tail --bootstrap "127.0.0.1:$K" --group g1 --format value "$topic" > /dev/null
    else
        timeout 30 kcat -b "127.0.0.1:$K" -G g1 -o beginning -e "$topic" > /dev/null 2>&1 || true
    fi
}
consume
for _ in $(seq 100); do scrape; [ "$(metric rowlog_consumer_lag_records 'group="g1"')" = 0 ] && break; sleep 0.1; done
[ "$(metric rowlog_consumer_lag_records 'group="g1"')" = 0 ] || fail "group lag after consuming: $(metric rowlog_consumer_lag_records 'group="g1"')"
[ "$(metric rowlog_consumer_committed_offset 'group="g1"')" = "$want" ] || fail "committed offset"
sql itest -e "INSERT INTO m SELECT 1000000 + seq, 0 FROM seq_1_to_50"
sleep 2
scrape
[ "$(metric rowlog_consumer_lag_records 'group="g1"')" = 50 ] || fail "group lag records: $(metric rowlog_consumer_lag_records 'group="g1"')"
ge "$(metric rowlog_consumer_lag_seconds 'group="g1"')" 1.5 || fail "group lag seconds: $(metric rowlog_consumer_lag_seconds 'group="g1"')"
consume
for _ in $(seq 100); do scrape; [ "$(metric rowlog_consumer_lag_records 'group="g1"')" = 0 ] && break; sleep 0.1; done
[ "$(metric rowlog_consumer_lag_records 'group="g1"')" = 0 ] || fail "group lag after catching up"
[ "$(metric rowlog_consumer_lag_seconds 'group="g1"')" = 0 ] || fail "group lag seconds after catching up"

# 6. Retention headroom: rotate a few times, then purge what rowlog no longer needs.
for i in 1 2 3; do sql itest -e "INSERT INTO m VALUES (2000000 + $i, 0); FLUSH BINARY LOGS"; done
last=$(sql -N -e "SHOW MASTER STATUS" | cut -f1)
for _ in $(seq 100); do
    scrape; grep -q "^rowlog_source_position_info{file=\"$last\"}" "$D/m.txt" &&
        [ "$(metric rowlog_source_binlog_files)" -ge 4 ] && break
    sleep 0.1
done
grep -q "^rowlog_source_position_info{file=\"$last\"}" "$D/m.txt" || fail "position did not reach $last"
before=$(metric rowlog_source_retention_headroom_bytes)
files_before=$(metric rowlog_source_binlog_files)
sql -e "PURGE BINARY LOGS TO '$last'"
# MariaDB may keep the file before $last a little longer (still needed until its binlog
# checkpoint is written): the purge removes at least the older ones.
for _ in $(seq 100); do
    scrape; after=$(metric rowlog_source_retention_headroom_bytes)
    lt "$after" "$before" && lt "$(metric rowlog_source_binlog_files)" "$((files_before - 1))" &&
        break
    sleep 0.1
done
lt "$after" "$before" || fail "retention headroom $before -> $after after PURGE"
lt "$(metric rowlog_source_binlog_files)" "$((files_before - 1))" ||
    fail "binlog files after purge: $files_before -> $(metric rowlog_source_binlog_files)"
echo "retention headroom $before -> $after bytes after PURGE BINARY LOGS"

# 7. rowlog status (when the CLI dispatches it).
if "$ROWLOG" status --help > /dev/null 2>&1; then
    "$ROWLOG" status --http "127.0.0.1:$H" > "$D/status.txt" || fail "rowlog status"
    grep -q "^position   $last:" "$D/status.txt" && grep -q "^lag " "$D/status.txt" &&
        grep -q "g1 " "$D/status.txt" || { cat "$D/status.txt"; fail "rowlog status output"; }
else
    echo "note: rowlog status is not dispatched by this rowlog build; skipped"
fi

# 8. Prometheus scraped the endpoint: PromQL returns the lag series.
if [ -n "$PROM" ]; then
    res=""
    for _ in $(seq 60); do
        res=$(curl -s "http://127.0.0.1:$PP/api/v1/query?query=max_over_time(rowlog_source_lag_seconds%5B5m%5D)" || true)
        echo "$res" | grep -q '"result":\[{' && break; sleep 0.5
    done
    echo "$res" | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert r["status"] == "success", r
res = r["data"]["result"]
assert res and res[0]["metric"]["job"] == "rowlogd", res
print("PromQL max_over_time(rowlog_source_lag_seconds[5m]) =", res[0]["value"][1])
' || { tail -n 20 "$D/prometheus.log"; fail "PromQL query"; }
fi

kill -TERM "$RPID"; wait "$RPID" || fail "rowlogd exit status $?"
RPID=""
echo "PASS"
