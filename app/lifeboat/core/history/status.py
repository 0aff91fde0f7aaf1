"""What a follower reports: its chain, what it took and wrote, and how (for the host's
status line and timeline, and for the tests)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Status:
    """What the follower has done (the host shows it; tests read it)."""

    chain: str | None = None
    commits: int = 0  # taken since start
    merged: int = 0  # catch-ups that merged commits it could not read one by one
    gaps: int = 0
    catch_ups: int = 0  # catch-ups, also those that found nothing to merge
    held_reads: int = 0  # catch-ups read holding the WAL (it restarted under a plain read)
    unsettled_polls: int = 0  # polls that could not read a settled state (tried again)
    segments: int = 0  # level-0 segments written
    compactions: int = 0
    last_capture_us: int | None = None  # the last commit written to the history
    last_read_us: int | None = None  # the last commit read (written within write_every_s)
    wal_bytes_read: int = 0
    new_chains: list[str] = field(default_factory=list)  # why each chain was started
    #: why its sealed history is not compacted now (no identity: a locked keyring);
    #: None once it is (the level-0 segments wait, capture goes on)
    not_compacted: str | None = None
