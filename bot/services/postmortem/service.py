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
from bot.errors import ConflictError, ExternalServiceError
from bot.models.incidents import Clock, utcnow
from bot.services.ports import PostmortemPublisher
from bot.services.postmortem.facts import collect
from bot.services.postmortem.json_draft import write_json
from bot.services.postmortem.markdown_draft import write_markdown
from bot.storage import Storage
from bot.storage.chain import ChainReport
from bot.storage.postmortems import PostmortemRecord
from bot.storage.snapshot import Snapshot

log = logging.getLogger(__name__)
RECOVER_WITHIN = timedelta(hours=24)
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
        """Build the Markdown draft and upload it to the incident channel (recorded in `postmortems`).

        No timeline row is added: the draft covers the chain up to its head, and the channel's file
        and the `postmortems` row (SHA-256, head hash) are its record.
        """
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
