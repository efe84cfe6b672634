"""Subscriptions: `/incident subscribe` sends a subscriber each status update and the resolution by
direct message, once each, whatever Slack replays; the commander alone subscribes others;
`/incident unsubscribe` stops them; every change is on the timeline."""

from __future__ import annotations

import json
import time

from bot.models.incidents import Incident
from bot.sandbox import payloads
from bot.sandbox.signing import FORM
from bot.sandbox.slack.state import INCIDENT_RESPONSE_CHANNEL_ID
from bot.sandbox.slack.workspace import SlackWorkspace
from handlers.ids import Callback, Field
from tests.flows import command_in, declare, eventually, open_view, resolve
from tests.plugins.bot import RunningBot
from tests.runbook_support import ephemeral_texts


def direct_messages(slack: SlackWorkspace, user: str) -> list[str]:
    return [
        m.text
        for channel in slack.channels.values()
        if channel.is_im and channel.members[0] == user
        for m in slack.messages(channel.id)
    ]


async def post_update(
    bot: RunningBot, slack: SlackWorkspace, incident: Incident, message: str
) -> None:
    view_id = await open_view(bot, slack, "update", channel_id=incident.channel_id)
    values = {
        Field.UPDATE_STATUS: {"value": payloads.static_select_value("identified")},
        Field.UPDATE_MESSAGE: {"value": payloads.plain_text_value(message)},
    }
    submit = {
        "callback_id": Callback.UPDATE,
        "values": values,
        "view_id": view_id,
        "private_metadata": json.dumps({"incident": incident.number}),
    }
    response = await bot.sender.submit_view(**submit)
    assert response.status == 200
    assert response.text == ""


async def settled(bot: RunningBot) -> bool:
    return not await bot.services.storage.outbox_heads()


async def test_subscribers_get_each_update_and_the_resolution_once_by_direct_message(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    slack = slack_workspace
    incident = await declare(bot, slack)
    assert incident.channel_id
    slack.channels[incident.channel_id].members.append("UDAVE")  # he joined
    await command_in(bot, incident, "subscribe", user="UBOB")
    await command_in(bot, incident, "subscribe <@UCAROL|carol>")  # by the commander
    await command_in(
        bot, incident, "subscribe <@UBOB|bob>", user="UDAVE"
    )  # not theirs to do
    await eventually(lambda: settled(bot))
    assert any(
        "Only the commander of INC-1 subscribes other people" in t
        for t in ephemeral_texts(slack, "UDAVE")
    )
    assert await bot.services.storage.subscribers(incident.number) == ["UBOB", "UCAROL"]

    await post_update(bot, slack, incident, "Replica promoted")
    await eventually(lambda: settled(bot))
    for user in ("UBOB", "UCAROL"):
        [dm] = direct_messages(slack, user)
        assert "INCIDENT UPDATE: INC-1" in dm
        assert "Replica promoted" in dm
    assert direct_messages(slack, "UDAVE") == []

    await command_in(bot, incident, "unsubscribe", user="UCAROL")
    await post_update(bot, slack, incident, "Traffic back on the primary")
    await eventually(lambda: settled(bot))
    assert len(direct_messages(slack, "UBOB")) == 2
    assert len(direct_messages(slack, "UCAROL")) == 1

    entries = await bot.services.storage.timeline(incident.number)
    changes = [e.data for e in entries if e.kind == "subscription"]
    assert changes == [
        {"change": "subscribed", "users": ["UBOB"]},
        {"change": "subscribed", "users": ["UCAROL"]},
        {"change": "unsubscribed", "users": ["UCAROL"]},
    ]

    await resolve(bot, slack, incident)
    await eventually(lambda: settled(bot))
    last = direct_messages(slack, "UBOB")[-1]
    assert "Disk full" in last
    assert len(direct_messages(slack, "UBOB")) == 3


async def test_a_replayed_update_sends_no_second_direct_message(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    slack = slack_workspace
    incident = await declare(bot, slack)
    await command_in(bot, incident, "subscribe", user="UBOB")
    view_id = await open_view(bot, slack, "update", channel_id=incident.channel_id)
    values = {
        Field.UPDATE_STATUS: {"value": payloads.static_select_value("identified")},
        Field.UPDATE_MESSAGE: {"value": payloads.plain_text_value("Replica promoted")},
    }
    body = payloads.view_submission(
        user_id="UALICE",
        callback_id=Callback.UPDATE,
        values=values,
        view_id=view_id,
        private_metadata=json.dumps({"incident": incident.number}),
    )
    sent_at = int(
        time.time()
    )  # one request: the same timestamp and signature both times
    for retry in (None, 1):  # the same request again, as Slack retries it
        response = await bot.sender.send(
            body, content_type=FORM, retry_num=retry, timestamp=sent_at
        )
        assert response.status == 200
    await eventually(lambda: settled(bot))
    assert len(direct_messages(slack, "UBOB")) == 1


async def test_the_announcements_subscribe_button_subscribes_whoever_clicks(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    slack = slack_workspace
    incident = await declare(bot, slack)
    private = await declare(
        bot,
        slack,
        title="Leaked key",
        **{Field.PRIVATE: payloads.checkboxes_value(["private"])},
    )
    await eventually(lambda: settled(bot))
    announcements = slack.messages(INCIDENT_RESPONSE_CHANNEL_ID)
    public = next(m for m in announcements if "INCIDENT ALERT" in m.text)
    [button] = [
        e for b in public.blocks if b["type"] == "actions" for e in b["elements"]
    ]
    assert button["value"] == str(incident.number)
    # Of the private incident: no button, nothing but that it exists.
    hidden = next(m for m in announcements if private.key in m.text)
    assert not hidden.blocks
    body = payloads.block_actions(
        user_id="UDAVE",  # not in the incident's channel
        action_id=button["action_id"],
        value=button["value"],
        block_id=public.blocks[-1]["block_id"],
        channel_id=INCIDENT_RESPONSE_CHANNEL_ID,
        workspace=slack,
    )
    assert (await bot.sender.send(body, content_type=FORM)).status == 200
    await eventually(lambda: settled(bot))
    assert await bot.services.storage.subscribers(incident.number) == ["UDAVE"]
    await post_update(bot, slack, incident, "Replica promoted")
    await eventually(lambda: settled(bot))
    [dm] = direct_messages(slack, "UDAVE")
    assert "Replica promoted" in dm


async def test_someone_outside_the_channel_is_told_a_refusal_by_direct_message(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    """Slack shows a private message in a channel only to its members: a refusal for anyone else
    comes by direct message."""
    incident = await declare(bot, slack_workspace)
    await command_in(bot, incident, "subscribe <@UBOB|bob>", user="UDAVE")

    async def told() -> list[str]:
        return [
            t
            for t in direct_messages(slack_workspace, "UDAVE")
            if "Only the commander of INC-1 subscribes other people" in t
        ]

    assert await eventually(told)
    assert await bot.services.storage.subscribers(incident.number) == []
