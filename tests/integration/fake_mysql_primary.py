#!/usr/bin/env python3
"""A fake MySQL 8 primary for tests (test-only: never installed). Python stdlib only.

It speaks enough of the MySQL client/server protocol for rowlog's replication connection and
its primary poller (MySQL Internals manual "Client/Server Protocol"; mysql-server
sql/rpl_source.cc for the dump commands):

  * handshake v10 with mysql_native_password (any password is accepted; the user name is
    checked: a wrong one gets error 1045);
  * COM_QUERY with text result sets for the queries rowlog issues (SELECT VERSION(),
    @@global.binlog_format, binlog_row_metadata, binlog_checksum, gtid_executed, server_id,
    SHOW MASTER STATUS / SHOW BINARY LOG STATUS, SHOW BINARY LOGS); SET statements succeed
    and @master_heartbeat_period / @source_heartbeat_period set the heartbeat period. Unlike
    a real primary, the "current position" it reports is the start of the first file (and
    @@gtid_executed is --gtid-executed, empty by default), so that a replica starting
    without a position captures every file;
  * COM_REGISTER_SLAVE, COM_PING, COM_QUIT;
  * COM_BINLOG_DUMP (file, pos) and COM_BINLOG_DUMP_GTID (the executed set, untagged or
    tagged encoding): serves the events of the given binlog files as one primary's binlog
    sequence, as MySQL's Binlog_sender does: for each file a fake ROTATE (artificial, log_pos
    0), then the file's events (the FORMAT_DESCRIPTION with log_pos 0 when the dump starts
    past it), skipping every transaction whose GTID is in the requested set; after the last
    file it sends a HEARTBEAT every period (or closes with --close-at-end).

Test controls:
  --control FILE   read every 0.1 s; a line "limit N" lets the fake send transactions 0..N-1
                   only (transactions are numbered over all files in order, from each GTID
                   event), "partial P" then sends the first P events of transaction N as
                   well, "close K" drops the dump connections numbered K or less (dumps
                   are numbered from 1 in the order they arrive) the next time they wait,
                   "limit all" lifts the limit. Missing file: no limit.
  --status FILE    the fake writes "blocked N" when it waits at transaction N, "done" after
                   the last event of the last file, and "dumps K" (connections that sent a
                   dump command so far).
  --port-file F    the listening port is written there (use --port 0).
"""
import argparse
import os
import socket
import socketserver
import struct
import sys
import threading
import time
import zlib

ARTIFICIAL = 0x20
T_ROTATE, T_FDE, T_STOP, T_HEARTBEAT = 4, 15, 3, 27
T_GTID, T_ANON_GTID, T_PREV_GTIDS, T_GTID_TAGGED = 33, 34, 35, 42


def lenenc_int(n):
    if n < 251:
        return bytes([n])
    if n < 1 << 16:
        return b"\xfc" + struct.pack("<H", n)
    if n < 1 << 24:
        return b"\xfd" + struct.pack("<I", n)[:3]
    return b"\xfe" + struct.pack("<Q", n)


def lenenc_str(b):
    return lenenc_int(len(b)) + b


# ---------------------------------------------------------------- binlog model


def varlen(data, p):
    """mysql serialization varlen unsigned (libs/mysql/serialization)."""
    b = data[p]
    n = 1
    while n < 9 and (b >> (n - 1)) & 1:
        n += 1
    if n == 9:
        return struct.unpack_from("<Q", data, p + 1)[0], p + 9
    v = int.from_bytes(data[p:p + n], "little") >> n
    return v, p + n


def gtid_of(ev):
    """(uuid bytes, tag, gno) of a GTID or GTID_TAGGED event, None for an anonymous one."""
    t = ev[4]
    body = ev[19:]
    if t == T_GTID:
        return (bytes(body[1:17]), "", struct.unpack_from("<q", body, 17)[0])
    if t == T_GTID_TAGGED:
        p = 0
        _, p = varlen(body, p)  # format version
        size, p = varlen(body, p)
        _, p = varlen(body, p)  # last non-ignorable field
        uuid, tag, gno = b"", "", 0
        while p < size:
            fid, p = varlen(body, p)
            if fid == 0:
                _, p = varlen(body, p)
            elif fid == 1:
                u = bytearray()
                for _ in range(16):
                    v, p = varlen(body, p)
                    u.append(v)
                uuid = bytes(u)
            elif fid == 2:
                v, p = varlen(body, p)
                gno = (v >> 1) ^ -(v & 1)
            elif fid == 3:
                n, p = varlen(body, p)
                tag = body[p:p + n].decode().lower()
                p += n
            else:
                break
        return (uuid, tag, gno)
    return None


