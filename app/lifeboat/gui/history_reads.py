"""What History reads of the service for its tables (in the background)."""

from __future__ import annotations

from lifeboat.core.catalog_records import AttentionItem, JobRecord, SnapshotRecord
from lifeboat.core.config_model import SourceConfig
from lifeboat.service import Service

JOB_LIMIT = 500
#: The newest snapshots History shows at once when it opens, before all of them:
#: reading 10,000 records takes most of a second.
FIRST_ROWS = 300

#: Snapshots, jobs, the databases backed up, the files kept but not usable as they
#: are, and the remotes (all, and those of which no snapshot is known).
History = tuple[
    list[SnapshotRecord],
    list[JobRecord],
    dict[str, SourceConfig],
    list[AttentionItem],
    tuple[list[str], list[str]],
]


def read_history(service: Service, limit: int = -1) -> History:
    """What the tables show: the newest `limit` snapshots (-1: all) and the rest."""
    return (
        service.snapshots(limit=limit),
        service.jobs(limit=JOB_LIMIT),
        {s.name: s for s in service.sources()},
        service.attention(),
        ([r.name for r in service.remotes()], service.remotes_with_unknown_backups()),
    )
