#!/usr/bin/env python3
"""checker_selftest.py - the end-to-end checker against hand-written records.

A checker that cannot fail proves nothing: each case below breaks one property of a correct
hand-written log (a lost record, a doubled one, two records of a key swapped, a rolled-back row
present, a key in two partitions, a wrong value, a stale before image, readers that disagree)
and asserts the checker reports exactly that kind of failure. It also pins the SELECT -> JSON
value mapping of the change-event format for each column kind. Needs no server.
"""
import base64
import copy
import json
import os
import struct
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checker  # noqa: E402
import workload  # noqa: E402

TOPIC = "rowlog.itest.orders"


def row(oid, version, amount="10.00", note=None):
    return {"id": oid, "version": version, "customer_id": 7, "status": "new",
            "amount": amount, "note": note, "created": "2024-01-02T03:04:05.678"}


def rec(partition, offset, op, before, after, pos, gtid, row_no=0):
    img = after if op != "d" else before
    return {"topic": TOPIC, "partition": partition, "offset": offset, "key": {"id": img["id"]},
            "value": {"before": before, "after": after, "op": op, "ts_ms": 1700000000000,
                      "source": {"name": "rowlog", "server_id": 1, "file": "binlog.000002",
                                 "pos": pos, "row": row_no, "gtid": gtid, "db": "itest",
                                 "table": "orders", "ts_ms": 1700000000000,
                                 "snapshot": False}},
            "where": "hand-written"}


def good_log():
    """Key 1: c, u, u. Key 2: c, d. Key 3: c, then its id changes to 4 ('d' 3, 'c' 4).
    Keys 1 and 4 in partition 0, keys 2 and 3 in partition 1."""
    r1a, r1b, r1c = row(1, 1), row(1, 2, "11.50"), row(1, 3, "12.00", "x\ny")
    r2 = row(2, 1)
    r3, r4 = row(3, 1), row(4, 2)
    p0 = [rec(0, 0, "c", None, r1a, 100, "0-1-5"),
          rec(0, 1, "u", r1a, r1b, 300, "0-1-6"),
          rec(0, 2, "c", None, r4, 500, "0-1-8"),
          rec(0, 3, "u", r1b, r1c, 700, "0-1-9")]
    p1 = [rec(1, 0, "c", None, r2, 100, "0-1-5", 1),
          rec(1, 1, "c", None, r3, 100, "0-1-5", 2),
          rec(1, 2, "d", r2, None, 400, "0-1-7"),
          rec(1, 3, "d", r3, None, 500, "0-1-8")]
    expected = {"seed": 0, "db": "itest", "topic_prefix": "rowlog", "total": 8,
                "tables": {"orders": {"topic": TOPIC, "pk": ["id"], "records": 8, "live": 2}},
                "keys": {"orders": {
                    checker.canon({"id": 1}): [["c", 1], ["u", 2], ["u", 3]],
                    checker.canon({"id": 2}): [["c", 1], ["d", 1]],
                    checker.canon({"id": 3}): [["c", 1], ["d", 1]],
                    checker.canon({"id": 4}): [["c", 2]]}},
                "live": {"orders": [checker.canon({"id": 1}), checker.canon({"id": 4})]}}
    db = {"orders": {checker.canon({"id": 1}): dict(r1c), checker.canon({"id": 4}): dict(r4)}}
    return p0 + p1, expected, db


def kinds(rep):
    return set(rep.counts)


