"""Storage section: the people directory, Slack user ids and the handles last seen with them."""

from __future__ import annotations

from datetime import datetime

from bot.models.incidents import to_iso
from bot.storage.base import StorageBase


class PeopleStore(StorageBase):
    async def person_seen(self, *, user_id: str, name: str, now: datetime) -> None:
        """Remember (or update) the handle of `user_id`."""
        sql = (
            "insert into people (user_id, name, seen_at) values (?, ?, ?)"
            " on conflict(user_id) do update set name = excluded.name, seen_at = excluded.seen_at"
        )
        await self._call_batched(self.db.execute, sql, [user_id, name, to_iso(now)])

    async def unnamed_actors(self, incident: int, *, limit: int = 50) -> list[str]:
        """Slack user ids on an incident's timeline that have no handle in the directory yet."""
        sql = (
            "select distinct actor from timeline where incident = ? and actor glob '[UW][A-Z0-9]*'"
            " and actor not in (select user_id from people) limit ?"
        )
        rows = await self._call(lambda: list(self.db.query(sql, [incident, limit])))
        return [r["actor"] for r in rows]
