"""The public status page: public updates recorded, and the page rebuilt and published after each.

Owns what the public sees: only text written for it (the public text of `/incident update`, and a
fixed line when an incident with public updates is resolved), the components the plan names and
their states (from each current incident's severity and status), current incidents and the last
90 days' history. Drills never appear. Publishing runs in the background, one at a time, through
the `StatusSink` (a directory the bot serves, or S3 in another region), then to the optional
`StatusMirror` (Atlassian Statuspage: each incident's public updates not yet there, in order); a
failed publish is logged and the next one publishes everything again. Must not: know about Slack or HTTP.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from datetime import timedelta

from bot.config import Settings
from bot.errors import BotError, UsageError
from bot.gateways.status_sinks import StatusSink
from bot.models.incidents import Clock, Incident, Status
from bot.models.statuspage import (
    ComponentState,
    PublicComponent,
    PublicIncident,
    PublicUpdate,
    StatusPage,
)
from bot.plan import COMPONENTS, SERVICE_NAME
from bot.services.ports import StatusMirror
from bot.services.statuspage.render import FILES, render
from bot.storage import Storage

log = logging.getLogger(__name__)
HISTORY = timedelta(days=90)
MAX_TEXT = 2000
RESOLVED_TEXT = "This incident has been resolved. Thank you for your patience."
IMPACTS = {"High": ComponentState.MAJOR, "Medium": ComponentState.PARTIAL}


class StatusPageService:
    def __init__(
        self,
        *,
        storage: Storage,
        settings: Settings,
        clock: Clock,
        sink: StatusSink,
        mirror: StatusMirror | None = None,
    ) -> None:
        self.storage, self.settings, self.clock = storage, settings, clock
        self.sink, self.mirror = sink, mirror
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self.last_error: str | None = None

    def check(self, incident: Incident, text: str) -> str:
        """The public text as it will be shown; a UsageError when `incident` may not show it."""
        text = text.strip()
        if incident.drill:
            raise UsageError(
                "A drill is never shown on the public status page.", field="public"
            )
        if not text:
            raise UsageError("Write the public text.", field="public")
        if len(text) > MAX_TEXT:
            raise UsageError(
                f"The public text is at most {MAX_TEXT} characters.", field="public"
            )
        return text

    async def post(
        self,
        *,
        incident: Incident,
        status: Status,
        text: str,
        actor: str | None,
        source: str,
    ) -> None:
        """Record a public update of `incident` and publish the page again (in the background)."""
        text = self.check(incident, text)
        added = await self.storage.public_update_add(
            incident=incident.number,
            status=status.value,
            text=text,
            actor=actor,
            source=source,
            now=self.clock(),
        )
        if added:
            self.publish_later()

    # -- followers of the incident lifecycle ---------------------------------------------------
    async def after_declare(self, incident: Incident, *, source: str) -> None:
        """Nothing is public until someone writes for the public."""

    async def after_severity(
        self, incident: Incident, *, actor: str, source: str
    ) -> None:
        if await self.storage.has_public_updates(incident.number):
            self.publish_later()  # the components' states follow the severity

    async def after_resolve(self, incident: Incident, *, source: str) -> None:
        """An incident the public was told about is resolved on the page too."""
        if not incident.drill and await self.storage.has_public_updates(
            incident.number
        ):
            await self.post(
                incident=incident,
                status=Status.RESOLVED,
                text=RESOLVED_TEXT,
                actor=None,
                source=f"{source}:status-page",
            )

    # -- the page ------------------------------------------------------------------------------
    async def page(self) -> StatusPage:
        now = self.clock()
        by_incident: dict[int, list[PublicUpdate]] = defaultdict(list)
        for update in await self.storage.public_updates(since=now - HISTORY):
            by_incident[update.incident].append(update)
        current: list[PublicIncident] = []
        history: list[PublicIncident] = []
        for number, updates in by_incident.items():
            incident = await self.storage.get_incident(number)
            if incident is None or incident.drill:
                continue
            public = self._public(incident, updates)
            (history if public.status == Status.RESOLVED.value else current).append(
                public
            )
        states = {c.id: ComponentState.OPERATIONAL for c in COMPONENTS}
        for public in current:
            for component in public.components:
                if component in states:
                    states[component] = ComponentState.worst(
                        states[component], public.impact
                    )
        return StatusPage(
            service=SERVICE_NAME,
            generated_at=now,
            components=[
                PublicComponent(id=c.id, name=c.name, state=states[c.id])
                for c in COMPONENTS
            ],
            current=sorted(current, key=lambda i: i.started_at, reverse=True),
            history=sorted(history, key=lambda i: i.started_at, reverse=True)[:20],
        )

    def _public(
        self, incident: Incident, updates: list[PublicUpdate]
    ) -> PublicIncident:
        names = {c.id: c.name for c in COMPONENTS}
        affected = [names[c] for c in incident.components if c in names]
        status = updates[-1].status
        level = self.settings.severity(incident.severity)
        impact = IMPACTS.get(level.impact if level else "", ComponentState.DEGRADED)
        if status == Status.MONITORING.value:
            impact = ComponentState.DEGRADED
        return PublicIncident(
            number=incident.number,
            key=incident.key,
            name=f"Service disruption: {', '.join(affected)}"
            if affected
            else f"{SERVICE_NAME} disruption",
            status=status,
            impact=ComponentState.OPERATIONAL
            if status == Status.RESOLVED.value
            else impact,
            components=[c for c in incident.components if c in names],
            started_at=updates[0].at,
            resolved_at=updates[-1].at if status == Status.RESOLVED.value else None,
            updates=list(reversed(updates)),
        )

    async def publish(self) -> None:
        """Render the page and put it where `WARROOM_STATUS_URL` says (one publish at a time)."""
        async with self._lock:
            page = await self.page()
            try:
                await asyncio.to_thread(self.sink.put, render(page), FILES)
                self.last_error = None
            except (BotError, OSError) as exc:
                self.last_error = str(exc)
                log.warning("status page not published to %s: %s", self.sink.where, exc)
            if self.mirror is not None:
                for incident in [*page.current, *page.history]:
                    try:
                        await self._mirror(self.mirror, incident)
                    except BotError as exc:  # the next publish catches up
                        log.warning(
                            "%s not mirrored to Statuspage: %s",
                            incident.key,
                            exc.message,
                        )

    async def _mirror(self, mirror: StatusMirror, incident: PublicIncident) -> None:
        """Copy the incident's public updates not yet on the hosted page there, oldest first."""
        number = incident.number
        known = await self.storage.mirror_of(number)
        remote_id, last = known if known else (None, 0)
        ids = self.settings.statuspage_components
        for update in reversed(incident.updates):  # oldest first
            if update.id <= last:
                continue
            state = (
                ComponentState.OPERATIONAL
                if update.status == Status.RESOLVED.value
                else incident.impact
            )
            components = {ids[c]: state.value for c in incident.components if c in ids}
            if remote_id is None:
                remote_id = await mirror.create(
                    name=incident.name,
                    status=update.status,
                    body=update.text,
                    components=components,
                )
            else:
                await mirror.update(
                    remote_id,
                    status=update.status,
                    body=update.text,
                    components=components,
                )
            await self.storage.mirror_set(
                number, remote_id=remote_id, last_update=update.id
            )

    def publish_later(self) -> None:
        task = asyncio.create_task(self.publish(), name="status-page")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self, *, within: float = 30.0) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=within)
