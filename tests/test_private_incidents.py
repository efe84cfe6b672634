"""A private incident stays private: its channel is private, the announcement channel learns only
that it exists and who commands it (at declaration, in status updates, at resolution), and
`/incident list` and App Home show it only to the people in its channel."""

from __future__ import annotations

import json

from bot.models.incidents import Incident
from bot.sandbox import payloads
from bot.sandbox.slack.records import INCIDENT_RESPONSE_CHANNEL_ID
from bot.sandbox.slack.workspace import SlackWorkspace
from handlers.ids import Callback, Field
from tests.flows import declare, eventually, open_view
from tests.plugins.bot import RunningBot

SECRET_TITLE = "Exfiltration from the billing bucket CANARY-7731"


async def _declare_private(bot: RunningBot, slack: SlackWorkspace) -> Incident:
    """Declare through the form with its Visibility box ticked."""
    private = {Field.PRIVATE: payloads.checkboxes_value(["private"])}
    return await declare(bot, slack, title=SECRET_TITLE, **private)


async def _listed_to(bot: RunningBot, slack: SlackWorkspace, user: str) -> str:
    before = len(slack.calls_to("response_url"))
    await bot.sender.command("list", user_id=user)

    async def answered() -> str | None:
        calls = slack.calls_to("response_url")[before:]
        return str(calls[-1].args.get("text")) if calls else None

    return str(await eventually(answered))


async def test_a_private_incident_is_announced_without_details_and_listed_only_inside(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    slack = slack_workspace
    incident = await _declare_private(bot, slack)
    public = await declare(bot, slack, title="Checkout is slow")
    assert incident.private
    assert slack.channels[incident.channel_id].is_private
    # A status update and the resolution, each of which the announcement channel hears of.
    view_id = await open_view(bot, slack, "update", channel_id=incident.channel_id)
    await bot.sender.submit_view(
        callback_id=Callback.UPDATE,
        values={
            Field.UPDATE_STATUS: {"value": payloads.static_select_value("identified")},
            Field.UPDATE_MESSAGE: {
                "value": payloads.plain_text_value("Keys rotated CANARY-7731")
            },
        },
        view_id=view_id,
        private_metadata=json.dumps({"incident": incident.number}),
    )
    # While both are open, UBOB (not in the private channel) is shown only the public one.
    assert "UBOB" not in slack.channels[incident.channel_id].members
    listed = await _listed_to(bot, slack, "UBOB")
    assert public.key in listed
    assert incident.key not in listed
    assert "CANARY" not in listed
    view_id = await open_view(bot, slack, "resolve", channel_id=incident.channel_id)
    await bot.sender.submit_view(
        callback_id=Callback.RESOLVE,
        view_id=view_id,
        private_metadata=slack.views[view_id].payload["private_metadata"],
        values={
            Field.SUMMARY: {"value": payloads.plain_text_value("Locked out")},
            Field.ROOT_CAUSE: {
                "value": payloads.plain_text_value("Leaked key CANARY-7731")
            },
        },
    )

    async def announced() -> list[str]:
        texts = [m.text for m in slack.messages(INCIDENT_RESPONSE_CHANNEL_ID)]
        mine = [t for t in texts if incident.key in t]
        return mine if len(mine) >= 3 else []

    about = await eventually(announced)
    assert all("private incident" in t for t in about)
    assert all("<@UALICE>" in t for t in about)
    said = " ".join(m.text for m in slack.messages(INCIDENT_RESPONSE_CHANNEL_ID))
    assert "CANARY-7731" not in said
    assert "Checkout is slow" in said  # public incidents are announced as before


async def test_a_private_incident_is_listed_to_its_members_and_hidden_from_app_home(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    slack = slack_workspace
    incident = await _declare_private(bot, slack)
    listed = await _listed_to(bot, slack, "UALICE")  # the commander is in its channel
    assert incident.key in listed
    await bot.sender.event({"type": "app_home_opened", "user": "UBOB", "tab": "home"})
    home = await slack.wait_for(
        "views.publish", lambda c: c.args.get("user_id") == "UBOB"
    )
    assert "CANARY" not in json.dumps(home.args)
    assert incident.key not in json.dumps(home.args)