class Binlog:
    """One binlog file: its events and their transaction numbers."""

    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)
        data = open(path, "rb").read()
        assert data[:4] == b"\xfebin", path
        self.data = data
        self.events = []  # (offset, bytes)
        p = 4
        while p + 19 <= len(data):
            size = struct.unpack_from("<I", data, p + 9)[0]
            self.events.append((p, data[p:p + size]))
            p += size
        self.server_id = struct.unpack_from("<I", self.events[0][1], 5)[0]


def number_transactions(files):
    """Per file, per event: the transaction index (or None outside transactions) and, at
    transaction starts, the GTID. Transactions run from a GTID event to the next one or to
    the end of the file's events that are not FDE/ROTATE/STOP/PREVIOUS_GTIDS."""
    n = 0
    for f in files:
        f.txn = []
        cur = None
        for _, ev in f.events:
            t = ev[4]
            if t in (T_GTID, T_ANON_GTID, T_GTID_TAGGED):
                cur = n
                n += 1
                f.txn.append((cur, gtid_of(ev)))
            elif t in (T_FDE, T_ROTATE, T_STOP, T_PREV_GTIDS):
                cur = None
                f.txn.append((None, None))
            else:
                f.txn.append((cur, None))
    return n


def decode_gtid_set(data):
    """The binary GTID set of COM_BINLOG_DUMP_GTID -> {(uuid, tag): [(start, end)]}."""
    word = struct.unpack_from("<Q", data, 0)[0]
    fmt = word >> 56
    n = word if fmt == 0 else (word >> 8) & 0xFFFFFFFFFFFF
    p = 8
    out = {}
    for _ in range(n):
        uuid = bytes(data[p:p + 16])
        p += 16
        tag = ""
        if fmt == 1:
            tl, p = varlen(data, p)
            tag = data[p:p + tl].decode()
            p += tl
        niv = struct.unpack_from("<Q", data, p)[0]
        p += 8
        ivs = []
        for _ in range(niv):
            s, e = struct.unpack_from("<qq", data, p)
            p += 16
            ivs.append((s, e))
        out.setdefault((uuid, tag), []).extend(ivs)
    assert p == len(data), "trailing bytes in the GTID set"
    return out


def gtid_in(gset, gtid):
    uuid, tag, gno = gtid
    return any(s <= gno < e for s, e in gset.get((uuid, tag), ()))


def with_crc(ev, crc):
    """Event bytes with a fresh CRC32 in the last 4 bytes (crc: the event carries one)."""
    if not crc:
        return bytes(ev)
    body = bytes(ev[:-4])
    return body + struct.pack("<I", zlib.crc32(body) & 0xFFFFFFFF)


def make_event(etype, server_id, body, log_pos, flags, crc):
    size = 19 + len(body) + (4 if crc else 0)
    ev = struct.pack("<IBIIIH", 0, etype, server_id, size, log_pos, flags) + body
    if crc:
        ev += struct.pack("<I", zlib.crc32(ev) & 0xFFFFFFFF)
    return ev


# ---------------------------------------------------------------- server


class Stop(Exception):
    pass


class State:
    def __init__(self, args):
        self.args = args
        self.files = [Binlog(p) for p in args.binlog]
        self.ntxn = number_transactions(self.files)
        fde = self.files[0].events[0][1]
        self.crc = fde[-5] == 1
        self.server_id = self.files[0].server_id
        self.lock = threading.Lock()
        self.dumps = 0
        self.status_text = ""

    def control(self):
        limit, partial, close = None, 0, 0
        try:
            with open(self.args.control) as f:
                for line in f:
                    w = line.split()
                    if not w:
                        continue
                    if w[0] == "limit":
                        limit = None if w[1] == "all" else int(w[1])
                    elif w[0] == "partial":
                        partial = int(w[1])
                    elif w[0] == "close":
                        close = int(w[1])
        except (OSError, TypeError):
            pass
        return limit, partial, close

    def status(self, text):
        if not self.args.status or text == self.status_text:
            return
        self.status_text = text
        tmp = self.args.status + ".tmp"
        with open(tmp, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, self.args.status)


