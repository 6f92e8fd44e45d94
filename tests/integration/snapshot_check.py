#!/usr/bin/env python3
"""snapshot_check.py - checks a topic read by `rowlog tail --format json` against a table.

usage: snapshot_check.py TAIL_JSONL SELECT_TSV [--strict] [--from-offset N] [--rows-r N]

TAIL_JSONL: one {"topic","partition","offset","key","value"} per line, a single partition.
SELECT_TSV: `mariadb -N -B -e "SELECT id, v, s FROM t ORDER BY id"` output.

Records are applied in offset order (from --from-offset on; out of order is an error) to a
map key -> after image (id, v, s; the after image must be of the record's key):
'r' and 'c' set, 'u' replaces, 'd' removes. The result must equal the table exactly (per key
reduction, docs/snapshots.md). With --strict every change must apply to the state it was
made on: an 'r' or 'c' for a key that has a row, or a 'u' / 'd' whose before image is not the
current row, means a change was missed or doubled between snapshot and stream.
--rows-r N: the number of 'r' records must be exactly N.
Exit 0 when everything holds, 1 with the first differences printed otherwise.
"""
import json
import sys


def row_of(d):
    """An `after` / `before` object of the table (id, v, s) as a tuple; None stays None."""
    if d is None:
        return None
    if len(d) != 3:
        return ("unexpected columns", tuple(sorted(d)))
    return (d["id"], d["v"], d["s"])


def main():
    args = sys.argv[1:]
    strict = "--strict" in args
    from_off = 0
    want_r = None
    if "--from-offset" in args:
        from_off = int(args[args.index("--from-offset") + 1])
    if "--rows-r" in args:
        want_r = int(args[args.index("--rows-r") + 1])
    tail, tsv = args[0], args[1]
    table = {}
    with open(tsv) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            i, v, s = line.split("\t")
            table[int(i)] = (int(i), int(v), s)
    # One pass in offset order (one partition: rowlog tail prints it in order; checked),
    # keeping a tuple per key: a million records stay within seconds and a few hundred MiB.
    state, errors, counts = {}, [], {}
    loads = json.loads
    last_off = -1
    with open(tail, "rb") as f:
        for line in f:
            r = loads(line)
            off = r["offset"]
            if off <= last_off:
                errors.append("offset %d after offset %d: not in offset order" % (off, last_off))
            last_off = off
            v = r["value"]
            if off < from_off or v is None:
                continue
            op = v["op"]
            counts[op] = counts.get(op, 0) + 1
            k = r["key"]["id"]
            if op in ("r", "c"):
                after = row_of(v["after"])
                if strict and k in state:
                    errors.append("offset %d: %s for id %d which has a row %s" %
                                  (off, op, k, state[k]))
                if after is None or after[0] != k:
                    errors.append("offset %d: key id %d, after %s" % (off, k, after))
                state[k] = after
                if op == "r" and v["source"].get("snapshot") in (False, None):
                    errors.append("offset %d: op r without source.snapshot" % off)
            elif op in ("u", "d"):
                if strict and state.get(k) != row_of(v["before"]):
                    errors.append("offset %d: %s of id %d: before %s, state %s" %
                                  (off, op, k, v["before"], state.get(k)))
                if op == "u":
                    state[k] = row_of(v["after"])
                else:
                    state.pop(k, None)
            else:
                errors.append("offset %d: unknown op %r" % (off, op))
    if len(state) != len(table) or state != table:
        for k in sorted(set(state) | set(table)):
            if state.get(k) != table.get(k):
                errors.append("id %d: log reduces to %s, table has %s" % (k, state.get(k),
                                                                          table.get(k)))
    if want_r is not None and counts.get("r", 0) != want_r:
        errors.append("%d snapshot records, want %d" % (counts.get("r", 0), want_r))
    print("records by op %s; %d keys in the log, %d rows in the table" %
          (json.dumps(counts, sort_keys=True), len(state), len(table)))
    if errors:
        print("%d problems, first ones:" % len(errors))
        for e in errors[:15]:
            print("  " + e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
