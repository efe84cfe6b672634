"""End to end: declare, work and resolve an incident through signed HTTP requests to the real bot.

Assertions are on what the local Slack workspace received and on what SQLite holds.
"""

from __future__ import annotations

import re
import sqlite3
from contextlib import closing
from zoneinfo import ZoneInfo

import pytest

from bot.config import load_settings
from bot.errors import ConfigError
from bot.models.incidents import Status
from bot.sandbox import payloads
from bot.sandbox.slack.state import INCIDENT_RESPONSE_CHANNEL_ID
from bot.sandbox.slack.workspace import SlackWorkspace
from bot.storage import GENESIS, row_hash
from handlers.ids import Callback, Field
from tests.flows import command_in, declare, eventually, open_view, parsed_by_slack
from tests.plugins.bot import RunningBot, make_settings, run_bot


async def test_declare_creates_channel_announces_and_pins_card(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(
        bot, slack_workspace, title="Database connection errors <!channel>"
    )

    assert incident.key == "INC-1"
    channel = slack_workspace.channels[incident.channel_id]
    assert channel.name == "inc-1-database-connection-errors-channel"
    assert re.fullmatch(r"[a-z0-9_-]{1,80}", channel.name)
    assert "UALICE" in channel.members
    assert incident.commander == "UALICE"

    announcement = [
        m.text for m in slack_workspace.messages(INCIDENT_RESPONSE_CHANNEL_ID)
    ]
    alert = next(t for t in announcement if "INCIDENT ALERT" in t)
    assert "Status: Investigating" in alert
    assert "Impact: High" in alert
    assert "&lt;!channel&gt;" in alert
    assert "<!channel>" not in alert
    assert "Incident Commander: <@UALICE>" in alert
    # Nowhere, not in the topic, the card's fallback text or any block, does the title mention anyone.
    assert not [t for t in parsed_by_slack(slack_workspace) if "<!channel>" in t]

    async def alerted() -> bool:  # after the card and its pin
        said = slack_workspace.messages(incident.channel_id or "")
        return any("INCIDENT ALERT" in m.text for m in said)

    await eventually(alerted)
    in_channel = slack_workspace.messages(incident.channel_id)
    card = next(m for m in in_channel if m.ts == incident.card_ts)
    assert card.blocks[0]["text"]["text"].startswith("INC-1:")
    assert (
        slack_workspace.calls_to("pins.add")[-1].args["timestamp"] == incident.card_ts
    )

    entries = await bot.services.storage.timeline(incident.number)
    assert [e.kind for e in entries] == ["declared", "role"]
    assert entries[0].prev_hash == GENESIS
    assert entries[1].prev_hash == entries[0].hash


async def test_subcommands_change_the_incident_and_are_journaled(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace)

    await command_in(bot, incident, "note payload service down since 10:02")
    await command_in(bot, incident, "status identified")
    await command_in(bot, incident, "assign scribe <@UBOB|bob>")
    await command_in(bot, incident, "severity SEV2")

    async def kinds() -> list[str] | None:
        entries = await bot.services.storage.timeline(incident.number)
        found = [e.kind for e in entries]
        return found if found.count("severity") else None

    kinds_seen = await eventually(kinds)
    assert kinds_seen == ["declared", "role", "note", "status", "role", "severity"]
    entries = await bot.services.storage.timeline(incident.number)
    assert entries[2].text == "payload service down since 10:02"
    assert entries[4].data == {"role": "scribe", "user": "UBOB"}

    stored = await bot.services.storage.get_incident(incident.number)
    assert stored is not None
    assert stored.status is Status.IDENTIFIED
    assert stored.severity == "SEV2"
    assert stored.roles["scribe"] == "UBOB"
    await slack_workspace.wait_for(
        "conversations.invite", lambda c: c.args.get("users") == "UBOB"
    )
    assert "UBOB" in slack_workspace.channels[incident.channel_id].members
    await slack_workspace.wait_for(
        "chat.update", lambda c: "SEV2" in str(c.args.get("blocks"))
    )

    # Read the real file: every row's hash covers its content and links to the row before it.
    with closing(sqlite3.connect(bot.settings.database_path)) as db:
        db.row_factory = sqlite3.Row
        rows = [
            dict(r)
            for r in db.execute(
                "select * from timeline where incident = ? order by seq", [1]
            )
        ]
    previous = GENESIS
    for row in rows:
        assert row["prev_hash"] == previous
        assert row_hash(row) == row["hash"]
        previous = row["hash"]


async def test_resolve_posts_resolution_notification_with_duration(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace)
    view_id = await open_view(
        bot, slack_workspace, "resolve", channel_id=incident.channel_id
    )
    view = slack_workspace.views[view_id]
    response = await bot.sender.submit_view(
        callback_id=Callback.RESOLVE,
        view_id=view_id,
        private_metadata=view.payload["private_metadata"],
        values={
            Field.SUMMARY: {
                "value": payloads.plain_text_value("Failed over to the replica")
            },
            Field.ROOT_CAUSE: {
                "value": payloads.plain_text_value("Disk full on primary")
            },
        },
    )
    assert response.status == 200
    assert response.text == ""

    resolved = await slack_workspace.wait_for(
        "chat.postMessage",
        lambda c: (
            "INCIDENT RESOLVED" in str(c.args.get("text"))
            and c.args["channel"] == "incident-response"
        ),
    )
    assert "Duration: less than a minute (" in resolved.args["text"]
    assert "Summary: " in resolved.args["text"]
    assert "Root Cause: Disk full on primary" in resolved.args["text"]
    chain = await slack_workspace.wait_for(
        "chat.postMessage", lambda c: "Timeline head hash" in str(c.args.get("text"))
    )
    entries = await bot.services.storage.timeline(incident.number)
    [entry] = [e for e in entries if e.kind == "resolved"]
    assert entry.hash in chain.args["text"]
    stored = await bot.services.storage.get_incident(incident.number)
    assert stored is not None
    assert stored.status is Status.RESOLVED
    assert stored.resolved_at is not None


async def test_commander_hand_off_is_announced_in_the_channel_and_the_announcement_thread(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace)
    await command_in(bot, incident, "assign commander <@UBOB|bob>")
    await command_in(bot, incident, "assign scribe <@UCAROL|carol>")  # not news outside
    await command_in(bot, incident, "assign commander <@UALICE|alice>")

    async def threaded() -> list | None:
        replies = [
            m
            for m in slack_workspace.messages(INCIDENT_RESPONSE_CHANNEL_ID)
            if m.thread_ts
        ]
        return replies if len(replies) == 2 else None

    to_bob, back_to_alice = await eventually(threaded)
    announcement = next(
        m
        for m in slack_workspace.messages(INCIDENT_RESPONSE_CHANNEL_ID)
        if "INCIDENT ALERT" in m.text
    )
    assert to_bob.thread_ts == back_to_alice.thread_ts == announcement.ts
    assert to_bob.text == (
        "INC-1: :crown: <@UALICE> handed command of this incident to <@UBOB>"
    )
    assert back_to_alice.text == (
        "INC-1: :crown: <@UALICE> made <@UALICE> the incident commander (was <@UBOB>)"
    )

    async def in_channel() -> list[str] | None:
        lines = [
            m.text
            for m in slack_workspace.messages(incident.channel_id)
            if ":crown:" in m.text
        ]
        return lines if len(lines) == 2 else None

    assert await eventually(in_channel) == [
        to_bob.text.removeprefix("INC-1: "),
        back_to_alice.text.removeprefix("INC-1: "),
    ]
    assert "UBOB" in slack_workspace.channels[incident.channel_id].members
    stored = await bot.services.storage.get_incident(incident.number)
    assert stored is not None
    assert stored.commander == "UALICE"


async def test_notifications_write_times_in_the_configured_time_zone(
    tmp_path, slack_server, slack_workspace: SlackWorkspace
):
    settings = make_settings(
        tmp_path / "w.db", slack_server, timezone="America/New_York"
    )
    async with run_bot(settings, slack_server) as bot:
        incident = await declare(bot, slack_workspace)
    alert = next(
        m.text
        for m in slack_workspace.messages(INCIDENT_RESPONSE_CHANNEL_ID)
        if "INCIDENT ALERT" in m.text
    )
    local = incident.declared_at.astimezone(ZoneInfo("America/New_York"))
    zone = local.tzname()
    assert zone in ("EST", "EDT")
    assert f"Start Time: {local:%Y-%m-%d %H:%M} {zone}" in alert
    assert " UTC" not in alert


def test_a_time_zone_that_does_not_exist_is_a_listed_problem(monkeypatch):
    monkeypatch.setenv("WARROOM_TIMEZONE", "Mars/Olympus_Mons")
    monkeypatch.setenv("WARROOM_RESPONDERS", "U123")  # not JSON: listed too
    with pytest.raises(ConfigError) as raised:
        load_settings("check")
    problems = raised.value.problems
    assert any(
        p.startswith("WARROOM_TIMEZONE:") and "is not a time zone name" in p
        for p in problems
    ), problems
    assert any(p.startswith("WARROOM_RESPONDERS:") for p in problems)
