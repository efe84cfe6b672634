"""Paging: who gets paged for an incident, and the durable queue of pages that a background worker sends.

Owns the route from (scenario, severity) to a PagerDuty service / escalation policy, page rows written
before PagerDuty is called (so declaring never waits on PagerDuty and a replay or restart never pages
twice), the timeline entries and channel messages for every page, failure and resolution, the loud
fallback when paging fails for good, and the on-call post with invitations by email.
Must not: call PagerDuty on a request path, know about Slack (it speaks through `CommsPort`), or
hold a key. Acknowledgements and webhooks are `bot/services/pd_sync.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from bot.config import PagerRoute, Settings
from bot.errors import BotError
from bot.models import Clock, Incident, NewEntry
from bot.services.comms import CommsPort
from bot.services.page_targets import PageTargets, route_for
from bot.services.paging import (
    LogOnlyPager,
    OnCall,
    Pager,
    PageResult,
    PdObject,
    TargetKind,
    fallback_message,
)
from bot.storage import Storage
from bot.storage.paging import PageRow

log = logging.getLogger(__name__)
_KINDS: dict[str, TargetKind] = {k: k for k in ("user", "escalation_policy", "service")}


class PageService:
    """Queue pages, send them in the background, and record what came of them."""

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
        self._wake = asyncio.Event()
        self.last_error: str | None = (
            None  # the last page that failed for good (for /readyz)
        )
        self.targets = PageTargets(settings=settings, pager=pager, port=port)

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
            incident=incident.number, kind="trigger", source=f"{source}:page", now=self.clock(),
            target_kind="escalation_policy" if policy else "service",
            target_id=policy or (route.service_id if route else None), requested_by=actor,
        )  # fmt: skip
        self._wake.set()

    async def after_resolve(self, incident: Incident, *, source: str) -> None:
        """Queue the resolution of the incident's PagerDuty incidents, if anything was paged."""
        pages = await self.storage.pages_of(incident.number)
        if not any(p.kind in ("trigger", "page") for p in pages):
            return
        await self.storage.page_add(
            incident=incident.number, kind="resolve", source=f"resolve:{incident.number}",
            now=self.clock(), requested_by=incident.commander,
        )  # fmt: skip
        self._wake.set()

    # -- requests from people and from the scheduler -------------------------------------------
    async def request_page(
        self, *, incident: Incident, target: str, message: str, actor: str, source: str
    ) -> PageObjectRow:
        """Queue a page of a Slack user (matched by email), an escalation policy or a service."""
        found = await self.find_target(target)
        row = await self.storage.page_add(
            incident=incident.number, kind="page", source=source, now=self.clock(),
            target_kind=found.kind, target_id=found.id, target_name=found.name,
            message=message, requested_by=actor,
        )  # fmt: skip
        self._wake.set()
        return PageObjectRow(row=row, target=found)

    async def page_commander(
        self, incident: Incident, *, source: str, message: str
    ) -> None:
        """Page the commander (a missed status update); say so loudly if they cannot be paged."""
        try:
            await self.request_page(
                incident=incident, target=f"<@{incident.commander}>", message=message,
                actor=incident.commander, source=source,
            )  # fmt: skip
        except BotError as exc:
            text = f"Could not page the commander: {exc.message}"
            await self.port.alarm(incident, text, key=f"{source}:failed")
            await self._note(
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
            incident=incident.number, kind="page", source=f"approval:{approval_id}:page",
            now=self.clock(), target_kind="escalation_policy" if policy else "service",
            target_id=policy or (route.service_id if route else None),
            target_name="approvers' on-call", message=message, requested_by=None,
        )  # fmt: skip
        self._wake.set()

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
        while not stop.is_set():
            self._wake.clear()
            try:
                await self.process_pending()
            except Exception:  # the worker must outlive anything one page does
                log.exception("paging worker failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_first(self._wake, stop), timeout=5.0)

    async def process_pending(self) -> int:
        rows = await self.storage.pages_pending()
        for row in rows:
            await self._execute(row)
        return len(rows)

    async def _execute(self, row: PageRow) -> None:
        incident = await self.storage.get_incident(row.incident)
        if incident is None:
            await self.storage.page_finish(
                row.id, now=self.clock(), status="failed", error="no incident"
            )
            return
        try:
            results = await self._send(incident, row)
        except BotError as exc:
            await self._failed(incident, row, exc)
            return
        await self._done(incident, row, results)

    async def _send(self, incident: Incident, row: PageRow) -> list[PageResult]:
        if row.kind == "resolve":
            ids = sorted(
                {
                    p.pd_incident_id
                    for p in await self.storage.pages_of(incident.number)
                    if p.pd_incident_id
                }
            )
            return [
                await self.pager.resolve(incident_id=incident.key, pd_incident_id=i)
                for i in (list[str | None](ids) or [None])
            ]
        pd_id = await self._pd_incident(incident.number)
        if row.kind == "trigger" or (
            pd_id is None and row.target_kind == "escalation_policy"
        ):
            return [await self._trigger(incident, row)]
        results: list[PageResult] = []
        if pd_id is None and row.target_kind == "user" and not self.log_only:
            # Responders join a PagerDuty incident: open the incident's own first (same dedup key).
            opened = await self._trigger(incident, row)
            if opened.pd_incident_id is None:
                return [opened]
            pd_id, results = opened.pd_incident_id, [opened]
        kind = _KINDS.get(row.target_kind or "", "escalation_policy")
        added = await self.pager.page(
            incident_id=incident.key, pd_incident_id=pd_id, target_kind=kind,
            target_id=row.target_id or "", message=row.message or f"Please join {incident.key}",
        )  # fmt: skip
        return [added, *results]

    async def _trigger(self, incident: Incident, row: PageRow) -> PageResult:
        route = self.route(incident)
        policy = row.target_id if row.target_kind == "escalation_policy" else None
        service = row.target_id if row.target_kind == "service" else None
        return await self.pager.trigger(
            incident_id=incident.key, title=incident.title, severity=incident.severity,
            details=row.message or incident.description or incident.title, urgency="high",
            service_id=(route.service_id if route else None) or service,
            escalation_policy_id=policy or (route.escalation_policy_id if route else None),
        )  # fmt: skip

    async def _pd_incident(self, number: int) -> str | None:
        pages = await self.storage.pages_of(number)
        return next(
            (
                p.pd_incident_id
                for p in pages
                if p.pd_incident_id and p.kind != "resolve"
            ),
            None,
        )

    async def _done(
        self, incident: Incident, row: PageRow, results: list[PageResult]
    ) -> None:
        first = results[0]
        if first.delivered:
            self.last_error = None
        text = "; ".join(r.text for r in results)
        await self.storage.page_finish(
            row.id, now=self.clock(), status="done" if first.delivered else "undelivered",
            pd_incident_id=first.pd_incident_id, dedup_key=first.dedup_key, html_url=first.html_url, result=text,
        )  # fmt: skip
        data = {"page": row.kind, "target_kind": row.target_kind, "target": row.target_id, "mode": first.mode,
                "delivered": first.delivered, "pd_incident_id": first.pd_incident_id, "dedup_key": first.dedup_key}  # fmt: skip
        kind = "pd_resolve" if row.kind == "resolve" else "page"
        if (
            not self.log_only
        ):  # log-only paged nobody: the channel is told, the timeline has no event
            await self._note(
                incident,
                kind,
                text,
                source=f"page:{row.id}",
                data=data,
                actor=row.requested_by,
            )
        link = f" <{first.html_url}|open in PagerDuty>" if first.html_url else ""
        icon = ":pager:" if first.delivered else ":information_source:"
        await self.port.say(incident, f"{icon} {text}{link}", key=f"page:{row.id}")
        if row.kind == "trigger" and not self.log_only:
            await self.show_oncall(incident, key=f"page:{row.id}:oncall")

    async def show_oncall(self, incident: Incident, *, key: str) -> list[OnCall]:
        """Post who is on call now and invite those matched to Slack users by email."""
        try:
            oncall = await self.oncall(incident)
        except BotError as exc:
            await self.port.say(
                incident,
                f":warning: Could not list who is on call: {exc.message}",
                key=key,
            )
            return []
        matched = await self.port.users_by_email(
            sorted({o.email for o in oncall if o.email})
        )
        await self.port.show_oncall(incident, oncall, matched, key=key)
        users = sorted(set(matched.values()) - {incident.commander})
        if users:
            await self.port.invite(incident, users, key=f"{key}:invite")
        return oncall

    async def _failed(self, incident: Incident, row: PageRow, error: BotError) -> None:
        await self.storage.page_finish(
            row.id, now=self.clock(), status="failed", error=error.message
        )
        if row.kind != "resolve":
            self.last_error = error.message
        if row.kind == "resolve":
            text = f":warning: Could not resolve the PagerDuty incident: {error.message} Resolve it in PagerDuty by hand."
        else:
            text = fallback_message(self.settings.fallback_contacts, error)
        await self._note(incident, "page_failed", f"Paging failed: {error.message}", source=f"page:{row.id}:failed",
                         data={"page": row.kind, "target": row.target_id, "error": error.message}, actor=row.requested_by)  # fmt: skip
        await self.port.alarm(incident, text, key=f"page:{row.id}:failed")

    async def _note(
        self, incident: Incident, kind: str, text: str, *, source: str, data: dict[str, Any],
        actor: str | None = None,
    ) -> None:  # fmt: skip
        entry = NewEntry(kind=kind, actor=actor, text=text, data=data, source=source)
        await self.storage.append(incident.number, [entry], now=self.clock())


@dataclass(frozen=True)
class PageObjectRow:
    """A queued page and the PagerDuty object it targets (for the requester's confirmation)."""

    row: PageRow
    target: PdObject


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
