"""Storage: an older database upgrades itself at start-up; the journal prunes, the timeline never;
batched writes share a commit without sharing a failure, and answer only once their commit succeeded."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from contextlib import closing
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from bot.migrations import migrations
from bot.models.incidents import NewEntry, OutboxMessage
from bot.models.runbooks import StepRun, StepState
from bot.storage import Storage
from tests.drafts import incident_draft
from tests.test_durability import files_cannot_grow_past

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


async def test_an_older_database_upgrades_itself_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.db"
    names = [m.name for m in migrations.pending(Database(memory=True))]
    assert len(names) >= 2, "this test needs at least two migrations"
    with closing(sqlite3.connect(path)) as conn:
        old = Database(conn)
        migrations.apply(old, stop_before=names[1])  # a database from the first release
        old.table("incidents").insert(
            {
                "number": 1,
                "title": "old",
                "severity": "SEV2",
                "status": "resolved",
                "commander": "U1",
                "channel_name": "inc-1-old",
                "declared_by": "U1",
                "declared_at": "2025-01-01T00:00:00.000000Z",
                "source": "s",
            }
        )
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
        draft = incident_draft()
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


async def test_batched_writes_share_one_commit_and_a_failure_fails_only_its_caller(
    tmp_path,
):
    storage = Storage(tmp_path / "batch.db")
    await storage.open()
    statements: list[str] = []
    writer_busy, release = threading.Event(), threading.Event()

    def hold_the_writer() -> None:
        storage.db.conn.set_trace_callback(statements.append)
        writer_busy.set()
        release.wait(10)

    def journal(key: str) -> int | None:
        return storage._journal(key, "event_callback", "{}", NOW, True)

    def journal_then_fail(key: str) -> None:
        journal(key)
        raise ValueError("disk says no")

    async def batch(*calls: tuple[Any, str]) -> list[Any]:
        held = asyncio.ensure_future(storage._call(hold_the_writer))
        await asyncio.to_thread(writer_busy.wait, 10)
        queued = [
            asyncio.ensure_future(storage._call_batched(fn, key)) for fn, key in calls
        ]
        await asyncio.sleep(0)  # every call is queued behind the busy writer
        release.set()
        await held
        return await asyncio.gather(*queued, return_exceptions=True)

    try:
        results = await batch((journal, "k1"), (journal, "k2"), (journal, "k1"))
        assert results[:2] == [1, 2]
        assert results[2] is None  # the same key twice in one batch: journaled once
        assert [s for s in statements if s.upper() in ("BEGIN", "COMMIT")] == [
            "BEGIN",
            "COMMIT",
        ]

        statements.clear()
        writer_busy.clear()
        release.clear()
        results = await batch(
            (journal, "k3"), (journal_then_fail, "k4"), (journal, "k5")
        )
        assert isinstance(results[1], ValueError)
        assert results[0] is not None
        assert results[2] is not None
        keys = [r["key"] for r in storage.db.query("select key from inbox order by id")]
        assert keys == [
            "k1",
            "k2",
            "k3",
            "k5",
        ]  # k4 rolled back, its neighbours re-run and kept
    finally:
        await storage.close()


async def test_batched_writes_answer_only_after_their_commit__the_wal_cannot_grow(
    tmp_path,
):
    """Issue 13: when the COMMIT fails (a full disk), no caller may have been told it succeeded."""
    path = tmp_path / "full.db"
    storage = Storage(path)
    await storage.open()
    writer_busy, release = threading.Event(), threading.Event()

    def hold_the_writer() -> None:
        writer_busy.set()
        release.wait(10)

    def journal(key: str) -> int | None:
        return storage._journal(key, "event_callback", "x" * 1500, NOW, True)

    results: list[Any] = []
    try:
        # the WAL starts empty, and the file it is may not grow past 256 kB
        await storage._call(storage.db.execute, "PRAGMA wal_checkpoint(TRUNCATE)")
        with files_cannot_grow_past(256 * 1024):
            for batch in range(8):  # batches of 30 queued behind a busy writer
                writer_busy.clear()
                release.clear()
                held = asyncio.ensure_future(storage._call(hold_the_writer))
                await asyncio.to_thread(writer_busy.wait, 10)
                queued = [
                    asyncio.ensure_future(
                        storage._call_batched(journal, f"k{batch}-{n}")
                    )
                    for n in range(30)
                ]
                await asyncio.sleep(0)
                release.set()
                await held
                results += await asyncio.gather(*queued, return_exceptions=True)
    finally:
        await storage.close()
    keys = [f"k{batch}-{n}" for batch in range(8) for n in range(30)]
    answered = {k for k, r in zip(keys, results, strict=True) if isinstance(r, int)}
    failed = {k for k, r in zip(keys, results, strict=True) if isinstance(r, Exception)}
    with closing(sqlite3.connect(path)) as db:
        stored = {key for (key,) in db.execute("select key from inbox")}
    assert answered <= stored, f"{len(answered - stored)} answered writes were lost"
    assert not failed & stored, "a write reported failed was stored"
    assert answered, "nothing fitted"
    assert failed, "the WAL never filled"


async def test_a_step_run_is_claimed_only_while_its_switch_is_on(tmp_path):
    """The kill switch is read in the statement that claims a run, not before it."""
    storage = Storage(tmp_path / "switch.db")
    await storage.open()
    try:
        incident = incident_draft()
        number = (await storage.create_incident(incident, source="x")).number
        runbook, _ = await storage.create_runbook(
            incident=number,
            scenario="s",
            created_by="U1",
            dry_run=False,
            now=NOW,
            source="x",
        )

        async def insert(attempt: int) -> StepRun | None:
            return await storage.insert_step_run(
                runbook=runbook.id,
                incident=number,
                step="a",
                attempt=attempt,
                state=StepState.APPROVED,
                now=NOW,
                source=f"x{attempt}",
                while_on="aws",
            )

        approved = await insert(1)
        assert approved is not None
        await storage.set_switch("aws", "off", user="U1", now=NOW)
        assert await insert(2) is None
        claim = {
            "from_states": {StepState.APPROVED},
            "to": StepState.EXECUTING,
            "now": NOW,
        }
        assert await storage.transition(approved.id, **claim, while_on="aws") is None
        assert (await storage.step_run(approved.id)).state is StepState.APPROVED
        await storage.set_switch("aws", "on", user="U1", now=NOW)
        claimed = await storage.transition(approved.id, **claim, while_on="aws")
        assert claimed is not None
        assert claimed.state is StepState.EXECUTING
        assert await insert(2) is not None
    finally:
        await storage.close()
