#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_kafka_request: one file per request (and a few whole
sessions), each the bytes a client sends on a connection: int32 size + request header v1
(api_key, api_version, correlation_id, client_id) [+ tags for flexible versions] + body.
Layouts: apache/kafka clients/src/main/resources/common/message/*Request.json, as served by
server/kafka_api.c, kafka_fetch.c, kafka_group.c and kafka_offsets.c.

    python3 tests/fuzz/gen_kafka_corpus.py tests/fuzz/corpus/fuzz_kafka_request
"""
import os
import struct
import sys


def i8(v): return struct.pack('>b', v)
def i16(v): return struct.pack('>h', v)
def i32(v): return struct.pack('>i', v)
def i64(v): return struct.pack('>q', v)


def s(v):
    if v is None:
        return i16(-1)
    b = v.encode()
    return i16(len(b)) + b


def byts(b): return i32(len(b)) + b


def uvar(n):
    out = b''
    while True:
        c = n & 0x7f
        n >>= 7
        if n:
            out += bytes([c | 0x80])
        else:
            return out + bytes([c])


def cs(v):
    if v is None:
        return uvar(0)
    b = v.encode()
    return uvar(len(b) + 1) + b


def frame(key, ver, corr, body, flexible=False):
    hdr = i16(key) + i16(ver) + i32(corr) + s('rdkafka')
    if flexible:
        hdr += uvar(0)
    req = hdr + body
    return i32(len(req)) + req


def arr(items): return i32(len(items)) + b''.join(items)


def requests():
    out = {}
    for v in range(0, 4):
        body = cs('librdkafka') + cs('2.0.2') + uvar(0) if v >= 3 else b''
        out['apiversions_v%d' % v] = frame(18, v, 1, body, flexible=v >= 3)
    for v in range(1, 5):
        body = arr([s('orders'), s('users'), s('nosuch')])
        if v >= 4:
            body += i8(1)
        out['metadata_v%d' % v] = frame(3, v, 2, body)
        out['metadata_all_v%d' % v] = frame(3, v, 3, i32(-1) + (i8(0) if v >= 4 else b''))
    for v in range(1, 3):
        parts = [i32(p) + i64(ts) for p, ts in ((0, -2), (1, -1), (2, 1700000050000))]
        body = i32(-1) + (i8(0) if v >= 2 else b'') + arr([s('orders') + arr(parts)])
        out['listoffsets_v%d' % v] = frame(2, v, 4, body)
    for v in range(4, 12):
        parts = []
        for p in range(4):
            e = i32(p)
            if v >= 9:
                e += i32(-1)
            e += i64(p * 3)
            if v >= 5:
                e += i64(-1)
            e += i32(1 << 20)
            parts.append(e)
        body = i32(-1) + i32(0) + i32(1) + i32(1 << 20) + i8(0)
        if v >= 7:
            body += i32(0) + i32(-1)
        body += arr([s('orders') + arr(parts), s('users') + arr([parts[0]])])
        if v >= 7:
            body += arr([])
        if v >= 11:
            body += s(None)
        out['fetch_v%d' % v] = frame(1, v, 5, body)
    for v in range(3, 8):
        body = s(None) + i16(1) + i32(1000) + arr([s('orders') + arr([i32(0) + byts(b'')])])
        out['produce_v%d' % v] = frame(0, v, 6, body)
    for v in range(0, 3):
        body = s('g1') + (i8(0) if v >= 1 else b'')
        out['findcoordinator_v%d' % v] = frame(10, v, 7, body)
    protos = arr([s('range') + byts(b'\x00\x01' + arr([s('orders')]) + byts(b'')),
                  s('roundrobin') + byts(b'\x00\x01' + arr([s('orders')]) + byts(b''))])
    for v in range(0, 6):
        body = s('g1') + i32(10000)
        if v >= 1:
            body += i32(30000)
        body += s('')
        if v >= 5:
            body += s(None)
        body += s('consumer') + protos
        out['joingroup_v%d' % v] = frame(11, v, 8, body)
    for v in range(0, 4):
        body = s('g1') + i32(1) + s('rdkafka-1-1')
        if v >= 3:
            body += s(None)
        body += arr([s('rdkafka-1-1') + byts(b'\x00\x01' + arr([s('orders') + arr([i32(0)])]) +
                                               byts(b''))])
        out['syncgroup_v%d' % v] = frame(14, v, 9, body)
    for v in range(0, 4):
        body = s('g1') + i32(1) + s('rdkafka-1-1') + (s(None) if v >= 3 else b'')
        out['heartbeat_v%d' % v] = frame(12, v, 10, body)
    for v in range(0, 4):
        if v >= 3:
            body = s('g1') + arr([s('rdkafka-1-1') + s(None)])
        else:
            body = s('g1') + s('rdkafka-1-1')
        out['leavegroup_v%d' % v] = frame(13, v, 11, body)
    for v in range(2, 8):
        body = s('g1') + i32(-1) + s('')
        if v >= 7:
            body += s(None)
        if v <= 4:
            body += i64(-1)
        pe = i32(0) + i64(5) + (i32(-1) if v >= 6 else b'') + s('meta')
        body += arr([s('orders') + arr([pe])])
        out['offsetcommit_v%d' % v] = frame(8, v, 12, body)
    for v in range(1, 6):
        body = s('g1') + arr([s('orders') + arr([i32(0), i32(1)])])
        out['offsetfetch_v%d' % v] = frame(9, v, 13, body)
        if v >= 2:
            out['offsetfetch_all_v%d' % v] = frame(9, v, 14, s('g1') + i32(-1))
    for v in range(0, 6):
        flex = v >= 5
        if flex:
            body = uvar(3) + cs('g1') + cs('nosuch') + i8(0) + uvar(0)
        else:
            body = arr([s('g1'), s('nosuch')]) + (i8(0) if v >= 3 else b'')
        out['describegroups_v%d' % v] = frame(15, v, 15, body, flexible=flex)
    for v in range(0, 5):
        flex = v >= 3
        body = b''
        if v >= 4:
            body += uvar(2) + cs('Stable')
        if flex:
            body += uvar(0)
        out['listgroups_v%d' % v] = frame(16, v, 16, body, flexible=flex)
    return out


def main():
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    reqs = requests()
    for name, b in sorted(reqs.items()):
        with open(os.path.join(d, name), 'wb') as f:
            f.write(b)
    # Whole sessions: a consumer's first requests, and a group member's life (join, commit
    # with the generation the server answered is unknown here: -1 and an empty member).
    sessions = {
        'session_consumer': ['apiversions_v3', 'metadata_v4', 'listoffsets_v2', 'fetch_v11'],
        'session_group': ['findcoordinator_v2', 'joingroup_v3', 'syncgroup_v2',
                          'heartbeat_v2', 'offsetcommit_v7', 'offsetfetch_v5', 'listgroups_v4',
                          'describegroups_v5', 'leavegroup_v3'],
    }
    for name, parts in sessions.items():
        with open(os.path.join(d, name), 'wb') as f:
            f.write(b''.join(reqs[p] for p in parts))


if __name__ == '__main__':
    main()
