"""The service's encryption keys: create, export, import and show age keys.

Part of the `Service` façade (service.py mixes this in). Identities go to the OS keyring
only; recipients to the config. No method returns or logs an identity, except
`export_key`, which writes it to the file the user named (mode 0600).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from lifeboat.core.encryption import (
    check_recipient,
    generate_identity,
    identity_file_text,
    protect_with_passphrase,
    read_identity_file,
    recipient_of,
    store_identity,
    stored_identities,
    write_private_file,
)
from lifeboat.foundation.errors import ConfigError, LifeboatError

# Imported here for the type checker only; at run time inside the functions that use
# them: they load heavy libraries (zstandard, apsw, APScheduler, numpy) or the jobs,
# which commands such as `lifeboat status` must not pay for at start-up
# (tests/test_startup_imports.py).
if TYPE_CHECKING:
    from lifeboat.core.results import KeyInfo


if TYPE_CHECKING:
    from lifeboat.core.secrets import SecretStore
    from lifeboat.core.workspace import Workspace
    from lifeboat.foundation.progress import CancelToken

log = logging.getLogger(__name__)

#: A key file holds a few identities (about 75 bytes each): anything near this is not one.
MAX_KEY_FILE_BYTES = 1 << 20


def _read_key_file(path: Path) -> bytes:
    """The file's bytes; a file too big to be a key file is refused before it is read."""
    with path.open("rb") as file:
        data = file.read(MAX_KEY_FILE_BYTES + 1)
    if len(data) > MAX_KEY_FILE_BYTES:
        raise LifeboatError(
            f"{path} is too big to be a recovery key file",
            "choose the file written by `lifeboat key export` (a few hundred bytes)",
        )
    return data


class KeyMethods:
    workspace: Workspace
    secrets: SecretStore

    def init_key(self) -> str:
        """Create an age identity (into the keyring) and add its recipient to the config."""
        existing = stored_identities(self.secrets)
        if existing:
            raise LifeboatError(
                f"this machine already has a key ({recipient_of(existing[0])})",
                "export it with `lifeboat key export`; a second one is not needed",
            )
        identity, recipient = generate_identity()
        store_identity(self.secrets, identity)
        self._add_recipients([recipient])
        log.info("created encryption key %s (identity kept in the keyring)", recipient)
        return recipient

    def export_key(
        self, path: Path, passphrase: str | None = None, cancel: CancelToken | None = None
    ) -> list[str]:
        """Write this machine's identities as an age identity file (0600), optionally
        encrypted with a passphrase (`age -d` opens either). Returns their recipients.
        `cancel` stops it before the file is written (the passphrase's child killed):
        then nothing is written."""
        identities = stored_identities(self.secrets)
        if not identities:
            raise LifeboatError(
                "this machine has no encryption key to export", "create one: lifeboat key init"
            )
        text = "".join(identity_file_text(i) for i in identities).encode()
        data = protect_with_passphrase(text, passphrase, cancel) if passphrase is not None else text
        if cancel is not None:
            cancel.check()  # cancelled as the child finished: still nothing written
        write_private_file(Path(path).expanduser(), data)
        return [recipient_of(i) for i in identities]

    def key_file_protected(self, path: Path) -> bool:
        """Is this exported key file protected by a passphrase (import_key then needs it)?"""
        from lifeboat.core.age_key_file import PROTECTED_HEAD_BYTES, is_protected_file

        try:
            with Path(path).expanduser().open("rb") as file:
                return is_protected_file(file.read(PROTECTED_HEAD_BYTES))
        except OSError as exc:
            raise LifeboatError(
                f"cannot read {path}: {exc.strerror or exc}",
                "choose the recovery key file you saved",
            ) from None

    def import_key(
        self, path: Path, passphrase: str | None = None, cancel: CancelToken | None = None
    ) -> list[str]:
        """Put the identities of an exported key file into this machine's keyring.

        A passphrase is tried in a child process (seconds of scrypt that would hold the
        GIL); `cancel` kills it, and then nothing is imported."""
        try:
            data = _read_key_file(Path(path).expanduser())
        except OSError as exc:
            raise LifeboatError(
                f"cannot read {path}: {exc.strerror or exc}",
                "give the path of the exported key file",
            ) from None
        identities = read_identity_file(data, passphrase, cancel)
        if cancel is not None:
            cancel.check()  # cancelled as the file opened: still nothing imported
        for identity in identities:
            store_identity(self.secrets, identity)
        recipients = [recipient_of(i) for i in identities]
        self._add_recipients(recipients)
        return recipients

    def add_recipient(self, recipient: str) -> None:
        """Also encrypt to this recipient (e.g. an offline recovery key kept elsewhere)."""
        try:
            self._add_recipients([check_recipient(recipient)])
        except ValueError as exc:
            raise ConfigError(str(exc), "give the recipient that starts with age1") from None

    def key_info(self) -> KeyInfo:
        from lifeboat.core.results import KeyInfo

        recipients = list(self.workspace.config().general.recipients)
        local = [recipient_of(i) for i in stored_identities(self.secrets)]
        return KeyInfo(recipients, local, self.secrets.where())

    def _add_recipients(self, recipients: list[str]) -> None:
        with self.workspace.edit_config() as edit:
            config = edit.config
            known = list(config.general.recipients)
            new = [r for r in recipients if r not in known]
            if new:
                edit.config = replace(
                    config, general=replace(config.general, recipients=known + new)
                )
