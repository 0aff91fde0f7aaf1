"""A full base's page-hash list: written beside it while it is compressed, and rebuilt
from the base itself (decompressed and verified) when lost or damaged."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from lifeboat.core.decompress import decompress_file
from lifeboat.core.hashing import sha256_file
from lifeboat.core.manifest import Manifest, write_manifest
from lifeboat.core.pagediff import page_hashes_of
from lifeboat.core.private import open_new
from lifeboat.core.runs import Run
from lifeboat.foundation.progress import CancelToken, Progress


def rebuild_page_hashes(
    folder: Path, base: Manifest, pages: Path, run: Run, progress: Progress, cancel: CancelToken
) -> Manifest:
    """Recompute `pages` from the base artifact (verified on the way) through a work
    file of `run` and record its SHA-256 in the base's manifest; return the updated
    manifest."""
    tmp = run.work_path(folder, "pages")
    pending = bytearray()
    with open_new(tmp) as out:

        def observe(block: memoryview) -> None:
            pending.extend(block)
            whole = len(pending) // base.page_size * base.page_size
            if whole:
                out.write(page_hashes_of(memoryview(pending)[:whole], base.page_size))
                del pending[:whole]

        try:
            decompress_file(
                folder / base.artifact,
                None,
                expected_sha256=base.sha256,
                expected_size=base.size,
                progress=progress,
                cancel=cancel,
                observer=observe,
            )
        except BaseException:
            out.close()
            tmp.unlink(missing_ok=True)
            raise
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, pages)
    updated = replace(base, pages_sha256=sha256_file(pages))
    write_manifest(folder, updated, run)
    return updated