class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        self.st = self.server.state
        self.seq = 0
        self.heartbeat_ns = 1_000_000_000
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- packets
    def recv_exact(self, n):
        b = b""
        while len(b) < n:
            c = self.request.recv(n - len(b))
            if not c:
                raise Stop()
            b += c
        return b

    def read_packet(self):
        h = self.recv_exact(4)
        n = h[0] | h[1] << 8 | h[2] << 16
        self.seq = (h[3] + 1) & 0xFF
        return self.recv_exact(n)

    def send(self, payload):
        out = b""
        while True:
            chunk = payload[:0xFFFFFF]
            payload = payload[0xFFFFFF:]
            out += struct.pack("<I", len(chunk))[:3] + bytes([self.seq]) + chunk
            self.seq = (self.seq + 1) & 0xFF
            if len(chunk) < 0xFFFFFF:
                break
        self.request.sendall(out)

    def ok(self):
        self.send(b"\x00\x00\x00\x02\x00\x00\x00")

    def err(self, code, msg, state=b"HY000"):
        self.send(b"\xff" + struct.pack("<H", code) + b"#" + state + msg.encode())

    def eof(self):
        self.send(b"\xfe\x00\x00\x02\x00")

    def resultset(self, names, rows):
        self.send(lenenc_int(len(names)))
        for n in names:
            col = (lenenc_str(b"def") + lenenc_str(b"") + lenenc_str(b"") + lenenc_str(b"") +
                   lenenc_str(n.encode()) + lenenc_str(n.encode()) + b"\x0c" +
                   struct.pack("<HIBHB", 45, 1024, 253, 0, 0) + b"\x00\x00")
            self.send(col)
        self.eof()
        for r in rows:
            self.send(b"".join(b"\xfb" if v is None else lenenc_str(str(v).encode())
                               for v in r))
        self.eof()

    # -- session
    def handle(self):
        try:
            self.handshake()
            while True:
                self.seq = 0
                pkt = self.read_packet()
                cmd = pkt[0]
                if cmd == 0x01:  # COM_QUIT
                    return
                if cmd == 0x03:
                    self.query(pkt[1:].decode("utf-8", "replace"))
                elif cmd == 0x0E:  # COM_PING
                    self.ok()
                elif cmd == 0x15:  # COM_REGISTER_SLAVE
                    self.ok()
                elif cmd == 0x12:  # COM_BINLOG_DUMP
                    pos, _flags, _sid = struct.unpack_from("<IHI", pkt, 1)
                    self.dump(pkt[11:].decode(), pos, None)
                    return
                elif cmd == 0x1E:  # COM_BINLOG_DUMP_GTID
                    _flags, _sid, nlen = struct.unpack_from("<HII", pkt, 1)
                    name = pkt[11:11 + nlen].decode()
                    p = 11 + nlen
                    pos, dlen = struct.unpack_from("<QI", pkt, p)
                    data = pkt[p + 12:p + 12 + dlen]
                    self.dump(name, pos, decode_gtid_set(data))
                    return
                else:
                    self.err(1047, "Unknown command")
        except (Stop, ConnectionError, BrokenPipeError):
            return

    def handshake(self):
        salt = os.urandom(20)
        salt = bytes(b % 94 + 33 for b in salt)
        caps = (0x1 | 0x4 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x10000 | 0x20000 | 0x80000 |
                0x100000 | 0x200000)
        hs = (b"\x0a" + self.st.args.version.encode() + b"\x00" + struct.pack("<I", 7) +
              salt[:8] + b"\x00" + struct.pack("<H", caps & 0xFFFF) + bytes([45]) +
              struct.pack("<H", 2) + struct.pack("<H", caps >> 16) + bytes([21]) +
              b"\x00" * 10 + salt[8:] + b"\x00" + b"mysql_native_password\x00")
        self.send(hs)
        resp = self.read_packet()
        ccaps = struct.unpack_from("<I", resp, 0)[0]
        p = 32
        end = resp.index(b"\x00", p)
        user = resp[p:end].decode()
        p = end + 1
        if ccaps & 0x200000:
            n = resp[p]  # lenenc: auth responses are short
            p += 1 + n
        else:
            n = resp[p]
            p += 1 + n
        plugin = b""
        if ccaps & 0x8 and p < len(resp):
            end = resp.index(b"\x00", p)
            p = end + 1
        if ccaps & 0x80000 and p < len(resp):
            end = resp.index(b"\x00", p)
            plugin = resp[p:end]
        if user != self.st.args.user:
            self.err(1045, f"Access denied for user '{user}'@'localhost' (using password: YES)",
                     b"28000")
            raise Stop()
        if plugin and plugin != b"mysql_native_password":
            # Auth switch to the plugin announced (the client answers with a scramble).
            self.send(b"\xfe" + b"mysql_native_password\x00" + salt + b"\x00")
            self.read_packet()
        self.ok()

    def select_value(self, expr):
        e = expr.strip().lower().replace("@@global.", "@@").replace("@@session.", "@@")
        a = self.st.args
        values = {
            "version()": a.version,
            "@@version": a.version,
            "@@server_id": str(self.st.server_id),
            "@@binlog_format": "ROW",
            "@@binlog_row_metadata": "FULL",
            "@@binlog_row_image": "FULL",
            "@@binlog_checksum": "CRC32" if self.st.crc else "NONE",
            "@@gtid_executed": a.gtid_executed,
            "@@gtid_mode": "ON",
            "@@server_uuid": "00000000-0000-0000-0000-0000000000ff",
        }
        return values.get(e)

    def query(self, sql):
        q = " ".join(sql.strip().rstrip(";").split())
        ql = q.lower()
        if ql.startswith("set "):
            for part in q[4:].split(","):
                if "=" in part:
                    k, v = part.split("=", 1)
                    if k.strip().lower() in ("@master_heartbeat_period",
                                             "@source_heartbeat_period"):
                        try:
                            self.heartbeat_ns = max(int(v.strip()), 10_000_000)
                        except ValueError:
                            pass
            self.ok()
        elif ql in ("show master status", "show binary log status"):
            f = self.st.files[0]
            self.resultset(["File", "Position", "Binlog_Do_DB", "Binlog_Ignore_DB",
                            "Executed_Gtid_Set"],
                           [[f.name, 4, "", "", self.st.args.gtid_executed]])
        elif ql == "show binary logs":
            self.resultset(["Log_name", "File_size", "Encrypted"],
                           [[f.name, len(f.data), "No"] for f in self.st.files])
        elif ql.startswith("select "):
            exprs = [x for x in q[7:].split(",")]
            self.resultset([x.strip() for x in exprs], [[self.select_value(x) for x in exprs]])
        else:
            self.err(1064, f"fake primary: unsupported statement '{q[:80]}'", b"42000")

    # -- dump
    def send_event(self, ev):
        self.send(b"\x00" + ev)

    def wait_tick(self, last_pos, name):
        """Sleeps a little; sends a heartbeat when a period has passed. Raises Stop on a close
        request."""
        time.sleep(0.05)
        now = time.monotonic_ns()
        if now - self.last_send_ns >= self.heartbeat_ns:
            self.send_event(make_event(T_HEARTBEAT, self.st.server_id, name.encode(), last_pos,
                                       ARTIFICIAL, self.st.crc))
            self.last_send_ns = now
        _, _, close = self.st.control()
        if self.dump_no <= close:
            raise Stop()

    def dump(self, name, pos, gset):
        st = self.st
        with st.lock:
            st.dumps += 1
            self.dump_no = st.dumps
            st.status(f"dumps {st.dumps}")
        self.last_send_ns = time.monotonic_ns()
        names = [f.name for f in st.files]
        if gset is not None or not name:
            first, pos = 0, 4
        elif name in names:
            first = names.index(name)
        else:
            self.err(1236, f"Could not find first log file name in binary log index file "
                           f"('{name}')")
            return
        sent_in_txn = {}  # txn index -> events sent of it
        for fi in range(first, len(st.files)):
            f = st.files[fi]
            start = pos if fi == first else 4
            self.send_event(make_event(T_ROTATE, st.server_id,
                                       struct.pack("<Q", start) + f.name.encode(), 0,
                                       ARTIFICIAL, st.crc))
            skip_txn = None
            last_pos = start
            for k, (off, ev) in enumerate(f.events):
                txn, gtid = f.txn[k]
                t = ev[4]
                if t == T_FDE:
                    if start > 4:  # not at the file start: log_pos 0, as MySQL sends it
                        ev = with_crc(bytearray(ev[:13]) + b"\x00\x00\x00\x00" + ev[17:],
                                      True)
                    self.send_event(ev)
                    continue
                if off < start:
                    continue
                if txn is not None and gtid is not None:  # a transaction starts here
                    skip_txn = txn if gset is not None and gtid_in(gset, gtid) else None
                if txn is not None and txn == skip_txn:
                    continue
                if txn is not None:
                    while True:
                        limit, partial, _ = st.control()
                        done = sent_in_txn.get(txn, 0)
                        if limit is None or txn < limit or (txn == limit and done < partial):
                            break
                        st.status(f"blocked {txn}")
                        self.wait_tick(last_pos, f.name)
                    sent_in_txn[txn] = sent_in_txn.get(txn, 0) + 1
                self.send_event(ev)
                self.last_send_ns = time.monotonic_ns()
                last_pos = off + len(ev)
        st.status("done")
        if st.args.close_at_end:
            return
        while True:
            self.wait_tick(last_pos, st.files[-1].name)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--user", default="repl")
    ap.add_argument("--version", default="8.0.36-fake")
    ap.add_argument("--gtid-executed", default="",
                    help="@@global.gtid_executed and SHOW MASTER STATUS's set")
    ap.add_argument("--control")
    ap.add_argument("--status")
    ap.add_argument("--close-at-end", action="store_true")
    ap.add_argument("binlog", nargs="+")
    args = ap.parse_args()
    state = Server.state = State(args)
    srv = Server(("127.0.0.1", args.port), Handler)
    srv.state = state
    port = srv.server_address[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(f"{port}\n")
        os.replace(args.port_file + ".tmp", args.port_file)
    print(f"fake MySQL primary on 127.0.0.1:{port}: {len(state.files)} binlogs, "
          f"{state.ntxn} transactions", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
