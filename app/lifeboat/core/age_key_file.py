"""Why a passphrase-protected key file (an age file, scrypt stanza) did not open.

pyrage says only that decryption failed, in words that are no interface. age's structure
proves more (age-encryption.org/v1): the scrypt stanza's wrapped file key authenticates
under the key derived from the passphrase, so a stanza that unwraps proves the passphrase
right, and whatever fails after it (the header's MAC, a payload chunk's tag, a file that
ends early) is damage; a file whose every part checks is whole, whatever made pyrage refuse
it (rage's work-factor cap, measured on the spot). A stanza that does not unwrap is a wrong
passphrase (or a changed stanza, which no one can tell from it). Used in the passphrase
child process only (core/key_passphrase.py): the scrypt takes seconds, and the passphrase
and file key never leave that process.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import IntEnum

from lifeboat.core.chacha20_poly1305 import TAG_BYTES, authenticates, open_sealed

MAGIC = b"age-encryption.org/v1\n"
#: How an ASCII-armored age file (`age -a`, pyrage opens it too) begins and ends.
ARMOR_BEGIN = b"-----BEGIN AGE ENCRYPTED FILE-----"
_ARMOR_END = b"-----END AGE ENCRYPTED FILE-----"
SCRYPT_LABEL = b"age-encryption.org/v1/scrypt"
#: Above 2**20, hashlib's scrypt would need more than its 2 GiB memory cap: not checked.
MAX_CHECKED_WORK_FACTOR = 20
_BODY_COLUMNS = 64
_WORK_FACTOR = re.compile(rb"[1-9][0-9]?")
#: A payload holds at least its 16-byte nonce and one chunk's 16-byte tag.
_SMALLEST_PAYLOAD = 32
_PAYLOAD_NONCE = 16
_CHUNK = 64 * 1024
#: Payload tags are checked in plain Python (some 20 MB/s): a protected key file is a
#: few hundred bytes, and beyond this size nothing is proven (a second or so).
MAX_CHECKED_PAYLOAD = 16 << 20


class Verdict(IntEnum):
    """What is wrong with the file; the passphrase child's exit status (0 is success)."""

    WRONG_PASSPHRASE = 3
    NOT_AGE = 4
    NOT_PASSPHRASE = 5
    CUT_SHORT = 6
    HEADER_GARBLED = 7
    HEADER_FAILS = 8
    CONTENTS_FAIL = 9
    #: pyrage failed, and the stanza (or payload) was too costly to check: nothing proven
    UNPROVEN = 10
    #: pyrage failed, yet the passphrase is right and every part of the file checks: not
    #: damage (rage refuses a work factor above 16 times what it measures takes a second
    #: here, and a slow or busy machine measures little)
    WHOLE_NOT_OPENED = 11
    #: an ASCII-armored file whose armor is not base64 between its two lines
    ARMOR_GARBLED = 12


@dataclass(frozen=True)
class Stanza:
    args: list[bytes]
    body: bytes


@dataclass(frozen=True)
class Header:
    stanzas: list[Stanza]
    mac: bytes
    #: What the MAC covers: the header up to and including "---"
    mac_input: bytes
    payload: bytes


#: What a text editor (Windows Notepad, for one) may put before a file it saved
UTF8_BOM = b"\xef\xbb\xbf"


def without_bom(data: bytes) -> bytes:
    """`data` without a leading UTF-8 byte order mark. Taking it away is safe: what then
    opens with the passphrase is proven by age's MACs to be exactly what was written."""
    return data.removeprefix(UTF8_BOM)


#: How many of a file's first bytes is_protected_file needs to tell
PROTECTED_HEAD_BYTES = len(UTF8_BOM) + len(ARMOR_BEGIN)


def is_protected_file(head: bytes) -> bool:
    """Whether a file beginning with `head` is an age file, binary or ASCII-armored
    (after a byte order mark an editor may have added)."""
    return without_bom(head).startswith((MAGIC[:-1], ARMOR_BEGIN))


def _dearmored(data: bytes) -> bytes | Verdict:
    """The binary age file an armored one holds (CRLF and whitespace around it allowed,
    as pyrage allows them)."""
    lines = [line.rstrip(b"\r") for line in data.strip().split(b"\n")]
    if len(lines) < 2 or lines[-1] != _ARMOR_END:
        return Verdict.CUT_SHORT
    try:
        return base64.b64decode(b"".join(lines[1:-1]), validate=True)
    except (binascii.Error, ValueError):
        return Verdict.ARMOR_GARBLED


def _b64(text: bytes) -> bytes | None:
    """age's base64: standard alphabet, no padding."""
    try:
        return base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _line(data: bytes, at: int) -> tuple[bytes, int] | None:
    end = data.find(b"\n", at)
    return None if end < 0 else (data[at:end], end + 1)


def _body(data: bytes, at: int) -> tuple[bytes, int] | Verdict:
    """A stanza's body: full 64-column lines, ended by a shorter (maybe empty) one."""
    encoded = b""
    while True:
        got = _line(data, at)
        if got is None:
            return Verdict.CUT_SHORT
        line, at = got
        encoded += line
        if len(line) < _BODY_COLUMNS:
            decoded = _b64(encoded)
            return Verdict.HEADER_GARBLED if decoded is None else (decoded, at)
        if len(line) > _BODY_COLUMNS:
            return Verdict.HEADER_GARBLED


