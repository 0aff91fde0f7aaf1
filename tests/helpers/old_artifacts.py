"""Old artifacts for tests: a full snapshot rewritten as Lifeboat wrote it before format 3
(one zstd frame, no seek table), with its manifest saying format 2."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import zstandard

from lifeboat.core.compress import compress_file
from lifeboat.core.manifest import Manifest


def plain_bytes(artifact: Path) -> bytes:
    """The plain bytes of any artifact (every frame, skippable ones skipped)."""
    with open(artifact, "rb") as fh:
        return zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True).read()


def make_single_frame(folder: Path, manifest: Manifest) -> Manifest:
    """Rewrite the full artifact of `manifest` in `folder` as one zstd frame; its manifest
    file is rewritten too (format 2, the new size and SHA-256), and returned."""
    artifact = folder / manifest.artifact
    plain = folder / (manifest.artifact + ".plain-for-test")
    plain.write_bytes(plain_bytes(artifact))
    old = folder / (manifest.artifact + ".old-for-test")
    result = compress_file(plain, old, hash_plain=False)
    os.replace(old, artifact)
    plain.unlink()
    assert hashlib.sha256(artifact.read_bytes()).hexdigest() == result.sha256
    older = dataclasses.replace(manifest, format=2, size=result.size, sha256=result.sha256)
    (folder / manifest.manifest_name).write_bytes(older.to_json())
    return older
