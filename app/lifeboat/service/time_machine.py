"""The service's look inside backup points, as the `Service` façade offers it: open any
point (service/point_reading.py), browse it a page of rows at a time
(service/point_browse.py), follow one row across the points (service/row_history.py).

Only the façade's methods are here: the modules doing the work, with their records, are
imported when a method runs, so that `lifeboat status` and the tray's idle reads, which
build a Service, do not load them (tests/test_startup_imports.py).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lifeboat.foundation.progress import CancelToken, Progress, no_progress

# Imported here for the type checker only (see the module docstring).
if TYPE_CHECKING:
    from lifeboat.core.history.row_lookup import KeySpec
    from lifeboat.core.history.row_versions import RowHistory
    from lifeboat.core.workspace import Workspace
    from lifeboat.service.point_browse import PointBrowser
    from lifeboat.service.point_reading import OpenedPoint


class PointReadingMethods:
    """Open a point, or browse one."""

    workspace: Workspace

    def open_point(
        self,
        ref: str,
        at: datetime | None = None,
        *,
        progress: Progress = no_progress,
        cancel: CancelToken | None = None,
    ) -> OpenedPoint:
        """The pages of the point `ref` (and `at`) means; close it (or use it in a
        `with`) to remove what was fetched or decrypted for it."""
        from lifeboat.service.point_reading import open_point

        return open_point(self.workspace, ref, at, progress, cancel)

    def browse_point(
        self,
        source: str,
        *,
        snapshot: str | None = None,
        at: datetime | None = None,
        progress: Progress = no_progress,
        cancel: CancelToken | None = None,
    ) -> PointBrowser:
        """Snapshot `snapshot` of `source`, or `source` as it was `at` (neither: its
        newest point), open for browsing until closed."""
        from lifeboat.service.point_browse import browse_point

        config = self.workspace.config()
        known = config.sources.get(source)
        point = self.open_point(
            snapshot or source, None if snapshot else at, progress=progress, cancel=cancel
        )
        live = Path(known.path) if known is not None else None
        return browse_point(point, source, snapshot, live, config.general.busy_timeout)


class RowHistoryMethods:
    workspace: Workspace

    def row_history(
        self, source: str, table: str, key: KeySpec, cancel: CancelToken | None = None
    ) -> RowHistory:
        """Every version of the row of `table` with `key` across the source's points
        (snapshots and the commits of its continuous history), oldest first: there at
        the oldest point, created, changed (which columns), deleted; with the snapshots
        that could not be read (and why), which it does without."""
        from lifeboat.service.row_history import row_history

        return row_history(self.workspace, source, table, key, cancel)
