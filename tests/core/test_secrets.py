"""Where secrets go, said truthfully; plain text only when named for Lifeboat."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifeboat.core import secrets
from lifeboat.core.secrets import KeyringUnavailable, SecretStore


def bare(cls: type) -> object:
    return object.__new__(cls)  # no keyring behind it: only its class matters here


def test_os_keyrings_are_named_as_such():
    import keyring.backends.kwallet
    import keyring.backends.macOS
    import keyring.backends.SecretService
    import keyring.backends.Windows

    assert (
        secrets._describe(bare(keyring.backends.SecretService.Keyring), named=False)
        == "the OS keyring (Secret Service)"
    )
    assert (
        secrets._describe(bare(keyring.backends.kwallet.DBusKeyring), named=False)
        == "the OS keyring (KWallet)"
    )
    assert (
        secrets._describe(bare(keyring.backends.macOS.Keyring), named=False) == "the macOS Keychain"
    )
    assert (
        secrets._describe(bare(keyring.backends.Windows.WinVaultKeyring), named=True)
        == "the Windows Credential Manager (chosen with LIFEBOAT_KEYRING_BACKEND)"
    )


def test_which_backends_count_as_plain_text():
    import keyring.backends.SecretService
    import keyrings.alt.file
    import keyrings.alt.multi
    import keyrings.alt.Windows

    plain = keyrings.alt.file.PlaintextKeyring()
    assert secrets._plain_text(plain)
    assert secrets._plain_text(bare(keyrings.alt.Windows.RegistryKeyring))
    assert secrets._plain_text(keyrings.alt.multi.MultipartKeyringWrapper(plain))
    assert not secrets._plain_text(bare(keyrings.alt.file.EncryptedKeyring))
    assert not secrets._plain_text(bare(keyring.backends.SecretService.Keyring))


def test_a_backend_named_for_lifeboat_is_used_and_described(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("LIFEBOAT_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    store = SecretStore(service="lifeboat-test")
    store.put("entry", "s3cr3t")
    assert store.get("entry") == "s3cr3t"
    path = tmp_path / "python_keyring" / "keyring_pass.cfg"
    assert path.is_file()
    assert store.where() == f"a plain-text file {path} (chosen with LIFEBOAT_KEYRING_BACKEND)"
    assert store.place() == store.where()
    monkeypatch.setenv("LIFEBOAT_KEYRING_BACKEND", "no.such.Backend")
    with pytest.raises(KeyringUnavailable, match=r"LIFEBOAT_KEYRING_BACKEND=no\.such\.Backend"):
        store.get("entry")
    assert store.place() == "the keyring named by LIFEBOAT_KEYRING_BACKEND"


def test_keyrings_own_plain_text_choice_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import keyring.core

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.delenv("LIFEBOAT_KEYRING_BACKEND", raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    keyring.core.init_backend()
    try:
        with pytest.raises(KeyringUnavailable) as refused:
            SecretStore(service="lifeboat-test").put("entry", "s3cr3t")
        assert "chosen with PYTHON_KEYRING_BACKEND" in refused.value.message
        assert "LIFEBOAT_KEYRING_BACKEND" in refused.value.hint
        assert not any(p.is_file() for p in tmp_path.rglob("*"))
        assert SecretStore().place() == "the OS keyring"
    finally:
        monkeypatch.undo()
        keyring.core.init_backend()
