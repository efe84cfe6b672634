"""Follow-ups: add them, file them in the tracker, learn when they are done, remind overdue owners.

Owns the follow-up list's rules: what a tracker is told (a private incident's title stays in
Slack), who may close one by hand, when one is filed (at once when a
tracker is configured, and again on each sync until the tracker takes it), and the periodic sync
(a reminder row of kind `followups` while any is open, so a restart keeps the schedule): new follow-ups filed, every
filed one's state read back from the tracker (closed there: done here, reopened: open), and each
owner of overdue ones reminded once a day. Must not: know about Slack or any tracker's API.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, datetime, timedelta

from bot.config import Settings
from bot.errors import ConflictError, ExternalServiceError, NotFound, UsageError
from bot.gateways.github import issue_event
from bot.models.followups import (
    FollowUp,
    FollowUpKind,
    FollowUpState,
    Priority,
    TrackerIssue,
)
from bot.models.incidents import Clock, Incident
from bot.services.ports import FollowUpPort, Tracker
from bot.services.scheduling.reminders import Fired, ReminderService
from bot.storage import Storage
from bot.storage.reminders import Reminder

log = logging.getLogger(__name__)
KEY = "followups"
MAX_TEXT = 500


class FollowUpService:
    def __init__(
        self,
        *,
        storage: Storage,
        settings: Settings,
        clock: Clock,
        port: FollowUpPort,
        tracker: Tracker | None,
    ) -> None:
        self.storage, self.settings, self.clock = storage, settings, clock
        self.port, self.tracker = port, tracker

    async def add(
        self,
        *,
        number: int,
        text: str,
        kind: FollowUpKind | None,
        priority: Priority,
        owner: str | None,
        due: date | None,
        actor: str,
        source: str,
    ) -> FollowUp:
        """Add a follow-up to INC-`number` (once per `source`), tell the channel, file it."""
        text = " ".join(text.split())
        if not text:
            raise UsageError("Say what is to be done: `/incident followup <text>`.")
        if len(text) > MAX_TEXT:
            raise UsageError(f"A follow-up is at most {MAX_TEXT} characters.")
        if due is not None and due < self.clock().date():
            raise UsageError(f"The due date {due.isoformat()} has passed.")
        incident = await self._incident(number)
        item, new = await self.storage.followup_add(
            incident=number,
            text=text,
            kind=kind,
            priority=priority,
            owner=owner,
            due=due,
            actor=actor,
            source=source,
            now=self.clock(),
        )
        if new:
            await self.port.followup_changed(
                incident, item, "added", key=f"followup:{item.id}:added"
            )
            await self.ensure_scheduled()
        return await self._file(incident, item)

    async def close(
        self, *, number: int, followup_id: int, actor: str, done: bool = True
    ) -> FollowUp:
        """Mark INC-`number`'s follow-up done (or open again) by hand; one filed in a tracker is
        closed there."""
        item = await self.storage.followup(followup_id)
        if item is None or item.incident != number:
            raise NotFound(f"INC-{number} has no follow-up #{followup_id}.")
        if item.tracker_key:
            raise ConflictError(
                f"Follow-up #{item.id} is tracked in {item.tracker} ({item.tracker_url}): "
                "close or reopen it there; warroom follows its state."
            )
        return (
            await self._set_state(item, done=done, actor=actor, via="by hand") or item
        )

    async def listing(self, number: int) -> list[FollowUp]:
        """An incident's follow-ups, open and done."""
        return await self.storage.followups(number)

    async def open_everywhere(self) -> tuple[list[FollowUp], int]:
        """Every open follow-up, outside any one incident's channel: those of private incidents
        are left out (their text stays with their channel); how many were left out."""
        shown, hidden = [], 0
        private: dict[int, bool] = {}
        for item in await self.storage.followups(open_only=True):
            if item.incident not in private:
                incident = await self.storage.get_incident(item.incident)
                private[item.incident] = incident is None or incident.private
            if private[item.incident]:
                hidden += 1
            else:
                shown.append(item)
        return shown, hidden

    # -- the tracker -----------------------------------------------------------------------------
    async def _file(self, incident: Incident, item: FollowUp) -> FollowUp:
        """File `item` in the tracker if there is one and it is not filed; a failure waits for the sync."""
        if self.tracker is None or item.tracker_key:
            return item
        try:
            issue = await self.tracker.create(
                item,
                incident_key=incident.key,
                incident_title=None if incident.private else incident.title,
                link=self.port.incident_link(incident),
            )
        except ExternalServiceError as exc:
            log.warning("follow-up #%s not filed yet: %s", item.id, exc.message)
            return item
        filed = await self.storage.followup_exported(
            item.id,
            tracker=self.tracker.name,
            key=issue.key,
            url=issue.url,
            now=self.clock(),
        )
        if filed is None:  # filed meanwhile by a concurrent sync
            return await self.storage.followup(item.id) or item
        await self.port.followup_changed(
            incident, filed, "filed", key=f"followup:{item.id}:filed"
        )
        return filed

    async def sync(self) -> None:
        """File what is not filed, read back the state of what is, remind overdue owners."""
        if self.tracker is not None:
            for item in await self.storage.followups():
                try:
                    await self._sync_one(item)
                except ExternalServiceError as exc:
                    log.warning("follow-up #%s: %s", item.id, exc.message)
        await self.remind_overdue()

    async def github_webhook(self, body: bytes, *, signature: str | None) -> str:
        """A GitHub `issues` delivery: "forged" (nothing read), "ignored" (another repository,
        another action, no follow-up) or "applied"."""
        secret, repo = self.settings.github_webhook_secret, self.settings.github_repo
        if secret is None or repo is None:
            return "ignored"
        try:
            issue = issue_event(
                body, signature=signature, secret=secret.get_secret_value(), repo=repo
            )
        except ValueError:
            return "forged"
        if issue is None or await self.issue_changed("github", issue) is None:
            return "ignored"
        return "applied"

    async def issue_changed(self, tracker: str, issue: TrackerIssue) -> FollowUp | None:
        """The tracker says an issue was closed or reopened (a signed webhook): the follow-up filed
        as it follows at once (the sync would find it later); None when no follow-up is that issue."""
        item = await self.storage.followup_filed_as(tracker, issue.key)
        if item is None:
            return None
        changed = await self._set_state(
            item, done=issue.done, actor=None, via=f"{tracker} {issue.key}"
        )
        return changed or item

    async def _set_state(
        self, item: FollowUp, *, done: bool, actor: str | None, via: str
    ) -> FollowUp | None:
        """Mark `item` done or open again (on the timeline) and say so in its channel; None when
        it already was."""
        changed = await self.storage.followup_state(
            item.id, done=done, actor=actor, via=via, now=self.clock()
        )
        if changed is not None:
            word = "done" if done else "reopened"
            await self.port.followup_changed(
                await self._incident(item.incident),
                changed,
                word,
                key=f"followup:{item.id}:{word}:{self.clock():%s}",
            )
        return changed

    async def _sync_one(self, item: FollowUp) -> None:
        assert self.tracker is not None
        if not item.tracker_key:
            if item.state is FollowUpState.OPEN:
                await self._file(await self._incident(item.incident), item)
            return
        if item.tracker != self.tracker.name:
            return  # filed in a tracker no longer configured
        issue = await self.tracker.state(item.tracker_key)
        await self._set_state(
            item, done=issue.done, actor=None, via=f"{self.tracker.name} {issue.key}"
        )

    async def remind_overdue(self) -> int:
        """Direct-message each owner of overdue follow-ups once a day; return how many were told."""
        today = self.clock().date()
        owed: dict[str, list[FollowUp]] = defaultdict(list)
        for item in await self.storage.followups(open_only=True):
            if item.owner and item.overdue(today) and item.reminded_on != today:
                owed[item.owner].append(item)
        for owner, items in owed.items():
            await self.port.overdue(owner, items, key=f"overdue:{owner}:{today}")
            await self.storage.followups_reminded([i.id for i in items], today=today)
        return len(owed)

    # -- the schedule ----------------------------------------------------------------------------
    def register(self, reminders: ReminderService) -> None:
        reminders.register(KEY, self._fire)

    async def ensure_scheduled(self) -> Reminder | None:
        """Keep the sync scheduled while any follow-up is open (a restart keeps its next time);
        with none open there is nothing to sync and no row."""
        if not await self.storage.followups(open_only=True):
            return None
        existing = await self.storage.reminder_get(KEY)
        if existing is not None and existing.status == "active":
            return existing
        now = self.clock()
        return await self.storage.reminder_set(
            key=KEY,
            kind=KEY,
            due_at=now + timedelta(minutes=self.settings.followup_sync_minutes),
            now=now,
        )

    async def _fire(self, reminder: Reminder, now: datetime) -> Fired:
        await self.sync()
        if not await self.storage.followups(open_only=True):
            return None, 0  # all done: `add` schedules it again
        return now + timedelta(minutes=self.settings.followup_sync_minutes), 0

    async def aclose(self) -> None:
        if self.tracker is not None:
            await self.tracker.aclose()

    async def _incident(self, number: int) -> Incident:
        incident = await self.storage.get_incident(number)
        if incident is None:
            raise NotFound(f"There is no INC-{number}.")
        return incident
