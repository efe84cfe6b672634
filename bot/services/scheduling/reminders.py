"""The scheduler: reminders kept as SQLite rows and fired by `tick(now)` (a background loop calls it).

Owns the status-update reminders (every N minutes by severity until resolved; a missed update is
escalated: a reminder, then a mention that it is overdue, then a page to the commander), snoozes,
approval escalations (an approval left unanswered pages the approvers' on-call), and the dispatch of
other scheduled kinds (the daily backup checks register one). Every firing moves `due_at` forward from
the time it fired, so one that fell due during downtime fires once. All timing comes from an injected
clock. Must not: sleep in a request path, keep jobs in memory, or know about Slack.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot.config import Settings
from bot.errors import BotError, ConflictError, NotFound
from bot.models.incidents import Clock, Incident, NewEntry
from bot.services.paging.pages import PageService
from bot.services.ports import CommsPort
from bot.storage import Storage
from bot.storage.reminders import Reminder

log = logging.getLogger(__name__)

Fired = tuple[datetime | None, int]  # next due time (None: finished) and the next stage
Handler = Callable[[Reminder, datetime], Awaitable[Fired]]
RETRY_AFTER_ERROR = timedelta(minutes=5)


def update_key(number: int) -> str:
    return f"update:{number}"


class ReminderService:
    """Schedule, snooze, cancel and fire reminders."""

    def __init__(
        self,
        *,
        storage: Storage,
        settings: Settings,
        clock: Clock,
        port: CommsPort,
        pages: PageService,
        interval: float = 15.0,
    ) -> None:
        self.storage, self.settings, self.clock = storage, settings, clock
        self.port, self.pages, self.interval = port, pages, interval
        self._handlers: dict[str, Handler] = {
            "update": self._fire_update,
            "approval": self._fire_approval,
            "archive": self._fire_archive,
        }

    def register(self, kind: str, handler: Handler) -> None:
        """Let another service own a kind of scheduled row (e.g. `backup-checks`)."""
        self._handlers[kind] = handler

    def update_minutes(self, incident: Incident) -> int:
        level = self.settings.severity(incident.severity)
        return level.update_minutes if level else 15

    # -- followers of the incident lifecycle ---------------------------------------------------
    async def after_declare(self, incident: Incident, *, source: str) -> None:
        """Remind the commander to post the first update N minutes after the declaration."""
        due = incident.declared_at + timedelta(minutes=self.update_minutes(incident))
        await self.storage.reminder_set(
            key=update_key(incident.number),
            kind="update",
            incident=incident.number,
            due_at=due,
            now=self.clock(),
            only_if_new=True,
        )

    async def after_severity(
        self, incident: Incident, *, actor: str, source: str
    ) -> None:
        """A more urgent severity asks for updates more often: bring the next reminder forward."""
        reminder = await self.storage.reminder_get(update_key(incident.number))
        due = self.clock() + timedelta(minutes=self.update_minutes(incident))
        if (
            reminder is not None
            and reminder.status == "active"
            and due < reminder.due_at
        ):
            await self.storage.reminder_set(
                key=reminder.key,
                kind=reminder.kind,
                incident=incident.number,
                due_at=due,
                now=self.clock(),
                stage=reminder.stage,
            )

    async def after_resolve(self, incident: Incident, *, source: str) -> None:
        await self.storage.reminders_cancel(incident=incident.number)
        days = self.settings.archive_after_days
        if days is not None:
            await self.storage.reminder_set(
                key=f"archive:{incident.number}",
                kind="archive",
                incident=incident.number,
                due_at=(incident.resolved_at or self.clock()) + timedelta(days=days),
                now=self.clock(),
            )

    # -- what people do --------------------------------------------------------------------------
    async def update_posted(self, incident: Incident, *, at: datetime) -> datetime:
        """A status update was posted: the next one is due N minutes from now, escalation reset."""
        due = at + timedelta(minutes=self.update_minutes(incident))
        if incident.is_open:
            await self.storage.reminder_set(
                key=update_key(incident.number),
                kind="update",
                incident=incident.number,
                due_at=due,
                now=at,
                stage=0,
            )
        return due

    async def snooze(
        self, *, number: int, minutes: int, actor: str, source: str
    ) -> datetime:
        """Push the status-update reminder back by `minutes` (and restart its escalation)."""
        incident = await self.storage.get_incident(number)
        if incident is None:
            raise NotFound(f"INC-{number} does not exist.")
        if not incident.is_open:
            raise ConflictError(
                f"{incident.key} is resolved; there is nothing to snooze."
            )
        now = self.clock()
        due = now + timedelta(minutes=minutes)
        await self.storage.reminder_set(
            key=update_key(number),
            kind="update",
            incident=number,
            due_at=due,
            now=now,
            stage=0,
        )
        entry = NewEntry(
            kind="reminder_snoozed",
            actor=actor,
            source=source,
            text=f"Status-update reminder snoozed for {minutes} minutes",
            data={"minutes": minutes},
        )
        await self.storage.append(number, [entry], now=now)
        return due

    async def schedule_approval_escalation(
        self,
        *,
        incident: int,
        approval_id: str,
        summary: str,
        requested_at: datetime | None = None,
    ) -> Reminder:
        """Page the approvers' on-call if approval `approval_id` is still unanswered in N minutes.

        For the runbook engine: call it when an approval is requested, and
        `cancel_approval_escalation` when it is granted, rejected or voided. Repeats are harmless.
        """
        now = self.clock()
        due = (requested_at or now) + timedelta(
            minutes=self.settings.approval_page_minutes
        )
        return await self.storage.reminder_set(
            key=f"approval:{approval_id}",
            kind="approval",
            incident=incident,
            due_at=due,
            now=now,
            data={"approval_id": approval_id, "summary": summary},
            only_if_new=True,
        )

    async def cancel_approval_escalation(self, *, approval_id: str) -> bool:
        """The approval was answered: do not page anyone for it."""
        return bool(await self.storage.reminders_cancel(key=f"approval:{approval_id}"))

    # -- the scheduler ---------------------------------------------------------------------------
    async def tick(self, now: datetime | None = None) -> int:
        """Fire every reminder due at `now` once; return how many fired."""
        now = now or self.clock()
        due = await self.storage.reminders_due(now)
        for reminder in due:
            handler = self._handlers.get(reminder.kind)
            if handler is None:
                log.warning(
                    "no handler for reminder kind %r; leaving it", reminder.kind
                )
                continue
            try:
                next_due, stage = await handler(reminder, now)
            except BotError as exc:
                log.warning("reminder %s failed: %s", reminder.key, exc.message)
                next_due, stage = now + RETRY_AFTER_ERROR, reminder.stage
            await self.storage.reminder_fired(
                reminder.id, now=now, due_at=next_due, stage=stage
            )
        return len(due)

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every `interval` seconds until `stop` is set."""
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:  # the scheduler must outlive anything one reminder does
                log.exception("reminder tick failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.interval)

    # -- kinds -------------------------------------------------------------------------------------
    async def _fire_update(self, reminder: Reminder, now: datetime) -> Fired:
        incident = await self.storage.get_incident(reminder.incident or 0)
        if incident is None or not incident.is_open:
            return None, reminder.stage
        minutes, grace = (
            self.update_minutes(incident),
            self.settings.update_grace_minutes,
        )
        key = f"reminder:{reminder.id}:{reminder.fired}"
        if reminder.stage == 0:
            await self.port.remind(incident, key=key, minutes=minutes, overdue=False)
            await self._note(
                incident,
                "reminder",
                "Reminded the commander to post a status update",
                key,
            )
            return now + timedelta(minutes=grace), 1
        if reminder.stage == 1:
            await self.port.remind(incident, key=key, minutes=minutes, overdue=True)
            await self._note(
                incident,
                "update_overdue",
                "Status update overdue: mentioned the commander",
                key,
            )
            return now + timedelta(minutes=grace), 2
        message = f"{incident.key}: the status update is overdue; please post one with /incident update"
        await self.pages.page_commander(incident, source=key, message=message)
        await self._note(
            incident,
            "update_escalated",
            "Status update overdue: paging the commander",
            key,
        )
        return now + timedelta(minutes=minutes), 0

    async def _fire_approval(self, reminder: Reminder, now: datetime) -> Fired:
        incident = await self.storage.get_incident(reminder.incident or 0)
        if incident is not None and incident.is_open:
            approval_id = str(reminder.data.get("approval_id", reminder.key))
            summary = str(reminder.data.get("summary", "an approval"))
            await self.pages.page_approvers(
                incident, approval_id=approval_id, summary=summary
            )
            text = f"Approval unanswered for {self.settings.approval_page_minutes} minutes: paging the approvers' on-call"
            await self._note(
                incident, "approval_escalated", text, f"reminder:{reminder.id}"
            )
        return None, reminder.stage + 1

    async def _fire_archive(self, reminder: Reminder, now: datetime) -> Fired:
        """Say where the post-mortem is, then archive the resolved incident's channel."""
        incident = await self.storage.get_incident(reminder.incident or 0)
        if incident is not None and not incident.is_open:
            key = f"reminder:{reminder.id}"
            text = (
                f"{incident.key} was resolved; this channel is archived now. Its post-mortem"
                " draft is the Markdown file warroom uploaded here (search the channel's files),"
                f" and `warroom export {incident.key}` writes it again from the database."
            )
            await self.port.archive(incident, text, key=key)
            await self._note(incident, "archived", "Channel archived", key)
        return None, reminder.stage + 1

    async def _note(
        self, incident: Incident, kind: str, text: str, source: str
    ) -> None:
        entry = NewEntry(kind=kind, actor=None, text=text, source=source)
        await self.storage.append(incident.number, [entry], now=self.clock())
