"""Forged, stale and replayed requests, and Slack's retries: rejected or recognised, never run twice."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing

import pytest

from bot.sandbox import payloads
from bot.sandbox.signing import FORM, sign
from bot.sandbox.slack.workspace import SlackWorkspace
from tests.flows import command_in, declare, eventually
from tests.plugins.bot import RunningBot


def inbox_rows(bot: RunningBot) -> int:
    with closing(sqlite3.connect(bot.settings.database_path)) as db:
        return int(db.execute("select count(*) from inbox").fetchone()[0])


@pytest.mark.parametrize(
    "tamper",
    [
        "wrong-signature",
        "missing-headers",
        "stale-timestamp",
        "future-timestamp",
        "altered-body",
    ],
)
async def test_forged_or_stale_requests_get_401_and_record_nothing(
    bot: RunningBot, slack_workspace, tamper
):
    body = payloads.slash_command(
        text="declare forged",
        user_id="UALICE",
        user_name="alice",
        channel_id="C00000001",
        channel_name="incident-response",
        response_url="http://127.0.0.1:9/hook",
    )
    headers = {"Content-Type": FORM, **sign("test-signing-secret", body)}
    if tamper == "wrong-signature":
        headers = {"Content-Type": FORM, **sign("not-the-secret", body)}
    elif tamper == "missing-headers":
        headers = {"Content-Type": FORM}
    elif tamper == "stale-timestamp":
        headers = {
            "Content-Type": FORM,
            **sign("test-signing-secret", body, int(time.time()) - 301),
        }
    elif tamper == "future-timestamp":
        headers = {
            "Content-Type": FORM,
            **sign("test-signing-secret", body, int(time.time()) + 301),
        }
    elif tamper == "altered-body":
        body = body.replace("forged", "forgex")
    session = bot.sender._session
    assert session is not None
    async with session.post(bot.url, data=body.encode(), headers=headers) as response:
        assert response.status == 401
    assert inbox_rows(bot) == 0
    assert slack_workspace.calls_to("views.open") == []


async def test_exact_replay_of_a_signed_command_runs_once(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace)
    body = payloads.slash_command(
        text="note replayed once",
        user_id="UALICE",
        user_name="alice",
        channel_id=incident.channel_id,
        channel_name=incident.channel_name,
        response_url="http://127.0.0.1:9/hook",
    )
    timestamp = int(time.time())
    first = await bot.sender.send(body, content_type=FORM, timestamp=timestamp)
    second = await bot.sender.send(body, content_type=FORM, timestamp=timestamp)
    assert (first.status, second.status) == (200, 200)

    async def notes() -> list[str]:
        entries = await bot.services.storage.timeline(incident.number)
        return [e.text for e in entries if e.kind == "note"]

    assert await eventually(notes) == ["replayed once"]


async def test_event_retries_are_recorded_once(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace)
    event = slack_workspace.user_message(
        incident.channel_id, "UBOB", "db primary is at 100% disk"
    )
    for retry in (None, 1, 2):
        response = await bot.sender.event(event, retry_num=retry)
        assert response.status == 200

    async def messages() -> list[str]:
        entries = await bot.services.storage.timeline(incident.number)
        return [e.text for e in entries if e.kind == "message"]

    assert await eventually(messages) == ["db primary is at 100% disk"]
    with closing(sqlite3.connect(bot.settings.database_path)) as db:
        assert (
            db.execute(
                "select count(*) from inbox where kind = 'event_callback'"
            ).fetchone()[0]
            == 1
        )


async def test_note_containing_the_word_payload_is_not_dropped(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace)
    response = await command_in(bot, incident, "note payload service down")
    assert response.status == 200

    async def notes() -> list[str]:
        entries = await bot.services.storage.timeline(incident.number)
        return [e.text for e in entries if e.kind == "note"]

    assert await eventually(notes) == ["payload service down"]


async def test_acks_never_wait_for_slack(
    bot_settings, start_bot, slack_workspace: SlackWorkspace
):
    # every Web API call, auth.test included, now takes 10 s
    slack_workspace.delay("*", 10)
    async with start_bot(bot_settings) as bot:
        unknown = await bot.sender.command("explode")
        note = await bot.sender.command("note outside a channel")
        assert (unknown.status, note.status) == (200, 200)
        assert "Unknown subcommand" in unknown.text
        # Delayed calls are recorded when they complete: none had when both acks came back.
        assert slack_workspace.calls == []
        slack_workspace.clear_faults()
