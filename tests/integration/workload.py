#!/usr/bin/env python3
"""workload.py - the deterministic workload of rowlog's end-to-end test, and its schema.

    workload.py gen --seed N --out DIR [--batches 12] [--changes-per-batch 1100]
                    [--slow-batch K [--pause SECONDS]]

writes
    DIR/schema.sql        CREATE DATABASE itest and the tables that exist before rowlogd starts
    DIR/batch_NNN.sql     the workload, one file per batch, each run by one `mariadb` client as
                          `app` (session time_zone '+00:00'); batch 000 creates one more table so
                          DDL while streaming is part of the test
    DIR/expected.json     what rowlog must produce: for every table and every primary key (as a
                          canonical JSON object, see canon_key), the ordered list of
                          [op, version] of its change records; op 'c'/'u' carry after.version,
                          'd' carries before.version. Plus the seed and the total record count.

The same seed gives byte-identical files (random.Random only, no hash-ordered iteration).
--slow-batch K puts `DO SLEEP(pause)` (nothing is logged for it) between the statements and
transactions of batch K, so a test can stop rowlogd while that batch is still committing; it
changes no expectation.

    workload.py gen-txns --seed N --out DIR [--batches 20] [--txns-per-batch 5200]
                         [--domains 0,1,2]

writes the same files for a workload of many small transactions (the crash and failover tests):
at least batches * txns-per-batch committed transactions, mostly one autocommit statement each
(single-row inserts, updates, deletes, primary-key changes), some multi-statement and multi-row
transactions, a few rolled back. Batch 000 creates `composite`, as above. With --domains, the
batches switch `SET SESSION gtid_domain_id` among the listed MariaDB GTID domains every few
dozen transactions (the batches must then run as a user allowed to set it, e.g. root).
expected.json then also holds "transactions" (committed transactions with at least one row
change) and "domains".

Every row has a `version` counter: 1 on insert, +1 on every update, so the checker can tell the
commit order per key. The model below mirrors MariaDB's semantics for exactly the statements this
file writes: an UPDATE that changes the primary key is a 'd' of the old key followed by a 'c' of
the new key (after.version = old version + 1); INSERT ... ON DUPLICATE KEY UPDATE of an existing
key is a 'u'; a rolled-back transaction or the part of a transaction after a rolled-back savepoint
leaves no record (the model undoes its effects through a journal).

The table definitions (TABLES) are shared with checker.py, which turns SELECT output into the
JSON values rowlog must produce; `kind` names that mapping:
    int, decimal, float, double, date, datetime, timestamp, time, year, string, json, enum, set,
    binary (BINARY(n): padded with 0x00 to n), blob (VARBINARY/BLOB), bit (BIT(m)), geometry.
"""
import argparse
import base64
import datetime
import json
import os
import random
import sys

DB = "itest"
TOPIC_PREFIX = "rowlog"

U64_MAX = (1 << 64) - 1


class Col:
    def __init__(self, name, sqltype, kind, nullable=True, **params):
        self.name = name
        self.sqltype = sqltype
        self.kind = kind
        self.nullable = nullable
        self.params = params


class Table:
    def __init__(self, name, cols, pk, extra_ddl="", create_in_batch0=False):
        self.name = name
        self.cols = cols
        self.pk = pk
        self.extra_ddl = extra_ddl
        self.create_in_batch0 = create_in_batch0

    def col(self, name):
        for c in self.cols:
            if c.name == name:
                return c
        raise KeyError(name)

    def ddl(self):
        parts = []
        for c in self.cols:
            parts.append("  `%s` %s%s" % (c.name, c.sqltype, "" if c.nullable else " NOT NULL"))
        parts.append("  PRIMARY KEY (%s)" % ", ".join("`%s`" % k for k in self.pk))
        if self.extra_ddl:
            parts.append("  " + self.extra_ddl)
        return ("CREATE TABLE `%s` (\n%s\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 "
                "COLLATE=utf8mb4_general_ci;\n" % (self.name, ",\n".join(parts)))


ENUM_VALUES = ["small", "medium", "large", "x-large", "\u00fcber"]
SET_VALUES = ["red", "green", "blue", "alpha", "beta-gamma"]

ALLTYPES = Table("alltypes", [
    Col("id", "INT", "int", False),
    Col("version", "INT UNSIGNED", "int", False),
    Col("c_tinyint", "TINYINT", "int", lo=-128, hi=127),
    Col("c_tinyint_u", "TINYINT UNSIGNED", "int", lo=0, hi=255),
    Col("c_smallint", "SMALLINT", "int", lo=-32768, hi=32767),
    Col("c_smallint_u", "SMALLINT UNSIGNED", "int", lo=0, hi=65535),
    Col("c_mediumint", "MEDIUMINT", "int", lo=-8388608, hi=8388607),
    Col("c_mediumint_u", "MEDIUMINT UNSIGNED", "int", lo=0, hi=16777215),
    Col("c_int", "INT", "int", lo=-2147483648, hi=2147483647),
    Col("c_int_u", "INT UNSIGNED", "int", lo=0, hi=4294967295),
    Col("c_bigint", "BIGINT", "int", lo=-(1 << 63), hi=(1 << 63) - 1),
    Col("c_bigint_u", "BIGINT UNSIGNED", "int", lo=0, hi=U64_MAX),
    Col("c_dec30", "DECIMAL(30,10)", "decimal", prec=30, scale=10),
    Col("c_dec5", "DECIMAL(5,0)", "decimal", prec=5, scale=0),
    Col("c_dec10_2", "DECIMAL(10,2)", "decimal", prec=10, scale=2),
    Col("c_float", "FLOAT", "float"),
    Col("c_double", "DOUBLE", "double"),
    Col("c_date", "DATE", "date"),
    Col("c_datetime6", "DATETIME(6)", "datetime", fsp=6),
    Col("c_datetime3", "DATETIME(3)", "datetime", fsp=3),
    Col("c_datetime", "DATETIME", "datetime", fsp=0),
    Col("c_ts6", "TIMESTAMP(6) NULL DEFAULT NULL", "timestamp", fsp=6),
    Col("c_ts", "TIMESTAMP NULL DEFAULT NULL", "timestamp", fsp=0),
    Col("c_time6", "TIME(6)", "time", fsp=6),
    Col("c_time", "TIME", "time", fsp=0),
    Col("c_year", "YEAR", "year"),
    Col("c_char", "CHAR(10)", "string", maxchars=10, char=True),
    Col("c_char100", "CHAR(100)", "string", maxchars=100, char=True),
    Col("c_varchar", "VARCHAR(255)", "string", maxchars=255),
    Col("c_binary", "BINARY(8)", "binary", n=8),
    Col("c_varbinary", "VARBINARY(300)", "blob", maxbytes=300),
    Col("c_text", "TEXT", "string", maxchars=2000),
    Col("c_mblob", "MEDIUMBLOB", "blob", maxbytes=200, big=70 * 1024),
    Col("c_enum", "ENUM(%s)" % ",".join("'%s'" % v for v in ENUM_VALUES), "enum"),
    Col("c_set", "SET(%s)" % ",".join("'%s'" % v for v in SET_VALUES), "set"),
    Col("c_bit1", "BIT(1)", "bit", m=1),
    Col("c_bit17", "BIT(17)", "bit", m=17),
    Col("c_bit64", "BIT(64)", "bit", m=64),
    Col("c_geom", "GEOMETRY", "geometry"),
    Col("c_point", "POINT", "geometry", point=True),
    Col("c_json", "JSON", "json"),
], ["id"])

