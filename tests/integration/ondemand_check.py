#!/usr/bin/env python3
"""ondemand_check.py - checks a topic holding an on-demand snapshot merged into the stream.

usage: ondemand_check.py TAIL_JSONL SELECT_TSV [--rows-r N] [--min-r N]

TAIL_JSONL: `rowlog tail --format json` lines of one single-partition topic whose stream
started before the table had any row (so the stream alone carries the table's whole history).
SELECT_TSV: `SELECT id, v, s ... ORDER BY id` output, taken once the workload stopped and
rowlogd caught up.

Checked, in offset order:
  * the stream records (c, u, d) apply strictly: every insert is for a key without a row, every
    update and delete has the current row as its before image (no change missing or doubled);
  * every 'r' record has source.snapshot "incremental" and equals the row the stream has
    produced so far for its key (DBLog's invariant: a snapshot row never goes back in time);
    an 'r' for a key the stream has deleted (or never inserted) is an error too;
  * the stream alone, and all records reduced per key, both equal the table.
--rows-r N: exactly N 'r' records; --min-r N: at least N.
Exit 0 when everything holds, 1 with the first problems printed.
"""
import json
import sys


def main():
    args = sys.argv[1:]
    tail, tsv = args[0], args[1]
    want_r = int(args[args.index("--rows-r") + 1]) if "--rows-r" in args else None
    min_r = int(args[args.index("--min-r") + 1]) if "--min-r" in args else None
    table = {}
    with open(tsv) as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                i, v, s = line.split("\t")
                table[int(i)] = {"id": int(i), "v": int(v), "s": s}
    recs = []
    with open(tail) as f:
        for line in f:
            r = json.loads(line)
            if r["value"] is not None:
                recs.append(r)
    recs.sort(key=lambda r: r["offset"])
    stream, reduced, errors, counts = {}, {}, [], {}
    for r in recs:
        v = r["value"]
        op = v["op"]
        counts[op] = counts.get(op, 0) + 1
        k = r["key"]["id"]
        if op == "r":
            if v["source"].get("snapshot") != "incremental":
                errors.append("offset %d: r with source.snapshot %r" %
                              (r["offset"], v["source"].get("snapshot")))
            if stream.get(k) != v["after"]:
                errors.append("offset %d: r of id %d is %s, the stream is at %s" %
                              (r["offset"], k, v["after"], stream.get(k)))
            reduced[k] = v["after"]
            continue
        if op == "c":
            if k in stream:
                errors.append("offset %d: c of id %d which has a row %s" %
                              (r["offset"], k, stream[k]))
            stream[k] = v["after"]
            reduced[k] = v["after"]
        elif op in ("u", "d"):
            if stream.get(k) != v["before"]:
                errors.append("offset %d: %s of id %d: before %s, stream %s" %
                              (r["offset"], op, k, v["before"], stream.get(k)))
            if op == "u":
                stream[k] = v["after"]
                reduced[k] = v["after"]
            else:
                stream.pop(k, None)
                reduced.pop(k, None)
    for name, got in (("the stream", stream), ("the reduced topic", reduced)):
        bad = [k for k in sorted(set(got) | set(table)) if got.get(k) != table.get(k)]
        for k in bad[:5]:
            errors.append("id %d: %s gives %s, the table has %s" % (k, name, got.get(k),
                                                                    table.get(k)))
        if bad:
            errors.append("%s differs from the table in %d keys" % (name, len(bad)))
    nr = counts.get("r", 0)
    if want_r is not None and nr != want_r:
        errors.append("%d r records, want %d" % (nr, want_r))
    if min_r is not None and nr < min_r:
        errors.append("%d r records, want at least %d" % (nr, min_r))
    print("records by op %s; %d rows in the table" % (json.dumps(counts, sort_keys=True),
                                                       len(table)))
    if errors:
        print("%d problems, first ones:" % len(errors))
        for e in errors[:15]:
            print("  " + e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
