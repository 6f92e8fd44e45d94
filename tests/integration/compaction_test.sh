#!/usr/bin/env bash
# Compacted topics end to end: rowlogd with --cleanup-policy compact captures inserts,
# repeated updates and deletes; deletes get a tombstone; the compaction thread rewrites
# sealed segments; kcat (check.crcs) and rowlog tail then read a log with offset gaps and
# still find, per key, the latest state of the table (deleted keys end in a tombstone or are
# gone). Usage: compaction_test.sh ROWLOGD ROWLOG SCRIPTS_DIR
set -euo pipefail
ROWLOGD=$1 ROWLOG=$2 SCRIPTS=$3
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || { echo "SKIP: no mariadbd"; exit 77; }
command -v kcat >/dev/null || { echo "SKIP: no kcat"; exit 77; }
D=$(mktemp -d /tmp/rowlog-compact.XXXXXX)
RPID=""
cleanup() {
    [ -n "$RPID" ] && kill -TERM "$RPID" 2>/dev/null && wait "$RPID" 2>/dev/null
    "$SCRIPTS/mariadb-sandbox.sh" stop "$D" >/dev/null 2>&1 || true
    rm -rf "$D"
}
trap cleanup EXIT
. "$(dirname "$0")/lib.sh"
P=$(free_port); K=$(free_port)
sql() { "$SCRIPTS/mariadb-sandbox.sh" sql "$D" "$@"; }
fail() { echo "FAIL: $*"; echo "---- rowlogd log ----"; tail -n 30 "$D/rowlogd.log"; exit 1; }

"$SCRIPTS/mariadb-sandbox.sh" start "$D" "$P" >/dev/null
sql -e "CREATE DATABASE itest; CREATE TABLE itest.c (id INT PRIMARY KEY, v INT NOT NULL, pad VARCHAR(600))"
"$ROWLOGD" --source "mysql://rowlog:rowlogpw@127.0.0.1:$P" --data-dir "$D/log" \
    --listen "127.0.0.1:$K" --cleanup-policy compact --delete-retention-ms 0 \
    --segment-bytes 1048576 --compression none --http off > "$D/rowlogd.log" 2>&1 &
RPID=$!
for _ in $(seq 100); do grep -q "streaming from" "$D/rowlogd.log" && break; sleep 0.1; done
grep -q "streaming from" "$D/rowlogd.log" || fail "rowlogd did not start streaming"

sql itest -e "INSERT INTO c SELECT seq, 0, REPEAT('x', 500) FROM seq_1_to_2000"
sql itest -e "UPDATE c SET v = 1"
sql itest -e "UPDATE c SET v = 2"
sql itest -e "DELETE FROM c WHERE id <= 100"
written=$((2000 + 2000 + 2000 + 100 * 2)) # the deletes: a delete event and a tombstone each

for _ in $(seq 300); do
    end=$("$ROWLOG" topics --bootstrap "127.0.0.1:$K" 2>/dev/null | awk -F'\t' '$1=="rowlog.itest.c"{print $4}')
    [ "${end:-0}" -ge "$written" ] && break; sleep 0.1
done
[ "${end:-0}" -eq "$written" ] || fail "log end offset ${end:-none}, expected $written"
for _ in $(seq 60); do grep -q "compaction rewrote" "$D/rowlogd.log" && break; sleep 0.5; done
grep -q "compaction rewrote" "$D/rowlogd.log" || fail "no compaction pass rewrote a segment"

timeout 60 kcat -C -b "127.0.0.1:$K" -t rowlog.itest.c -p 0 -o beginning -e -X check.crcs=true -J \
    > "$D/kcat.jsonl" 2>"$D/kcat.err" || fail "kcat failed: $(tail -3 "$D/kcat.err")"
timeout 60 "$ROWLOG" tail --bootstrap "127.0.0.1:$K" --from beginning rowlog.itest.c \
    > "$D/tail.jsonl" || fail "rowlog tail failed"
python3 - "$D/kcat.jsonl" "$D/tail.jsonl" "$written" <<'PY' || fail "compacted log is wrong"
import json, sys
kcat_path, tail_path, written = sys.argv[1], sys.argv[2], int(sys.argv[3])
def load(path, kcat):
    out = []
    for line in open(path):
        r = json.loads(line)
        if kcat:
            key = json.loads(r["key"])
            val = None if r["payload"] is None else json.loads(r["payload"])
        else:
            key, val = r["key"], r["value"]
        out.append((r["offset"], key["id"], val))
    return out
for path, kcat in ((kcat_path, True), (tail_path, False)):
    recs = load(path, kcat)
    offs = [o for o, _, _ in recs]
    assert offs == sorted(set(offs)), f"{path}: offsets not strictly increasing"
    assert len(recs) < written, f"{path}: {len(recs)} records: nothing was compacted away"
    last = {}
    for _, k, v in recs:
        last[k] = v
    for k in range(1, 2001):
        v = last.get(k)
        if k <= 100:
            assert v is None, f"{path}: deleted key {k} ends in {v}"
        else:
            assert v is not None and v["after"]["v"] == 2, f"{path}: key {k} ends in {v}"
    print(f"{path}: {len(recs)} of {written} records after compaction, latest state exact")
PY
kill -TERM "$RPID"; wait "$RPID" || fail "rowlogd exit status $?"
RPID=""
echo PASS
