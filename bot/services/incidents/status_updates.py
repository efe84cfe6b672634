"""Status updates: what `/incident update` posts, and the reminder reset that follows.

Owns the rules (open incidents only; a new state moves the incident through `IncidentService`;
`resolved` goes through resolve), the `status_update` timeline entry, and handing the update to
`CommsPort` with the timeline head hash so Slack's copy witnesses the chain (DESIGN.md).
Must not: render Slack text or talk to Slack directly.
"""

from __future__ import annotations

from datetime import datetime

from bot.errors import ConflictError, UsageError
from bot.models.incidents import Clock, NewEntry, Status
from bot.services.incidents.service import IncidentService
from bot.services.ports import CommsPort
from bot.services.scheduling.reminders import ReminderService
from bot.services.statuspage import StatusPageService
from bot.storage import Storage


class StatusUpdateService:
    """Post status updates from the plan's template."""

    def __init__(
        self,
        *,
        storage: Storage,
        clock: Clock,
        incidents: IncidentService,
        reminders: ReminderService,
        port: CommsPort,
        status_page: StatusPageService,
    ) -> None:
        self.storage, self.clock, self.incidents = storage, clock, incidents
        self.reminders, self.port, self.status_page = reminders, port, status_page

    async def post(
        self,
        *,
        number: int,
        status: Status,
        message: str,
        actor: str,
        source: str,
        public: str = "",
    ) -> datetime:
        """Record and post one status update; return when the next one is due. A `public` text
        goes to the status page too (it alone: the internal message never does)."""
        incident = await self.incidents.get(number)
        if not incident.is_open:
            raise ConflictError(
                f"{incident.key} is resolved; post the resolution instead."
            )
        if status is Status.RESOLVED:
            raise UsageError(
                "Use `/incident resolve` to resolve the incident.", field="status"
            )
        if not message.strip():
            raise UsageError(
                "Write what changed since the last update.", field="message"
            )
        if public:  # refused before anything is posted
            self.status_page.check(incident, public)
        if status is not incident.status:
            incident = await self.incidents.set_status(
                number=number, status=status, actor=actor, source=f"{source}:status"
            )
        now = self.clock()
        entry = NewEntry(
            kind="status_update",
            actor=actor,
            text=message.strip(),
            source=source,
            data={"status": status.value},
        )
        await self.storage.append(number, [entry], now=now)
        head = (await self.storage.timeline(number, last=1))[-1].hash
        next_update = await self.reminders.update_posted(incident, at=now)
        await self.port.status_update(
            incident,
            status=status,
            message=message.strip(),
            next_update=next_update,
            head_hash=head,
            actor=actor,
            key=source,
            subscribers=await self.storage.subscribers(number),
        )
        if public:
            await self.status_page.post(
                incident=incident,
                status=status,
                text=public,
                actor=actor,
                source=source,
            )
        return next_update
