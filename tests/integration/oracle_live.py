#!/usr/bin/env python3
"""oracle_live.py - workload and oracle of the live decoder test (oracle_live_test.sh).

    oracle_live.py gen --seed N --out DIR [--old-temporal]
        writes DIR/schema.sql (database itest: tables t_all, PRIMARY KEY (id), and t_comp,
        PRIMARY KEY (k1, k2), each with a column of every MariaDB type), DIR/load.sql (bulk
        multi-row INSERTs: ORACLE_ROWS rows into t_all, default 10000, a fifth of that into
        t_comp), DIR/changes.sql (random UPDATEs, DELETEs and INSERTs, single- and multi-row,
        in multi-statement transactions, some rolled back) and DIR/select_<table>.sql (the
        oracle's SELECT of every column). --old-temporal: see OLD_TEMPORAL below (and
        DIR/hires.sql, single-row transactions into t_hires).
    oracle_live.py check --table T --tail FILE --select FILE [--subset] [--old-temporal]
        FILE (--tail) holds `rowlog tail --format json` lines of the topic of table T, FILE
        (--select) the output of `mariadb -N -B` running DIR/select_T.sql. Reduces the topic
        to the last change per key (c and u set the key's row to `after`, d and tombstones
        remove it) and compares it with the SELECT: the key sets must be equal and every
        column of every row must equal the server's value converted here, independently of
        the decoder, to the JSON form docs/events.md gives for its type. Prints the first
        differences (column, type, the SELECT text, the decoded JSON). Exit 0 equal, 1 not.

The oracle reads the server's values through SELECT expressions that leave no room for
interpretation: HEX() of every string, binary, ENUM, SET, JSON, BIT and GEOMETRY value
(text columns as HEX(CONVERT(c USING utf8mb4)): the server's own conversion to UTF-8),
CAST(f AS DOUBLE) of FLOAT (printed with 17 significant digits: the exact float32),
UNIX_TIMESTAMP() of TIMESTAMP (seconds since the epoch, whatever the session time zone).
Comparison per type:
  integers, YEAR        the same integer (a JSON number, never a string or a bool)
  DECIMAL               the same string (exactly `scale` fraction digits)
  FLOAT                 the decoded number rounds to the same float32 (exact decimal
                        arithmetic: it is nearer to it than to either neighbour)
  DOUBLE                the decoded number reads back as the same double
  DATE, TIME, DATETIME  the same string (DATETIME with `T`)
  TIMESTAMP             UTC `YYYY-MM-DDTHH:MM:SS[.f]Z` of UNIX_TIMESTAMP() (zero -> epoch)
  text, ENUM            the same string; SET the list of its labels
  BINARY, VARBINARY, BLOB, BIT, GEOMETRY, INET4, INET6, UUID
                        base64 of exactly the bytes HEX() returns
  JSON                  the decoded value, a JSON text (parsed) or a JSON value, equals
                        the parsed column text; the document `null` must stay apart from
                        SQL NULL (it is the string "null", docs/events.md)
INET4, INET6 and UUID are not in docs/events.md: the decoder writes the bytes the binlog
holds (a fixed binary string, as for BINARY(n)), which is what HEX() returns.
"""
import argparse
import base64
import datetime
import decimal
import ipaddress
import json
import math
import os
import random
import struct
import sys
import uuid

# ----------------------------------------------------------------------------- the columns

INT_TYPES = [
    ("TINYINT", 8), ("SMALLINT", 16), ("MEDIUMINT", 24), ("INT", 32), ("BIGINT", 64),
]
DECIMALS = [(10, 0), (5, 2), (9, 9), (18, 9), (19, 4), (30, 0), (38, 10), (65, 30)]
ENUM_LABELS = ["red", "green", "blue", "ünïcødé", "😀 smile"]
SET_LABELS = ["a", "b", "c", "d", "é", "😀"]


