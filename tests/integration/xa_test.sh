#!/usr/bin/env bash
# xa_test.sh ROWLOGD ROWLOG SCRIPTS_DIR - XA transactions against a real MariaDB, exactly once
# (docs/format-binlog.md "XA transactions"):
#
#  1. sandbox MariaDB; table itest.t; rowlogd --snapshot never; two committed inserts
#  2. XA START 'x1'; INSERT id 10; UPDATE id 1; XA END; XA PREPARE (one connection, which
#     then disconnects: MariaDB 10.5+ keeps the prepared transaction); an insert committed
#     meanwhile; the prepared changes are held in __rowlog_xa (2 records: a third, on the
#     --exclude'd table itest.skip, is filtered out), not in the topic
#  3. SIGKILL rowlogd while x1 is prepared; FLUSH BINARY LOGS; an insert; restart;
#     XA COMMIT 'x1' (in the next binlog file); an insert
#  4. XA START 'x2' ... XA PREPARE, then XA ROLLBACK 'x2'
#  5. XA START 'x3' ... XA END; XA COMMIT 'x3' ONE PHASE; a last insert
#  6. rowlog tail: the topic holds x1's changes exactly once, right after the insert committed
#     before its XA COMMIT and before the one after it; x2's never; x3's once; and the topic
#     reduced per key equals SELECT * FROM t
#
# Exit status: 0 pass, 1 fail, 77 skip (MariaDB tools not installed).
set -uo pipefail

. "$(dirname "$0")/lib.sh"

rl_db_init xa "${1:?usage: xa_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}" \
    "${2:?usage: xa_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}" \
    "${3:?usage: xa_test.sh ROWLOGD ROWLOG SCRIPTS_DIR}" 170

start_rowlogd() {
    rl_rowlogd_start --server-id 4444 --snapshot never --exclude 'itest\.skip'
}

rl_db_start
rl_app "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))"
rl_app "CREATE TABLE skip (id INT PRIMARY KEY)"

# 1.
start_rowlogd
rl_app "INSERT INTO t VALUES (1, 'a')"
rl_app "INSERT INTO t VALUES (2, 'b')"
rl_wait_records rowlog.itest.t 2

# 2.
rl_app "XA START 'x1'; INSERT INTO t VALUES (10, 'x1'); INSERT INTO skip VALUES (1);
     UPDATE t SET v = 'x1u' WHERE id = 1; XA END 'x1'; XA PREPARE 'x1'"
rl_app "INSERT INTO t VALUES (3, 'c')"
rl_wait_records rowlog.itest.t 3
rl_wait_records __rowlog_xa 2
[ "$(rl_records rowlog.itest.t)" -eq 3 ] || die "prepared rows reached the topic before XA COMMIT"
[ "$(rl_records __rowlog_xa)" -eq 2 ] || die "--exclude not applied to the held changes"
# __rowlog_xa is internal: `rowlog topics` lists it only with --internal.
timeout 20 "$ROWLOG" topics --bootstrap "$BOOT" > "$WORK/topics.txt" 2>&1 || die "rowlog topics"
grep -q '^rowlog\.itest\.t	' "$WORK/topics.txt" || die "rowlog topics lacks rowlog.itest.t"
! grep -q '^__rowlog_xa' "$WORK/topics.txt" || die "rowlog topics lists __rowlog_xa"

# 3.
log "SIGKILL rowlogd while x1 is prepared"
kill -KILL "$RLD_PID"
wait_exit "$RLD_PID" 30 || die "rowlogd survived SIGKILL"
RLD_PID=""
rl_root "FLUSH BINARY LOGS" # the XA COMMIT comes in another binlog file than its prepare
rl_app "INSERT INTO t VALUES (4, 'd')"
start_rowlogd
grep -q "XA: 1 prepared transactions held" "$WORK/rowlogd.2.log" ||
    die "rowlogd run 2 did not find x1 held"
rl_root "XA COMMIT 'x1'"
rl_app "INSERT INTO t VALUES (5, 'e')"

# 4.
rl_app "XA START 'x2'; INSERT INTO t VALUES (20, 'x2'); DELETE FROM t WHERE id = 2;
     XA END 'x2'; XA PREPARE 'x2'"
rl_root "XA ROLLBACK 'x2'"

# 5.
rl_app "XA START 'x3'; INSERT INTO t VALUES (30, 'x3'); XA END 'x3'; XA COMMIT 'x3' ONE PHASE"
rl_app "INSERT INTO t VALUES (6, 'f')"
rl_wait_records rowlog.itest.t 9

# 6.
timeout 60 "$ROWLOG" tail --bootstrap "$BOOT" --from beginning --format json rowlog.itest.t \
    > "$WORK/tail.jsonl" 2> "$WORK/tail.err" || die "rowlog tail: $(tail -n 3 "$WORK/tail.err")"
rl_root "SELECT id, v FROM t ORDER BY id" > "$WORK/select.tsv"
python3 - "$WORK/tail.jsonl" "$WORK/select.tsv" << 'EOF' || die "stream check"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def fail(msg):
    print("  " + msg)
    sys.exit(1)
seq = []
for r in recs:
    v = r["value"]
    row = v["after"] if v["op"] != "d" else v["before"]
    seq.append((v["op"], row["id"], row.get("v")))
want = [("c", 1, "a"), ("c", 2, "b"), ("c", 3, "c"), ("c", 4, "d"),
        ("c", 10, "x1"), ("u", 1, "x1u"),      # x1 at its XA COMMIT, once
        ("c", 5, "e"),
        ("c", 30, "x3"),                       # x3, one phase; x2 rolled back: nothing
        ("c", 6, "f")]
if seq != want:
    fail("topic holds %r\n  expected %r" % (seq, want))
# The topic reduced per key equals the table.
state = {}
for r in recs:
    k = json.dumps(r["key"], sort_keys=True)
    if r["value"] is None or r["value"]["op"] == "d":
        state.pop(k, None)
    else:
        state[k] = r["value"]["after"]
got = sorted((a["id"], a["v"]) for a in state.values())
lines = [l.split("\t") for l in open(sys.argv[2]).read().splitlines()[1:]]
table = sorted((int(i), v) for i, v in lines)
if got != table:
    fail("topic reduced per key %r != SELECT %r" % (got, table))
print("  %d records as expected; the topic reduced per key equals the table" % len(recs))
EOF
[ "$(rl_records rowlog.itest.skip)" -eq 0 ] || die "an excluded table's XA change was published"
# A group consumer's wildcard (a regex subscription) leaves the internal topic out too.
timeout 90 "$ROWLOG" tail --bootstrap "$BOOT" --group xa-all --from beginning --format json '*' \
    > "$WORK/group.jsonl" 2> "$WORK/group.err" || die "rowlog tail --group: $(tail -n 3 "$WORK/group.err")"
grep -q '"topic":"rowlog.itest.t"' "$WORK/group.jsonl" || die "tail --group '*' read nothing of t"
! grep -q '"topic":"__rowlog_xa"' "$WORK/group.jsonl" || die "tail --group '*' read __rowlog_xa"
log "XA commit, rollback and one phase checked"

kill -TERM "$RLD_PID"
wait_exit "$RLD_PID" 60 || die "rowlogd did not stop on SIGTERM"
[ "$EXIT_RC" -eq 0 ] || die "rowlogd exited $EXIT_RC on SIGTERM"
RLD_PID=""
STATUS=0
log "PASS"
exit 0
