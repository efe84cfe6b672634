"""A form that can no longer be opened (its trigger expired: a replay after a restart, a late
answer) is answered privately with what to do, not with an error reference."""

from __future__ import annotations

from bot.sandbox import payloads
from bot.sandbox.signing import FORM
from bot.sandbox.slack.records import INCIDENT_RESPONSE_CHANNEL_ID
from bot.sandbox.slack.workspace import SlackWorkspace
from tests.flows import eventually
from tests.plugins.bot import RunningBot


async def test_a_form_whose_trigger_expired_says_to_ask_again(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    body = payloads.slash_command(
        text="declare Checkout is down",
        user_id="UALICE",
        user_name="alice",
        channel_id=INCIDENT_RESPONSE_CHANNEL_ID,
        channel_name="incident-response",
        response_url="https://hooks.slack.invalid/commands/never-used",
        trigger_id="1.2.not-issued-by-slack",
    )
    assert (await bot.sender.send(body, content_type=FORM)).status == 200

    async def told() -> list[str]:
        return [
            e.text
            for e in slack_workspace.ephemerals_for("UALICE")
            if "could not open the form in time" in e.text
        ]

    (text,) = await eventually(told)
    assert "run the command or press the button again" in text
    assert "reference" not in text
    assert await bot.services.storage.incidents() == []
