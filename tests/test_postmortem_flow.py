"""The post-mortem as a flow: the resolve form asks for trigger, impact and root cause; the prompt
under the shared draft (Complete the post-mortem, Add follow-up) fills in the rest; reviewers and
status are set by command; every change rebuilds and re-shares the draft, each version on the
timeline with its SHA-256; follow-ups are its action items."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from bot.models.incidents import Incident
from bot.sandbox import payloads
from bot.sandbox.slack.workspace import SlackWorkspace
from handlers.ids import Action, Callback, Field
from tests.flows import command_in, declare, eventually, open_view, resolve
from tests.plugins.bot import RunningBot


async def _versions(bot: RunningBot, number: int, n: int) -> list[Any] | None:
    found = await bot.services.storage.entries_of(number, ("postmortem_version",))
    return found if len(found) >= n else None


def _draft(slack: SlackWorkspace, version: Any) -> str:
    content = slack.files[version.data["slack_file"]].content
    assert content is not None
    assert hashlib.sha256(content).hexdigest() == version.data["sha256"]
    return content.decode()


async def _prompt_buttons(slack: SlackWorkspace, incident: Incident) -> dict[str, str]:
    """The buttons under the newest author prompt in the incident channel (action id -> value)."""
    for message in reversed(slack.messages(incident.channel_id or "")):
        for block in message.blocks or []:
            if block.get("type") == "actions":
                found = {e["action_id"]: e["value"] for e in block["elements"]}
                if Action.POSTMORTEM_EDIT in found:
                    return found
    return {}


async def _submit(
    bot: RunningBot, slack: SlackWorkspace, callback: str, values: dict[str, Any]
) -> Any:
    view_id = slack.calls_to("views.open")[-1].response["view"]["id"]  # type: ignore[index]
    return await bot.sender.submit_view(
        callback_id=callback,
        view_id=view_id,
        private_metadata=slack.views[view_id].payload["private_metadata"],
        values={k: {"value": v} for k, v in values.items()},
    )


async def test_the_postmortem_is_completed_reviewed_and_reshared_version_by_version(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    slack = slack_workspace
    incident = await declare(bot, slack)
    await resolve(
        bot,
        slack,
        incident,
        summary="Failed over to the replica",
        root_cause="Disk full on primary",
        **{
            Field.TRIGGER: payloads.static_select_value("customer"),
            Field.IMPACT: payloads.plain_text_value("4,200 failed checkouts"),
        },
    )
    [v1] = await eventually(lambda: _versions(bot, incident.number, 1))
    first = _draft(slack, v1)
    assert "Noticed through a customer report." in first
    assert "### Impact\n\n4,200 failed checkouts\n" in first
    assert (
        "| Still to write | Resolution, Contributing factors, Review meeting |" in first
    )
    buttons = await eventually(lambda: _prompt_buttons(slack, incident))
    prompt = [
        m.text
        for m in slack.messages(incident.channel_id or "")
        if "still needs" in m.text
    ]
    assert "Resolution, Contributing factors, Review meeting" in prompt[-1]

    # Complete the post-mortem: the form shows what was given and takes the rest.
    before = len(slack.calls_to("views.open"))
    await bot.sender.action(
        action_id=Action.POSTMORTEM_EDIT,
        value=buttons[Action.POSTMORTEM_EDIT],
        channel_id=incident.channel_id,
    )
    await slack.wait_for(
        "views.open", lambda c: len(slack.calls_to("views.open")) > before
    )
    form = slack.calls_to("views.open")[-1].args["view"]
    form = json.loads(form) if isinstance(form, str) else form
    impact = next(b for b in form["blocks"] if b.get("block_id") == Field.IMPACT)
    assert impact["element"]["initial_value"] == "4,200 failed checkouts"
    response = await _submit(
        bot,
        slack,
        Callback.POSTMORTEM_DETAILS,
        {
            Field.TRIGGER: payloads.static_select_value("customer"),
            Field.IMPACT: payloads.plain_text_value("4,200 failed checkouts"),
            Field.RESOLUTION: payloads.plain_text_value(
                "Promoted the replica, then grew the volume"
            ),
            Field.ROOT_CAUSE: payloads.plain_text_value("Disk full on primary"),
            Field.CONTRIBUTING: payloads.plain_text_value("No disk alarm"),
            Field.REVIEW_MEETING: {"type": "datepicker", "selected_date": "2027-01-04"},
        },
    )
    assert (response.status, response.text) == (200, "")
    [_, v2] = await eventually(lambda: _versions(bot, incident.number, 2))
    second = _draft(slack, v2)
    assert "## Resolution\n\nPromoted the replica, then grew the volume\n" in second
    assert "### Contributing factors\n\nNo disk alarm\n" in second
    assert "| Still to write | nothing |" in second
    assert "| Review meeting | 2027-01-04 |" in second
    assert "| Version | 2 |" in second

    # A follow-up from the button is an action item of the next version.
    await bot.sender.action(
        action_id=Action.FOLLOWUP_ADD,
        value=str(incident.number),
        channel_id=incident.channel_id,
    )
    await slack.wait_for(
        "views.open", lambda c: "Follow-up" in json.dumps(c.args.get("view"))
    )
    response = await _submit(
        bot,
        slack,
        Callback.FOLLOWUP,
        {
            Field.FOLLOWUP_TEXT: payloads.plain_text_value(
                "Alarm on free disk below 20%"
            ),
            Field.FOLLOWUP_KIND: payloads.static_select_value("detect"),
            Field.FOLLOWUP_OWNER: payloads.users_select_value("UBOB"),
            Field.FOLLOWUP_DUE: {"type": "datepicker", "selected_date": "2099-01-31"},
            Field.FOLLOWUP_PRIORITY: payloads.static_select_value("high"),
        },
    )
    assert (response.status, response.text) == (200, "")
    await eventually(lambda: bot.services.storage.followups(incident.number))

    await command_in(bot, incident, "postmortem review <@UBOB|bob> <@UCAROL|carol>")
    [*_, v3] = await eventually(lambda: _versions(bot, incident.number, 3))
    third = _draft(slack, v3)
    assert "| Status | in review |" in third
    assert (
        "| Reviewers | @bob, @carol |" in third
        or "| Reviewers | UBOB, UCAROL |" in third
    )
    assert "| 1 | detect | Alarm on free disk below 20% |" in third
    assert "| 2099-01-31 | high | not filed | open |" in third
    for reviewer in ("UBOB", "UCAROL"):  # each reviewer is asked, once
        [asked] = await eventually(
            lambda r=reviewer: _dm(slack, r, "asks you to review")
        )
        assert "the post-mortem of INC-1" in asked
    kinds = [e.kind for e in await bot.services.storage.timeline(incident.number)]
    assert kinds.count("postmortem_details") == 1
    assert kinds.count("postmortem_review") == 1


async def test_a_wrong_detail_is_shown_on_the_form_and_changes_nothing(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace)
    await open_view(
        bot, slack_workspace, "postmortem edit", channel_id=incident.channel_id
    )
    rows = len(await bot.services.storage.timeline(incident.number))
    response = await _submit(
        bot,
        slack_workspace,
        Callback.POSTMORTEM_DETAILS,
        {
            Field.TRIGGER: payloads.static_select_value("a-rumour"),
            Field.REVIEW_MEETING: {"type": "datepicker", "selected_date": "next week"},
        },
    )
    errors = json.loads(response.text)["errors"]
    assert errors == {
        Field.TRIGGER: "Choose one of the list.",
        Field.REVIEW_MEETING: "Pick a date.",
    }
    assert len(await bot.services.storage.timeline(incident.number)) == rows


async def test_final_needs_reviewers(bot: RunningBot, slack_workspace: SlackWorkspace):
    incident = await declare(bot, slack_workspace)
    await command_in(bot, incident, "postmortem final")
    await eventually(lambda: _said(slack_workspace, "Name its reviewers first"))
    assert (
        await bot.services.storage.entries_of(incident.number, ("postmortem_review",))
        == []
    )


async def _said(slack: SlackWorkspace, text: str) -> bool:
    answers = [str(b.get("text", "")) for _, b in slack.response_posts]
    answers += [e.text for e in slack.ephemerals_for("UALICE")]
    return any(text in a for a in answers)


async def test_the_commander_is_reminded_of_missing_details_until_they_are_given(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    slack = slack_workspace
    incident = await declare(bot, slack)
    await resolve(bot, slack, incident)
    await eventually(lambda: _versions(bot, incident.number, 1))
    reminder = await eventually(
        lambda: bot.services.storage.reminder_get("postmortem:1")
    )
    reminders = bot.services.comms.reminders
    assert await reminders.tick(reminder.due_at - timedelta(minutes=1)) == 0
    assert await reminders.tick(reminder.due_at) == 1
    await eventually(lambda: _dm(slack, "UALICE", "still needs"))
    [dm] = await _dm(slack, "UALICE", "still needs")
    assert "How it was noticed, Impact, Resolution" in dm

    await bot.services.postmortems.write_details(
        number=incident.number,
        details={
            "trigger": "person",
            "impact": "All logins failed for 4 minutes",
            "resolution": "Failed over",
            "contributing_factors": "None found",
            "review_meeting": "2027-01-04",
        },
        actor="UALICE",
        source="test:details",
    )
    later = await bot.services.storage.reminder_get("postmortem:1")
    assert later is not None
    await reminders.tick(
        later.due_at
    )  # nothing missing: no second reminder, and it ends
    assert len(await _dm(slack, "UALICE", "still needs")) == 1
    ended = await bot.services.storage.reminder_get("postmortem:1")
    assert ended is not None
    assert ended.status == "done"


async def _dm(slack: SlackWorkspace, user: str, text: str) -> list[str]:
    return [
        m.text
        for channel in slack.channels.values()
        if channel.is_im and channel.members[0] == user
        for m in slack.messages(channel.id)
        if text in m.text
    ]


async def test_a_wrong_followup_form_is_shown_on_the_form_and_adds_nothing(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    slack = slack_workspace
    incident = await declare(bot, slack)
    await bot.sender.action(
        action_id=Action.FOLLOWUP_ADD,
        value=str(incident.number),
        channel_id=incident.channel_id,
    )
    await slack.wait_for(
        "views.open", lambda c: "Follow-up" in json.dumps(c.args.get("view"))
    )
    response = await _submit(
        bot,
        slack,
        Callback.FOLLOWUP,
        {
            Field.FOLLOWUP_TEXT: payloads.plain_text_value("x"),
            Field.FOLLOWUP_KIND: payloads.static_select_value("blame"),
            Field.FOLLOWUP_DUE: {"type": "datepicker", "selected_date": "2001-01-01"},
            Field.FOLLOWUP_PRIORITY: payloads.static_select_value("urgent"),
        },
    )
    assert json.loads(response.text)["errors"] == {
        Field.FOLLOWUP_TEXT: "Say what is to be done.",
        Field.FOLLOWUP_KIND: "Choose one of the list.",
        Field.FOLLOWUP_DUE: "That day has passed.",
        Field.FOLLOWUP_PRIORITY: "Choose one of the list.",
    }
    assert await bot.services.storage.followups(incident.number) == []