class CheckerCases(unittest.TestCase):
    def run_check(self, recs, expected, db):
        return checker.check_reader("test", recs, expected, db, 2)

    def test_good_log_passes(self):
        recs, exp, db = good_log()
        rep = self.run_check(recs, exp, db)
        self.assertTrue(rep.ok(), rep.errors)

    def test_lost_record(self):
        recs, exp, db = good_log()
        del recs[1]  # key 1's first update
        rep = self.run_check(recs, exp, db)
        self.assertIn("sequence", kinds(rep))
        self.assertIn("count", kinds(rep))
        self.assertIn("offsets", kinds(rep))

    def test_doubled_record(self):
        recs, exp, db = good_log()
        dup = copy.deepcopy(recs[3])
        dup["offset"] = 4
        recs.append(dup)
        rep = self.run_check(recs, exp, db)
        self.assertIn("sequence", kinds(rep))
        self.assertIn("count", kinds(rep))

    def test_swapped_order(self):
        recs, exp, db = good_log()
        # Key 1's two updates exchange offsets: same records, wrong order.
        recs[1]["offset"], recs[3]["offset"] = 3, 1
        rep = self.run_check(recs, exp, db)
        self.assertIn("sequence", kinds(rep))
        self.assertIn("order", kinds(rep))

    def test_rolled_back_row_present(self):
        recs, exp, db = good_log()
        recs.append(rec(1, 4, "c", None, row(99, 1), 800, "0-1-10"))
        rep = self.run_check(recs, exp, db)
        self.assertIn("sequence", kinds(rep))
        self.assertIn("final-state", kinds(rep))

    def test_key_in_two_partitions(self):
        recs, exp, db = good_log()
        moved = recs.pop(3)           # key 1's last update goes to partition 1
        moved["partition"], moved["offset"] = 1, 4
        recs.append(moved)
        rep = self.run_check(recs, exp, db)
        self.assertIn("partition", kinds(rep))

    def test_wrong_value(self):
        recs, exp, db = good_log()
        db["orders"][checker.canon({"id": 1})]["amount"] = "12.01"
        rep = self.run_check(recs, exp, db)
        self.assertEqual({"final-state"}, kinds(rep))

    def test_stale_before_image(self):
        recs, exp, db = good_log()
        recs[3]["value"]["before"] = row(1, 2, "11.49")
        rep = self.run_check(recs, exp, db)
        self.assertEqual({"before-image"}, kinds(rep))

    def test_bad_envelope(self):
        for mutate, kind in [
                (lambda v: v.pop("source"), "envelope"),
                (lambda v: v.update(op="x"), "envelope"),
                (lambda v: v.update(before={"id": 1}), "envelope"),
                (lambda v: v["source"].update(gtid="nonsense"), "envelope"),
                (lambda v: v["source"].update(table="other"), "envelope"),
                (lambda v: v["after"].pop("note"), "envelope")]:
            recs, exp, db = good_log()
            mutate(recs[0]["value"])
            rep = self.run_check(recs, exp, db)
            self.assertIn(kind, kinds(rep))

    def test_key_disagrees_with_image(self):
        recs, exp, db = good_log()
        recs[0]["key"] = {"id": 5}
        rep = self.run_check(recs, exp, db)
        self.assertIn("key", kinds(rep))

    def test_readers_differ(self):
        a, _, _ = good_log()
        b = copy.deepcopy(a)
        self.assertTrue(checker.compare_readers("a", a, "b", b).ok())
        b[2]["value"]["after"]["note"] = "changed"
        self.assertFalse(checker.compare_readers("a", a, "b", b).ok())
        self.assertFalse(checker.compare_readers("a", a, "b", b[:-1]).ok())

    def test_loaders(self):
        """kcat -J embeds key and payload as JSON strings; rowlog tail embeds JSON values."""
        recs, exp, db = good_log()
        with tempfile.TemporaryDirectory() as d:
            os.mkdir(os.path.join(d, "kcat"))
            with open(os.path.join(d, "kcat", "orders.0.jsonl"), "w", encoding="utf-8") as f:
                for r in recs:
                    f.write(json.dumps({"topic": r["topic"], "partition": r["partition"],
                                        "offset": r["offset"], "tstype": "create", "ts": 1,
                                        "broker": 0, "key": json.dumps(r["key"]),
                                        "payload": json.dumps(r["value"])}) + "\n")
            with open(os.path.join(d, "tail.jsonl"), "w", encoding="utf-8") as f:
                for r in recs:
                    f.write(json.dumps({"topic": r["topic"], "partition": r["partition"],
                                        "offset": r["offset"], "key": r["key"],
                                        "value": r["value"]}) + "\n")
                f.write("{not json\n")
            rk = checker.Report("k")
            a = checker.load_kcat_dir(os.path.join(d, "kcat"), rk)
            rt = checker.Report("t")
            b = checker.load_tail(os.path.join(d, "tail.jsonl"), rt)
        self.assertTrue(rk.ok())
        self.assertEqual({"not-json"}, kinds(rt))
        self.assertTrue(checker.compare_readers("kcat", a, "tail", b).ok())
        self.assertTrue(self.run_check(a, exp, db).ok())

    def test_metadata_and_topics(self):
        _, exp, _ = good_log()
        meta = {"topics": [{"topic": TOPIC, "partitions": [{"partition": 0}, {"partition": 1}]}]}
        self.assertTrue(checker.check_metadata(meta, exp, 2).ok())
        self.assertFalse(checker.check_metadata(meta, exp, 3).ok())
        meta["topics"].append({"topic": "rowlog.itest.ghost", "partitions": []})
        self.assertFalse(checker.check_metadata(meta, exp, 2).ok())
        good = "%s\t0\t0\t4\n%s\t1\t0\t4\n" % (TOPIC, TOPIC)
        self.assertTrue(checker.check_topics_listing(good, exp, 2).ok())
        self.assertFalse(checker.check_topics_listing(good.replace("\t4\n", "\t5\n", 1),
                                                      exp, 2).ok())
        self.assertFalse(checker.check_topics_listing(good.replace("\t0\t4", "\t1\t4", 1),
                                                      exp, 2).ok())


