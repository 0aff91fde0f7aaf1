"""Multipart uploads left open on a remote: recorded while they are open, aborted once
the run that opened them has ended (killed or cancelled), so nothing stays billed."""

from __future__ import annotations

import logging
import secrets
import threading

from lifeboat.core.catalog import Catalog
from lifeboat.core.catalog_records import OpenUpload
from lifeboat.core.config_model import RemoteConfig
from lifeboat.core.runs import run_alive
from lifeboat.core.stores import RemoteStore
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.errors import LifeboatError

log = logging.getLogger(__name__)


#: a row recorded just before an upload is opened, while its id is not known yet
MARK_PREFIX = "opening:"


class CatalogLedger:
    """The catalog as the ledger of multipart uploads open on a remote (with this run's
    token), so that one a killed run left open is aborted by the next one."""

    def __init__(self, catalog: Catalog, remote: str) -> None:
        self.catalog = catalog
        self.remote = remote

    def opening(self, key: str) -> str:
        mark = MARK_PREFIX + secrets.token_hex(8)
        self.catalog.add_open_upload(self.remote, key, mark)
        return mark

    def opened(self, key: str, upload_id: str, mark: str) -> None:
        self.catalog.add_open_upload(self.remote, key, upload_id)
        self.catalog.remove_open_upload(mark)  # only now: one of the two is always there

    def closed(self, upload_id: str) -> None:
        self.catalog.remove_open_upload(upload_id)


def ended_open_uploads(workspace: Workspace, remote: str | None = None) -> list[OpenUpload]:
    """Multipart uploads recorded as open whose run has ended (never a live run's)."""
    return [
        u
        for u in workspace.catalog.open_uploads(remote)
        if not run_alive(workspace.paths.run_dir, u.run)
    ]


def abort_ended_uploads(
    workspace: Workspace, remote: RemoteConfig, store: RemoteStore
) -> list[str]:
    """Abort the multipart uploads on `remote` that runs which have ended left open (so
    nothing stays billed on the bucket); return their keys. One the server no longer
    knows counts as aborted; one that cannot be aborted now stays recorded for later."""
    aborted = []
    for upload in ended_open_uploads(workspace, remote.name):
        try:
            if upload.upload_id.startswith(MARK_PREFIX):
                ids = _unrecorded_uploads(workspace, remote, store, upload.key)
                if ids is None:
                    continue
            else:
                ids = [upload.upload_id]
            for upload_id in ids:
                store.abort_upload(upload.key, upload_id)
        except LifeboatError as exc:
            log.warning(
                "could not abort the unfinished upload of %s on remote %s (%s); "
                "trying again next time",
                upload.key,
                remote.name,
                exc.message,
            )
            continue
        workspace.catalog.remove_open_upload(upload.upload_id)
        if ids:
            aborted.append(upload.key)
            log.info(
                "aborted the unfinished upload of %s on remote %s (its run ended)",
                upload.key,
                remote.name,
            )
    return aborted


def _unrecorded_uploads(
    workspace: Workspace, remote: RemoteConfig, store: RemoteStore, key: str
) -> list[str] | None:
    """The uploads open for `key` that no run recorded: what a run killed between
    opening one and recording its id left. None while a live run is opening one there.

    The server is asked first, the catalog second: a run records its mark before it
    opens an upload and removes it only after recording the id, so every upload listed
    is by then either recorded or covered by its run's mark."""
    listed = store.open_uploads(key)
    rows = workspace.catalog.open_uploads(remote.name)
    run_dir = workspace.paths.run_dir
    if any(
        r.key == key and r.upload_id.startswith(MARK_PREFIX) and run_alive(run_dir, r.run)
        for r in rows
    ):
        return None
    recorded = {r.upload_id for r in rows}
    return [upload_id for upload_id in listed if upload_id not in recorded]


def abort_ended_uploads_soon(workspace: Workspace) -> threading.Thread | None:
    """At start: abort, on every configured remote, the uploads that ended runs left
    open, in a thread of its own (a remote may be slow or out of reach: then they stay
    recorded and the next upload job aborts them)."""
    config = workspace.config()
    names = sorted({u.remote for u in ended_open_uploads(workspace)} & set(config.remotes))
    if not names:
        return None

    def work() -> None:
        for name in names:
            remote = config.remote(name)
            try:
                store = workspace.stores.open(remote)
            except LifeboatError as exc:
                log.warning("remote %s: unfinished uploads not aborted now: %s", name, exc.message)
                continue
            except Exception:
                log.exception("remote %s: unfinished uploads not aborted now", name)
                continue
            try:
                abort_ended_uploads(workspace, remote, store)
            except Exception:
                log.exception("remote %s: aborting unfinished uploads failed", name)
            finally:
                store.close()

    thread = threading.Thread(target=work, name="lifeboat-abort-uploads", daemon=True)
    thread.start()
    return thread
