"""A protected key file that does not open says why (core/age_key_file.py, through the
passphrase child of core/key_passphrase.py): "damaged" only when age's structure proves
it (the scrypt stanza unwraps with the passphrase, and something after it fails), so no
one retries passphrases on a damaged file; a wrong passphrase still says to check it.

Real age files, real damage: `protected` is what `lifeboat key export` writes (pyrage, at
the work factor it measures: seconds of scrypt for each opening); `cheap` is the same
file at a small work factor (tests/helpers/age_files.py), for the tests of what is said
of a file read, which open it many times."""

from __future__ import annotations

import base64
import os
import unicodedata
from pathlib import Path

import pyrage
import pytest

from lifeboat.core.age_key_file import (
    UTF8_BOM,
    Verdict,
    is_protected_file,
    parse_header,
    scrypt_stanza,
    why_not_opened,
)
from lifeboat.core.chacha20_poly1305 import open_sealed
from lifeboat.core.encryption import generate_identity, identity_file_text, read_identity_file
from lifeboat.core.key_passphrase import open_with_passphrase, protect_with_passphrase
from lifeboat.foundation.errors import LifeboatError
from tests.conftest import cli_process
from tests.helpers.age_files import CHEAP_WORK_FACTOR, protect_cheaply

SECRET = b"AGE-SECRET-KEY-1 is what such a file holds\n"
PASSPHRASE = "correct horse battery staple"
DAMAGED = "this key file is damaged: "
ANOTHER_COPY = "use another copy of the recovery key"
#: Makes a process measure its time 10,000 times too long (Debian's `faketime` package)
FAKETIME_LIBRARY = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


@pytest.fixture(scope="module")
def protected() -> bytes:
    return protect_with_passphrase(SECRET, PASSPHRASE)


@pytest.fixture(scope="module")
def cheap() -> bytes:
    return protect_cheaply(SECRET, PASSPHRASE)


def _mac_line(data: bytes) -> int:
    return data.index(b"\n--- ") + 1


def _payload(data: bytes) -> int:
    return data.index(b"\n", _mac_line(data)) + 1


def flip_payload_byte(data: bytes) -> bytes:
    changed = bytearray(data)
    changed[-5] ^= 0x01
    return bytes(changed)


def flip_header_mac(data: bytes) -> bytes:
    """One character of the MAC's base64 changed: still a well-formed header."""
    at = _mac_line(data) + len(b"--- ") + 5
    changed = bytearray(data)
    changed[at] = ord("A") if changed[at] != ord("A") else ord("B")
    return bytes(changed)


def _refusal(data: bytes, passphrase: str = PASSPHRASE) -> LifeboatError:
    with pytest.raises(LifeboatError) as raised:
        open_with_passphrase(data, passphrase)
    said = f"{raised.value.message} {raised.value.hint}"
    assert passphrase not in said and "\n" not in said
    return raised.value


def test_a_wrong_passphrase_says_to_check_it(cheap: bytes):
    refused = _refusal(cheap, "not the passphrase at all")
    assert refused.message == "the passphrase does not open this key file"
    assert refused.hint == "check the passphrase"


def test_a_flipped_payload_byte_is_damage_not_a_wrong_passphrase(cheap: bytes):
    refused = _refusal(flip_payload_byte(cheap))
    assert refused.message == (
        DAMAGED + "the passphrase is right, but its contents were changed or cut short"
    )
    assert refused.hint == ANOTHER_COPY


def test_a_flipped_header_mac_is_damage(cheap: bytes):
    refused = _refusal(flip_header_mac(cheap))
    assert refused.message == DAMAGED + "the passphrase is right, but its header fails its check"
    assert refused.hint == ANOTHER_COPY


def test_a_file_cut_short_is_damage_wherever_it_ends(cheap: bytes):
    in_header = _refusal(cheap[: _mac_line(cheap) + 10])
    in_nonce = _refusal(cheap[: _payload(cheap) + 8])
    in_chunk = _refusal(cheap[:-10])
    assert in_header.message == in_nonce.message == DAMAGED + "it is cut short"
    assert in_chunk.message.startswith(DAMAGED) and "cut short" in in_chunk.message
    assert in_header.hint == in_nonce.hint == in_chunk.hint == ANOTHER_COPY


