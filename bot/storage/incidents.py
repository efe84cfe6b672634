"""Storage section: incidents (created once per source, read, updated)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.models.incidents import Incident, from_iso, to_iso
from bot.redaction import redact_secrets
from bot.storage.base import StorageBase

_INCIDENT_JSON = ("components", "roles")
# What people type: stored with its secrets redacted (bot.redaction), identifiers kept.
_INCIDENT_TEXT = ("title", "description", "summary")
_INCIDENT_TIMES = (
    "declared_at",
    "impact_started_at",
    "acknowledged_at",
    "mitigated_at",
    "resolved_at",
)


class IncidentStore(StorageBase):
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
    for name in _INCIDENT_TEXT:
        if isinstance(data.get(name), str):
            data[name] = redact_secrets(data[name])
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
