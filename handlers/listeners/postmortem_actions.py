"""After the incident, the buttons under a shared post-mortem draft and their forms: Complete the
post-mortem (its details: trigger, impact, resolution, root cause, contributing factors, review
meeting) and Add follow-up. Values are checked before the ack; a wrong one is shown on the form."""

from __future__ import annotations

from datetime import date
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.models.followups import FollowUpKind, Priority
from bot.services import Services
from bot.services.postmortem.facts import TRIGGERS
from handlers.access import Allow
from handlers.blocks import postmortem as blocks
from handlers.ids import Action, Callback, Field
from handlers.middleware import journaled
from handlers.views import button_id, carried_id, open_for_click, submitted_value

DETAIL_FIELDS = {
    "trigger": Field.TRIGGER,
    "impact": Field.IMPACT,
    "resolution": Field.RESOLUTION,
    "root_cause": Field.ROOT_CAUSE,
    "contributing_factors": Field.CONTRIBUTING,
    "review_meeting": Field.REVIEW_MEETING,
}


def due_date(value: Any) -> date | None:
    """A datepicker's `YYYY-MM-DD`, or None; anything else is a ValueError."""
    return date.fromisoformat(value) if value else None


async def handle_postmortem_edit_action(
    ack: AsyncAck,
    body: dict[str, Any],
    client: AsyncWebClient,
    inbox_key: str,
    services: Services,
) -> None:
    await ack()
    incident = await services.incidents.get(button_id(body))
    details = await services.postmortems.details(incident.number)
    await open_for_click(
        client,
        services,
        body,
        view=blocks.details_modal(incident, details),
        source=inbox_key,
    )


async def handle_followup_add_action(
    ack: AsyncAck,
    body: dict[str, Any],
    client: AsyncWebClient,
    inbox_key: str,
    services: Services,
) -> None:
    await ack()
    incident = await services.incidents.get(button_id(body))
    await open_for_click(
        client, services, body, view=blocks.followup_modal(incident), source=inbox_key
    )


async def handle_details_submission(
    ack: AsyncAck, body: dict[str, Any], inbox_key: str, services: Services
) -> None:
    view = body["view"]
    values = view["state"]["values"]
    given = {k: str(submitted_value(values, f) or "") for k, f in DETAIL_FIELDS.items()}
    errors: dict[str, str] = {}
    if given["trigger"] and given["trigger"] not in TRIGGERS:
        errors[Field.TRIGGER] = "Choose one of the list."
    if given["review_meeting"]:
        try:
            due_date(given["review_meeting"])
        except ValueError:
            errors[Field.REVIEW_MEETING] = "Pick a date."
    number = carried_id(view, "incident")
    if number is None:
        errors[Field.IMPACT] = "This form is no longer valid; open it again."
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    await ack()
    assert number is not None
    await services.postmortems.write_details(
        number=number, details=given, actor=body["user"]["id"], source=inbox_key
    )


async def handle_followup_submission(
    ack: AsyncAck, body: dict[str, Any], inbox_key: str, services: Services
) -> None:
    view = body["view"]
    values = view["state"]["values"]
    text = " ".join(str(submitted_value(values, Field.FOLLOWUP_TEXT) or "").split())
    kind = submitted_value(values, Field.FOLLOWUP_KIND)
    priority = submitted_value(values, Field.FOLLOWUP_PRIORITY) or Priority.MEDIUM.value
    errors: dict[str, str] = {}
    if len(text) < 3:
        errors[Field.FOLLOWUP_TEXT] = "Say what is to be done."
    if kind and kind not in {k.value for k in FollowUpKind}:
        errors[Field.FOLLOWUP_KIND] = "Choose one of the list."
    if priority not in {p.value for p in Priority}:
        errors[Field.FOLLOWUP_PRIORITY] = "Choose one of the list."
    try:
        due = due_date(submitted_value(values, Field.FOLLOWUP_DUE))
    except (TypeError, ValueError):
        due, errors[Field.FOLLOWUP_DUE] = None, "Pick a date."
    if due is not None and due < services.clock().date():
        errors[Field.FOLLOWUP_DUE] = "That day has passed."
    number = carried_id(view, "incident")
    if number is None:
        errors[Field.FOLLOWUP_TEXT] = "This form is no longer valid; open it again."
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    await ack()
    assert number is not None
    owner = submitted_value(values, Field.FOLLOWUP_OWNER)
    await services.followups.add(
        number=number,
        text=text,
        kind=FollowUpKind(kind) if kind else None,
        priority=Priority(priority),
        owner=str(owner) if owner else None,
        due=due,
        actor=body["user"]["id"],
        source=inbox_key,
    )


def register(app: AsyncApp) -> None:
    what = "write the post-mortem"
    app.action(Action.POSTMORTEM_EDIT)(
        journaled(handle_postmortem_edit_action, allow=Allow.RESPONDER, what=what)
    )
    app.view(Callback.POSTMORTEM_DETAILS)(
        journaled(handle_details_submission, allow=Allow.RESPONDER, what=what)
    )
    what = "add follow-ups"
    app.action(Action.FOLLOWUP_ADD)(
        journaled(handle_followup_add_action, allow=Allow.RESPONDER, what=what)
    )
    app.view(Callback.FOLLOWUP)(
        journaled(handle_followup_submission, allow=Allow.RESPONDER, what=what)
    )
