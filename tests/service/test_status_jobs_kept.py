"""What the tray keeps of the jobs between status reads (service/status_reads.
jobs_a_status_asks_about) answers every question a status asks of the jobs exactly as
all of them do: the last backup, upload and drill, what runs, the retries and when they
come, the failures counted, when the database was last proven unchanged, since when the
source is known; and it is a few records, not the 2,000 read."""

from __future__ import annotations

import json
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lifeboat.core.catalog_records import JobRecord
from lifeboat.core.config_model import Config
from lifeboat.core.unchanged import proven_unchanged_at, unchanged_since_id
from lifeboat.service.status import _last_drill
from lifeboat.service.status_jobs import last_finished, pending_retry, running_and_retrying
from lifeboat.service.status_reads import jobs_a_status_asks_about

KINDS = ("backup", "upload", "drill", "verify", "prune")
STATUSES = ("queued", "running", "ok", "failed", "cancelled", "skipped", "interrupted")
START = datetime(2026, 3, 1, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def random_jobs(rng: random.Random, count: int, weights: list[int]) -> list[JobRecord]:
    """`count` jobs of source "notes", newest first, of every kind and status (weighted)."""
    jobs = []
    for n in range(count):
        kind = rng.choice(KINDS)
        status = rng.choices(STATUSES, weights)[0]
        queued = START + timedelta(minutes=10 * n + rng.randint(0, 30))
        finished = status not in ("queued", "running") and rng.random() > 0.05
        detail = None
        if kind == "backup" and status == "ok" and rng.random() < 0.5:
            detail = json.dumps({"unchanged_since": f"snap-{rng.randint(0, 9)}"})
        jobs.append(
            JobRecord(
                id=n + 1,
                kind=kind,
                source="notes",
                trigger=rng.choice(("scheduled", "manual", "retry")),
                status=status,  # type: ignore[arg-type]  # the catalog hands its text
                queued_at=iso(queued),
                started_at=iso(queued + timedelta(seconds=5)) if rng.random() > 0.2 else None,
                finished_at=iso(queued + timedelta(minutes=2)) if finished else None,
                attempt=rng.randint(1, 4),
                error="disk full" if status == "failed" else None,
                snapshot_id=None,
                detail=detail,
                pid=os.getpid() if rng.random() < 0.5 else 2**22 + 7,  # alive, or not
                cancel_requested=False,
            )
        )
    return list(reversed(jobs))


def answers(jobs: list[JobRecord], run_dir: Path) -> dict[str, object]:
    """What service/status.py asks of a source's jobs."""
    mine = [j for j in jobs if j.source == "notes" and j.kind == "backup"]
    last_job = next((j for j in mine if j.status in ("ok", "failed", "cancelled")), None)
    known = [j.queued_at for j in jobs if j.source == "notes" and j.queued_at]
    return {
        "running": running_and_retrying(run_dir, jobs, "notes"),
        "retry": pending_retry(jobs, "notes", Config(run_dir / "config.toml")),
        "upload": last_finished(jobs, "notes", "upload"),
        "backup": last_finished(jobs, "notes", "backup"),
        "drill": _last_drill(jobs, "notes"),
        "last_job": last_job,
        "failures": sum(1 for j in mine if j.status == "failed"),
        "proven_unchanged": proven_unchanged_at(mine, "notes"),
        "unchanged_since": unchanged_since_id(last_job) if last_job else None,
        "known_since": min(known, default=None),
    }


@pytest.mark.parametrize(
    "weights",
    [
        [1, 1, 20, 1, 1, 1, 1],  # mostly ok, as a healthy catalog
        [3, 3, 3, 3, 3, 3, 3],  # every status as often
        [0, 0, 1, 5, 0, 0, 1],  # failing
    ],
)
def test_the_jobs_kept_answer_as_all_of_them(tmp_path: Path, weights: list[int]):
    rng = random.Random(sum(weights))
    for round_ in range(40):
        jobs = random_jobs(rng, rng.randint(0, 300), weights)
        kept = jobs_a_status_asks_about(jobs)
        assert answers(kept, tmp_path) == answers(jobs, tmp_path), f"round {round_}"
        assert [j.id for j in kept] == sorted((j.id for j in kept), reverse=True)


def test_of_two_thousand_finished_backups_a_few_are_kept():
    rng = random.Random(5)
    jobs = random_jobs(rng, 2000, [0, 0, 1, 0, 0, 0, 0])  # all ok: a healthy catalog
    kept = jobs_a_status_asks_about(jobs)
    assert len(kept) <= 3 * len(KINDS) + 2, len(kept)
