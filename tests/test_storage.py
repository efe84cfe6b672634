"""Storage: an older database upgrades itself at start-up; the journal prunes, the timeline never."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta

from sqlite_utils import Database

from bot.migrations import migrations
from bot.models import Incident, NewEntry, OutboxMessage
from bot.storage import Storage

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


async def test_an_older_database_upgrades_itself_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.db"
    names = [m.name for m in migrations.pending(Database(memory=True))]
    assert len(names) >= 2, "this test needs at least two migrations"
    with closing(sqlite3.connect(path)) as conn:
        old = Database(conn)
        migrations.apply(old, stop_before=names[1])  # a database from the first release
        old.table("incidents").insert({"number": 1, "title": "old", "severity": "SEV2", "status": "resolved",
                                       "commander": "U1", "channel_name": "inc-1-old", "declared_by": "U1",
                                       "declared_at": "2025-01-01T00:00:00.000000Z", "source": "s"})  # fmt: skip
        conn.commit()
    storage = Storage(path)
    await storage.open()
    try:
        incident = await storage.get_incident(1)
        assert incident is not None
        assert incident.title == "old"
        applied = [m.name for m in migrations.applied(storage.db)]
        assert applied == names
    finally:
        await storage.close()


async def test_pruning_removes_old_journal_rows_and_never_the_timeline(tmp_path):
    storage = Storage(tmp_path / "w.db")
    await storage.open()
    try:
        draft = Incident(number=0, title="t", severity="SEV1", commander="U1", channel_name="c", declared_by="U1",
                         declared_at=NOW)  # fmt: skip
        await storage.create_incident(draft, source="x")
        await storage.append(
            1,
            [NewEntry(kind="note", text="kept forever")],
            now=NOW - timedelta(days=400),
        )
        inbox = await storage.inbox_put(
            key="k", kind="command", body="{}", now=NOW - timedelta(days=40)
        )
        assert inbox is not None
        await storage.inbox_finish(inbox, now=NOW - timedelta(days=40))
        await storage.inbox_put(key="recent", kind="command", body="{}", now=NOW)
        message = OutboxMessage(
            method="chat.postMessage", args={}, channel_key="C1", dedup_key="d"
        )
        await storage.outbox_add([message], now=NOW - timedelta(days=40))
        (row,) = await storage.outbox_rows()
        await storage.outbox_update(row.id, status="sent")
        assert await storage.prune_journal(before=NOW - timedelta(days=30)) == 2
        assert [e.text for e in await storage.timeline(1)] == ["kept forever"]
        assert [r["key"] for r in await storage.inbox_pending()] == ["recent"]
        assert await storage.outbox_rows() == []
    finally:
        await storage.close()
