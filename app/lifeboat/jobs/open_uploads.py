"""Multipart uploads left open on a remote: recorded while they are open, aborted once
the run that opened them has ended (killed or cancelled), so nothing stays billed."""

from __future__ import annotations

import logging
import threading

from lifeboat.core.catalog import Catalog, OpenUpload
from lifeboat.core.config import RemoteConfig
from lifeboat.core.runs import run_alive
from lifeboat.errors import LifeboatError
from lifeboat.jobs.remotes import open_store
from lifeboat.storage.base import RemoteStore
from lifeboat.workspace import Workspace

log = logging.getLogger(__name__)


class CatalogLedger:
    """The catalog as the ledger of multipart uploads open on a remote (with this run's
    token), so that one a killed run left open is aborted by the next one."""

    def __init__(self, catalog: Catalog, remote: str) -> None:
        self.catalog = catalog
        self.remote = remote

    def opened(self, key: str, upload_id: str) -> None:
        self.catalog.add_open_upload(self.remote, key, upload_id)

    def closed(self, upload_id: str) -> None:
        self.catalog.remove_open_upload(upload_id)


def ended_open_uploads(workspace: Workspace, remote: str | None = None) -> list[OpenUpload]:
    """Multipart uploads recorded as open whose run has ended (never a live run's)."""
    return [u for u in workspace.catalog.open_uploads(remote)
            if not run_alive(workspace.paths.run_dir, u.run)]


def abort_ended_uploads(workspace: Workspace, remote: RemoteConfig,
                        store: RemoteStore) -> list[str]:
    """Abort the multipart uploads on `remote` that runs which have ended left open (so
    nothing stays billed on the bucket); return their keys. One the server no longer
    knows counts as aborted; one that cannot be aborted now stays recorded for later."""
    aborted = []
    for upload in ended_open_uploads(workspace, remote.name):
        try:
            store.abort_upload(upload.key, upload.upload_id)
        except LifeboatError as exc:
            log.warning("could not abort the unfinished upload of %s on remote %s (%s); "
                        "trying again next time", upload.key, remote.name, exc.message)
            continue
        workspace.catalog.remove_open_upload(upload.upload_id)
        aborted.append(upload.key)
        log.info("aborted the unfinished upload of %s on remote %s (its run ended)",
                 upload.key, remote.name)
    return aborted


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
                store = open_store(remote)
            except LifeboatError as exc:
                log.warning("remote %s: unfinished uploads not aborted now: %s", name,
                            exc.message)
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