def test_a_file_that_is_not_age_says_so():
    refused = _refusal(b"AGE-SECRET-KEY-1 but no age header\n")
    assert refused.message == "this is not a passphrase-protected key file (it is not an age file)"
    assert "passphrase does not open" not in refused.message


def test_an_age_file_to_a_key_is_no_protected_key_file():
    """A backup file picked instead of the recovery key: no scrypt stanza at all."""
    identity = pyrage.x25519.Identity.generate()
    to_a_key = bytes(pyrage.encrypt(SECRET, [identity.to_public()]))
    refused = _refusal(to_a_key)
    assert refused.message.startswith("this age file is not protected by a passphrase")
    assert "damaged" not in refused.message


def test_the_cheap_files_are_age_files_as_pyrage_writes_them(protected: bytes, cheap: bytes):
    """What the tests of reading open: pyrage opens it, and it has the structure of the
    file pyrage wrote, but for its work factor."""
    assert bytes(pyrage.passphrase.decrypt(cheap, PASSPHRASE)) == SECRET
    for size in (0, 65536, 65537):
        data = os.urandom(size)
        assert bytes(pyrage.passphrase.decrypt(protect_cheaply(data, PASSPHRASE), PASSPHRASE)) == (
            data
        )
    ours, theirs = parse_header(cheap), parse_header(protected)
    assert not isinstance(ours, Verdict) and not isinstance(theirs, Verdict)
    assert [s.args[0] for s in ours.stanzas] == [s.args[0] for s in theirs.stanzas] == [b"scrypt"]
    assert ours.stanzas[0].args[2] == str(CHEAP_WORK_FACTOR).encode()
    assert len(ours.payload) == len(theirs.payload)


def test_what_age_writes_parses_as_one_scrypt_stanza(protected: bytes):
    header = parse_header(protected)
    assert not isinstance(header, Verdict)
    assert len(header.stanzas) == 1 and len(header.mac) == 32
    assert not isinstance(scrypt_stanza(protected), Verdict)
    assert parse_header(protected[:5]) is Verdict.NOT_AGE


def test_the_stanza_cipher_agrees_with_a_reference():
    """core/chacha20_poly1305.py is plain Python: checked against `cryptography`'s."""
    reference = pytest.importorskip("cryptography.hazmat.primitives.ciphers.aead")
    for size in (0, 16, 32, 64, 65, 200):
        key, nonce, plain, aad = os.urandom(32), os.urandom(12), os.urandom(size), b"x" * size
        sealed = reference.ChaCha20Poly1305(key).encrypt(nonce, plain, aad)
        assert open_sealed(key, nonce, sealed, aad) == plain
        assert open_sealed(key, nonce, sealed[:-1] + bytes([sealed[-1] ^ 1]), aad) is None
        assert open_sealed(os.urandom(32), nonce, sealed, aad) is None


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda data: data, "the passphrase does not open this key file"),
        (flip_payload_byte, DAMAGED + "the passphrase is right, but its contents were"),
        (flip_header_mac, DAMAGED + "the passphrase is right, but its header fails"),
        (lambda data: data[: _mac_line(data) + 10], DAMAGED + "it is cut short"),
    ],
    ids=["wrong passphrase", "payload byte", "header mac", "cut short"],
)
def test_the_cli_says_which_in_one_line(
    home: Path, tmp_path: Path, file_keyring: Path, cheap: bytes, damage, said: str
):
    """`lifeboat key import`: exit 2, the message and what to do, no traceback."""
    key_file = tmp_path / "recovery.age"
    key_file.write_bytes(damage(cheap))
    typed = "not the passphrase" if "does not open" in said else PASSPHRASE
    result = cli_process(home, "key", "import", str(key_file), "--passphrase-stdin", input=typed)
    assert result.returncode == 2, result.stderr
    assert said in result.stderr and "Traceback" not in result.stderr
    assert typed not in result.stderr
    first, *rest = result.stderr.strip().splitlines()
    assert said in first and len(rest) <= 1, result.stderr
    if "damaged" in said:
        assert ANOTHER_COPY in result.stderr


