"""A stamp of a database file that any write to it moves: the proof that nothing wrote it.

A rollback-journal database's change counter (header offset 24) moves on every commit,
but not when a writer writes pages into the file and then puts the old ones back (a
transaction that spilled its cache and rolled back, or a hot journal rolled back after a
writer died mid-commit). Every write moves the file's modification and status-change
times, though (the status-change time cannot be set back by anyone), so the counter, the
size and both times together, read while SQLite's shared lock keeps writers out, say
whether anything wrote the file between two readings.

Only if the earlier reading's times cannot be given again by a later write: a file
system keeps times to its own granularity (1 or 2 s on some) and the kernel takes them
from a clock that moves in ticks (at most 10 ms), so a write right after another can get
the very same time. A stamp is `settled` once the time it was read at is past its times
by more than that; a later write then gets a later time. Two readings equal and the
earlier one settled: nothing wrote the file between them.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

#: the kernel's coarse clock tick (HZ >= 100: <= 10 ms) with room for a slewing clock
_TICK_ROOM_NS = 50_000_000
_SECOND_NS = 1_000_000_000
_CENTISECOND_NS = 10_000_000


@dataclass(frozen=True)
class FileStamp:
    counter: bytes  # the header's change counter
    size: int
    mtime_ns: int
    ctime_ns: int
    read_at_ns: int  # the wall clock when it was read (under the shared lock)

    @classmethod
    def of(cls, counter: bytes, fd: int) -> FileStamp:
        """The stamp of the open file `fd` whose header says `counter`, read now."""
        st = os.fstat(fd)
        return cls(counter, st.st_size, st.st_mtime_ns, st.st_ctime_ns, time.time_ns())

    @property
    def settled(self) -> bool:
        """Whether a write after this reading must give the file other times."""
        return all(
            self.read_at_ns - stamp > granularity_room_ns(stamp)
            for stamp in (self.mtime_ns, self.ctime_ns)
        )

    def unchanged_since(self, earlier: FileStamp) -> bool:
        """Whether nothing wrote the file between `earlier` and this reading."""
        return earlier.settled and (
            earlier.counter,
            earlier.size,
            earlier.mtime_ns,
            earlier.ctime_ns,
        ) == (self.counter, self.size, self.mtime_ns, self.ctime_ns)


def granularity_room_ns(stamp_ns: int) -> int:
    """How long after the file time `stamp_ns` a write may still get the same time: the
    file system's granularity, told by the time's trailing zeros (whole seconds: ext4
    with small inodes, FAT's 2 s; hundredths: exFAT), plus the clock tick with room. A
    fine time that happens to end in zeros only makes the wait longer."""
    if stamp_ns % _SECOND_NS == 0:
        return 2 * _SECOND_NS + _TICK_ROOM_NS
    if stamp_ns % _CENTISECOND_NS == 0:
        return _CENTISECOND_NS + _TICK_ROOM_NS
    return _TICK_ROOM_NS
