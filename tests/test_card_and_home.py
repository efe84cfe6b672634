"""The incident card's buttons, `status resolved`, App Home, and secrets kept out of reprs and logs."""

from __future__ import annotations

import logging

from pydantic import SecretStr

from bot.cli.main import RedactingFilter
from bot.config import Settings
from bot.models.incidents import Status
from bot.sandbox import payloads
from bot.sandbox.slack.workspace import SlackWorkspace
from handlers.ids import Action, Callback
from tests.flows import command_in, declare, eventually
from tests.plugins.bot import RunningBot


async def test_card_status_select_and_buttons(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace)
    card = next(
        m
        for m in slack_workspace.messages(incident.channel_id)
        if m.ts == incident.card_ts
    )
    actions = next(b for b in card.blocks if b["type"] == "actions")
    assert {e["action_id"] for e in actions["elements"]} >= {
        Action.CARD_STATUS,
        Action.CARD_RESOLVE,
        Action.CARD_TIMELINE,
    }

    body = payloads.block_actions(
        user_id="UBOB",
        action_id=Action.CARD_STATUS,
        value="identified",
        block_id=actions["block_id"],
        action_type="static_select",
        channel_id=incident.channel_id,
        message_ts=incident.card_ts,
        workspace=slack_workspace,
    )
    assert (
        await bot.sender.send(body, content_type="application/x-www-form-urlencoded")
    ).status == 200

    async def identified():
        stored = await bot.services.storage.get_incident(incident.number)
        return stored and stored.status is Status.IDENTIFIED

    assert await eventually(identified)
    await bot.sender.action(
        action_id=Action.CARD_TIMELINE,
        value=str(incident.number),
        user_id="UBOB",
        block_id=actions["block_id"],
        channel_id=incident.channel_id,
        message_ts=incident.card_ts,
    )
    timeline = await slack_workspace.wait_for(
        "response_url", lambda c: "status" in str(c.args.get("text"))
    )
    assert timeline.args["response_type"] == "ephemeral"
    assert any(
        e.user == "UBOB" and "status" in e.text for e in slack_workspace.ephemerals
    )
    await bot.sender.action(
        action_id=Action.CARD_RESOLVE,
        value=str(incident.number),
        user_id="UBOB",
        block_id=actions["block_id"],
        channel_id=incident.channel_id,
        message_ts=incident.card_ts,
    )
    opened = await slack_workspace.wait_for(
        "views.open", lambda c: c.args["view"]["callback_id"] == Callback.RESOLVE
    )
    assert opened.status == 200


async def test_status_resolved_behaves_like_resolve(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace)
    await command_in(bot, incident, "status resolved")
    opened = await slack_workspace.wait_for(
        "views.open", lambda c: c.args["view"]["callback_id"] == Callback.RESOLVE
    )
    assert opened.args["view"]["private_metadata"] == '{"incident": 1}'


async def test_app_home_lists_open_incidents(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    await declare(bot, slack_workspace, title="Checkout is down")
    await bot.sender.event(slack_workspace.app_home_opened("UCAROL"))
    published = await slack_workspace.wait_for(
        "views.publish", lambda c: c.args.get("user_id") == "UCAROL"
    )
    text = str(published.args["view"]["blocks"])
    assert "INC-1" in text
    assert "Checkout is down" in text
    assert Action.HOME_DECLARE in text


def test_settings_never_show_secrets():
    settings = Settings(
        slack_bot_token=SecretStr("xoxb-test-secret-value"),
        slack_signing_secret=SecretStr("shh-123"),
    )
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert "xoxb-test-secret-value" not in shown
        assert "shh-123" not in shown


def test_log_lines_are_redacted(caplog):
    logger = logging.getLogger("warroom.test")
    record = logger.makeRecord(
        "warroom.test",
        logging.WARNING,
        __file__,
        1,
        "token %s leaked",
        ("xoxb-test-1234567890-abc",),
        None,
    )
    RedactingFilter().filter(record)
    assert "xoxb-test-1234567890" not in record.getMessage()
    assert "[REDACTED]" in record.getMessage()
