"""Storage section: the run lease, which makes one process the writer of a database, and its fence.

The lease row names its holder: an instance id, and what tells whether that process still lives
(host, boot, pid and the pid's start time), so a restart that is given the same pid (PID 1 in a
container) sees the old holder dead and takes over at once, while a live holder keeps the lease
until its heartbeat is `stale_after_s` old.

Taking the lease installs the fence on this connection: a temporary trigger on every table that
aborts any insert, update or delete unless the lease row still names this instance, checked in the
same transaction as the write. A process that lost the lease (frozen past the lease time while
another took over) can therefore write nothing more: no journal row, no timeline entry, and not the
mark every outbound call is recorded with before it is sent. Its first refused write raises
`LeaseLost`, and `lease_lost` is set so the process stops at once. Calls that leave the process
without a write first ask `hold_lease` (a read).
"""

from __future__ import annotations

import os
import socket
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote
from uuid import uuid4

from bot.models.incidents import from_iso, to_iso
from bot.storage.base import FENCE, StorageBase


@dataclass(frozen=True)
class Holder:
    """Who holds the lease: `host:pid:boot:started:instance` in the lease row."""

    host: str
    pid: int
    boot: str
    started: str
    instance: str

    @classmethod
    def this_process(cls) -> Holder:
        pid = os.getpid()
        return cls(socket.gethostname(), pid, _boot(), _started(pid), uuid4().hex[:12])

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        host, pid, boot, started, instance = ([*text.split(":"), "", "", "", ""])[:5]
        if not pid.isdigit():
            return None
        return cls(host, int(pid), boot, started, instance)

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.boot}:{self.started}:{self.instance}"

    def dead(self) -> bool:
        """Whether this holder is provably gone: a process of this host (this boot) whose pid no
        longer exists or now belongs to a process started at another time. Another host: no."""
        if self.host != socket.gethostname():
            return False
        if self.boot and self.boot != _boot():
            return True  # the host rebooted since
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # a live process of another user
        return bool(self.started) and self.started != _started(self.pid)


def _boot() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
    except OSError:
        return ""


def _started(pid: int) -> str:
    """The start time of `pid` in clock ticks since boot (Linux); empty where it cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else ""


class LeaseStore(StorageBase):
    holder: Holder | None = None  # once this process took the lease

    async def take_lease(
        self, holder: Holder, *, now: datetime, stale_after_s: float
    ) -> str | None:
        """Take the run lease and fence this connection; return the holder's text instead when
        another process holds it and is alive with a heartbeat younger than `stale_after_s`."""

        def take() -> str | None:
            with self.db.atomic():
                row = self._one(
                    "select owner, heartbeat_at from leases where name = 'run'"
                )
                if row and row["owner"] != str(holder):
                    age = (now - from_iso(row["heartbeat_at"])).total_seconds()
                    other = Holder.parse(row["owner"])
                    if age < stale_after_s and not (other and other.dead()):
                        return str(row["owner"])
                self.db.table("leases").upsert(
                    {"name": "run", "owner": str(holder), "heartbeat_at": to_iso(now)},
                    pk="name",
                )
                self._fence(str(holder))
                self.holder = holder
                return None

        return await self._call(take)

    def _fence(self, owner: str) -> None:
        literal = owner.replace("'", "''")
        tables = [
            r["name"]
            for r in self.db.query(
                "select name from sqlite_master where type = 'table'"
                " and name not like 'sqlite_%' and name != 'leases'"
            )
        ]
        for table in tables:
            for op in ("insert", "update", "delete"):
                self.db.execute(f'drop trigger if exists temp."fence_{table}_{op}"')
                self.db.execute(
                    f'create temp trigger "fence_{table}_{op}" before {op} on main."{table}"'
                    f" when (select owner from main.leases where name = 'run') is not '{literal}'"
                    f" begin select raise(abort, '{FENCE}'); end"
                )

    async def renew_lease(self, *, now: datetime) -> None:
        """Move the heartbeat on; raise `LeaseLost` when the row no longer names this process."""

        def renew() -> int:
            return self.db.execute(
                "update leases set heartbeat_at = ? where name = 'run' and owner = ?",
                [to_iso(now), str(self.holder)],
            ).rowcount

        if await self._call(renew) != 1:
            raise self._lost()

    async def hold_lease(self) -> None:
        """Raise `LeaseLost` if this process took the lease and another holds it now: asked
        before a call that leaves the process without writing first (a page to PagerDuty)."""
        if self.holder is None:
            return  # no lease taken (tools and tests on a database of their own)
        row = await self._call(self._one, "select owner from leases where name = 'run'")
        if row is None or row["owner"] != str(self.holder):
            raise self._lost()

    async def release_lease(self) -> None:
        await self._call(
            self.db.execute,
            "delete from leases where name = 'run' and owner = ?",
            [str(self.holder)],
        )


def live_holder(database: Path, *, stale_after_s: float) -> str | None:
    """Who holds `database`'s run lease and is alive (heartbeat younger than `stale_after_s`, and
    not a process known dead); None when nobody does or there is no database. Reads only."""
    if not database.exists():
        return None
    uri = f"file:{quote(str(database.resolve()))}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as db:
        try:
            row = db.execute(
                "select owner, heartbeat_at from leases where name = 'run'"
            ).fetchone()
        except (
            sqlite3.DatabaseError
        ):  # no lease table, or not a database: nobody runs it
            return None
    if row is None:
        return None
    age = (datetime.now(UTC) - from_iso(row[1])).total_seconds()
    holder = Holder.parse(row[0])
    return None if age >= stale_after_s or (holder and holder.dead()) else str(row[0])
