"""One Lifeboat installation's files: settings, catalog and folders, resolved once.

Jobs and the service share it. The config is re-read on every `config()` call because
another process (the tray, a CLI command) may have changed it; changes go through
`edit_config()`, which serialises writers across processes. The service's secret store
and store opener travel with it (`secrets`, `stores`), so jobs and remote/ use the ones
the service was made with and never make their own.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lifeboat.core.catalog import Catalog
from lifeboat.core.config import load_config, save_config, settings_not_saved
from lifeboat.core.config_model import Config, SourceConfig
from lifeboat.core.fsutil import FileLock
from lifeboat.core.private import disk_full, private_dir, user_dir
from lifeboat.core.runs import Run, start_run
from lifeboat.core.secrets import SecretStore
from lifeboat.core.stores import StoreOpener
from lifeboat.foundation.errors import AlreadyRunning, OperationFailed
from lifeboat.foundation.paths import LifeboatPaths, resolve_paths

FOLDER_LOCK_NAME = ".lifeboat.lock"
#: How long a prune, a delete or a rebuild waits for the snapshot folder's lock: a
#: rebuild or a prune holds it for moments; a backup can hold it far longer.
FOLDER_LOCK_PATIENCE = 30.0


@dataclass
class ConfigEdit:
    """The settings as they stand under the config lock; replace `config` to change them."""

    config: Config


class Workspace:
    def __init__(
        self,
        paths: LifeboatPaths | None = None,
        *,
        secrets: SecretStore | None = None,
        stores: StoreOpener | None = None,
    ) -> None:
        self.paths = paths or resolve_paths()
        self._secrets = secrets
        self._stores = stores
        self._catalog: Catalog | None = None
        self._run: Run | None = None
        self._run_lock = threading.Lock()

    @property
    def secrets(self) -> SecretStore:
        """The service's secret store (the keyring's entries: credentials, keys)."""
        if self._secrets is None:
            raise RuntimeError("this workspace was made without a secret store")
        return self._secrets

    @property
    def stores(self) -> StoreOpener:
        """What opens the remotes' stores (the service's: see Service)."""
        if self._stores is None:
            raise RuntimeError("this workspace was made without a store opener")
        return self._stores

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = Catalog(self.paths.catalog_file, run_token=self.run_token)
        return self._catalog

    @property
    def run(self) -> Run:
        """This process's run for this installation, started when work first needs it
        (a command that only reads never writes a lock file)."""
        try:
            return self._started_run()
        except OSError as exc:
            if disk_full(exc):
                raise OperationFailed(
                    f"the disk holding {self.paths.run_dir} is full",
                    "free some space there, then retry",
                ) from None
            raise OperationFailed(
                f"cannot start work in {self.paths.run_dir}: {exc.strerror or exc}",
                "check that Lifeboat's folder is writable",
            ) from None

    def _started_run(self) -> Run:
        with self._run_lock:
            if self._run is None:
                self._run = start_run(self.paths.run_dir)
            return self._run

    def run_token(self) -> str:
        return self.run.token

    def scratch(self, config: Config | None = None) -> Path:
        """This run's private scratch folder: removed by the next sweep once the run has
        ended, however it ended."""
        return self.run.scratch(self.temp_dir(config or self.config()))

    def config(self) -> Config:
        return load_config(self.paths.config_file)

    @contextlib.contextmanager
    def edit_config(self, timeout: float = 10.0) -> Iterator[ConfigEdit]:
        """Read-modify-write the config under a lock: set the `config` of what this
        yields to the new Config; it is saved when the block ends without an error."""
        lock = FileLock(self.paths.config_file.with_name(".config.lock"))
        deadline = time.monotonic() + timeout
        while not _try_lock(lock, self.paths.config_file):
            if time.monotonic() > deadline:
                raise AlreadyRunning(
                    "another Lifeboat process is changing the settings", "try again in a moment"
                )
            time.sleep(0.05)
        try:
            original = self.config()
            edit = ConfigEdit(original)
            yield edit
            if edit.config is not original:
                try:
                    run = self._started_run()
                except OSError as exc:
                    raise settings_not_saved(self.paths.config_file, exc) from None
                save_config(edit.config, run)
        finally:
            lock.release()

    def snapshot_root(self, config: Config, source: SourceConfig | None = None) -> Path:
        if source is not None and source.dest is not None:
            return source.dest
        return config.general.snapshot_dir or self.paths.snapshot_dir

    def snapshot_folder(self, config: Config, source: SourceConfig) -> Path:
        """Where the source's snapshots are (nothing is created; see source_folder)."""
        return self.snapshot_root(config, source) / source.name

    def snapshot_root_folder(self, config: Config) -> Path:
        """The default snapshot root, ready: Lifeboat's own (0700), or the one the user
        chose (created 0700 if missing, else left as it is)."""
        root = self.snapshot_root(config)
        if root == self.paths.snapshot_dir:
            return private_dir(root, "snapshot folder")
        return user_dir(root, "snapshot folder")

    def source_folder(self, config: Config, source: SourceConfig) -> Path:
        """The source's snapshot folder, ready for writing: its root as the user chose it
        (created 0700 if missing, else left as it is; Lifeboat's default root is its own,
        0700), the folder itself Lifeboat's own: 0700, never a link."""
        root = self.snapshot_root(config, source)
        if root == self.paths.snapshot_dir:
            private_dir(root, "snapshot folder")
        else:
            user_dir(root, "snapshot folder")
        return private_dir(root / source.name, "snapshot folder")

    def temp_dir(self, config: Config) -> Path:
        """The folder that holds each run's scratch folder: Lifeboat's own (0700) unless
        the user chose one (then only our subfolders in it are private)."""
        if config.general.temp_dir is not None:
            return user_dir(config.general.temp_dir, "temp folder")
        return private_dir(self.paths.temp_dir, "temp folder")

    def snapshot_roots(self, config: Config) -> list[Path]:
        """Every folder that may hold snapshot folders: defaults, sources' and catalog's."""
        roots = [self.snapshot_root(config)]
        roots += [self.snapshot_root(config, s) for s in config.sources.values()]
        roots += sorted({folder.parent for folder in self.catalog.snapshot_folders()})
        unique: list[Path] = []
        for root in roots:
            if root not in unique:
                unique.append(root)
        return unique


def _try_lock(lock: FileLock, config_file: Path) -> bool:
    try:
        return lock.try_acquire()
    except OSError as exc:  # its lock file cannot be made: nothing is changed
        raise settings_not_saved(config_file, exc) from None
