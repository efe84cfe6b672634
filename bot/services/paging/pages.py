"""Paging: who gets paged for an incident, and the durable queue of pages that `PageWorker` sends.

Owns the route from (scenario, severity) to a PagerDuty service / escalation policy, page rows written
before PagerDuty is called (so declaring never waits on PagerDuty and a replay or restart never pages
twice), and the on-call post with invitations by email. Sending the rows and recording what came of
them is `bot/services/paging/worker.py`.
Must not: call PagerDuty on a request path, know about Slack (it speaks through `CommsPort`), or
hold a key. Acknowledgements and webhooks are `bot/services/paging/sync.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass

from bot.config import PagerRoute, Settings
from bot.errors import BotError, UsageError
from bot.gateways.pagerduty.pager import LogOnlyPager, OnCall, Pager, PdObject
from bot.models.incidents import Clock, Incident
from bot.services.paging.targets import PageTargets, route_for
from bot.services.paging.worker import PageWorker
from bot.services.ports import CommsPort
from bot.storage import Storage
from bot.storage.paging import PageRow


class PageService:
    """Queue pages for `PageWorker` to send in the background, and show who is on call."""

    def __init__(
        self,
        *,
        storage: Storage,
        settings: Settings,
        clock: Clock,
        pager: Pager,
        port: CommsPort,
    ) -> None:
        self.storage, self.settings, self.clock = storage, settings, clock
        self.pager, self.port = pager, port
        self.targets = PageTargets(settings=settings, pager=pager, port=port)
        self.worker = PageWorker(
            storage=storage,
            settings=settings,
            clock=clock,
            pager=pager,
            port=port,
            route=self.route,
            oncall_people=self.oncall_people,
            show_oncall=self.show_oncall,
        )

    @property
    def last_error(self) -> str | None:
        """The last page that failed for good (for /readyz); `None` once a page is delivered."""
        return self.worker.last_error

    @property
    def log_only(self) -> bool:
        return isinstance(self.pager, LogOnlyPager)

    def route(self, incident: Incident) -> PagerRoute | None:
        return route_for(
            self.settings, scenario=incident.scenario, severity=incident.severity
        )

    # -- followers of the incident lifecycle ---------------------------------------------------
    async def after_declare(self, incident: Incident, *, source: str) -> None:
        """Queue the trigger page when the severity pages; the worker sends it."""
        await self._trigger_if_paging(
            incident, source=source, actor=incident.declared_by
        )

    async def after_severity(
        self, incident: Incident, *, actor: str, source: str
    ) -> None:
        """Raised to a paging severity and not paged yet: queue the trigger page now."""
        pages = await self.storage.pages_of(incident.number)
        if not any(p.kind == "trigger" for p in pages):
            await self._trigger_if_paging(incident, source=source, actor=actor)

    async def _trigger_if_paging(
        self, incident: Incident, *, source: str, actor: str
    ) -> None:
        level = self.settings.severity(incident.severity)
        if level is None or not level.pages:
            return
        route = self.route(incident)
        policy = route.escalation_policy_id if route else None
        await self.storage.page_add(
            incident=incident.number,
            kind="trigger",
            source=f"{source}:page",
            now=self.clock(),
            target_kind="escalation_policy" if policy else "service",
            target_id=policy or (route.service_id if route else None),
            requested_by=actor,
        )
        self.worker.wake.set()

    async def after_resolve(self, incident: Incident, *, source: str) -> None:
        """Queue the resolution of the incident's PagerDuty incidents: those it paged, and the
        one whose alert it was declared from."""
        pages = await self.storage.pages_of(incident.number)
        alerted = await self.storage.alerted_pagerduty_incidents(incident.number)
        if not alerted and not any(p.kind in ("trigger", "page") for p in pages):
            return
        await self.storage.page_add(
            incident=incident.number,
            kind="resolve",
            source=f"resolve:{incident.number}",
            now=self.clock(),
            requested_by=incident.commander,
        )
        self.worker.wake.set()

    # -- requests from people and from the scheduler -------------------------------------------
    async def request_page(
        self, *, incident: Incident, target: str, message: str, actor: str, source: str
    ) -> PageObjectRow:
        """Queue a page of a Slack user (matched by email), an escalation policy or a service."""
        found = await self.find_target(target)
        row = await self.storage.page_add(
            incident=incident.number,
            kind="page",
            source=source,
            now=self.clock(),
            target_kind=found.kind,
            target_id=found.id,
            target_name=found.name,
            message=message,
            requested_by=actor,
        )
        self.worker.wake.set()
        return PageObjectRow(row=row, target=found)

    async def page_step(
        self, incident: Incident, *, target: str, message: str, actor: str, source: str
    ) -> str:
        """A runbook page step: page whom `WARROOM_PAGE_TARGETS` names for `target`, once per
        `source` (a second call finds the first page); without a mapping, name the plan's contact."""
        mapped = self.settings.page_targets.get(target)
        if mapped is None:
            contact = next(
                (
                    c
                    for c in self.settings.fallback_contacts
                    if c.startswith(f"{target}:")
                ),
                None,
            )
            raise UsageError(
                f"Nobody to page for {target}: WARROOM_PAGE_TARGETS does not name them."
                + (f" Call {contact}." if contact else "")
            )
        paged = await self.request_page(
            incident=incident,
            target=mapped,
            message=message,
            actor=actor,
            source=source,
        )
        return f"Paged {target}: {paged.target.name} ({paged.target.kind.replace('_', ' ')})"

    async def page_commander(
        self, incident: Incident, *, source: str, message: str
    ) -> None:
        """Page the commander (a missed status update); say so loudly if they cannot be paged."""
        try:
            await self.request_page(
                incident=incident,
                target=f"<@{incident.commander}>",
                message=message,
                actor=incident.commander,
                source=source,
            )
        except BotError as exc:
            text = f"Could not page the commander: {exc.message}"
            await self.port.alarm(incident, text, key=f"{source}:failed")
            await self.worker.note(
                incident, "page_failed", text, source=f"{source}:failed", data={}
            )

    async def page_approvers(
        self, incident: Incident, *, approval_id: str, summary: str
    ) -> None:
        """Page the approvers' on-call (an approval request left unanswered)."""
        route = self.route(incident)
        policy = self.settings.pagerduty_approvers_policy or (
            route.escalation_policy_id if route else None
        )
        message = f"Approval waiting in {incident.key}: {summary}"[:500]
        await self.storage.page_add(
            incident=incident.number,
            kind="page",
            source=f"approval:{approval_id}:page",
            now=self.clock(),
            target_kind="escalation_policy" if policy else "service",
            target_id=policy or (route.service_id if route else None),
            target_name="approvers' on-call",
            message=message,
            requested_by=None,
        )
        self.worker.wake.set()

    async def oncall(self, incident: Incident | None) -> list[OnCall]:
        """Who is on call now for the incident's policy (or every configured policy)."""
        return await self.targets.oncall(self.route(incident) if incident else None)

    async def oncall_people(
        self, incident: Incident | None
    ) -> tuple[list[OnCall], dict[str, str]]:
        """Who is on call now, and the Slack user ids of those whose email matches (email -> id)."""
        oncall = await self.oncall(incident)
        emails = sorted({o.email for o in oncall if o.email})
        return oncall, await self.port.users_by_email(emails)

    async def find_target(self, text: str) -> PdObject:
        """Resolve `<@U…>`, an escalation policy or a service (id or name) to a PagerDuty object."""
        return await self.targets.find(text)

    # -- the worker ------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Send queued pages until `stop` is set (rows survive restarts, so it resumes)."""
        await self.worker.run(stop)

    async def process_pending(self) -> int:
        return await self.worker.process_pending()

    async def show_oncall(
        self,
        incident: Incident,
        found: Awaitable[tuple[list[OnCall], dict[str, str]]],
        *,
        key: str,
    ) -> list[OnCall]:
        """Post who is on call now (`found`: `oncall_people`, started early by the caller) and
        invite those matched to Slack users by email."""
        try:
            oncall, matched = await found
        except BotError as exc:
            await self.port.say(
                incident,
                f":warning: Could not list who is on call: {exc.message}",
                key=key,
            )
            return []
        await self.port.show_oncall(incident, oncall, matched, key=key)
        users = sorted(set(matched.values()) - {incident.commander})
        if users:
            await self.port.invite(incident, users, key=f"{key}:invite")
        return oncall


@dataclass(frozen=True)
class PageObjectRow:
    """A queued page and the PagerDuty object it targets (for the requester's confirmation)."""

    row: PageRow
    target: PdObject
