"""The catalog's two ledgers of things left to deal with: files that need the user's
attention (found by scans, never deleted by them) and multipart uploads open on remotes
(so that one a killed run left open can be aborted later). Part of the `Catalog`
(catalog.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from lifeboat.core.catalog_file import CatalogFile
from lifeboat.core.catalog_records import AttentionItem, OpenUpload
from lifeboat.core.manifest import iso_utc, utc_now


class AttentionLedger(CatalogFile):
    """Files a scan found that Lifeboat keeps but cannot use as they are."""

    def set_attention(self, folder: Path, items: Iterable[AttentionItem]) -> None:
        """Make the attention rows of `folder` exactly `items` (a fresh scan of it)."""
        with self._tx() as db:
            db.execute("delete from attention where folder=?", (str(folder),))
            for item in items:
                db.execute(
                    "insert or replace into attention(path, folder, source, kind, "
                    "reason, found_at) values (?,?,?,?,?,?)",
                    (
                        str(item.path),
                        str(item.folder),
                        item.source,
                        item.kind,
                        item.reason,
                        item.found_at,
                    ),
                )

    def attention(self, source: str | None = None) -> list[AttentionItem]:
        sql = "select * from attention"
        args: tuple[object, ...] = ()
        if source is not None:
            sql += " where source=?"
            args = (source,)
        with self._tx(write=False) as db:
            rows = db.execute(sql + " order by folder, path", args).fetchall()
        return [
            AttentionItem(
                Path(r["path"]),
                Path(r["folder"]),
                r["source"],
                r["kind"],
                r["reason"],
                r["found_at"],
            )
            for r in rows
        ]


class OpenUploadLedger(CatalogFile):
    """Multipart uploads open on remotes, each with the run that opened it."""

    def add_open_upload(self, remote: str, key: str, upload_id: str) -> None:
        with self._tx() as db:
            db.execute(
                "insert or replace into open_uploads(upload_id, remote, key, run, "
                "started_at) values (?,?,?,?,?)",
                (upload_id, remote, key, self._run_token(), iso_utc(utc_now())),
            )

    def remove_open_upload(self, upload_id: str) -> None:
        with self._tx() as db:
            db.execute("delete from open_uploads where upload_id=?", (upload_id,))

    def open_uploads(self, remote: str | None = None) -> list[OpenUpload]:
        sql = "select * from open_uploads"
        args: tuple[object, ...] = ()
        if remote is not None:
            sql += " where remote=?"
            args = (remote,)
        with self._tx(write=False) as db:
            rows = db.execute(sql + " order by started_at", args).fetchall()
        return [
            OpenUpload(r["upload_id"], r["remote"], r["key"], r["run"], r["started_at"])
            for r in rows
        ]
