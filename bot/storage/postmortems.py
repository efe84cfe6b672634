"""Storage section: the post-mortem drafts that were built, and where they went.

One row per draft (idempotent per `source`, so a retried `/incident postmortem` or a replayed
resolve builds one draft): the file it was written to, its size and SHA-256, the timeline head it
covers, and the Slack file it was uploaded as. The document itself is a file (see
`Settings.postmortem_dir`), never a database value, so a big draft never passes through memory.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.models.incidents import from_iso, to_iso
from bot.storage.base import StorageBase


class PostmortemRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int
    incident: int
    format: str
    path: Path
    size: int
    sha256: str
    head_hash: str | None = None
    rows: int
    chain_ok: bool
    generated_at: datetime
    trigger: str
    requested_by: str | None = None
    slack_file_id: str | None = None
    uploaded_at: datetime | None = None
    error: str | None = None

    @property
    def filename(self) -> str:
        return self.path.name


def _record(row: dict[str, Any]) -> PostmortemRecord:
    data = {k: v for k, v in row.items() if v is not None}
    data["generated_at"] = from_iso(row["generated_at"])
    if row.get("uploaded_at"):
        data["uploaded_at"] = from_iso(row["uploaded_at"])
    data["chain_ok"] = bool(row["chain_ok"])
    return PostmortemRecord.model_validate(data)


class PostmortemStore(StorageBase):
    async def postmortem_by_source(self, source: str) -> PostmortemRecord | None:
        row = await self._call(
            self._one, "select * from postmortems where source = ?", [source]
        )
        return _record(row) if row else None

    async def add_postmortem(
        self,
        *,
        incident: int,
        format: str,
        path: Path,
        size: int,
        sha256: str,
        head_hash: str | None,
        rows: int,
        chain_ok: bool,
        generated_at: datetime,
        trigger: str,
        requested_by: str | None,
        source: str,
    ) -> PostmortemRecord:
        """Record a built draft once per source; a second call returns the first record."""
        values = {
            "incident": incident,
            "format": format,
            "path": str(path),
            "size": size,
            "sha256": sha256,
            "head_hash": head_hash,
            "rows": rows,
            "chain_ok": int(chain_ok),
            "generated_at": to_iso(generated_at),
            "trigger": trigger,
            "requested_by": requested_by,
            "source": source,
        }

        def add() -> PostmortemRecord:
            with self.db.atomic():
                existing = self._one(
                    "select * from postmortems where source = ?", [source]
                )
                if existing is None:
                    self.db.table("postmortems").insert(values)
                    existing = self._one(
                        "select * from postmortems where source = ?", [source]
                    )
                return _record(existing or {})

        return await self._call(add)

    async def postmortem_uploaded(
        self, record: int, *, file_id: str, now: datetime
    ) -> None:
        changes = {"slack_file_id": file_id, "uploaded_at": to_iso(now), "error": None}
        await self._call(lambda: self.db.table("postmortems").update(record, changes))

    async def postmortem_failed(self, record: int, *, error: str) -> None:
        await self._call(
            lambda: self.db.table("postmortems").update(record, {"error": error})
        )

    async def postmortems_of(self, incident: int) -> list[PostmortemRecord]:
        sql = "select * from postmortems where incident = ? order by id"
        rows = await self._call(lambda: list(self.db.query(sql, [incident])))
        return [_record(r) for r in rows]

    async def resolved_without_draft(self, *, since: datetime) -> list[int]:
        """Incidents resolved since `since` whose automatic draft was never uploaded (a restart cut it)."""
        sql = (
            "select number from incidents i where status = 'resolved' and resolved_at >= ?"
            " and channel_id is not null and not exists (select 1 from postmortems p where"
            " p.incident = i.number and p.trigger = 'resolve' and p.slack_file_id is not null)"
            " order by number"
        )
        rows = await self._call(lambda: list(self.db.query(sql, [to_iso(since)])))
        return [int(r["number"]) for r in rows]
