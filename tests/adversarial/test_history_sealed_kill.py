"""A sealed history under SIGKILL: a capture process killed while it captures and
compacts leaves no plain page in any file under Lifeboat's folders, and a process
killed while it holds a large sealed segment decrypted leaves nothing decrypted, before
or after the next start."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from lifeboat.core.history.chain import list_segments
from lifeboat.core.history.sealing import IN_MEMORY, is_sealed
from lifeboat.service import Service
from lifeboat.service.history import history_folder
from tests.helpers.waiting import wait_until
from tests.service.test_history_sealed import NAME, _capture, _service, files_holding

CAPTURE = """
import sys
from lifeboat.service import Service
follower = Service().open_follower(sys.argv[1], compact_every_s=0.3, write_every_s=0.05)
follower.start()
print("following", flush=True)
while True:
    follower.poll()
"""

HOLD_OPEN = """
import sys
from pathlib import Path
from lifeboat.core.history.segment_read import SegmentReader
from lifeboat.service import Service
Service()  # its keys open sealed segments in this process
reader = SegmentReader(Path(sys.argv[1]))
print("open", reader.header.base_id, flush=True)
sys.stdin.readline()
"""


def _folder(service: Service) -> Path:
    return history_folder(service.workspace, service.workspace.config().source(NAME))


def test_capture_killed_while_capturing_and_compacting_leaves_no_plain_page(
    home: Path, file_keyring: Path, tmp_path: Path
):
    marker = "kill-marker-" + os.urandom(6).hex()
    service, db = _service(home, tmp_path, sealed=True)
    child = subprocess.Popen(
        [sys.executable, "-c", CAPTURE, NAME], stdout=subprocess.PIPE, text=True
    )
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "following"
        written = 0

        def compacted_while_writing() -> bool:
            nonlocal written
            writer.execute("insert into notes(body) values (?)", (f"{marker} {written}",))
            written += 1
            segments = list_segments(_folder(service), NAME).segments
            return written > 50 and any(s.level >= 1 for s in segments)

        wait_until(compacted_while_writing, "a compaction while commits come", process=child)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    writer.close()
    assert files_holding(home, marker.encode()) == []
    again = Service()
    again.sweep()
    marks = _capture(again, db, marker, 3, compact_every_s=0)  # the next start goes on
    assert marks and files_holding(home, marker.encode()) == []
    assert all(is_sealed(s.path) for s in list_segments(_folder(again), NAME).segments)
    checks = again.verify_history(NAME)
    assert checks and all(c.status == "ok" for c in checks), checks


def test_a_run_killed_holding_a_segment_decrypted_leaves_nothing_decrypted(
    home: Path, file_keyring: Path, tmp_path: Path
):
    marker = "held-marker-" + os.urandom(6).hex()
    service, db = _service(home, tmp_path, sealed=True)
    follower = service.open_follower(NAME, compact_every_s=3600, write_every_s=3600)
    follower.start()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("insert into notes(body) values (?)", (marker,))
    for _ in range(10):  # ~10 MiB that does not compress: one large level-0 segment
        conn.execute("insert into notes(body) values (randomblob(1048576))")
        follower.poll()
    follower.close()
    conn.close()
    (big,) = [
        s
        for s in list_segments(_folder(service), NAME).segments
        if s.path.stat().st_size > IN_MEMORY
    ]
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD_OPEN, str(big.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().startswith("open")
        # decrypted into the run's scratch, its name already gone
        held = [
            os.readlink(f"/proc/{child.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{child.pid}/fd")
        ]
        assert any(str(home / "tmp") in h and h.endswith("(deleted)") for h in held), held
        assert files_holding(home, marker.encode()) == []
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert files_holding(home, marker.encode()) == []
    Service().sweep()  # the next start
    assert not [p for p in (home / "tmp").rglob("*") if p.is_file()]
    assert files_holding(home, marker.encode()) == []
