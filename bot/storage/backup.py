"""Storage section: online backups of the database, the checks a copy must pass, and restoring one.

Owns the copy (SQLite's online backup API, read from a read-only connection a few pages at a time,
so the live database is never written and its writer waits at most for one step), the checks every
copy passes before it is kept and again before it is restored (`integrity_check`, and every
incident's hash chain verifies), its manifest (time, size and SHA-256 of the compressed file, the
migrations it has, each incident's chain head), gzip, and putting a restored file in place (a
temporary file, without the backed-up process's run lease, renamed over the target, never over a
database whose run lease is live). Where the
copies are kept (a directory, S3) is `bot/gateways/backups.py`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import sqlite3
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from sqlite_utils import Database

from bot.errors import DatabaseUnusable
from bot.migrations import migrations as known_migrations
from bot.models.incidents import from_iso, to_iso
from bot.storage.base import quick_check
from bot.storage.chain import verify_incident
from bot.storage.lease import live_holder
from bot.storage.snapshot import Snapshot

PAGES_PER_STEP = 256  # the writer waits at most for this many pages to be copied


@dataclass(frozen=True)
class Manifest:
    """What a backup is: kept next to it as `<name>.json`."""

    name: str  # `warroom-<UTC time>`: names sort as the backups were taken
    taken_at: datetime
    size: int  # of the compressed file
    sha256: str  # of the compressed file
    migrations: list[str]
    heads: dict[str, dict[str, object]]  # incident number -> {"rows": n, "hash": head}

    @property
    def file(self) -> str:
        return f"{self.name}.db.gz"

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "taken_at": to_iso(self.taken_at)}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        return cls(**{**data, "taken_at": from_iso(data["taken_at"])})


def take(database: Path, work: Path, *, now: datetime) -> tuple[Path, Manifest]:
    """Copy the live `database` into `work`, check the copy, compress it; the file and its manifest.
    Raises `DatabaseUnusable` when the copy fails its checks (nothing is kept then)."""
    if not database.exists():
        raise DatabaseUnusable(f"There is no database at {database} to back up.")
    copy = work / "copy.db"
    source = f"file:{quote(str(database.resolve()))}?mode=ro"
    with (
        closing(sqlite3.connect(source, uri=True)) as live,
        closing(sqlite3.connect(copy)) as into,
    ):
        live.backup(into, pages=PAGES_PER_STEP)
        into.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
    heads, migrations = check(copy)
    name = f"warroom-{now:%Y%m%dT%H%M%S%fZ}"
    packed = work / f"{name}.db.gz"
    with open(copy, "rb") as raw, gzip.open(packed, "wb", compresslevel=6) as out:
        shutil.copyfileobj(raw, out, 1 << 20)
    return packed, Manifest(
        name=name,
        taken_at=now,
        size=packed.stat().st_size,
        sha256=sha256_of(packed),
        migrations=migrations,
        heads=heads,
    )


def check(copy: Path) -> tuple[dict[str, dict[str, object]], list[str]]:
    """A copy's incidents' chain heads and its migrations; `DatabaseUnusable` when it is damaged
    or a chain does not verify."""
    with closing(sqlite3.connect(f"file:{quote(str(copy))}?mode=ro", uri=True)) as db:
        problems = quick_check(db)
        if not problems:
            found = db.execute("PRAGMA integrity_check").fetchall()
            problems = [] if found == [("ok",)] else [str(r[0]) for r in found]
        if problems:
            raise DatabaseUnusable(f"integrity_check: {problems[0]}")
        migrations = [m.name for m in known_migrations.applied(Database(db))]
    heads: dict[str, dict[str, object]] = {}
    with Snapshot(copy) as snap:
        numbers = [i.number for i in snap.incidents()]
    for number in numbers:
        report = verify_incident(copy, number)
        if not report.ok:
            raise DatabaseUnusable(report.describe())
        heads[str(number)] = {"rows": report.rows, "hash": report.head_hash}
    return heads, migrations


def unpack(packed: Path, manifest: Manifest, into: Path) -> None:
    """Decompress a fetched backup into `into` after checking it is the file its manifest names,
    then check the database in it; `DatabaseUnusable` otherwise."""
    if sha256_of(packed) != manifest.sha256:
        raise DatabaseUnusable("its SHA-256 is not the one its manifest records")
    try:
        with gzip.open(packed, "rb") as raw, open(into, "wb") as out:
            shutil.copyfileobj(raw, out, 1 << 20)
    except (OSError, EOFError) as exc:
        raise DatabaseUnusable(f"it does not decompress: {exc}") from None
    heads, _ = check(into)
    if heads != manifest.heads:
        raise DatabaseUnusable("its incidents' chain heads are not the manifest's")


def put_in_place(restored: Path, target: Path, *, lease_seconds: float) -> None:
    """Rename `restored` over `target` (same directory), unless a live warroom holds `target`."""
    holder = live_holder(target, stale_after_s=lease_seconds)
    if holder is not None:
        raise DatabaseUnusable(
            f"{target} is in use by a running warroom ({holder}); stop it before restoring."
        )
    # The copy carries the lease of the process that ran the backed-up database: that process does
    # not run this file, so it must not keep a new warroom waiting for its heartbeat to go stale.
    with closing(sqlite3.connect(restored)) as db, db:
        db.execute("delete from leases")
    with open(restored, "rb") as f:
        os.fsync(f.fileno())
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    os.replace(restored, target)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
