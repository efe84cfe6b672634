"""Storage section: read-only figures for `/metrics` and `/readyz` (journal depth, lag, step states)
and the readiness probe, which writes nothing."""

from __future__ import annotations

from datetime import datetime

from bot.models.incidents import from_iso
from bot.storage.base import StorageBase


class HealthStore(StorageBase):
    async def inbox_oldest_pending(self) -> datetime | None:
        """When the oldest journaled request that is not finished arrived."""
        row = await self._call(
            self._one,
            "select min(received_at) oldest from inbox where status = 'pending'",
        )
        return from_iso(row["oldest"]) if row and row["oldest"] else None

    async def outbox_by_channel(self) -> dict[str, dict[str, int]]:
        """Pending and dead Slack calls per channel."""
        sql = "select channel_key, status, count(*) n from outbox where status in ('pending', 'dead') group by 1, 2"
        rows = await self._call(lambda: list(self.db.query(sql)))
        result: dict[str, dict[str, int]] = {}
        for row in rows:
            result.setdefault(row["status"], {})[row["channel_key"]] = row["n"]
        return result

    async def step_run_states(self) -> dict[str, int]:
        sql = "select state, count(*) n from step_runs group by state"
        return {
            r["state"]: r["n"]
            for r in await self._call(lambda: list(self.db.query(sql)))
        }

    async def ping(self) -> bool:
        """True when the database would take a write now (readiness). Writes nothing: it takes
        the write lock, as a write would, and lets it go (issue 13: it used to write every probe)."""

        def probe() -> bool:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("ROLLBACK")
            return True

        return await self._call(probe)
