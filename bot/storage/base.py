"""The connection and the single writer thread that every storage section runs on.

Owns opening (WAL, busy timeout, migrations) and closing the SQLite file, and `_call`, which runs a
function on the one worker thread so writes are serialised and the event loop never blocks on disk.
`_call_batched` does the same for small hot writes, committing all that queued up meanwhile at once.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

from bot.migrations import migrations

T = TypeVar("T")
_Queued = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]"]


class StorageBase:
    """The database handle and its worker thread; the sections in this package add typed methods."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="warroom-db"
        )
        self._db: Database | None = None
        self._queued: list[_Queued] = []
        self._queue_lock = threading.Lock()

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

    async def _call_batched(self, fn: Callable[..., T], *args: Any) -> T:
        """Like `_call`, but `fn` runs inside one transaction with every batched call queued while
        the writer was busy: one commit for many small writes, each still committed before it
        returns. `fn` must not open a transaction itself. If a call raises, its batch is rolled back
        and each of its calls re-run in its own transaction, so one failure fails only its caller.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._queue_lock:
            self._queued.append((fn, args, future))
            first = len(self._queued) == 1
        if first:
            loop.run_in_executor(self._executor, self._run_queued, loop)
        return await future

    def _run_queued(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._queue_lock:
            batch, self._queued = self._queued, []
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]
        try:
            with self.db.atomic():
                outcomes = [(future, fn(*args), None) for fn, args, future in batch]
        except Exception:
            outcomes = []
            for fn, args, future in batch:
                try:
                    with self.db.atomic():
                        outcomes.append((future, fn(*args), None))
                except Exception as exc:  # handed to the caller that queued it
                    outcomes.append((future, None, exc))
        loop.call_soon_threadsafe(_settle, outcomes)

    def _one(
        self, sql: str, params: list[Any] | tuple[Any, ...] = ()
    ) -> dict[str, Any] | None:
        return next(iter(self.db.query(sql, params)), None)

    async def ping(self) -> bool:
        """True when the database answers a write (readiness)."""
        return await self._call(
            lambda: self.db.execute("PRAGMA user_version = 0") is not None
        )


def _settle(
    outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]],
) -> None:
    for future, value, error in outcomes:
        if future.done():  # the caller was cancelled; its write stands
            continue
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)
