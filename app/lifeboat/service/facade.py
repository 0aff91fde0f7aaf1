"""The one façade the CLI, the daemon, the scheduler and the tray use. No Qt here.

Every operation a user can ask for is a method; long ones take a progress callback and a
cancel token and run as recorded jobs. Errors a user can act on are LifeboatErrors.
What happens is published as events to whoever subscribed (`subscribe`); nobody reaches
past the service into its workspace. The methods live in one file per area and are mixed
in here: sources, snapshots, remotes, keys, checks (preview and drills), records (jobs,
events, status, settings) and housekeeping.
"""

from __future__ import annotations

from collections.abc import Callable

from lifeboat.core.secrets import SecretStore
from lifeboat.core.stores import StoreOpener
from lifeboat.core.workspace import Workspace
from lifeboat.foundation.events import Event, EventHub, EventSink
from lifeboat.service.checks import CheckMethods
from lifeboat.service.continuous import ContinuousMethods
from lifeboat.service.history import use_history_keys
from lifeboat.service.history_remote import HistoryRemoteMethods
from lifeboat.service.housekeeping import HousekeepingMethods
from lifeboat.service.keys import KeyMethods
from lifeboat.service.merge import MergeMethods
from lifeboat.service.points import PointMethods
from lifeboat.service.records import RecordMethods
from lifeboat.service.remotes import RemoteMethods
from lifeboat.service.row_keys import RowKeyMethods
from lifeboat.service.snapshots import SnapshotMethods
from lifeboat.service.sources import SourceMethods
from lifeboat.service.status_reads import StatusReadsKept
from lifeboat.service.time_machine import PointReadingMethods, RowHistoryMethods
from lifeboat.storage.factory import StoreFactory


class Service(
    SourceMethods,
    SnapshotMethods,
    RemoteMethods,
    KeyMethods,
    CheckMethods,
    PointMethods,
    RecordMethods,
    HousekeepingMethods,
    ContinuousMethods,
    HistoryRemoteMethods,
    RowHistoryMethods,
    PointReadingMethods,
    RowKeyMethods,
    MergeMethods,
):
    def __init__(
        self,
        workspace: Workspace | None = None,
        secrets: SecretStore | None = None,
        stores: StoreOpener | None = None,
    ) -> None:
        """`stores` opens the remotes' stores (the S3 ones, with keys from `secrets`,
        unless given: tests pass storage.memory.MemoryStores). The workspace made here
        carries both to the jobs; a workspace given brings its own."""
        self.secrets = secrets or SecretStore()
        self.stores = stores or StoreFactory(self.secrets)
        self.workspace = workspace or Workspace(secrets=self.secrets, stores=self.stores)
        use_history_keys(self.workspace)  # what opens sealed history segments here
        self._events = EventHub()
        self.status_reads = StatusReadsKept()

    def subscribe(self, sink: EventSink) -> Callable[[], None]:
        """Receive every event from now on (from any thread); returns the unsubscribe."""
        return self._events.subscribe(sink)

    def publish(self, event: Event) -> None:
        """Hand an event to every subscriber (jobs and the scheduler publish here)."""
        self._events.publish(event)
