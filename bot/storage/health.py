"""Storage section: read-only figures for `/metrics` and `/readyz` (journal depth, lag, step states),
the readiness probe, which writes nothing, and the periodic check of the file while it runs."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from datetime import datetime

from bot.models.incidents import from_iso
from bot.storage.base import StorageBase, quick_check


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

    async def integrity_problems(self) -> list[str]:
        """SQLite's quick_check of the file as it is on disk, on a read-only connection of its
        own beside the writer (WAL lets it read while the writer works): none when sound."""

        def check() -> list[str]:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            try:
                conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            except sqlite3.Error as exc:
                return [str(exc)]
            with closing(conn):
                return quick_check(conn)

        return await asyncio.to_thread(check)
