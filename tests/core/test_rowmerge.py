"""The row merge engine against a brute-force reference: crafted past and live databases
(deleted, changed and added rows; a rowid key, a text key, a composite key WITHOUT
ROWID, no key at all), every mode and conflict policy; then the cases the reference does
not cover: UNIQUE conflicts, foreign keys, triggers, dropped, renamed and reshaped tables."""

from __future__ import annotations

import random
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from lifeboat.core.rowmerge import connect_merge, plan_merge
from lifeboat.core.rowmerge_apply import apply_merge
from lifeboat.core.rowmerge_records import MergePlan, MergeRequest
from lifeboat.foundation.errors import ConfigError, LifeboatError, OperationFailed

TABLES = {
    "int_key": ("create table int_key(id integer primary key, a text, b int)", (0,)),
    "text_key": ("create table text_key(name text primary key, a text, b int)", (0,)),
    "pair_key": (
        "create table pair_key(x text, y int, a text, b int, primary key (y, x)) without rowid",
        (1, 0),
    ),
    "no_key": ("create table no_key(p text, a text, b int)", ()),
}


def _rows(table: str, rng: random.Random) -> list[tuple[object, ...]]:
    rows = []
    for i in range(60):
        a, b = rng.choice(["x", "y", None]), rng.randrange(4)
        if table == "int_key":
            rows.append((i, a, b))
        elif table == "text_key":
            rows.append((f"n{i}", a, b))
        elif table == "pair_key":
            rows.append((f"x{i % 7}", i // 7, a, b))
        else:
            rows.append((f"p{rng.randrange(10)}", a, b))  # duplicates on purpose
    return rows


def _mutate(rows: list[tuple[object, ...]], rng: random.Random) -> list[tuple[object, ...]]:
    """Live: some rows deleted, some changed (not in a key column), some added."""
    live = []
    for row in rows:
        roll = rng.random()
        if roll < 0.2:
            continue
        if roll < 0.4:
            row = (*row[:-1], int(row[-1]) + 10)  # type: ignore[call-overload]  # b is an int
        live.append(row)
    for i in range(8):
        live.append(_added(rows, i))
    return live


def _added(rows: list[tuple[object, ...]], i: int) -> tuple[object, ...]:
    width = len(rows[0])
    if width == 4:
        return (f"new{i}", 1000 + i, "z", i)
    first = rows[0][0]
    return ((1000 + i) if isinstance(first, int) else f"new{i}", "z", i)


def reference(
    past: list[tuple[object, ...]],
    live: list[tuple[object, ...]],
    key: tuple[int, ...],
    request: MergeRequest,
) -> Counter[tuple[object, ...]]:
    """What live must hold after the merge, computed the slow obvious way."""
    if not key:
        missing = Counter(past) - Counter(live)
        return Counter(live) + (missing if request.mode != "changed" else Counter())
    then = {tuple(r[i] for i in key): r for r in past}
    now = {tuple(r[i] for i in key): r for r in live}
    result = dict(now)
    for k, row in then.items():
        if k not in now:
            if request.mode != "changed":
                result[k] = row
        elif now[k] != row and request.overwrites_changed:
            result[k] = row
    return Counter(result.values())


def _make(path: Path, sql: str, table: str, rows: list[tuple[object, ...]]) -> None:
    conn = sqlite3.connect(path)
    conn.execute(sql)
    marks = ", ".join("?" for _ in rows[0])
    conn.executemany(f"insert into {table} values ({marks})", rows)
    conn.commit()
    conn.close()


def merge(
    live: Path, past: Path, request: MergeRequest, confirmed: MergePlan | None = None
) -> tuple[MergePlan, int, int]:
    conn = connect_merge(live, past, 5)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = apply_merge(conn, request, confirmed)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result
    finally:
        conn.close()


def plan(live: Path, past: Path, request: MergeRequest) -> MergePlan:
    conn = connect_merge(live, past, 5)
    try:
        return plan_merge(conn, request)
    finally:
        conn.close()


def rows_of(path: Path, table: str) -> Counter[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return Counter(conn.execute(f"select * from {table}").fetchall())
    finally:
        conn.close()


REQUESTS = [
    MergeRequest("t"),
    MergeRequest("t", prefer_past=True),
    MergeRequest("t", mode="deleted"),
    MergeRequest("t", mode="changed"),
]


@pytest.mark.parametrize("table", sorted(TABLES))
@pytest.mark.parametrize("which", range(len(REQUESTS)))
@pytest.mark.parametrize("seed", [1, 2])
def test_the_merge_equals_the_brute_force_reference(
    tmp_path: Path, table: str, which: int, seed: int
):
    rng = random.Random(seed)
    sql, key = TABLES[table]
    past_rows = _rows(table, rng)
    live_rows = _mutate(past_rows, rng)
    past, live = tmp_path / "past.db", tmp_path / "live.db"
    _make(past, sql, table, past_rows)
    _make(live, sql, table, live_rows)
    request = MergeRequest(
        table, mode=REQUESTS[which].mode, prefer_past=REQUESTS[which].prefer_past
    )
    expected = reference(past_rows, live_rows, key, request)
    preview = plan(live, past, request)
    done, inserted, updated = merge(live, past, request, preview)
    assert rows_of(live, table) == expected
    assert done == preview
    assert inserted == preview.to_insert and updated == preview.overwritten
    assert sum(expected.values()) == sum(Counter(live_rows).values()) + inserted


def test_a_where_condition_brings_back_only_the_rows_it_picks(tmp_path: Path):
    past, live = tmp_path / "past.db", tmp_path / "live.db"
    sql = TABLES["int_key"][0]
    _make(past, sql, "int_key", [(i, "a", i) for i in range(20)])
    _make(live, sql, "int_key", [(i, "a", i) for i in range(10)])
    done, inserted, _ = merge(live, past, MergeRequest("int_key", where="b >= 15"))
    assert inserted == 5 and done.deleted == 5
    assert sorted(r[0] for r in rows_of(live, "int_key")) == [*range(10), *range(15, 20)]
    with pytest.raises(ConfigError, match="--where"):
        plan(live, past, MergeRequest("int_key", where="nope > 1"))
    with pytest.raises(ConfigError, match="one condition"):
        plan(live, past, MergeRequest("int_key", where="1; drop table int_key"))


def _schema(path: Path, script: str) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.close()


def test_a_row_that_would_break_a_unique_constraint_is_left_out_and_said(tmp_path: Path):
    past, live = tmp_path / "past.db", tmp_path / "live.db"
    table = "create table people(id integer primary key, email text unique, name text);"
    _schema(past, table + "insert into people values (1, 'a@x', 'A'), (2, 'b@x', 'B');")
    _schema(live, table + "insert into people values (1, 'a@x', 'A'), (3, 'b@x', 'B2');")
    preview = plan(live, past, MergeRequest("people", show_rows=5))
    assert (preview.deleted, preview.conflicts, preview.to_insert) == (1, 1, 0)
    assert [s.kind for s in preview.rows] == ["conflict"]
    assert "email" in preview.rows[0].reason
    assert not preview.changes_anything
    merge(live, past, MergeRequest("people"))
    assert rows_of(live, "people") == Counter([(1, "a@x", "A"), (3, "b@x", "B2")])


def test_a_row_whose_parent_is_gone_is_refused_with_the_rows_named(tmp_path: Path):
    past, live = tmp_path / "past.db", tmp_path / "live.db"
    script = (
        "create table folders(id integer primary key, name text);"
        "create table notes(id integer primary key, folder int references folders(id), t text);"
        "insert into folders values (1, 'one'), (2, 'two');"
        "insert into notes values (10, 1, 'a'), (11, 2, 'b');"
    )
    _schema(past, script)
    _schema(live, script + "delete from notes; delete from folders where id = 2;")
    before = rows_of(live, "notes")
    preview = plan(live, past, MergeRequest("notes"))
    assert any(
        "1 row(s) to bring back refer to rows folders no longer has" in n for n in preview.notes
    )
    with pytest.raises(OperationFailed, match=r"folders no longer has \(notes row 11\)"):
        merge(live, past, MergeRequest("notes"))
    assert rows_of(live, "notes") == before, "rolled back: nothing changed"
    merge(live, past, MergeRequest("folders"))
    merge(live, past, MergeRequest("notes"))
    assert len(rows_of(live, "notes")) == 2


def test_the_apps_triggers_fire_for_rows_brought_back_and_the_preview_says_so(tmp_path: Path):
    past, live = tmp_path / "past.db", tmp_path / "live.db"
    script = (
        "create table notes(id integer primary key, t text);"
        "create table audit(what text);"
        "create trigger noted after insert on notes begin insert into audit values (new.t); end;"
    )
    _schema(past, script + "insert into notes values (1, 'kept'), (2, 'lost');")
    _schema(live, script + "insert into notes values (1, 'kept');")
    preview = plan(live, past, MergeRequest("notes"))
    assert preview.triggers == ("noted",)
    assert any("noted fire" in n for n in preview.notes)
    merge(live, past, MergeRequest("notes"))
    assert rows_of(live, "audit") == Counter([("kept",), ("lost",)])


def test_a_trigger_that_refuses_rolls_the_whole_merge_back(tmp_path: Path):
    past, live = tmp_path / "past.db", tmp_path / "live.db"
    script = "create table notes(id integer primary key, t text);"
    _schema(past, script + "insert into notes values (1, 'a'), (2, 'no');")
    _schema(
        live,
        script + "create trigger guard before insert on notes when new.t = 'no' "
        "begin select raise(abort, 'not that one'); end;",
    )
    with pytest.raises(OperationFailed, match="not that one"):
        merge(live, past, MergeRequest("notes"))
    assert rows_of(live, "notes") == Counter()


def test_a_dropped_table_comes_back_with_its_indexes(tmp_path: Path):
    past, live = tmp_path / "past.db", tmp_path / "live.db"
    _schema(
        past,
        "create table notes(id integer primary key, t text);"
        "create index notes_t on notes(t);"
        "insert into notes values (1, 'a'), (2, 'b');",
    )
    _schema(live, "create table other(x);")
    preview = plan(live, past, MergeRequest("notes"))
    assert preview.create_table and preview.to_insert == 2
    merge(live, past, MergeRequest("notes"))
    assert rows_of(live, "notes") == Counter([(1, "a"), (2, "b")])
    conn = sqlite3.connect(live)
    names = {r[0] for r in conn.execute("select name from sqlite_master where type = 'index'")}
    conn.close()
    assert "notes_t" in names


def test_a_renamed_table_is_merged_into_its_new_name(tmp_path: Path):
    past, live = tmp_path / "past.db", tmp_path / "live.db"
    _schema(
        past,
        "create table notes(id integer primary key, t text);"
        "insert into notes values (1, 'a'), (2, 'b');",
    )
    _schema(
        live,
        "create table notes(id integer primary key, t text);"
        "insert into notes values (1, 'a');"
        "alter table notes rename to memos;",
    )
    with pytest.raises(LifeboatError, match="no table gone"):
        plan(live, past, MergeRequest("notes", into="gone"))
    done, inserted, _ = merge(live, past, MergeRequest("notes", into="memos"))
    assert inserted == 1 and done.live_table == "memos"
    assert rows_of(live, "memos") == Counter([(1, "a"), (2, "b")])


def test_columns_added_since_get_defaults_and_removed_ones_are_refused_or_dropped(
    tmp_path: Path,
):
    past, live = tmp_path / "past.db", tmp_path / "live.db"
    _schema(
        past,
        "create table notes(id integer primary key, t text, old text);"
        "insert into notes values (1, 'a', NULL), (2, 'b', 'kept then');",
    )
    _schema(
        live,
        "create table notes(id integer primary key, t text, old text);"
        "alter table notes add column stars int not null default 3;"
        "alter table notes drop column old;",
    )
    with pytest.raises(LifeboatError, match="old of notes were removed since"):
        plan(live, past, MergeRequest("notes"))
    done, inserted, _ = merge(live, past, MergeRequest("notes", where="id = 1"))
    assert inserted == 1 and any("stars" in n for n in done.notes)
    merge(live, past, MergeRequest("notes", drop_removed_columns=True))
    assert rows_of(live, "notes") == Counter([(1, "a", 3), (2, "b", 3)])


def test_a_changed_primary_key_or_a_new_required_column_is_refused(tmp_path: Path):
    past, live, other = tmp_path / "past.db", tmp_path / "live.db", tmp_path / "other.db"
    _schema(
        past,
        "create table notes(id integer primary key, t text);insert into notes values (1, 'a');",
    )
    _schema(live, "create table notes(id integer, t text primary key);")
    with pytest.raises(LifeboatError, match="primary key of notes changed"):
        plan(live, past, MergeRequest("notes"))
    _schema(other, "create table notes(id integer primary key, t text, must text not null);")
    with pytest.raises(LifeboatError, match="must"):
        plan(other, past, MergeRequest("notes"))
    with pytest.raises(LifeboatError, match="no table missing then"):
        plan(other, past, MergeRequest("missing"))


def test_the_merge_is_refused_when_live_changed_since_the_preview(tmp_path: Path):
    past, live = tmp_path / "past.db", tmp_path / "live.db"
    sql = TABLES["int_key"][0]
    _make(past, sql, "int_key", [(i, "a", i) for i in range(10)])
    _make(live, sql, "int_key", [(i, "a", i) for i in range(5)])
    preview = plan(live, past, MergeRequest("int_key"))
    conn = sqlite3.connect(live)
    conn.execute("delete from int_key where id = 0")
    conn.commit()
    conn.close()
    with pytest.raises(LifeboatError, match="changed since the preview"):
        merge(live, past, MergeRequest("int_key"), preview)
    assert len(rows_of(live, "int_key")) == 4


def test_the_preview_writes_nothing_to_the_live_database(tmp_path: Path):
    past, live = tmp_path / "past.db", tmp_path / "live" / "live.db"
    live.parent.mkdir()
    sql = TABLES["int_key"][0]
    _make(past, sql, "int_key", [(i, "a", i) for i in range(50)])
    _make(live, sql, "int_key", [(i, "b", i) for i in range(25)])
    before = live.read_bytes()
    preview = plan(live, past, MergeRequest("int_key", show_rows=3))
    assert (preview.deleted, preview.changed) == (25, 25)
    assert live.read_bytes() == before
    assert sorted(p.name for p in live.parent.iterdir()) == ["live.db"]


def test_names_are_matched_as_sqlite_matches_them_and_its_own_tables_are_refused(tmp_path: Path):
    past, live = tmp_path / "past.db", tmp_path / "live.db"
    script = "create table Notes(id integer primary key autoincrement, t text);"
    _schema(past, script + "insert into Notes(t) values ('a'), ('b');")
    _schema(live, script + "insert into Notes(t) values ('a');")
    assert merge(live, past, MergeRequest("notes"))[1] == 1
    with pytest.raises(LifeboatError, match="SQLite's own table"):
        plan(live, past, MergeRequest("sqlite_sequence"))


def test_a_table_that_needs_the_apps_collation_is_refused_in_one_line(tmp_path: Path):
    past, live = tmp_path / "past.db", tmp_path / "live.db"
    conn = sqlite3.connect(past)
    conn.create_collation("APPCASE", lambda a, b: (a > b) - (a < b))
    conn.executescript(
        "create table tags(name text collate APPCASE primary key, n int);"
        "insert into tags values ('x', 1), ('y', 2);"
    )
    conn.commit()
    conn.close()
    conn = sqlite3.connect(live)
    conn.create_collation("APPCASE", lambda a, b: (a > b) - (a < b))
    conn.executescript(
        "create table tags(name text collate APPCASE primary key, n int);"
        "insert into tags values ('x', 1);"
    )
    conn.commit()
    conn.close()
    with pytest.raises(OperationFailed, match="cannot be compared here: no such collation"):
        plan(live, past, MergeRequest("tags"))