def columns():
    """The value columns of both tables: (name, SQL type, kind, params)."""
    cols = []
    for t, bits in INT_TYPES:
        n = t.lower()
        cols.append(("c_%s" % n, t, "int", (-(1 << (bits - 1)), (1 << (bits - 1)) - 1)))
        cols.append(("c_%s_u" % n, t + " UNSIGNED", "int", (0, (1 << bits) - 1)))
    for p, s in DECIMALS:
        cols.append(("c_dec_%d_%d" % (p, s), "DECIMAL(%d,%d)" % (p, s), "dec", (p, s, False)))
    cols.append(("c_dec_u", "DECIMAL(12,4) UNSIGNED", "dec", (12, 4, True)))
    cols.append(("c_float", "FLOAT", "float", None))
    cols.append(("c_double", "DOUBLE", "double", None))
    cols.append(("c_bit1", "BIT(1)", "bit", 1))
    cols.append(("c_bit10", "BIT(10)", "bit", 10))
    cols.append(("c_bit64", "BIT(64)", "bit", 64))
    cols.append(("c_date", "DATE", "date", None))
    for f in range(7):
        cols.append(("c_time%d" % f, "TIME(%d)" % f, "time", f))
    for f in range(7):
        cols.append(("c_dt%d" % f, "DATETIME(%d)" % f, "datetime", f))
    for f in range(7):
        # NULL DEFAULT NULL: no automatic initialisation or update by the server.
        cols.append(("c_ts%d" % f, "TIMESTAMP(%d) NULL DEFAULT NULL" % f, "timestamp", f))
    cols.append(("c_year", "YEAR", "year", None))
    cols += [
        ("c_char_u8", "CHAR(20) CHARACTER SET utf8mb4", "text", ("utf8mb4", 20, True)),
        ("c_vchar_u8", "VARCHAR(300) CHARACTER SET utf8mb4", "text", ("utf8mb4", 300, False)),
        ("c_vchar_u3", "VARCHAR(40) CHARACTER SET utf8mb3", "text", ("utf8mb3", 40, False)),
        ("c_char_l1", "CHAR(10) CHARACTER SET latin1", "text", ("latin1", 10, True)),
        ("c_vchar_l1", "VARCHAR(100) CHARACTER SET latin1", "text", ("latin1", 100, False)),
        ("c_vchar_gbk", "VARCHAR(50) CHARACTER SET gbk", "text", ("gbk", 50, False)),
        ("c_char_ujis", "CHAR(10) CHARACTER SET ujis", "text", ("ujis", 10, True)),
        ("c_vchar_ujis", "VARCHAR(40) CHARACTER SET ujis", "text", ("ujis", 40, False)),
        ("c_bin8", "BINARY(8)", "binary", 8),
        ("c_varbin", "VARBINARY(300)", "varbinary", 300),
        ("c_tinyblob", "TINYBLOB", "varbinary", 255),
        ("c_blob", "BLOB", "varbinary", 65535),
        ("c_mediumblob", "MEDIUMBLOB", "varbinary", 300000),
        ("c_longblob", "LONGBLOB", "varbinary", 1 << 32),
        ("c_tinytext", "TINYTEXT CHARACTER SET utf8mb4", "text", ("utf8mb4", 60, False)),
        ("c_text", "TEXT CHARACTER SET utf8mb4", "text", ("utf8mb4", 3000, False)),
        ("c_mediumtext", "MEDIUMTEXT CHARACTER SET latin1", "text", ("latin1", 30000, False)),
        ("c_longtext", "LONGTEXT CHARACTER SET utf8mb4", "text", ("utf8mb4", 60000, False)),
        ("c_enum", "ENUM(%s) CHARACTER SET utf8mb4" % ",".join("'%s'" % x for x in ENUM_LABELS),
         "enum", ENUM_LABELS),
        ("c_set", "SET(%s) CHARACTER SET utf8mb4" % ",".join("'%s'" % x for x in SET_LABELS),
         "set", SET_LABELS),
        ("c_json", "JSON", "json", None),
        ("c_geom", "GEOMETRY", "geom", "any"),
        ("c_point", "POINT", "geom", "point"),
        ("c_polygon", "POLYGON", "geom", "polygon"),
        ("c_inet4", "INET4", "fixedbin", 4),
        ("c_inet6", "INET6", "fixedbin", 16),
        ("c_uuid", "UUID", "fixedbin", 16),
    ]
    return cols


TABLES = {
    "t_all": [("id", "BIGINT NOT NULL", "int", (-(1 << 63), (1 << 63) - 1))],
    "t_comp": [("k1", "INT NOT NULL", "int", (-(1 << 31), (1 << 31) - 1)),
               ("k2", "VARCHAR(16) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL", "text",
                ("utf8mb4", 16, False))],
    "t_hires": [("id", "INT NOT NULL", "int", (-(1 << 31), (1 << 31) - 1))],
}


# --old-temporal: the server creates TIME, DATETIME and TIMESTAMP columns in MariaDB's
# pre-10.1 formats. Those without fractions (binlog types TIME, DATETIME, TIMESTAMP: MySQL
# 5.5's formats) stay in t_all and t_comp. Those with fractions (MariaDB 5.3's "hires" formats,
# written with the same binlog types and no metadata: their size is not in the binlog) are in
# their own table, t_hires, for the expected failure mariadb_hires_temporal
# (oracle_live_test.sh).
OLD_TEMPORAL = False


def is_hires(col):
    return col[2] in ("time", "datetime", "timestamp") and col[3] > 0


def value_columns(table):
    if table == "t_hires":
        return [c for c in columns() if is_hires(c)]
    if OLD_TEMPORAL:
        return [c for c in columns() if not is_hires(c)]
    return columns()


def table_names():
    return ["t_all", "t_comp"] + (["t_hires"] if OLD_TEMPORAL else [])


def table_columns(table):
    return TABLES[table] + value_columns(table)


def pk_names(table):
    return [c[0] for c in TABLES[table]]


# ----------------------------------------------------------------------------- the values

U8_ALPHABET = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ") +
               ["'", '"', "\\", "\t", "\n", "%", "_", ",", "é", "ß", "ü", "€", "ñ", "中", "文",
                "日", "本", "ש", "ع", "Ω", "\u2028", "😀", "🚀", "🧑‍💻", "𝄞", "\x00", "\x7f"])
U3_ALPHABET = [c for c in U8_ALPHABET if ord(c[0]) < 0x10000 and len(c) == 1]


def hexlit(charset, b):
    return "_%s x'%s'" % (charset, b.hex()) if charset else "x'%s'" % b.hex()


