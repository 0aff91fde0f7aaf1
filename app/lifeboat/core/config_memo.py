"""The last Config parsed from each config file, with the bytes it came from.

Reading the file is cheap; parsing and checking it is not (about a millisecond per
source), and a status of 100 sources asked for the config about twice per source: it
took 20 s. The bytes decide: the same bytes give the same Config (parse_config reads
nothing but them), and a Config is frozen, so one object can be handed out again.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lifeboat.core.config_model import Config


class ParsedConfigs:
    """A few files' last parse (a process has one config; tests have many homes)."""

    KEPT = 8

    def __init__(self) -> None:
        self._parsed: dict[Path, tuple[bytes, Config]] = {}
        self._lock = threading.Lock()

    def get(self, path: Path, raw: bytes) -> Config | None:
        """The Config parsed from exactly `raw` at `path`, if that was the last."""
        with self._lock:
            known = self._parsed.get(path)
        return known[1] if known is not None and known[0] == raw else None

    def keep(self, path: Path, raw: bytes, config: Config) -> None:
        with self._lock:
            if len(self._parsed) >= self.KEPT and path not in self._parsed:
                self._parsed.clear()
            self._parsed[path] = (raw, config)


PARSED = ParsedConfigs()
