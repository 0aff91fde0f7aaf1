"""Secrets in the OS keyring (service "lifeboat"), behind one small interface.

Nothing secret is ever written to the config, the catalog, a log or an error message.
When no usable keyring exists, we stop with a message naming the user's options; we
never fall back to storing secrets in plain text on our own (a plain-text keyring is
used only when the user chose it explicitly, e.g. with PYTHON_KEYRING_BACKEND).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from lifeboat.errors import LifeboatError, OperationFailed

SERVICE = "lifeboat"
_INSECURE_MODULES = ("keyrings.alt.file",)


class KeyringUnavailable(LifeboatError):
    """No usable keyring backend: the user has to choose what to do (exit 2)."""


class KeyringLocked(OperationFailed):
    """The keyring is locked or access was denied: retry after unlocking it."""


@dataclass(frozen=True)
class S3Credentials:
    access_key_id: str
    secret_access_key: str

    def __repr__(self) -> str:  # never print a secret, even by accident
        return "S3Credentials(<hidden>)"


class SecretStore:
    """One entry per name in the OS keyring, under the service "lifeboat"."""

    def __init__(self, service: str = SERVICE) -> None:
        self.service = service

    def backend_name(self) -> str:
        return _describe(self._backend())

    def put(self, name: str, value: str) -> None:
        import keyring.errors

        backend = self._backend()
        try:
            backend.set_password(self.service, name, value)
        except keyring.errors.KeyringLocked:
            raise _locked() from None
        except keyring.errors.KeyringError as exc:
            raise KeyringLocked(f"the keyring refused to store the secret: {type(exc).__name__}",
                                "unlock or allow access to your keyring, then retry") from None

    def get(self, name: str) -> str | None:
        import keyring.errors

        backend = self._backend()
        try:
            return backend.get_password(self.service, name)
        except keyring.errors.KeyringLocked:
            raise _locked() from None
        except keyring.errors.KeyringError as exc:
            raise KeyringLocked(f"the keyring refused access: {type(exc).__name__}",
                                "unlock or allow access to your keyring, then retry") from None

    def delete(self, name: str) -> bool:
        import keyring.errors

        backend = self._backend()
        try:
            backend.delete_password(self.service, name)
            return True
        except keyring.errors.PasswordDeleteError:
            return False
        except keyring.errors.KeyringLocked:
            raise _locked() from None

    def _backend(self) -> object:
        import keyring
        from keyring.backends import chainer, fail

        try:
            backend = keyring.get_keyring()
        except Exception as exc:  # a broken backend configuration
            raise KeyringUnavailable(f"the OS keyring cannot be used: {type(exc).__name__}",
                                     _OPTIONS) from None
        usable = backend
        if isinstance(backend, chainer.ChainerBackend):
            usable = backend.backends[0] if backend.backends else fail.Keyring()
        if isinstance(usable, fail.Keyring) or type(usable).__module__.endswith(".null"):
            raise KeyringUnavailable("no usable OS keyring was found to keep the credentials",
                                     _OPTIONS)
        if type(usable).__module__.startswith(_INSECURE_MODULES) and not _explicit_choice():
            raise KeyringUnavailable(
                f"the only keyring available ({_describe(usable)}) stores secrets in plain "
                "text; Lifeboat does not use it unless you choose it", _OPTIONS)
        return backend


def s3_entry(remote: str) -> str:
    return f"remote:{remote}"


def store_s3_credentials(store: SecretStore, remote: str, creds: S3Credentials) -> None:
    store.put(s3_entry(remote), json.dumps({"access_key_id": creds.access_key_id,
                                            "secret_access_key": creds.secret_access_key}))


def load_s3_credentials(store: SecretStore, remote: str) -> S3Credentials:
    raw = store.get(s3_entry(remote))
    if raw is None:
        raise LifeboatError(f"no credentials for remote {remote!r} in the keyring",
                            f"store them again: lifeboat remote add {remote} ... (or use "
                            "--credentials env)")
    try:
        data = json.loads(raw)
        return S3Credentials(str(data["access_key_id"]), str(data["secret_access_key"]))
    except (ValueError, KeyError, TypeError):
        raise LifeboatError(f"the keyring entry for remote {remote!r} is damaged",
                            f"store the credentials again: lifeboat remote add {remote} ...") \
            from None


_OPTIONS = ("install and unlock a keyring (GNOME Keyring, KWallet, KeePassXC's Secret "
            "Service, or the macOS/Windows one), or add the remote with --credentials env to "
            "use the standard AWS environment variables or ~/.aws/credentials")


def _locked() -> KeyringLocked:
    return KeyringLocked("the keyring is locked or access to it was denied",
                         "unlock your keyring (log in to the desktop session), then retry")


def _explicit_choice() -> bool:
    if os.environ.get("PYTHON_KEYRING_BACKEND"):
        return True
    try:
        from keyring.util import platform_

        return (Path(platform_.config_root()) / "keyringrc.cfg").exists()
    except Exception:
        return False


def _describe(backend: object) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"
