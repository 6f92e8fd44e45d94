#!/usr/bin/env python3
"""checker.py - checks what rowlog served against what the workload committed.

    checker.py --expected DIR/expected.json
               [--kcat-dir DIR]        files NAME.jsonl from `kcat -C ... -J`, one per partition
               [--tail FILE]           output of `rowlog tail --from beginning TOPIC...`
               [--metadata FILE]       output of `kcat -L -J`
               [--topics FILE]         output of `rowlog topics`
               [--partitions N]        partitions every topic must have (rowlogd --partitions)
               [--db-host H --db-port P [--db-user U --db-password W]]
                                       read the final table contents with the mariadb client
               [--server-ids 1,2]      source.server_id values allowed (default 1: the sandbox
                                       primary; a failover test adds the promoted replica's)
               [--no-coord-order]      do not require (file, pos, row) to grow along a key: after
                                       a failover the new primary's binlog files have their own
                                       names and offsets (GTID order is still checked)
               [--gtid-domains 0,1,2]  the records' GTIDs use exactly these MariaDB domains
               [--seen-dir DIR]        kcat -J files of everything consumers saw while rowlogd
                                       was being crashed and restarted: every (topic, partition,
                                       offset) seen must hold the same key and value in the final
                                       log read from --kcat-dir (no record ever vanished or
                                       changed once served)

Exit status 0 when every check passes, 1 otherwise (with the first differences printed).

For each reader (kcat, rowlog tail) it asserts:
  a) every record is a JSON key object and a Debezium-style envelope (before, after, source with
     name/server_id/file/pos/row/gtid/db/table/ts_ms/snapshot, op c/u/d, ts_ms), the key holds
     exactly the primary-key columns and equals them in the row image, images hold every column;
  b) per key, the sequence of (op, version) equals the workload's exactly (no loss, no doubles,
     commit order), all records of a key are in one partition, offsets are dense from 0, the
     binlog coordinates (file, pos, row) grow along each key, and the before image of every 'u'
     and 'd' equals the previous after image of that key;
  c) the record count equals the expected total;
  d) the final state (replaying c/u/d per key) equals SELECT of every table, column by column,
     with the value mapping of rowlog's change events (see value_from_db).
and that both readers return identical record sets.

GTID order: along a key, the sequence number of a GTID never goes down within a domain (records
of one key may come from several domains when sessions switch gtid_domain_id).
"""
import argparse
import base64
import glob
import json
import os
import re
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workload  # noqa: E402  (schema shared with the generator)

SOURCE_FIELDS = ["name", "server_id", "file", "pos", "row", "gtid", "db", "table", "ts_ms",
                 "snapshot"]
MAX_REPORTS = 8


class Report:
    """Collects failures; prints only the first few of each kind in full."""

    def __init__(self, label):
        self.label = label
        self.errors = []
        self.counts = {}

    def fail(self, kind, msg):
        n = self.counts.get(kind, 0) + 1
        self.counts[kind] = n
        if n <= MAX_REPORTS:
            self.errors.append("[%s] %s: %s" % (self.label, kind, msg))
        elif n == MAX_REPORTS + 1:
            self.errors.append("[%s] %s: further failures of this kind not shown" %
                               (self.label, kind))

    def ok(self):
        return not self.counts

    def summary(self):
        if self.ok():
            return "[%s] all checks passed" % self.label
        return "[%s] FAILED: %s" % (self.label, ", ".join(
            "%s x%d" % (k, v) for k, v in sorted(self.counts.items())))


