"""The passphrase children (core/key_passphrase.py) this test process started."""

from __future__ import annotations

import os
from pathlib import Path


def opener_children() -> list[int]:
    """The key file openers this process started and that still run (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        state = stat.rsplit(")", 1)[1].split()[0]
        if parent == os.getpid() and state != "Z" and b"key_passphrase" in cmdline:
            found.append(int(entry.name))
    return found
