"""The first run, end to end: real databases picked with the file dialog's path and by a
drop, a snapshot folder on another disk, a weekly schedule, a remote on the S3 server
process, starting at login; then the first backups with their progress."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWizard

from lifeboat.core.secrets import load_s3_credentials
from lifeboat.gui.autostart import LoginItem
from lifeboat.gui.first_run import FirstRunWizard
from lifeboat.gui.first_run_choices import device_of
from lifeboat.gui.workers import wait_for_tasks
from lifeboat.service import Service
from tests.gui.conftest import close_message_boxes
from tests.helpers.databases import make_db


@pytest.fixture
def service(home: Path, file_keyring: Path) -> Service:
    return Service()


@pytest.fixture
def other_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on another file system than the databases' (a RAM disk)."""
    if not Path("/dev/shm").is_dir() or device_of(Path("/dev/shm")) == device_of(tmp_path):
        pytest.skip("needs /dev/shm on a file system of its own")
    folder = Path(tempfile.mkdtemp(prefix="lb-usb-", dir="/dev/shm"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def wizard(qtbot, service: Service, tmp_path: Path, monkeypatch) -> Iterator[FirstRunWizard]:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    added: list[list[str]] = []
    flow = FirstRunWizard(service, login_item=LoginItem(platform="linux"), on_saved=added.append)
    flow.added_lists = added  # type: ignore[attr-defined]  # what on_saved was given
    qtbot.addWidget(flow)
    flow.show()
    yield flow
    close_message_boxes()
    wait_for_tasks()


def drop(widget, path: Path) -> None:
    """A file dragged onto the page and dropped there."""
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(path))])
    args = (Qt.DropAction.CopyAction, data, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(QPoint(5, 5), *args)  # (deprecated overload; the only one)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), "the page takes dragged files"
    event = QDropEvent(QPointF(5, 5), *args)
    if not QApplication.sendEvent(widget, event):  # offscreen Qt: no drag under way
        widget.dropEvent(event)


def next_button(flow: QWizard):
    return flow.button(QWizard.WizardButton.NextButton)


def test_first_run_end_to_end(
    qtbot,
    wizard: FirstRunWizard,
    service: Service,
    tmp_path: Path,
    other_disk: Path,
    s3_server,
    bucket: str,
):
    notes = make_db(tmp_path / "My Notes.db", rows=300)
    crm = make_db(tmp_path / "crm.sqlite", rows=200, seed=1)
    not_a_db = tmp_path / "letter.txt"
    not_a_db.write_text("Dear …")
    page = wizard.databases
    assert not next_button(wizard).isEnabled(), "nothing picked yet"

    page.add(notes)  # as the file dialog gives it
    drop(page, crm)
    drop(page, not_a_db)
    qtbot.waitUntil(lambda: len(page.paths) == 2 and page.isComplete(), timeout=10_000)
    qtbot.waitUntil(lambda: bool(page.problem.text().strip()), timeout=10_000)
    assert "letter.txt cannot be backed up" in page.problem.text()
    assert page.paths == [notes, crm], "in the order given"
    assert next_button(wizard).isEnabled()
    wizard.next()

    folder = wizard.folder
    folder.candidates = lambda: [other_disk]
    folder.initializePage()
    assert str(service.snapshot_folder()) in folder.folder.text(), "the default is shown"
    assert "free on that disk" in folder.free.text()
    assert "same disk as My Notes.db, crm.sqlite" in folder.warning.text()
    assert folder.use_suggestion.isVisibleTo(wizard)
    assert str(other_disk) in folder.suggestion.text()
    folder.use_suggestion.click()
    assert folder.dest() == other_disk / "Lifeboat"
    assert not folder.warning.text().strip()
    wizard.next()

    wizard.schedule.weekly.setChecked(True)
    wizard.schedule.weekday.setCurrentIndex(4)  # Friday
    assert wizard.schedule.spec() == "weekly fri 03:00"
    wizard.next()

    remote = wizard.remote
    assert not remote.form.isEnabled(), "skippable: off until asked for"
    remote.use.setChecked(True)
    form = remote.form
    form.provider.setCurrentIndex(form.provider.findData("minio"))
    form.endpoint.setText(s3_server.endpoint)
    wizard.next()
    assert wizard.currentPage() is remote, "a bucket is needed"
    assert form.errors["bucket"].isVisibleTo(wizard)
    form.bucket.setText(bucket)
    form.access_key_id.setText(s3_server.access_key_id)
    form.secret.setText(s3_server.secret_access_key)
    wizard.next()

    assert wizard.login.start.isChecked(), "on by default for a tray app"
    assert wizard.button(QWizard.WizardButton.CommitButton).text().replace("&", "") == "Back up now"
    wizard.next()

    backup = wizard.backup
    qtbot.waitUntil(lambda: backup.done, timeout=60_000)
    assert backup.problems.text().strip() == "", backup.problems.text()
    assert backup.status.text() == (
        "All set. Lifeboat backs up My Notes and crm every Friday at 03:00, from the system tray."
    )
    assert backup.bar.value() == 1000
    assert wizard.added_lists == [["My-Notes", "crm"]]  # type: ignore[attr-defined]
    sources = {s.name: s for s in service.sources()}
    assert sources["My-Notes"].display_name == "My Notes"
    assert sources["crm"].display_name is None
    assert {s.schedule for s in sources.values()} == {"weekly fri 03:00"}
    assert {s.remote for s in sources.values()} == {"cloud"}
    for name in sources:
        assert list((other_disk / "Lifeboat" / name).glob("*.json")), f"{name} backed up there"
        snapshot = service.snapshots(name)[0]
        assert snapshot.copy_on("cloud") is not None, f"{name} uploaded"
    assert load_s3_credentials(service.secrets, "cloud").access_key_id == s3_server.access_key_id
    assert LoginItem(platform="linux").is_enabled()
    assert wizard.button(QWizard.WizardButton.FinishButton).isEnabled()


def test_skipping_the_remote_and_login_still_backs_up(
    qtbot, wizard: FirstRunWizard, service: Service, tmp_path: Path
):
    wizard.databases.add(make_db(tmp_path / "notes.db", rows=100))
    qtbot.waitUntil(lambda: wizard.databases.isComplete(), timeout=10_000)
    for _ in range(3):
        wizard.next()
    assert wizard.currentPage() is wizard.remote
    wizard.next()
    wizard.login.start.setChecked(False)
    wizard.next()
    qtbot.waitUntil(lambda: wizard.backup.done, timeout=60_000)
    assert wizard.backup.status.text() == (
        "All set. Lifeboat backs up notes every day at 03:00, from the system tray."
    )
    assert [s.remote for s in service.sources()] == [None]
    assert service.sources()[0].dest is None, "Lifeboat's own folder, as shown"
    assert len(service.snapshots("notes")) == 1
    assert not LoginItem(platform="linux").is_enabled()


def test_a_database_gone_before_saving_says_what_was_saved(
    qtbot, wizard: FirstRunWizard, service: Service, tmp_path: Path
):
    notes = make_db(tmp_path / "notes.db", rows=100)
    crm = make_db(tmp_path / "crm.db", rows=100, seed=1)
    wizard.databases.add(notes)
    wizard.databases.add(crm)
    qtbot.waitUntil(lambda: len(wizard.databases.paths) == 2, timeout=10_000)
    for _ in range(4):
        wizard.next()
    wizard.login.start.setChecked(False)
    for suffix in ("", "-wal", "-shm"):  # moved away by the user before the last click
        Path(f"{crm}{suffix}").unlink(missing_ok=True)
    wizard.next()
    qtbot.waitUntil(lambda: wizard.backup.done, timeout=60_000)
    assert wizard.backup.status.text().startswith("Saved notes; the rest was not.")
    assert "crm" in wizard.backup.problems.text()
    assert [s.name for s in service.sources()] == ["notes"]
    assert wizard.added_lists == [["notes"]]  # type: ignore[attr-defined]
