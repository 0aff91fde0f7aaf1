"""The WAL reader against real SQLite WAL files."""

from __future__ import annotations

import os
import shutil
import sqlite3
import struct
from pathlib import Path

import pytest

from lifeboat.core.history import walsum
from lifeboat.core.history.wal import (
    FRAME_HEADER_SIZE,
    HEADER_SIZE,
    MAGIC_BIG,
    Cursor,
    KeptWal,
    Stop,
    WalFile,
    WalHeader,
    follows,
    frame_header_at,
    parse_header,
    scan,
    still_there,
)


def _app(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("pragma journal_mode=wal")
    conn.execute("pragma wal_autocheckpoint=0")
    conn.execute("create table if not exists t(id integer primary key, v blob)")
    conn.execute("pragma wal_checkpoint(truncate)")
    return conn


def _insert(conn: sqlite3.Connection, count: int, size: int = 300) -> None:
    for _ in range(count):
        conn.execute("insert into t(v) values (?)", (os.urandom(size),))


def _apply(base: bytes, transactions: list, page_size: int) -> bytes:  # type: ignore[type-arg]
    data = bytearray(base)
    count = len(base) // page_size
    for txn in transactions:
        for number, page in txn.pages.items():
            end = number * page_size
            if len(data) < end:
                data.extend(bytes(end - len(data)))
            data[end - page_size : end] = page
        count = txn.page_count
    return bytes(data[: count * page_size])


@pytest.mark.parametrize("fast", [True, False])
def test_frames_applied_to_the_file_give_the_checkpointed_database(tmp_path, fast):
    db = tmp_path / "a.db"
    conn = _app(db)
    base = db.read_bytes()
    _insert(conn, 120)
    conn.execute("update t set v = zeroblob(100) where id % 3 = 0")
    with WalFile(f"{db}-wal") as wal:
        header = wal.header()
        assert header is not None and header.page_size == 4096
        found = scan(wal.read_at, Cursor.at_start(header), fast=fast)
    assert len(found.transactions) == 121 and found.stop is Stop.END
    assert found.pending_frames == 0
    conn.execute("pragma wal_checkpoint(truncate)")
    assert _apply(base, found.transactions, 4096) == db.read_bytes()


def test_fast_and_word_loop_checksums_agree_in_both_byte_orders():
    data = os.urandom((4096 + 24) * 3)
    for big in (False, True):
        loop = walsum.FrameChecksums(data, 4096 + 24, 0, big, fast=False)
        fast = walsum.FrameChecksums(data, 4096 + 24, 3, big, fast=True)
        start = (12345, 67890)
        for i in range(3):
            assert loop.chain(i, start) == fast.chain(i, start)


def test_a_big_endian_wal_sqlite_accepts_is_read_the_same(tmp_path):
    """SQLite writes the checksums in the machine's order; a WAL made on a big-endian
    machine (magic 0x377f0683) is re-encoded here, and SQLite itself must accept it."""
    db = tmp_path / "a.db"
    conn = _app(db)
    _insert(conn, 40)
    wal_bytes = Path(f"{db}-wal").read_bytes()
    copy = tmp_path / "b.db"
    shutil.copyfile(db, copy)
    conn.close()  # checkpoints db; the copy keeps the old file
    header = parse_header(wal_bytes)
    assert header is not None and not header.big_endian
    out = bytearray(wal_bytes)
    struct.pack_into(">I", out, 0, MAGIC_BIG)
    running = walsum.checksum_bytes(bytes(out[:24]), (0, 0), True)
    struct.pack_into(">II", out, 24, *running)
    size = header.frame_size
    for at in range(HEADER_SIZE, len(out) - size + 1, size):
        running = walsum.checksum_bytes(bytes(out[at : at + 8]), running, True)
        running = walsum.checksum_bytes(bytes(out[at + 24 : at + size]), running, True)
        struct.pack_into(">II", out, at + 16, *running)
    Path(f"{copy}-wal").write_bytes(out)
    with WalFile(f"{copy}-wal") as wal:
        big = wal.header()
        assert big is not None and big.big_endian
        found = scan(wal.read_at, Cursor.at_start(big))
    assert len(found.transactions) == 40
    check = sqlite3.connect(copy)
    assert check.execute("select count(*) from t").fetchone()[0] == 40  # SQLite agrees
    check.close()


def test_only_whole_valid_transactions_are_taken(tmp_path):
    db = tmp_path / "a.db"
    conn = _app(db)
    conn.execute("begin")
    _insert(conn, 30, size=3000)  # one transaction of many frames
    conn.execute("commit")
    _insert(conn, 1)
    wal_path = Path(f"{db}-wal")
    good = wal_path.read_bytes()
    header = parse_header(good)
    assert header is not None
    whole = scan(lambda o, n: good[o : o + n], Cursor.at_start(header))
    assert len(whole.transactions) == 2
    # The last frame half written: only the first transaction counts.
    cut = good[: len(good) - 100]
    found = scan(lambda o, n: cut[o : o + n], Cursor.at_start(header))
    assert len(found.transactions) == 1 and found.stop is Stop.END
    # One byte of a page of the first transaction changed: nothing at all.
    broken = bytearray(good)
    broken[HEADER_SIZE + FRAME_HEADER_SIZE + 10] ^= 1
    found = scan(lambda o, n: bytes(broken[o : o + n]), Cursor.at_start(header))
    assert found.transactions == [] and found.stop is Stop.BROKEN
    # From a cursor: only what follows it, and the cursor's frame must still be there.
    after_first = whole.transactions[0].last_frame
    cursor = Cursor(header, after_first, _checksum_at(good, header, after_first))
    assert still_there(lambda o, n: good[o : o + n], cursor)
    rest = scan(lambda o, n: good[o : o + n], cursor)
    assert [t.last_frame for t in rest.transactions] == [whole.transactions[1].last_frame]
    assert not still_there(lambda o, n: good[:HEADER_SIZE][o : o + n], cursor)


def _checksum_at(raw: bytes, header, frame: int) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    at = header.frame_offset(frame)
    return struct.unpack(">II", raw[at + 16 : at + 24])


def test_the_old_generation_tail_is_read_after_a_restart(tmp_path):
    db = tmp_path / "a.db"
    conn = _app(db)
    _insert(conn, 10)
    wal_path = f"{db}-wal"
    with WalFile(wal_path) as wal:
        old = wal.header()
        assert old is not None
        first = scan(wal.read_at, Cursor.at_start(old))
    cursor = first.cursor
    assert cursor is not None
    _insert(conn, 10)  # not read yet
    conn.execute("pragma wal_checkpoint(passive)")
    _insert(conn, 2)  # restarts the WAL: frames 1.. of the new generation
    with WalFile(wal_path) as wal:
        new = wal.header()
        assert new is not None and new.salt != old.salt and follows(old, new)
        tail = scan(wal.read_at, cursor)
        fresh = scan(wal.read_at, Cursor.at_start(new))
    assert len(tail.transactions) == 10 and tail.stop is Stop.END  # the file's end
    assert len(fresh.transactions) == 2


def test_no_header_in_an_empty_or_foreign_file():
    assert parse_header(b"") is None
    assert parse_header(bytes(32)) is None
    good = struct.pack(">IIIIII", 0x377F0682, 3007000, 4096, 0, 1, 2)
    sums = walsum.checksum_bytes(good, (0, 0), False)
    assert parse_header(good + struct.pack(">II", *sums)) is not None
    assert parse_header(good + struct.pack(">II", sums[0], sums[1] ^ 1)) is None


@pytest.mark.parametrize("expect", [0, 1, 7, 40, 100_000])
def test_what_a_scan_expects_changes_how_it_reads_never_what_it_finds(tmp_path, expect):
    """A follower tells the scan how many frames its last poll found: more or fewer than
    there are, the transactions, the cursor and where it stopped are the same."""
    db = tmp_path / "a.db"
    conn = _app(db)
    _insert(conn, 60)
    with WalFile(f"{db}-wal") as wal:
        header = wal.header()
        assert header is not None
        plain = scan(wal.read_at, Cursor.at_start(header))
        middle = plain.transactions[20]
        after = Cursor(header, middle.last_frame, _checksum_after(wal, header, middle.last_frame))
        for cursor in (Cursor.at_start(header), after):
            reads: list[int] = []

            def read_at(offset: int, size: int, reads: list[int] = reads) -> bytes:
                reads.append(size)
                return wal.read_at(offset, size)

            hinted = scan(read_at, cursor, expect=expect)
            again = scan(wal.read_at, cursor)
            assert hinted.transactions == again.transactions
            assert (hinted.cursor, hinted.stop, hinted.stop_frame) == (
                again.cursor,
                again.stop,
                again.stop_frame,
            )
            if expect >= 60:
                assert len(reads) == 1  # one read took every new frame


def _checksum_after(wal: WalFile, header: WalHeader, frame: int) -> tuple[int, int]:
    fields = frame_header_at(wal.read_at, header, frame)
    assert fields is not None
    return fields[4], fields[5]


def test_a_kept_wal_is_read_again_until_another_file_has_its_name(tmp_path):
    db = tmp_path / "a.db"
    conn = _app(db)
    _insert(conn, 5)
    kept = KeptWal(f"{db}-wal")
    first = kept.open(os.stat(f"{db}-wal").st_ino)
    assert kept.open(os.stat(f"{db}-wal").st_ino) is first  # the same file: not reopened
    conn.close()  # the last connection checkpoints and deletes the WAL
    assert not Path(f"{db}-wal").exists()
    with pytest.raises(FileNotFoundError):
        kept.open(None)
    conn = _app(db)
    _insert(conn, 3)
    again = kept.open(os.stat(f"{db}-wal").st_ino)
    assert again is not first
    header = again.header()
    assert header is not None
    assert len(scan(again.read_at, Cursor.at_start(header)).transactions) == 3
    kept.close()
    conn.close()
