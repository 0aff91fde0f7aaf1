"""A follower of a configured source, in a process of its own, on the service's
workspace (run as a script; LIFEBOAT_HOME in the environment).

Usage: python service_follower.py SOURCE INTERVAL_S

Its chain's bases are snapshots taken through the service (full, recorded in the
catalog) and its segments go to the source's history folder (service/history.py): what
the daemon will host (task 20a). Prints "following" once its chain is started; on
SIGTERM polls once more, writes what it took and prints "stopped".
"""

from __future__ import annotations

import signal
import sys
import threading

from lifeboat.core.history.bases import BaseRef
from lifeboat.core.history.follower import Follower
from lifeboat.core.private import private_dir
from lifeboat.foundation.errors import NotFound
from lifeboat.service import Service
from lifeboat.service.history import history_folder


def main() -> None:
    name, interval = sys.argv[1], float(sys.argv[2])
    service = Service()
    workspace = service.workspace
    src = workspace.config().source(name)
    folder = private_dir(history_folder(workspace, src), "history folder")

    def take_base() -> BaseRef:
        record = service.backup(name, full=True, reason="history base", upload=False)
        return BaseRef(record.manifest, record.folder)

    def open_base(base_id: str) -> BaseRef | None:
        try:
            record = workspace.catalog.snapshot(base_id)
        except NotFound:
            return None
        return BaseRef(record.manifest, record.folder)

    follower = Follower(
        name, src.path, folder, workspace.run, workspace.scratch(), take_base, open_base
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    follower.start()
    print("following", flush=True)
    while not stop.wait(interval):
        follower.poll()
    follower.poll()
    follower.close()
    print("stopped", flush=True)


if __name__ == "__main__":
    main()