ORDERS = Table("orders", [
    Col("id", "BIGINT UNSIGNED", "int", False),
    Col("version", "INT UNSIGNED", "int", False),
    Col("customer_id", "INT", "int", False),
    Col("status", "ENUM('new','paid','shipped','cancelled')", "enum", False),
    Col("amount", "DECIMAL(12,2)", "decimal", False, prec=12, scale=2),
    Col("note", "VARCHAR(100)", "string"),
    Col("created", "DATETIME(3)", "datetime", False, fsp=3),
], ["id"], extra_ddl="KEY `by_customer` (`customer_id`)")

# Composite key in an order different from the column order; `code` is binary-collated so keys
# that differ only in case or in supplementary characters stay distinct.
COMPOSITE = Table("composite", [
    Col("tenant", "BIGINT UNSIGNED", "int", False),
    Col("version", "INT UNSIGNED", "int", False),
    Col("code", "VARCHAR(32) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin", "string", False),
    Col("qty", "SMALLINT", "int"),
    Col("label", "TEXT", "string"),
    Col("ratio", "DOUBLE", "double"),
], ["code", "tenant"], create_in_batch0=True)

TABLES = [ALLTYPES, ORDERS, COMPOSITE]
TABLES_BY_NAME = {t.name: t for t in TABLES}


def topic_of(table):
    return "%s.%s.%s" % (TOPIC_PREFIX, DB, table)


def canon_key(keydict):
    """The one text form of a key object used by the workload and the checker."""
    return json.dumps(keydict, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------
# SQL literals

def sql_str(s):
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("\\'")
        elif ch == "\0":
            out.append("\\0")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\x1a":
            out.append("\\Z")
        else:
            out.append(ch)
    return "'" + "".join(out) + "'"


def sql_bytes(b):
    return "X'" + b.hex().upper() + "'" if b else "''"


# Characters for generated text: ASCII, JSON specials and control characters, 2-, 3- and
# 4-byte UTF-8 (emoji, a ZWJ sequence, a musical symbol), U+2028.
CHAR_POOL = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ") * 3
             + ["'", '"', "\\", "\n", "\t", "\r", "/", "\x01", "\x1f", "\x7f", "\0"]
             + ["\u00e9", "\u00df", "\u00fc", "\u0416", "\u05d0", "\u4e2d", "\u6587", "\u2028",
                "\u20ac", "\U0001F600", "\U0001F680", "\U0001D11E",
                "\U0001F469\u200D\U0001F4BB", "e\u0301"])


