"""The aiohttp side of the composition root: Slack's endpoint, health, readiness, metrics, and the lifecycle.

Owns the app keys (`SERVICES`, `BOLT`, `STATE`), the route handlers that `bot.app.create_web_app`
mounts (`/slack/events` in HTTP mode, `/healthz`, `/readyz`, `/metrics`), and `lifecycle`, the
cleanup context that opens the database, takes the run lease, replays unfinished inbox rows,
drains the outbox, and on SIGTERM stops taking work and drains before exiting. `/slack/events` is
where raw bytes from the network become a Bolt request: a signed body that is not what Slack sends
(not UTF-8, not JSON where JSON is expected) is answered 400 with a short reason and recorded nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import socket
import time
import uuid
import weakref
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp

from bot import metrics
from bot.errors import ConfigError, DatabaseUnusable, UsageError
from bot.services import Services
from handlers import boltfix
from handlers.identity import BotIdentity
from handlers.middleware import REPLAY

log = logging.getLogger("warroom")
# The Bolt app's Slack identity, learned in the background by the lifecycle (see handlers/identity.py).
IDENTITIES: weakref.WeakKeyDictionary[AsyncApp, BotIdentity] = (
    weakref.WeakKeyDictionary()
)
SERVICES = web.AppKey("services", Services)
BOLT = web.AppKey("bolt", AsyncApp)
STATE = web.AppKey("state", dict)
LEASE_STALE_S = 30.0
SIGNATURE_MAX_AGE_S = 300  # Slack's and Bolt's window for a request's timestamp
HEARTBEAT_S = 5.0


async def handle_slack(request: web.Request) -> web.Response:
    bolt = request.app[BOLT]
    if request.app[STATE].get("stopping"):
        return web.Response(
            status=503, text="shutting down", headers={"X-Slack-No-Retry": "0"}
        )
    raw = await request.read()
    try:
        # Slack sends UTF-8 whatever the Content-Type says.
        bolt_request = boltfix.bolt_request(
            raw.decode("utf-8"), query=request.query_string, headers=request.headers
        )
    except UnicodeDecodeError:
        return _malformed(request, raw, "malformed request: the body is not UTF-8")
    except UsageError as exc:
        return _malformed(request, raw, exc.message)
    return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))


def _malformed(request: web.Request, raw: bytes, reason: str) -> web.Response:
    """400 with `reason` for a body Slack signed but would never send; 401 when it is not signed."""
    secret = request.app[SERVICES].settings.slack_signing_secret
    if secret is not None and not _signed(secret.get_secret_value(), raw, request):
        return web.json_response({"error": "invalid request"}, status=401)
    log.info("refused a signed request: %s", reason)
    return web.json_response({"error": reason}, status=400)


def _signed(secret: str, raw: bytes, request: web.Request) -> bool:
    """Slack's v0 signature over the raw bytes, as Bolt checks it for bodies it can parse.

    slack_sdk's verifier decodes the body as UTF-8 first, so it cannot judge a body that is not.
    """
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    if (
        not timestamp.isdigit()
        or abs(time.time() - int(timestamp)) > SIGNATURE_MAX_AGE_S
    ):
        return False
    base = f"v0:{timestamp}:".encode() + raw
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


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
    body = {
        "ready": ready,
        "database": database,
        "event_loop_lag_s": round(lag, 3),
        "slack": slack,
        "outbox_pending": counts.get("pending", 0),
        "outbox_dead": counts.get("dead", 0),
    }
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


async def lifecycle(web_app: web.Application) -> AsyncIterator[None]:
    """Start: open the database (a damaged one, or one a newer warroom wrote, is refused with
    `DatabaseUnusable` before anything is written), take the lease, resume; stop: drain, release."""
    services, bolt, state = web_app[SERVICES], web_app[BOLT], web_app[STATE]
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    try:
        await services.storage.open()
    except DatabaseUnusable:
        await services.storage.close()  # its writer thread; the file was never written
        raise
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
    tasks: list[asyncio.Task[Any]] = [
        asyncio.create_task(services.outbox.run(stop), name="outbox"),
        asyncio.create_task(_heartbeat(services, owner, state, stop), name="heartbeat"),
    ]
    tasks += await services.comms.start(stop)
    await services.runbooks.recover()
    await services.postmortems.recover()  # automatic drafts a restart interrupted
    identity = IDENTITIES.get(bolt)
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
        try:
            request = boltfix.bolt_request(
                row["body"],
                mode="socket_mode",
                context={REPLAY: row["id"], "inbox_key": row["key"]},
            )
        # journaled before bodies were checked (an older version): it can never run
        except UsageError as exc:
            log.warning("request %s cannot be replayed: %s", row["key"], exc.message)
            await services.storage.inbox_finish(
                row["id"], now=services.clock(), error="malformed"
            )
            continue
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
