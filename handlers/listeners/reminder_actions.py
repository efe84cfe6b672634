"""Buttons on status-update reminders: Snooze (pushes the reminder back) and Post update (opens the form)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import ConflictError, UsageError
from bot.services import Services
from handlers.access import Allow
from handlers.blocks import incidents as blocks
from handlers.blocks import paging as paging_blocks
from handlers.ids import Action
from handlers.middleware import journaled
from handlers.views import open_for_click


def _button(body: dict[str, Any]) -> paging_blocks.ReminderButton:
    try:
        return paging_blocks.ReminderButton.model_validate_json(
            body["actions"][0].get("value") or ""
        )
    except ValidationError:
        raise UsageError("This reminder's button is no longer valid.") from None


async def handle_reminder_snooze_action(
    ack: AsyncAck,
    body: dict[str, Any],
    client: AsyncWebClient,
    inbox_key: str,
    services: Services,
) -> None:
    await ack()
    button = _button(body)
    due = await services.comms.reminders.snooze(
        number=button.incident,
        minutes=button.minutes,
        actor=body["user"]["id"],
        source=inbox_key,
    )
    channel = (body.get("channel") or {}).get("id") or body["user"]["id"]
    await client.chat_postEphemeral(
        channel=channel,
        user=body["user"]["id"],
        text=f"Snoozed until {blocks.stamp(due, services.settings.zone)}.",
    )


async def handle_reminder_update_action(
    ack: AsyncAck,
    body: dict[str, Any],
    client: AsyncWebClient,
    inbox_key: str,
    services: Services,
) -> None:
    await ack()
    incident = await services.incidents.get(_button(body).incident)
    if not incident.is_open:
        raise ConflictError(f"{incident.key} is resolved.")
    minutes = services.comms.reminders.update_minutes(incident)
    view = paging_blocks.update_modal(
        incident, now=services.clock(), minutes=minutes, zone=services.settings.zone
    )
    await open_for_click(client, services, body, view=view, source=inbox_key)


def register(app: AsyncApp) -> None:
    app.action(Action.REMINDER_SNOOZE)(
        journaled(
            handle_reminder_snooze_action,
            allow=Allow.RESPONDER,
            what="snooze the reminder",
        )
    )
    app.action(Action.REMINDER_UPDATE)(
        journaled(
            handle_reminder_update_action,
            allow=Allow.RESPONDER,
            what="post status updates",
        )
    )
