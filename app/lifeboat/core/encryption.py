"""age encryption of what leaves the machine (pyrage: a maintained age implementation).

Identities ("AGE-SECRET-KEY-1…") live only in the OS keyring; recipients ("age1…") in the
config. Encrypted files are standard age files: `age -d -i identity.txt FILE` opens them.
Nothing here ever puts an identity into a message, a log or a file other than the one a
user asked to export it to.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from lifeboat.core.hashing import HashingFile
from lifeboat.core.private import create_file, disk_full, open_new
from lifeboat.core.secrets import SecretStore
from lifeboat.foundation.errors import CorruptSnapshot, LifeboatError, OperationFailed

if TYPE_CHECKING:
    from lifeboat.foundation.progress import CancelToken

IDENTITIES_ENTRY = "age-identities"


class MissingIdentity(LifeboatError):
    """This machine holds no identity that can open an encrypted snapshot."""

    exit_code = 1


@dataclass(frozen=True)
class Encrypted:
    size: int
    sha256: str  # of the ciphertext
    plain_sha256: str  # of what was encrypted


def check_recipient(text: str) -> str:
    import pyrage

    try:
        pyrage.x25519.Recipient.from_str(text.strip())
    except Exception:
        raise ValueError(f"{text!r} is not an age recipient (age1…)") from None
    return text.strip()


def generate_identity() -> tuple[str, str]:
    """A new X25519 identity and its recipient."""
    import pyrage

    identity = pyrage.x25519.Identity.generate()
    return str(identity), str(identity.to_public())


def recipient_of(identity: str) -> str:
    import pyrage

    try:
        return str(pyrage.x25519.Identity.from_str(identity).to_public())
    except Exception:
        raise LifeboatError(
            "that is not an age identity (AGE-SECRET-KEY-1…)",
            "give the identity file written by `lifeboat key export`",
        ) from None


def stored_identities(secrets: SecretStore) -> list[str]:
    raw = secrets.get(IDENTITIES_ENTRY) or ""
    return [line for line in raw.splitlines() if line.startswith("AGE-SECRET-KEY-1")]


def store_identity(secrets: SecretStore, identity: str) -> bool:
    """Add an identity to the keyring entry; False if it was there already."""
    known = stored_identities(secrets)
    if identity in known:
        return False
    secrets.put(IDENTITIES_ENTRY, "\n".join([*known, identity]))
    return True


def identity_file_text(identity: str) -> str:
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"# created: {created} by Lifeboat\n# public key: {recipient_of(identity)}\n{identity}\n"


def write_private_file(path: Path, data: bytes) -> None:
    """Create `path` readable by its owner only (0600); never replace an existing file."""
    try:
        fd = create_file(path)
    except FileExistsError:
        raise LifeboatError(f"{path} already exists", "choose a new file name") from None
    except OSError as exc:
        raise LifeboatError(
            f"cannot write {path}: {exc.strerror or exc}", "choose a folder you can write to"
        ) from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def protect_with_passphrase(
    data: bytes, passphrase: str, cancel: CancelToken | None = None
) -> bytes:
    """`data` as an age file only the passphrase opens (its scrypt in a child process:
    core/key_passphrase.py; `cancel` kills it)."""
    from lifeboat.core import key_passphrase

    if len(passphrase) < 8:
        raise LifeboatError("the passphrase is too short", "use at least 8 characters")
    return key_passphrase.protect_with_passphrase(data, passphrase, cancel)


def read_identity_file(
    data: bytes, passphrase: str | None, cancel: CancelToken | None = None
) -> list[str]:
    """The identities in an identity file, plain or passphrase-protected (opened in a
    child process, which `cancel` stops: core/key_passphrase.py)."""
    from lifeboat.core.age_key_file import is_protected_file, without_bom
    from lifeboat.core.key_passphrase import open_with_passphrase

    data = without_bom(data)  # an editor's byte order mark is not part of the key
    if is_protected_file(data):
        if passphrase is None:
            raise LifeboatError(
                "this key file is protected by a passphrase",
                "give it with --passphrase-stdin (or on the prompt)",
            )
        data = open_with_passphrase(data, passphrase, cancel)
    lines = data.decode("utf-8", "replace").splitlines()
    found = [line.strip() for line in lines if line.strip().startswith("AGE-SECRET-KEY-1")]
    if not found:
        raise LifeboatError(
            "no age identity (AGE-SECRET-KEY-1…) in that file",
            "give the file written by `lifeboat key export`",
        )
    for identity in found:
        recipient_of(identity)
    return found


def encrypt_file(source: Path, dest: Path, recipients: list[str]) -> Encrypted:
    """Encrypt `source` into the new file `dest` to all `recipients`, streaming; return
    the ciphertext's size and SHA-256 and the plaintext's SHA-256, all of the bytes that
    were actually encrypted (computed in the same pass). Reading or writing failing
    raises that OSError itself (a full disk can be said as such); `dest` is then gone."""
    with open(source, "rb") as fin:
        return encrypt_from(fin, dest, recipients)


def encrypt_from(fin: BinaryIO, dest: Path, recipients: list[str]) -> Encrypted:
    """`encrypt_file` from an open file (read from where it is, to its end; not closed
    here: a live database's descriptor must stay open, see core/kept_descriptors)."""
    import pyrage

    if not recipients:
        raise LifeboatError("there is no encryption key yet", "create one: lifeboat key init")
    parsed = [pyrage.x25519.Recipient.from_str(r) for r in recipients]
    created = False
    try:
        with open_new(dest) as fout:
            created = True
            reader, writer = HashingFile(fin), HashingFile(fout)
            try:
                pyrage.encrypt_io(reader, writer, parsed)
            except pyrage.EncryptError as exc:
                # pyrage wraps what the files raised: give the OSError back
                raise reader.error or writer.error or OSError(str(exc)) from None
            fout.flush()
            os.fsync(fout.fileno())
    except BaseException:
        if created:  # ours (open_new made it), and closed by now
            with contextlib.suppress(OSError):
                os.unlink(dest)
        raise
    return Encrypted(writer.count, writer.hexdigest(), reader.hexdigest())


def decrypt_file(
    source: Path, dest: Path, identities: list[str], what: str, recipients: list[str] | None = None
) -> None:
    """Decrypt `source` into the new file `dest`; nothing is left behind on failure."""
    import pyrage

    if not identities:
        to = f" to {', '.join(recipients)}" if recipients else ""
        raise MissingIdentity(
            f"{what} is encrypted{to}, and this machine's keyring holds no identity to open it",
            "import your recovery key: lifeboat key import FILE",
        )
    try:
        with open(source, "rb") as raw, open_new(dest) as out:
            pyrage.decrypt_io(raw, out, [pyrage.x25519.Identity.from_str(i) for i in identities])
            out.flush()
            os.fsync(out.fileno())
    except pyrage.DecryptError as exc:
        with contextlib.suppress(OSError):
            os.unlink(dest)
        if "No matching keys" in str(exc):
            to = f" (it was encrypted to {', '.join(recipients)})" if recipients else ""
            raise MissingIdentity(
                f"none of this machine's keys opens {what}{to}",
                "import the matching recovery key: lifeboat key import FILE",
            ) from None
        raise CorruptSnapshot(
            f"{what} does not decrypt: it was changed or damaged", "use another snapshot or copy"
        ) from None
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(dest)
        if disk_full(exc):
            raise OperationFailed(
                f"the disk is full: {what} could not be decrypted into {dest.parent}",
                "free some space there and retry",
            ) from None
        if exc.errno is not None:  # reading or writing failed: says nothing of the file
            raise OperationFailed(f"{what} could not be decrypted: {exc.strerror or exc}") from None
        # pyrage reports a ciphertext that ends early or fails its authentication as an
        # OSError without an errno: proven damage.
        raise CorruptSnapshot(
            f"{what} does not decrypt: it is truncated or damaged", "use another snapshot or copy"
        ) from None
