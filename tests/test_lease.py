"""The run lease: one writer per database, taken over at once from a crashed holder (even one whose
pid was reused), and a fence that stops a frozen holder the moment it wakes after a takeover."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager, closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.errors import LeaseLost
from bot.models.incidents import NewEntry
from bot.sandbox.signing import SentResponse, SlackSender
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace
from bot.storage import Holder, Storage
from handlers.ids import Callback
from tests.drafts import incident_draft
from tests.flows import declare_values, eventually
from tests.plugins.slack import FAKE_SIGNING_SECRET
from tests.test_process import bot_env, free_port, warroom_process

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


async def test_lease_a_live_holder_keeps_it_until_its_heartbeat_is_stale(tmp_path):
    first, second = Storage(tmp_path / "w.db"), Storage(tmp_path / "w.db")
    await first.open()
    await second.open()
    try:
        me = Holder.this_process()  # alive: this very process
        assert await first.take_lease(me, now=NOW, stale_after_s=30) is None
        other = replace(me, instance="another")
        later = NOW + timedelta(seconds=29)
        assert await second.take_lease(other, now=later, stale_after_s=30) == str(me)
        stale = NOW + timedelta(seconds=31)
        assert await second.take_lease(other, now=stale, stale_after_s=30) is None
    finally:
        await first.close()
        await second.close()


async def test_lease_a_reused_pid_is_taken_over_at_once(tmp_path):
    """PID 1 in a container: the restarted bot has the crashed one's pid, not its start time."""
    storage = Storage(tmp_path / "w.db")
    await storage.open()
    try:
        me = Holder.this_process()
        crashed = replace(me, started=str(int(me.started or "0") + 1), instance="old")
        with closing(sqlite3.connect(tmp_path / "w.db")) as db, db:
            db.execute(
                "insert into leases (name, owner, heartbeat_at) values ('run', ?, ?)",
                [str(crashed), NOW.isoformat()],
            )
        assert me.started, "this test needs /proc (Linux)"
        assert await storage.take_lease(me, now=NOW, stale_after_s=30) is None
    finally:
        await storage.close()


async def test_lease_a_holder_that_lost_it_can_write_nothing_more(tmp_path):
    old, new = Storage(tmp_path / "w.db"), Storage(tmp_path / "w.db")
    await old.open()
    await new.open()
    try:
        frozen = Holder.this_process()
        assert await old.take_lease(frozen, now=NOW, stale_after_s=30) is None
        number = (await old.create_incident(incident_draft("inc-1"), source="a")).number
        # `frozen` stopped beating; after the lease time another process takes over
        taker = replace(frozen, instance="taker")
        after = NOW + timedelta(seconds=31)
        assert await new.take_lease(taker, now=after, stale_after_s=30) is None

        with pytest.raises(LeaseLost):
            await old.append(number, [NewEntry(kind="note", text="late")], now=after)
        assert old.lease_lost.is_set()
        with pytest.raises(LeaseLost):
            await old.renew_lease(now=after)
        with pytest.raises(LeaseLost):
            await old.hold_lease()
        # the holder writes on
        await new.append(number, [NewEntry(kind="note", text="on time")], now=after)
        texts = [e.text for e in await new.timeline(number)]
        assert "on time" in texts
        assert "late" not in texts
    finally:
        await old.close()
        await new.close()


