"""Everything said in an incident channel reaches the timeline: messages, threads, files, edits and
deletions (as new entries), pins and :pushpin: reactions (key events). Other channels are not recorded."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing

from bot.sandbox.slack.state import INCIDENT_RESPONSE_CHANNEL_ID
from bot.sandbox.slack.workspace import SlackWorkspace
from bot.storage.chain import verify_incident
from tests.flows import declare, eventually
from tests.plugins.bot import RunningBot


async def test_messages_edits_deletions_files_and_key_events_are_captured(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace)
    channel = incident.channel_id
    assert channel is not None
    first = slack_workspace.user_message(
        channel, "UBOB", "primary RDS is refusing connections"
    )
    ts = first["event"]["ts"]
    bodies = [
        first,
        slack_workspace.user_message(
            channel, "UCAROL", "looking at the snapshots", thread_ts=ts
        ),
        slack_workspace.user_edit(
            channel, ts, "UBOB", "primary RDS refuses connections since 10:02"
        ),
        slack_workspace.user_pin(channel, ts, "UALICE"),
        slack_workspace.user_react(channel, ts, "UCAROL", "pushpin"),
        slack_workspace.user_react(channel, ts, "UCAROL", "eyes"),
        slack_workspace.user_message(
            channel, "UDAVE", "graph attached", files=[{"id": "F1", "name": "cpu.png"}]
        ),
    ]
    doomed = slack_workspace.user_message(channel, "UDAVE", "wrong channel, sorry")
    bodies += [doomed, slack_workspace.user_delete(channel, doomed["event"]["ts"])]
    bodies.append(
        slack_workspace.user_message(
            INCIDENT_RESPONSE_CHANNEL_ID, "UBOB", "not an incident channel"
        )
    )
    for body in bodies:
        assert (await bot.sender.event(body)).status == 200

    async def captured():
        entries = await bot.services.storage.timeline(incident.number)
        return entries if len(entries) >= 10 else None

    entries = (await eventually(captured))[
        2:
    ]  # after "declared" and the commander role
    assert [e.kind for e in entries] == [
        "message",
        "message",
        "edit",
        "pin",
        "pushpin",
        "message",
        "message",
        "delete",
    ]
    message, reply, edit, pin, pushpin, with_file, doomed_entry, deletion = entries
    assert (message.actor, message.slack_ts) == ("UBOB", ts)
    assert (
        message.permalink
        == f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"
    )
    assert reply.data["thread_ts"] == ts
    assert edit.corrects == message.seq
    assert edit.text == "primary RDS refuses connections since 10:02"
    assert edit.data["previous_text"] == "primary RDS is refusing connections"
    # the original is never overwritten
    assert message.text == "primary RDS is refusing connections"
    assert pin.key_event
    assert pushpin.key_event
    assert pin.data["marks"] == message.seq
    assert with_file.data["files"][0]["name"] == "cpu.png"
    assert deletion.corrects == doomed_entry.seq
    assert all("not an incident channel" not in e.text for e in entries)


async def test_secrets_typed_in_the_channel_are_redacted_before_storage(
    bot: RunningBot, slack_workspace
):
    incident = await declare(bot, slack_workspace)
    canary = "AKIAZZZZZZZZZZZZZZZZ"
    await bot.sender.event(
        slack_workspace.user_message(
            incident.channel_id, "UBOB", f"key is {canary} oops"
        )
    )

    async def stored():
        entries = await bot.services.storage.timeline(incident.number)
        return [e for e in entries if e.kind == "message"]

    (entry,) = await eventually(stored)
    assert canary not in entry.text
    assert "[REDACTED]" in entry.text
    assert canary.encode() not in bot.settings.database_path.read_bytes()


async def test_a_message_is_on_the_timeline_before_slack_gets_its_200(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace)
    body = slack_workspace.user_message(
        incident.channel_id, "UBOB", "db failover started"
    )

    assert (await bot.sender.event(body)).status == 200

    # No waiting: the inbox row (already done) and the timeline row share the transaction the ack follows.
    entries = await bot.services.storage.timeline(incident.number)
    assert [e.text for e in entries if e.kind == "message"] == ["db failover started"]
    key = f"event:{body['event_id']}"
    with closing(sqlite3.connect(bot.settings.database_path)) as db:
        inbox = db.execute("select status from inbox where key = ?", [key]).fetchall()
    assert inbox == [("done",)]


async def test_a_burst_of_messages_with_slack_retries_lands_once_each_on_an_intact_chain(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace)
    bodies = [
        slack_workspace.user_message(incident.channel_id, "UCAROL", f"burst {n}")
        for n in range(120)
    ]
    sends = [bot.sender.event(b) for b in bodies]
    sends += [
        bot.sender.event(b, retry_num=1, retry_reason="http_timeout")
        for b in bodies[::4]
    ]

    answers = await asyncio.gather(*sends)

    assert {a.status for a in answers} == {200}
    entries = await bot.services.storage.timeline(incident.number)
    texts = [e.text for e in entries if e.kind == "message"]
    assert sorted(texts) == sorted(f"burst {n}" for n in range(120))
    report = await asyncio.to_thread(
        verify_incident, bot.settings.database_path, incident.number
    )
    assert report.ok, report.describe()
    assert report.rows == len(entries)
