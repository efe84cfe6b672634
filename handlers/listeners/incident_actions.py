"""Incident-card buttons: set status, resolve (opens the form), show the timeline; the
announcement's Subscribe; and App Home's Declare."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import UsageError
from bot.models.incidents import Status
from bot.services import Services
from handlers.access import Allow
from handlers.blocks import incidents as blocks
from handlers.ids import Action
from handlers.listeners.scenario_choices import scenario_choices
from handlers.middleware import journaled
from handlers.views import button_id, open_for_click


async def handle_card_status_action(
    ack: AsyncAck,
    body: dict[str, Any],
    client: AsyncWebClient,
    inbox_key: str,
    services: Services,
) -> None:
    await ack()
    action = body["actions"][0]
    number = int(action["block_id"].removeprefix("card-"))
    try:
        status = Status((action.get("selected_option") or {}).get("value", ""))
    except ValueError:
        raise UsageError("Unknown status.") from None
    await services.incidents.set_status(
        number=number,
        status=status,
        actor=body["user"]["id"],
        source=inbox_key,
    )


async def handle_card_resolve_action(
    ack: AsyncAck,
    body: dict[str, Any],
    client: AsyncWebClient,
    inbox_key: str,
    services: Services,
) -> None:
    await ack()
    incident = await services.incidents.get(button_id(body))
    await open_for_click(
        client, services, body, view=blocks.resolve_modal(incident), source=inbox_key
    )


async def handle_card_timeline_action(
    ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, services: Services
) -> None:
    await ack()
    entries = await services.incidents.timeline(number=button_id(body), last=15)
    text = blocks.timeline_text(entries)
    # The click's response_url reaches the person who clicked, member of the channel or not.
    await respond(
        text=blocks.cut(text, 3000),
        blocks=blocks.text_section(text),
        response_type="ephemeral",
        replace_original=False,
    )


async def handle_announcement_subscribe_action(
    ack: AsyncAck,
    body: dict[str, Any],
    respond: AsyncRespond,
    inbox_key: str,
    services: Services,
) -> None:
    """The announcement's Subscribe button: the clicker gets the updates by direct message."""
    await ack()
    number, user = button_id(body), body["user"]["id"]
    incident = await services.incidents.get(number)
    if incident.private:  # its announcement has no button: a forged click
        raise UsageError(f"{incident.key} is private: subscribe from its channel.")
    added = await services.subscriptions.subscribe(
        number=number, actor=user, people=[], source=inbox_key
    )
    await respond(
        text=(
            f"Subscribed: you will get {incident.key}'s status updates and resolution by"
            " direct message (`/incident unsubscribe` in its channel stops them)."
            if added
            else f"You are subscribed to {incident.key} already."
        ),
        response_type="ephemeral",
        replace_original=False,
    )


async def handle_home_declare_action(
    ack: AsyncAck,
    body: dict[str, Any],
    client: AsyncWebClient,
    inbox_key: str,
    services: Services,
) -> None:
    await ack()
    view = blocks.declare_modal(services.settings, scenarios=scenario_choices(services))
    await open_for_click(client, services, body, view=view, source=inbox_key)


async def handle_link_action(ack: AsyncAck) -> None:
    await ack()  # a URL button: Slack opens the link; there is nothing to do


def register(app: AsyncApp) -> None:
    app.action(Action.CARD_STATUS)(
        journaled(
            handle_card_status_action, allow=Allow.RESPONDER, what="change an incident"
        )
    )
    app.action(Action.CARD_RESOLVE)(
        journaled(
            handle_card_resolve_action, allow=Allow.RESPONDER, what="change an incident"
        )
    )
    app.action(Action.CARD_TIMELINE)(
        journaled(handle_card_timeline_action, allow=Allow.ANYONE)
    )
    app.action(Action.ANNOUNCEMENT_SUBSCRIBE)(
        journaled(handle_announcement_subscribe_action, allow=Allow.ANYONE)
    )
    app.action(Action.HOME_DECLARE)(
        journaled(
            handle_home_declare_action, allow=Allow.RESPONDER, what="declare incidents"
        )
    )
    app.action(Action.CARD_WAR_ROOM)(journaled(handle_link_action, allow=Allow.ANYONE))
