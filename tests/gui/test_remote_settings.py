"""The Settings dialog's Remote tab, against a real S3 server process (where a remote is
tested) and a real file keyring: add a remote and test it without freezing the window,
keep the stored secret, remove a remote, and the "Save your recovery key" step before
encryption."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMessageBox

from lifeboat.core.encryption import read_identity_file, recipient_of
from lifeboat.core.secrets import load_s3_credentials
from lifeboat.gui.preferences import TrayPreferences
from lifeboat.gui.recovery_key import RecoveryKeyDialog
from lifeboat.gui.settings_dialog import DATABASES_TAB, REMOTE_TAB, SettingsDialog
from lifeboat.gui.workers import wait_for_tasks
from lifeboat.service import Service
from tests.gui.conftest import click_box_button, close_message_boxes, gone, wait_for_box
from tests.gui.tick_gaps import TickGaps
from tests.helpers.databases import make_db
from tests.helpers.key_children import opener_children


@pytest.fixture
def service(home: Path, file_keyring: Path, tmp_path: Path) -> Service:
    service = Service()
    service.add_source(make_db(tmp_path / "notes.db", rows=100), schedule="manual")
    service.add_source(make_db(tmp_path / "crm.db", rows=100, seed=1), schedule="manual")
    return service


@pytest.fixture
def open_dialog(qtbot, service: Service) -> Iterator[Callable[[], SettingsDialog]]:
    opened: list[SettingsDialog] = []

    def open_it() -> SettingsDialog:
        dialog = SettingsDialog(service, TrayPreferences(), on_saved=lambda *args: None)
        opened.append(dialog)
        dialog.show()
        dialog.tabs.setCurrentIndex(REMOTE_TAB)
        return dialog

    yield open_it
    close_message_boxes()
    for dialog in opened:
        if not gone(dialog):
            dialog.close()
    wait_for_tasks()


def save(qtbot, dialog: SettingsDialog) -> None:
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    qtbot.waitUntil(lambda: gone(dialog), timeout=10_000)


def add_remote(service: Service, s3_server=None, bucket: str = "lb", **extra: object) -> None:
    """The remote "offsite", its keys in the keyring; on the S3 server process where it
    is contacted, else nowhere (never contacted)."""
    service.add_remote(
        "offsite",
        provider="minio",
        bucket=bucket,
        endpoint=s3_server.endpoint if s3_server else "https://nowhere.invalid",
        prefix="lb",
        access_key_id=s3_server.access_key_id if s3_server else "AKIDNOWHERE",
        secret=s3_server.secret_access_key if s3_server else "not-a-real-secret",
        **extra,
    )


def test_add_a_remote_test_it_and_save(
    qtbot, open_dialog, service: Service, s3_server, bucket: str, home: Path, proxy
):
    dialog = open_dialog()
    page = dialog.remotes
    assert page.pages.currentIndex() == 1, "no remotes yet: the empty page explains"
    page.add_remote()
    form = page.form
    assert form.name.text() == "offsite"
    form.provider.setCurrentIndex(form.provider.findData("cos"))
    assert form.endpoint.placeholderText().startswith("https://cos.<region>.myqcloud.com")
    form.region.setText("ap-guangzhou")
    assert "https://cos.ap-guangzhou.myqcloud.com" in form.where.text()
    form.provider.setCurrentIndex(form.provider.findData("minio"))
    form.endpoint.setText(proxy.url)  # through a proxy that answers slowly
    form.bucket.setText(bucket)
    form.prefix.setText("lb")
    form.access_key_id.setText(s3_server.access_key_id)
    form.secret.setText("not-the-secret")
    proxy.faults.delay = 1.0  # a blocked GUI thread would freeze at least this long
    gaps = TickGaps()
    gaps.start()
    page.test_button.click()
    assert page.test_button.text() == "Testing…" and not page.test_button.isEnabled()
    assert page.busy.isVisible()
    qtbot.waitUntil(lambda: page.result.text().startswith("✗"), timeout=15_000)
    assert "refused the credentials of remote offsite" in page.result.text()
    gaps.stop()
    # well under the proxy's delay; time spent waiting for a CPU is not counted
    assert gaps.largest < 0.5, f"the GUI thread was blocked {gaps.largest:.3f} s"
    assert not page.busy.isVisible() and page.test_button.isEnabled()

    form.secret.setText(s3_server.secret_access_key)
    page.test_button.click()
    qtbot.waitUntil(lambda: page.result.text().startswith("✓"), timeout=15_000)
    assert f"bucket {bucket}" in page.result.text()
    assert service.remotes() == [], "testing saves nothing"

    qtbot.keyClicks(form.max_upload_rate, "fast")
    # a new remote offers every database that uploads nowhere yet: all ticked
    assert dialog.findChild(object, "upload:notes").isChecked()
    dialog.findChild(object, "upload:crm").setChecked(False)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    assert form.errors["max_upload_rate"].isVisible(), "shown next to its field"
    assert service.remotes() == []
    form.max_upload_rate.setText("2MB/s")
    save(qtbot, dialog)
    remote = service.remotes()[0]
    assert (
        remote.name,
        remote.provider,
        remote.bucket,
        remote.endpoint,
        remote.prefix,
        remote.max_upload_rate,
    ) == ("offsite", "minio", bucket, proxy.url, "lb", "2MB/s")
    assert [s.remote for s in service.sources()] == ["offsite", None]
    assert (
        load_s3_credentials(service.secrets, "offsite").secret_access_key
        == s3_server.secret_access_key
    )
    assert s3_server.secret_access_key not in (home / "config.toml").read_text()


def test_editing_keeps_the_stored_secret(
    qtbot, open_dialog, service: Service, s3_server, bucket: str
):
    add_remote(service, s3_server, bucket)
    dialog = open_dialog()
    page = dialog.remotes
    form = page.form
    assert form.name.isReadOnly() and form.name.text() == "offsite"
    assert (
        form.secret.text() == "" and "stored in a plain-text file" in form.secret.placeholderText()
    )
    page.test_button.click()  # with the secret from the keyring
    qtbot.waitUntil(lambda: page.result.text().startswith("✓"), timeout=15_000)
    form.access_key_id.setText("AKIDNEW")
    dialog.buttons.button(QDialogButtonBox.StandardButton.Save).click()
    assert "give both" in form.errors["secret"].text()
    form.access_key_id.clear()
    form.prefix.setText("elsewhere")
    dialog.findChild(object, "upload:crm").setChecked(True)
    save(qtbot, dialog)
    assert service.remotes()[0].prefix == "elsewhere"
    assert service.source("crm").remote == "offsite"
    creds = load_s3_credentials(service.secrets, "offsite")
    assert creds.secret_access_key == s3_server.secret_access_key


def test_removing_a_remote_its_databases_stop_uploading(qtbot, open_dialog, service: Service):
    add_remote(service)
    service.update_source("notes", remote="offsite")
    dialog = open_dialog()
    dialog.remotes.remove_button.click()
    box = wait_for_box(qtbot, "Stop using remote offsite?")
    assert "notes will no longer be uploaded" in box.informativeText()
    click_box_button(box, "Remove")
    assert dialog.remotes.remote_list.count() == 0
    assert service.remotes(), "nothing happens before Save"
    save(qtbot, dialog)
    assert service.remotes() == [] and service.source("notes").remote is None
    assert service.secrets.get("remote:offsite") is None, "its keyring entry is gone"


def test_encryption_needs_the_recovery_key_saved_first(
    qtbot, open_dialog, service: Service, tmp_path: Path
):
    add_remote(service)
    dialog = open_dialog()
    page = dialog.remotes
    form = page.form
    form.encrypt.click()
    qtbot.waitUntil(lambda: page.recovery is not None and page.recovery.isVisible(), timeout=10_000)
    recovery = page.recovery
    assert not form.encrypt.isChecked(), "not on until the key is saved"
    info = service.key_info()
    assert info.local == info.recipients and len(info.local) == 1, "a key was created"
    assert info.local[0] in recovery.findChild(object, "recovery-recipient").text()
    assert not recovery.have_copy.isVisible(), "a new key cannot have been saved before"
    assert not recovery.turn_on.isEnabled()
    recovery.reject()
    assert not form.encrypt.isChecked(), "cancelled: encryption stays off"

    form.encrypt.click()
    qtbot.waitUntil(
        lambda: page.recovery is not recovery and page.recovery.isVisible(), timeout=10_000
    )
    recovery = page.recovery
    assert len(service.key_info().local) == 1, "the existing key is used, not a second one"
    recovery.passphrase.setText("correct horse")
    recovery.repeat.setText("correct hors")
    key_file = tmp_path / "recovery.age"
    recovery.save_to(key_file)
    assert recovery.problem.text() == "The two passphrases differ." and not key_file.exists()
    recovery.repeat.setText("correct horse")
    recovery.save_to(key_file)
    qtbot.waitUntil(lambda: recovery.saved_to == key_file, timeout=10_000)
    assert "protected with your passphrase" in recovery.saved_label.text()
    assert not recovery.turn_on.isEnabled(), "the user confirms where it is kept"
    recovery.kept_safe.setChecked(True)
    recovery.turn_on.click()
    assert form.encrypt.isChecked()
    identities = read_identity_file(key_file.read_bytes(), "correct horse")
    assert [recipient_of(i) for i in identities] == service.key_info().local
    save(qtbot, dialog)
    assert service.remotes()[0].encrypt


def recovery_step(qtbot, open_dialog, service: Service) -> tuple[SettingsDialog, RecoveryKeyDialog]:
    """Settings → Remote with a remote, Encrypt clicked: its "Save your recovery key"."""
    add_remote(service)
    dialog = open_dialog()
    page = dialog.remotes
    page.form.encrypt.click()
    qtbot.waitUntil(lambda: page.recovery is not None and page.recovery.isVisible(), timeout=10_000)
    assert page.recovery is not None
    return dialog, page.recovery


def test_a_protected_save_can_be_cancelled_and_writes_nothing(
    qtbot, open_dialog, service: Service, tmp_path: Path
):
    """The passphrase's scrypt takes seconds: the save button becomes Cancel saving, which
    kills the child and writes no file; closing the dialog cancels it the same way."""
    dialog, recovery = recovery_step(qtbot, open_dialog, service)
    page = dialog.remotes
    recovery.passphrase.setText("correct horse")
    recovery.repeat.setText("correct horse")
    key_file = tmp_path / "recovery.age"
    recovery.save_to(key_file)
    assert recovery.save_button.text() == "Cancel saving"
    assert recovery.passphrase.isReadOnly(), "what is being saved is what the fields show"
    qtbot.waitUntil(lambda: bool(opener_children()), timeout=30_000)
    child = opener_children()[0]
    recovery.save_button.click()
    qtbot.waitUntil(lambda: recovery.saved_label.text().startswith("Cancelled"), timeout=20_000)
    assert recovery.saved_label.text() == "Cancelled: no file was saved."
    assert not Path(f"/proc/{child}").exists(), "the child was killed and reaped"
    assert not key_file.exists() and recovery.saved_to is None
    assert not recovery.passphrase.isReadOnly()
    assert recovery.save_button.text() == "Save recovery key…" and recovery.save_button.isEnabled()
    assert not recovery.turn_on.isEnabled()
    # Shown ones only: a box an earlier test in this worker closed may not be deleted yet.
    shown = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
    assert not [w for w in shown if isinstance(w, QMessageBox)]

    # Closing the dialog while it saves cancels too: no scrypt left running, no file.
    recovery.save_to(key_file)
    qtbot.waitUntil(lambda: bool(opener_children()), timeout=30_000)
    child = opener_children()[0]
    recovery.reject()
    qtbot.waitUntil(lambda: not Path(f"/proc/{child}").exists(), timeout=20_000)
    wait_for_tasks()
    assert not key_file.exists()
    assert not page.form.encrypt.isChecked(), "cancelled: encryption stays off"


def test_cancelling_another_copy_says_the_first_stays(
    qtbot, open_dialog, service: Service, tmp_path: Path
):
    _dialog, recovery = recovery_step(qtbot, open_dialog, service)
    first = tmp_path / "recovery.txt"
    recovery.save_to(first)  # no passphrase: no child, at once
    qtbot.waitUntil(lambda: recovery.saved_to == first, timeout=10_000)
    recovery.passphrase.setText("correct horse")
    recovery.repeat.setText("correct horse")
    second = tmp_path / "second.age"
    recovery.save_to(second)
    qtbot.waitUntil(lambda: bool(opener_children()), timeout=30_000)
    recovery.save_button.click()
    qtbot.waitUntil(lambda: recovery.saved_label.text().startswith("Cancelled"), timeout=20_000)
    assert recovery.saved_label.text() == (
        f"Cancelled: no file was saved (the copy saved to {first} stays)."
    )
    assert first.exists() and not second.exists() and recovery.saved_to == first
    assert recovery.save_button.text() == "Save another copy…"


def test_turning_encryption_off_asks_first(qtbot, open_dialog, service: Service):
    service.init_key()
    add_remote(service, encrypt=True)
    dialog = open_dialog()
    form = dialog.remotes.form
    assert form.encrypt.isChecked()
    form.encrypt.click()
    box = wait_for_box(qtbot, "Stop encrypting uploads to offsite?")
    assert form.encrypt.isChecked(), "still on while the question is open"
    click_box_button(box, "Stop encrypting")
    assert not form.encrypt.isChecked()
    save(qtbot, dialog)
    assert not service.remotes()[0].encrypt


def test_keeping_local_snapshots_encrypted_needs_the_key_saved_and_asks_to_stop(
    qtbot, open_dialog, service: Service, tmp_path: Path
):
    dialog = open_dialog()
    dialog.tabs.setCurrentIndex(DATABASES_TAB)
    form = dialog.form
    assert form.draft is not None and form.draft.name == "notes"
    form.encrypt_local.click()
    qtbot.waitUntil(lambda: form.recovery is not None and form.recovery.isVisible(), timeout=10_000)
    assert not form.encrypt_local.isChecked(), "not on until the key is saved"
    recovery = form.recovery
    key_file = tmp_path / "recovery.txt"
    recovery.save_to(key_file)
    qtbot.waitUntil(lambda: recovery.saved_to == key_file, timeout=10_000)
    recovery.kept_safe.setChecked(True)
    recovery.turn_on.click()
    assert form.encrypt_local.isChecked()
    save(qtbot, dialog)
    assert service.source("notes").encrypt_local and not service.source("crm").encrypt_local
    assert service.backup("notes").path.name.endswith(".age")

    dialog = open_dialog()
    dialog.tabs.setCurrentIndex(DATABASES_TAB)
    dialog.form.encrypt_local.click()
    box = wait_for_box(qtbot, "Keep new snapshots of notes unencrypted on this computer?")
    assert dialog.form.encrypt_local.isChecked(), "still on while the question is open"
    click_box_button(box, "Stop encrypting")
    assert not dialog.form.encrypt_local.isChecked()
    save(qtbot, dialog)
    assert not service.source("notes").encrypt_local


def test_cancel_asks_before_discarding_a_typed_remote(qtbot, open_dialog, service: Service):
    dialog = open_dialog()
    dialog.reject()  # nothing typed: closes at once
    qtbot.waitUntil(lambda: gone(dialog), timeout=10_000)
    dialog = open_dialog()
    dialog.remotes.add_remote()
    dialog.remotes.form.bucket.setText("my-backups")
    dialog.tabs.setCurrentIndex(DATABASES_TAB)
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
    box = wait_for_box(qtbot, "Discard the changes to remote offsite?")
    assert dialog.tabs.currentIndex() == REMOTE_TAB, "shows what would be lost"
    click_box_button(box, "Keep editing")
    assert not gone(dialog) and dialog.isVisible()
    assert dialog.remotes.form.bucket.text() == "my-backups"
    dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel).click()
    click_box_button(wait_for_box(qtbot, "Discard the changes"), "Discard")
    qtbot.waitUntil(lambda: gone(dialog), timeout=10_000)
    assert service.remotes() == []


def test_look_for_backups_from_the_remote_tab_finds_nothing_here(
    qtbot, open_dialog, service: Service, s3_server, bucket: str
):
    add_remote(service, s3_server, bucket)
    assert service.remotes_with_unknown_backups() == ["offsite"]
    dialog = open_dialog()
    page = dialog.remotes
    assert page.look_button.isEnabled()
    page.look_button.click()
    search = page.search
    assert search is not None
    qtbot.waitUntil(lambda: search.report is not None, timeout=20_000)
    assert search.status.text() == "No backups were found on offsite."
    search.close()


def test_what_a_remote_keeps_is_set_in_the_remote_tab(qtbot, open_dialog, service: Service):
    add_remote(service)
    service.update_source("notes", remote="offsite")
    service.update_source("crm", remote="offsite")
    dialog = open_dialog()
    box = dialog.remotes.keep_box
    assert box.isEnabled() and box.same.isChecked(), "by default: the same as here"
    assert not box.editor.isVisibleTo(dialog)
    box.same.setChecked(False)
    assert box.editor.isVisibleTo(dialog)
    box.editor.counts["last"].setValue(3)
    for bucket in ("daily", "weekly", "monthly"):
        box.editor.counts[bucket].setValue(0)
    box.editor.counts["yearly"].setValue(2)
    save(qtbot, dialog)
    assert service.source("notes").remote_keep == "last=3,yearly=2"
    assert service.source("crm").remote_keep == "last=3,yearly=2"
    assert service.source("notes").keep != "last=3,yearly=2", "this computer's rules stay"

    dialog = open_dialog()
    box = dialog.remotes.keep_box
    assert not box.same.isChecked() and box.editor.keep() == "last=3,yearly=2"
    box.same.setChecked(True)  # back to the same as on this computer
    save(qtbot, dialog)
    assert service.source("notes").remote_keep is None
    assert service.source("crm").remote_keep is None


def test_a_remote_nobody_uploads_to_has_no_rules_to_set(qtbot, open_dialog, service: Service):
    add_remote(service)
    box = open_dialog().remotes.keep_box
    assert not box.isEnabled()
    assert "No database uploads here yet" in box.note.text()


def test_the_fields_stay_put_while_a_remote_is_typed(qtbot, open_dialog):
    """Where uploads go grows as the fields are typed; it must not push the fields
    under it down while the user aims for one (it moved them by a line before)."""
    from PySide6.QtWidgets import QLineEdit

    page = open_dialog().remotes
    page.add_remote()
    form = page.form
    form.provider.setCurrentIndex(form.provider.findData("cos"))
    fields = [w for w in form.findChildren(QLineEdit) if w.isVisibleTo(form)]
    qtbot.waitUntil(lambda: form.where.text() != "", timeout=10_000)
    qtbot.wait(50)  # the layout settles

    def rows() -> dict[str, int]:
        return {w.objectName(): w.mapTo(form, w.rect().topLeft()).y() for w in fields}

    before = rows()
    typed = {
        "remote-region": "ap-guangzhou",
        "remote-bucket": "backups-of-the-whole-household-1250000000",
        "remote-prefix": "laptop/evening-snapshots/lifeboat",
    }
    for name, text in typed.items():
        line = next(w for w in fields if w.objectName() == name)
        qtbot.keyClicks(line, text)
        qtbot.wait(20)
        assert rows() == before, f"typing into {name} moved the fields"
    assert "ap-guangzhou" in form.where.text()
