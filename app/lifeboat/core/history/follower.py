"""The capture loop of one source: follow its WAL, write every commit into its chain.

The host calls `poll()` (every 150 ms by default; a poll costs an `os.stat` when nothing
changed). It never writes, truncates or deletes the app's `-wal`/`-shm`, never
checkpoints, and holds no lock or read transaction while following: it reads the WAL as
a plain file (wal.py); only to start a chain does it hold a read transaction, around the
base snapshot and the reading of the WAL right after it.

What each poll does, given where it stands (salt, frame, running checksum):
- same WAL generation: take the whole valid transactions after its frame;
- the WAL was restarted once (the next generation): first the old generation's tail
  after its frame, then the new generation from frame 1;
- frames it could not read (truncated, overwritten before it read them, several
  restarts, a WAL deleted and made anew): a catch-up commit, the page-level difference
  between the live state (livestate.py) and the chain's, flagged `merged`;
- after a start on an existing chain: the same catch-up, flagged `gap`.
Commits taken are written as one level-0 segment (chain.py), atomically, once the
oldest waited `write_every_s` (0.5 s; the recovery point stays within poll + 0.5 s + the
write), or sooner when much waits, before a new chain and on close; a kill loses what
was not written yet, which the next start's catch-up takes back as its gap. Compaction
runs every 30 s (or at 300 level-0 files); small level-1 files are joined once 32 wait.
`seal_to`: sealed (sealing.py); no identities (locked keyring): level 0 waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lifeboat.core.encryption import MissingIdentity
from lifeboat.core.history import chainstart, compaction
from lifeboat.core.history.bases import BaseRef, base_state
from lifeboat.core.history.chain import SegmentFile, described, list_segments, write_segment
from lifeboat.core.history.chainstart import DbKey, WalKey, take_base_holding_the_wal
from lifeboat.core.history.folder_lock import HistoryBusy
from lifeboat.core.history.livestate import ReadUnstable, read_live_state_settled, wal_path
from lifeboat.core.history.resume import ChainTip, rebuild_tip, why_no_tip
from lifeboat.core.history.segment import FLAG_GAP, FLAG_MERGED, CommitRecord, SegmentHeader
from lifeboat.core.history.status import Status
from lifeboat.core.history.wal import (
    Cursor,
    KeptWal,
    Stop,
    Transaction,
    WalFile,
    WalHeader,
    follows,
    scan,
    still_there,
)
from lifeboat.core.kept_descriptors import pinned, unpin
from lifeboat.core.leftovers import sweep_folder
from lifeboat.core.runs import Run

#: Takes the base snapshot (today's full path) and returns it; called while the follower
#: holds a read transaction of its own on the database.
TakeBase = Callable[[], BaseRef]
#: Finds the base snapshot of an existing chain by its id (None: gone).
OpenBase = Callable[[str], "BaseRef | None"]
#: bytes of page images taken into one segment at most (a larger backlog: several)
SEGMENT_BYTES = 64 << 20


def now_us() -> int:
    return time.time_ns() // 1000


@dataclass
class _Position:
    cursor: Cursor | None
    wal_key: WalKey  # the -wal as seen last
    db_key: DbKey  # the database file as seen last


class Follower:
    def __init__(
        self,
        source: str,
        db: Path,
        folder: Path,
        run: Run,
        scratch: Path,
        take_base: TakeBase,
        open_base: OpenBase | None = None,
        *,
        clock: Callable[[], int] = now_us,
        compact_every_s: float = 30.0,
        compact_files: int = 300,
        write_every_s: float = 0.5,
        busy_timeout: float = 30.0,
        seal_to: Sequence[str] = (),
    ) -> None:
        self.source = source
        self.db = Path(db)
        self._kept_wal = KeptWal(wal_path(self.db))
        self.folder = Path(folder)
        self.run = run
        self.scratch = Path(scratch)
        self._take_base = take_base
        self._open_base = open_base or (lambda _id: None)
        self._clock = clock
        self._compact_every_us = int(compact_every_s * 1_000_000)
        self._compact_files = compact_files
        self._write_every_us = int(write_every_s * 1_000_000)
        self._pending: list[CommitRecord] = []
        self._pending_bytes = 0
        self._expect = 0  # frames the last poll found (the next one reads about so many)
        self._busy_timeout = busy_timeout
        self._seal_to = tuple(seal_to)  # age recipients: its segments are sealed
        self.status = Status()
        self._db_fd: int | None = None
        self._db_identity: tuple[int, int] | None = None
        self._tip: ChainTip | None = None
        self._position = _Position(None, None, None)
        self._level0: list[SegmentFile] = []
        self._level1: list[SegmentFile] = []  # the chain's, to be joined (settle_level1)
        self._last_compaction = clock()

    # -- the host's calls -------------------------------------------------------------

    def start(self) -> None:
        """Clean what an ended run left, then go on with the newest chain (a catch-up
        flagged as a gap) or start a new one."""
        sweep_folder(self.folder, self.run.runs_dir.parent)
        self._open_db()
        listing = list_segments(self.folder, self.source)
        compaction.remove_covered(self.folder, listing.segments)
        tip = rebuild_tip(listing.segments, self._open_base, self.run, self.scratch)
        if tip is None:
            self._start_chain(why_no_tip(listing.segments))
            return
        self._tip = tip
        self._level0 = [s for s in tip.segments if s.level == 0]
        self._level1 = [s for s in tip.segments if s.level == 1]
        self.status.chain = tip.base.id
        keys = chainstart.wal_key(self.db), chainstart.db_key(self.db)
        try:
            self._catch_up(FLAG_GAP)
        except ReadUnstable:
            self._tip = None  # the next poll starts again
            raise
        self._flush(force=True)
        self._position.wal_key, self._position.db_key = keys

    def poll(self) -> int:
        """Take what was committed since the last poll; return how many commits."""
        if self._tip is None:
            self.start()
            return self.status.commits
        before = self.status.commits
        db_key = chainstart.db_key(self.db, self._db_identity)  # one stat for both
        if db_key == chainstart.REPLACED:
            self._start_chain("the database file was replaced")
            return self.status.commits - before
        wal_key = chainstart.wal_key(self.db)
        if wal_key == self._position.wal_key and (
            wal_key is not None or db_key == (self._position.db_key)
        ):
            self._flush()
            return 0  # nothing changed: nothing read
        try:
            self._follow(wal_key, db_key)
        except ReadUnstable:  # nothing read was lost: the next poll reads on from there
            self.status.unsettled_polls += 1
        self._maybe_compact()
        return self.status.commits - before

    def run_forever(self, stop: threading.Event, interval: float = 0.1) -> None:
        if self._tip is None:
            self.start()
        while not stop.wait(interval):
            self.poll()

    def close(self) -> None:
        """Write what was taken, stop following (the next start catches up)."""
        self._flush(force=True)
        self._close_db()

    def _close_db(self) -> None:
        """Give the database's descriptor back without closing it: closing one drops
        this process's POSIX locks on the file (SQLite's too, a backup's in another
        thread): core/kept_descriptors.py keeps it."""
        self._kept_wal.close()
        if self._db_fd is not None:
            unpin(self._db_fd)
            self._db_fd = None

    # -- following ---------------------------------------------------------------------

    def _follow(self, wal_key: WalKey, db_key: DbKey) -> None:
        """Read on; then remember the files as they were seen *before* reading (a change
        made while reading is read by the next poll)."""
        self._follow_wal(db_key, None if wal_key is None else wal_key[0])
        self._position.wal_key, self._position.db_key = wal_key, db_key

    def _follow_wal(self, db_key: DbKey, inode: int | None) -> None:
        tip = self._tip
        assert tip is not None
        cursor = self._position.cursor
        try:
            wal = self._kept_wal.open(inode)
        except FileNotFoundError:
            self._catch_up(FLAG_MERGED)  # deleted (the app closed) or never there
            return
        header = wal.header()
        if header is not None and header.page_size != tip.state.page_size:
            self._start_chain("the page size changed")
        elif header is None or cursor is None:
            self._from_unknown(wal, header, cursor, db_key)
        elif header == cursor.header:
            if still_there(wal.read_at, cursor):
                self._take(wal, cursor)
            else:
                self._catch_up(FLAG_MERGED)  # cut, or made anew with the same salt
        elif follows(cursor.header, header) and self._take_old_tail(wal, cursor, header):
            self._take(wal, Cursor.at_start(header))
        else:
            self._catch_up(FLAG_MERGED)  # frames of the old generation were lost

    def _take(self, wal: WalFile, cursor: Cursor) -> None:
        """The whole transactions after `cursor`, in segments of SEGMENT_BYTES at most."""
        while True:
            found = scan(wal.read_at, cursor, limit=SEGMENT_BYTES, expect=self._expect)
            self._expect = found.stop_frame - 1 - cursor.frame  # frames it found valid
            self._record(found.transactions)
            if found.cursor is not None:
                cursor = found.cursor
            self._position.cursor = cursor
            if found.stop is not Stop.LIMIT:
                return

    def _take_old_tail(self, wal: WalFile, cursor: Cursor, new_header: WalHeader) -> bool:
        """The old generation's frames after `cursor`; False if some of them may be lost
        (the file was cut, or the new generation overwrote frames before they were read)."""
        if not still_there(wal.read_at, cursor):
            return False
        while True:
            found = scan(wal.read_at, cursor, limit=SEGMENT_BYTES)
            self._record(found.transactions)
            if found.cursor is not None:
                cursor = found.cursor
            self._position.cursor = cursor  # taken: never taken again
            if found.stop is not Stop.LIMIT:
                break
        if found.pending_frames:
            return False  # a transaction cut short: the rest was overwritten
        if found.stop is Stop.END:
            return True  # the old generation ended there (the file was never cut below it)
        # A frame of an older generation ends it; the new generation's (or a broken one
        # with the old salt) may have overwritten frames of the old one.
        return found.stop is Stop.OTHER_SALT and found.stop_salt != new_header.salt

    def _from_unknown(
        self, wal: WalFile, header: WalHeader | None, cursor: Cursor | None, db_key: DbKey
    ) -> None:
        """No WAL header now (empty, cut to nothing, being written), or none known
        before. A fresh WAL over a database file that has not changed since it was last
        seen holds every commit since: read it from frame 1. Anything else may have lost
        frames: a catch-up."""
        unchanged = db_key == self._position.db_key
        if header is None:
            if (cursor is not None and cursor.frame > 0) or not unchanged:
                self._catch_up(FLAG_MERGED)
            return
        found = scan(wal.read_at, Cursor.at_start(header))
        if chainstart.db_key(self.db) != self._position.db_key or not unchanged:
            self._catch_up(FLAG_MERGED)
            return
        self._record(found.transactions)
        self._position.cursor = found.cursor or Cursor.at_start(header)

    def _catch_up(self, flag: int) -> None:
        """One commit holding every page of the live state that differs from the chain's."""
        tip = self._tip
        assert tip is not None and self._db_fd is not None
        live, held = read_live_state_settled(self._db_fd, self.db, tip.state, self._busy_timeout)
        self.status.catch_ups += 1
        self.status.held_reads += held
        differs = bool(live.changed) or live.page_count != tip.state.page_count
        if differs or flag == FLAG_GAP:
            if flag == FLAG_MERGED:
                self.status.merged += 1
            if flag == FLAG_GAP:
                self.status.gaps += 1
            self._write([(live.changed, live.page_count, flag)])
        self._position.cursor = live.cursor

    def _record(self, transactions: list[Transaction]) -> None:
        if transactions:
            self._write([(t.pages, t.page_count, 0) for t in transactions])
            self.status.wal_bytes_read += sum(len(t.pages) for t in transactions) * (
                self._tip.state.page_size if self._tip else 0
            )

    def _write(self, commits: list[tuple[dict[int, bytes], int, int]]) -> None:
        """Take `commits` into the chain's state (at once: a catch-up compares against
        it) and keep them for the next level-0 segment."""
        tip = self._tip
        assert tip is not None
        when = self._clock()
        for pages, page_count, flags in commits:
            tip.last_seq += 1
            tip.state.apply(pages, page_count)
            self._pending.append(CommitRecord(tip.last_seq, when, page_count, flags, pages))
            self._pending_bytes += len(pages) * tip.state.page_size
        self.status.commits += len(commits)
        self.status.last_read_us = when
        self._flush()

    def _flush(self, *, force: bool = False) -> None:
        """Write what was taken as one level-0 segment, once the first of it waited
        `write_every_s` (or a lot is waiting, or `force`)."""
        tip = self._tip
        if tip is None or not self._pending:
            return
        waited = self._clock() - self._pending[0].time_us
        if not (force or waited >= self._write_every_us or self._pending_bytes >= SEGMENT_BYTES):
            return
        records = self._pending
        header = SegmentHeader(
            page_size=tip.state.page_size,
            base_id=tip.base.id,
            base_sha256=tip.base.manifest.sha256,
            segment_seq=tip.next_segment,
            previous_digest=tip.digest,
            first_commit=records[0].seq,
            commit_count=len(records),
        )
        digest = tip.state.digest()  # every commit taken is in this segment
        # Kept until written: a write that fails (a full disk) is tried again next poll.
        try:
            path, written = write_segment(
                self.folder, self.run, self.source, header, records, digest, seal_to=self._seal_to
            )
        except HistoryBusy:
            return  # the folder is being moved: the next poll writes them
        self._pending, self._pending_bytes = [], 0
        tip.digest = digest
        tip.next_segment += 1
        self._level0.append(described(path, header, written, 0))
        self.status.segments += 1
        self.status.last_capture_us = records[-1].time_us

    # -- chains ------------------------------------------------------------------------

    def _start_chain(self, why: str) -> None:
        """A new base (chainstart.py), then the WAL's transactions as its first commit."""
        self._flush(force=True)
        self._open_db()
        started = take_base_holding_the_wal(self.db, self._take_base, self._busy_timeout)
        state = base_state(started.base, self.run, self.scratch)
        self._tip = ChainTip(started.base, [], state, state.digest(), 0, 1)
        self._level0, self._level1 = [], []
        self.status.chain = started.base.id
        self.status.new_chains.append(why)
        if started.first_commit is not None:
            pages, page_count = started.first_commit
            self._write([(pages, page_count, 0)])
            self._flush(force=True)
        self._position = _Position(started.cursor, *started.keys)

    def _open_db(self) -> None:
        self._close_db()
        self._db_fd, self._db_identity = pinned(self.db)

    def _maybe_compact(self) -> None:
        tip = self._tip
        if tip is None or len(self._level0) < 2:
            return
        due = self._clock() - self._last_compaction >= self._compact_every_us
        if not due and len(self._level0) <= self._compact_files:
            return
        try:
            joined = compaction.compact_level0(
                self.folder, self.source, self._level0, self.run, seal_to=self._seal_to
            )
            self._level0 = []
            self._level1 = compaction.settle_level1(
                self.folder, self.source, [*self._level1, joined], self.run, seal_to=self._seal_to
            )
        except HistoryBusy:
            return  # the folder is being moved: at a later poll
        except MissingIdentity as exc:  # sealed, and the keyring locked: later
            self._last_compaction, self.status.not_compacted = self._clock(), exc.message
            return
        self._last_compaction = self._clock()
        self.status.compactions += 1
        self.status.not_compacted = None
