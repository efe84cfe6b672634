"""Composition root: builds the services, the Bolt app and the aiohttp server, and runs their lifecycle.

`build_services` wires storage, outbox and domain services; `create_app` builds the Bolt `AsyncApp`;
`create_web_app` serves Slack's endpoint (HTTP mode), `/healthz` and `/readyz` on one aiohttp app,
whose cleanup context opens the database, takes the run lease, replays unfinished inbox rows,
drains the outbox, and on SIGTERM stops taking work and drains before exiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import uuid
import weakref
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot import boltfix, metrics
from bot.config import Settings
from bot.errors import ConfigError
from bot.models import Clock, utcnow
from bot.scenarios import Kind, load_all
from bot.services import Services
from bot.services.approval_watch import WatchingAnnouncer
from bot.services.aws import AwsGateway
from bot.services.communications import build_communications
from bot.services.incidents import IncidentService
from bot.services.outbox import Outbox
from bot.services.postmortem import PostmortemService
from bot.services.runbooks import RunbookService
from bot.storage import Storage
from handlers import register_all
from handlers.announcer import SlackAnnouncer
from handlers.identity import BotIdentity
from handlers.middleware import REPLAY
from handlers.pagerduty_webhook import pagerduty_webhook
from handlers.paging_port import SlackCommsPort
from handlers.permissions import SlackAuthoriser
from handlers.postmortem_upload import SlackPostmortemPublisher
from handlers.runbook_announcer import SlackRunbookAnnouncer

log = logging.getLogger("warroom")
# The Bolt app's Slack identity, learned in the background by the lifecycle (see handlers/identity.py).
_IDENTITIES: weakref.WeakKeyDictionary[AsyncApp, BotIdentity] = (
    weakref.WeakKeyDictionary()
)
SERVICES = web.AppKey("services", Services)
BOLT = web.AppKey("bolt", AsyncApp)
STATE = web.AppKey("state", dict)
LEASE_STALE_S = 30.0
HEARTBEAT_S = 5.0


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

    outbox = Outbox(storage=storage, client=client, clock=clock,
                    incident_fields=incident_fields, backoff_base=backoff_base)  # fmt: skip
    announcer = SlackAnnouncer(outbox=outbox, settings=settings)
    incidents = IncidentService(
        storage=storage, settings=settings, clock=clock, announcer=announcer
    )
    announcer.bind(incidents)
    port = SlackCommsPort(outbox=outbox, client=client, settings=settings)
    comms = build_communications(settings=settings, storage=storage, clock=clock, incidents=incidents,
                                 port=port, backoff_scale=backoff_base)  # fmt: skip
    scenarios = load_all()
    authoriser = SlackAuthoriser(client=client, settings=settings)
    runbooks = RunbookService(
        storage=storage, settings=settings, clock=clock, scenarios=scenarios, gateway=AwsGateway(),
        authoriser=authoriser,
        announcer=WatchingAnnouncer(SlackRunbookAnnouncer(outbox=outbox, storage=storage), comms.reminders),
    )  # fmt: skip
    incident_scenarios = {k: s for k, s in scenarios.items() if s.kind is Kind.INCIDENT}
    publisher = SlackPostmortemPublisher(client=client, outbox=outbox,
                                         backoff_base=backoff_base)  # fmt: skip
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
    app = AsyncApp(client=client, authorize=identity.authorizer(),
                   signing_secret=secret or "socket-mode-has-no-signing-secret",
                   request_verification_enabled=secret is not None, process_before_response=False)  # fmt: skip
    _IDENTITIES[app] = identity
    register_all(app, services)
    return app


async def handle_slack(request: web.Request) -> web.Response:
    bolt = request.app[BOLT]
    if request.app[STATE].get("stopping"):
        return web.Response(
            status=503, text="shutting down", headers={"X-Slack-No-Retry": "0"}
        )
    bolt_request = await to_bolt_request(request)
    return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))


async def handle_healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def handle_readyz(request: web.Request) -> web.Response:
    """Ready when the bot can do its own work; Slack's state is reported, not fatal."""
    services, state = request.app[SERVICES], request.app[STATE]
    loop = asyncio.get_running_loop()
    lag = loop.time() - state.get("tick", loop.time())
    try:
        database = await asyncio.wait_for(services.storage.ping(), timeout=2)
    except (TimeoutError, Exception):  # any failure of the database means not ready
        database = False
    counts = await services.storage.outbox_counts() if database else {}
    slack = "degraded" if counts.get("dead") or services.outbox.last_error else "ok"
    ready = database and lag < 5 and not state.get("stopping")
    body = {"ready": ready, "database": database, "event_loop_lag_s": round(lag, 3), "slack": slack,
            "outbox_pending": counts.get("pending", 0), "outbox_dead": counts.get("dead", 0)}  # fmt: skip
    body["pagerduty"] = services.comms.pager_state()
    return web.json_response(body, status=200 if ready else 503)


