"""Prometheus text-file output (for node_exporter's textfile collector)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, tzinfo

from lifeboat.foundation.errors import LifeboatError
from lifeboat.service import Service

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceMetrics:
    source: str
    last_success: float | None  # unix time
    last_duration: float | None
    snapshot_bytes: int
    failures_total: int
    snapshots: int
    stale: bool


def write_metrics(service: Service, now: datetime, tz: tzinfo) -> None:
    """Write each source's numbers to the metrics file, if the settings name one; a
    failure is logged (the next tick tries again)."""
    path = service.config().general.metrics_file
    if path is None:
        return
    status = service.status(now, tz)
    metrics = [
        SourceMetrics(
            source=s.name,
            last_success=s.last_backup.timestamp() if s.last_backup else None,
            last_duration=s.last_duration,
            snapshot_bytes=s.snapshot_bytes,
            failures_total=s.failures_total,
            snapshots=s.snapshots,
            stale=s.stale,
        )
        for s in status.sources
    ]
    try:
        service.write_file(path, render(metrics).encode())
    except (OSError, LifeboatError) as exc:
        log.warning("cannot write metrics to %s: %s", path, getattr(exc, "message", exc))


def render(metrics: list[SourceMetrics]) -> str:
    lines: list[str] = []

    def family(name: str, kind: str, help_text: str, values: list[tuple[str, float]]) -> None:
        lines.append(f"# HELP lifeboat_{name} {help_text}")
        lines.append(f"# TYPE lifeboat_{name} {kind}")
        for source, value in values:
            lines.append(f'lifeboat_{name}{{source="{_escape(source)}"}} {value:g}')

    family(
        "last_success_timestamp_seconds",
        "gauge",
        "Unix time of the newest good snapshot.",
        [(m.source, m.last_success) for m in metrics if m.last_success is not None],
    )
    family(
        "last_duration_seconds",
        "gauge",
        "Duration of the last backup job.",
        [(m.source, m.last_duration) for m in metrics if m.last_duration is not None],
    )
    family(
        "snapshot_bytes",
        "gauge",
        "Bytes stored by the source's snapshots.",
        [(m.source, m.snapshot_bytes) for m in metrics],
    )
    family(
        "failures_total",
        "counter",
        "Failed backup jobs.",
        [(m.source, m.failures_total) for m in metrics],
    )
    family(
        "snapshots",
        "gauge",
        "Number of snapshots kept.",
        [(m.source, m.snapshots) for m in metrics],
    )
    family(
        "stale",
        "gauge",
        "1 if the newest good snapshot is older than allowed.",
        [(m.source, 1 if m.stale else 0) for m in metrics],
    )
    return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
