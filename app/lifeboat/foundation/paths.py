"""Where Lifeboat keeps its files.

With LIFEBOAT_HOME set, everything lives under that one folder (tests and scripts use
this); otherwise the platform's user config, data and log folders are used.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "lifeboat"


@dataclass(frozen=True)
class LifeboatPaths:
    config_file: Path
    catalog_file: Path
    log_dir: Path
    snapshot_dir: Path
    temp_dir: Path
    run_dir: Path

    @property
    def log_file(self) -> Path:
        return self.log_dir / "lifeboat.log"


def resolve_paths(env: dict[str, str] | None = None) -> LifeboatPaths:
    env = dict(os.environ) if env is None else env
    home = env.get("LIFEBOAT_HOME")
    if home:
        root = Path(home).expanduser().resolve()
        return LifeboatPaths(
            config_file=root / "config.toml",
            catalog_file=root / "catalog.sqlite",
            log_dir=root / "logs",
            snapshot_dir=root / "snapshots",
            temp_dir=root / "tmp",
            run_dir=root / "run",
        )
    data = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    return LifeboatPaths(
        config_file=Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "config.toml",
        catalog_file=data / "catalog.sqlite",
        log_dir=Path(platformdirs.user_log_dir(APP_NAME, appauthor=False)),
        snapshot_dir=data / "snapshots",
        temp_dir=data / "tmp",
        run_dir=data / "run",
    )
