"""Continuous history: every commit of a WAL database, captured and restorable.

A *chain* is a base snapshot followed by *segments* of commits read from the database's
`-wal` file (wal.py) by a follower (follower.py) that never writes, checkpoints or locks
the application's files. Segments (segment.py) are concatenated and thinned by
compaction.py; points.py resolves a moment to a commit and rebuilds that database. See
docs/FORMAT.md and the design notes of issue 20.
"""
