"""The aiohttp side of the composition root: Slack's endpoint, health, readiness, metrics, and the lifecycle.

Owns the app keys (`SERVICES`, `BOLT`, `STATE`), the route handlers that `bot.app.create_web_app`
mounts (`/slack/events` in HTTP mode, `/healthz`, `/readyz`, `/metrics`, `/status`), and `lifecycle`, the
cleanup context that opens the database, takes the run lease, replays unfinished inbox rows,
reads the open incidents' channels back from Slack, drains the outbox, backs the database up on
schedule (with WARROOM_BACKUP_URL), and on SIGTERM stops taking work and drains before exiting. `/slack/events` is
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
import signal
import sqlite3
import tempfile
import time
import weakref
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp

from bot import metrics
from bot.errors import ConfigError, DatabaseUnusable, LeaseLost, UsageError
from bot.services import Services
from bot.services.statuspage.render import FILES
from bot.storage import Holder
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
SIGNATURE_MAX_AGE_S = 300  # Slack's and Bolt's window for a request's timestamp
HEARTBEAT_S = 5.0
EXIT_LEASE_LOST = 3


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


async def handle_status(request: web.Request) -> web.StreamResponse:
    """The public status page, when it is kept locally (`WARROOM_STATUS_URL` a directory): its
    three files and nothing else from that directory."""
    name = request.match_info.get("name", "index.html")
    directory = request.app[SERVICES].status_page.sink.directory
    path = directory / name if directory is not None and name in FILES else None
    if path is None:
        raise web.HTTPNotFound()
    if not path.is_file():
        return web.Response(
            status=503, text="The status page has not been published yet."
        )
    # FileResponse sends it off the event loop: the page is read most during an outage.
    return web.FileResponse(
        path, headers={"Content-Type": FILES[name], "Cache-Control": "max-age=30"}
    )


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
    damaged = state.get("integrity") or []
    counts = await services.storage.outbox_counts() if database else {}
    slack = "degraded" if counts.get("dead") or services.outbox.last_error else "ok"
    ready = database and not damaged and lag < 5 and not state.get("stopping")
    body = {
        "ready": ready,
        "database": database,
        "database_integrity": damaged[0] if damaged else "ok",
        "event_loop_lag_s": round(lag, 3),
        "slack": slack,
        "outbox_pending": counts.get("pending", 0),
        "outbox_dead": counts.get("dead", 0),
    }
    body["pagerduty"] = services.comms.pager_state()
    body["backup_age_s"] = _backup_age(state)
    body["status_page"] = "failing" if services.status_page.last_error else "ok"
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
        age = _backup_age(state)
        metrics.BACKUP_AGE.set(age if age is not None else 0)
        metrics.BACKUP_INTERVAL.set(state.get("backup_every", 0))

    body, content_type = await metrics.render(refresh)
    return web.Response(body=body, headers={"Content-Type": content_type})


async def lifecycle(web_app: web.Application) -> AsyncIterator[None]:
    """Start: open the database (a damaged one, or one a newer warroom wrote, is refused with
    `DatabaseUnusable` before anything is written), take the lease, resume; stop: drain, release."""
    services, bolt, state = web_app[SERVICES], web_app[BOLT], web_app[STATE]
    settings = services.settings
    try:
        await services.storage.open()
    except DatabaseUnusable:
        await services.storage.close()  # its writer thread; the file was never written
        raise
    try:
        other = await services.storage.take_lease(
            Holder.this_process(),
            now=services.clock(),
            stale_after_s=settings.lease_seconds,
        )
    # "database is locked" after the busy timeout: a writer stopped inside its transaction
    except sqlite3.OperationalError as exc:
        await services.storage.close()
        raise ConfigError(
            [
                f"{settings.database_path} is locked by another process ({exc}): a warroom"
                " stopped inside a write (paused, or frozen) keeps the lock until it runs again;"
                " stop it for good, then start this one"
            ]
        ) from None
    if other is not None:
        await services.storage.close()
        raise ConfigError(
            [
                f"another warroom is running on {settings.database_path} ({other}); it keeps"
                f" the database until its heartbeat is {settings.lease_seconds:g} s old"
            ]
        )
    stop = asyncio.Event()
    tasks: list[asyncio.Task[Any]] = [
        asyncio.create_task(services.outbox.run(stop), name="outbox"),
        asyncio.create_task(_heartbeat(services, state, stop), name="heartbeat"),
        asyncio.create_task(_integrity(services, state, stop), name="integrity"),
        asyncio.create_task(_exit_when_lease_lost(services, state), name="fence"),
    ]
    if settings.backup_url:
        state["backup_since"] = time.monotonic()
        tasks.append(
            asyncio.create_task(_backups(services, state, stop), name="backups")
        )
    tasks += await services.comms.start(stop)
    await services.runbooks.recover()
    await services.postmortems.recover()  # automatic drafts a restart interrupted
    await services.followups.ensure_scheduled()
    services.status_page.publish_later()  # the page is there from the start, even all green
    identity = IDENTITIES.get(bolt)
    if identity is not None:
        tasks.append(
            asyncio.create_task(identity.learn(services.outbox.client), name="identity")
        )
    await replay_inbox(services, bolt)
    tasks.append(asyncio.create_task(_backfill(services), name="backfill"))
    log.info("warroom ready (database %s)", settings.database_path)
    try:
        yield
    finally:
        await drain(web_app)
        stop.set()
        for task in tasks:
            if task.get_name() in (
                "identity",
                "fence",
                "integrity",
                "backups",
                "backfill",
            ):
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await services.comms.aclose()
        await services.followups.aclose()
        await services.storage.release_lease()
        await services.storage.close()
        log.info("warroom stopped")


async def drain(web_app: web.Application) -> None:
    """Stop taking work (Slack's requests are answered 503 from now on) and give in-flight work
    a bounded time to finish: post-mortem drafts, runbook steps, then the inbox and the outbox,
    each for up to WARROOM_SHUTDOWN_DRAIN_SECONDS. Runs once; `serve` calls it while still
    listening, so a request that arrives meanwhile is refused with 503, not a closed port."""
    services, state = web_app[SERVICES], web_app[STATE]
    if state.get("stopping"):
        return
    state["stopping"] = True
    within = services.settings.shutdown_drain_seconds
    await services.status_page.wait_idle(within=within)
    await services.postmortems.wait_idle(within=within)
    await services.runbooks.drain(within)
    await _drain(services)


def serve(web_app: web.Application, *, host: str, port: int) -> None:
    """Serve until SIGTERM or SIGINT, then drain while still listening, then stop."""
    asyncio.run(_serve(web_app, host, port))


async def _serve(web_app: web.Application, host: str, port: int) -> None:
    runner = web.AppRunner(web_app, handle_signals=False, access_log=None)
    await runner.setup()  # the lifecycle starts here; a refused start raises out
    try:
        await web.TCPSite(runner, host, port, shutdown_timeout=5).start()
        signalled = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, signalled.set)
        await signalled.wait()
        log.info(
            "stopping: draining for up to %ss a phase",
            web_app[SERVICES].settings.shutdown_drain_seconds,
        )
        await drain(web_app)
    finally:
        await runner.cleanup()


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
    services: Services, state: dict[str, Any], stop: asyncio.Event
) -> None:
    """Tick (event-loop lag), renew the lease, prune the journal hourly. A failed write is logged
    and tried again at the next beat; a lease another process took stops the beat (and the
    process, see `_exit_when_lease_lost`)."""
    loop = asyncio.get_running_loop()
    every = min(HEARTBEAT_S, services.settings.lease_seconds / 3)
    renewed = pruned = float("-inf")
    while not stop.is_set():
        state["tick"] = now = loop.time()
        try:
            if now - renewed >= every:
                await services.storage.renew_lease(now=services.clock())
                renewed = now
            if now - pruned >= 3600:
                retention = timedelta(days=services.settings.journal_retention_days)
                await services.storage.prune_journal(
                    before=services.clock() - retention
                )
                pruned = now
        except LeaseLost:
            return
        except Exception as exc:  # an I/O error: the lease stays ours until it is stale
            log.warning("heartbeat failed (%s); trying again", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=min(1.0, every))


async def _exit_when_lease_lost(services: Services, state: dict[str, Any]) -> None:
    """Another warroom took the database over (this one was frozen past the lease time): the
    fence refuses our writes already; stop at once, without draining (that would write)."""
    await services.storage.lease_lost.wait()
    state["stopping"] = True
    log.critical(
        "another warroom took over %s; this process exits without writing (exit %d)",
        services.settings.database_path,
        EXIT_LEASE_LOST,
    )
    logging.shutdown()
    os._exit(EXIT_LEASE_LOST)


async def _integrity(
    services: Services, state: dict[str, Any], stop: asyncio.Event
) -> None:
    """Check the database file every WARROOM_INTEGRITY_CHECK_SECONDS; damage turns /readyz red."""
    every = services.settings.integrity_check_seconds
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every)
            return
        problems = await services.storage.integrity_problems()
        if problems and not state.get("integrity"):
            log.error(
                "the database %s is damaged (quick_check: %s); restore it from a backup",
                services.settings.database_path,
                problems[0],
            )
        state["integrity"] = problems


async def _backups(
    services: Services, state: dict[str, Any], stop: asyncio.Event
) -> None:
    """Back the database up to WARROOM_BACKUP_URL every WARROOM_BACKUP_OPEN_SECONDS while an
    incident is open, else every WARROOM_BACKUP_IDLE_SECONDS; a failure is logged and counted, and
    the next one is tried on time. The copy, its checks and shipping run off the event loop."""
    from bot.gateways.backups import store_for
    from bot.storage.backup import take

    settings = services.settings
    store = store_for(str(settings.backup_url), region=settings.backup_region)

    def backup() -> None:
        with tempfile.TemporaryDirectory(prefix="warroom-backup-") as work:
            packed, manifest = take(
                settings.database_path, Path(work), now=services.clock()
            )
            store.put(packed, manifest)

    last = time.monotonic()
    while (
        True
    ):  # looks every open-incident interval, so a new incident shortens the wait
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.backup_open_seconds)
            return
        busy = await services.storage.incidents(open_only=True, limit=1)
        every = settings.backup_open_seconds if busy else settings.backup_idle_seconds
        state["backup_every"] = every
        if time.monotonic() - last < every:
            continue
        last = time.monotonic()
        try:
            await asyncio.to_thread(backup)
        # Whatever failed (S3, the disk, a check), the next one is due on time; the age grows.
        except Exception as exc:
            metrics.BACKUPS.labels("failed").inc()
            log.error("backup to %s failed: %s", store.where, exc)
            continue
        metrics.BACKUPS.labels("ok").inc()
        state["backup_since"] = time.monotonic()


def _backup_age(state: dict[str, Any]) -> float | None:
    """Seconds since the last good backup (since start before the first); None: backups are off."""
    since = state.get("backup_since")
    return None if since is None else round(time.monotonic() - since, 1)


async def _backfill(services: Services) -> None:
    """At start: what the open incidents' channels said while this database did not listen (the
    bot was down, or the database was restored from a backup) goes on their timelines."""
    from handlers.outbound.history import SlackHistory

    try:
        added = await services.incidents.backfill(SlackHistory(services.outbox))
    except Exception as exc:  # Slack unreachable: the live events still come in
        log.warning("could not read the incident channels' history: %s", exc)
        return
    for number, count in added.items():
        log.warning(
            "INC-%s: %s message(s) recovered from Slack's history", number, count
        )