def rand_len(rng, maxlen):
    r = rng.random()
    if r < 0.08:
        return 0
    if r < 0.7:
        return rng.randint(1, min(maxlen, 12))
    if r < 0.98:
        return rng.randint(1, min(maxlen, 120))
    return rng.randint(1, min(maxlen, 16000))


def gbk_char(rng):
    while True:
        if rng.random() < 0.7:   # GB2312 hanzi
            b = bytes([rng.randint(0xB0, 0xF7), rng.randint(0xA1, 0xFE)])
        else:                    # GBK/3 extension hanzi
            b = bytes([rng.randint(0x81, 0xA0), rng.choice(
                list(range(0x40, 0x7F)) + list(range(0x80, 0xFF)))])
        try:
            s = b.decode("gbk")
        except UnicodeDecodeError:
            continue
        if len(s) == 1 and "\u4e00" <= s <= "\u9fff":
            return b


def ujis_char(rng):
    while True:
        r = rng.random()
        if r < 0.3:
            b = bytes([0xA4, rng.randint(0xA1, 0xF3)])          # hiragana
        elif r < 0.5:
            b = bytes([0xA5, rng.randint(0xA1, 0xF6)])          # katakana
        elif r < 0.6:
            b = bytes([0x8E, rng.randint(0xA1, 0xDF)])          # half-width katakana
        elif r < 0.65:
            b = bytes([0x8F, rng.randint(0xB0, 0xED), rng.randint(0xA1, 0xFE)])  # JIS X 0212
        else:
            b = bytes([rng.randint(0xB0, 0xCF), rng.randint(0xA1, 0xFE)])  # kanji level 1
        try:
            s = b.decode("euc_jp")
        except UnicodeDecodeError:
            continue
        if len(s) == 1 and not ("\ue000" <= s <= "\uf8ff"):
            return b


MB_CHARS = {}   # charset -> a sample of its multi-byte characters (bytes), drawn once


def mb_chars(rng, charset):
    if charset not in MB_CHARS:
        pick = gbk_char if charset == "gbk" else ujis_char
        MB_CHARS[charset] = [pick(rng) for _ in range(400)]
    return MB_CHARS[charset]


# latin1: mostly printable bytes; control bytes other than NUL, TAB and LF are rare.
LATIN1_MAP = bytes(b if b in (0, 9, 10) or b >= 0x20 else b + 0x40 for b in range(256))


def rand_text(rng, charset, maxchars, is_char):
    n = rand_len(rng, maxchars)
    if charset in ("utf8mb4", "utf8mb3"):
        alpha = U8_ALPHABET if charset == "utf8mb4" else U3_ALPHABET
        s = "".join(rng.choices(alpha, k=n))
        if len(s) > maxchars:  # the ZWJ sequence counts as several characters
            s = s[:maxchars]
        b = s.encode("utf-8")
    elif charset == "latin1":
        # Every byte: MySQL's latin1 is cp1252 with 0x81 0x8D 0x8F 0x90 0x9D as C1 controls.
        b = rng.randbytes(n).translate(LATIN1_MAP)
    else:
        ascii_part = [bytes([c]) for c in range(0x20, 0x7F)]
        b = b"".join(rng.choices(ascii_part + mb_chars(rng, charset) * 2, k=n))
    if is_char and rng.random() < 0.2 and n < maxchars:
        b += b" " * rng.randint(1, maxchars - n)   # CHAR: trailing spaces (SELECT strips them)
    return hexlit(charset, b)


def rand_json(rng, depth=0):
    r = rng.random()
    if depth >= 4 or r < 0.4:
        k = rng.randint(0, 7)
        if k == 0:
            return None
        if k == 1:
            return rng.random() < 0.5
        if k == 2:
            return rng.randint(-(1 << 70), 1 << 70) if rng.random() < 0.2 else rng.randint(-999, 999)
        if k == 3:
            return rng.choice([0.5, -1.25e-7, 1e300, 3.141592653589793, rng.uniform(-1e6, 1e6)])
        return "".join(rng.choices(U8_ALPHABET, k=rng.randint(0, 12)))
    if r < 0.7:
        return {"".join(rng.choices(JSON_KEY_CHARS, k=rng.randint(1, 6))): rand_json(rng, depth + 1)
                for _ in range(rng.randint(0, 5))}
    return [rand_json(rng, depth + 1) for _ in range(rng.randint(0, 5))]


JSON_KEY_CHARS = U8_ALPHABET[:40] + ["é", "😀", '"']


def json_lit(rng, doc):
    sep = rng.choice([(",", ":"), (", ", ": ")])
    text = json.dumps(doc, ensure_ascii=rng.random() < 0.3, separators=sep)
    return hexlit("utf8mb4", text.encode("utf-8"))