def test_a_whole_file_with_the_right_passphrase_is_never_called_damaged(
    protected: bytes, cheap: bytes
):
    """pyrage also refuses a whole file: its scrypt work-factor cap is measured on the
    spot (rage allows the work factor of one second on this machine, times 16). The
    stanza unwrapping and the header's MAC holding prove no payload: only chunks that
    fail their tags do."""
    assert why_not_opened(protected, PASSPHRASE.encode()) is Verdict.WHOLE_NOT_OPENED
    assert why_not_opened(cheap, PASSPHRASE.encode()) is Verdict.WHOLE_NOT_OPENED
    assert why_not_opened(flip_payload_byte(cheap), PASSPHRASE.encode()) is Verdict.CONTENTS_FAIL
    assert why_not_opened(cheap[:-1], PASSPHRASE.encode()) is Verdict.CONTENTS_FAIL
    assert why_not_opened(cheap + b"\n", PASSPHRASE.encode()) is Verdict.CONTENTS_FAIL


@pytest.mark.skipif(not FAKETIME_LIBRARY.exists(), reason="needs libfaketime")
def test_a_file_too_costly_for_a_slow_machine_is_not_called_damaged(
    monkeypatch: pytest.MonkeyPatch, protected: bytes
):
    """The child on a machine that seems slow (its clock 10,000 times fast): rage caps
    the work factor at 2**14 and refuses the file whole. Found by review: it was 'this
    key file is damaged: ... use another copy of the recovery key'."""
    stanza = scrypt_stanza(protected)
    assert not isinstance(stanza, Verdict)
    if int(stanza.args[2]) <= 14:
        pytest.skip("this machine protects with a work factor rage allows when slow")
    monkeypatch.setenv("LD_PRELOAD", str(FAKETIME_LIBRARY))
    monkeypatch.setenv("FAKETIME", "+0 x10000")
    refused = _refusal(protected)
    assert "damaged" not in refused.message
    assert refused.message.startswith("the passphrase is right and this key file is whole")
    assert refused.hint is not None and ANOTHER_COPY not in refused.hint


def test_payload_chunks_are_checked_to_the_last_one_flagged_last():
    """Two full 64 KiB chunks, the second flagged last: whole. Without it, the first
    chunk ends the file but was not sealed as the last: cut short, proven."""
    two_chunks = protect_cheaply(bytes(2 * 65536), PASSPHRASE)
    assert why_not_opened(two_chunks, PASSPHRASE.encode()) is Verdict.WHOLE_NOT_OPENED
    first_only = two_chunks[: _payload(two_chunks) + 16 + 65536 + 16]
    assert why_not_opened(first_only, PASSPHRASE.encode()) is Verdict.CONTENTS_FAIL


def test_an_empty_last_chunk_after_full_ones_is_damage_not_whole():
    """age never writes one and refuses it; it was judged whole ("try another
    computer"), though no computer opens it (found by review)."""
    crafted = protect_cheaply(bytes(65536), PASSPHRASE, empty_last_chunk=True)
    with pytest.raises(pyrage.DecryptError):
        pyrage.passphrase.decrypt(crafted, PASSPHRASE)
    assert why_not_opened(crafted, PASSPHRASE.encode()) is Verdict.CONTENTS_FAIL
    refused = _refusal(crafted)
    assert refused.message.startswith(DAMAGED + "the passphrase is right")
    empty = protect_cheaply(b"", PASSPHRASE)  # one empty chunk alone: what age writes
    assert bytes(pyrage.passphrase.decrypt(empty, PASSPHRASE)) == b""
    assert why_not_opened(empty, PASSPHRASE.encode()) is Verdict.WHOLE_NOT_OPENED


def _armored(data: bytes, newline: bytes = b"\n") -> bytes:
    """As `age -a` writes it: base64 in 64 columns between its two lines."""
    text = base64.b64encode(data)
    lines = [b"-----BEGIN AGE ENCRYPTED FILE-----"]
    lines += [text[at : at + 64] for at in range(0, len(text), 64)]
    lines.append(b"-----END AGE ENCRYPTED FILE-----")
    return newline.join(lines) + newline


