"""Passphrase-protected age files for the tests that read them, written byte for byte as
age writes one (age-encryption.org/v1: one scrypt stanza, the header's MAC, the payload's
STREAM of 64 KiB chunks), at a work factor the test chooses.

age and pyrage pick the work factor that takes about a second on the machine that
protects (2**19 here: 1.5 s and 512 MiB for each scrypt). A test of what Lifeboat says
of a file it reads (wrong passphrase, damage, a byte order mark, another Unicode form)
runs one to four of them per file it opens, and the passphrase's work is not what it
asserts: the same file at 2**10 takes a millisecond. Files Lifeboat protects itself are
still made by the product (core/key_passphrase.py) in the tests of protecting.
tests/core/test_age_key_file.py proves pyrage opens what this writes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

#: Cheap, and still a work factor rage accepts on any machine (it caps only from above).
CHEAP_WORK_FACTOR = 10
_CHUNK = 64 * 1024


def _b64(data: bytes) -> bytes:
    return base64.b64encode(data).rstrip(b"=")


def _hkdf(key: bytes, salt: bytes, info: bytes) -> bytes:
    secret = hmac.new(salt, key, hashlib.sha256).digest()
    return hmac.new(secret, info + b"\x01", hashlib.sha256).digest()


def protect_cheaply(
    data: bytes,
    passphrase: str,
    work_factor: int = CHEAP_WORK_FACTOR,
    *,
    empty_last_chunk: bool = False,
) -> bytes:
    """`data` protected by `passphrase` in an age file whose scrypt costs 2**work_factor.
    `empty_last_chunk`: an empty chunk flagged last after full ones, which age never
    writes and refuses (a crafted file, sealed with the right keys)."""
    file_key, salt = os.urandom(16), os.urandom(16)
    wrap = hashlib.scrypt(
        passphrase.encode("utf-8"),
        salt=b"age-encryption.org/v1/scrypt" + salt,
        n=1 << work_factor,
        r=8,
        p=1,
        maxmem=128 * 8 * ((1 << work_factor) + 3) + (1 << 20),  # above OpenSSL's 32 MiB default
        dklen=32,
    )
    body = _b64(ChaCha20Poly1305(wrap).encrypt(bytes(12), file_key, None))
    header = (
        b"age-encryption.org/v1\n-> scrypt "
        + _b64(salt)
        + b" "
        + str(work_factor).encode()
        + b"\n"
        + body  # 43 characters: one line, shorter than 64, ends the body
        + b"\n---"
    )
    mac = hmac.new(_hkdf(file_key, b"", b"header"), header, hashlib.sha256).digest()
    nonce = os.urandom(16)
    stream = ChaCha20Poly1305(_hkdf(file_key, nonce, b"payload"))
    pieces = [data[at : at + _CHUNK] for at in range(0, len(data), _CHUNK)] or [b""]
    if empty_last_chunk:
        pieces.append(b"")
    sealed = b"".join(
        stream.encrypt(
            counter.to_bytes(11, "big") + (b"\x01" if counter == len(pieces) - 1 else b"\x00"),
            piece,
            None,
        )
        for counter, piece in enumerate(pieces)
    )
    return header + b" " + _b64(mac) + b"\n" + nonce + sealed
