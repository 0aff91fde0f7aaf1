"""The tray's own preferences (notifications), in `tray.json` beside the config file.

They concern only the desktop app, so they stay out of config.toml, which the daemon
and the CLI read. Start-at-login is not stored: the login item itself is the truth.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from lifeboat.foundation.paths import LifeboatPaths
from lifeboat.service import Service

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrayPreferences:
    notify_failures: bool = True  # a backup failed; and when it works again
    notify_stale: bool = True  # a source has had no good snapshot for too long
    notify_remote: bool = True  # uploads to a remote have failed for a day

    @staticmethod
    def file(paths: LifeboatPaths) -> Path:
        return paths.config_file.with_name("tray.json")

    @classmethod
    def load(cls, paths: LifeboatPaths) -> TrayPreferences:
        try:
            data = json.loads(cls.file(paths).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable tray preferences %s: %s", cls.file(paths), exc)
            return cls()
        known = {f.name for f in fields(cls)}
        return cls(**{k: bool(v) for k, v in data.items() if k in known})

    def save(self, service: Service) -> None:
        data = (json.dumps(asdict(self), indent=2) + "\n").encode()
        service.write_file(self.file(service.paths), data)
