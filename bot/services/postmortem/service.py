"""Post-mortem drafts: build one (Markdown or JSON, streamed to a file), store it, publish it.

Owns when and where drafts are built: `/incident postmortem` at any time, and automatically once the
resolution is posted (`publish_later`, a background task, so resolving never waits for it). A draft
is written from a read-only snapshot on a worker thread (the writer thread and the event loop stay
free), kept as a file under `Settings.postmortem_dir` and recorded in the `postmortems` table, then
handed to the `PostmortemPublisher` port (the Slack adapter uploads it as a file: a draft is never
squeezed into a message). Knows nothing of Slack payloads.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from bot.config import Settings
from bot.errors import ConflictError, ExternalServiceError, UsageError
from bot.models.incidents import Clock, NewEntry, utcnow
from bot.services.ports import PostmortemPublisher
from bot.services.postmortem.facts import (
    DETAIL_KINDS,
    DETAILS,
    REVIEW_STATES,
    collect,
    given_details,
)
from bot.services.postmortem.json_draft import write_json
from bot.services.postmortem.markdown_draft import write_markdown
from bot.services.scheduling.reminders import Fired, ReminderService
from bot.storage import Storage
from bot.storage.chain import ChainReport
from bot.storage.postmortems import PostmortemRecord
from bot.storage.reminders import Reminder
from bot.storage.snapshot import Snapshot

log = logging.getLogger(__name__)
RECOVER_WITHIN = timedelta(hours=24)
REMINDER = "postmortem"  # the reminder kind (and key prefix) of missing details
REMINDERS = 3
MAX_LOOKUPS = 50  # people looked up in Slack per draft


def export_to(
    out: TextIO,
    *,
    database: Path,
    number: int,
    fmt: str,
    settings: Settings,
    now: datetime | None = None,
) -> ChainReport:
    """Stream INC-`number`'s draft as `fmt` ("md" or "json") to `out` (blocking)."""
    with Snapshot(database) as snap:
        facts = collect(snap, number, settings=settings, now=now or utcnow())
        writer = write_json if fmt == "json" else write_markdown
        return writer(out, facts, snap)


def auto_source(number: int) -> str:
    """The idempotency key of INC-`number`'s automatic draft (one per incident)."""
    return f"auto:resolve:{number}"


def draft_directory(settings: Settings) -> Path:
    return settings.postmortem_dir or settings.database_path.parent / "postmortems"


