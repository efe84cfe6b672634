"""Composition root: builds the services, the Bolt app and the aiohttp server.

`build_services` wires storage, outbox and domain services; `create_app` builds the Bolt `AsyncApp`;
`create_web_app` mounts Slack's endpoint (HTTP mode), `/healthz`, `/readyz` and `/metrics` on one
aiohttp app with the lifecycle as its cleanup context. The routes and the lifecycle are `bot/web.py`.
"""

from __future__ import annotations

import json

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.gateways.aws.gateway import AwsGateway
from bot.gateways.slack.outbox import Outbox
from bot.models.incidents import Clock, utcnow
from bot.scenarios.schema import Kind, load_all
from bot.services import Services
from bot.services.communications import build_communications
from bot.services.incidents.service import IncidentService
from bot.services.postmortem.service import PostmortemService
from bot.services.runbooks.approval_watch import WatchingAnnouncer
from bot.services.runbooks.service import RunbookService
from bot.storage import Storage
from bot.web import (
    BOLT,
    IDENTITIES,
    SERVICES,
    STATE,
    handle_healthz,
    handle_metrics,
    handle_readyz,
    handle_slack,
    lifecycle,
)
from handlers import boltfix, register_all
from handlers.identity import BotIdentity
from handlers.listeners.pagerduty_webhook import pagerduty_webhook
from handlers.outbound.announcer import SlackAnnouncer
from handlers.outbound.authoriser import SlackAuthoriser
from handlers.outbound.comms import SlackCommsPort
from handlers.outbound.postmortem_publisher import SlackPostmortemPublisher
from handlers.outbound.runbook_announcer import SlackRunbookAnnouncer


def slack_client(settings: Settings) -> AsyncWebClient:
    token = (
        settings.slack_bot_token.get_secret_value()
        if settings.slack_bot_token
        else None
    )
    return AsyncWebClient(token=token, base_url=settings.slack_api_url, timeout=10)


def build_services(
    settings: Settings,
    *,
    clock: Clock = utcnow,
    client: AsyncWebClient | None = None,
    backoff_base: float = 1.0,
) -> Services:
    """Wire storage, the outbox and the domain services (nothing is opened yet)."""
    storage = Storage(settings.database_path)
    client = client or slack_client(
        settings
    )  # one Web API client for every outbound caller

    async def incident_fields(number: int) -> dict[str, str | None]:
        incident = await storage.get_incident(number)
        if incident is None:
            return {}
        cards: dict[str, str | None] = dict(await storage.card_timestamps(number))
        return {"channel": incident.channel_id, "card_ts": incident.card_ts, **cards}

    outbox = Outbox(
        storage=storage,
        client=client,
        clock=clock,
        incident_fields=incident_fields,
        backoff_base=backoff_base,
    )
    announcer = SlackAnnouncer(outbox=outbox, settings=settings)
    incidents = IncidentService(
        storage=storage, settings=settings, clock=clock, announcer=announcer
    )
    announcer.bind(incidents)
    port = SlackCommsPort(outbox=outbox, client=client, settings=settings)
    comms = build_communications(
        settings=settings,
        storage=storage,
        clock=clock,
        incidents=incidents,
        port=port,
        backoff_scale=backoff_base,
    )
    scenarios = load_all()
    authoriser = SlackAuthoriser(client=client, settings=settings)
    runbooks = RunbookService(
        storage=storage,
        settings=settings,
        clock=clock,
        scenarios=scenarios,
        gateway=AwsGateway(),
        authoriser=authoriser,
        announcer=WatchingAnnouncer(
            SlackRunbookAnnouncer(outbox=outbox, storage=storage), comms.reminders
        ),
    )
    incident_scenarios = {k: s for k, s in scenarios.items() if s.kind is Kind.INCIDENT}
    publisher = SlackPostmortemPublisher(
        client=client, outbox=outbox, backoff_base=backoff_base
    )
    postmortems = PostmortemService(
        storage=storage, settings=settings, clock=clock, publisher=publisher
    )
    publisher.bind(postmortems)
    return Services(
        settings=settings,
        storage=storage,
        clock=clock,
        outbox=outbox,
        incidents=incidents,
        comms=comms,
        runbooks=runbooks,
        postmortems=postmortems,
        authoriser=authoriser,
        scenario_titles={k: s.title for k, s in incident_scenarios.items()},
        private_scenarios=frozenset(
            k for k, s in incident_scenarios.items() if s.private
        ),
    )


def create_app(settings: Settings, services: Services) -> AsyncApp:
    """The Bolt app with every listener registered; HTTP mode verifies signatures, Socket Mode does not need to."""
    boltfix.apply()
    secret = (
        settings.slack_signing_secret.get_secret_value()
        if settings.slack_signing_secret
        else None
    )
    identity = BotIdentity(
        settings.slack_bot_token.get_secret_value()
        if settings.slack_bot_token
        else None
    )
    client = AsyncWebClient(
        base_url=settings.slack_api_url, timeout=10
    )  # the token comes from `authorize`
    app = AsyncApp(
        client=client,
        authorize=identity.authorizer(),
        signing_secret=secret or "socket-mode-has-no-signing-secret",
        request_verification_enabled=secret is not None,
        process_before_response=False,
    )
    IDENTITIES[app] = identity
    register_all(app, services)
    return app


def create_web_app(
    settings: Settings, services: Services, bolt: AsyncApp, *, socket_mode: bool = False
) -> web.Application:
    web_app = web.Application()
    web_app[SERVICES], web_app[BOLT], web_app[STATE] = services, bolt, {}
    if not socket_mode:
        web_app.router.add_post("/slack/events", handle_slack)
    if not socket_mode and settings.pagerduty_webhook_secret is not None:
        web_app.router.add_post("/pagerduty/webhook", pagerduty_webhook(services))
    web_app.router.add_get("/healthz", handle_healthz)
    web_app.router.add_get("/readyz", handle_readyz)
    web_app.router.add_get("/metrics", handle_metrics)
    web_app.cleanup_ctx.append(lifecycle)
    return web_app


def dumps_settings(settings: Settings) -> str:
    """Settings as JSON with secrets masked (for `warroom check --show`)."""
    return json.dumps(json.loads(settings.model_dump_json()), indent=2, default=str)
