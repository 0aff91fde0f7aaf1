"""diskcache writing its own database (run as a script) for the capture tests.

Usage: python diskcache_writer.py FOLDER LOG COUNT INTERVAL_S. Sets and deletes keys at
random; LOG gets `set KEY HEX` or `delete KEY - ` per operation, after it returned.
"""

from __future__ import annotations

import os
import random
import sys
import time

import diskcache


def main() -> None:
    folder, log_path, count, interval = sys.argv[1:5]
    rng = random.Random(4)
    cache = diskcache.Cache(folder)  # journal mode WAL by default
    assert cache.get("none") is None
    print("ready", flush=True)
    keys: list[str] = []
    with open(log_path, "w") as log:
        for n in range(int(count)):
            if keys and rng.random() < 0.2:
                key = keys.pop(rng.randrange(len(keys)))
                cache.delete(key)
                log.write(f"delete {key} -\n")
            else:
                key = f"k{rng.randrange(200)}"
                value = os.urandom(40) + n.to_bytes(4, "big")
                cache.set(key, value)
                if key not in keys:
                    keys.append(key)
                log.write(f"set {key} {value.hex()}\n")
            log.flush()
            time.sleep(float(interval))
    print("done", flush=True)
    time.sleep(3600)


if __name__ == "__main__":
    main()