class Gen:
    """Random values for each column kind, as SQL literals."""

    def __init__(self, rng):
        self.r = rng

    def text(self, maxchars, no_nul=False):
        r = self.r
        n = r.choice([0, 1, 2, r.randint(0, maxchars), r.randint(0, min(maxchars, 20)),
                      maxchars])
        chars = []
        while len(chars) < n:
            ch = r.choice(CHAR_POOL)
            if no_nul and ch == "\0":
                continue
            # A ZWJ sequence or combining pair counts as several characters.
            if len(chars) + len(ch) > n:
                ch = "x"
            chars.extend(ch)
        return "".join(chars)

    def value(self, col):
        """SQL literal for col, NULL with some probability when nullable."""
        r = self.r
        if col.nullable and r.random() < 0.12:
            return "NULL"
        k, p = col.kind, col.params
        if k == "int":
            lo, hi = p.get("lo", -1000), p.get("hi", 1000)
            return str(r.choice([lo, hi, 0, max(lo, -1), 1, r.randint(lo, hi),
                                 r.randint(lo, hi)]))
        if k == "decimal":
            prec, scale = p["prec"], p["scale"]
            ip = prec - scale
            choice = r.randint(0, 6)
            if choice == 0:
                return "0"
            if choice == 1 and scale >= 2:
                return r.choice(["0.01", "-0.01"])
            if choice == 2:
                v = "9" * ip + ("." + "9" * scale if scale else "")
                return r.choice(["", "-"]) + v
            if choice == 3 and scale:
                return r.choice(["", "-"]) + "0." + "0" * (scale - 1) + "1"
            digits = str(r.randint(0, 10 ** r.randint(1, ip) - 1))
            frac = "".join(r.choice("0123456789") for _ in range(r.randint(0, scale)))
            return r.choice(["", "-"]) + digits + ("." + frac if frac else "")
        if k == "float":
            # Six significant digits or fewer: the text names one float32 unambiguously.
            choice = r.randint(0, 5)
            if choice == 0:
                return r.choice(["0", "1", "-1", "3.40282e38", "-3.40282e38", "1.17549e-38",
                                 "1e-40", "0.1", "16777217", "-123.456"])
            return "%.*e" % (r.randint(0, 5), r.uniform(-1, 1) * 10 ** r.randint(-30, 30))
        if k == "double":
            choice = r.randint(0, 4)
            if choice == 0:
                return r.choice(["0", "-1", "0.1", "1.7976931348623157e308",
                                 "-1.7976931348623157e308", "5e-324", "2.2250738585072014e-308",
                                 "0.30000000000000004", "123456789.12345679", "1e16", "9007199254740993"])
            return repr(r.uniform(-1, 1) * 10 ** r.randint(-300, 300))
        if k == "date":
            return "'%s'" % self.date()
        if k == "datetime":
            return "'%s'" % self.datetime(p["fsp"], 1000, 9999)
        if k == "timestamp":
            fsp = p["fsp"]
            choice = r.randint(0, 5)
            if choice == 0:
                sec, us = 1, 0
            elif choice == 1:
                sec, us = (1 << 31) - 1, 999999
            else:
                sec, us = r.randint(1, (1 << 31) - 1), r.randint(0, 999999)
            t = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=sec)
            s = t.strftime("%Y-%m-%d %H:%M:%S")
            if fsp:
                s += ".%06d" % us
            return "'%s'" % s
        if k == "time":
            fsp = p["fsp"]
            maxsec = 838 * 3600 + 59 * 60 + 59
            choice = r.randint(0, 6)
            if choice == 0:
                sign, sec, us = "-", maxsec, 999999
            elif choice == 1:
                sign, sec, us = "", maxsec, 999999
            elif choice == 2:
                sign, sec, us = "-", 0, r.randint(1, 999999)
            elif choice == 3:
                sign, sec, us = "", 0, 0
            else:
                sign, sec, us = r.choice(["", "-"]), r.randint(0, maxsec), r.randint(0, 999999)
            s = "%s%02d:%02d:%02d" % (sign, sec // 3600, sec // 60 % 60, sec % 60)
            if fsp:
                s += ".%06d" % us
            elif sign and sec == 0:
                s = "00:00:00"
            return "'%s'" % s
        if k == "year":
            return str(r.choice([0, 1901, 2155, r.randint(1901, 2155)]))
        if k == "string":
            # CHAR values may end in spaces: SELECT and the binlog both drop them, so the
            # comparison with SELECT checks that nothing else is dropped.
            return sql_str(self.text(p["maxchars"]))
        if k == "binary":
            n = r.randint(0, p["n"])
            b = bytes(r.choice([0, 0, 1, 255, r.randint(0, 255)]) for _ in range(n))
            return sql_bytes(b)
        if k == "blob":
            if p.get("big") and r.random() < 0.02:
                n = p["big"] + r.randint(0, 100)
            else:
                n = r.choice([0, 1, r.randint(0, p["maxbytes"]), p["maxbytes"]])
            return sql_bytes(r.randbytes(n))
        if k == "enum":
            return sql_str(r.choice(ENUM_VALUES))
        if k == "set":
            members = [v for v in SET_VALUES if r.random() < 0.4]
            r.shuffle(members)  # MariaDB stores a set; order given does not matter
            return sql_str(",".join(members))
        if k == "bit":
            m = p["m"]
            return str(r.choice([0, (1 << m) - 1, 1 << (m - 1), r.randint(0, (1 << m) - 1)]))
        if k == "geometry":
            return self.geometry(p.get("point", False))
        if k == "json":
            return sql_str(self.json_doc())
        raise ValueError(k)

    def date(self):
        r = self.r
        lo = datetime.date(1000, 1, 1).toordinal()
        hi = datetime.date(9999, 12, 31).toordinal()
        return datetime.date.fromordinal(r.choice([lo, hi, r.randint(lo, hi)])).isoformat()

    def datetime(self, fsp, ylo, yhi):
        r = self.r
        choice = r.randint(0, 5)
        if choice == 0:
            s, us = "1000-01-01 00:00:00", 0
        elif choice == 1:
            s, us = "9999-12-31 23:59:59", 999999
        else:
            lo = datetime.date(ylo, 1, 1).toordinal()
            hi = datetime.date(yhi, 12, 31).toordinal()
            d = datetime.date.fromordinal(r.randint(lo, hi))
            s = "%s %02d:%02d:%02d" % (d.isoformat(), r.randint(0, 23), r.randint(0, 59),
                                       r.randint(0, 59))
            us = r.randint(0, 999999)
        if fsp:
            s += "." + ("%06d" % us)[:fsp]
        return s

    def coord(self):
        r = self.r
        return r.choice(["0", "-1.5", "180", "1e-7", repr(round(r.uniform(-1000, 1000), 6))])

    def geometry(self, point_only):
        r = self.r
        srid = r.choice([0, 0, 4326, 3857])
        kind = "POINT" if point_only else r.choice(["POINT", "LINESTRING", "POLYGON", "MULTIPOINT"])
        c = self.coord
        if kind == "POINT":
            wkt = "POINT(%s %s)" % (c(), c())
        elif kind == "LINESTRING":
            wkt = "LINESTRING(%s)" % ", ".join("%s %s" % (c(), c())
                                              for _ in range(r.randint(2, 5)))
        elif kind == "POLYGON":
            wkt = "POLYGON((0 0, 10 0, 10 %s, 0 0))" % r.randint(1, 9)
        else:
            wkt = "MULTIPOINT(%s)" % ", ".join("%s %s" % (c(), c())
                                              for _ in range(r.randint(1, 4)))
        return "ST_GeomFromText('%s', %d)" % (wkt, srid)

    def json_doc(self):
        r = self.r

        def node(depth):
            t = r.randint(0, 6 if depth < 3 else 3)
            if t == 0:
                return r.randint(-10 ** 12, 10 ** 12)
            if t == 1:
                return self.text(12, no_nul=True)
            if t == 2:
                return r.choice([True, False, None, 0.5, -1e-3])
            if t == 3:
                return round(r.uniform(-100, 100), 3)
            if t == 4:
                return [node(depth + 1) for _ in range(r.randint(0, 4))]
            return {self.text(6, no_nul=True): node(depth + 1) for _ in range(r.randint(0, 4))}

        doc = {"id": r.randint(0, 10 ** 6), "tags": [node(1) for _ in range(r.randint(0, 3))],
               "nested": node(1)}
        style = r.randint(0, 2)
        if style == 0:
            return json.dumps(doc)
        if style == 1:
            return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
        return json.dumps(doc, ensure_ascii=False, indent=1)


# Extremes and awkward values per column kind, for op_edge_rows.
EDGE_KINDS = ["min", "max", "special", "zero"]
SPECIAL_TEXT = ("quote ' double \" backslash \\ slash / nl \n cr \r tab \t nul \0 ctl \x01\x1f "
                "del \x7f ls \u2028 \u00e9\u00df \u4e2d\u6587 \U0001F600\U0001F469\u200D\U0001F4BB "
                "\U0001D11E e\u0301")


def edge_value(col, which):
    k, p = col.kind, col.params
    if k == "int":
        lo, hi = p["lo"], p["hi"]
        return str({"min": lo, "max": hi, "zero": 0, "special": -1 if lo < 0 else 1}[which])
    if k == "decimal":
        ip, scale = p["prec"] - p["scale"], p["scale"]
        big = "9" * ip + ("." + "9" * scale if scale else "")
        return {"min": "-" + big, "max": big, "zero": "0",
                "special": "-0.01" if scale >= 2 else "-1"}[which]
    if k == "float":
        return {"min": "-3.40282e38", "max": "3.40282e38", "zero": "0",
                "special": "1.4e-45"}[which]
    if k == "double":
        return {"min": "-1.7976931348623157e308", "max": "1.7976931348623157e308", "zero": "0",
                "special": "5e-324"}[which]
    if k == "date":
        return "'%s'" % {"min": "1000-01-01", "max": "9999-12-31", "zero": "1970-01-01",
                         "special": "2024-02-29"}[which]
    if k in ("datetime", "timestamp", "time"):
        fsp = p["fsp"]
        base, frac = {
            "datetime": {"min": ("1000-01-01 00:00:00", "000000"),
                         "max": ("9999-12-31 23:59:59", "999999"),
                         "zero": ("1970-01-01 00:00:00", "000000"),
                         "special": ("2024-02-29 12:34:56", "123456")},
            "timestamp": {"min": ("1970-01-01 00:00:01", "000000"),
                          "max": ("2038-01-19 03:14:07", "999999"),
                          "zero": ("2000-01-01 00:00:00", "000000"),
                          "special": ("2024-02-29 12:34:56", "123456")},
            "time": {"min": ("-838:59:59", "999999"), "max": ("838:59:59", "999999"),
                     "zero": ("00:00:00", "000000"),
                     "special": ("-00:00:00", "000001") if fsp else ("-00:00:01", "")},
        }[k][which]
        return "'%s'" % (base + ("." + frac[:fsp] if fsp else ""))
    if k == "year":
        return str({"min": 1901, "max": 2155, "zero": 0, "special": 2000}[which])
    if k == "string":
        n = p["maxchars"]
        if which == "max":
            unit = "\U0001F600\U0001D11E\u4e2d\u00e9"
            return sql_str((unit * n)[:n] if n < 1000 else "\U0001F600" * 16383)  # TEXT: 65532 B
        if which == "special":
            return sql_str(SPECIAL_TEXT[:n].rstrip(" ") if p.get("char") else SPECIAL_TEXT[:n])
        return sql_str({"min": "", "zero": "0"}[which])
    if k == "binary":
        return sql_bytes({"min": b"", "max": b"\xff" * p["n"], "zero": b"\0" * p["n"],
                          "special": b"\x01"}[which])
    if k == "blob":
        if which == "max":
            n = p.get("big", p["maxbytes"])
            return sql_bytes((bytes(range(256)) * (n // 256 + 1))[:n] if n == p["maxbytes"]
                             else random.Random(n).randbytes(n + 17))
        return sql_bytes({"min": b"", "zero": b"\0", "special": bytes(range(256))}[which])
    if k == "enum":
        return sql_str({"min": ENUM_VALUES[0], "max": ENUM_VALUES[-1], "zero": "medium",
                        "special": "x-large"}[which])
    if k == "set":
        return sql_str({"min": "", "max": ",".join(SET_VALUES), "zero": "red",
                        "special": "beta-gamma,red"}[which])
    if k == "bit":
        m = p["m"]
        return str({"min": 0, "max": (1 << m) - 1, "zero": 0, "special": 1 << (m - 1)}[which])
    if k == "geometry":
        if p.get("point"):
            return {"min": "ST_GeomFromText('POINT(-180 -90)', 4326)",
                    "max": "ST_GeomFromText('POINT(180 90)', 4326)",
                    "zero": "ST_GeomFromText('POINT(0 0)')",
                    "special": "ST_GeomFromText('POINT(0.1 -0.2)', 3857)"}[which]
        return {"min": "ST_GeomFromText('POINT(0 0)')",
                "max": "ST_GeomFromText('POLYGON((0 0, 10 0, 10 10, 0 10, 0 0), "
                       "(1 1, 2 1, 2 2, 1 1))', 4326)",
                "zero": "ST_GeomFromText('LINESTRING(0 0, 1 1)')",
                "special": "ST_GeomFromText('GEOMETRYCOLLECTION(POINT(1 2), "
                           "LINESTRING(0 0, 1 1))', 3857)"}[which]
    if k == "json":
        return sql_str({"min": "{}", "zero": "null", "special": json.dumps(
                            {"k": SPECIAL_TEXT.replace("\0", ""), "n": 1.5e300, "u": "\U0001F600"}),
                        "max": json.dumps({"a": [1, 2.5, None, True, {"b": "\u00e9\U0001F600"}],
                                           "deep": [[[[["x"]]]]], "big": 18446744073709551615},
                                          ensure_ascii=False, indent=2)}[which])
    raise ValueError(k)


# ---------------------------------------------------------------------------------------------
# The model: live rows (key -> version) and the expected records per key, with a journal so a
# rolled-back transaction or savepoint undoes its effects.

class IndexedKeys:
    """Insertion-ordered set of canonical keys with O(1) random choice and removal."""

    def __init__(self):
        self.items = []
        self.pos = {}

    def add(self, k):
        self.pos[k] = len(self.items)
        self.items.append(k)

    def remove(self, k):
        i = self.pos.pop(k)
        last = self.items.pop()
        if i < len(self.items):
            self.items[i] = last
            self.pos[last] = i

    def __contains__(self, k):
        return k in self.pos

    def __len__(self):
        return len(self.items)


class Model:
    def __init__(self):
        self.live = {t.name: {} for t in TABLES}          # canon -> (keydict, version)
        self.live_idx = {t.name: IndexedKeys() for t in TABLES}
        self.dead = {t.name: IndexedKeys() for t in TABLES}  # deleted keys, may be re-inserted
        self.hist = {t.name: {} for t in TABLES}          # canon -> [[op, version], ...]
        self.journal = None
        self.records = 0

    # Journal entries: ("live", table, canon, old_entry_or_None), ("hist", table, canon)
    def _set_live(self, t, ck, entry):
        old = self.live[t].get(ck)
        if self.journal is not None:
            self.journal.append(("live", t, ck, old))
        self._raw_set_live(t, ck, entry)

    def _raw_set_live(self, t, ck, entry):
        if entry is None:
            if ck in self.live[t]:
                del self.live[t][ck]
                self.live_idx[t].remove(ck)
                # A key whose only records were rolled back is not "dead" (deleted after a
                # commit): it stays unused, so a rolled-back record could not hide behind it.
                if ck in self.hist[t]:
                    self.dead[t].add(ck)
        else:
            if ck not in self.live[t]:
                self.live_idx[t].add(ck)
                if ck in self.dead[t]:
                    self.dead[t].remove(ck)
            self.live[t][ck] = entry

    def _append(self, t, ck, op, version):
        self.hist[t].setdefault(ck, []).append([op, version])
        self.records += 1
        if self.journal is not None:
            self.journal.append(("hist", t, ck))

    def mark(self):
        if self.journal is None:
            self.journal = []
        return len(self.journal)

    def rollback_to(self, mark):
        while len(self.journal) > mark:
            e = self.journal.pop()
            if e[0] == "hist":
                h = self.hist[e[1]][e[2]]
                h.pop()
                self.records -= 1
                if not h:
                    del self.hist[e[1]][e[2]]
            else:
                self._raw_set_live(e[1], e[2], e[3])

    def end_txn(self):
        self.journal = None

    def insert(self, t, keydict):
        ck = canon_key(keydict)
        assert ck not in self.live[t], ck
        self._set_live(t, ck, (keydict, 1))
        self._append(t, ck, "c", 1)

    def update(self, t, ck):
        keydict, v = self.live[t][ck]
        self._set_live(t, ck, (keydict, v + 1))
        self._append(t, ck, "u", v + 1)

    def delete(self, t, ck):
        _, v = self.live[t][ck]
        self._set_live(t, ck, None)
        self._append(t, ck, "d", v)

    def change_key(self, t, ck, new_keydict):
        _, v = self.live[t][ck]
        nck = canon_key(new_keydict)
        assert nck not in self.live[t], nck
        self._set_live(t, ck, None)
        self._append(t, ck, "d", v)
        self._set_live(t, nck, (new_keydict, v + 1))
        self._append(t, nck, "c", v + 1)

    def pick_live(self, r, t, n):
        idx = self.live_idx[t]
        n = min(n, len(idx))
        if n <= 0:
            return []
        # Distinct keys; sample() over the list is deterministic for a given state.
        return r.sample(idx.items, n)

    def count(self):
        return self.records


# ---------------------------------------------------------------------------------------------
# Statement builders. Each returns SQL text and applies its effects to the model.

class Workload:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.g = Gen(self.r)
        self.m = Model()
        self.next_order = 0
        self.next_alltypes = 0
        self.next_tenant = 0
        self.next_code = 0

    # --- key allocation (never rolled back, so a key seen only in a rolled-back
    # transaction is never used again and must never appear in the log)
    def new_order_id(self):
        self.next_order += 1
        if self.r.random() < 0.03:
            return U64_MAX - self.next_order  # exercises BIGINT UNSIGNED keys above 2^63
        return self.next_order

    def new_alltypes_id(self):
        self.next_alltypes += 1
        n = self.next_alltypes
        if n == 1:
            return -2147483648
        if n == 2:
            return 2147483647
        return n * 7919 % 2000000000 * (-1 if n % 5 == 0 else 1)

    def new_composite_key(self):
        self.next_code += 1
        r = self.r
        code = "c%d" % self.next_code + r.choice(["", "-\U0001F600", "-\u00e9t\u00e9", "-X", "-x",
                                                   "-'q'", "-\\", "-\u4e2d"])
        tenant = r.choice([0, 1, 2, U64_MAX, r.randint(0, U64_MAX)])
        return {"code": code, "tenant": tenant}

    def maybe_reuse(self, t):
        dead = self.m.dead[t]
        if len(dead) and self.r.random() < 0.05:
            return json.loads(dead.items[self.r.randrange(len(dead))])
        return None

    # --- SQL helpers
    @staticmethod
    def where_key(table, keydict):
        return " AND ".join("`%s` = %s" % (k, lit(keydict[k])) for k in table.pk)

    def where_keys(self, table, cks):
        if len(table.pk) == 1:
            k = table.pk[0]
            return "`%s` IN (%s)" % (k, ", ".join(lit(json.loads(ck)[k]) for ck in cks))
        return " OR ".join("(%s)" % self.where_key(table, json.loads(ck)) for ck in cks)

    def row_values(self, table, keydict, version):
        vals = []
        for c in table.cols:
            if c.name in keydict:
                vals.append(lit(keydict[c.name]))
            elif c.name == "version":
                vals.append(str(version))
            else:
                vals.append(self.table_value(table, c))
        return "(" + ", ".join(vals) + ")"

    def table_value(self, table, c):
        r = self.r
        if table is ORDERS:
            if c.name == "status":
                return sql_str(r.choice(["new", "paid", "shipped", "cancelled"]))
            if c.name == "customer_id":
                return str(r.randint(1, 500))
            if c.name == "amount":
                return "%d.%02d" % (r.randint(-1000, 10 ** 9), r.randint(0, 99))
            if c.name == "created":
                return "'%s'" % self.g.datetime(3, 2000, 2030)
            if c.name == "note":
                return "NULL" if r.random() < 0.2 else sql_str(self.g.text(100))
        if table is COMPOSITE and c.name == "qty":
            return "NULL" if r.random() < 0.1 else str(r.randint(-32768, 32767))
        if table is COMPOSITE and c.name == "label":
            return "NULL" if r.random() < 0.1 else sql_str(self.g.text(60))
        return self.g.value(c)

    def cols_sql(self, table):
        return "(" + ", ".join("`%s`" % c.name for c in table.cols) + ")"

    def set_clause(self, table, ncols=None):
        """version = version + 1 and a few non-key columns to new values."""
        r = self.r
        cands = [c for c in table.cols if c.name not in table.pk and c.name != "version"]
        n = ncols if ncols is not None else r.randint(1, min(5, len(cands)))
        chosen = r.sample(cands, n)
        sets = ["`version` = `version` + 1"]
        for c in chosen:
            sets.append("`%s` = %s" % (c.name, self.table_value(table, c)))
        return ", ".join(sets)

    # --- operations
    def op_insert(self, table, nrows):
        rows = []
        for _ in range(nrows):
            keydict = self.maybe_reuse(table.name)
            if keydict is None:
                keydict = self.fresh_key(table)
            if canon_key(keydict) in self.m.live[table.name]:
                continue
            self.m.insert(table.name, keydict)
            rows.append(self.row_values(table, keydict, 1))
        if not rows:
            return ""
        return "INSERT INTO `%s` %s VALUES\n%s;\n" % (table.name, self.cols_sql(table),
                                                    ",\n".join(rows))

    def fresh_key(self, table):
        while True:
            if table is ORDERS:
                kd = {"id": self.new_order_id()}
            elif table is ALLTYPES:
                kd = {"id": self.new_alltypes_id()}
            else:
                kd = self.new_composite_key()
            ck = canon_key(kd)
            if ck not in self.m.live[table.name] and ck not in self.m.dead[table.name] \
                    and ck not in self.m.hist[table.name]:
                return kd

    def op_update(self, table, n):
        cks = self.m.pick_live(self.r, table.name, n)
        if not cks:
            return ""
        for ck in cks:
            self.m.update(table.name, ck)
        return "UPDATE `%s` SET %s WHERE %s;\n" % (table.name, self.set_clause(table),
                                                  self.where_keys(table, cks))

    def op_delete(self, table, n):
        cks = self.m.pick_live(self.r, table.name, n)
        if not cks:
            return ""
        for ck in cks:
            self.m.delete(table.name, ck)
        return "DELETE FROM `%s` WHERE %s;\n" % (table.name, self.where_keys(table, cks))

    def op_change_key(self, table):
        cks = self.m.pick_live(self.r, table.name, 1)
        if not cks:
            return ""
        ck = cks[0]
        old = json.loads(ck)
        new = self.fresh_key(table)
        if table is COMPOSITE and self.r.random() < 0.5:
            new["tenant"] = old["tenant"]  # change only part of the key
            if canon_key(new) in self.m.live[table.name]:
                return ""
        self.m.change_key(table.name, ck, new)
        sets = ", ".join("`%s` = %s" % (k, lit(new[k])) for k in table.pk if new[k] != old[k])
        return "UPDATE `%s` SET %s, %s WHERE %s;\n" % (
            table.name, sets, self.set_clause(table, self.r.randint(0, 2)),
            self.where_key(table, old))

    def op_change_keys_multi(self):
        """One UPDATE moving several orders to new ids (id + offset, all fresh)."""
        cks = self.m.pick_live(self.r, "orders", self.r.randint(2, 6))
        cks = [ck for ck in cks if json.loads(ck)["id"] < 1 << 40]
        if not cks:
            return ""
        self.next_order += 1
        offset = (1 << 41) + self.next_order * (1 << 20)
        for ck in cks:
            new = {"id": json.loads(ck)["id"] + offset}
            if canon_key(new) in self.m.live["orders"] or canon_key(new) in self.m.hist["orders"]:
                return ""
        for ck in cks:
            self.m.change_key("orders", ck, {"id": json.loads(ck)["id"] + offset})
        return "UPDATE `orders` SET `id` = `id` + %d, `version` = `version` + 1 WHERE %s;\n" % (
            offset, self.where_keys(ORDERS, cks))

    def op_upsert(self):
        """INSERT ... ON DUPLICATE KEY UPDATE over existing and new orders."""
        rows = []
        seen = {}
        for ck in self.m.pick_live(self.r, "orders", self.r.randint(1, 5)):
            seen[ck] = json.loads(ck)
        for _ in range(self.r.randint(1, 5)):
            kd = self.fresh_key(ORDERS)
            seen[canon_key(kd)] = kd
        for ck, kd in seen.items():
            if ck in self.m.live["orders"]:
                self.m.update("orders", ck)
            else:
                self.m.insert("orders", kd)
            rows.append(self.row_values(ORDERS, kd, 1))
        return ("INSERT INTO `orders` %s VALUES\n%s\nON DUPLICATE KEY UPDATE "
                "`version` = `version` + 1, `status` = VALUES(`status`), "
                "`note` = VALUES(`note`);\n" % (self.cols_sql(ORDERS), ",\n".join(rows)))

    def op_same_key_in_txn(self):
        """c, u, u, d and c again of one key inside one transaction."""
        t = self.r.choice([ORDERS, COMPOSITE, ALLTYPES])
        kd = self.fresh_key(t)
        ck = canon_key(kd)
        sql = ["START TRANSACTION;\n"]
        self.m.insert(t.name, kd)
        sql.append("INSERT INTO `%s` %s VALUES %s;\n" % (t.name, self.cols_sql(t),
                                                         self.row_values(t, kd, 1)))
        for _ in range(2):
            self.m.update(t.name, ck)
            sql.append("UPDATE `%s` SET %s WHERE %s;\n" % (t.name, self.set_clause(t),
                                                           self.where_key(t, kd)))
        self.m.delete(t.name, ck)
        sql.append("DELETE FROM `%s` WHERE %s;\n" % (t.name, self.where_key(t, kd)))
        self.m.insert(t.name, kd)
        sql.append("INSERT INTO `%s` %s VALUES %s;\n" % (t.name, self.cols_sql(t),
                                                         self.row_values(t, kd, 1)))
        sql.append("COMMIT;\n")
        return "".join(sql)

    def random_small_ops(self, k):
        sql = []
        for _ in range(k):
            t = self.r.choice(TABLES)
            op = self.r.randint(0, 3)
            if op == 0:
                sql.append(self.op_insert(t, self.r.randint(1, 4)))
            elif op == 1:
                sql.append(self.op_update(t, self.r.randint(1, 4)))
            elif op == 2:
                sql.append(self.op_delete(t, self.r.randint(1, 2)))
            else:
                sql.append(self.op_change_key(t))
        return "".join(sql)

    def op_multi_txn(self):
        return "START TRANSACTION;\n" + self.random_small_ops(self.r.randint(2, 8)) + "COMMIT;\n"

    def op_rolled_back_txn(self):
        mark = self.m.mark()
        body = self.random_small_ops(self.r.randint(2, 8))
        body += self.op_insert(ORDERS, self.r.randint(5, 50))
        self.m.rollback_to(mark)
        self.m.end_txn()
        return "START TRANSACTION;\n" + body + "ROLLBACK;\n"

    def op_savepoint_txn(self):
        self.m.mark()
        a = self.random_small_ops(self.r.randint(1, 4))
        mark = self.m.mark()
        b = self.random_small_ops(self.r.randint(1, 4)) + self.op_insert(ORDERS, 3)
        self.m.rollback_to(mark)
        c = self.random_small_ops(self.r.randint(1, 4))
        self.m.end_txn()
        return ("START TRANSACTION;\n" + a + "SAVEPOINT sp1;\n" + b +
                "ROLLBACK TO SAVEPOINT sp1;\n" + c + "COMMIT;\n")

    def op_null_flip(self):
        """Set every nullable column of a few alltypes rows to NULL, in one statement."""
        cks = self.m.pick_live(self.r, "alltypes", self.r.randint(1, 3))
        if not cks:
            return ""
        for ck in cks:
            self.m.update("alltypes", ck)
        sets = ["`version` = `version` + 1"] + ["`%s` = NULL" % c.name for c in ALLTYPES.cols
                                                if c.nullable]
        return "UPDATE `alltypes` SET %s WHERE %s;\n" % (", ".join(sets),
                                                        self.where_keys(ALLTYPES, cks))

    def op_edge_rows(self):
        """alltypes rows holding each column's extremes (see edge_value), inserted in one
        statement, plus a row inserted all NULL and then updated to the maxima. The test's last
        batch writes them so they are the final state the checker compares with SELECT."""
        rows, keys = [], {}
        for which in EDGE_KINDS + ["null"]:
            kd = self.fresh_key(ALLTYPES)
            keys[which] = kd
            self.m.insert("alltypes", kd)
            vals = []
            for c in ALLTYPES.cols:
                if c.name == "id":
                    vals.append(lit(kd["id"]))
                elif c.name == "version":
                    vals.append("1")
                else:
                    vals.append("NULL" if which == "null" else edge_value(c, which))
            rows.append("(" + ", ".join(vals) + ")")
        sql = "INSERT INTO `alltypes` %s VALUES\n%s;\n" % (self.cols_sql(ALLTYPES),
                                                           ",\n".join(rows))
        self.m.update("alltypes", canon_key(keys["null"]))
        sets = ["`version` = `version` + 1"] + [
            "`%s` = %s" % (c.name, edge_value(c, "max")) for c in ALLTYPES.cols
            if c.name not in ("id", "version")]
        sql += "UPDATE `alltypes` SET %s WHERE %s;\n" % (", ".join(sets),
                                                        self.where_key(ALLTYPES, keys["null"]))
        return sql

    def batch(self, index, target, pause=0.0, last=False):
        start = self.m.count()
        out = ["-- rowlog integration workload, batch %d\n" % index,
               "SET time_zone = '+00:00';\n"]
        if index == 0:
            out.append(COMPOSITE.ddl())
            out.append(self.op_insert(ORDERS, 300))
            out.append(self.op_insert(ALLTYPES, 30))
            out.append(self.op_insert(COMPOSITE, 100))
        # The interesting shapes appear in every batch at least once.
        out.append(self.op_rolled_back_txn())
        out.append(self.op_savepoint_txn())
        out.append(self.op_same_key_in_txn())
        out.append(self.op_upsert())
        out.append(self.op_change_keys_multi())
        out.append(self.op_null_flip())
        for t in TABLES:
            out.append(self.op_change_key(t))
        weights = [("bulk_insert", 6), ("insert", 10), ("update", 14), ("update_many", 6),
                   ("delete", 6), ("delete_many", 2), ("change_key", 3), ("multi_txn", 8),
                   ("rollback", 1), ("savepoint", 1), ("same_key", 1), ("upsert", 2),
                   ("change_keys_multi", 1), ("null_flip", 1)]
        names = [w[0] for w in weights]
        ws = [w[1] for w in weights]
        while self.m.count() - start < target:
            op = self.r.choices(names, ws)[0]
            t = self.r.choices(TABLES, [2, 6, 3])[0]
            if op == "bulk_insert":
                n = self.r.randint(20, 200) if t is ORDERS else self.r.randint(2, 15)
                out.append(self.op_insert(t, n))
            elif op == "insert":
                out.append(self.op_insert(t, 1))
            elif op == "update":
                out.append(self.op_update(t, 1))
            elif op == "update_many":
                out.append(self.op_update(t, self.r.randint(2, 60)))
            elif op == "delete":
                out.append(self.op_delete(t, 1))
            elif op == "delete_many":
                out.append(self.op_delete(t, self.r.randint(2, 20)))
            elif op == "change_key":
                out.append(self.op_change_key(t))
            elif op == "multi_txn":
                out.append(self.op_multi_txn())
            elif op == "rollback":
                out.append(self.op_rolled_back_txn())
            elif op == "savepoint":
                out.append(self.op_savepoint_txn())
            elif op == "same_key":
                out.append(self.op_same_key_in_txn())
            elif op == "upsert":
                out.append(self.op_upsert())
            elif op == "change_keys_multi":
                out.append(self.op_change_keys_multi())
            else:
                out.append(self.op_null_flip())
        if last:
            out.append(self.op_edge_rows())
        sep = "DO SLEEP(%g);\n" % pause if pause > 0 else ""
        return sep.join(x for x in out if x)


class TxnWorkload(Workload):
    """Many small transactions (gen-txns): the same model and statement builders, counted in
    committed transactions."""

    WEIGHTS = [("insert", 24), ("insert_rows", 3), ("update", 34), ("update_few", 3),
               ("delete", 10), ("change_key", 6), ("multi_txn", 4), ("upsert", 1),
               ("same_key", 1), ("rollback", 1), ("savepoint", 1)]

    TABLE_WEIGHTS = [1, 24, 6]  # alltypes rows are large: rare, so transactions dominate

    def __init__(self, seed):
        Workload.__init__(self, seed)
        self.txns = 0

    def random_small_ops(self, k):
        sql = []
        for _ in range(k):
            t = self.r.choices(TABLES, self.TABLE_WEIGHTS)[0]
            op = self.r.randint(0, 3)
            if op == 0:
                sql.append(self.op_insert(t, self.r.randint(1, 2)))
            elif op == 1:
                sql.append(self.op_update(t, self.r.randint(1, 2)))
            elif op == 2:
                sql.append(self.op_delete(t, 1))
            else:
                sql.append(self.op_change_key(t))
        return "".join(sql)

    def txn_batch(self, index, target, domains):
        r = self.r
        out = ["-- rowlog integration workload (gen-txns), batch %d\n" % index,
               "SET time_zone = '+00:00';\n"]
        if index == 0:
            out.append(COMPOSITE.ddl())
            for t, n in ((ORDERS, 300), (ALLTYPES, 10), (COMPOSITE, 100)):
                out.append(self.op_insert(t, n))
                self.txns += 1
        names = [w[0] for w in self.WEIGHTS]
        ws = [w[1] for w in self.WEIGHTS]
        done = 0
        while done < target:
            if domains and r.random() < 0.03:
                out.append("SET SESSION gtid_domain_id = %d;\n" % r.choice(domains))
            op = r.choices(names, ws)[0]
            t = r.choices(TABLES, self.TABLE_WEIGHTS)[0]
            counted = True
            if op == "insert":
                sql = self.op_insert(t, 1)
            elif op == "insert_rows":
                sql = self.op_insert(t, r.randint(2, 6))
            elif op == "update":
                sql = self.op_update(t, 1)
            elif op == "update_few":
                sql = self.op_update(t, r.randint(2, 5))
            elif op == "delete":
                sql = self.op_delete(t, 1)
            elif op == "change_key":
                sql = self.op_change_key(t)
            elif op == "multi_txn":
                before = self.m.count()
                sql = self.op_multi_txn()
                counted = self.m.count() > before
            elif op == "upsert":
                sql = self.op_upsert()
            elif op == "same_key":
                sql = self.op_same_key_in_txn()
            elif op == "savepoint":
                before = self.m.count()
                sql = self.op_savepoint_txn()
                counted = self.m.count() > before
            else:
                sql = self.op_rolled_back_txn()
                counted = False
            if not sql:
                continue
            out.append(sql)
            if counted:
                done += 1
        self.txns += done
        return "".join(out)


def generate_txns(seed, out_dir, nbatches, per_batch, domains=None):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "schema.sql"), "w", encoding="utf-8") as f:
        f.write(schema_sql())
    wl = TxnWorkload(seed)
    for i in range(nbatches):
        with open(os.path.join(out_dir, "batch_%03d.sql" % i), "w", encoding="utf-8") as f:
            f.write(wl.txn_batch(i, per_batch, domains or []))
    expected = {
        "seed": seed,
        "db": DB,
        "topic_prefix": TOPIC_PREFIX,
        "batches": nbatches,
        "transactions": wl.txns,
        "domains": domains or [0],
        "total": wl.m.count(),
        "tables": {t.name: {"topic": topic_of(t.name), "pk": t.pk,
                            "records": sum(len(h) for h in wl.m.hist[t.name].values()),
                            "live": len(wl.m.live[t.name])} for t in TABLES},
        "keys": {t.name: wl.m.hist[t.name] for t in TABLES},
        "live": {t.name: list(wl.m.live[t.name].keys()) for t in TABLES},
    }
    with open(os.path.join(out_dir, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False)
    return expected


def lit(v):
    if isinstance(v, int):
        return str(v)
    return sql_str(v)


def schema_sql():
    out = ["-- rowlog integration schema (tables that exist before rowlogd starts)\n",
           "CREATE DATABASE `%s` CHARACTER SET utf8mb4;\n" % DB, "USE `%s`;\n" % DB]
    for t in TABLES:
        if not t.create_in_batch0:
            out.append(t.ddl())
    return "".join(out)


def generate(seed, out_dir, nbatches, per_batch, slow_batch=None, pause=0.02):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "schema.sql"), "w", encoding="utf-8") as f:
        f.write(schema_sql())
    wl = Workload(seed)
    for i in range(nbatches):
        with open(os.path.join(out_dir, "batch_%03d.sql" % i), "w", encoding="utf-8") as f:
            f.write(wl.batch(i, per_batch, pause if i == slow_batch else 0.0,
                             last=(i == nbatches - 1)))
    expected = {
        "seed": seed,
        "db": DB,
        "topic_prefix": TOPIC_PREFIX,
        "batches": nbatches,
        "total": wl.m.count(),
        "tables": {t.name: {"topic": topic_of(t.name), "pk": t.pk,
                            "records": sum(len(h) for h in wl.m.hist[t.name].values()),
                            "live": len(wl.m.live[t.name])} for t in TABLES},
        "keys": {t.name: wl.m.hist[t.name] for t in TABLES},
        "live": {t.name: list(wl.m.live[t.name].keys()) for t in TABLES},
    }
    with open(os.path.join(out_dir, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False)
    return expected


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--seed", type=int, required=True)
    g.add_argument("--out", required=True)
    g.add_argument("--batches", type=int, default=12)
    g.add_argument("--changes-per-batch", type=int, default=1100)
    g.add_argument("--slow-batch", type=int)
    g.add_argument("--pause", type=float, default=0.02)
    t = sub.add_parser("gen-txns")
    t.add_argument("--seed", type=int, required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--batches", type=int, default=20)
    t.add_argument("--txns-per-batch", type=int, default=5200)
    t.add_argument("--domains", help="comma-separated MariaDB GTID domain ids, e.g. 0,1,2")
    a = ap.parse_args(argv)
    if a.cmd == "gen-txns":
        domains = [int(x) for x in a.domains.split(",")] if a.domains else None
        exp = generate_txns(a.seed, a.out, a.batches, a.txns_per_batch, domains)
        print("workload: seed %d, %d batches, %d transactions, %d change records (%s)" % (
            a.seed, a.batches, exp["transactions"], exp["total"],
            ", ".join("%s %d" % (k, v["records"]) for k, v in exp["tables"].items())))
        return 0
    exp = generate(a.seed, a.out, a.batches, a.changes_per_batch, a.slow_batch, a.pause)
    print("workload: seed %d, %d batches, %d change records (%s)" % (
        a.seed, a.batches, exp["total"],
        ", ".join("%s %d" % (k, v["records"]) for k, v in exp["tables"].items())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
