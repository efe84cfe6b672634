"""Storage section: pages (a durable queue of PagerDuty requests and what came of them) and the ids
of PagerDuty webhook deliveries already handled.

A page row is written before PagerDuty is called, keyed by an idempotency `source`, so a crash or a
replay never pages twice and unfinished pages resume after a restart. Its text (the message people
typed, the target's name, the outcome) is stored with its secrets redacted (bot.redaction), so what
the worker sends PagerDuty is redacted too. Knows nothing of PagerDuty's API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.models.incidents import from_iso, to_iso
from bot.redaction import redact_secrets
from bot.storage.base import StorageBase

_TIMES = ("created_at", "done_at")
_TEXT = ("target_name", "message", "result", "error")


def _redacted(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: redact_secrets(v) if k in _TEXT and isinstance(v, str) else v
        for k, v in values.items()
    }


class PageRow(BaseModel):
    """One request to the pager: `trigger` on declare, `page` more people, `resolve` at the end."""

    model_config = ConfigDict(extra="ignore")

    id: int
    incident: int
    kind: str
    target_kind: str | None = None
    target_id: str | None = None
    target_name: str | None = None
    message: str = ""
    requested_by: str | None = None
    source: str
    status: str = "pending"
    attempts: int = 0
    pd_incident_id: str | None = None
    dedup_key: str | None = None
    html_url: str | None = None
    result: str | None = None
    error: str | None = None
    created_at: datetime
    done_at: datetime | None = None


def _page(row: dict[str, Any]) -> PageRow:
    data = {k: v for k, v in row.items() if v is not None}
    for name in _TIMES:
        if name in data:
            data[name] = from_iso(data[name])
    return PageRow.model_validate(data)


class PagingStore(StorageBase):
    async def page_add(
        self,
        *,
        incident: int,
        kind: str,
        source: str,
        now: datetime,
        target_kind: str | None = None,
        target_id: str | None = None,
        target_name: str | None = None,
        message: str = "",
        requested_by: str | None = None,
    ) -> PageRow:
        """Queue a page; a second call with the same source returns the first row unchanged."""
        text = _redacted({"target_name": target_name, "message": message})

        def add() -> PageRow:
            with self.db.atomic():
                self.db.execute(
                    "insert into pages (incident, kind, target_kind, target_id, target_name, message,"
                    " requested_by, source, status, attempts, created_at)"
                    " values (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?) on conflict(source) do nothing",
                    [
                        incident,
                        kind,
                        target_kind,
                        target_id,
                        text["target_name"],
                        text["message"],
                        requested_by,
                        source,
                        to_iso(now),
                    ],
                )
                row = self._one("select * from pages where source = ?", [source])
            return _page(row or {})

        return await self._call(add)

    async def pages_pending(self) -> list[PageRow]:
        rows = await self._call(
            lambda: list(
                self.db.query(
                    "select * from pages where status = 'pending' order by id"
                )
            )
        )
        return [_page(r) for r in rows]

    async def pages_of(self, incident: int) -> list[PageRow]:
        rows = await self._call(
            lambda: list(
                self.db.query(
                    "select * from pages where incident = ? order by id", [incident]
                )
            )
        )
        return [_page(r) for r in rows]

    async def page_finish(self, page_id: int, *, now: datetime, **changes: Any) -> None:
        """Record the outcome of a page (status, pd_incident_id, result or error)."""
        changes = {**_redacted(changes), "done_at": to_iso(now)}
        sql = "update pages set attempts = attempts + 1, " + ", ".join(
            f"{name} = ?" for name in changes
        )
        await self._call(
            self.db.execute, sql + " where id = ?", [*changes.values(), page_id]
        )

    async def pd_incidents(self, *, resolved_since: datetime) -> dict[str, int]:
        """PagerDuty incident id -> incident number, for open incidents and those resolved since then."""
        sql = (
            "select distinct p.pd_incident_id, p.incident from pages p join incidents i"
            " on i.number = p.incident where p.pd_incident_id is not null and p.status = 'done'"
            " and p.kind != 'resolve' and (i.status != 'resolved' or i.resolved_at >= ?)"
        )
        rows = await self._call(
            lambda: list(self.db.query(sql, [to_iso(resolved_since)]))
        )
        return {str(r["pd_incident_id"]): int(r["incident"]) for r in rows}

    async def incident_of_pd(self, pd_incident_id: str) -> int | None:
        row = await self._call(
            self._one,
            "select incident from pages where pd_incident_id = ? order by id limit 1",
            [pd_incident_id],
        )
        return int(row["incident"]) if row else None

    async def webhook_seen(self, delivery_id: str, *, now: datetime) -> bool:
        """Remember a webhook delivery id; True when it was already handled (a redelivery)."""

        def put() -> bool:
            cursor = self.db.execute(
                "insert into webhook_deliveries (id, received_at) values (?, ?)"
                " on conflict(id) do nothing",
                [delivery_id, to_iso(now)],
            )
            return cursor.rowcount != 1

        return await self._call(put)
