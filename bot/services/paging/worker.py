"""The paging worker: sends the pages `PageService` queued, in the background, and records what came of them.

Owns the send loop (rows survive restarts, so it resumes), the PagerDuty call for each row kind
(trigger, page, resolve), the timeline entries and channel messages for every page, failure and
resolution, the loud fallback when paging fails for good, and `last_error` for /readyz.
Must not: run on a request path, know about Slack (it speaks through `CommsPort`), or hold a key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.config import PagerRoute, Settings
from bot.errors import BotError
from bot.gateways.pagerduty.pager import (
    LogOnlyPager,
    OnCall,
    Pager,
    PageResult,
    TargetKind,
    fallback_message,
)
from bot.models.incidents import Clock, Incident, NewEntry
from bot.services.ports import CommsPort, Link
from bot.storage import Storage
from bot.storage.paging import PageRow

# Logs under the page service's name, so one log filter follows a page from request to delivery.
log = logging.getLogger("bot.services.paging.pages")
PARALLEL = 8  # incidents paged at once (PagerDuty allows 960 REST requests a minute)
_KINDS: dict[str, TargetKind] = {k: k for k in ("user", "escalation_policy", "service")}


class PageWorker:
    """Send queued pages and record what came of them; `wake` is set whenever a page is queued."""

    def __init__(
        self,
        *,
        storage: Storage,
        settings: Settings,
        clock: Clock,
        pager: Pager,
        port: CommsPort,
        route: Callable[[Incident], PagerRoute | None],
        oncall_people: Callable[
            [Incident], Awaitable[tuple[list[OnCall], dict[str, str]]]
        ],
        show_oncall: Callable[..., Awaitable[object]],
    ) -> None:
        self.storage, self.settings, self.clock = storage, settings, clock
        self.pager, self.port = pager, port
        self.route, self.show_oncall = route, show_oncall
        self.oncall_people = oncall_people
        self.wake = asyncio.Event()
        self.last_error: str | None = (
            None  # the last page that failed for good (for /readyz)
        )

    @property
    def log_only(self) -> bool:
        return isinstance(self.pager, LogOnlyPager)

    async def run(self, stop: asyncio.Event) -> None:
        """Send queued pages until `stop` is set (rows survive restarts, so it resumes)."""
        while not stop.is_set():
            self.wake.clear()
            try:
                await self.process_pending()
            except Exception:  # the worker must outlive anything one page does
                log.exception("paging worker failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_first(self.wake, stop), timeout=5.0)

    async def process_pending(self) -> int:
        """Send every queued page: each incident's in order, different incidents' at the same
        time (at most `PARALLEL`), so twenty incidents declared together are paged together
        instead of each waiting behind the others' PagerDuty calls and on-call posts."""
        rows = await self.storage.pages_pending()
        by_incident: dict[int, list[PageRow]] = {}
        for row in rows:
            by_incident.setdefault(row.incident, []).append(row)
        gate = asyncio.Semaphore(PARALLEL)

        async def in_order(pages: list[PageRow]) -> None:
            async with gate:
                for row in pages:
                    await self._execute(row)

        outcomes = await asyncio.gather(
            *(in_order(p) for p in by_incident.values()), return_exceptions=True
        )
        failed = [o for o in outcomes if isinstance(o, BaseException)]
        if failed:
            raise failed[0]
        return len(rows)

    async def _execute(self, row: PageRow) -> None:
        incident = await self.storage.get_incident(row.incident)
        if incident is None:
            await self.storage.page_finish(
                row.id, now=self.clock(), status="failed", error="no incident"
            )
            return
        await self.storage.hold_lease()  # a page is sent before anything is written
        # Who is on call is asked while the page goes out, not after it: they are invited sooner.
        oncall = (
            asyncio.ensure_future(self.oncall_people(incident))
            if row.kind == "trigger" and not self.log_only
            else None
        )
        try:
            try:
                results = await self._send(incident, row)
            except BotError as exc:
                await self._failed(incident, row, exc)
                return
            await self._done(incident, row, results, oncall)
        finally:
            await _discard(oncall)

    async def _send(self, incident: Incident, row: PageRow) -> list[PageResult]:
        if row.kind == "resolve":
            ids = sorted(
                {
                    p.pd_incident_id
                    for p in await self.storage.pages_of(incident.number)
                    if p.pd_incident_id
                }
                | set(await self.storage.alerted_pagerduty_incidents(incident.number))
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
            incident_id=incident.key,
            pd_incident_id=pd_id,
            target_kind=kind,
            target_id=row.target_id or "",
            message=row.message or f"Please join {incident.key}",
        )
        return [added, *results]

    async def _trigger(self, incident: Incident, row: PageRow) -> PageResult:
        route = self.route(incident)
        policy = row.target_id if row.target_kind == "escalation_policy" else None
        service = row.target_id if row.target_kind == "service" else None
        return await self.pager.trigger(
            incident_id=incident.key,
            title=incident.title,
            severity=incident.severity,
            details=row.message or incident.description or incident.title,
            urgency="high",
            service_id=(route.service_id if route else None) or service,
            escalation_policy_id=policy
            or (route.escalation_policy_id if route else None),
        )

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
        self,
        incident: Incident,
        row: PageRow,
        results: list[PageResult],
        oncall: asyncio.Future[Any] | None = None,
    ) -> None:
        first = results[0]
        if first.delivered:
            self.last_error = None
        text = "; ".join(r.text for r in results)
        await self.storage.page_finish(
            row.id,
            now=self.clock(),
            status="done" if first.delivered else "undelivered",
            pd_incident_id=first.pd_incident_id,
            dedup_key=first.dedup_key,
            html_url=first.html_url,
            result=text,
        )
        data = {
            "page": row.kind,
            "target_kind": row.target_kind,
            "target": row.target_id,
            "mode": first.mode,
            "delivered": first.delivered,
            "pd_incident_id": first.pd_incident_id,
            "dedup_key": first.dedup_key,
        }
        kind = "pd_resolve" if row.kind == "resolve" else "page"
        # log-only paged nobody: the channel is told, the timeline has no event
        if not self.log_only:
            await self.note(
                incident,
                kind,
                text,
                source=f"page:{row.id}",
                data=data,
                actor=row.requested_by,
            )
        link = Link(first.html_url, "open in PagerDuty") if first.html_url else None
        icon = ":pager:" if first.delivered else ":information_source:"
        await self.port.say(incident, f"{icon} {text}", key=f"page:{row.id}", link=link)
        if oncall is not None:
            await self.show_oncall(incident, oncall, key=f"page:{row.id}:oncall")

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
        await self.note(
            incident,
            "page_failed",
            f"Paging failed: {error.message}",
            source=f"page:{row.id}:failed",
            data={"page": row.kind, "target": row.target_id, "error": error.message},
            actor=row.requested_by,
        )
        await self.port.alarm(incident, text, key=f"page:{row.id}:failed")

    async def note(
        self,
        incident: Incident,
        kind: str,
        text: str,
        *,
        source: str,
        data: dict[str, Any],
        actor: str | None = None,
    ) -> None:
        """Write one entry on the incident's timeline."""
        entry = NewEntry(kind=kind, actor=actor, text=text, data=data, source=source)
        await self.storage.append(incident.number, [entry], now=self.clock())


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


async def _discard(lookup: asyncio.Future[Any] | None) -> None:
    """Drop an on-call lookup that was not shown (its page was not sent): no stray task."""
    if lookup is not None:
        lookup.cancel()
        await asyncio.gather(lookup, return_exceptions=True)