def write_kcat(path, recs, name="orders.0.jsonl", tail=""):
    """recs as `kcat -J` lines (key and payload as JSON text in JSON strings)."""
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, name), "w", encoding="utf-8") as f:
        for r in recs:
            f.write(json.dumps({"topic": r["topic"], "partition": r["partition"],
                                "offset": r["offset"], "tstype": "create", "ts": 1,
                                "broker": 0, "key": json.dumps(r["key"]),
                                "payload": json.dumps(r["value"])}) + "\n")
        f.write(tail)


class CrashAndFailoverChecks(unittest.TestCase):
    """The options the crash and failover tests use: records seen during crashes, GTID
    domains, several source servers, GTID-only order."""

    def seen_check(self, final, seen, seen_tail=""):
        with tempfile.TemporaryDirectory() as d:
            write_kcat(os.path.join(d, "final"), final)
            write_kcat(os.path.join(d, "seen"), seen, tail=seen_tail)
            return checker.check_seen(os.path.join(d, "final"), os.path.join(d, "seen"))

    def test_seen_prefix_passes(self):
        recs, _, _ = good_log()
        # A consumer saw part of the log, some of it twice (restarted), and was killed mid-line.
        rep = self.seen_check(recs, recs[:3] + recs[1:3], seen_tail='{"topic": "rowlog.it')
        self.assertTrue(rep.ok(), rep.errors)

    def test_seen_record_vanished(self):
        recs, _, _ = good_log()
        ghost = copy.deepcopy(recs[3])
        ghost["offset"] = 4  # served once, gone from the final log (cut back after a crash)
        rep = self.seen_check(recs, recs + [ghost])
        self.assertEqual({"vanished"}, kinds(rep))

    def test_seen_record_changed(self):
        recs, _, _ = good_log()
        other = copy.deepcopy(recs[2])
        other["value"]["after"]["note"] = "before the crash"  # offset reused by another record
        rep = self.seen_check(recs, [other])
        self.assertEqual({"changed"}, kinds(rep))

    def test_seen_twice_differently(self):
        recs, _, _ = good_log()
        other = copy.deepcopy(recs[2])
        other["value"]["ts_ms"] += 1
        rep = self.seen_check(recs, [other, recs[2]])
        self.assertIn("changed", kinds(rep))

    def test_nothing_seen_fails(self):
        recs, _, _ = good_log()
        self.assertFalse(self.seen_check(recs, []).ok())

    def test_domains(self):
        recs, _, _ = good_log()
        self.assertTrue(checker.check_domains("t", recs, [0]).ok())
        self.assertEqual({"domains"}, kinds(checker.check_domains("t", recs, [0, 1])))
        recs[5]["value"]["source"]["gtid"] = "1-1-5"
        self.assertTrue(checker.check_domains("t", recs, [0, 1]).ok())
        self.assertEqual({"domains"}, kinds(checker.check_domains("t", recs, [0])))

    def test_server_ids(self):
        recs, exp, db = good_log()
        recs[3]["value"]["source"]["server_id"] = 2
        self.assertEqual({"envelope"}, kinds(checker.check_reader("t", recs, exp, db, 2)))
        self.assertTrue(checker.check_reader("t", recs, exp, db, 2, server_ids=(1, 2)).ok())

    def test_gtid_order_without_coordinates(self):
        recs, exp, db = good_log()
        # After a failover key 1's last update comes from the new primary's first file.
        src = recs[3]["value"]["source"]
        src["file"], src["pos"], src["server_id"] = "binlog.000001", 50, 2
        self.assertEqual({"order"}, kinds(checker.check_reader("t", recs, exp, db, 2,
                                                               server_ids=(1, 2))))
        self.assertTrue(checker.check_reader("t", recs, exp, db, 2, server_ids=(1, 2),
                                             coord_order=False).ok())
        # GTID order still holds the line: an update with an older GTID fails.
        src["gtid"] = "0-2-4"
        self.assertEqual({"order"}, kinds(checker.check_reader("t", recs, exp, db, 2,
                                                               server_ids=(1, 2),
                                                               coord_order=False)))


