"""Storage section: the inbox and outbox journal and its pruning.

An inbox row is `pending` until its listener ends it `done` or `failed`, or `ignored` when no
listener takes the request; only pending rows are replayed at start-up.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.models.incidents import OutboxMessage, OutboxRow, from_iso, to_iso
from bot.storage.base import StorageBase


class JournalStore(StorageBase):
    # -- inbox ------------------------------------------------------------------------------
    async def inbox_put(
        self, *, key: str, kind: str, body: str, now: datetime
    ) -> int | None:
        """Journal an inbound request; None when the key was seen before (a retry or replay)."""

        return await self._call(self._journal, key, kind, body, now, False)

    def _journal(
        self, key: str, kind: str, body: str, now: datetime, done: bool
    ) -> int | None:
        """Insert an inbox row, pending or already done; None when the key is already there."""
        status, done_at = ("done", to_iso(now)) if done else ("pending", None)
        cursor = self.db.execute(
            "insert into inbox (key, kind, body, received_at, status, attempts, done_at) values (?, ?, ?, ?, ?, ?, ?)"
            " on conflict(key) do nothing",
            [key, kind, body, to_iso(now), status, int(done), done_at],
        )
        return cursor.lastrowid if cursor.rowcount == 1 else None

    async def inbox_finish(
        self, inbox_id: int, *, now: datetime, error: str | None = None
    ) -> None:
        status = "failed" if error else "done"
        sql = "update inbox set status = ?, error = ?, done_at = ?, attempts = attempts + 1 where id = ?"
        await self._call(self.db.execute, sql, [status, error, to_iso(now), inbox_id])

    async def inbox_ignore(self, inbox_id: int, *, now: datetime) -> None:
        """Mark a pending request that no listener handles as ignored: finished, never replayed."""
        sql = "update inbox set status = 'ignored', done_at = ? where id = ? and status = 'pending'"
        await self._call(self.db.execute, sql, [to_iso(now), inbox_id])

    async def inbox_pending(self) -> list[dict[str, Any]]:
        return await self._call(
            lambda: list(
                self.db.query(
                    "select * from inbox where status = 'pending' order by id"
                )
            )
        )

    # -- outbox -----------------------------------------------------------------------------
    async def outbox_add(self, messages: list[OutboxMessage], *, now: datetime) -> int:
        """Queue Slack calls; a message whose dedup_key is already queued is skipped."""

        def add() -> int:
            added = 0
            with self.db.atomic():
                for m in messages:
                    cursor = self.db.execute(
                        "insert into outbox (channel_key, method, args, dedup_key, incident, purpose, status, attempts,"
                        " created_at) values (?, ?, ?, ?, ?, ?, 'pending', 0, ?) on conflict(dedup_key) do nothing",
                        [
                            m.channel_key,
                            m.method,
                            json.dumps(m.args),
                            m.dedup_key,
                            m.incident,
                            m.purpose,
                            to_iso(now),
                        ],
                    )
                    added += cursor.rowcount
            return added

        return await self._call(add)

    async def outbox_heads(self) -> list[OutboxRow]:
        """The oldest pending row of every channel: only heads may be sent, to keep order."""
        sql = (
            "select * from outbox where id in (select min(id) from outbox where status = 'pending'"
            " group by channel_key) order by id"
        )
        rows = await self._call(lambda: list(self.db.query(sql)))
        return [_outbox(r) for r in rows]

    async def outbox_update(self, row_id: int, **changes: Any) -> None:
        for name in ("not_before", "sent_at"):
            if isinstance(changes.get(name), datetime):
                changes[name] = to_iso(changes[name])
        if "result" in changes or "args" in changes:
            changes = {
                k: json.dumps(v) if k in ("result", "args") else v
                for k, v in changes.items()
            }
        await self._call(lambda: self.db.table("outbox").update(row_id, changes))

    async def outbox_superseded(self, row: OutboxRow) -> bool:
        """Whether a later call of the same method waits in the row's lane (an update of the same
        card: only the newest need be sent)."""
        sql = (
            "select 1 from outbox where channel_key = ? and status = 'pending' and id > ?"
            " and method = ? limit 1"
        )
        params = [row.channel_key, row.id, row.method]
        return bool(await self._call(lambda: list(self.db.query(sql, params))))

    async def outbox_sent_ts(self, dedup_key: str) -> str | None:
        """The ts Slack gave the message queued under `dedup_key`, once it was sent (None before,
        or after the journal's retention pruned the row)."""
        sql = "select result from outbox where dedup_key = ? and status = 'sent'"
        rows = await self._call(lambda: list(self.db.query(sql, [dedup_key])))
        result = json.loads(rows[0]["result"] or "{}") if rows else {}
        ts = result.get("ts")
        return str(ts) if ts else None

    async def outbox_counts(self) -> dict[str, int]:
        sql = "select status, count(*) n from outbox group by status"
        return {
            r["status"]: r["n"]
            for r in await self._call(lambda: list(self.db.query(sql)))
        }

    async def outbox_rows(self, *, status: str | None = None) -> list[OutboxRow]:
        where, params = ("where status = ?", [status]) if status else ("", [])
        rows = await self._call(
            lambda: list(
                self.db.query(f"select * from outbox {where} order by id", params)
            )
        )
        return [_outbox(r) for r in rows]

    async def prune_journal(self, *, before: datetime) -> int:
        """Delete finished inbox and sent outbox rows older than `before`; never timeline rows."""

        def prune() -> int:
            cut = to_iso(before)
            a = self.db.execute(
                "delete from inbox where status != 'pending' and received_at < ?", [cut]
            ).rowcount
            b = self.db.execute(
                "delete from outbox where status = 'sent' and created_at < ?", [cut]
            ).rowcount
            return a + b

        return await self._call(prune)


def _outbox(row: dict[str, Any]) -> OutboxRow:
    data = {**row, "args": json.loads(row["args"])}
    for name in ("not_before", "created_at"):
        data[name] = from_iso(row[name]) if row.get(name) else None
    return OutboxRow.model_validate(data)