async def test_lease_split_brain_a_frozen_bot_that_wakes_after_a_takeover_serves_nothing(
    tmp_path, slack_server: RunningWorkspace, slack_workspace: SlackWorkspace
):
    database = tmp_path / "w.db"
    env_a = {
        **bot_env(database, slack_server, free_port()),
        "WARROOM_LEASE_SECONDS": "2",
    }
    env_b = {
        **bot_env(database, slack_server, free_port()),
        "WARROOM_LEASE_SECONDS": "2",
    }
    url = "http://127.0.0.1:{}/slack/events"
    async with (
        warroom_process(env_a) as first,
        SlackSender(
            url.format(env_a["WARROOM_HTTP_PORT"]),
            FAKE_SIGNING_SECRET,
            slack=slack_server,
        ) as to_first,
    ):
        await to_first.command("declare Checkout down")
        opened = await slack_workspace.wait_for("views.open", lambda c: c.status == 200)
        assert opened.response is not None
        await to_first.submit_view(
            callback_id=Callback.DECLARE,
            values=declare_values("Checkout down"),
            view_id=opened.response["view"]["id"],
        )
        pinned = await slack_workspace.wait_for("pins.add", lambda c: True)
        channel = pinned.args["channel"]
        # Frozen once the declaration's work is done: a process stopped inside a write keeps
        # SQLite's lock, and no other process can write (take the lease) until it runs again.
        await eventually(lambda: _idle(database))
        first.send_signal(signal.SIGSTOP)  # frozen past the lease time

        async with (
            _taken_over(env_b) as second,
            SlackSender(
                url.format(env_b["WARROOM_HTTP_PORT"]),
                FAKE_SIGNING_SECRET,
                slack=slack_server,
            ) as to_second,
        ):
            served = await to_second.command("note served by B", channel_id=channel)
            assert served.status == 200
            await slack_workspace.wait_for(
                "chat.postMessage", lambda c: "served by B" in str(c.args)
            )
            first.send_signal(signal.SIGCONT)
            answers = await asyncio.gather(
                *(
                    _status(to_first.command(f"note late {n}", channel_id=channel))
                    for n in range(5)
                )
            )
            output, _ = await asyncio.wait_for(first.communicate(), timeout=30)
            assert first.returncode == 3, output.decode()
            assert "another warroom took over" in output.decode()
            assert 200 not in answers  # Slack retries what was not acknowledged
            assert second.returncode is None
    assert not [c for c in slack_workspace.calls if "note late" in str(c.args)]
    with closing(sqlite3.connect(database)) as db:
        stored = db.execute("select count(*) from inbox where body like '%note late%'")
        assert stored.fetchone() == (0,)
        notes = db.execute(
            "select count(*) from timeline where text like '%served by B%'"
        )
        assert notes.fetchone() == (1,)


async def _status(request: Awaitable[SentResponse]) -> int:
    try:
        return (await request).status
    except Exception:  # the process exited under the request: not acknowledged either
        return 0


async def _idle(database: Path) -> bool:
    """No request or Slack call left to work in `database` (read without taking any lock)."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        pending = db.execute(
            "select (select count(*) from inbox where status = 'pending')"
            " + (select count(*) from outbox where status = 'pending')"
        ).fetchone()[0]
    return pending == 0


@asynccontextmanager
async def _taken_over(env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    """Start a second bot on the same database, again while the frozen one's lease is fresh."""
    for _ in range(60):
        async with warroom_process(env) as process:
            if process.returncode is None:
                yield process
                return
        await asyncio.sleep(0.5)
    raise AssertionError("the second bot never took the lease over")


async def test_a_database_locked_by_a_stopped_writer_is_refused_with_a_clear_reason(
    tmp_path, slack_server: RunningWorkspace
):
    database = tmp_path / "w.db"
    env = bot_env(database, slack_server, free_port())
    async with warroom_process(env) as first:  # create the file, then stop cleanly
        assert first.returncode is None
        first.send_signal(signal.SIGTERM)
        await asyncio.wait_for(first.wait(), timeout=60)
    with closing(sqlite3.connect(database, isolation_level=None)) as holder:
        holder.execute("begin immediate")  # a writer stopped inside its transaction
        async with warroom_process(env) as second:
            output, _ = await asyncio.wait_for(second.communicate(), timeout=60)
        holder.execute("rollback")
    text = output.decode()
    assert second.returncode == 2, text
    assert "is locked by another process" in text
    assert "Traceback" not in text
