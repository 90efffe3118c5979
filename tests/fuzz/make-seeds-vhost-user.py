#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Seeds and dictionary for fuzz-vhost-user (docs/security.md, "Fuzzing").

A back-end's replies are plain bytes, so they are written here rather than
by make-seeds.c (which runs tern's own savers): the input layout is
fuzz-vhost-user.c's header (mode, features, protocol features, rings
started and enabled, used indices, the operations), then the replies.

    python3 tests/fuzz/make-seeds-vhost-user.py tests/fuzz
"""
import os
import struct
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))


def hdr(req, size, flags=0x5):  # VERSION 1 | REPLY
    return struct.pack('<III', req, flags, size)


def reply(req, payload):
    return hdr(req, len(payload)) + payload


def u64(v):
    return struct.pack('<Q', v)


def head(mode, feat, proto, started, enabled, used, ops):
    return (bytes([mode]) + u64(feat) + u64(proto) + bytes([started, enabled]) +
            b''.join(struct.pack('<H', u) for u in used) + bytes([len(ops) - 1]) + bytes(ops))


def F(b):
    return 1 << b


BASE = F(32) | F(30)  # VERSION_1, PROTOCOL_FEATURES
MQ, ACK, CFG, INF, RST, SLOTS, STS = F(0), F(3), F(9), F(12), F(13), F(15), F(16)
# Operations (fuzz-vhost-user.c's operate(), op % 9; the high nibble is an
# argument): 0 negotiate, 1 rings start, 2 stop, 3 reset, 4 enable,
# 5 calls update, 6 config, 7 bases from used, 8 start.

# A start whose inflight buffer claims 1 MiB of a 4 KiB file, a reset, a
# start again (the reset used to clear the buffer through a mapping).
inflight = u64(1 << 20) + u64(0) + struct.pack('<HH', 4, 256) + b'\0' * 4
seeds = {
    'seed-inflight-reset':
        head(1 | 2, BASE, INF, 2, 2, [0, 0, 0, 0], [1, 3, 1]) + reply(31, inflight) +
        reply(11, struct.pack('<II', 0, 5)) + reply(11, struct.pack('<II', 1, 7)) +
        reply(31, inflight),
    # Negotiation (MQ, CONFIG, RESET_DEVICE, STATUS; 4 queues), a start,
    # 16 bytes of config space, a reset.
    'seed-negotiate-config':
        head(2, 0, 0, 4, 2, [1, 2, 3, 4], [0, 1, 6 | (15 << 4), 3]) + reply(1, u64(BASE)) +
        reply(15, u64(MQ | CFG | RST | STS)) + reply(17, u64(4)) +
        reply(24, struct.pack('<III', 0, 16, 0) + bytes(range(16))) +
        b''.join(reply(11, struct.pack('<II', q, 3 + q)) for q in range(4)),
    # REPLY_ACK: every request acked, the last refused.
    'seed-reply-ack':
        head(2, BASE, ACK, 1, 1, [9, 0, 0, 0], [1, 4, 2, 8]) +
        b''.join(reply(r, u64(0)) for r in [2, 8, 10, 9, 13, 14, 12, 18]) +
        reply(18, u64(1)) + reply(11, struct.pack('<II', 0, 9)),
}
os.makedirs(os.path.join(OUT, 'corpus', 'vhost-user'), exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(OUT, 'corpus', 'vhost-user', name), 'wb') as f:
        f.write(data)

NAMES = {1: 'GET_FEATURES', 2: 'SET_FEATURES', 3: 'SET_OWNER', 5: 'SET_MEM_TABLE',
         8: 'SET_VRING_NUM', 9: 'SET_VRING_ADDR', 10: 'SET_VRING_BASE', 11: 'GET_VRING_BASE',
         12: 'SET_VRING_KICK', 13: 'SET_VRING_CALL', 14: 'SET_VRING_ERR',
         15: 'GET_PROTOCOL_FEATURES', 17: 'GET_QUEUE_NUM', 18: 'SET_VRING_ENABLE',
         24: 'GET_CONFIG', 31: 'GET_INFLIGHT_FD', 32: 'SET_INFLIGHT_FD', 34: 'RESET_DEVICE',
         36: 'GET_MAX_MEM_SLOTS', 37: 'ADD_MEM_REG', 39: 'SET_STATUS'}


def esc(b):
    return ''.join('\\x%02x' % c for c in b)


lines = ['# vhost-user replies: the 12-byte header (request, flags VERSION|REPLY, size)']
for r, n in NAMES.items():
    lines.append('%s="%s"' % (n.lower(), esc(hdr(r, 24 if r == 31 else 8))))
lines.append('get_config_16="%s"' % esc(hdr(24, 28)))
lines.append('protocol_features="%s"' % esc(u64(MQ | ACK | CFG | INF | RST | SLOTS | STS)))
lines.append('features="%s"' % esc(u64(BASE)))
with open(os.path.join(OUT, 'vhost-user.dict'), 'w') as f:
    f.write('\n'.join(lines) + '\n')
