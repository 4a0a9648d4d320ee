#!/usr/bin/env python3
"""Independent computation of the cookie known-answer values (formats 2 and 3) that
session-core/src/cookie/tests.rs pins: HKDF and HMAC from the standard library, AES-SIV from
OpenSSL through `cryptography` (`pip install cryptography`). Run: python3 scripts/cookie_kat.py"""
import base64, hashlib, hmac, struct
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

def hkdf(ikm, info, length):
    prk = hmac.new(b"\0" * 32, ikm, hashlib.sha256).digest()
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t; i += 1
    return out[:length]

master = bytes(range(32))
siv_key = hkdf(master, b"session-kit cookie v1: aes-256-siv key", 64)
mac_key = hkdf(master, b"session-kit cookie v1: hmac-sha256 key", 64)
key_id = hkdf(master, b"session-kit cookie v1: key id", 4)
print("key id", key_id.hex())
name = b"app"
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
T0 = 1_700_000_000_000
MINUTE = 60_000

def varint(v):
    out = b""
    while v >= 0x80:
        out += bytes([v & 0x7f | 0x80]); v >>= 7
    return out + bytes([v])

# ---- v2 (postcard record, as in the existing tests)
rec_v2 = bytes.fromhex("80d095ffbc31" "01c0be8380bd31" "00" "00" "80d095ffbc31" "00" "01" "07757365725f6964" "012a" "00")
hdr = bytes([0x21]) + key_id + struct.pack(">Q", T0 + 30 * MINUTE)
nonce = bytes(0xf0 | i for i in range(16))
bind = struct.pack(">Q", len(name)) + name + hdr
sivct = AESSIV(siv_key).encrypt(rec_v2, [bind, nonce])
print("v2 sealed", b64(hdr + nonce + sivct[:16] + sivct[16:]))
hdr = bytes([0x22]) + key_id + struct.pack(">Q", T0 + 30 * MINUTE)
bind = struct.pack(">Q", len(name)) + name + hdr
print("v2 signed", b64(hdr + rec_v2 + hmac.new(mac_key, bind + rec_v2, hashlib.sha256).digest()))

# ---- v3
def tag(k):
    M = (1 << 64) - 1
    h = 0xcbf29ce484222325
    for b in k.encode():
        h ^= b; h = (h * 0x100000001b3) & M
    h ^= h >> 33; h = (h * 0xff51afd7ed558ccd) & M; h ^= h >> 33; h = (h * 0xc4ceb9fe1a85ec53) & M; h ^= h >> 33
    return (h >> 32) % 0xffff + 1

HAS_IDLE = 1 << 1
word = (HAS_IDLE << 43) | T0
payload = word.to_bytes(6, "big")
payload += varint(30 << 2 | 2)                    # idle: 30 minutes after the last activity
payload += struct.pack(">H", tag("user_id")) + varint(1 << 1) + bytes([42])
print("v3 payload", payload.hex())
hint = key_id[0] & 7
nonce = bytes([0xa5])
header = bytes([0x30 | hint])
bind = struct.pack(">Q", len(name)) + name + key_id + header + nonce
sivct = AESSIV(siv_key).encrypt(payload, [bind])
print("v3 sealed", b64(header + nonce + sivct[:16] + sivct[16:]))
header = bytes([0x38 | hint])
bind = struct.pack(">Q", len(name)) + name + key_id + header
print("v3 signed", b64(header + payload + hmac.new(mac_key, bind + payload, hashlib.sha256).digest()[:16]))
