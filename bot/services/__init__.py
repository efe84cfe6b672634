"""The domain services and the gateways they use; `Services` is the one dependency container.

Built once by `bot.app.build_services` and handed to Bolt listeners through the context; nothing
here is a module-level global.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from bot.config import Settings
from bot.gateways.aws.gateway import AwsGateway
from bot.gateways.pagerduty.pager import LogOnlyPager, Pager
from bot.gateways.slack.outbox import Outbox
from bot.models.incidents import Clock
from bot.services.alerts import AlertService
from bot.services.followups import FollowUpService
from bot.services.incidents.service import IncidentService
from bot.services.incidents.status_updates import StatusUpdateService
from bot.services.incidents.subscriptions import SubscriptionService
from bot.services.paging.pages import PageService
from bot.services.paging.sync import PagerDutySync
from bot.services.ports import Authoriser
from bot.services.postmortem.service import PostmortemService
from bot.services.runbooks.service import RunbookService
from bot.services.scheduling.backup_checks import BackupCheckService
from bot.services.scheduling.reminders import ReminderService
from bot.services.statuspage import StatusPageService
from bot.storage import Storage


@dataclass
class Communications:
    """Paging, PagerDuty sync, reminders, status updates and scheduled checks, built together."""

    pager: Pager
    pages: PageService
    pd_sync: PagerDutySync
    reminders: ReminderService
    updates: StatusUpdateService
    backup_checks: BackupCheckService
    aws: AwsGateway

    async def start(self, stop: asyncio.Event) -> list[asyncio.Task[None]]:
        """Schedule the daily checks and start the background loops (they stop when `stop` is set)."""
        await self.backup_checks.ensure_scheduled()
        tasks = [
            asyncio.create_task(self.pages.run(stop), name="pages"),
            asyncio.create_task(self.reminders.run(stop), name="reminders"),
        ]
        if not isinstance(self.pager, LogOnlyPager):
            tasks.append(
                asyncio.create_task(self.pd_sync.run(stop), name="pagerduty-poll")
            )
        return tasks

    def pager_state(self) -> str:
        """For /readyz: `log-only`, `ok`, or `degraded` while the last page failed."""
        if isinstance(self.pager, LogOnlyPager):
            return "log-only"
        return "degraded" if self.pages.last_error else "ok"

    async def aclose(self) -> None:
        await self.pager.aclose()
        await asyncio.to_thread(self.aws.close)


@dataclass
class Services:
    settings: Settings
    storage: Storage
    clock: Clock
    outbox: Outbox
    incidents: IncidentService
    subscriptions: SubscriptionService
    alerts: AlertService
    comms: Communications
    runbooks: RunbookService
    postmortems: PostmortemService
    followups: FollowUpService
    status_page: StatusPageService
    authoriser: Authoriser
    scenario_titles: dict[str, str] = field(default_factory=dict)
    private_scenarios: frozenset[str] = frozenset()