def test_an_ascii_armored_key_file_is_protected_and_imports(cheap: bytes):
    """`age -p -a` (armor for print or mail, CRLF from a Windows editor): pyrage opens
    it, so Lifeboat must take it as protected (it said: no age identity in that file)."""
    for armored in (_armored(cheap), _armored(cheap, b"\r\n")):
        assert is_protected_file(armored)
        with pytest.raises(LifeboatError, match="protected by a passphrase"):
            read_identity_file(armored, None)
        assert open_with_passphrase(armored, PASSPHRASE) == SECRET


def test_a_damaged_armored_key_file_is_damage(cheap: bytes):
    refused = _refusal(_armored(flip_payload_byte(cheap)))
    assert refused.message.startswith(DAMAGED + "the passphrase is right")
    garbled = _armored(cheap).replace(b"\n", b"\n*", 1)
    assert _refusal(garbled).message == DAMAGED + "its text (ASCII armor) is not well formed"
    assert _refusal(_armored(cheap)[:-40]).message == DAMAGED + "it is cut short"
    assert _refusal(_armored(cheap), "not it").message == (
        "the passphrase does not open this key file"
    )


def test_an_editors_byte_order_mark_is_no_part_of_the_key():
    """Notepad and others may save a file with a UTF-8 BOM before it: the key file, plain,
    protected or armored, still imports (what opens is proven by age's MACs)."""
    identity, _recipient = generate_identity()
    text = identity_file_text(identity).encode()
    made = protect_cheaply(text, PASSPHRASE)
    assert read_identity_file(UTF8_BOM + text, None) == [identity]
    for protected_file in (made, _armored(made), _armored(made, b"\r\n")):
        with_bom = UTF8_BOM + protected_file
        assert is_protected_file(with_bom)
        with pytest.raises(LifeboatError, match="protected by a passphrase"):
            read_identity_file(with_bom, None)
        assert read_identity_file(with_bom, PASSPHRASE) == [identity]


def test_a_binary_key_file_converted_as_text_is_damage_whatever_the_passphrase(
    cheap: bytes,
):
    """Line endings changed to CRLF (an editor, mail): age never writes a carriage
    return in a binary header, and the conversion changed the payload too."""
    converted = cheap.replace(b"\n", b"\r\n")
    for passphrase in (PASSPHRASE, "not the passphrase"):
        refused = _refusal(converted, passphrase)
        assert refused.message == DAMAGED + "its header is not well formed"
        assert refused.hint == ANOTHER_COPY


def test_the_same_passphrase_typed_in_another_unicode_form_opens_the_file():
    """ "café" is one code point for é on one system and e plus a combining accent on
    another (age does not normalise): the right passphrase opens the file either way;
    a wrong one is still wrong."""
    composed, decomposed = "café crème brûlée", unicodedata.normalize("NFD", "café crème brûlée")
    assert composed != decomposed
    made = protect_cheaply(SECRET, decomposed)
    assert open_with_passphrase(made, composed) == SECRET
    refused = _refusal(made, "café crème brûlé")
    assert refused.message == "the passphrase does not open this key file"


def test_the_cli_and_the_dialog_see_a_protected_file_behind_a_byte_order_mark(
    home: Path, tmp_path: Path, protected: bytes
):
    """What `key import` and the dialog ask first (whether to ask for a passphrase)
    reads enough of the file to see the armor line after an editor's BOM."""
    from lifeboat.service import Service

    service = Service()
    for name, data in (
        ("binary.age", protected),
        ("armored.age", _armored(protected)),
        ("bom-binary.age", UTF8_BOM + protected),
        ("bom-armored.age", UTF8_BOM + _armored(protected, b"\r\n")),
    ):
        (tmp_path / name).write_bytes(data)
        assert service.key_file_protected(tmp_path / name), name
    (tmp_path / "plain.txt").write_bytes(UTF8_BOM + SECRET)
    assert not service.key_file_protected(tmp_path / "plain.txt")
