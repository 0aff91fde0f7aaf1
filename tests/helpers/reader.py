"""A separate process that keeps a database open and reads it when told (run as a script).

Usage: python reader.py DB. Opens DB, prints "ready"; on each line from stdin prints one
JSON line with the rows of `items` (id, name), until stdin closes.
"""

from __future__ import annotations

import json
import sqlite3
import sys


def main() -> None:
    conn = sqlite3.connect(sys.argv[1], timeout=30)
    conn.execute("select count(*) from sqlite_master").fetchone()
    print("ready", flush=True)
    for _ in sys.stdin:
        rows = conn.execute("select id, name from items order by id").fetchall()
        print(json.dumps(rows), flush=True)


if __name__ == "__main__":
    main()