def rand_geom(rng, kind):
    def num():
        return "%.6f" % rng.choice([0.0, 1.0, -180.0, 90.5, rng.uniform(-1e3, 1e3),
                                    rng.uniform(-1e-3, 1e-3)])

    def ring():
        x, y = rng.uniform(-100, 100), rng.uniform(-100, 100)
        w, h = rng.uniform(0.001, 50), rng.uniform(0.001, 50)
        pts = [(x, y), (x + w, y), (x + w, y + h), (x, y + h), (x, y)]
        return "(" + ",".join("%.6f %.6f" % p for p in pts) + ")"

    if kind == "any":
        kind = rng.choice(["point", "polygon", "linestring"])
    if kind == "point":
        wkt = "POINT(%s %s)" % (num(), num())
    elif kind == "linestring":
        wkt = "LINESTRING(" + ",".join("%s %s" % (num(), num())
                                       for _ in range(rng.randint(2, 6))) + ")"
    else:
        wkt = "POLYGON(" + ",".join(ring() for _ in range(rng.randint(1, 2))) + ")"
    srid = rng.choice([0, 0, 4326, 3857])
    return "ST_GeomFromText('%s', %d)" % (wkt, srid)


def rand_float32(rng):
    while True:
        x = struct.unpack("<f", struct.pack("<I", rng.getrandbits(32)))[0]
        if math.isfinite(x):
            return x


def rand_double(rng):
    while True:
        x = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if math.isfinite(x):
            return x


def rand_int_in(rng, lo, hi):
    bits = rng.randint(0, max(1, (hi - lo).bit_length()))
    v = lo + rng.getrandbits(bits) if bits else lo
    if lo < 0 and rng.random() < 0.5:
        v = rng.randint(-(1 << bits), 1 << bits)
    return min(hi, max(lo, v))


def fixed_digits(rng, n):
    return "".join(rng.choices("0123456789", k=n))


