"""Storage section: subscriptions, the people an incident's status updates and resolution are sent
to by direct message."""

from __future__ import annotations

from datetime import datetime

from bot.models.incidents import to_iso
from bot.storage.base import StorageBase


class SubscriptionStore(StorageBase):
    async def subscribe(
        self, *, incident: int, user_id: str, added_by: str, now: datetime
    ) -> bool:
        """Add a subscriber; False when they were one already."""
        sql = (
            "insert into subscriptions (incident, user_id, added_by, created_at)"
            " values (?, ?, ?, ?) on conflict(incident, user_id) do nothing"
        )
        params = [incident, user_id, added_by, to_iso(now)]
        return bool((await self._call_batched(self.db.execute, sql, params)).rowcount)

    async def unsubscribe(self, *, incident: int, user_id: str) -> bool:
        """Remove a subscriber; False when they were none."""
        sql = "delete from subscriptions where incident = ? and user_id = ?"
        cursor = await self._call_batched(self.db.execute, sql, [incident, user_id])
        return bool(cursor.rowcount)

    async def subscribers(self, incident: int) -> list[str]:
        sql = "select user_id from subscriptions where incident = ? order by created_at, user_id"
        rows = await self._call(lambda: list(self.db.query(sql, [incident])))
        return [r["user_id"] for r in rows]