class ValueMapping(unittest.TestCase):
    """SELECT output (through checker.select_expr) -> the JSON value of the change event."""

    def col(self, name):
        return workload.ALLTYPES.col(name)

    def test_mapping(self):
        cases = [
            ("c_bigint_u", "18446744073709551615", 18446744073709551615),
            ("c_dec30", "-0.0100000000", "-0.0100000000"),
            ("c_date", "1000-01-01", "1000-01-01"),
            ("c_datetime6", "9999-12-31 23:59:59.999999", "9999-12-31T23:59:59.999999"),
            ("c_datetime", "2024-02-29 00:00:00", "2024-02-29T00:00:00"),
            ("c_ts6", "1970-01-01 00:00:01.000000", "1970-01-01T00:00:01.000000Z"),
            ("c_time6", "-00:00:00.500000", "-00:00:00.500000"),
            ("c_year", "0000", 0),
            ("c_varchar", "F09F98800A27", "\U0001F600\n'"),
            ("c_binary", "0100000000000000", base64.b64encode(b"\x01" + b"\0" * 7).decode()),
            ("c_set", "red,blue", ["red", "blue"]),
            ("c_set", "", []),
            ("c_bit1", "1", "AQ=="),
            ("c_bit17", "131071", base64.b64encode(b"\x01\xff\xff").decode()),
            ("c_bit64", "1", base64.b64encode(b"\0" * 7 + b"\x01").decode()),
            ("c_geom", "E6100000010100000000000000000000F03F0000000000000040",
             "5hAAAAEBAAAAAAAAAAAAAPA/AAAAAAAAAEA="),
            ("c_json", "7B2261223A317D", {"a": 1}), ("c_json", "6E756C6C", "null"),
            ("c_json", "7B2261", '{"a'),
            ("c_int", "NULL", None),
        ]
        for name, cell, want in cases:
            self.assertEqual(want, checker.value_from_db(self.col(name), cell), name)

    def test_float_compared_as_float32(self):
        c = self.col("c_float")
        want = checker.value_from_db(c, "0.10000000149011612")
        self.assertTrue(checker.value_equal(c, want, 0.1))       # shortest float32 text
        self.assertTrue(checker.value_equal(c, want, 0.10000000149011612))
        next_up = struct.unpack("<f", struct.pack("<I", struct.unpack("<I", struct.pack(
            "<f", 0.1))[0] + 1))[0]
        self.assertFalse(checker.value_equal(c, want, next_up))
        self.assertFalse(checker.value_equal(c, want, "0.1"))     # a string is not a number

    def test_double_and_int_exact(self):
        d = self.col("c_double")
        self.assertTrue(checker.value_equal(d, 5e-324, 5e-324))
        self.assertFalse(checker.value_equal(d, 0.30000000000000004, 0.3))
        i = self.col("c_bigint_u")
        self.assertFalse(checker.value_equal(i, 18446744073709551615, 1.8446744073709552e19))
        self.assertFalse(checker.value_equal(i, 1, True))

    def test_binlog_value_decoding(self):
        self.assertEqual(-1, checker.decode_binlog_value(b"-1 (4294967295)", False))
        self.assertEqual(4294967295, checker.decode_binlog_value(b"-1 (4294967295)", True))
        self.assertEqual("a'\\\x01\u4e2d", checker.decode_binlog_value(
            b"'a'\\\\x01\xe4\xb8\xad'", False))
        self.assertIsNone(checker.decode_binlog_value(b"NULL", False))


