"""A follower in a process of its own (run as a script) for the capture tests.

Usage: python follow_process.py ROOT DB INTERVAL_S STATUS_JSON

Follows the database DB with the capture setup under ROOT (helpers.make_capture) until
SIGTERM, then polls once more and writes its status as JSON. Prints "following" once
its chain is started or resumed.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import threading
from pathlib import Path

from tests.core.history.helpers import make_capture


def main() -> None:
    root, db, interval, status_path = sys.argv[1:5]
    capture = make_capture(Path(root), Path(db))
    follower = capture.follower(write_every_s=0.5)  # the default
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    follower.start()
    print("following", flush=True)
    while not stop.wait(float(interval)):
        follower.poll()
    follower.poll()
    follower.close()
    Path(status_path).write_text(json.dumps(dataclasses.asdict(follower.status)))


if __name__ == "__main__":
    main()
