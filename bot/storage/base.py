"""The connection and the single writer thread that every storage section runs on.

Owns opening (WAL, busy timeout, migrations) and closing the SQLite file, and `_call`, which runs a
function on the one worker thread so writes are serialised and the event loop never blocks on disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

from bot.migrations import migrations

T = TypeVar("T")


class StorageBase:
    """The database handle and its worker thread; the sections in this package add typed methods."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="warroom-db"
        )
        self._db: Database | None = None

    async def open(self) -> None:
        await self._call(self._open)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 5000")
        self._db = Database(conn)
        self._db.enable_wal()
        conn.execute("PRAGMA synchronous = NORMAL")
        migrations.apply(self._db)

    async def close(self) -> None:
        if self._db is not None:
            await self._call(self._db.close)
            self._db = None
        self._executor.shutdown(wait=True)

    @property
    def db(self) -> Database:
        if self._db is None:
            raise RuntimeError("storage is not open")
        return self._db

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, fn, *args
        )

    def _one(
        self, sql: str, params: list[Any] | tuple[Any, ...] = ()
    ) -> dict[str, Any] | None:
        return next(iter(self.db.query(sql, params)), None)

    async def ping(self) -> bool:
        """True when the database answers a write (readiness)."""
        return await self._call(
            lambda: self.db.execute("PRAGMA user_version = 0") is not None
        )
