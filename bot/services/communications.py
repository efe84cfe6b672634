"""Wiring of paging and communications: the pager chosen from settings, and the services built on it.

Owns which pager runs (REST API key, Events routing key, or log-only), its TLS trust, the background
tasks (page worker, PagerDuty poller, reminder scheduler) and their shutdown. `bot/app.py` builds one
`Communications`; the app's lifecycle (`bot/web.py`) starts its tasks. Must not: know about Slack (the
`CommsPort` is passed in) or log a key.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

from bot.config import Settings
from bot.gateways.aws.gateway import AwsGateway
from bot.gateways.pagerduty.gateway import PagerDutyGateway
from bot.gateways.pagerduty.pager import LogOnlyPager, Pager
from bot.gateways.pagerduty.transport import default_backoff
from bot.models.incidents import Clock
from bot.services.incidents.service import IncidentService
from bot.services.incidents.status_updates import StatusUpdateService
from bot.services.paging.pages import PageService
from bot.services.paging.sync import PagerDutySync
from bot.services.ports import CommsPort
from bot.services.scheduling.backup_checks import BackupCheckService
from bot.services.scheduling.reminders import ReminderService
from bot.storage import Storage


def build_pager(settings: Settings, *, backoff_scale: float = 1.0) -> Pager:
    """PagerDuty when a key is configured, otherwise the log-only pager."""
    if settings.pagerduty_api_key is None and settings.pagerduty_routing_key is None:
        return LogOnlyPager()
    verify: ssl.SSLContext | bool = True
    if settings.pagerduty_ca_bundle is not None:
        verify = ssl.create_default_context(cafile=str(settings.pagerduty_ca_bundle))
    return PagerDutyGateway(
        api_key=settings.pagerduty_api_key,
        routing_key=settings.pagerduty_routing_key,
        from_email=settings.pagerduty_from_email,
        rest_url=settings.pagerduty_rest_url,
        events_url=settings.pagerduty_events_url,
        verify=verify,
        backoff=lambda attempt: default_backoff(attempt) * backoff_scale,
    )


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


def build_communications(
    *,
    settings: Settings,
    storage: Storage,
    clock: Clock,
    incidents: IncidentService,
    port: CommsPort,
    backoff_scale: float = 1.0,
) -> Communications:
    """Build the services and make paging and reminders follow the incident lifecycle."""
    pager = build_pager(settings, backoff_scale=backoff_scale)
    pages = PageService(
        storage=storage, settings=settings, clock=clock, pager=pager, port=port
    )
    secret = settings.pagerduty_webhook_secret
    pd_sync = PagerDutySync(
        storage=storage,
        clock=clock,
        pager=pager,
        port=port,
        webhook_secret=secret.get_secret_value() if secret else None,
        poll_seconds=settings.pagerduty_poll_seconds,
    )
    reminders = ReminderService(
        storage=storage, settings=settings, clock=clock, port=port, pages=pages
    )
    updates = StatusUpdateService(
        storage=storage,
        clock=clock,
        incidents=incidents,
        reminders=reminders,
        port=port,
    )
    aws = AwsGateway()
    checks = BackupCheckService(
        storage=storage, settings=settings, clock=clock, port=port, aws=aws
    )
    checks.register(reminders)
    incidents.followers.extend([pages, reminders])
    return Communications(pager, pages, pd_sync, reminders, updates, checks, aws)