class PostmortemService:
    def __init__(
        self,
        *,
        storage: Storage,
        settings: Settings,
        clock: Clock,
        publisher: PostmortemPublisher | None = None,
    ) -> None:
        self.storage, self.settings, self.clock, self.publisher = (
            storage,
            settings,
            clock,
            publisher,
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._locks: dict[int, asyncio.Lock] = {}

    async def build(
        self,
        *,
        number: int,
        trigger: str,
        actor: str | None,
        source: str,
        fmt: str = "md",
    ) -> PostmortemRecord:
        """Write the draft to a file and record it (once per `source`)."""
        existing = await self.storage.postmortem_by_source(source)
        if existing is not None and existing.path.is_file():
            return existing
        now = self.clock()
        tag = hashlib.sha256(source.encode()).hexdigest()[:8]
        name = f"INC-{number}-postmortem-{now:%Y%m%dT%H%M%S}-{tag}.{fmt}"
        path = existing.path if existing else draft_directory(self.settings) / name
        await self._name_people(number)
        report, size, digest = await asyncio.to_thread(
            self._write, path, number, fmt, now
        )
        return await self.storage.add_postmortem(
            incident=number,
            format=fmt,
            path=path,
            size=size,
            sha256=digest,
            head_hash=report.head_hash,
            rows=report.rows,
            chain_ok=report.ok,
            generated_at=now,
            trigger=trigger,
            requested_by=actor,
            source=source,
        )

    async def _name_people(self, number: int) -> None:
        """Look up the handles of people the bot only saw in events (messages, reactions)."""
        unnamed = await self.storage.unnamed_actors(number, limit=MAX_LOOKUPS)
        if not unnamed or self.publisher is None:
            return
        for user_id, name in (await self.publisher.handles(unnamed)).items():
            await self.storage.person_seen(user_id=user_id, name=name, now=self.clock())

    # -- what people write ----------------------------------------------------------------------
    async def details(self, number: int) -> dict[str, str]:
        """The details given so far (resolve form, details form): the latest value of each."""
        found: dict[str, str] = {}
        for entry in await self.storage.entries_of(number, DETAIL_KINDS):
            found.update(given_details(entry.data))
        return found

    async def missing(self, number: int) -> list[str]:
        """The headings of the details nobody has given yet."""
        given = await self.details(number)
        return [heading for key, heading in DETAILS.items() if key not in given]

    def register(self, reminders: ReminderService) -> None:
        reminders.register(REMINDER, self._remind)

    async def _remind(self, reminder: Reminder, now: datetime) -> Fired:
        """Remind the commander of what the post-mortem still lacks (REMINDERS times at most)."""
        incident = await self.storage.get_incident(reminder.incident or 0)
        missing = await self.missing(reminder.incident or 0) if incident else []
        if incident is None or not missing or self.publisher is None:
            return None, reminder.stage
        await self.publisher.remind_author(
            incident, missing, key=f"{reminder.key}:{reminder.stage}"
        )
        if reminder.stage + 1 >= REMINDERS:
            return None, reminder.stage + 1
        return now + timedelta(
            hours=self.settings.postmortem_remind_hours
        ), reminder.stage + 1

    async def write_details(
        self, *, number: int, details: dict[str, str], actor: str, source: str
    ) -> None:
        """Record what `actor` wrote (on the timeline) and share the rebuilt draft."""
        given = {
            k: " ".join(v.split()) if k != "resolution" else v.strip()
            for k, v in details.items()
            if k in DETAILS
        }
        before = await self.details(number)
        changed = {k: v for k, v in given.items() if v and v != before.get(k)}
        if not changed:
            return
        entry = NewEntry(
            kind="postmortem_details",
            actor=actor,
            text="Post-mortem: "
            + "; ".join(f"{DETAILS[k]}: {v}" for k, v in changed.items()),
            data=changed,
            source=f"{source}:details",
        )
        if await self.storage.append(number, [entry], now=self.clock()):
            self.publish_later(
                number=number, trigger="details", source=f"{source}:draft"
            )

    async def review(
        self, *, number: int, status: str, reviewers: list[str], actor: str, source: str
    ) -> list[str]:
        """Set the draft's reviewers and status (draft, in review, final); return the reviewers.

        Final needs reviewers; the author is never their own only reviewer."""
        if status not in REVIEW_STATES:
            raise UsageError(f"A post-mortem is one of: {', '.join(REVIEW_STATES)}.")
        current = await self.storage.entries_of(number, ("postmortem_review",))
        chosen = reviewers or (current[-1].data.get("reviewers", []) if current else [])
        if status != "draft" and not chosen:
            raise UsageError(
                "Name its reviewers first: `/incident postmortem review @a @b`."
            )
        if status == "in review" and chosen == [actor]:
            raise UsageError("Someone other than you reviews it.")
        who = ", ".join(f"<@{u}>" for u in chosen)
        entry = NewEntry(
            kind="postmortem_review",
            actor=actor,
            text=f"Post-mortem {status}" + (f", reviewers {who}" if chosen else ""),
            data={"status": status, "reviewers": chosen},
            key_event=status == "final",
            source=f"{source}:review",
        )
        if await self.storage.append(number, [entry], now=self.clock()):
            self.publish_later(
                number=number, trigger="review", source=f"{source}:draft"
            )
            if status == "in review" and self.publisher is not None:
                incident = await self.storage.get_incident(number)
                if incident is not None:
                    await self.publisher.ask_review(
                        incident, chosen, by=actor, key=f"{source}:review"
                    )
        return list(chosen)

    def _write(
        self, path: Path, number: int, fmt: str, now: datetime
    ) -> tuple[ChainReport, int, str]:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(path.suffix + ".part")
        with partial.open("w", encoding="utf-8", newline="\n") as out:
            report = export_to(
                out,
                database=self.settings.database_path,
                number=number,
                fmt=fmt,
                settings=self.settings,
                now=now,
            )
        digest = hashlib.sha256()
        with partial.open("rb") as done:
            while chunk := done.read(1 << 20):
                digest.update(chunk)
        partial.replace(path)
        return report, path.stat().st_size, digest.hexdigest()

    async def publish(
        self, *, number: int, trigger: str, actor: str | None, source: str
    ) -> PostmortemRecord:
        """Build the Markdown draft, upload it to the incident channel (recorded in `postmortems`),
        put the version on the timeline (number, SHA-256, the head it covers) and ask the author
        for what is still to write."""
        # one upload per draft
        async with self._locks.setdefault(number, asyncio.Lock()):
            return await self._publish(number, trigger, actor, source)

    async def _publish(
        self, number: int, trigger: str, actor: str | None, source: str
    ) -> PostmortemRecord:
        incident = await self.storage.get_incident(number)
        if incident is None or not incident.channel_id:
            raise ConflictError(
                f"INC-{number} has no channel yet; try again in a moment."
            )
        draft = await self.build(
            number=number, trigger=trigger, actor=actor, source=source
        )
        if draft.slack_file_id or self.publisher is None:
            return draft
        try:
            file_id = await self.publisher.upload(incident, draft)
        except ExternalServiceError as exc:
            await self.storage.postmortem_failed(draft.id, error=exc.message)
            await self.publisher.upload_failed(incident, draft, exc.message)
            raise
        await self.storage.postmortem_uploaded(
            draft.id, file_id=file_id, now=self.clock()
        )
        shared = len(await self.storage.entries_of(number, ("postmortem_version",))) + 1
        version = NewEntry(
            kind="postmortem_version",
            actor=actor,
            text=f"Post-mortem draft v{shared} shared: {draft.filename} (SHA-256 {draft.sha256})",
            data={
                "version": shared,
                "sha256": draft.sha256,
                "head_hash": draft.head_hash,
                "file": draft.filename,
                "slack_file": file_id,
                "trigger": trigger,
            },
            source=f"{source}:version",
        )
        await self.storage.append(number, [version], now=self.clock())
        missing = await self.missing(number)
        await self.publisher.ask_author(incident, draft, missing)
        if missing:  # the commander is reminded later if they stay missing
            now = self.clock()
            await self.storage.reminder_set(
                key=f"{REMINDER}:{number}",
                kind=REMINDER,
                incident=number,
                due_at=now + timedelta(hours=self.settings.postmortem_remind_hours),
                now=now,
                only_if_new=True,
            )
        return draft.model_copy(update={"slack_file_id": file_id})

    async def recover(self, *, within: timedelta = RECOVER_WITHIN) -> int:
        """At start-up, redo automatic drafts a restart interrupted (incidents resolved lately)."""
        numbers = await self.storage.resolved_without_draft(since=self.clock() - within)
        for number in numbers:
            self.publish_later(
                number=number, trigger="resolve", source=auto_source(number)
            )
        return len(numbers)

    def publish_later(self, *, number: int, trigger: str, source: str) -> None:
        """Publish in the background (after a resolve): failures are shown in the channel and logged."""
        task = asyncio.create_task(
            self._publish_quietly(number, trigger, source), name=f"postmortem-{number}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish_quietly(self, number: int, trigger: str, source: str) -> None:
        try:
            await self.publish(
                number=number, trigger=trigger, actor=None, source=source
            )
        except (ExternalServiceError, ConflictError, OSError) as exc:
            log.warning("post-mortem for INC-%s was not published: %s", number, exc)

    async def wait_idle(self, *, within: float = 30.0) -> None:
        """Wait a bounded time for background drafts to finish (shutdown); `/incident postmortem` redoes one."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=within)

    async def stats_text(self, *, since: datetime | None = None) -> str:
        """Mean times and RTO attainment by severity and scenario, as a plain-text table."""
        from bot.services.postmortem.stats import compute_stats, stats_text

        stats = await asyncio.to_thread(
            compute_stats,
            database=self.settings.database_path,
            settings=self.settings,
            since=since,
        )
        return stats_text(stats)