def gen_value(rng, col, special=None, big=False):
    """An SQL expression for a random value of column col; special: 'min', 'max' or None."""
    name, sqltype, kind, par = col
    nullable = "NOT NULL" not in sqltype
    if special is None and nullable and rng.random() < 0.06:
        return "NULL"
    pick = special if special else ("x" if rng.random() < 0.15 else None)
    if kind == "int":
        lo, hi = par
        if pick == "min":
            return str(lo)
        if pick == "max":
            return str(hi)
        if pick == "x":
            return str(rng.choice([lo, hi, 0, 1, max(lo, -1)]))
        return str(rand_int_in(rng, lo, hi))
    if kind == "dec":
        p, s, unsigned = par
        ip = p - s
        if pick in ("min", "max"):
            v = ("9" * ip if ip else "0") + ("." + "9" * s if s else "")
            return ("-" if pick == "min" and not unsigned else "") + v
        if pick == "x":
            return rng.choice(["0", "-0" if s else "0", "1", ("0." + "0" * (s - 1) + "1") if s else "1"])
        ni = rng.randint(0, ip)
        v = (fixed_digits(rng, ni) or "0") + ("." + fixed_digits(rng, s) if s else "")
        return ("-" if not unsigned and rng.random() < 0.5 else "") + v
    if kind == "float":
        if pick == "min":
            return "-3.4028234663852886e38"
        if pick == "max":
            return "3.4028234663852886e38"
        if pick == "x":
            return rng.choice(["0", "1.401298464324817e-45", "1.1754943508222875e-38", "0.1",
                               "-1.5", "16777217", "-0.0"])
        if rng.random() < 0.5:
            return repr(round(rng.uniform(-1e4, 1e4), rng.randint(0, 6)))
        return repr(rand_float32(rng))
    if kind == "double":
        if pick == "min":
            return "-1.7976931348623157e308"
        if pick == "max":
            return "1.7976931348623157e308"
        if pick == "x":
            return rng.choice(["0", "2.2250738585072014e-308", "0.1", "19.99",
                               "9007199254740993", "-0.0", "1e-300"])
        if rng.random() < 0.5:
            return repr(round(rng.uniform(-1e9, 1e9), rng.randint(0, 9)))
        return repr(rand_double(rng))
    if kind == "bit":
        n = par
        if pick == "min":
            return "b'0'"
        if pick == "max":
            return "b'%s'" % ("1" * n)
        return "b'%s'" % format(rng.getrandbits(n), "b")
    if kind == "date":
        if pick == "min":
            return "'1000-01-01'"
        if pick == "max":
            return "'9999-12-31'"
        if pick == "x":
            return rng.choice(["'0000-00-00'", "'2024-02-29'", "'2001-00-00'", "'2001-05-00'",
                               "'1970-01-01'"])
        d = datetime.date.fromordinal(rng.randint(datetime.date(1000, 1, 1).toordinal(),
                                                  datetime.date(9999, 12, 31).toordinal()))
        return "'%s'" % d.isoformat()
    if kind == "time":
        f = par
        frac = lambda digits: ("." + digits) if f else ""
        if pick == "min":
            return "'-838:59:59%s'" % frac("9" * f)
        if pick == "max":
            return "'838:59:59%s'" % frac("9" * f)
        if pick == "x":
            return rng.choice(["'-838:59:59%s'" % frac("0" * f), "'838:59:59'", "'00:00:00'",
                               "'-00:00:01%s'" % frac("5" + "0" * (f - 1) if f else ""),
                               "'-00:00:00%s'" % frac("0" * (f - 1) + "1" if f else ""),
                               "'24:00:00'", "'-24:00:00%s'" % frac("0" * f)])
        h = rng.choice([rng.randint(0, 23), rng.randint(0, 838)])
        sign = "-" if rng.random() < 0.4 else ""
        return "'%s%02d:%02d:%02d%s'" % (sign, h, rng.randint(0, 59), rng.randint(0, 59),
                                         frac(fixed_digits(rng, f)))
    if kind == "datetime":
        f = par
        frac = lambda digits: ("." + digits) if f else ""
        if pick == "min":
            return "'1000-01-01 00:00:00%s'" % frac("0" * f)
        if pick == "max":
            return "'9999-12-31 23:59:59%s'" % frac("9" * f)
        if pick == "x":
            return rng.choice(["'0000-00-00 00:00:00'", "'2024-02-29 12:34:56%s'" % frac("1" * f),
                               "'1970-01-01 00:00:00'", "'2001-00-00 00:00:00'"])
        d = datetime.date.fromordinal(rng.randint(datetime.date(1000, 1, 1).toordinal(),
                                                  datetime.date(9999, 12, 31).toordinal()))
        return "'%s %02d:%02d:%02d%s'" % (d.isoformat(), rng.randint(0, 23), rng.randint(0, 59),
                                          rng.randint(0, 59), frac(fixed_digits(rng, f)))
    if kind == "timestamp":
        f = par
        frac = lambda digits: ("." + digits) if f else ""
        if pick == "min":
            return "'1970-01-01 00:00:01%s'" % frac("0" * f)
        if pick == "max":
            return "'2038-01-19 03:14:07%s'" % frac("9" * f)
        if pick == "x":
            return rng.choice(["'0000-00-00 00:00:00'", "'2000-02-29 23:59:59%s'" % frac("9" * f),
                               "'1970-01-01 00:00:01%s'" % frac("0" * (f - 1) + "1" if f else "")])
        t = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=rng.randint(1, (1 << 31) - 1))
        return "'%s%s'" % (t.strftime("%Y-%m-%d %H:%M:%S"), frac(fixed_digits(rng, f)))
    if kind == "year":
        if pick == "min":
            return "1901"
        if pick == "max":
            return "2155"
        if pick == "x":
            return rng.choice(["0", "1901", "2155", "2000"])
        return str(rng.randint(1901, 2155))
    if kind == "text":
        charset, maxchars, is_char = par
        if pick == "min":
            return hexlit(charset, b"")
        if pick == "max":
            unit = {"utf8mb4": "😀".encode(), "utf8mb3": "€".encode(), "latin1": b"\xff",
                    "gbk": "中".encode("gbk"), "ujis": "日".encode("euc_jp")}[charset]
            return hexlit(charset, unit * min(maxchars, 5000))
        return rand_text(rng, charset, maxchars, is_char)
    if kind == "binary":
        if pick == "min":
            return "x''"
        if pick == "max":
            return "x'%s'" % ("ff" * par)
        n = rng.randint(0, par)
        b = rng.randbytes(n)
        if rng.random() < 0.3:
            b = b[: max(0, n - 3)] + b"\x00" * min(3, n)   # trailing zeros: padded by the server
        return "x'%s'" % b.hex()
    if kind == "varbinary":
        if pick == "min":
            return "x''"
        if big:
            return "x'%s'" % rng.randbytes(rng.randint(1 << 20, (1 << 20) + 300000)).hex()
        n = rand_len(rng, min(par, 70000))
        if pick == "max":
            n = min(par, 70000)
        return "x'%s'" % rng.randbytes(n).hex()
    if kind == "enum":
        if pick == "min":
            return hexlit("utf8mb4", b"")   # not a label: the error value 0
        if pick == "max":
            return hexlit("utf8mb4", par[-1].encode())
        r = rng.randint(0, len(par))
        return hexlit("utf8mb4", par[r - 1].encode() if r else b"")
    if kind == "set":
        if pick == "min":
            return hexlit("utf8mb4", b"")
        if pick == "max":
            return hexlit("utf8mb4", ",".join(par).encode())
        return hexlit("utf8mb4", ",".join(x for x in par if rng.random() < 0.4).encode())
    if kind == "json":
        if pick == "min":
            return hexlit("utf8mb4", b"null")
        if pick == "max" or big:
            doc = {"big": [rand_json(rng, 2) for _ in range(3000)], "n": 1 << 64}
            return json_lit(rng, doc)
        if pick == "x":
            return hexlit("utf8mb4", rng.choice([b'"str"', b"1.5", b"true", b"[]", b"{}",
                                                 b'{"a":{"b":{"c":{"d":[1,[2,[3]]]}}}}']))
        return json_lit(rng, rand_json(rng))
    if kind == "geom":
        return rand_geom(rng, par)
    if kind == "fixedbin":
        if par == 4:
            return "'%s'" % ipaddress.IPv4Address(rng.getrandbits(32) if pick != "min" else 0)
        if name == "c_inet6":
            if rng.random() < 0.3:
                return "'::ffff:%s'" % ipaddress.IPv4Address(rng.getrandbits(32))
            return "'%s'" % ipaddress.IPv6Address(rng.getrandbits(128) if pick != "min" else 0)
        if pick == "min":
            return "'00000000-0000-0000-0000-000000000000'"
        if rng.random() < 0.5:
            return "'%s'" % uuid.UUID(int=rng.getrandbits(128), version=4)
        return "'%s'" % uuid.UUID(fields=(rng.getrandbits(32), rng.getrandbits(16),
                                          0x1000 | rng.getrandbits(12), 0x80 | rng.getrandbits(6),
                                          rng.getrandbits(8), rng.getrandbits(48)))
    raise ValueError(kind)


