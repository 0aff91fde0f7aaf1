"""A real continuous history made in the test's process: a writer commits rows into a
WAL database while the service's own Follower captures each commit, with a stretch when
nothing follows (a gap the history reports), and the row set the writer left after
each commit, in commit order."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from lifeboat.service import Service


@dataclass
class Followed:
    #: the ids in `items` right after each captured commit, in commit order
    states: list[frozenset[int]] = field(default_factory=list)
    #: the index in `states` of the commit that caught up after the gap
    gap_at: int | None = None


def _ids(conn: sqlite3.Connection) -> frozenset[int]:
    return frozenset(r[0] for r in conn.execute("select id from items"))


def follow_with_gap(
    service: Service, name: str, db: Path, *, first: int = 8, missed: int = 3, then: int = 8
) -> Followed:
    """`first` commits captured one by one, `missed` while nothing follows, then a new
    follower catches up (the gap) and captures `then` more one by one."""
    writer = sqlite3.connect(db, isolation_level=None)
    followed = Followed()
    row = 1000
    try:
        for count, last in ((first, False), (then, True)):
            follower = service.open_follower(name, compact_every_s=0, write_every_s=0)
            follower.start()
            if last:
                followed.gap_at = len(followed.states)
                followed.states.append(_ids(writer))  # the catch-up's state
            for _ in range(count):
                writer.execute(
                    "insert into items(id, name, payload) values (?, 'x', x'00')", (row,)
                )
                row += 1
                follower.poll()
                followed.states.append(_ids(writer))
            follower.close()
            if not last:
                for _ in range(missed):
                    writer.execute(
                        "insert into items(id, name, payload) values (?, 'y', x'01')", (row,)
                    )
                    row += 1
    finally:
        writer.close()
    return followed
