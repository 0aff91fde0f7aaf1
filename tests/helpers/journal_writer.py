"""A separate process that owns a rollback-journal database and commits on command (run
as a script): python journal_writer.py DB. Keeps its connection open like an app does.

Reads lines from stdin: "write N" commits N rows in one transaction and prints
"<max id> <time_ns>" (the moment after the commit); "quit" ends it. Prints "ready" first.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time


def main() -> None:
    conn = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
    conn.execute("pragma journal_mode=delete")
    conn.execute(
        "create table if not exists items(id integer primary key, name text, payload blob)"
    )
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        conn.execute("begin immediate")
        for _ in range(int(words[1])):
            conn.execute("insert into items(name, payload) values ('w', ?)", (os.urandom(300),))
        conn.execute("commit")
        top = conn.execute("select max(id) from items").fetchone()[0]
        print(f"{top} {time.time_ns()}", flush=True)
    conn.close()


if __name__ == "__main__":
    main()
