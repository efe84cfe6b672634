"""Storage section: a request journaled and its timeline entries appended in one transaction.

The hot path for channel messages: the inbox row is written already done, together with the
timeline rows, so a crash can never leave one without the other; the writes of messages arriving
together share one commit (`_call_batched`), and the acknowledgement follows that commit.
"""

from __future__ import annotations

from datetime import datetime

from bot.models.incidents import NewEntry
from bot.storage.journal import JournalStore
from bot.storage.timeline import TimelineStore


class InlineStore(TimelineStore, JournalStore):
    async def journal_and_append(
        self,
        *,
        key: str,
        kind: str,
        body: str,
        now: datetime,
        incident: int | None,
        entries: list[NewEntry],
    ) -> int | None:
        """Journal the request as done and append `entries` to `incident` (if any) atomically;
        return how many rows were appended, or None when the key was journaled before (a Slack
        retry or a replay) and nothing was written."""

        def write() -> int | None:
            if self._journal(key, kind, body, now, True) is None:
                return None
            return len(self._append_rows(incident, entries, now)) if incident else 0

        return await self._call_batched(write)
