"""Storage: the only module that imports sqlite_utils. One SQLite file, one writer thread.

Owns the connection (WAL), the migrations at open, the hash chain of timeline appends, and typed
methods that take and return pydantic models. Every call runs on a single worker thread, so writes
are serialised and the event loop never blocks on disk. It must not know about Slack or AWS.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

from bot.migrations import migrations
from bot.models import (
    Incident,
    NewEntry,
    OutboxMessage,
    OutboxRow,
    TimelineEntry,
    from_iso,
    to_iso,
)
from bot.redaction import redact_text

T = TypeVar("T")
GENESIS = "0" * 64
_HASHED = ("incident", "seq", "kind", "actor", "text", "data", "occurred_at", "recorded_at",
           "slack_ts", "permalink", "key_event", "corrects", "prev_hash")  # fmt: skip
_INCIDENT_JSON = ("components", "roles")
_INCIDENT_TIMES = (
    "declared_at",
    "impact_started_at",
    "acknowledged_at",
    "mitigated_at",
    "resolved_at",
)


def row_hash(row: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON of a timeline row's hashed fields (prev_hash included)."""
    canonical = json.dumps(
        {k: row.get(k) for k in _HASHED}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class Storage:
    """Typed access to the database; every method runs on the one writer thread."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="warroom-db"
        )
        self._db: Database | None = None

    # -- plumbing ---------------------------------------------------------------------------
    async def open(self) -> None:
        await self._call(self._open)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 5000")
        self._db = Database(conn)
        self._db.enable_wal()
        conn.execute("PRAGMA synchronous = NORMAL")
        migrations.apply(self._db)

    async def close(self) -> None:
        if self._db is not None:
            await self._call(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError("storage is not open")
        return self._db

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, fn, *args
        )

    def _one(
        self, sql: str, params: list[Any] | tuple[Any, ...] = ()
    ) -> dict[str, Any] | None:
        return next(iter(self.db.query(sql, params)), None)

    async def ping(self) -> bool:
        """True when the database answers a write (readiness)."""
        return await self._call(
            lambda: self.db.execute("PRAGMA user_version = 0") is not None
        )

    # -- incidents --------------------------------------------------------------------------
    async def create_incident(self, incident: Incident, *, source: str) -> Incident:
        """Store a new incident numbered next; a second call with the same source returns the first."""
        return await self._call(self._create_incident, incident, source)

    def _create_incident(self, incident: Incident, source: str) -> Incident:
        with self.db.atomic():
            existing = self._one("select * from incidents where source = ?", [source])
            if existing:
                return _incident(existing)
            number = (self._one("select max(number) n from incidents") or {}).get(
                "n"
            ) or 0
            row = _incident_row(incident.model_copy(update={"number": number + 1}))
            row["source"] = source
            self.db.table("incidents").insert(row)
            return _incident(row)

    async def get_incident(self, number: int) -> Incident | None:
        row = await self._call(
            self._one, "select * from incidents where number = ?", [number]
        )
        return _incident(row) if row else None

    async def incident_by_channel(self, channel_id: str) -> Incident | None:
        row = await self._call(
            self._one, "select * from incidents where channel_id = ?", [channel_id]
        )
        return _incident(row) if row else None

    async def incidents(
        self, *, open_only: bool = False, limit: int = 1000
    ) -> list[Incident]:
        where = "where status != 'resolved'" if open_only else ""
        sql = f"select * from incidents {where} order by number desc limit ?"
        rows = await self._call(lambda: list(self.db.query(sql, [limit])))
        return [_incident(r) for r in rows]

    async def update_incident(self, number: int, **changes: Any) -> Incident:
        def update() -> Incident:
            row = _incident_row(
                Incident.model_construct(**changes), only=changes.keys()
            )
            self.db.table("incidents").update(number, row)
            return _incident(
                self._one("select * from incidents where number = ?", [number]) or {}
            )

        return await self._call(update)

    # -- timeline ---------------------------------------------------------------------------
    async def append(
        self, incident: int, entries: list[NewEntry], *, now: datetime
    ) -> list[TimelineEntry]:
        """Append entries to an incident's chain; entries whose source was seen are skipped."""
        return await self._call(self._append, incident, entries, now)

    def _append(
        self, incident: int, entries: list[NewEntry], now: datetime
    ) -> list[TimelineEntry]:
        added: list[TimelineEntry] = []
        with self.db.atomic():
            head = self._one(
                "select seq, hash from timeline where incident = ? order by seq desc limit 1",
                [incident],
            )
            seq, prev = (head["seq"], head["hash"]) if head else (0, GENESIS)
            for entry in entries:
                if entry.source and self._one(
                    "select 1 from timeline where incident = ? and source = ?",
                    [incident, entry.source],
                ):
                    continue
                seq += 1
                row: dict[str, Any] = {
                    "incident": incident, "seq": seq, "kind": entry.kind, "actor": entry.actor,
                    "text": redact_text(entry.text), "data": json.dumps(entry.data, sort_keys=True, default=str),
                    "occurred_at": to_iso(entry.occurred_at or now), "recorded_at": to_iso(now),
                    "slack_ts": entry.slack_ts, "permalink": entry.permalink,
                    "key_event": int(entry.key_event), "corrects": entry.corrects, "prev_hash": prev,
                }  # fmt: skip
                row["hash"] = prev = row_hash(row)
                self.db.table("timeline").insert({**row, "source": entry.source})
                added.append(_entry(row))
        return added

    async def timeline(
        self, incident: int, *, last: int | None = None
    ) -> list[TimelineEntry]:
        sql = "select * from timeline where incident = ? order by seq desc limit ?"
        rows = await self._call(
            lambda: list(self.db.query(sql, [incident, last or -1]))
        )
        return [_entry(r) for r in reversed(rows)]

    def iter_timeline(self, incident: int) -> Iterator[TimelineEntry]:
        """Stream an incident's timeline in order (call from a worker thread, not the loop)."""
        for row in self.db.query(
            "select * from timeline where incident = ? order by seq", [incident]
        ):
            yield _entry(row)

    async def find_entry(
        self, incident: int, *, slack_ts: str, kind: str
    ) -> TimelineEntry | None:
        sql = "select * from timeline where incident = ? and slack_ts = ? and kind = ? order by seq limit 1"
        row = await self._call(self._one, sql, [incident, slack_ts, kind])
        return _entry(row) if row else None

    # -- inbox ------------------------------------------------------------------------------
    async def inbox_put(
        self, *, key: str, kind: str, body: str, now: datetime
    ) -> int | None:
        """Journal an inbound request; None when the key was seen before (a retry or replay)."""

        def put() -> int | None:
            cursor = self.db.execute(
                "insert into inbox (key, kind, body, received_at, status, attempts) values (?, ?, ?, ?, 'pending', 0)"
                " on conflict(key) do nothing",
                [key, kind, body, to_iso(now)],
            )
            return cursor.lastrowid if cursor.rowcount == 1 else None

        return await self._call(put)

    async def inbox_finish(
        self, inbox_id: int, *, now: datetime, error: str | None = None
    ) -> None:
        status = "failed" if error else "done"
        sql = "update inbox set status = ?, error = ?, done_at = ?, attempts = attempts + 1 where id = ?"
        await self._call(self.db.execute, sql, [status, error, to_iso(now), inbox_id])

    async def inbox_pending(self) -> list[dict[str, Any]]:
        return await self._call(
            lambda: list(
                self.db.query(
                    "select * from inbox where status = 'pending' order by id"
                )
            )
        )

    # -- outbox -----------------------------------------------------------------------------
    async def outbox_add(self, messages: list[OutboxMessage], *, now: datetime) -> int:
        """Queue Slack calls; a message whose dedup_key is already queued is skipped."""

        def add() -> int:
            added = 0
            with self.db.atomic():
                for m in messages:
                    cursor = self.db.execute(
                        "insert into outbox (channel_key, method, args, dedup_key, incident, purpose, status, attempts,"
                        " created_at) values (?, ?, ?, ?, ?, ?, 'pending', 0, ?) on conflict(dedup_key) do nothing",
                        [
                            m.channel_key,
                            m.method,
                            json.dumps(m.args),
                            m.dedup_key,
                            m.incident,
                            m.purpose,
                            to_iso(now),
                        ],
                    )
                    added += cursor.rowcount
            return added

        return await self._call(add)

    async def outbox_heads(self) -> list[OutboxRow]:
        """The oldest pending row of every channel: only heads may be sent, to keep order."""
        sql = (
            "select * from outbox where id in (select min(id) from outbox where status = 'pending'"
            " group by channel_key) order by id"
        )
        rows = await self._call(lambda: list(self.db.query(sql)))
        return [_outbox(r) for r in rows]

    async def outbox_update(self, row_id: int, **changes: Any) -> None:
        for name in ("not_before", "sent_at"):
            if isinstance(changes.get(name), datetime):
                changes[name] = to_iso(changes[name])
        if "result" in changes or "args" in changes:
            changes = {
                k: json.dumps(v) if k in ("result", "args") else v
                for k, v in changes.items()
            }
        await self._call(lambda: self.db.table("outbox").update(row_id, changes))

    async def outbox_counts(self) -> dict[str, int]:
        sql = "select status, count(*) n from outbox group by status"
        return {
            r["status"]: r["n"]
            for r in await self._call(lambda: list(self.db.query(sql)))
        }

    async def outbox_rows(self, *, status: str | None = None) -> list[OutboxRow]:
        where, params = ("where status = ?", [status]) if status else ("", [])
        rows = await self._call(
            lambda: list(
                self.db.query(f"select * from outbox {where} order by id", params)
            )
        )
        return [_outbox(r) for r in rows]

    async def prune_journal(self, *, before: datetime) -> int:
        """Delete finished inbox and sent outbox rows older than `before`; never timeline rows."""

        def prune() -> int:
            cut = to_iso(before)
            a = self.db.execute(
                "delete from inbox where status != 'pending' and received_at < ?", [cut]
            ).rowcount
            b = self.db.execute(
                "delete from outbox where status = 'sent' and created_at < ?", [cut]
            ).rowcount
            return a + b

        return await self._call(prune)

    # -- lease ------------------------------------------------------------------------------
    async def take_lease(
        self, *, owner: str, now: datetime, stale_after_s: float
    ) -> str | None:
        """Take the run lease; return the current holder if another live process holds it."""

        def take() -> str | None:
            with self.db.atomic():
                row = self._one(
                    "select owner, heartbeat_at from leases where name = 'run'"
                )
                if row and row["owner"] != owner:
                    age = (now - from_iso(row["heartbeat_at"])).total_seconds()
                    if age < stale_after_s:
                        return str(row["owner"])
                self.db.table("leases").upsert(
                    {"name": "run", "owner": owner, "heartbeat_at": to_iso(now)},
                    pk="name",
                )
                return None

        return await self._call(take)

    async def release_lease(self, *, owner: str) -> None:
        await self._call(
            self.db.execute,
            "delete from leases where name = 'run' and owner = ?",
            [owner],
        )


def _incident_row(incident: Incident, only: Any = None) -> dict[str, Any]:
    data = incident.model_dump(include=set(only) if only is not None else None)
    for name in _INCIDENT_JSON:
        if name in data:
            data[name] = json.dumps(data[name])
    for name in _INCIDENT_TIMES:
        if isinstance(data.get(name), datetime):
            data[name] = to_iso(data[name])
    for name in ("private", "drill"):
        if name in data:
            data[name] = int(data[name])
    return data


def _incident(row: dict[str, Any]) -> Incident:
    data = dict(row)
    for name in _INCIDENT_JSON:
        data[name] = (
            json.loads(data[name])
            if data.get(name)
            else ({} if name == "roles" else [])
        )
    for name in _INCIDENT_TIMES:
        data[name] = from_iso(data[name]) if data.get(name) else None
    return Incident.model_validate({k: v for k, v in data.items() if v is not None})


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


def _outbox(row: dict[str, Any]) -> OutboxRow:
    data = {**row, "args": json.loads(row["args"])}
    data["not_before"] = from_iso(row["not_before"]) if row.get("not_before") else None
    return OutboxRow.model_validate(data)
