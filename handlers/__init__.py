"""The thin Slack adapter: middleware, the /incident router, actions, views, events, errors.

`register_all(app, services)` wires everything onto a Bolt `AsyncApp`. Handlers parse, call one
service, and render; they never import boto3, the PagerDuty client or sqlite_utils.
"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.services import Services
from handlers import commands, errors, middleware
from handlers.listeners import (
    alert_actions,
    events,
    incident_actions,
    incident_views,
    postmortem_actions,
    reminder_actions,
    runbook_actions,
    runbook_views,
    update_views,
)


def register_all(app: AsyncApp, services: Services) -> None:
    middleware.install(app, services, inline=events.inline_message)
    errors.register(app)
    # Bolt tries listeners in registration order: events, by far the most frequent request, go first.
    events.register(app)
    commands.register(app)
    incident_actions.register(app)
    alert_actions.register(app)
    incident_views.register(app)
    reminder_actions.register(app)
    update_views.register(app)
    runbook_actions.register(app)
    runbook_views.register(app)
    postmortem_actions.register(app)
