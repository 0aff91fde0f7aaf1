"""ChaCha20-Poly1305 (RFC 8439) opening of a few bytes, in pure Python.

Only for telling a damaged passphrase-protected key file from a wrong passphrase
(core/age_key_file.py): it opens the 32-byte wrapped file key of an age scrypt stanza,
which pyrage does not expose, and checks the payload chunks' tags (decrypting none). No
library this project depends on on every platform offers the cipher (`cryptography`
comes with SecretStorage on Linux only), and 32 bytes are two ChaCha20 blocks: fast
enough in Python. What a key file holds is still opened by pyrage alone.
"""

from __future__ import annotations

import hmac
import struct

_MASK = 0xFFFFFFFF
_SIGMA = (0x61707865, 0x3320646E, 0x79622D32, 0x6B206574)  # "expand 32-byte k"
#: The column then diagonal quarter rounds of a double round.
_ROUNDS = (
    (0, 4, 8, 12),
    (1, 5, 9, 13),
    (2, 6, 10, 14),
    (3, 7, 11, 15),
    (0, 5, 10, 15),
    (1, 6, 11, 12),
    (2, 7, 8, 13),
    (3, 4, 9, 14),
)
_P1305 = (1 << 130) - 5
_CLAMP = 0x0FFFFFFC0FFFFFFC0FFFFFFC0FFFFFFF
TAG_BYTES = 16


def _rotl(value: int, bits: int) -> int:
    return ((value << bits) & _MASK) | (value >> (32 - bits))


def _block(key: bytes, counter: int, nonce: bytes) -> bytes:
    """One 64-byte ChaCha20 key stream block (RFC 8439 2.3)."""
    start = [*_SIGMA, *struct.unpack("<8I", key), counter, *struct.unpack("<3I", nonce)]
    s = list(start)
    for _ in range(10):
        for a, b, c, d in _ROUNDS:
            s[a] = (s[a] + s[b]) & _MASK
            s[d] = _rotl(s[d] ^ s[a], 16)
            s[c] = (s[c] + s[d]) & _MASK
            s[b] = _rotl(s[b] ^ s[c], 12)
            s[a] = (s[a] + s[b]) & _MASK
            s[d] = _rotl(s[d] ^ s[a], 8)
            s[c] = (s[c] + s[d]) & _MASK
            s[b] = _rotl(s[b] ^ s[c], 7)
    return struct.pack("<16I", *((x + y) & _MASK for x, y in zip(s, start, strict=True)))


def _poly1305(key: bytes, message: bytes) -> bytes:
    """The one-time authenticator of `message` (RFC 8439 2.5)."""
    r = int.from_bytes(key[:16], "little") & _CLAMP
    s = int.from_bytes(key[16:32], "little")
    acc = 0
    for at in range(0, len(message), 16):
        acc = (acc + int.from_bytes(message[at : at + 16] + b"\x01", "little")) * r % _P1305
    return ((acc + s) & ((1 << 128) - 1)).to_bytes(16, "little")


def _pad16(data: bytes) -> bytes:
    return b"\x00" * (-len(data) % 16)


def authenticates(key: bytes, nonce: bytes, sealed: bytes, aad: bytes = b"") -> bool:
    """Whether `sealed` (ciphertext then tag) authenticates under `key`, decrypting
    nothing: one ChaCha20 block and Poly1305 over it (some 20 MB/s)."""
    if len(key) != 32 or len(nonce) != 12 or len(sealed) < TAG_BYTES:
        return False
    text, tag = sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]
    one_time_key = _block(key, 0, nonce)[:32]
    lengths = struct.pack("<QQ", len(aad), len(text))
    mac = _poly1305(one_time_key, aad + _pad16(aad) + text + _pad16(text) + lengths)
    return hmac.compare_digest(mac, tag)


def open_sealed(key: bytes, nonce: bytes, sealed: bytes, aad: bytes = b"") -> bytes | None:
    """The plaintext of `sealed` (ciphertext then tag), or None if it does not
    authenticate under `key` (RFC 8439 2.8: nothing is decrypted before the tag checks)."""
    if not authenticates(key, nonce, sealed, aad):
        return None
    text = sealed[:-TAG_BYTES]
    plain = bytearray()
    for at in range(0, len(text), 64):
        stream = _block(key, 1 + at // 64, nonce)
        plain += bytes(x ^ y for x, y in zip(text[at : at + 64], stream, strict=False))
    return bytes(plain)
