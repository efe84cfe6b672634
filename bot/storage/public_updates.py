"""Storage section: public status updates (the status page's only source), each written with its
`public_update` timeline row in one transaction, and how far each incident is mirrored to
Atlassian Statuspage. The text is stored redacted as free text (secrets and access key ids: it is public)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.models.incidents import NewEntry, from_iso, to_iso
from bot.models.statuspage import PublicUpdate
from bot.redaction import redact_text
from bot.storage.timeline import TimelineStore


def _update(row: dict[str, Any]) -> PublicUpdate:
    return PublicUpdate.model_validate({**row, "at": from_iso(row["at"])})


class PublicUpdateStore(TimelineStore):
    async def public_update_add(
        self,
        *,
        incident: int,
        status: str,
        text: str,
        actor: str | None,
        source: str,
        now: datetime,
    ) -> bool:
        """Record a public update and its timeline row; False when `source` recorded it before."""

        def write() -> bool:
            if self._one("select 1 from public_updates where source = ?", [source]):
                return False
            shown = redact_text(text)  # public: identifiers (access key ids) go too
            self.db.execute(
                "insert into public_updates (incident, status, text, at, actor, source)"
                " values (?, ?, ?, ?, ?, ?)",
                [incident, status, shown, to_iso(now), actor, source],
            )
            entry = NewEntry(
                kind="public_update",
                actor=actor,
                text=f"Status page ({status}): {shown}",
                data={"status": status},
                source=f"{source}:public",
            )
            self._append_rows(incident, [entry], now)
            return True

        return await self._call_batched(write)

    async def public_updates(
        self, *, since: datetime | None = None
    ) -> list[PublicUpdate]:
        """Every public update (of incidents with one since `since`), oldest first."""
        sql = "select * from public_updates"
        params: list[Any] = []
        if since is not None:
            sql += (
                " where incident in (select incident from public_updates where at >= ?)"
            )
            params.append(to_iso(since))
        rows = await self._call(
            lambda: list(self.db.query(sql + " order by id", params))
        )
        return [_update(r) for r in rows]

    async def mirror_of(self, incident: int) -> tuple[str, int] | None:
        """(Statuspage incident id, last public update mirrored) of an incident, if mirrored."""
        row = await self._call(
            self._one, "select * from statuspage_mirror where incident = ?", [incident]
        )
        return (str(row["remote_id"]), int(row["last_update"])) if row else None

    async def mirror_set(
        self, incident: int, *, remote_id: str, last_update: int
    ) -> None:
        await self._call(
            self.db.execute,
            "insert into statuspage_mirror (incident, remote_id, last_update) values (?, ?, ?)"
            " on conflict (incident) do update set remote_id = excluded.remote_id,"
            " last_update = excluded.last_update",
            [incident, remote_id, last_update],
        )

    async def has_public_updates(self, incident: int) -> bool:
        row = await self._call(
            self._one,
            "select 1 from public_updates where incident = ? limit 1",
            [incident],
        )
        return row is not None
