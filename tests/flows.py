"""Test helpers that drive whole user flows through signed HTTP, as a person in Slack would."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from bot.gateways.slack.outbox import ANNOUNCEMENT_KEY
from bot.models.incidents import Incident
from bot.sandbox import payloads
from bot.sandbox.slack.workspace import SlackWorkspace
from handlers.ids import Callback, Field
from tests.plugins.bot import RunningBot


async def eventually(
    check: Callable[[], Awaitable[Any]], *, within: float = 60.0
) -> Any:
    """Poll `check` until it returns something truthy; fail with its last value. The deadline is
    for a test that is stuck, not a timing claim: the suite must pass with the machine busy."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"condition not met within {within}s (last value: {value!r})"
            )
        await asyncio.sleep(0.02)


def declare_values(
    title: str = "Database connection errors",
    severity: str = "SEV1",
    **extra: dict[str, Any],
) -> dict[str, dict[str, dict[str, Any]]]:
    values = {
        Field.TITLE: {"value": payloads.plain_text_value(title)},
        Field.SEVERITY: {"value": payloads.static_select_value(severity)},
    }
    return {**values, **{k: {"value": v} for k, v in extra.items()}}


async def open_view(
    bot: RunningBot, slack: SlackWorkspace, text: str, user: str = "UALICE", **kw: Any
) -> str:
    """Send `/incident <text>` and return the id of the modal it opened."""
    before = len(slack.calls_to("views.open"))
    response = await bot.sender.command(text, user_id=user, **kw)
    assert response.status == 200, response.text
    await slack.wait_for(
        "views.open", lambda c: len(slack.calls_to("views.open")) > before
    )
    call = slack.calls_to("views.open")[before]
    assert call.response is not None
    assert call.response["ok"], call.response
    return str(call.response["view"]["id"])


async def declare(
    bot: RunningBot,
    slack: SlackWorkspace,
    *,
    user: str = "UALICE",
    title: str = "Database connection errors",
    severity: str = "SEV1",
    **extra: dict[str, Any],
) -> Incident:
    """Declare through the modal and wait until the incident's channel exists, its card is pinned,
    the declarer is in it and the Initial Notification is posted there and in the announcement
    channel."""
    view_id = await open_view(bot, slack, f"declare {title}", user)
    response = await bot.sender.submit_view(
        callback_id=Callback.DECLARE,
        values=declare_values(title, severity, **extra),
        view_id=view_id,
        user_id=user,
    )
    assert response.status == 200, response.text
    assert response.text == "", response.text

    async def ready() -> Incident | None:
        incidents = await bot.services.storage.incidents()
        newest = incidents[0] if incidents else None
        return newest if newest and newest.channel_id and newest.card_ts else None

    incident = await eventually(ready)
    await slack.wait_for(
        "pins.add", lambda c: c.args.get("channel") == incident.channel_id
    )

    async def announced() -> bool:  # the lanes run on their own: wait for these too
        keys = {
            f"inc-{incident.number}:{k}"
            for k in (ANNOUNCEMENT_KEY, "initial", f"invite:{user}")
        }
        sent = {
            r.dedup_key for r in await bot.services.storage.outbox_rows(status="sent")
        }
        return keys <= sent

    await eventually(announced)
    return incident


async def command_in(
    bot: RunningBot, incident: Incident, text: str, user: str = "UALICE"
) -> Any:
    assert incident.channel_id
    response = await bot.sender.command(
        text, user_id=user, channel_id=incident.channel_id
    )
    assert response.status == 200, response.text
    return response


def parsed_by_slack(slack: SlackWorkspace) -> list[str]:
    """Every string the bot sent that Slack parses for mentions and links: messages' `text`,
    topics and purposes, and `mrkdwn` text objects (plain_text is shown as typed)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str):
                found.append(value["text"])
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for call in slack.calls:
        for key in ("text", "topic", "purpose"):
            if isinstance(call.args.get(key), str):
                found.append(call.args[key])
        walk(call.args.get("blocks"))
        walk(call.args.get("view"))
    return found


async def resolve(
    bot: RunningBot,
    slack: SlackWorkspace,
    incident: Incident,
    *,
    summary: str = "Failed over",
    root_cause: str = "Disk full",
    **extra: dict[str, Any],
) -> None:
    """Resolve through the form `/incident resolve` opens, as the commander would (`extra`: more
    of the form's values by block id)."""
    view_id = await open_view(bot, slack, "resolve", channel_id=incident.channel_id)
    response = await bot.sender.submit_view(
        callback_id=Callback.RESOLVE,
        view_id=view_id,
        private_metadata=slack.views[view_id].payload["private_metadata"],
        values={
            Field.SUMMARY: {"value": payloads.plain_text_value(summary)},
            Field.ROOT_CAUSE: {"value": payloads.plain_text_value(root_cause)},
            **{k: {"value": v} for k, v in extra.items()},
        },
    )
    assert response.status == 200
    assert response.text == "", response.text
