"""Storage section: alerts, one row per alert at its source, with its repeats and whether it cleared.
What the source says (title, service) is stored with its secrets redacted (bot.redaction)."""

from __future__ import annotations

from typing import Any

from bot.models.alerts import Alert, AlertEvent, AlertState
from bot.models.incidents import from_iso, to_iso
from bot.redaction import redact_secrets
from bot.storage.base import StorageBase


class AlertStore(StorageBase):
    async def alert_fired(self, event: AlertEvent) -> tuple[Alert, bool]:
        """Record a firing: a new alert (True), or a repeat grouped on the existing one (False;
        one that had cleared fires again)."""

        def write() -> tuple[dict[str, Any], bool]:
            found = list(
                self.db.query(
                    "select * from alerts where source = ? and source_key = ?",
                    [event.source, event.key],
                )
            )
            if found:
                # A repeat fires a cleared alert again; a dismissed one stays dismissed.
                self.db.execute(
                    "update alerts set repeats = repeats + 1, last_at = ?, cleared_at = null,"
                    " state = case when state = ? then state else ? end where id = ?",
                    [
                        to_iso(event.at),
                        AlertState.DISMISSED.value,
                        AlertState.FIRING.value,
                        found[0]["id"],
                    ],
                )
            else:
                self.db.execute(
                    "insert into alerts (source, source_key, title, service, url, state,"
                    " first_at, last_at, repeats) values (?, ?, ?, ?, ?, ?, ?, ?, 1)",
                    [
                        event.source,
                        event.key,
                        redact_secrets(event.title),
                        redact_secrets(event.service),
                        event.url,
                        AlertState.FIRING.value,
                        to_iso(event.at),
                        to_iso(event.at),
                    ],
                )
            row = next(
                self.db.query(
                    "select * from alerts where source = ? and source_key = ?",
                    [event.source, event.key],
                )
            )
            return row, not found

        row, new = await self._call_batched(write)
        return _alert(row), new

    async def alert_cleared(self, event: AlertEvent) -> Alert | None:
        """Mark a firing alert cleared; None when there is none firing under that key."""

        def write() -> dict[str, Any] | None:
            self.db.execute(
                "update alerts set state = ?, cleared_at = ? where source = ?"
                " and source_key = ? and state = ?",
                [
                    AlertState.CLEARED.value,
                    to_iso(event.at),
                    event.source,
                    event.key,
                    AlertState.FIRING.value,
                ],
            )
            if not self.db.execute("select changes()").fetchone()[0]:
                return None
            return next(
                self.db.query(
                    "select * from alerts where source = ? and source_key = ?",
                    [event.source, event.key],
                )
            )

        row = await self._call_batched(write)
        return None if row is None else _alert(row)

    async def alert(self, alert_id: int) -> Alert | None:
        rows = await self._call(
            lambda: list(self.db.query("select * from alerts where id = ?", [alert_id]))
        )
        return _alert(rows[0]) if rows else None

    async def alert_link(self, alert_id: int, incident: int) -> Alert | None:
        """Tie an alert to the incident declared from it; None if it is tied to one already."""

        def write() -> dict[str, Any] | None:
            self.db.execute(
                "update alerts set incident = ? where id = ? and incident is null",
                [incident, alert_id],
            )
            if not self.db.execute("select changes()").fetchone()[0]:
                return None
            return next(self.db.query("select * from alerts where id = ?", [alert_id]))

        row = await self._call_batched(write)
        return None if row is None else _alert(row)

    async def alert_dismiss(
        self, alert_id: int, *, by: str, reason: str
    ) -> Alert | None:
        """Dismiss an alert no incident was declared from; None if it was dismissed or declared."""

        def write() -> dict[str, Any] | None:
            self.db.execute(
                "update alerts set state = ?, dismissed_by = ?, dismissed_reason = ?"
                " where id = ? and incident is null and state != ?",
                [
                    AlertState.DISMISSED.value,
                    by,
                    redact_secrets(reason),
                    alert_id,
                    AlertState.DISMISSED.value,
                ],
            )
            if not self.db.execute("select changes()").fetchone()[0]:
                return None
            return next(self.db.query("select * from alerts where id = ?", [alert_id]))

        row = await self._call_batched(write)
        return None if row is None else _alert(row)

    async def alerted_pagerduty_incidents(self, incident: int) -> list[str]:
        """The PagerDuty incidents whose alerts an incident was declared from."""
        sql = (
            "select source_key from alerts where incident = ? and source = 'pagerduty'"
            " order by id"
        )
        rows = await self._call(lambda: list(self.db.query(sql, [incident])))
        return [r["source_key"] for r in rows]

    async def alerts(self) -> list[Alert]:
        rows = await self._call(
            lambda: list(self.db.query("select * from alerts order by id"))
        )
        return [_alert(r) for r in rows]


def _alert(row: dict[str, Any]) -> Alert:
    return Alert(
        **{
            **row,
            "first_at": from_iso(row["first_at"]),
            "last_at": from_iso(row["last_at"]),
            "cleared_at": from_iso(row["cleared_at"]) if row["cleared_at"] else None,
            "service": row["service"] or "",
            "url": row["url"] or "",
        }
    )
