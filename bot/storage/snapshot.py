"""Read-only snapshots of the database, for verification, exports and statistics.

Owns a second SQLite connection, separate from the writer thread, that only reads (`query_only`)
inside one read transaction, so every query of an export sees the same state while the bot keeps
writing (WAL). Timeline rows are streamed in order exactly as stored (the hash chain is computed
over the stored values). It must never write, never create a database, and never hold a whole
timeline in memory.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

from bot.errors import NotFound
from bot.models.followups import FollowUp
from bot.models.incidents import TOLD, Incident, TimelineEntry, from_iso, to_iso
from bot.storage.followups import followup_of
from bot.storage.incidents import _incident
from bot.storage.timeline import _entry

_BATCH = 2000
TIMELINE_COLUMNS = (
    "id",
    "incident",
    "seq",
    "kind",
    "actor",
    "text",
    "data",
    "occurred_at",
    "recorded_at",
    "slack_ts",
    "permalink",
    "key_event",
    "corrects",
    "prev_hash",
    "hash",
)


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {col[0]: value for col, value in zip(cursor.description, row, strict=True)}


class Snapshot:
    """A consistent, read-only view of one database file; use as a context manager."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = None

    def __enter__(self) -> Snapshot:
        if not self.path.is_file():
            raise NotFound(f"No database at {self.path}.")
        uri = f"file:{quote(str(self.path.resolve()))}?mode=rw"
        conn = sqlite3.connect(
            uri, uri=True, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA query_only = 1")
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.row_factory = _dict_row
        conn.execute("BEGIN")
        self._conn = conn
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._conn is not None:
            self._conn.execute("ROLLBACK")
            self._conn.close()
            self._conn = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("snapshot is not open")
        return self._conn

    def _one(self, sql: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
        row: dict[str, Any] | None = self.conn.execute(sql, params).fetchone()
        return row

    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[dict[str, Any]]:
        cursor = self.conn.execute(sql, params)
        while batch := cursor.fetchmany(_BATCH):
            yield from batch

    def has_table(self, name: str) -> bool:
        sql = "select 1 from sqlite_master where type = 'table' and name = ?"
        return self._one(sql, [name]) is not None

    # -- incidents ------------------------------------------------------------------------
    def incident(self, number: int) -> Incident:
        row = self._one("select * from incidents where number = ?", [number])
        if row is None:
            raise NotFound(f"INC-{number} does not exist.")
        return _incident(row)

    def incidents(self, *, since: datetime | None = None) -> Iterator[Incident]:
        """Incidents declared at or after `since` (all when None), oldest first."""
        sql = "select * from incidents where declared_at >= ? order by number"
        for row in self._stream(sql, [to_iso(since) if since else ""]):
            yield _incident(row)

    # -- the timeline ---------------------------------------------------------------------
    def rows(
        self,
        number: int,
        *,
        kinds: Sequence[str] | None = None,
        prefixes: Sequence[str] = (),
        key_events: bool = False,
    ) -> Iterator[dict[str, Any]]:
        """Stream raw timeline rows (as stored, `data` still JSON text) in seq order.

        Args:
            kinds: only these kinds; prefixes: also kinds starting with one of these.
            key_events: only key events: rows marked as such, and notes and status updates
                (`TOLD`).
        """
        where: list[str] = ["incident = ?"]
        params: list[Any] = [number]
        choices: list[str] = []
        if kinds:
            choices.append(f"kind in ({','.join('?' * len(kinds))})")
            params += list(kinds)
        for prefix in prefixes:
            choices.append("kind like ? escape '\\'")
            params.append(prefix.replace("_", "\\_").replace("%", "\\%") + "%")
        if choices:
            where.append("(" + " or ".join(choices) + ")")
        if key_events:
            where.append(f"(key_event = 1 or kind in ({','.join('?' * len(TOLD))}))")
            params += list(TOLD)
        sql = f"select * from timeline where {' and '.join(where)} order by seq"
        return self._stream(sql, params)

    def timeline_values(self, number: int) -> Iterator[tuple[Any, ...]]:
        """Stream an incident's rows as tuples in `TIMELINE_COLUMNS` order (the fast path: no dicts)."""
        cursor = self.conn.cursor()
        cursor.row_factory = None
        cursor.execute(
            f"select {', '.join(TIMELINE_COLUMNS)} from timeline where incident = ? order by seq",
            [number],
        )
        while batch := cursor.fetchmany(_BATCH):
            yield from batch

    def entries(self, number: int, **filters: Any) -> Iterator[TimelineEntry]:
        """Like `rows`, parsed into `TimelineEntry` models."""
        for row in self.rows(number, **filters):
            yield _entry(row)

    def head(self, number: int) -> tuple[int, str | None]:
        """(number of rows, hash of the last row) of an incident's timeline."""
        row = self._one(
            "select count(*) n, (select hash from timeline where incident = ? order by seq desc"
            " limit 1) head from timeline where incident = ?",
            [number, number],
        )
        return (int(row["n"]), row["head"]) if row else (0, None)

    def recovered(self, number: int) -> tuple[int, datetime | None]:
        """How many channel messages were put on the timeline read back from Slack (marked
        `recovered`), and when the first of them was said."""
        row = self._one(
            "select count(*) n, min(occurred_at) first from timeline where incident = ?"
            " and kind = 'message' and json_extract(data, '$.recovered')",
            [number],
        )
        if not row or not row["n"]:
            return 0, None
        return int(row["n"]), from_iso(row["first"])

    def actors(self, number: int) -> list[dict[str, Any]]:
        """Everyone who appears on the timeline: entries, first and last time (SQL aggregates)."""
        sql = (
            "select actor, count(*) entries, min(occurred_at) first, max(occurred_at) last"
            " from timeline where incident = ? and actor is not null and actor != ''"
            " group by actor order by first, actor"
        )
        return list(self.conn.execute(sql, [number]))

    def people(self) -> dict[str, str]:
        """Known Slack user ids and their handles (none in a database older than the directory)."""
        if not self.has_table("people"):
            return {}
        return {
            r["user_id"]: r["name"]
            for r in self.conn.execute("select user_id, name from people")
        }

    def followups(self, number: int) -> list[FollowUp]:
        """An incident's follow-ups, oldest first (none before the follow-ups migration)."""
        if not self.has_table("followups"):
            return []
        sql = "select * from followups where incident = ? order by id"
        return [followup_of(r) for r in self.conn.execute(sql, [number])]

    # -- the runbook ledger (present once the runbook migration ran) ------------------------
    def step_runs(self, number: int) -> list[dict[str, Any]]:
        """An incident's step runs (raw rows, JSON columns parsed) with their `approvals` and scenario."""
        if not self.has_table("step_runs"):
            return []
        join = self.has_table("runbooks")
        sql = (
            "select r.*, b.scenario as runbook_scenario from step_runs r left join runbooks b"
            " on b.id = r.runbook where r.incident = ? order by r.created_at, r.id"
            if join
            else "select r.*, null as runbook_scenario from step_runs r where r.incident = ?"
            " order by r.created_at, r.id"
        )
        runs = list(self.conn.execute(sql, [number]))
        decisions: dict[int, list[dict[str, Any]]] = {}
        if runs and self.has_table("approvals"):
            for row in self.conn.execute(
                "select a.* from approvals a join step_runs r on r.id = a.step_run"
                " where r.incident = ? order by a.created_at, a.id",
                [number],
            ):
                decisions.setdefault(row["step_run"], []).append(row)
        for run in runs:
            for key in ("plan", "result", "error"):
                run[key] = json.loads(run[key]) if run.get(key) else {}
            run["approvals"] = decisions.get(run["id"], [])
        return runs