async def handle_metrics(request: web.Request) -> web.Response:
    """Prometheus exposition: counters as they happened, stored state as it is now."""
    services, state = request.app[SERVICES], request.app[STATE]

    async def refresh() -> None:
        loop = asyncio.get_running_loop()
        metrics.EVENT_LOOP_LAG.set(loop.time() - state.get("tick", loop.time()))
        oldest = await services.storage.inbox_oldest_pending()
        metrics.INBOX_LAG.set(
            (services.clock() - oldest).total_seconds() if oldest else 0
        )
        outbox = await services.storage.outbox_by_channel()
        metrics.set_labelled(metrics.OUTBOX_DEPTH, outbox.get("pending", {}))
        metrics.set_labelled(metrics.OUTBOX_DEAD, outbox.get("dead", {}))
        metrics.set_labelled(
            metrics.STEP_RUNS, await services.storage.step_run_states()
        )

    body, content_type = await metrics.render(refresh)
    return web.Response(body=body, headers={"Content-Type": content_type})


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
    web_app.cleanup_ctx.append(_lifecycle)
    return web_app


async def _lifecycle(web_app: web.Application) -> AsyncIterator[None]:
    services, bolt, state = web_app[SERVICES], web_app[BOLT], web_app[STATE]
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    await services.storage.open()
    holder = await services.storage.take_lease(
        owner=owner, now=services.clock(), stale_after_s=LEASE_STALE_S
    )
    if holder is not None and not _dead_local(holder):
        await services.storage.close()
        raise ConfigError(
            [
                f"another warroom is running on {services.settings.database_path} ({holder})"
            ]
        )
    if holder is not None:
        await services.storage.take_lease(
            owner=owner, now=services.clock(), stale_after_s=0
        )
    stop = asyncio.Event()
    tasks: list[asyncio.Task[Any]] = [asyncio.create_task(services.outbox.run(stop), name="outbox"),
             asyncio.create_task(_heartbeat(services, owner, state, stop), name="heartbeat")]  # fmt: skip
    tasks += await services.comms.start(stop)
    await services.runbooks.recover()
    await services.postmortems.recover()  # automatic drafts a restart interrupted
    identity = _IDENTITIES.get(bolt)
    if identity is not None:
        tasks.append(
            asyncio.create_task(identity.learn(services.outbox.client), name="identity")
        )
    await replay_inbox(services, bolt)
    log.info("warroom ready (database %s)", services.settings.database_path)
    try:
        yield
    finally:
        state["stopping"] = True
        await services.postmortems.wait_idle(
            within=services.settings.shutdown_drain_seconds
        )
        await services.runbooks.drain(services.settings.shutdown_drain_seconds)
        await _drain(services)
        stop.set()
        for task in tasks:
            if task.get_name() == "identity":
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await services.comms.aclose()
        await services.storage.release_lease(owner=owner)
        await services.storage.close()
        log.info("warroom stopped")


async def replay_inbox(services: Services, bolt: AsyncApp) -> int:
    """Run again every request journaled but not finished by a previous process (it crashed)."""
    rows = await services.storage.inbox_pending()
    for row in rows:
        log.warning("replaying unfinished %s request %s", row["kind"], row["key"])
        request = AsyncBoltRequest(body=row["body"], mode="socket_mode",
                                   context={REPLAY: row["id"], "inbox_key": row["key"]})  # fmt: skip
        await bolt.async_dispatch(request)
    return len(rows)


async def _drain(services: Services) -> None:
    """Give in-flight work and queued Slack posts a bounded time to finish."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + services.settings.shutdown_drain_seconds
    while loop.time() < deadline:
        pending = await services.storage.inbox_pending()
        counts = await services.storage.outbox_counts()
        if not pending and not counts.get("pending"):
            return
        await asyncio.sleep(0.1)
    log.warning("shutdown drain timed out; unfinished work resumes at the next start")


async def _heartbeat(
    services: Services, owner: str, state: dict[str, float], stop: asyncio.Event
) -> None:
    loop = asyncio.get_running_loop()
    beats = 0
    while not stop.is_set():
        state["tick"] = loop.time()
        if beats % int(HEARTBEAT_S) == 0:
            await services.storage.take_lease(
                owner=owner, now=services.clock(), stale_after_s=LEASE_STALE_S
            )
            retention = timedelta(days=services.settings.journal_retention_days)
            if beats % 3600 == 0:
                await services.storage.prune_journal(
                    before=services.clock() - retention
                )
        beats += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)


def _dead_local(holder: str) -> bool:
    """A lease held by a process of this host that no longer exists (killed) may be taken over."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def dumps_settings(settings: Settings) -> str:
    """Settings as JSON with secrets masked (for `warroom check --show`)."""
    return json.dumps(json.loads(settings.model_dump_json()), indent=2, default=str)
