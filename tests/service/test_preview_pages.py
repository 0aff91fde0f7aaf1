"""The restore preview by pages (core/preview_pages.py) gives exactly the full comparison's
figures: each case below is previewed both ways, the full way being today's path (the
whole snapshot decompressed, every table compared in SQL), on real databases and real
snapshots. Where the page path applies, the test also shows it was taken (it returns a
result, not None) and which tables it proved unchanged; where it does not (a
differential, WAL frames not yet copied back), the service's preview still equals the
full comparison."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from lifeboat.core import preview_pages
from lifeboat.core.dbdiff import ProvenState, StateMoved, diff_databases
from lifeboat.core.dbdiff_records import DatabaseDiff
from lifeboat.core.preview_pages import page_preview
from lifeboat.core.verify import extract_verified
from lifeboat.core.wal_frames import index_header
from lifeboat.foundation.progress import CancelToken, no_progress
from lifeboat.remote.fetch import snapshot_files
from lifeboat.service import Service
from lifeboat.storage.memory import MemoryStores
from tests.helpers.waiting import wait_until

NAME = "notes"


def _live(path: Path, journal: str = "wal") -> Path:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"pragma journal_mode={journal}")
    conn.execute("create table notes(id integer primary key, title text, body text)")
    conn.execute("create table tags(note integer, tag text, primary key(note, tag)) without rowid")
    conn.execute("create table log(at integer, line text)")
    conn.execute("create index notes_title on notes(title)")
    conn.execute("create table pair_a(id integer primary key, v text)")
    conn.execute("create table pair_b(id integer primary key, v text)")
    conn.execute("begin")
    for i in range(200):
        conn.execute("insert into pair_a values (?, ?)", (i, f"a{i}"))
        conn.execute("insert into pair_b values (?, ?)", (i, f"b{i}"))
    for i in range(3000):
        conn.execute("insert into notes values (?, ?, ?)", (i, f"title {i}", "x" * (300 + i % 700)))
        conn.execute("insert into tags values (?, ?)", (i, f"t{i % 7}"))
    for i in range(500):
        conn.execute("insert into log values (?, ?)", (i, "y" * 2000))  # overflow-free, big
    conn.execute("commit")
    conn.close()
    return path


def _write(db: Path, *sql: str) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        for statement in sql:
            conn.execute(statement)
        # every frame copied back: the state the page path can prove frozen
        conn.execute("pragma wal_checkpoint(truncate)")
    finally:
        conn.close()


@pytest.fixture
def service(home: Path, file_keyring: object) -> Service:
    """A service whose keyring (a file, named as such) can keep the key of a sealed source."""
    return Service(stores=MemoryStores())


def _backup(service: Service, db: Path, *, sealed: bool = False, full: bool = True) -> str:
    if NAME not in service.workspace.config().sources:
        if sealed:
            service.init_key()
        service.add_source(db, name=NAME, schedule="manual", encrypt_local=sealed)
    return service.backup(NAME, full=full).id


def _full_comparison(service: Service, ref: str, live: Path, scratch: Path) -> DatabaseDiff:
    """Today's preview: the whole snapshot decompressed, every table compared."""
    record = service.snapshot(ref)
    with snapshot_files(service.workspace, record, no_progress, CancelToken()) as files:
        extract_verified(files.folder, record.manifest, scratch, check="none", base=files.base)
    try:
        return diff_databases(scratch, live)
    finally:
        scratch.unlink()


def _by_pages(service: Service, ref: str, live: Path, scratch: Path) -> DatabaseDiff | None:
    record = service.snapshot(ref)
    try:
        with snapshot_files(service.workspace, record, no_progress, CancelToken()) as files:
            return page_preview(
                record.folder,
                files.folder,
                record.manifest,
                live,
                scratch,
                budget=30,
                progress=no_progress,
                cancel=CancelToken(),
            )
    finally:
        scratch.unlink(missing_ok=True)


def _figures(diff: DatabaseDiff) -> dict[str, object]:
    return {**diff.to_json(), "seconds": 0}


