"""Storage section: the append-only, hash-chained timeline.

Each row carries the SHA-256 of the previous row of its incident (over a canonical JSON of the row's
fields), so editing, deleting, inserting or reordering rows breaks the chain. Text is redacted before
it is hashed and stored. Rows are never updated or deleted.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from bot.models.incidents import NewEntry, TimelineEntry, from_iso, to_iso
from bot.redaction import redact, redact_text
from bot.storage.base import StorageBase

GENESIS = "0" * 64
_HASHED = (
    "incident",
    "seq",
    "kind",
    "actor",
    "text",
    "data",
    "occurred_at",
    "recorded_at",
    "slack_ts",
    "permalink",
    "key_event",
    "corrects",
    "prev_hash",
)


_COLUMNS = (*_HASHED, "hash", "source")
_INSERT = f"insert into timeline ({', '.join(_COLUMNS)}) values ({', '.join('?' * len(_COLUMNS))})"


def row_hash(row: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON of a timeline row's hashed fields (prev_hash included)."""
    canonical = json.dumps(
        {k: row.get(k) for k in _HASHED}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class TimelineStore(StorageBase):
    async def append(
        self, incident: int, entries: list[NewEntry], *, now: datetime
    ) -> list[TimelineEntry]:
        """Append entries to an incident's chain; entries whose source was seen are skipped."""
        return await self._call(self._append, incident, entries, now)

    def _append(
        self, incident: int, entries: list[NewEntry], now: datetime
    ) -> list[TimelineEntry]:
        with self.db.atomic():
            return [_entry(row) for row in self._append_rows(incident, entries, now)]

    def _append_rows(
        self, incident: int, entries: list[NewEntry], now: datetime
    ) -> list[dict[str, Any]]:
        """Insert the rows (inside the caller's transaction) and return them."""
        head = self._one(
            "select seq, hash from timeline where incident = ? order by seq desc limit 1",
            [incident],
        )
        seq, prev = (head["seq"], head["hash"]) if head else (0, GENESIS)
        added: list[dict[str, Any]] = []
        for entry in entries:
            if entry.source and self._one(
                "select 1 from timeline where incident = ? and source = ?",
                [incident, entry.source],
            ):
                continue
            seq += 1
            row: dict[str, Any] = {
                "incident": incident,
                "seq": seq,
                "kind": entry.kind,
                "actor": entry.actor,
                "text": redact_text(entry.text),
                "data": json.dumps(redact(entry.data), sort_keys=True, default=str),
                "occurred_at": to_iso(entry.occurred_at or now),
                "recorded_at": to_iso(now),
                "slack_ts": entry.slack_ts,
                "permalink": entry.permalink,
                "key_event": int(entry.key_event),
                "corrects": entry.corrects,
                "prev_hash": prev,
            }
            row["hash"] = prev = row_hash(row)
            # Plain SQL: sqlite-utils' insert() introspects the table on every call (hot path).
            self.db.execute(_INSERT, [*(row[c] for c in _COLUMNS[:-1]), entry.source])
            added.append(row)
        return added

    async def timeline(
        self, incident: int, *, last: int | None = None
    ) -> list[TimelineEntry]:
        sql = "select * from timeline where incident = ? order by seq desc limit ?"
        rows = await self._call(
            lambda: list(self.db.query(sql, [incident, last or -1]))
        )
        return [_entry(r) for r in reversed(rows)]

    async def entries_of(
        self, incident: int, kinds: tuple[str, ...]
    ) -> list[TimelineEntry]:
        """An incident's entries of these kinds, in order."""
        sql = (
            f"select * from timeline where incident = ? and kind in ({','.join('?' * len(kinds))})"
            " order by seq"
        )
        rows = await self._call(lambda: list(self.db.query(sql, [incident, *kinds])))
        return [_entry(r) for r in rows]

    async def find_entry(
        self, incident: int, *, slack_ts: str, kind: str
    ) -> TimelineEntry | None:
        sql = "select * from timeline where incident = ? and slack_ts = ? and kind = ? order by seq limit 1"
        row = await self._call(self._one, sql, [incident, slack_ts, kind])
        return _entry(row) if row else None


def _entry(row: dict[str, Any]) -> TimelineEntry:
    data = {
        **row,
        "data": json.loads(row["data"] or "{}"),
        "key_event": bool(row["key_event"]),
    }
    data["occurred_at"], data["recorded_at"] = (
        from_iso(row["occurred_at"]),
        from_iso(row["recorded_at"]),
    )
    return TimelineEntry.model_validate(data)