class WorkloadDeterminism(unittest.TestCase):
    def test_same_seed_same_files(self):
        with tempfile.TemporaryDirectory() as d:
            a = workload.generate(7, os.path.join(d, "a"), 2, 300)
            b = workload.generate(7, os.path.join(d, "b"), 2, 300)
            c = workload.generate(8, os.path.join(d, "c"), 2, 300)
            for fn in ("schema.sql", "batch_000.sql", "batch_001.sql", "expected.json"):
                with open(os.path.join(d, "a", fn), "rb") as fa, \
                        open(os.path.join(d, "b", fn), "rb") as fb:
                    self.assertEqual(fa.read(), fb.read(), fn)
        self.assertEqual(a["total"], b["total"])
        self.assertNotEqual(a["keys"], c["keys"])
        self.assertGreaterEqual(a["total"], 600)

    def test_txns_same_seed_same_files(self):
        with tempfile.TemporaryDirectory() as d:
            a = workload.generate_txns(7, os.path.join(d, "a"), 2, 400, [0, 1, 2])
            b = workload.generate_txns(7, os.path.join(d, "b"), 2, 400, [0, 1, 2])
            for fn in ("schema.sql", "batch_000.sql", "batch_001.sql", "expected.json"):
                with open(os.path.join(d, "a", fn), "rb") as fa, \
                        open(os.path.join(d, "b", fn), "rb") as fb:
                    self.assertEqual(fa.read(), fb.read(), fn)
            with open(os.path.join(d, "a", "batch_001.sql"), encoding="utf-8") as f:
                text = f.read()
        # Batch 0 adds its three setup inserts to the 2 * 400 counted transactions.
        self.assertEqual(803, a["transactions"])
        self.assertGreaterEqual(a["total"], a["transactions"])
        self.assertEqual([0, 1, 2], a["domains"])
        for d in (0, 1, 2):
            self.assertIn("SET SESSION gtid_domain_id = %d;" % d, text)
        # Mostly autocommit statements: far fewer explicit transactions than counted ones.
        self.assertLess(text.count("START TRANSACTION"), 100)


if __name__ == "__main__":
    unittest.main(verbosity=1)
