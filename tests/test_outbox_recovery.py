"""A post or a channel Slack made just before the bot was killed is found after the restart, not made twice."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

from bot.sandbox import payloads
from bot.sandbox.signing import SlackSender
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace
from handlers.ids import Callback, Field
from tests.flows import eventually
from tests.plugins.slack import FAKE_SIGNING_SECRET
from tests.test_process import bot_env, free_port, warroom_process


async def rows(database, sql: str) -> list[tuple]:
    with closing(sqlite3.connect(database)) as db:
        return db.execute(sql).fetchall()


async def until(database, sql: str, expected) -> None:
    for _ in range(
        1200
    ):  # a stuck test fails after a minute; a busy machine is not stuck
        if await rows(database, sql) == expected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{sql} never gave {expected}: {await rows(database, sql)}")


async def declare_disk_full(slack: SlackSender, workspace: SlackWorkspace) -> None:
    """Send `/incident declare` and submit its form: "Disk full", SEV3."""
    await slack.command("declare Disk full")
    opened = await workspace.wait_for("views.open", lambda c: c.status == 200)
    values = {
        Field.TITLE: {"value": payloads.plain_text_value("Disk full")},
        Field.SEVERITY: {"value": payloads.static_select_value("SEV3")},
    }
    await slack.submit_view(
        callback_id=Callback.DECLARE,
        values=values,
        view_id=opened.response["view"]["id"],
    )


async def test_a_post_sent_before_a_kill_is_not_posted_again(
    tmp_path, slack_server: RunningWorkspace, slack_workspace: SlackWorkspace
):
    database, port = tmp_path / "w.db", free_port()
    env = bot_env(database, slack_server, port)
    url = f"http://127.0.0.1:{port}/slack/events"
    async with (
        warroom_process(env) as process,
        SlackSender(url, FAKE_SIGNING_SECRET, slack=slack_server) as slack,
    ):
        await declare_disk_full(slack, slack_workspace)
        # The declaration's work done: its channel made (so no pending outbox row is not yet
        # enqueued), then every post sent.
        await until(
            database,
            "select count(*) from incidents where channel_id is not null",
            [(1,)],
        )
        await until(
            database, "select count(*) from outbox where status = 'pending'", [(0,)]
        )
        (channel,) = (await rows(database, "select channel_id from incidents"))[0]
        # Slack posts at once, but its answer is late: the bot dies before it arrives.
        slack_workspace.delay("chat.postMessage", 30, after=True)
        await slack.command("note posted exactly once", channel_id=channel)
        await until(database, "select count(*) from outbox where in_flight = 1", [(1,)])
        await slack_workspace.wait_for(
            "chat.postMessage", lambda c: "posted exactly once" in str(c.args)
        )
        process.kill()  # kill -9 while the post is in flight
        await process.wait()
    slack_workspace.clear_faults()
    assert (
        len(
            [
                m
                for m in slack_workspace.messages(channel)
                if "posted exactly once" in m.text
            ]
        )
        == 1
    )
    async with warroom_process(env):
        await until(
            database, "select count(*) from outbox where status = 'pending'", [(0,)]
        )
    notes = [
        m for m in slack_workspace.messages(channel) if "posted exactly once" in m.text
    ]
    assert len(notes) == 1
    assert await rows(database, "select count(*) from outbox where in_flight = 1") == [
        (0,)
    ]


async def test_a_channel_created_before_a_kill_is_adopted_not_created_again(
    tmp_path, slack_server: RunningWorkspace, slack_workspace: SlackWorkspace
):
    database, port = tmp_path / "w.db", free_port()
    env = bot_env(database, slack_server, port)
    url = f"http://127.0.0.1:{port}/slack/events"
    async with (
        warroom_process(env) as process,
        SlackSender(url, FAKE_SIGNING_SECRET, slack=slack_server) as slack,
    ):
        # Slack creates the channel at once, but its answer is late: the bot dies before it arrives.
        slack_workspace.delay("conversations.create", 30, after=True)
        await declare_disk_full(slack, slack_workspace)
        await until(
            database,
            "select count(*) from outbox where in_flight = 1 and method = 'conversations.create'",
            [(1,)],
        )
        await slack_workspace.wait_for("conversations.create", lambda c: True)
        process.kill()  # kill -9 while the create is in flight
        await process.wait()
    slack_workspace.clear_faults()
    created = [
        c for c in slack_workspace.channels.values() if c.name.startswith("inc-1-")
    ]
    assert [c.name for c in created] == ["inc-1-disk-full"]

    async with warroom_process(env):
        await until(
            database, "select count(*) from outbox where status = 'pending'", [(0,)]
        )
    created = [
        c for c in slack_workspace.channels.values() if c.name.startswith("inc-1-")
    ]
    assert [c.name for c in created] == [
        "inc-1-disk-full"
    ]  # adopted, not inc-1-disk-full-2
    assert await rows(database, "select channel_id, channel_name from incidents") == [
        (created[0].id, "inc-1-disk-full")
    ]
    card = [m for m in slack_workspace.messages(created[0].id) if "INC-1" in m.text]
    assert card, "the incident card was posted in the adopted channel"


async def test_a_reply_sent_before_a_crash_is_not_sent_again_by_the_replay(
    bot_settings, start_bot, slack_workspace: SlackWorkspace
):
    """Killed after its reply went out and before the request was marked done: the replay at the
    next start runs the command again, and its reply is queued under the same key, so once."""
    async with start_bot(bot_settings) as bot:
        assert (await bot.sender.command("help")).status == 200
        await slack_workspace.wait_for("response_url")
        await eventually(lambda: _inbox_statuses(bot_settings.database_path, ["done"]))
    with closing(sqlite3.connect(bot_settings.database_path)) as db, db:
        db.execute("update inbox set status = 'pending', done_at = null")
    async with start_bot(bot_settings):
        await eventually(lambda: _inbox_statuses(bot_settings.database_path, ["done"]))
    replies = slack_workspace.calls_to("response_url")
    assert len(replies) == 1, [c.args for c in replies]


async def _inbox_statuses(path: Path, expected: list[str]) -> bool:
    with closing(sqlite3.connect(path)) as db:
        return [r[0] for r in db.execute("select status from inbox")] == expected
