"""Global Bolt middleware: services into the context, and the journal written before any ack.

Journal before ack: every verified request is stored in the inbox, keyed so that a Slack retry
(same event_id) or an exact replay (same signature) is recognised and answered 200 without running
again. Listeners registered through `journaled` mark their inbox row finished when they end, so
rows left pending by a crash are replayed at the next start; a request no listener takes (Bolt
answers it 404) is marked ignored, and one Bolt could not even match (it raised: 500) is marked
failed and answered 400, so neither is ever replayed. New channel messages skip the listener:
their inbox and timeline rows are written together before the ack. A request's `respond` is
replaced by `Replies`, which queues its replies in the outbox, so a replayed request never answers
twice. The handle a command or click comes with is kept for post-mortems. A request's kind (inbox column, metric label) comes from the
closed set in `bot.metrics`.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot import metrics
from bot.errors import BotError, PermissionDenied
from bot.models.incidents import NewEntry
from bot.redaction import redact_request
from bot.services import Services
from bot.storage import WriteFailed
from handlers import access, boltfix, views
from handlers.access import Allow
from handlers.errors import report_error
from handlers.outbound.replies import Replies

log = logging.getLogger(__name__)
REPLAY = "warroom_replay_inbox_id"


class _Current:
    def __init__(
        self,
        services: Services,
        inbox_id: int,
        key: str,
        body: dict[str, Any],
        client: AsyncWebClient,
    ) -> None:
        self.services, self.inbox_id, self.key = services, inbox_id, key
        self.body, self.client = body, client
        self.claimed = False  # a `journaled` listener took the request

    async def finish(self, error: str | None) -> None:
        await self.services.storage.inbox_finish(
            self.inbox_id, now=self.services.clock(), error=error
        )

    async def ignore(self) -> None:
        log.info("no listener for request %s: marked ignored", self.key)
        await self.services.storage.inbox_ignore(
            self.inbox_id, now=self.services.clock()
        )


_current: ContextVar[_Current | None] = ContextVar("warroom_inbox", default=None)


def inbox_key(req: AsyncBoltRequest, body: dict[str, Any]) -> str:
    """Events by event_id (Slack retries keep it); everything else by signature or body hash."""
    if body.get("event_id"):
        return f"event:{body['event_id']}"
    signature = (req.headers.get("x-slack-signature") or [""])[0]
    if signature:
        return f"sig:{signature}"
    return "body:" + hashlib.sha256(req.raw_body.encode()).hexdigest()


# Turns a request body into (channel, entry) when recording that entry is all its listener would do.
Inline = Callable[[dict[str, Any], str], "tuple[str, NewEntry] | None"]


def install(app: AsyncApp, services: Services, inline: Inline) -> None:
    """Register the global middleware on `app`."""
    app.middleware(JournalBeforeAck(services, inline))


class SettlingApp(AsyncApp):
    """Bolt's app, settling the journal row of a request no listener takes.

    Bolt decides that no listener matches only after every middleware has run, and says so only in
    the 404 that `async_dispatch` returns. Every transport calls `async_dispatch` (HTTP in
    `bot.web.handle_slack`, Socket Mode, the replay at start-up), so this is where such a request
    is marked ignored, and one Bolt raised on while matching (a 500) is marked failed and refused
    with 400: either would otherwise be replayed at every start.
    """

    async def async_dispatch(self, req: AsyncBoltRequest) -> BoltResponse:
        token = _current.set(None)
        try:
            response = await super().async_dispatch(req)
            # set by JournalBeforeAck when it journaled this request
            current = _current.get()
            if current is None or current.claimed:
                return response
            if response.status == 404:
                await current.ignore()
            elif response.status == 500:
                log.warning("request %s could not be routed: refused", current.key)
                await current.finish("unroutable")
                return BoltResponse(
                    status=400, body={"error": boltfix.NOT_SLACK_SHAPED}
                )
            return response
        finally:
            _current.reset(token)


class JournalBeforeAck(AsyncMiddleware):
    """Journal every request before it is acknowledged; skip retries and replays.

    Requests `inline` recognises (plain channel messages, the most frequent by far) are journaled
    and recorded in one transaction and answered without reaching a listener. A class rather than
    a decorated function: Bolt then calls it directly instead of injecting arguments per request.
    """

    def __init__(self, services: Services, inline: Inline) -> None:
        self.services, self.inline = services, inline
        self._people: dict[str, str] = {}  # handles already in the people directory

    async def _remember(self, body: dict[str, Any]) -> None:
        """Keep the handle a command or click came with, so post-mortems can name people."""
        person = _person(body)
        if person is None or self._people.get(person[0]) == person[1]:
            return
        if len(self._people) > 10_000:
            self._people.clear()
        await self.services.storage.person_seen(
            user_id=person[0], name=person[1], now=self.services.clock()
        )
        self._people[person[0]] = person[1]

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse:
        services, body, context = self.services, req.body, req.context
        context["services"], context["settings"] = services, services.settings
        replay_id = context.get(REPLAY)
        if replay_id is not None:
            key = str(context.get("inbox_key"))
            _current.set(_Current(services, int(replay_id), key, body, context.client))
            context["inbox_key"] = key
            _queue_replies(context, services, key, body)
            return await next()
        if body.get("type") in ("url_verification", "ssl_check"):
            return await next()
        started = time.perf_counter()
        key = inbox_key(req, body)
        kind = metrics.request_kind(
            str(body.get("type") or ("command" if body.get("command") else "other"))
        )
        recorded = self.inline(body, key)
        if recorded is not None:
            fresh = await services.incidents.capture_journaled(
                key=key,
                kind=kind,
                body=redact_request(req.raw_body),
                channel_id=recorded[0],
                entry=recorded[1],
            )
            return _ack(fresh, key, kind, started)
        await self._remember(body)
        inbox_id = await services.storage.inbox_put(
            key=key, kind=kind, body=redact_request(req.raw_body), now=services.clock()
        )
        if inbox_id is None:
            return _ack(False, key, kind, started)
        _current.set(_Current(services, inbox_id, key, body, context.client))
        context["inbox_key"] = key
        _queue_replies(context, services, key, body)
        # Bolt's async `next()` returns at once: listener matching and the ack come after every
        # middleware has returned (so this figure covers the journal write, not the listener's ack).
        response = await next()
        metrics.observe_ack(kind, time.perf_counter() - started)
        return response


def _queue_replies(
    context: Any, services: Services, key: str, body: dict[str, Any]
) -> None:
    url = body.get("response_url")
    if isinstance(url, str) and url:
        user = _user_of(body) or "unknown"
        context["respond"] = Replies(
            services.outbox, response_url=url, key=key, user=user
        )


def _person(body: dict[str, Any]) -> tuple[str, str] | None:
    """(user id, handle) of a slash command or an interaction; events carry no handle."""
    if body.get("user_id") and body.get("user_name"):
        return str(body["user_id"]), str(body["user_name"])
    user = body.get("user")
    if (
        isinstance(user, dict)
        and user.get("id")
        and (user.get("username") or user.get("name"))
    ):
        return str(user["id"]), str(user.get("username") or user.get("name"))
    return None


def _ack(fresh: bool, key: str, kind: str, started: float) -> BoltResponse:
    if fresh:
        metrics.observe_ack(kind, time.perf_counter() - started)
    else:
        log.info("duplicate delivery ignored: %s", key)
        metrics.DUPLICATES.inc()
    return BoltResponse(status=200, body="")


def journaled(
    listener: Callable[..., Awaitable[None]], *, allow: Allow, what: str = ""
) -> Callable[..., Awaitable[None]]:
    """Wrap a listener: check its rule in the authorisation table (`handlers.access`), report its
    errors to the user and mark its inbox row done or failed.

    `allow` is the listener's rule and `what` finishes the refusal ("Only responders may <what>.").
    A refused form answers with the refusal on the form itself. Errors are reported here rather
    than left to Bolt's error handler because Bolt 1.30 loses an ack when a listener raises right
    after acking (its runner resets `ack.response` to None), and Slack then sees a 404 after three
    seconds instead of the 200 it was already promised.
    """

    @functools.wraps(listener)
    async def wrapper(**kwargs: Any) -> None:
        current = _current.get()
        if current is not None:
            current.claimed = True
        error: str | None = None
        unsaved: WriteFailed | None = None
        ack = kwargs.get("ack")
        try:
            if current is None:
                if allow is not Allow.ANYONE:
                    raise PermissionDenied("This request cannot be authorised.")
            else:
                # a submitted form must be one the bot opened for this user (issue 12)
                await views.check_submission(current.services, current.body)
                user = _user_of(current.body)
                await access.check(current.services.authoriser, allow, user, what)
            await listener(**kwargs)
        except PermissionDenied as exc:
            form = _form_block(current.body if current else {})
            if ack is not None and ack.response is None and form:
                await ack(response_action="errors", errors={form: exc.message})
            else:
                await _report(exc, current, ack)
        except (
            WriteFailed
        ) as exc:  # a full disk, an I/O error: kept pending, done at the next start
            unsaved = exc
            log.warning(
                "request %s could not be stored (%s): left for the replay",
                current and current.key,
                exc,
            )
        except Exception as exc:  # every listener error ends here: shown to the user, logged, journaled
            error = None if isinstance(exc, BotError) else type(exc).__name__
            await _report(exc, current, ack)
        finally:
            if current is not None and unsaved is None:
                await current.finish(error)

    wrapper.__dict__["allow"] = allow  # read by the test that every listener has a rule
    return wrapper


async def _report(exc: Exception, current: _Current | None, ack: Any) -> None:
    if ack is not None and ack.response is None:
        await ack()
    if current is not None:
        await report_error(exc, current.body, current.client)


def _user_of(body: dict[str, Any]) -> str:
    user = body.get("user") or (body.get("event") or {}).get("user") or ""
    return str(user.get("id", "") if isinstance(user, dict) else user)


def _form_block(body: dict[str, Any]) -> str:
    """The first input block of a submitted form, to show a refusal on; "" when it is no form."""
    if body.get("type") != "view_submission":
        return ""
    values = ((body.get("view") or {}).get("state") or {}).get("values") or {}
    return next(iter(values), "")
