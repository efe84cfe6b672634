"""`/incident page`, `/incident oncall` and `/incident update` through signed requests to the real bot."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.sandbox import payloads
from bot.sandbox.slack.state import INCIDENT_RESPONSE_CHANNEL_ID
from bot.sandbox.slack.workspace import SlackWorkspace
from handlers.ids import Callback, Field
from tests.flows import command_in, declare, eventually, open_view
from tests.plugins.bot import RunningBot
from tests.test_pages_declare import settled


async def test_pages_oncall_command_lists_who_is_on_call_for_the_policy(
    pd_bot: RunningBot, slack_workspace: SlackWorkspace, pagerduty_standin: Any
):
    incident = await declare(pd_bot, slack_workspace, severity="SEV3")
    await command_in(pd_bot, incident, "oncall", user="UCAROL")
    call = await slack_workspace.wait_for(
        "response_url", lambda c: "On call now" in str(c.args.get("text"))
    )
    text = call.args["text"]
    assert "Security level 1: <@UBOB>" in text
    assert "Security level 2: <@UALICE>" in text
    [oncalls] = pagerduty_standin.requests_to("GET", "/oncalls")
    assert oncalls.query["escalation_policy_ids[]"] == ["PEPSECU"]


async def test_pages_page_command_adds_a_slack_user_matched_by_email(
    pd_bot: RunningBot, slack_workspace: SlackWorkspace, pagerduty_standin: Any
):
    incident = await declare(pd_bot, slack_workspace, severity="SEV1")
    [trigger] = await settled(pd_bot)
    await command_in(pd_bot, incident, "page <@UBOB|bob> need a DBA")
    rows = await settled(pd_bot, count=2)

    assert rows[1].status == "done", rows[1]
    [request] = pagerduty_standin.state.responder_requests
    [target] = request["responder_request_targets"]
    assert target["responder_request_target"]["id"] == "PBOBWIL"
    assert request["message"] == "need a DBA"
    assert request["incident"]["id"] == trigger.pd_incident_id
    entries = await pd_bot.services.storage.timeline(incident.number)
    assert [e.data.get("target") for e in entries if e.kind == "page"][-1] == "PBOBWIL"


async def test_pages_page_command_pages_an_escalation_policy_by_name(
    pd_bot: RunningBot, slack_workspace: SlackWorkspace, pagerduty_standin: Any
):
    incident = await declare(pd_bot, slack_workspace, severity="SEV1")
    await settled(pd_bot)
    await command_in(pd_bot, incident, "page devops")
    await settled(pd_bot, count=2)
    [request] = pagerduty_standin.state.responder_requests
    target = request["responder_request_targets"][0]["responder_request_target"]
    assert (target["type"], target["id"]) == ("escalation_policy", "PEPDEVO")


async def test_pages_page_command_unknown_target_is_a_clear_error(
    pd_bot: RunningBot, slack_workspace: SlackWorkspace, pagerduty_standin: Any
):
    incident = await declare(pd_bot, slack_workspace, severity="SEV3")
    await command_in(pd_bot, incident, "page nobody-at-all")
    call = await slack_workspace.wait_for("chat.postEphemeral")
    assert "No PagerDuty escalation policy or service" in call.args["text"]
    assert await pd_bot.services.storage.pages_of(incident.number) == []


async def test_pages_update_modal_posts_to_both_channels_with_the_head_hash(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace, severity="SEV2")
    view_id = await open_view(
        bot, slack_workspace, "update", channel_id=incident.channel_id
    )
    values = {
        Field.UPDATE_STATUS: {"value": payloads.static_select_value("identified")},
        Field.UPDATE_MESSAGE: {"value": payloads.plain_text_value("Replica promoted")},
    }
    response = await bot.sender.submit_view(
        callback_id=Callback.UPDATE,
        values=values,
        view_id=view_id,
        private_metadata=json.dumps({"incident": incident.number}),
    )
    assert response.status == 200
    assert response.text == "", response.text

    async def hash_line() -> str | None:
        texts = [m.text for m in slack_workspace.messages(incident.channel_id or "")]
        return next((t for t in texts if t.startswith("Timeline head hash")), None)

    line = await eventually(hash_line)
    entries = await bot.services.storage.timeline(incident.number)
    update = next(e for e in entries if e.kind == "status_update")
    assert f"`{update.hash}`" in line
    assert (await bot.services.storage.get_incident(1)).status == "identified"
    announced = [m.text for m in slack_workspace.messages(INCIDENT_RESPONSE_CHANNEL_ID)]
    text = next(t for t in announced if "INCIDENT UPDATE: INC-1" in t)
    assert "Status: Identified" in text
    assert "Update: Replica promoted" in text
    reminder = await bot.services.storage.reminder_get("update:1")
    assert reminder is not None
    assert reminder.due_at > update.recorded_at


async def test_pages_update_modal_rejects_an_empty_message(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace, severity="SEV2")
    view_id = await open_view(
        bot, slack_workspace, "update", channel_id=incident.channel_id
    )
    values = {
        Field.UPDATE_STATUS: {"value": payloads.static_select_value("identified")},
        Field.UPDATE_MESSAGE: {"value": payloads.plain_text_value(" ")},
    }
    response = await bot.sender.submit_view(
        callback_id=Callback.UPDATE,
        values=values,
        view_id=view_id,
        private_metadata=json.dumps({"incident": incident.number}),
    )
    assert json.loads(response.text)["errors"] == {
        Field.UPDATE_MESSAGE: "Write what changed since the last update."
    }


async def test_pages_page_command_opens_the_pagerduty_incident_first_when_there_is_none(
    pd_bot: RunningBot, slack_workspace: SlackWorkspace, pagerduty_standin: Any
):
    # SEV3 does not page
    incident = await declare(pd_bot, slack_workspace, severity="SEV3")
    await command_in(pd_bot, incident, "page <@UBOB> please look")
    [row] = await settled(pd_bot)

    assert row.status == "done", row
    [created] = pagerduty_standin.state.incidents.values()
    assert created["incident_key"] == "warroom-INC-1"
    [request] = pagerduty_standin.state.responder_requests
    assert request["incident"]["id"] == created["id"] == row.pd_incident_id


async def test_pages_log_only_page_command_says_what_it_would_have_paged(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace, severity="SEV3")
    await command_in(bot, incident, "page <@UBOB|bob> need a DBA")

    async def said() -> str | None:
        texts = [m.text for m in slack_workspace.messages(incident.channel_id or "")]
        return next((t for t in texts if "would page user" in t), None)

    text = await eventually(said)
    assert "would page user bob@example.com for INC-1 (need a DBA)" in text


@pytest.mark.parametrize("quotes", ['""', "\u201c\u201d"])
async def test_pages_page_command_takes_a_quoted_name_with_spaces(
    pd_bot: RunningBot,
    slack_workspace: SlackWorkspace,
    pagerduty_standin: Any,
    quotes: str,
):
    incident = await declare(pd_bot, slack_workspace, severity="SEV1")
    await settled(pd_bot)
    await command_in(
        pd_bot, incident, f"page {quotes[0]}BodyScript API{quotes[1]} checkout is down"
    )
    rows = await settled(pd_bot, count=2)
    assert (rows[-1].target_kind, rows[-1].target_id) == ("service", "PSVCAPI")
    assert rows[-1].message == "checkout is down"