# ----------------------------------------------------------------------------- the workload

class Table:
    def __init__(self, name, rng):
        self.name = name
        self.cols = table_columns(name)
        self.vcols = value_columns(name)
        self.rng = rng
        self.live = []          # keys, as SQL literal tuples, believed present
        self.used = set()

    def new_key(self):
        rng = self.rng
        while True:
            if self.name == "t_all":
                k = (str(rand_int_in(rng, -(1 << 63), (1 << 63) - 1)),)
            elif self.name == "t_hires":
                k = (str(rand_int_in(rng, -(1 << 31), (1 << 31) - 1)),)
            else:
                k2 = "".join(rng.choice(U8_ALPHABET[:62] + ["é", "中", "😀"])
                             for _ in range(rng.randint(1, 16)))
                k = (str(rng.randint(-3, 40)), hexlit("utf8mb4", k2.strip().encode() or b"x"))
            if k not in self.used:
                self.used.add(k)
                return k

    def where(self, key):
        return " AND ".join("`%s` = %s" % (c, v) for c, v in zip(pk_names(self.name), key))

    def insert(self, n, special=None, big=False):
        rows, keys = [], []
        for _ in range(n):
            k = self.new_key()
            vals = [gen_value(self.rng, c, special, big and c[0] in ("c_longblob", "c_json"))
                    for c in self.vcols]
            rows.append("(" + ",".join(list(k) + vals) + ")")
            keys.append(k)
        self.live += keys
        return "INSERT INTO `%s` VALUES\n%s;" % (self.name, ",\n".join(rows))

    def update_one(self):
        rng = self.rng
        if not self.live:
            return self.insert(1)
        i = rng.randrange(len(self.live))
        key = self.live[i]
        cols = rng.sample(self.vcols, rng.randint(1, 8))
        sets = ["`%s` = %s" % (c[0], "NULL" if rng.random() < 0.25 else gen_value(rng, c))
                for c in cols]
        if rng.random() < 0.06:       # a new primary key: a delete and a create
            nk = self.new_key()
            sets += ["`%s` = %s" % (c, v) for c, v in zip(pk_names(self.name), nk)]
            self.live[i] = nk
        return "UPDATE `%s` SET %s WHERE %s;" % (self.name, ", ".join(sets), self.where(key))

    def update_many(self):
        """One statement changing many rows (one rows event with many rows)."""
        rng = self.rng
        c = rng.choice([x for x in self.vcols if x[2] in ("int", "dec", "text", "date", "time")])
        v = "NULL" if rng.random() < 0.3 else gen_value(rng, c)
        if self.name == "t_all":
            ks = sorted(int(k[0]) for k in self.live)
            if len(ks) < 2:
                return ""
            a = rng.randrange(len(ks) - 1)
            b = min(len(ks) - 1, a + rng.randint(1, 60))
            return "UPDATE t_all SET `%s` = %s WHERE id BETWEEN %d AND %d;" % (c[0], v, ks[a], ks[b])
        return "UPDATE t_comp SET `%s` = %s WHERE k1 = %d;" % (c[0], v, rng.randint(-3, 40))

    def delete(self):
        rng = self.rng
        if not self.live:
            return ""
        if self.name == "t_all" and rng.random() < 0.1:
            ks = sorted(int(k[0]) for k in self.live)
            a = rng.randrange(len(ks))
            b = min(len(ks) - 1, a + rng.randint(0, 20))
            gone = set(ks[a:b + 1])
            self.live = [k for k in self.live if int(k[0]) not in gone]
            return "DELETE FROM t_all WHERE id BETWEEN %d AND %d;" % (ks[a], ks[b])
        key = self.live.pop(rng.randrange(len(self.live)))
        return "DELETE FROM `%s` WHERE %s;" % (self.name, self.where(key))


