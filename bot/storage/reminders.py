"""Storage section: reminders, the scheduler's rows (status-update reminders, approval escalations,
daily checks).

Reminders are rows, not in-memory jobs: a restart finds them again. `reminders_due(now)` returns what
is due, and the scheduler moves `due_at` forward from the time it fired, so a reminder that fell due
during downtime fires once. Knows nothing of what a reminder does.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.models.incidents import from_iso, to_iso
from bot.storage.base import StorageBase


class Reminder(BaseModel):
    """One scheduled thing: `kind` names its handler, `key` makes it unique (e.g. `update:3`)."""

    model_config = ConfigDict(extra="ignore")

    id: int
    key: str
    kind: str
    incident: int | None = None
    due_at: datetime
    stage: int = 0
    data: dict[str, Any] = Field(default_factory=dict)
    status: str = "active"
    fired: int = 0
    last_fired_at: datetime | None = None
    created_at: datetime


def _reminder(row: dict[str, Any]) -> Reminder:
    data = {k: v for k, v in row.items() if v is not None}
    data["data"] = json.loads(data.get("data") or "{}")
    for name in ("due_at", "last_fired_at", "created_at"):
        if name in data:
            data[name] = from_iso(data[name])
    return Reminder.model_validate(data)


class ReminderStore(StorageBase):
    async def reminder_set(
        self,
        *,
        key: str,
        kind: str,
        due_at: datetime,
        now: datetime,
        incident: int | None = None,
        data: dict[str, Any] | None = None,
        stage: int = 0,
        only_if_new: bool = False,
    ) -> Reminder:
        """Create or reschedule (and reactivate) the reminder `key`; with `only_if_new`, keep an existing one."""

        def put() -> Reminder:
            with self.db.atomic():
                existing = self._one("select * from reminders where key = ?", [key])
                if existing is None:
                    self.db.execute(
                        "insert into reminders (key, kind, incident, due_at, stage, data, status, fired,"
                        " created_at) values (?, ?, ?, ?, ?, ?, 'active', 0, ?)",
                        [
                            key,
                            kind,
                            incident,
                            to_iso(due_at),
                            stage,
                            json.dumps(data or {}, default=str),
                            to_iso(now),
                        ],
                    )
                elif not only_if_new:
                    merged = {**json.loads(existing["data"] or "{}"), **(data or {})}
                    self.db.execute(
                        "update reminders set due_at = ?, stage = ?, data = ?, status = 'active'"
                        " where key = ?",
                        [to_iso(due_at), stage, json.dumps(merged, default=str), key],
                    )
                row = self._one("select * from reminders where key = ?", [key])
            return _reminder(row or {})

        return await self._call(put)

    async def reminders_due(self, now: datetime, *, limit: int = 100) -> list[Reminder]:
        sql = (
            "select * from reminders where status = 'active' and due_at <= ?"
            " order by due_at, id limit ?"
        )
        rows = await self._call(lambda: list(self.db.query(sql, [to_iso(now), limit])))
        return [_reminder(r) for r in rows]

    async def reminder_fired(
        self, reminder_id: int, *, now: datetime, due_at: datetime | None, stage: int
    ) -> None:
        """Record a firing: move to `due_at` (None ends the reminder) at `stage`."""
        if due_at is None:
            sql = "update reminders set status = 'done', fired = fired + 1, last_fired_at = ?, stage = ? where id = ?"
            params: list[Any] = [to_iso(now), stage, reminder_id]
        else:
            sql = "update reminders set due_at = ?, fired = fired + 1, last_fired_at = ?, stage = ? where id = ?"
            params = [to_iso(due_at), to_iso(now), stage, reminder_id]
        await self._call(self.db.execute, sql, params)

    async def reminder_get(self, key: str) -> Reminder | None:
        row = await self._call(
            self._one, "select * from reminders where key = ?", [key]
        )
        return _reminder(row) if row else None

    async def reminders_cancel(
        self, *, incident: int | None = None, key: str | None = None
    ) -> int:
        """Stop active reminders of an incident, or the one with `key`; return how many stopped."""
        params: list[Any] = [key] if key is not None else [incident]
        where = "key = ?" if key is not None else "incident = ?"
        sql = f"update reminders set status = 'cancelled' where status = 'active' and {where}"
        cursor = await self._call(self.db.execute, sql, params)
        return int(cursor.rowcount)

    async def reminders_active(self, *, incident: int | None = None) -> list[Reminder]:
        sql, params = "select * from reminders where status = 'active'", []
        if incident is not None:
            sql, params = sql + " and incident = ?", [incident]
        rows = await self._call(
            lambda: list(self.db.query(sql + " order by due_at", params))
        )
        return [_reminder(r) for r in rows]
