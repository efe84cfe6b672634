"""The connection and the single writer thread that every storage section runs on.

Owns opening the SQLite file and closing it. Opening refuses a damaged file, or one a newer warroom
wrote, before anything is written to it (`DatabaseUnusable`); then WAL, `synchronous = FULL`, the
busy timeout and the migrations. `_call` runs a function on the one worker thread so writes are
serialised and the event loop never blocks on disk; `_call_batched` does the same for small hot
writes, committing all that queued up meanwhile at once. Either way a caller learns that its write
succeeded only after the COMMIT holding it did, and a write the lease's fence refused (`lease.py`)
raises `LeaseLost` and sets `lease_lost`.
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

from bot import __version__
from bot.errors import DatabaseUnusable, LeaseLost
from bot.migrations import migrations, unknown

T = TypeVar("T")
_Queued = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]"]
_Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]
# A write the file refused (a full disk, an I/O error, a lock held too long): it may succeed later,
# so a request it interrupts stays pending for the replay instead of being ended failed.
WriteFailed = sqlite3.OperationalError
# The message of the fence's triggers (bot/storage/lease.py): this process no longer holds the lease.
FENCE = "warroom: lease lost"


class StorageBase:
    """The database handle and its worker thread; the sections in this package add typed methods."""

    # What an acknowledgement waits on (Slack's 200, an approval, a step's outcome) must survive a
    # power loss; in WAL mode NORMAL may lose the last commits then (issue 13). The cost is measured
    # by `python -m bench ingest --synchronous NORMAL FULL` (README, Benchmarks).
    SYNCHRONOUS = "FULL"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="warroom-db"
        )
        self._db: Database | None = None
        self._queued: list[_Queued] = []
        self._queue_lock = threading.Lock()
        self.lease_lost = (
            asyncio.Event()
        )  # set at the first write or check the lease refused

    async def open(self) -> None:
        """Open the database; raise `DatabaseUnusable`, having written nothing, if it is damaged
        or a newer warroom wrote it."""
        await self._call(self._open)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            db = Database(conn)
            _refuse_unusable(db, self.path)  # before the first write
            db.enable_wal()
            conn.execute(f"PRAGMA synchronous = {self.SYNCHRONOUS}")
            migrations.apply(db)
        except BaseException:
            conn.close()
            raise
        self._db = db

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
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, fn, *args
            )
        except sqlite3.IntegrityError as exc:
            raise self._fenced(exc) from None

    def _fenced(self, exc: sqlite3.IntegrityError) -> Exception:
        """`LeaseLost` for a write the fence refused (and `lease_lost` set); else `exc` itself."""
        return self._lost() if FENCE in str(exc) else exc

    def _lost(self) -> LeaseLost:
        self.lease_lost.set()
        return LeaseLost(
            "Another warroom holds this database now; this process may not write to it."
        )

    async def _call_batched(self, fn: Callable[..., T], *args: Any) -> T:
        """Like `_call`, but `fn` runs inside one transaction with every batched call queued while
        the writer was busy: one commit for many small writes, each still committed before it
        returns. `fn` must not open a transaction itself. If a call or the COMMIT fails, the batch
        is rolled back and each of its calls re-run in its own transaction, so a failure fails
        only the callers whose writes it lost.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._queue_lock:
            self._queued.append((fn, args, future))
            first = len(self._queued) == 1
        if first:
            loop.run_in_executor(self._executor, self._run_queued, loop)
        try:
            return await future
        except sqlite3.IntegrityError as exc:
            raise self._fenced(exc) from None

    def _run_queued(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._queue_lock:
            batch, self._queued = self._queued, []
        outcomes: list[_Outcome]
        try:
            with self.db.atomic():
                values = [fn(*args) for fn, args, _ in batch]
        # a call failed, or the COMMIT did (a full disk, an I/O error)
        except Exception:
            outcomes = [(future, *self._alone(fn, args)) for fn, args, future in batch]
        else:  # committed: only now may a caller learn that its write is stored
            outcomes = [
                (future, value, None)
                for (_, _, future), value in zip(batch, values, strict=True)
            ]
        loop.call_soon_threadsafe(_settle, outcomes)

    def _alone(
        self, fn: Callable[..., Any], args: tuple[Any, ...]
    ) -> tuple[Any, BaseException | None]:
        """Run one queued call in its own transaction: its value once that COMMIT succeeded, or
        the error of the call or of its COMMIT (issue 13: a full disk acknowledged and lost)."""
        try:
            with self.db.atomic():
                value = fn(*args)
        except Exception as exc:  # handed to the caller that queued it
            return None, exc
        return value, None

    def _one(
        self, sql: str, params: list[Any] | tuple[Any, ...] = ()
    ) -> dict[str, Any] | None:
        return next(iter(self.db.query(sql, params)), None)


def _refuse_unusable(db: Database, path: Path) -> None:
    """Raise `DatabaseUnusable` for a damaged file or one a newer warroom wrote; reads only."""
    problems = quick_check(db.conn)
    newer = [] if problems else unknown(db)
    if problems:
        more = f", and {len(problems) - 1} more" if len(problems) > 1 else ""
        raise DatabaseUnusable(
            f"The database {path} is damaged (SQLite's quick_check: {problems[0]}{more})."
            " warroom has not written to it. Restore the file from your last backup while"
            " warroom is stopped, then start it again."
        )
    if newer:
        raise DatabaseUnusable(
            f"The database {path} was written by a newer warroom: it has the migration(s)"
            f" {', '.join(newer)}, which warroom {__version__} does not know. warroom has not"
            " written to it. Upgrade warroom to the version that wrote it, or restore the"
            " backup taken before that upgrade."
        )


def quick_check(conn: sqlite3.Connection) -> list[str]:
    """SQLite's quick_check of the file behind `conn`: its problems, none when the file is sound."""
    try:
        found = [str(r[0]) for r in conn.execute("PRAGMA quick_check").fetchall()]
    # not a database, or too damaged to be read at all
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    return [] if found == ["ok"] else found


def _settle(outcomes: list[_Outcome]) -> None:
    for future, value, error in outcomes:
        if future.done():  # the caller was cancelled; its write stands
            continue
        if error is None:
            future.set_result(value)
        else:
            future.set_exception(error)