Change = Callable[[Path], None]
CASES: dict[str, tuple[Change, set[str]]] = {
    "nothing": (lambda db: None, {"notes", "tags", "log", "pair_a", "pair_b"}),
    "rows changed in one table": (
        lambda db: _write(db, "update notes set body = 'new' where id % 97 = 0"),
        {"tags", "log"},
    ),
    "rows added and removed": (
        lambda db: _write(
            db, "delete from tags where note < 40", "insert into tags values (99999, 'new')"
        ),
        {"notes", "log"},
    ),
    # every page moves: all tables are compared, and the untouched ones still show nothing
    "rows moved between pages": (
        lambda db: _write(db, "delete from log where at % 5 = 0", "vacuum"),
        set(),
    ),
    # new pages past the snapshot's last one: only the table that grew differs
    "the database grew": (
        lambda db: _write(db, "insert into log select at + 1000, line from log"),
        {"notes", "tags", "pair_a", "pair_b"},
    ),
    "a table dropped": (lambda db: _write(db, "drop table log"), set()),
    "an index added": (lambda db: _write(db, "create index tags_tag on tags(tag)"), set()),
    # every page as it was, only the schema's names swapped: the rows of both differ
    "tables swapped by renaming": (
        lambda db: _write(
            db,
            "alter table pair_a rename to pair_tmp",
            "alter table pair_b rename to pair_a",
            "alter table pair_tmp rename to pair_b",
        ),
        set(),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize(
    ("sealed", "journal"),
    [(False, "wal"), (True, "wal"), (False, "delete")],
    ids=["plain", "encrypted", "rollback-journal"],
)
def test_preview_by_pages_equals_the_full_comparison(
    service: Service, tmp_path: Path, case: str, sealed: bool, journal: str
):
    db = _live(tmp_path / "notes.db", journal)
    ref = _backup(service, db, sealed=sealed)
    change, proven_unchanged = CASES[case]
    change(db)
    quick = _by_pages(service, ref, db, tmp_path / "pages.db")
    assert quick is not None  # the page path applied
    full = _full_comparison(service, ref, db, tmp_path / "full.db")
    assert _figures(quick) == _figures(full)
    unchanged = {t.name for t in quick.tables if not t.differs}
    assert proven_unchanged <= unchanged
    # and the service's own preview (what `lifeboat diff --live` shows) is the same
    assert _figures(service.preview(ref)) == _figures(full)


def test_a_differential_is_previewed_in_full_and_exactly(service: Service, tmp_path: Path):
    db = _live(tmp_path / "notes.db")
    _backup(service, db)
    _write(db, "update notes set title = 'changed' where id < 50")
    ref = _backup(service, db, full=False)
    assert service.snapshot(ref).manifest.kind == "diff"
    _write(db, "delete from notes where id between 100 and 120")
    assert _by_pages(service, ref, db, tmp_path / "pages.db") is None
    full = _full_comparison(service, ref, db, tmp_path / "full.db")
    assert _figures(service.preview(ref)) == _figures(full)
    notes = next(t for t in full.tables if t.name == "notes")
    assert (notes.brought_back, notes.changed) == (21, 0)


def test_frames_not_copied_back_are_read_where_they_are_and_nothing_is_written(
    service: Service, tmp_path: Path
):
    """An app that keeps its connection open leaves its commits in the WAL: the page
    path reads them there (core/wal_frames.wal_pages), gives the full comparison's
    figures, and writes nothing to the live files (no checkpoint)."""
    db = _live(tmp_path / "notes.db")
    ref = _backup(service, db)
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        writer.execute("pragma wal_autocheckpoint=0")
        writer.execute("update notes set body = 'in the wal' where id < 10")
        writer.execute("delete from log where rowid % 7 = 0")
        files = {p: Path(p).read_bytes() for p in (str(db), f"{db}-wal")}
        quick = _by_pages(service, ref, db, tmp_path / "pages.db")
        assert quick is not None, "previewed by pages"
        assert {p: Path(p).read_bytes() for p in files} == files, "nothing written"
        full = _full_comparison(service, ref, db, tmp_path / "full.db")
        assert _figures(quick) == _figures(full)
        assert _figures(service.preview(ref)) == _figures(full)
        notes = next(t for t in full.tables if t.name == "notes")
        assert notes.changed == 10
    finally:
        writer.close()


def test_a_comparison_that_does_not_read_the_proven_state_is_refused(tmp_path: Path):
    """The comparison's read of live must begin on the wal-index header the page path
    proved its pages of (dbdiff.ProvenState): else StateMoved, and the caller compares
    in full."""
    db = _live(tmp_path / "notes.db")
    app = sqlite3.connect(db, isolation_level=None)
    app.execute("pragma wal_autocheckpoint=0")
    app.execute("update notes set body = 'x' where id < 5")
    try:
        now = index_header(db)
        assert now is not None
        same = diff_databases(db, db, current_state=ProvenState(now, lambda: index_header(db)))
        assert not any(t.differs for t in same.tables)
        app.execute("update notes set body = 'y' where id < 5")  # the state moved on
        with pytest.raises(StateMoved):
            diff_databases(db, db, current_state=ProvenState(now, lambda: index_header(db)))
    finally:
        app.close()


def test_a_commit_after_the_pages_were_compared_gives_no_figures_of_two_states(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The app commits right after the page path compared the frozen state's pages and
    before the comparison reads live: its figures would mix two states. The page path
    gives nothing then (the comparison's read is not of the proven state), and the
    preview compares in full."""
    db = _live(tmp_path / "notes.db")
    ref = _backup(service, db)
    app = sqlite3.connect(db, isolation_level=None)
    app.execute("pragma wal_autocheckpoint=0")
    app.execute("update notes set body = 'in the wal' where id < 10")
    real = preview_pages.differing_pages

    def then_the_app_commits(*args: object, **kwargs: object) -> object:
        found = real(*args, **kwargs)  # type: ignore[arg-type]
        app.execute("delete from notes where id between 2000 and 2100")
        return found

    monkeypatch.setattr(preview_pages, "differing_pages", then_the_app_commits)
    try:
        assert _by_pages(service, ref, db, tmp_path / "pages.db") is None
        monkeypatch.setattr(preview_pages, "differing_pages", real)
        full = _full_comparison(service, ref, db, tmp_path / "full.db")
        notes = next(t for t in full.tables if t.name == "notes")
        assert (notes.changed, notes.brought_back) == (10, 101)
    finally:
        app.close()


#: commits one row into each of two tables per transaction, then copies the WAL back
PAIR_WRITER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
print("ready", flush=True)
n = 0
while True:
    conn.execute("begin immediate")
    conn.execute("insert into pair_a(v) values (?)", (f"w{n}",))
    conn.execute("insert into pair_b(v) values (?)", (f"w{n}",))
    conn.execute("commit")
    conn.execute("pragma wal_checkpoint(passive)")
    n += 1
"""


def test_a_preview_under_a_writer_is_of_one_moment(service: Service, tmp_path: Path):
    """A writer commits a row into pair_a and pair_b in each transaction while the page
    path runs again and again: every preview it gives counts both tables at the same
    moment (equal growth), and the tables the writer never touches stay proven unchanged."""
    db = _live(tmp_path / "notes.db")
    ref = _backup(service, db)
    writer = subprocess.Popen(
        [sys.executable, "-c", PAIR_WRITER, str(db)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "ready"
        seen: list[DatabaseDiff] = []

        def previews() -> bool:
            quick = _by_pages(service, ref, db, tmp_path / "pages.db")
            if quick is not None:
                seen.append(quick)
            return len(seen) >= 3

        wait_until(previews, "three previews by pages while the writer runs", interval=0)
    finally:
        writer.terminate()
        writer.wait(timeout=30)
    for quick in seen:
        tables = {t.name: t for t in quick.tables}
        grown_a = tables["pair_a"].brought_back, tables["pair_a"].removed
        grown_b = tables["pair_b"].brought_back, tables["pair_b"].removed
        assert grown_a == grown_b and grown_a[1] is not None
        assert tables["pair_a"].rows_now == tables["pair_b"].rows_now
        assert not tables["notes"].differs and not tables["log"].differs


def test_a_journal_beside_the_database_is_previewed_in_full(service: Service, tmp_path: Path):
    """journal_mode=persist leaves its -journal there: the page path cannot tell it from a
    hot journal (whose rollback the file does not hold yet), so the full comparison runs."""
    db = _live(tmp_path / "notes.db", "persist")
    ref = _backup(service, db)
    _write(db, "pragma journal_mode=persist", "update notes set body = 'p' where id < 5")
    assert Path(f"{db}-journal").exists()
    assert _by_pages(service, ref, db, tmp_path / "pages.db") is None
    full = _full_comparison(service, ref, db, tmp_path / "full.db")
    assert _figures(service.preview(ref)) == _figures(full)
    assert next(t for t in full.tables if t.name == "notes").changed == 5


def test_a_page_list_not_the_manifests_is_not_used(service: Service, tmp_path: Path):
    """A page-hash list of the right length whose bytes are not those the manifest's
    SHA-256 names (read as the live file is, so checked at the end of that read) proves
    nothing: the page path gives None and the service's preview is the full comparison."""
    from lifeboat.core.manifest import PAGES_SUFFIX

    db = _live(tmp_path / "notes.db")
    ref = _backup(service, db)
    _write(db, "update notes set body = 'new' where id % 97 = 0")
    record = service.snapshot(ref)
    listed = record.folder / f"{record.manifest.stem}{PAGES_SUFFIX}"
    data = bytearray(listed.read_bytes())
    data[-1] ^= 0xFF  # a page only the end of the read reaches
    listed.chmod(0o600)
    listed.write_bytes(bytes(data))
    assert _by_pages(service, ref, db, tmp_path / "pages.db") is None
    full = _full_comparison(service, ref, db, tmp_path / "full.db")
    assert _figures(service.preview(ref)) == _figures(full)


def _brute_force(snapshot: Path, live: Path) -> dict[str, tuple[int, int, int, int, int]]:
    """(rows in the snapshot, rows now, brought back, removed, changed) of each table in
    both, every row read into Python: matched on the declared primary key where there
    is one (the same in both), else on the rowid; compared on the columns both have."""
    conns = [sqlite3.connect(f"file:{p}?mode=ro", uri=True) for p in (snapshot, live)]
    try:
        names = [
            {r[0] for r in c.execute("select name from sqlite_schema where type = 'table'")}
            for c in conns
        ]
        figures = {}
        for name in sorted(names[0] & names[1]):
            infos = [c.execute(f"pragma table_info({name})").fetchall() for c in conns]
            key = [r[1] for r in sorted((r for r in infos[0] if r[5]), key=lambda r: r[5])]
            common = [r[1] for r in infos[0] if r[1] in {i[1] for i in infos[1]}]
            select = f"select {', '.join(key or ['rowid'])}, {', '.join(common)} from {name}"
            width = len(key or ["rowid"])
            then, now = ({row[:width]: row[width:] for row in c.execute(select)} for c in conns)
            changed = sum(1 for k in then.keys() & now.keys() if then[k] != now[k])
            figures[name] = (
                len(then),
                len(now),
                len(then.keys() - now.keys()),
                len(now.keys() - then.keys()),
                changed,
            )
        return figures
    finally:
        for conn in conns:
            conn.close()


BRUTE_CASES: dict[str, tuple[str, ...]] = {
    # rowid tables only (by key and without one): compared within intervals
    "rowid tables": (
        "update notes set body = body || 'more' where id % 37 = 0",
        "delete from notes where id between 1200 and 1300",
        "insert into notes(title, body) select 'new ' || at, line from log where at < 60",
        "update log set line = 'short' where at % 11 = 0",
        "delete from log where at % 13 = 0",
        "insert into log values (99999, 'appended')",
    ),
    "and a WITHOUT ROWID table": (
        "update notes set title = 'renamed' where id % 101 = 0",
        "delete from tags where note % 9 = 0",
        "insert into tags values (123456, 'added')",
    ),
    "and the schema": (
        "alter table notes add column mood text",
        "update notes set mood = 'ok', body = 'b' where id % 53 = 0",
        "delete from log where at < 10",
    ),
}


@pytest.mark.parametrize("case", list(BRUTE_CASES))
def test_the_preview_is_what_a_brute_force_finds(service: Service, tmp_path: Path, case: str):
    """The service's preview (the page path where it applies) against every row of the
    snapshot and of the live database read into Python and matched by key."""
    db = _live(tmp_path / "notes.db")
    ref = _backup(service, db)
    _write(db, *BRUTE_CASES[case])
    quick = _by_pages(service, ref, db, tmp_path / "pages.db")
    assert quick is not None
    record = service.snapshot(ref)
    snapshot = tmp_path / "snapshot.db"
    with snapshot_files(service.workspace, record, no_progress, CancelToken()) as files:
        extract_verified(files.folder, record.manifest, snapshot, check="none", base=files.base)
    expected = _brute_force(snapshot, db)
    for diff in (quick, service.preview(ref)):
        found = {
            t.name: (t.rows_snapshot, t.rows_now, t.brought_back, t.removed, t.changed)
            for t in diff.tables
        }
        assert found == expected
    assert any(figures[2] or figures[3] or figures[4] for figures in expected.values())
