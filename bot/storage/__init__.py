"""Storage: the only place that imports sqlite_utils. One SQLite file, one writer thread.

`Storage` is assembled from one section per concern (incidents, timeline, journal, ...), each a
mixin over `StorageBase`. Methods take and return pydantic models. Nothing here knows about Slack
or AWS. A new table is a migration in `bot/migrations.py` plus a section here.
"""

from bot.storage.alerts import AlertStore
from bot.storage.base import WriteFailed
from bot.storage.followups import FollowUpStore
from bot.storage.health import HealthStore
from bot.storage.incidents import IncidentStore
from bot.storage.inline import InlineStore
from bot.storage.journal import JournalStore
from bot.storage.lease import Holder, LeaseStore
from bot.storage.paging import PagingStore
from bot.storage.people import PeopleStore
from bot.storage.postmortems import PostmortemStore
from bot.storage.public_updates import PublicUpdateStore
from bot.storage.reminders import ReminderStore
from bot.storage.runbooks import RunbookStore
from bot.storage.subscriptions import SubscriptionStore
from bot.storage.timeline import GENESIS, TimelineStore, row_hash
from bot.storage.views import OpenedView, ViewStore


class Storage(
    InlineStore,
    FollowUpStore,
    PublicUpdateStore,
    IncidentStore,
    TimelineStore,
    JournalStore,
    LeaseStore,
    PagingStore,
    PeopleStore,
    ReminderStore,
    RunbookStore,
    PostmortemStore,
    HealthStore,
    ViewStore,
    SubscriptionStore,
    AlertStore,
):
    """Typed access to the database; every method runs on the one writer thread."""


__all__ = ["GENESIS", "Holder", "OpenedView", "Storage", "WriteFailed", "row_hash"]
