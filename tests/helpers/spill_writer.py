"""A separate process that writes uncommitted pages into a rollback-journal database and
stays in its transaction until killed (run as a script): python spill_writer.py DB.

Prints "ready", then waits for a line on stdin; then rewrites every row of `items` in one
transaction with a page cache of a few pages, so SQLite spills the changed pages into the
database file itself (holding the exclusive lock, the old pages saved in the -journal),
prints "spilled <bytes of the -journal>" and waits on stdin again, the transaction open.
The test kills it with SIGKILL there: a writer dead mid-transaction, its pages in the
file, a hot journal beside it that the next reader rolls back.
"""

from __future__ import annotations

import os
import sqlite3
import sys


def main() -> None:
    path = sys.argv[1]
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    conn.execute("pragma journal_mode=delete")
    conn.execute("pragma cache_size=4")  # pages: any sizeable transaction spills
    print("ready", flush=True)
    sys.stdin.readline()
    conn.execute("begin immediate")
    conn.execute("update items set payload = randomblob(length(payload))")
    journal = os.path.getsize(f"{path}-journal")
    print(f"spilled {journal}", flush=True)
    sys.stdin.readline()  # killed here
    conn.execute("rollback")


if __name__ == "__main__":
    main()