def gen(args):
    seed = args.seed
    rng = random.Random(seed)
    rows = int(os.environ.get("ORACLE_ROWS", "10000"))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "schema.sql"), "w") as f:
        f.write("CREATE DATABASE IF NOT EXISTS itest;\nUSE itest;\n")
        for t in table_names():
            defs = ["`%s` %s" % (c[0], c[1]) for c in table_columns(t)]
            defs.append("PRIMARY KEY (%s)" % ", ".join("`%s`" % k for k in pk_names(t)))
            f.write("CREATE TABLE `%s` (\n  %s\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n"
                    % (t, ",\n  ".join(defs)))
        f.write("CREATE TABLE done (id INT PRIMARY KEY);\n")
    # The session: permissive (zero dates, the ENUM error value), UTC for TIMESTAMP literals.
    head = "USE itest;\nSET SESSION sql_mode = '';\nSET time_zone = '+00:00';\n"
    tabs = {t: Table(t, rng) for t in table_names()}
    with open(os.path.join(args.out, "load.sql"), "w") as f:
        f.write(head)
        for t, n in (("t_all", rows), ("t_comp", max(1, rows // 5))):
            tb = tabs[t]
            f.write(tb.insert(1, "min") + "\n")
            f.write(tb.insert(1, "max") + "\n")
            k = tb.new_key()               # a row of NULLs
            f.write("INSERT INTO `%s` (%s) VALUES (%s);\n" % (
                t, ",".join("`%s`" % c for c in pk_names(t)), ",".join(k)))
            tb.live.append(k)
            left = n - 3
            nbig = 3 if t == "t_all" else 1
            while left > 0:
                k = min(left, rng.randint(50, 150))
                f.write(tb.insert(k) + "\n")
                left -= k
                if nbig and rng.random() < 0.1:
                    f.write(tb.insert(1, big=True) + "\n")   # a >= 1 MiB LONGBLOB, a large JSON
                    nbig -= 1
                    left -= 1
            while nbig:
                f.write(tb.insert(1, big=True) + "\n")
                nbig -= 1
    nchanges = max(100, rows * 2 // 5)
    with open(os.path.join(args.out, "changes.sql"), "w") as f:
        f.write(head)
        done = 0
        while done < nchanges:
            rollback = rng.random() < 0.04
            stmts = []
            for _ in range(rng.randint(1, 25)):
                tb = tabs["t_all"] if rng.random() < 0.8 else tabs["t_comp"]
                r = rng.random()
                if r < 0.6:
                    s = tb.update_one()
                elif r < 0.7:
                    s = tb.update_many()
                elif r < 0.9:
                    s = tb.delete()
                else:
                    s = tb.insert(rng.randint(1, 5))
                if s:
                    stmts.append(s)
            done += len(stmts)
            f.write("BEGIN;\n" + "\n".join(stmts) + ("\nROLLBACK;\n" if rollback else "\nCOMMIT;\n"))
    if OLD_TEMPORAL:
        # One row per transaction, never changed: any record rowlogd publishes must equal
        # its row's SELECT.
        with open(os.path.join(args.out, "hires.sql"), "w") as f:
            f.write(head)
            tb = tabs["t_hires"]
            f.write(tb.insert(1, "min") + "\n" + tb.insert(1, "max") + "\n")
            for _ in range(300):
                f.write(tb.insert(1) + "\n")
    for t in table_names():
        with open(os.path.join(args.out, "select_%s.sql" % t), "w") as f:
            f.write("SET time_zone = '+00:00';\nSELECT %s FROM itest.`%s` ORDER BY %s;\n" % (
                ", ".join(select_expr(c) for c in table_columns(t)), t,
                ", ".join("`%s`" % k for k in pk_names(t))))


def select_expr(col):
    name, _, kind, _ = col
    q = "`%s`" % name
    if kind in ("text", "enum", "set", "json"):
        return "HEX(CONVERT(%s USING utf8mb4))" % q
    if kind in ("binary", "varbinary", "bit", "geom", "fixedbin"):
        return "HEX(%s)" % q
    if kind == "float":
        return "CAST(%s AS DOUBLE)" % q
    if kind == "timestamp":
        return "UNIX_TIMESTAMP(%s)" % q
    if kind == "year":
        return "%s + 0" % q
    return q


# ----------------------------------------------------------------------------- the oracle

def expected(col, text):
    """The JSON value docs/events.md specifies for the server's SELECT text of col."""
    if text == "NULL":
        return None
    name, _, kind, par = col
    if kind in ("int", "year"):
        return int(text)
    if kind in ("dec", "date", "time"):
        return text
    if kind in ("float", "double"):
        return float(text)
    if kind == "datetime":
        return text.replace(" ", "T")
    if kind == "timestamp":
        sec, _, frac = text.partition(".")
        t = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=int(sec))
        return t.strftime("%Y-%m-%dT%H:%M:%S") + (("." + frac.ljust(par, "0")) if par else "") + "Z"
    if kind == "bit":   # HEX() of a BIT value is the hex of its number: no leading zeros
        return base64.b64encode(int(text, 16).to_bytes((par + 7) // 8, "big")).decode("ascii")
    raw = bytes.fromhex(text)
    if kind in ("text", "enum"):
        return raw.decode("utf-8")
    if kind == "set":
        s = raw.decode("utf-8")
        return s.split(",") if s else []
    if kind == "json":
        return ("json", json.loads(raw.decode("utf-8")))
    return base64.b64encode(raw).decode("ascii")


def float32_matches(decoded, want):
    """decoded (a JSON number) rounds to the float32 want: exact decimal arithmetic."""
    if isinstance(decoded, bool) or not isinstance(decoded, (int, float)):
        return False
    if want == 0:
        return decoded == 0
    d = decimal.Decimal(str(decoded)) if isinstance(decoded, float) else decimal.Decimal(decoded)
    bits = struct.unpack("<I", struct.pack("<f", want))[0]
    w = decimal.Decimal(want)
    for nb in (bits - 1, bits + 1):
        nf = struct.unpack("<f", struct.pack("<I", nb & 0xFFFFFFFF))[0]
        if not math.isfinite(nf) or (nf < 0) != (want < 0):
            continue
        n = decimal.Decimal(nf)
        dw, dn = abs(d - w), abs(d - n)
        if dn < dw or (dn == dw and bits & 1):
            return False
    return True


def same(col, want, got):
    kind = col[2]
    if want is None or got is None:
        return want is None and got is None
    if kind in ("int", "year"):
        return type(got) is int and got == want
    if kind == "float":
        return float32_matches(got, want)
    if kind == "double":
        return not isinstance(got, bool) and isinstance(got, (int, float)) and float(got) == want
    if kind == "json":
        doc = want[1]
        if isinstance(got, str):
            try:
                if json.loads(got) == doc:
                    return True
            except ValueError:
                pass
            return got == doc   # a JSON string document as a JSON value
        return got == doc and type(got) is type(doc)
    return type(got) is type(want) and got == want


def short(v, n=160):
    s = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
    return s if len(s) <= n else s[:n] + "...(%d chars)" % len(s)


def check(args):
    cols = table_columns(args.table)
    names = [c[0] for c in cols]
    pks = pk_names(args.table)
    state, ops, nrec = {}, {"c": 0, "u": 0, "d": 0}, 0
    problems = []
    with open(args.tail, encoding="utf-8", newline="\n") as f:
        for ln, line in enumerate(f, 1):
            rec = json.loads(line)
            nrec += 1
            key = json.dumps(rec["key"], sort_keys=True)
            v = rec["value"]
            if v is None:                      # a tombstone
                state.pop(key, None)
                continue
            op = v.get("op")
            if op not in ops:
                problems.append("line %d: op %r" % (ln, op))
                continue
            ops[op] += 1
            if v["source"]["table"] != args.table or v["source"]["db"] != "itest":
                problems.append("line %d: source %s.%s" % (ln, v["source"]["db"],
                                                            v["source"]["table"]))
            if op == "d":
                if v["after"] is not None or v["before"] is None:
                    problems.append("line %d: delete with after or without before" % ln)
                state.pop(key, None)
            else:
                a = v["after"]
                if a is None or (op == "u") != (v["before"] is not None):
                    problems.append("line %d: %s with a wrong before/after" % (ln, op))
                    continue
                if {k: a.get(k) for k in pks} != rec["key"]:
                    problems.append("line %d: key %s is not the after image's primary key"
                                    % (ln, short(rec["key"])))
                state[key] = a
    print("[oracle] %s: %d records (c %d, u %d, d %d), %d keys after reduction"
          % (args.table, nrec, ops["c"], ops["u"], ops["d"], len(state)))
    want = {}
    with open(args.select, encoding="utf-8", newline="\n") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) != len(cols):
                problems.append("SELECT line with %d fields, want %d" % (len(fields), len(cols)))
                continue
            row = {}
            for c, t in zip(cols, fields):
                row[c[0]] = (t, expected(c, t))
            key = json.dumps({k: row[k][1] for k in pks}, sort_keys=True)
            want[key] = row
    missing = sorted(set(want) - set(state))
    extra = sorted(set(state) - set(want))
    if args.subset:
        missing = []   # rows may be missing: the stream stopped (mariadb_hires_temporal)
    for k in missing[:5]:
        problems.append("key %s: in the table, not in the topic" % k)
    for k in extra[:5]:
        problems.append("key %s: in the topic, not in the table" % k)
    if missing or extra:
        problems.append("key sets differ: %d rows missing from the topic, %d extra (table %d, "
                        "topic %d)" % (len(missing), len(extra), len(want), len(state)))
    ndiff, ncmp, bycol = 0, 0, {}
    for key in sorted(set(want) & set(state)):
        row, got = want[key], state[key]
        if list(got) != names:
            problems.append("key %s: after has columns %s, want %s" % (key, list(got), names))
            continue
        for c in cols:
            text, w = row[c[0]]
            ncmp += 1
            if not same(c, w, got[c[0]]):
                ndiff += 1
                bycol[c[0]] = bycol.get(c[0], 0) + 1
                if bycol[c[0]] <= 3:
                    wj = w[1] if isinstance(w, tuple) else w
                    problems.append("key %s column %s %s:\n    SELECT   %s\n    expected %s\n"
                                    "    decoded  %s" % (short(key, 60), c[0], c[1], short(text),
                                                        short(wj), short(got[c[0]])))
    print("[oracle] %s: %d rows, %d values compared, %d differ" % (args.table, len(want), ncmp,
                                                                   ndiff))
    if bycol:
        print("[oracle] %s: differences by column: %s" % (args.table, ", ".join(
            "%s %d" % kv for kv in sorted(bycol.items()))))
    if len(want) < 1:
        problems.append("the table is empty")
    for p in problems[:40]:
        print("[oracle] DIFF " + p)
    if len(problems) > 40:
        print("[oracle] ... %d more" % (len(problems) - 40))
    return 1 if problems else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--seed", type=int, required=True)
    g.add_argument("--out", required=True)
    c = sub.add_parser("check")
    c.add_argument("--table", required=True, choices=sorted(TABLES))
    c.add_argument("--tail", required=True)
    c.add_argument("--select", required=True)
    c.add_argument("--subset", action="store_true",
                   help="the topic may lack rows of the table (not the reverse)")
    for x in (g, c):
        x.add_argument("--old-temporal", action="store_true",
                       help="the tables of a server with --mysql56-temporal-format=OFF")
    a = ap.parse_args()
    global OLD_TEMPORAL
    OLD_TEMPORAL = a.old_temporal
    if a.cmd == "gen":
        gen(a)
        return 0
    return check(a)


if __name__ == "__main__":
    sys.exit(main())