def canon(v):
    return json.dumps(v, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def short(v, limit=300):
    s = v if isinstance(v, str) else canon(v)
    return s if len(s) <= limit else s[:limit] + "...(%d chars)" % len(s)


# ---------------------------------------------------------------------------------------------
# Readers' output

def load_kcat_dir(path, rep):
    """Records from `kcat -J` files: payload and key are JSON text inside JSON strings."""
    recs = []
    for fn in sorted(glob.glob(os.path.join(path, "*.jsonl"))):
        with open(fn, encoding="utf-8", newline="\n") as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                where = "%s:%d" % (os.path.basename(fn), lineno)
                try:
                    m = json.loads(line)
                    key = json.loads(m["key"]) if m.get("key") is not None else None
                    val = json.loads(m["payload"]) if m.get("payload") is not None else None
                    recs.append({"topic": m["topic"], "partition": m["partition"],
                                 "offset": m["offset"], "key": key, "value": val,
                                 "where": where})
                except (ValueError, KeyError, TypeError) as e:
                    rep.fail("not-json", "%s: %s: %s" % (where, e, short(line)))
    return recs


def load_tail(path, rep):
    recs = []
    with open(path, encoding="utf-8", newline="\n") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            where = "tail:%d" % lineno
            try:
                m = json.loads(line)
                recs.append({"topic": m["topic"], "partition": m["partition"],
                             "offset": m["offset"], "key": m["key"], "value": m["value"],
                             "where": where})
            except (ValueError, KeyError, TypeError) as e:
                rep.fail("not-json", "%s: %s: %s" % (where, e, short(line)))
    return recs


# ---------------------------------------------------------------------------------------------
# Final table contents, mapped to the JSON values rowlog must produce

def select_expr(col):
    k, n = col.kind, "`%s`" % col.name
    if k == "float":
        return "CAST(%s AS DOUBLE)" % n  # exact float32 value, printed round-trip
    if k in ("string", "json", "enum", "binary", "blob", "geometry"):
        return "HEX(%s)" % n
    if k == "bit":
        return "CAST(%s AS UNSIGNED)" % n
    return n


def _no_constant(name):
    raise ValueError("not JSON: " + name)


def json_value(text):
    """A MariaDB JSON column's text -> the value rowlog emits with the schema history on
    (docs/events.md, JSON): the parsed document; the document null is the string "null" (SQL
    NULL is null); a text that is not one JSON document stays the string."""
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except ValueError:
        return text
    return "null" if doc is None else doc


def value_from_db(col, cell):
    """One cell of `mariadb -N -B` output of select_expr(col) -> the JSON value rowlog emits."""
    if cell == "NULL":
        return None
    k, p = col.kind, col.params
    if k in ("int", "year"):
        return int(cell)
    if k == "decimal":
        return cell  # MariaDB prints exactly `scale` fraction digits
    if k in ("float", "double"):
        return float(cell)
    if k in ("date", "time"):
        return cell
    if k == "datetime":
        return cell.replace(" ", "T")
    if k == "timestamp":
        return cell.replace(" ", "T") + "Z"  # selected with time_zone '+00:00'
    if k in ("string", "enum"):
        return bytes.fromhex(cell).decode("utf-8")
    if k == "json":
        return json_value(bytes.fromhex(cell).decode("utf-8"))
    if k == "set":
        return cell.split(",") if cell else []
    if k in ("binary", "blob", "geometry"):
        return base64.b64encode(bytes.fromhex(cell)).decode("ascii")
    if k == "bit":
        return base64.b64encode(int(cell).to_bytes((p["m"] + 7) // 8, "big")).decode("ascii")
    raise ValueError(k)


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def value_equal(col, want, got):
    if want is None or got is None:
        return want is None and got is None
    if col.kind == "float":
        return is_number(got) and struct.pack("<f", float(got)) == struct.pack("<f", want)
    if col.kind == "double":
        return is_number(got) and float(got) == want
    if col.kind in ("int", "year"):
        return isinstance(got, int) and not isinstance(got, bool) and got == want
    if col.kind == "json":
        # Both sides parsed from the same spelling: equal dumps, so true and 1 differ.
        return (json.dumps(got, sort_keys=True, ensure_ascii=False) ==
                json.dumps(want, sort_keys=True, ensure_ascii=False))
    return type(got) is type(want) and got == want


def fetch_db_state(host, port, user, password):
    """{table: {canonical key: {column: JSON value}}} read with the mariadb client."""
    state = {}
    for t in workload.TABLES:
        q = "SET time_zone = '+00:00'; SELECT %s FROM `%s`.`%s`" % (
            ", ".join(select_expr(c) for c in t.cols), workload.DB, t.name)
        out = subprocess.run(
            ["mariadb", "--no-defaults", "--default-character-set=utf8mb4", "-h", host,
             "-P", str(port), "-u", user, "-p" + password, "-N", "-B", "-e", q],
            check=True, stdout=subprocess.PIPE).stdout.decode("utf-8")
        rows = {}
        for line in out.split("\n"):
            if not line:
                continue
            cells = line.split("\t")
            if len(cells) != len(t.cols):
                raise RuntimeError("%s: %d cells, expected %d" % (t.name, len(cells), len(t.cols)))
            row = {c.name: value_from_db(c, cell) for c, cell in zip(t.cols, cells)}
            rows[canon({k: row[k] for k in t.pk})] = row
        state[t.name] = rows
    return state


# ---------------------------------------------------------------------------------------------
# Checks

def gtid_seq(g):
    m = re.fullmatch(r"(\d+)-(\d+)-(\d+)", g) if isinstance(g, str) else None
    return (int(m.group(1)), int(m.group(3))) if m else None


def check_envelope(rec, table, rep, server_ids=(1,)):
    """Shape checks (a). Returns False when the record is unusable for the later checks."""
    where = "%s p%s o%s (%s)" % (rec["topic"], rec["partition"], rec["offset"], rec["where"])
    v, key = rec["value"], rec["key"]
    if not isinstance(v, dict):
        rep.fail("envelope", "%s: value is not an object: %s" % (where, short(v)))
        return False
    missing = [f for f in ("before", "after", "source", "op", "ts_ms") if f not in v]
    if missing:
        rep.fail("envelope", "%s: value lacks %s: %s" % (where, missing, short(v)))
        return False
    op = v["op"]
    if op not in ("c", "u", "d"):
        rep.fail("envelope", "%s: op %r" % (where, op))
        return False
    want_before, want_after = op != "c", op != "d"
    colnames = sorted(c.name for c in table.cols)
    for img, want in (("before", want_before), ("after", want_after)):
        x = v[img]
        if want:
            if not isinstance(x, dict):
                rep.fail("envelope", "%s: op %s needs %s object, got %s" % (where, op, img,
                                                                             short(x)))
                return False
            if sorted(x.keys()) != colnames:
                rep.fail("envelope", "%s: %s columns %s, table has %s" % (
                    where, img, sorted(x.keys()), colnames))
                return False
        elif x is not None:
            rep.fail("envelope", "%s: op %s needs %s null, got %s" % (where, op, img, short(x)))
    if not is_number(v["ts_ms"]):
        rep.fail("envelope", "%s: ts_ms %r" % (where, v["ts_ms"]))
    src = v["source"]
    if not isinstance(src, dict) or any(f not in src for f in SOURCE_FIELDS):
        rep.fail("envelope", "%s: source lacks fields %s: %s" % (
            where, [f for f in SOURCE_FIELDS if not isinstance(src, dict) or f not in src],
            short(src)))
        return False
    if src["db"] != workload.DB or src["table"] != table.name:
        rep.fail("envelope", "%s: source db/table %r/%r on topic %s" % (
            where, src["db"], src["table"], rec["topic"]))
    if src["server_id"] not in server_ids:
        rep.fail("envelope", "%s: source.server_id %r, the sandbox servers are %s" %
                 (where, src["server_id"], list(server_ids)))
    if not isinstance(src["file"], str) or not isinstance(src["pos"], int) \
            or not isinstance(src["row"], int):
        rep.fail("envelope", "%s: source file/pos/row %r/%r/%r" % (
            where, src["file"], src["pos"], src["row"]))
        return False
    if gtid_seq(src["gtid"]) is None:
        rep.fail("envelope", "%s: source.gtid %r is not domain-server-seq" % (where, src["gtid"]))
        return False
    if src["snapshot"] not in (False, "false"):
        rep.fail("envelope", "%s: source.snapshot %r in a streamed change" % (
            where, src["snapshot"]))
    if not isinstance(key, dict) or sorted(key.keys()) != sorted(table.pk):
        rep.fail("key", "%s: key %s, primary key is %s" % (where, short(key), table.pk))
        return False
    img = v["after"] if op != "d" else v["before"]
    if {k: img[k] for k in table.pk} != key:
        rep.fail("key", "%s: key %s but the %s image has %s" % (
            where, short(key), "after" if op != "d" else "before",
            short({k: img[k] for k in table.pk})))
    if op == "u" and {k: v["before"][k] for k in table.pk} != key:
        rep.fail("key", "%s: 'u' changes the primary key (must be 'd' + 'c'): before %s after %s"
                 % (where, short({k: v["before"][k] for k in table.pk}), short(key)))
    return True


def check_reader(label, recs, expected, db_state, partitions, server_ids=(1,), coord_order=True):
    rep = Report(label)
    by_topic = {}
    topic_table = {info["topic"]: workload.TABLES_BY_NAME[t]
                   for t, info in expected["tables"].items()}
    for r in recs:
        if r["topic"] not in topic_table:
            rep.fail("topic", "unexpected topic %r (%s)" % (r["topic"], r["where"]))
            continue
        by_topic.setdefault(r["topic"], []).append(r)

    total = 0
    for tname, info in expected["tables"].items():
        table = workload.TABLES_BY_NAME[tname]
        trecs = by_topic.get(info["topic"], [])
        total += len(trecs)
        # Offsets per partition: dense from 0 (the log holds only change records).
        parts = {}
        for r in trecs:
            parts.setdefault(r["partition"], []).append(r)
        for p, prs in sorted(parts.items()):
            if partitions is not None and not (0 <= p < partitions):
                rep.fail("partition", "%s: partition %r outside 0..%d" % (
                    info["topic"], p, partitions - 1))
            prs.sort(key=lambda r: r["offset"])
            offs = [r["offset"] for r in prs]
            if offs != list(range(len(offs))):
                bad = next(i for i, o in enumerate(offs) if o != i)
                rep.fail("offsets", "%s p%d: offsets not 0..%d, first gap/double at index %d: %s"
                         % (info["topic"], p, len(offs) - 1, bad, offs[max(0, bad - 2):bad + 3]))
        if partitions and partitions > 1 and info["records"] >= 100 * partitions:
            empty = [p for p in range(partitions) if p not in parts]
            if empty:
                rep.fail("partition", "%s: %d records but partitions %s are empty" % (
                    info["topic"], len(trecs), empty))

        # Per key: sequence, single partition, growing coordinates, before == previous after.
        got = {}
        usable = [r for r in sorted(trecs, key=lambda r: (r["partition"], r["offset"]))
                  if check_envelope(r, table, rep, server_ids)]
        for r in usable:
            got.setdefault(canon(r["key"]), []).append(r)
        exp_keys = expected["keys"][tname]
        final = {}
        for ck, rs in got.items():
            ps = sorted(set(r["partition"] for r in rs))
            if len(ps) > 1:
                rep.fail("partition", "%s key %s is in partitions %s" % (info["topic"], ck, ps))
            seq = [[r["value"]["op"], (r["value"]["after"] if r["value"]["op"] != "d"
                                       else r["value"]["before"])["version"]] for r in rs]
            want = exp_keys.get(ck)
            if want is None:
                rep.fail("sequence", "%s key %s: not in the workload (rolled back?), got %s "
                         "first at %s" % (info["topic"], ck, seq, describe(rs[0])))
            elif seq != want:
                i = next((i for i in range(min(len(seq), len(want))) if seq[i] != want[i]),
                         min(len(seq), len(want)))
                at = describe(rs[i]) if i < len(rs) else "end of log"
                rep.fail("sequence", "%s key %s: expected %s, got %s; first difference at #%d "
                         "(expected %s, got %s at %s)" % (
                             info["topic"], ck, short(want), short(seq), i,
                             want[i] if i < len(want) else "nothing",
                             seq[i] if i < len(seq) else "nothing", at))
            prev_after, prev_coord, prev_gtid = None, None, None
            for r in rs:
                v = r["value"]
                src = v["source"]
                coord = (src["file"], src["pos"], src["row"])
                g = gtid_seq(src["gtid"])
                if coord_order and prev_coord is not None and not coord > prev_coord:
                    rep.fail("order", "%s key %s: binlog coordinate %s after %s (%s)" % (
                        info["topic"], ck, coord, prev_coord, describe(r)))
                if prev_gtid is not None and g[0] == prev_gtid[0] and g[1] < prev_gtid[1]:
                    rep.fail("order", "%s key %s: gtid %s after %s (%s)" % (
                        info["topic"], ck, src["gtid"], prev_gtid, describe(r)))
                if v["op"] in ("u", "d") and prev_after is not None and v["before"] != prev_after:
                    diff = [c for c in v["before"] if v["before"][c] != prev_after.get(c)]
                    rep.fail("before-image", "%s key %s: before image differs from the previous "
                             "after image in %s (%s): before %s, previous after %s" % (
                                 info["topic"], ck, diff, describe(r),
                                 short({c: v["before"][c] for c in diff}),
                                 short({c: prev_after.get(c) for c in diff})))
                prev_after = v["after"]
                prev_coord, prev_gtid = coord, g
            if rs[-1]["value"]["op"] != "d":
                final[ck] = rs[-1]
        for ck, want in exp_keys.items():
            if ck not in got:
                rep.fail("sequence", "%s key %s: expected %s, got no record" % (
                    info["topic"], ck, short(want)))

        # (d) final state against SELECT.
        if db_state is not None:
            rows = db_state[tname]
            for ck in rows:
                if ck not in final:
                    rep.fail("final-state", "%s key %s is in the table but not live in the log"
                             % (info["topic"], ck))
            for ck, r in final.items():
                row = rows.get(ck)
                if row is None:
                    rep.fail("final-state", "%s key %s is live in the log (%s) but not in the "
                             "table" % (info["topic"], ck, describe(r)))
                    continue
                after = r["value"]["after"]
                for col in table.cols:
                    if not value_equal(col, row[col.name], after.get(col.name)):
                        rep.fail("final-state", "%s key %s column %s (%s): table has %s, log has "
                                 "%s (%s)" % (info["topic"], ck, col.name, col.sqltype,
                                              short(row[col.name]), short(after.get(col.name)),
                                              describe(r)))
    if total != expected["total"]:
        rep.fail("count", "%d records, expected %d" % (total, expected["total"]))
    return rep


def describe(r):
    src = r["value"].get("source", {}) if isinstance(r["value"], dict) else {}
    return "p%s o%s %s:%s row %s gtid %s [%s]" % (
        r["partition"], r["offset"], src.get("file"), src.get("pos"), src.get("row"),
        src.get("gtid"), r["where"])


def record_set(recs):
    return {(r["topic"], r["partition"], r["offset"]): r for r in recs}


def first_diff(a, b, path=""):
    """Path and both values of the first difference between two JSON values, or None."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return "%s.%s" % (path, k), a.get(k, "<absent>"), b.get(k, "<absent>")
            d = first_diff(a[k], b[k], "%s.%s" % (path, k))
            if d:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_diff(x, y, "%s[%d]" % (path, i))
            if d:
                return d
        return None
    return None if canon(a) == canon(b) else (path or ".", a, b)


def compare_readers(a_label, a, b_label, b):
    rep = Report("%s vs %s" % (a_label, b_label))
    sa, sb = record_set(a), record_set(b)
    for k in sorted(set(sa) | set(sb)):
        if k not in sb:
            rep.fail("readers", "%s p%s o%s only in %s" % (k + (a_label,)))
        elif k not in sa:
            rep.fail("readers", "%s p%s o%s only in %s" % (k + (b_label,)))
        else:
            d = first_diff({"key": sa[k]["key"], "value": sa[k]["value"]},
                           {"key": sb[k]["key"], "value": sb[k]["value"]})
            if d:
                rep.fail("readers", "%s p%s o%s differs at %s: %s has %s, %s has %s" % (
                    k + (d[0], a_label, short(d[1]), b_label, short(d[2]))))
    return rep


def check_metadata(meta, expected, partitions):
    """`kcat -L -J`: every table topic of the test, with the partition count, and no others
    under the test's prefix."""
    rep = Report("kcat -L")
    listed = {t["topic"]: t for t in meta.get("topics", [])}
    want = {info["topic"] for info in expected["tables"].values() if info["records"]}
    prefix = "%s.%s." % (expected["topic_prefix"], expected["db"])
    for name in sorted(want):
        t = listed.get(name)
        if t is None:
            rep.fail("metadata", "topic %s missing; listed: %s" % (name, sorted(listed)))
            continue
        if t.get("error"):
            rep.fail("metadata", "topic %s has error %r" % (name, t["error"]))
        n = len(t.get("partitions", []))
        if partitions is not None and n != partitions:
            rep.fail("metadata", "topic %s has %d partitions, expected %d" % (name, n,
                                                                              partitions))
    for name in sorted(listed):
        if name.startswith(prefix) and name not in want:
            rep.fail("metadata", "unexpected topic %s" % name)
    return rep


def check_topics_listing(text, expected, partitions):
    """`rowlog topics`: LOG_START 0 and LOG_END summing to each table's record count."""
    rep = Report("rowlog topics")
    ends, seen_parts = {}, {}
    for line in text.splitlines():
        if not line.strip():
            continue
        f = line.split("\t")
        if len(f) != 4:
            rep.fail("topics", "line %r is not TOPIC<TAB>PARTITION<TAB>LOG_START<TAB>LOG_END"
                     % line)
            continue
        topic, p, start, end = f[0], int(f[1]), int(f[2]), int(f[3])
        if start != 0:
            rep.fail("topics", "%s p%d: LOG_START %d, nothing was deleted" % (topic, p, start))
        ends[topic] = ends.get(topic, 0) + end
        seen_parts.setdefault(topic, []).append(p)
    for info in expected["tables"].values():
        t = info["topic"]
        if ends.get(t, 0) != info["records"]:
            rep.fail("topics", "%s: LOG_END sum %d, expected %d" % (t, ends.get(t, 0),
                                                                    info["records"]))
        if partitions is not None and sorted(seen_parts.get(t, [])) != list(range(partitions)):
            rep.fail("topics", "%s: partitions %s, expected 0..%d" % (
                t, sorted(seen_parts.get(t, [])), partitions - 1))
    return rep


def decode_binlog_value(raw, unsigned):
    """A value as `mariadb-binlog -vv` prints it (bytes of the line) -> int, str or None.
    Strings: bytes <= 0x1F are written as \\xNN, everything else raw (log_event_client.cc,
    my_b_write_quoted)."""
    if raw == b"NULL":
        return None
    if raw.startswith(b"'") and raw.endswith(b"'"):
        body, out, i = raw[1:-1], bytearray(), 0
        while i < len(body):
            if body[i:i + 2] == b"\\x" and re.fullmatch(rb"[0-9a-f]{2}", body[i + 2:i + 4]):
                out.append(int(body[i + 2:i + 4], 16))
                i += 4
            else:
                out.append(body[i])
                i += 1
        return out.decode("utf-8")
    # Integers whose top bit is set print as "signed (unsigned)": "-1 (18446744073709551615)".
    m = re.fullmatch(rb"(-?\d+) \((\d+)\)", raw)
    if m:
        return int(m.group(2) if unsigned else m.group(1))
    return int(raw)


def binlog_sequences(data_dir):
    """Per table and key, the (op, version) sequence found in the sandbox's binlog files, read
    with mariadb-binlog: an oracle for the workload model that does not involve rowlog."""
    with open(os.path.join(data_dir, "binlog.index"), encoding="utf-8") as f:
        files = [os.path.join(data_dir, os.path.basename(x.strip())) for x in f if x.strip()]
    out = subprocess.run(["mariadb-binlog", "--no-defaults", "--base64-output=decode-rows", "-vv"]
                         + files, check=True, stdout=subprocess.PIPE).stdout
    seqs = {t.name: {} for t in workload.TABLES}
    # Column positions (1-based @N) of the key columns and of `version`.
    pos = {t.name: ({k: [c.name for c in t.cols].index(k) + 1 for k in t.pk},
                    [c.name for c in t.cols].index("version") + 1) for t in workload.TABLES}
    head = re.compile(rb"^### (INSERT INTO|UPDATE|DELETE FROM) `([^`]*)`\.`([^`]*)`$")
    cur, img = None, None

    def finish():
        if cur is None or cur["db"] != workload.DB or cur["table"] not in seqs:
            return
        keypos, vpos = pos[cur["table"]]
        s = seqs[cur["table"]]

        def key_of(im):
            return canon({k: im[p] for k, p in keypos.items()})
        if cur["op"] == "INSERT INTO":
            s.setdefault(key_of(cur["SET"]), []).append(["c", cur["SET"][vpos]])
        elif cur["op"] == "DELETE FROM":
            s.setdefault(key_of(cur["WHERE"]), []).append(["d", cur["WHERE"][vpos]])
        else:
            kb, ka = key_of(cur["WHERE"]), key_of(cur["SET"])
            if kb == ka:
                s.setdefault(ka, []).append(["u", cur["SET"][vpos]])
            else:
                s.setdefault(kb, []).append(["d", cur["WHERE"][vpos]])
                s.setdefault(ka, []).append(["c", cur["SET"][vpos]])

    for line in out.split(b"\n"):
        if not line.startswith(b"###"):
            continue
        m = head.match(line)
        if m:
            finish()
            cur = {"op": m.group(1).decode(), "db": m.group(2).decode(),
                   "table": m.group(3).decode(), "WHERE": {}, "SET": {}}
            continue
        if line in (b"### WHERE", b"### SET"):
            img = line[4:].decode()
            continue
        m = re.match(rb"^###   @(\d+)=(.*)$", line)
        if m and cur is not None:
            n = int(m.group(1))
            if cur["table"] in pos and (n in pos[cur["table"]][0].values() or
                                        n == pos[cur["table"]][1]):
                raw = m.group(2)
                raw = raw[:raw.rfind(b" /* ")]
                col = workload.TABLES_BY_NAME[cur["table"]].cols[n - 1]
                cur[img][n] = decode_binlog_value(raw, "UNSIGNED" in col.sqltype)
    finish()
    return seqs


def check_binlog_oracle(expected, data_dir):
    rep = Report("workload vs binlog")
    seqs = binlog_sequences(data_dir)
    for t, want_keys in expected["keys"].items():
        got = seqs[t]
        for ck in sorted(set(want_keys) | set(got)):
            if want_keys.get(ck) != got.get(ck):
                rep.fail("oracle", "%s key %s: workload expects %s, binlog has %s" % (
                    t, ck, short(want_keys.get(ck)), short(got.get(ck))))
    return rep


def check_domains(label, recs, domains):
    """Every record's GTID domain is one of `domains`, and each of them occurs."""
    rep = Report("%s gtid domains" % label)
    counts = {}
    for r in recs:
        src = r["value"].get("source") if isinstance(r["value"], dict) else None
        g = gtid_seq(src.get("gtid")) if isinstance(src, dict) else None
        if g is None:
            continue  # reported by check_envelope
        counts[g[0]] = counts.get(g[0], 0) + 1
        if g[0] not in domains:
            rep.fail("domains", "%s: GTID %s is in domain %d, the workload used %s" % (
                describe(r), src["gtid"], g[0], domains))
    for d in domains:
        if d not in counts:
            rep.fail("domains", "no record from GTID domain %d (records per domain: %s)" % (
                d, counts))
    print("checker: %s: records per GTID domain %s" % (label, dict(sorted(counts.items()))))
    return rep


def raw_kcat_records(path, rep):
    """{(topic, partition, offset): (key text, payload text)} of `kcat -J` files, unparsed
    (kcat prints the record's bytes as JSON strings), plus the number of lines read."""
    out, lines = {}, 0
    for fn in sorted(glob.glob(os.path.join(path, "*.jsonl"))):
        with open(fn, encoding="utf-8", newline="\n") as f:
            for lineno, line in enumerate(f, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    m = json.loads(line)
                    k = (m["topic"], m["partition"], m["offset"])
                    v = (m.get("key"), m.get("payload"))
                except (ValueError, KeyError, TypeError) as e:
                    # A consumer killed mid-line leaves a truncated last line: only that one
                    # is forgiven.
                    if not line.endswith("}"):
                        continue
                    rep.fail("not-json", "%s:%d: %s: %s" % (os.path.basename(fn), lineno, e,
                                                           short(line)))
                    continue
                lines += 1
                prev = out.get(k)
                if prev is not None and prev != v:
                    rep.fail("changed", "%s p%s o%s served twice with different contents "
                             "(%s:%d): first %s, then %s" % (k + (os.path.basename(fn), lineno,
                                                                 short(prev), short(v))))
                out[k] = v
    return out, lines


def check_seen(final_dir, seen_dir):
    """Everything a consumer ever saw is still in the final log, unchanged."""
    rep = Report("seen while crashing vs final log")
    final, _ = raw_kcat_records(final_dir, rep)
    seen, lines = raw_kcat_records(seen_dir, rep)
    for k in sorted(seen):
        f = final.get(k)
        if f is None:
            rep.fail("vanished", "%s p%s o%s was served (key %s) but is not in the final log" % (
                k + (short(seen[k][0]),)))
        elif f != seen[k]:
            rep.fail("changed", "%s p%s o%s was served as %s, the final log has %s" % (
                k + (short(seen[k]), short(f))))
    print("checker: consumers saw %d records (%d distinct offsets) while rowlogd was crashed "
          "and restarted; the final log has %d" % (lines, len(seen), len(final)))
    if not seen:
        rep.fail("vanished", "the consumers saw no record at all")
    return rep


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--expected", required=True)
    ap.add_argument("--kcat-dir")
    ap.add_argument("--tail")
    ap.add_argument("--metadata")
    ap.add_argument("--topics")
    ap.add_argument("--partitions", type=int)
    ap.add_argument("--db-host")
    ap.add_argument("--db-port", type=int)
    ap.add_argument("--db-user", default="app")
    ap.add_argument("--db-password", default="apppw")
    ap.add_argument("--server-ids", default="1")
    ap.add_argument("--no-coord-order", action="store_true")
    ap.add_argument("--gtid-domains")
    ap.add_argument("--seen-dir")
    ap.add_argument("--binlog-dir", help="sandbox data dir: also check the workload's "
                    "expectations against its binlog files (mariadb-binlog as oracle)")
    a = ap.parse_args(argv)
    server_ids = tuple(int(x) for x in a.server_ids.split(","))
    if a.seen_dir and not a.kcat_dir:
        ap.error("--seen-dir needs --kcat-dir (the final log to compare with)")

    with open(a.expected, encoding="utf-8") as f:
        expected = json.load(f)
    db_state = None
    reports = []
    if a.db_host:
        db_state = fetch_db_state(a.db_host, a.db_port, a.db_user, a.db_password)
        # The workload's own model must agree with the server, or the test itself is wrong.
        rep = Report("workload model")
        for t, live in expected["live"].items():
            if sorted(live) != sorted(db_state[t]):
                rep.fail("model", "%s: model has %d live keys, the table %d (first missing %s)" %
                         (t, len(live), len(db_state[t]),
                          next((k for k in live if k not in db_state[t]), None)))
        reports.append(rep)
    if a.binlog_dir:
        reports.append(check_binlog_oracle(expected, a.binlog_dir))
    readers = []
    if a.kcat_dir:
        rep = Report("kcat output")
        recs = load_kcat_dir(a.kcat_dir, rep)
        readers.append(("kcat", recs))
        reports.append(rep)
    if a.tail:
        rep = Report("rowlog tail output")
        recs = load_tail(a.tail, rep)
        readers.append(("rowlog tail", recs))
        reports.append(rep)
    for label, recs in readers:
        reports.append(check_reader(label, recs, expected, db_state, a.partitions, server_ids,
                                    not a.no_coord_order))
        if a.gtid_domains:
            reports.append(check_domains(label, recs,
                                         [int(x) for x in a.gtid_domains.split(",")]))
        print("checker: %s: %d records" % (label, len(recs)))
    if len(readers) == 2:
        reports.append(compare_readers(readers[0][0], readers[0][1], readers[1][0],
                                       readers[1][1]))
    if a.seen_dir:
        reports.append(check_seen(a.kcat_dir, a.seen_dir))
    if a.metadata:
        with open(a.metadata, encoding="utf-8") as f:
            reports.append(check_metadata(json.load(f), expected, a.partitions))
    if a.topics:
        with open(a.topics, encoding="utf-8") as f:
            reports.append(check_topics_listing(f.read(), expected, a.partitions))

    ok = True
    for rep in reports:
        for e in rep.errors:
            print(e)
        print(rep.summary())
        ok = ok and rep.ok()
    print("checker: %s (seed %s, %d expected records)" % (
        "PASS" if ok else "FAIL", expected["seed"], expected["total"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