def parse_header(data: bytes) -> Header | Verdict:
    """The header's stanzas and MAC, or what makes it no (whole) age header."""
    if not data.startswith(MAGIC):
        # age writes no carriage return in a binary header: one there means the file
        # went through a text conversion (an editor, mail), which also changes any
        # line feed of the payload: damage, not another kind of file
        return Verdict.HEADER_GARBLED if data.startswith(MAGIC[:-1] + b"\r") else Verdict.NOT_AGE
    at, stanzas = len(MAGIC), list[Stanza]()
    while True:
        got = _line(data, at)
        if got is None:
            return Verdict.CUT_SHORT
        line, after = got
        if line.startswith(b"--- "):
            mac = _b64(line[4:])
            if mac is None or len(mac) != 32:
                return Verdict.HEADER_GARBLED
            return Header(stanzas, mac, data[: at + 3], data[after:])
        if not line.startswith(b"-> ") or not line.isascii():
            return Verdict.HEADER_GARBLED
        body = _body(data, after)
        if isinstance(body, Verdict):
            return body
        stanzas.append(Stanza(line[3:].split(b" "), body[0]))
        at = body[1]


def scrypt_stanza(data: bytes) -> Stanza | Verdict:
    """The file's one scrypt stanza, checked as age checks it, before any scrypt."""
    header = parse_header(data)
    if isinstance(header, Verdict):
        return header
    scrypts = [s for s in header.stanzas if s.args[:1] == [b"scrypt"]]
    if not scrypts:
        return Verdict.NOT_PASSPHRASE  # e.g. a backup file, encrypted to a key
    stanza = scrypts[0]
    # age allows no other stanza beside a scrypt one
    if len(header.stanzas) != 1 or len(stanza.args) != 3 or len(stanza.body) != 32:
        return Verdict.HEADER_GARBLED
    salt = _b64(stanza.args[1])
    if salt is None or len(salt) != 16 or not _WORK_FACTOR.fullmatch(stanza.args[2]):
        return Verdict.HEADER_GARBLED
    return stanza


def _hkdf_sha256(key: bytes, salt: bytes, info: bytes) -> bytes:
    """HKDF-SHA-256 (RFC 5869), its first 32 bytes; an empty salt is HMAC's zero key."""
    secret = hmac.new(salt, key, hashlib.sha256).digest()
    return hmac.new(secret, info + b"\x01", hashlib.sha256).digest()


def _unwrap(stanza: Stanza, passphrase: bytes) -> bytes | None:
    """The file key, if the passphrase's key authenticates the stanza's body."""
    salt = _b64(stanza.args[1]) or b""
    cost = 1 << int(stanza.args[2])
    key = hashlib.scrypt(
        passphrase,
        salt=SCRYPT_LABEL + salt,
        n=cost,
        r=8,
        p=1,
        maxmem=128 * 8 * (cost + 3) + (1 << 20),  # what OpenSSL's scrypt asks, and a margin
        dklen=32,
    )
    return open_sealed(key, bytes(12), stanza.body)


def why_not_opened(data: bytes, passphrase: bytes) -> Verdict:
    """Why age (pyrage) failed to open `data` with `passphrase`: only a stanza that does
    not unwrap says the passphrase is wrong; one that does proves any later fault damage."""
    if data.startswith(ARMOR_BEGIN):
        binary = _dearmored(data)
        if isinstance(binary, Verdict):
            return binary
        data = binary
    stanza = scrypt_stanza(data)
    if isinstance(stanza, Verdict):
        return stanza
    if int(stanza.args[2]) > MAX_CHECKED_WORK_FACTOR:
        return Verdict.UNPROVEN
    try:
        file_key = _unwrap(stanza, passphrase)
    except (ValueError, MemoryError):  # the scrypt refused (memory): nothing proven
        return Verdict.UNPROVEN
    if file_key is None:
        return Verdict.WRONG_PASSPHRASE
    header = parse_header(data)
    assert isinstance(header, Header)  # scrypt_stanza parsed it
    mac_key = _hkdf_sha256(file_key, b"", b"header")
    mac = hmac.new(mac_key, header.mac_input, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, header.mac):
        return Verdict.HEADER_FAILS
    if len(header.payload) < _SMALLEST_PAYLOAD:
        return Verdict.CUT_SHORT
    if len(header.payload) > MAX_CHECKED_PAYLOAD:
        return Verdict.UNPROVEN
    if not _payload_whole(file_key, header.payload):
        return Verdict.CONTENTS_FAIL
    return Verdict.WHOLE_NOT_OPENED


def _payload_whole(file_key: bytes, payload: bytes) -> bool:
    """Whether every chunk of the payload's STREAM authenticates, in order, the last
    flagged last, and is empty only when it is the only one (age's rule: a file of
    whole chunks ends with a full one): the header's MAC proves nothing of it, so only
    this proves damage."""
    nonce, chunks = payload[:_PAYLOAD_NONCE], payload[_PAYLOAD_NONCE:]
    key = _hkdf_sha256(file_key, nonce, b"payload")
    sealed_size = _CHUNK + TAG_BYTES
    for counter, at in enumerate(range(0, len(chunks), sealed_size)):
        last = at + sealed_size >= len(chunks)
        if last and counter > 0 and len(chunks) - at == TAG_BYTES:
            return False
        chunk_nonce = counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")
        if not authenticates(key, chunk_nonce, chunks[at : at + sealed_size]):
            return False
    return True
