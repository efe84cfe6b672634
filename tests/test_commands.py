"""The /incident router: usage for bad input, field errors in modals, channel-bound commands, help."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.sandbox import payloads
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace
from handlers.ids import Callback, Field
from tests.flows import command_in, declare, declare_values, eventually, open_view
from tests.plugins.bot import RunningBot, make_settings


async def incidents(bot: RunningBot) -> int:
    return len(await bot.services.storage.incidents())


async def test_unknown_subcommand_gets_usage_privately(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    response = await bot.sender.command("explode now")
    assert response.status == 200
    assert "Unknown subcommand `explode`" in response.text
    assert "/incident declare [title]" in response.text
    assert slack_workspace.calls_to("chat.postMessage") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("status", "Invalid state"),
        ("status sleeping", "Invalid state"),
        ("timeline many", "Invalid n"),
        ("timeline 500", "Invalid n"),
        ("assign scribe bob", "mention the person"),
        ("note", "Invalid text"),
        ("help me please", "Too many arguments"),
    ],
)
async def test_bad_arguments_get_usage_text_and_change_nothing(
    bot: RunningBot, text, expected
):
    response = await bot.sender.command(text)
    assert response.status == 200
    assert expected in response.text
    assert "Usage: `/incident" in response.text
    assert await incidents(bot) == 0


async def test_channel_commands_outside_an_incident_channel_say_so(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    response = await bot.sender.command("status identified")
    assert response.status == 200
    call = await slack_workspace.wait_for("chat.postEphemeral")
    assert "only works in an incident channel" in call.args["text"]
    assert call.args["user"] == "UALICE"


async def test_help_lists_every_subcommand(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    await bot.sender.command("help")
    call = await slack_workspace.wait_for("response_url")
    for name in (
        "declare",
        "status",
        "severity",
        "assign",
        "note",
        "timeline",
        "resolve",
        "list",
        "help",
    ):
        assert f"/incident {name}" in call.args["text"]


async def test_help_escapes_usage_so_slack_shows_it_as_typed(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    # Issue 14: Slack read `<@user|escalation policy|service>` as a mention of "escalation policy|service".
    await bot.sender.command("help")
    text = (await slack_workspace.wait_for("response_url")).args["text"]
    # No mention, link or date for Slack to render:
    assert "<" not in text
    assert ">" not in text
    assert "/incident page &lt;@user|escalation policy|service&gt; [message]" in text
    assert (
        "/incident status &lt;investigating|identified|monitoring|resolved&gt;" in text
    )


async def test_list_shows_open_incidents(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace, title="Checkout is down")
    await bot.sender.command("list", user_id="UBOB")
    call = await slack_workspace.wait_for(
        "response_url", lambda c: "INC-1" in str(c.args.get("text"))
    )
    assert "Checkout is down" in call.args["text"]
    assert f"<#{incident.channel_id}>" in call.args["text"]


@pytest.mark.parametrize(
    ("values", "errors"),
    [
        (declare_values(title="  "), {Field.TITLE}),
        (declare_values(title="ab"), {Field.TITLE}),
        (declare_values(severity="SEV9"), {Field.SEVERITY}),
        (
            declare_values(
                components=payloads.multi_static_select_value(["database", "mainframe"])
            ),
            {Field.COMPONENTS},
        ),
        (
            declare_values(
                impact_started_at=payloads.datetimepicker_value(
                    int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
                )
            ),
            {Field.IMPACT_STARTED},
        ),
        (
            declare_values(title="x" * 151, severity="SEV0"),
            {Field.TITLE, Field.SEVERITY},
        ),
    ],
)
async def test_declare_form_errors_come_back_as_field_errors(
    bot: RunningBot, slack_workspace, values, errors
):
    view_id = await open_view(bot, slack_workspace, "declare")
    response = await bot.sender.submit_view(
        callback_id=Callback.DECLARE, values=values, view_id=view_id
    )
    assert response.status == 200
    body = json.loads(response.text)
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {str(e) for e in errors}
    assert all(body["errors"].values())
    assert await incidents(bot) == 0
    assert slack_workspace.calls_to("conversations.create") == []


async def test_declare_with_components_and_impact_start(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    started = int((datetime.now(UTC) - timedelta(minutes=20)).timestamp())
    incident = await declare(
        bot,
        slack_workspace,
        title="Uploads failing",
        severity="SEV3",
        components=payloads.multi_static_select_value(["file-storage", "api"]),
        impact_started_at=payloads.datetimepicker_value(started),
    )
    assert incident.components == ["file-storage", "api"]
    assert incident.impact_started_at == datetime.fromtimestamp(started, UTC)
    alert = await slack_workspace.wait_for(
        "chat.postMessage", lambda c: "INCIDENT ALERT" in str(c.args.get("text"))
    )
    assert "Impact: Medium" in alert.args["text"]


async def test_second_incident_with_the_same_title_gets_its_own_channel(
    bot: RunningBot, slack_workspace
):
    slack_workspace.add_channel("inc-1-db-down")  # someone took the name by hand
    first = await declare(bot, slack_workspace, title="DB down")
    assert slack_workspace.channels[first.channel_id].name == "inc-1-db-down-2"
    second = await declare(bot, slack_workspace, title="DB down")
    assert slack_workspace.channels[second.channel_id].name == "inc-2-db-down"

    async def timelines():
        return [len(await bot.services.storage.timeline(n)) for n in (1, 2)]

    assert await eventually(timelines) == [2, 2]


async def test_responders_from_a_user_group_may_act_and_others_are_refused(
    tmp_path, slack_server: RunningWorkspace, slack_workspace: SlackWorkspace, start_bot
):
    slack_workspace.add_usergroup("S0ONCALL", "oncall", ["UBOB"])
    settings = make_settings(
        tmp_path / "w.db", slack_server, responders=["UALICE", "S0ONCALL"]
    )
    async with start_bot(settings) as bot:
        incident = await declare(bot, slack_workspace)
        assert incident.channel_id
        # One types a slash command in a channel one is in.
        slack_workspace.channels[incident.channel_id].members.append("UCAROL")
        await command_in(bot, incident, "status identified", user="UBOB")
        await command_in(bot, incident, "status monitoring", user="UCAROL")

        async def refused() -> bool:
            return any(
                "Only responders may use `/incident status`" in e.text
                for e in slack_workspace.ephemerals_for("UCAROL")
            )

        async def changes() -> list[tuple[str | None, str]]:
            entries = await bot.services.storage.timeline(incident.number)
            return [(e.actor, e.text) for e in entries if e.kind == "status"]

        await eventually(refused)
        assert await eventually(changes) == [
            ("UBOB", "status: investigating -> identified")
        ]
    # The group was read from Slack once: the second check used this bot's one-minute cache.
    assert len(slack_workspace.calls_to("usergroups.users.list")) == 1
