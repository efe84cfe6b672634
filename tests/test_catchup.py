"""`/incident catchup`: someone joining late gets, privately, what the timeline and storage hold:
status, severity, commander and roles, key events, steps done and to do, approvals waiting, and
when the next status update is due; nothing is posted for others to see."""

from __future__ import annotations

from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace
from handlers.ids import Action
from tests.flows import command_in, eventually
from tests.plugins.bot import RunningBot
from tests.runbook_support import (
    ephemeral_texts,
    request_restore,
    select_step,
    start_runbook,
)


async def test_catchup_tells_a_latecomer_what_the_timeline_holds(
    rbot: RunningBot, slack_workspace: SlackWorkspace, slack_server: RunningWorkspace
):
    bot, slack = rbot, slack_workspace
    incident, rb = await start_runbook(bot, slack, "database-failure")
    await command_in(bot, incident, "note replica lag at 40 s since 10:02")
    await command_in(bot, incident, "status identified")
    await command_in(bot, incident, "assign scribe <@UCAROL|carol>")
    await select_step(
        bot, slack_server, incident, rb, Action.RUNBOOK_MANUAL_DONE, "verify-gallery"
    )
    await request_restore(bot, slack, incident, rb)
    posted = len(slack.calls_to("chat.postMessage"))

    await command_in(bot, incident, "catchup", user="UDAVE")

    async def summary() -> str | None:
        found = [t for t in ephemeral_texts(slack, "UDAVE") if "Catch-up on" in t]
        return found[0] if found else None

    text = await eventually(summary)
    assert text.startswith("*Catch-up on INC-1: Database connection errors*")
    assert "*identified* · SEV1 · scenario `database-failure`" in text
    assert "Commander <@UALICE> · scribe <@UCAROL>" in text
    assert "No status update posted yet." in text
    assert "Next update due <!date^" in text
    assert "*Waiting for approval*" in text
    waiting = text.split("*Waiting for approval*")[1].split("*Runbook*")[0]
    assert "restore from snapshot" in waiting
    assert "(by <@UALICE>, approvals 0 of 2)" in text
    assert ":white_check_mark: " in text
    assert "*note* <@UALICE> replica lag at 40 s since 10:02" in text
    assert "*status*" in text
    # Only Dave saw it: nothing was posted in a channel for it.
    assert not [
        c
        for c in slack.calls_to("chat.postMessage")[posted:]
        if "Catch-up" in str(c.args)
    ]


async def test_catchup_outside_an_incident_channel_says_where_it_works(
    rbot: RunningBot, slack_workspace: SlackWorkspace
):
    response = await rbot.sender.command(
        "catchup", user_id="UDAVE", channel_id="C00000001"
    )
    assert response.status == 200

    async def said() -> list[str]:
        return [
            t
            for t in ephemeral_texts(slack_workspace, "UDAVE")
            if "only works in an incident channel" in t
        ]

    assert await eventually(said)
