"""An alert's buttons: Declare (the declare form, filled in from the alert; its submission is
handled with every declaration in handlers/listeners/incident_views.py) and Dismiss (a form asking
why, then the alert is dismissed)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.services import Services
from handlers.access import Allow
from handlers.blocks import incidents as blocks
from handlers.ids import Action, Callback, Field
from handlers.listeners.scenario_choices import scenario_choices
from handlers.middleware import journaled
from handlers.views import button_id, carried_id, open_for_click, submitted_value


async def handle_alert_declare_action(
    ack: AsyncAck,
    body: dict[str, Any],
    client: AsyncWebClient,
    inbox_key: str,
    services: Services,
) -> None:
    """An alert's Declare button: the declare form, filled in from the alert."""
    await ack()
    alert, scenario, severity = await services.alerts.for_declare(
        button_id(body, "alert button")
    )
    view = blocks.declare_modal(
        services.settings,
        title=alert.title,
        scenarios=scenario_choices(services),
        scenario=scenario,
        severity=severity,
        impact_started=alert.first_at,
        alert=alert.id,
    )
    await open_for_click(client, services, body, view=view, source=inbox_key)


async def handle_alert_dismiss_action(
    ack: AsyncAck,
    body: dict[str, Any],
    client: AsyncWebClient,
    inbox_key: str,
    services: Services,
) -> None:
    """An alert's Dismiss button: the form asking why."""
    await ack()
    alert = await services.alerts.get(button_id(body, "alert button"))
    await open_for_click(
        client,
        services,
        body,
        view=blocks.dismiss_modal(alert.id, alert.title),
        source=inbox_key,
    )


async def handle_alert_dismiss_submission(
    ack: AsyncAck, body: dict[str, Any], services: Services
) -> None:
    view = body["view"]
    reason = str(submitted_value(view["state"]["values"], Field.REASON) or "")

    if len(" ".join(reason.split())) < 3:
        await ack(response_action="errors", errors={Field.REASON: "Say why."})
        return
    alert_id = carried_id(view, "alert")
    if alert_id is None:
        await ack(
            response_action="errors",
            errors={Field.REASON: "This form is no longer valid; press Dismiss again."},
        )
        return
    await ack()
    await services.alerts.dismiss(
        alert_id=alert_id, actor=body["user"]["id"], reason=reason
    )


def register(app: AsyncApp) -> None:
    app.action(Action.ALERT_DECLARE)(
        journaled(
            handle_alert_declare_action, allow=Allow.RESPONDER, what="declare incidents"
        )
    )
    app.action(Action.ALERT_DISMISS)(
        journaled(
            handle_alert_dismiss_action, allow=Allow.RESPONDER, what="dismiss alerts"
        )
    )
    app.view(Callback.ALERT_DISMISS)(
        journaled(
            handle_alert_dismiss_submission,
            allow=Allow.RESPONDER,
            what="dismiss alerts",
        )
    )
