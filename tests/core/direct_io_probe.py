"""What the direct-I/O tests ask of the system: open descriptors, and whether a folder's
file system takes O_DIRECT."""

from __future__ import annotations

import os
from pathlib import Path


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def takes_direct_io(folder: Path) -> bool:
    probe = folder / "probe"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_DIRECT, 0o600)
    except OSError:
        return False
    finally:
        if probe.exists():
            probe.unlink()
    os.close(fd)
    return True
