"""The Slack outbox: every outbound Web API call is queued in SQLite and drained in order per lane.

Owns ordering: rows are sent in order within a lane (`channel_key`: an incident channel's posts,
its invitations, the updates of one card, the announcement channel, a person's DMs), one call at a
time per lane and the lanes at the same time, so a channel Slack holds to one post a second does
not hold up another lane. It also owns Retry-After on 429, backoff on transient failures (retried
until sent: Slack is where failures are shown, so it is never given up on quietly), dead letters for
permanent errors, skipping a card's update when a newer one waits behind it, placeholders that are
filled in at send time (`{incident.channel}`, `{incident.card_ts}`, a `CardRef.placeholder`, and
`ANNOUNCEMENT_TS`, the incident's announcement as a thread to reply in, dropped when that post is
gone; a side lane waits for its channel or card), recording a runbook card's ts when it is sent
(its `purpose` is a `CardRef.key`), after-send hooks, and `last_error`: Slack's error for a lane
whose latest call failed and waits for a retry, which `/readyz` reports as degraded. It speaks the
Web API through slack_sdk, and posts replies to a `response_url` (method `RESPONSE_URL`, queued by
`handlers/outbound/replies.py`); it knows nothing of Bolt or of incoming payloads.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.errors import ExternalServiceError
from bot.gateways.slack.history import MARK, EarlierAttempts, marked
from bot.models.incidents import CardRef, Clock, OutboxMessage, OutboxRow
from bot.redaction import redact_posted
from bot.storage import Storage

log = logging.getLogger(__name__)

# The ts of an incident's first post in the announcement channel (queued as `inc-<n>:` and this
# key), as a `thread_ts`: replies go under it, or to the channel itself when it is unknown.
ANNOUNCEMENT_TS = "{incident.announcement_ts}"
ANNOUNCEMENT_KEY = "announce-initial"
CHANNEL = "{incident.channel}"


def sent_placeholder(dedup_key: str) -> str:
    """An argument filled at send time with the ts of the post queued under `dedup_key`."""
    return "{sent:" + dedup_key + "}"


def lane(incident: int) -> str:
    """The channel key of an incident channel's calls: sent one at a time, in order."""
    return f"incident:{incident}"


def members_lane(incident: int) -> str:
    """Invitations to an incident channel: in order among themselves, not behind its posts
    (Slack takes one post a second in a channel; people should not wait for that)."""
    return f"incident:{incident}:members"


def card_lane(incident: int, card: str) -> str:
    """Updates of one message (a card): in order among themselves, not behind the channel's posts."""
    return f"incident:{incident}:{card}"


HISTORY_PAGES = (
    100  # 20,000 messages: more than an incident channel says while the bot is down
)

# Errors that mean "this already happened": treat as sent.
_ALREADY = frozenset(
    {
        "already_in_channel",
        "already_pinned",
        "already_reacted",
        "no_pin",
        "message_not_found",
    }
)
# Errors Slack gives while it is degraded or right after a create (eventual consistency).
_TRANSIENT = frozenset(
    {"fatal_error", "internal_error", "service_unavailable", "request_timeout"}
)
_SETTLING = frozenset({"channel_not_found", "user_not_in_channel", "not_in_channel"})
# Not Slack's: a row of a side lane whose channel or card is not there yet. It is tried again as
# soon as the incident's own lane sends something, and after PENDING_RETRY_S at the latest.
CHANNEL_PENDING = "channel_pending"
PENDING_RETRY_S = 5.0
_SETTLING_ATTEMPTS = 4

# The method of a queued reply: `args` holds the `url` and the JSON `body` to post to it.
RESPONSE_URL = "response_url"

SentHook = Callable[[OutboxRow, dict[str, Any]], Awaitable[None]]
ErrorHook = Callable[[OutboxRow, str], Awaitable[dict[str, Any] | None]]


class SlackCallFailed(ExternalServiceError):
    """One Web API call failed: Slack's `error` code, the HTTP status (0: no answer), Retry-After."""

    def __init__(
        self, error: str, *, status: int = 200, retry_after: float | None = None
    ) -> None:
        super().__init__(
            f"Slack call failed: {error}",
            service="slack",
            code=error,
            retryable=status == 0 or status == 429 or status >= 500,
        )
        self.error, self.status, self.retry_after = error, status, retry_after


class Outbox:
    """Queue Slack calls durably and drain them in the background."""

    def __init__(
        self,
        *,
        storage: Storage,
        client: AsyncWebClient,
        clock: Clock,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
    ) -> None:
        self._storage, self._client, self._clock = storage, client, clock
        self._backoff_base, self._backoff_cap = backoff_base, backoff_cap
        self._wake = asyncio.Event()
        self._sending: dict[str, asyncio.Task[None]] = {}  # lane -> its call in flight
        # Side lanes waiting for their incident's channel or card: (incident, retry at the latest).
        self._waiting: dict[str, tuple[int, float]] = {}
        self._progress: dict[int, int] = {}  # calls sent in each incident's own lane
        self._sent_hooks: dict[str, SentHook] = {}
        self._error_hooks: dict[str, ErrorHook] = {}
        # Slack's error per channel whose latest call failed and waits for a retry; a success in
        # that channel clears it (issue 13: one error used to leave Slack "degraded" for good).
        self._failing: dict[str, str] = {}
        self._earlier = EarlierAttempts(self._call)

    @property
    def last_error(self) -> str | None:
        """Slack's error for a channel whose latest call failed and waits for a retry; None once
        every channel's latest call went through. Dead letters are counted in storage instead."""
        return next(iter(self._failing.values()), None)

    @property
    def client(self) -> AsyncWebClient:
        return self._client

    def on_sent(self, purpose: str, hook: SentHook) -> None:
        self._sent_hooks[purpose] = hook

    def on_error(self, purpose: str, hook: ErrorHook) -> None:
        """Register a hook that may return new args to retry with (e.g. another channel name)."""
        self._error_hooks[purpose] = hook

    async def history(self, channel: str, *, after: str) -> list[dict[str, Any]]:
        """A channel's top-level messages posted after the ts `after`, oldest first, a page of
        200 at a time, without the bot's own posts (they carry their outbox key); a 429 waits for
        its Retry-After (reads, not posts: not queued)."""
        found: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(HISTORY_PAGES):
            args = {
                "channel": channel,
                "oldest": after,
                "limit": 200,
                "cursor": cursor,
                "include_all_metadata": True,
            }
            try:
                page = await self._call("conversations.history", args, form=True)
            except SlackCallFailed as exc:
                if exc.retry_after is None:
                    raise
                await asyncio.sleep(exc.retry_after)
                continue
            found += page.get("messages") or []
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or ""
            if not cursor:
                break
        said = [m for m in found if (m.get("metadata") or {}).get("event_type") != MARK]
        return sorted(said, key=lambda m: float(m.get("ts") or 0))

    async def enqueue(self, *messages: OutboxMessage) -> None:
        """Journal Slack calls to send, their secrets redacted (every post, update, topic, reply)."""
        safe = [m.model_copy(update={"args": redact_posted(m.args)}) for m in messages]
        await self._storage.outbox_add(safe, now=self._clock())
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Drain until `stop` is set; safe to restart at any time (state is in SQLite)."""
        try:
            while not stop.is_set():
                try:
                    pause = await self.drain_once()
                except Exception:  # the drain loop must survive anything one row does
                    log.exception("outbox drain failed; retrying")
                    pause = self._backoff_cap / 10
                self._wake.clear()
                waiters = [
                    asyncio.ensure_future(self._wake.wait()),
                    asyncio.ensure_future(stop.wait()),
                ]
                await asyncio.wait(
                    waiters, timeout=pause, return_when=asyncio.FIRST_COMPLETED
                )
                for waiter in waiters:
                    waiter.cancel()
        finally:
            await asyncio.gather(*self._sending.values(), return_exceptions=True)

    async def drain_once(self) -> float:
        """Start sending every channel's head row that is due and not already being sent; return
        seconds until the next is due. Each lane's call runs on its own: a slow or rate-limited
        channel does not hold up another's (a finished send wakes the loop for its next row)."""
        now, moment = self._clock(), time.monotonic()
        for key, (_, until) in list(self._waiting.items()):
            if until <= moment:
                del self._waiting[key]
        heads = [
            r
            for r in await self._storage.outbox_heads()
            if r.channel_key not in self._sending and r.channel_key not in self._waiting
        ]
        for row in heads:
            if row.not_before is None or row.not_before <= now:
                task = asyncio.create_task(self._send_guarded(row))
                self._sending[row.channel_key] = task
                task.add_done_callback(
                    functools.partial(self._sent_one, row.channel_key)
                )
        waits = [
            (r.not_before - now).total_seconds()
            for r in heads
            if r.not_before and r.not_before > now
        ] + [until - moment for _, until in self._waiting.values()]
        return min(waits, default=1.0)

    def _sent_one(self, channel_key: str, _: object) -> None:
        self._sending.pop(channel_key, None)
        self._wake.set()

    async def _send_guarded(self, row: OutboxRow) -> None:
        # The lane must survive anything one row does, without a busy loop.
        try:
            await self._send(row)
        except Exception:
            log.exception("outbox send of row %s failed; retrying", row.id)
            await asyncio.sleep(self._backoff_cap / 10)

    async def _send(self, row: OutboxRow) -> None:
        progress = self._progress.get(row.incident or 0)
        if await self._superseded(row):
            return
        try:
            args = await self._fill(row)
            found = await self._found(row, args) if row.in_flight else None
            if found is not None:
                await self._sent(row, found)
                return
            if row.method == "chat.postMessage":
                args = marked(args, row)
            await self._storage.outbox_update(row.id, in_flight=1)
            result = await self._call(row.method, args)
        except SlackCallFailed as failure:
            if failure.error != CHANNEL_PENDING:
                await self._failed(row, failure)
            elif (
                row.incident is not None
                and self._progress.get(row.incident) == progress
            ):
                # Not a failure: tried again once the incident's own lane sends, or in a while.
                self._waiting[row.channel_key] = (
                    row.incident,
                    time.monotonic() + PENDING_RETRY_S,
                )
            return
        await self._sent(row, result)

    async def _superseded(self, row: OutboxRow) -> bool:
        """A card's update with a newer one queued behind it is not sent: the newer says it all
        (chat.update is Tier 3, fifty a minute; a step moving through its states would spend them)."""
        if row.method != "chat.update" or row.channel_key == lane(row.incident or 0):
            return False
        if not await self._storage.outbox_superseded(row):
            return False
        await self._storage.outbox_update(
            row.id,
            status="sent",
            sent_at=self._clock(),
            error="superseded",
            in_flight=0,
        )
        return True

    async def _found(
        self, row: OutboxRow, args: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The last attempt got no answer: did it take effect?"""
        try:
            return await self._earlier.find(row, args)
        except SlackCallFailed:
            return (
                None  # cannot tell: sending again is the lesser harm than a lost call
            )

    async def _sent(self, row: OutboxRow, result: dict[str, Any]) -> None:
        self._failing.pop(row.channel_key, None)
        await self._storage.outbox_update(
            row.id,
            status="sent",
            sent_at=self._clock(),
            result=result,
            error=None,
            in_flight=0,
        )
        card = CardRef.parse(row.purpose)
        if card is not None and "ts" in result:
            await self._storage.set_card_ts(card, str(result["ts"]))
        hook = self._sent_hooks.get(row.purpose)
        if hook:
            await hook(row, result)
        if row.incident is not None and row.channel_key == lane(row.incident):
            # Its channel or card may be there now: the side lanes waiting for it may go.
            self._progress[row.incident] = self._progress.get(row.incident, 0) + 1
            for key, (incident, _) in list(self._waiting.items()):
                if incident == row.incident:
                    del self._waiting[key]

    async def _fill(self, row: OutboxRow) -> dict[str, Any]:
        args = dict(row.args)
        placeholders = {
            k: v
            for k, v in args.items()
            if isinstance(v, str)
            and v.endswith("}")
            and (v.startswith("{incident.") or CardRef.parse(v[1:-1]))
        }
        for key, value in list(args.items()):
            if (
                isinstance(value, str)
                and value.startswith("{sent:")
                and value.endswith("}")
            ):
                sent = await self._storage.outbox_sent_ts(value[6:-1])
                if not sent:  # its post failed for good or is not sent yet
                    raise SlackCallFailed("post_not_sent")
                args[key] = sent
        if placeholders and row.incident is not None:
            values = await self._placeholder_values(row.incident)
            for key, value in placeholders.items():
                filled = values.get(value)
                if not filled and value == ANNOUNCEMENT_TS:
                    del args[
                        key
                    ]  # the announcement failed or was pruned: not in a thread
                    continue
                if not filled and row.channel_key != lane(row.incident):
                    # A side lane runs beside the channel's own: wait for the channel or the card.
                    raise SlackCallFailed(CHANNEL_PENDING)
                if not filled:  # the channel or the card does not exist yet
                    raise SlackCallFailed("channel_not_found")
                args[key] = filled
        return args

    async def _placeholder_values(self, incident: int) -> dict[str, str | None]:
        found = await self._storage.get_incident(incident)
        if found is None:
            return {}
        cards = await self._storage.card_timestamps(incident)
        announcement = f"inc-{incident}:{ANNOUNCEMENT_KEY}"
        return {
            "{incident.channel}": found.channel_id,
            "{incident.card_ts}": found.card_ts,
            ANNOUNCEMENT_TS: await self._storage.outbox_sent_ts(announcement),
            **{"{" + key + "}": ts for key, ts in cards.items()},
        }

    async def _call(
        self, method: str, args: dict[str, Any], *, form: bool = False
    ) -> dict[str, Any]:
        try:
            if method == RESPONSE_URL:
                return await self._reply(args["url"], args["body"])
            if form:
                response = await self._client.api_call(
                    method, http_verb="GET", params=args
                )
            else:
                response = await self._client.api_call(method, json=args)
        except SlackApiError as exc:
            status = exc.response.status_code
            retry = exc.response.headers.get("Retry-After") or exc.response.headers.get(
                "retry-after"
            )
            error = (
                exc.response.get("error")
                if isinstance(exc.response.data, dict)
                else None
            )
            raise SlackCallFailed(
                str(error or f"http_{status}"),
                status=status,
                retry_after=float(retry) if retry else None,
            ) from None
        except (
            SlackRequestError,
            aiohttp.ClientError,
            TimeoutError,
            ValueError,
        ) as exc:
            raise SlackCallFailed(
                f"connection: {type(exc).__name__}", status=0
            ) from None
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def _reply(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        """Post a reply to a response_url; Slack answers "ok", or a status and an error text."""
        response = await AsyncWebhookClient(url, timeout=10).send_dict(body)
        if response.status_code == 200:
            return {"ok": True}
        retry = response.headers.get("Retry-After") or response.headers.get(
            "retry-after"
        )
        raise SlackCallFailed(
            (response.body or f"http_{response.status_code}").strip()[:100],
            status=response.status_code,
            retry_after=float(retry) if retry else None,
        )

    async def _failed(self, row: OutboxRow, failure: SlackCallFailed) -> None:
        now, attempts = self._clock(), row.attempts + 1
        # No answer, or a 5xx: Slack may have done it; the next attempt checks before posting again.
        in_flight = int(failure.status == 0 or failure.status >= 500)
        if failure.error in _ALREADY:
            self._failing.pop(row.channel_key, None)  # it happened: as good as sent
            await self._storage.outbox_update(
                row.id,
                in_flight=0,
                status="sent",
                sent_at=now,
                attempts=attempts,
                error=failure.error,
            )
            return
        self._failing[row.channel_key] = failure.error
        hook = self._error_hooks.get(row.purpose)
        new_args = await hook(row, failure.error) if hook else None
        if new_args is not None:
            await self._storage.outbox_update(
                row.id,
                in_flight=in_flight,
                args=new_args,
                attempts=attempts,
                error=failure.error,
            )
            return
        if failure.status == 429 or failure.error == "ratelimited":
            delay = failure.retry_after if failure.retry_after is not None else 1.0
        elif (
            failure.status >= 500 or failure.status == 0 or failure.error in _TRANSIENT
        ):
            delay = min(self._backoff_cap, self._backoff_base * 2 ** min(attempts, 10))
        elif failure.error in _SETTLING and attempts < _SETTLING_ATTEMPTS:
            delay = self._backoff_base * attempts
        else:
            log.error(
                "slack %s failed for good: %s (outbox row %s)",
                row.method,
                failure.error,
                row.id,
            )
            self._failing.pop(
                row.channel_key, None
            )  # counted as a dead letter from now on
            await self._storage.outbox_update(
                row.id,
                in_flight=in_flight,
                status="dead",
                attempts=attempts,
                error=failure.error,
            )
            return
        log.warning(
            "slack %s failed (%s); retrying in %.1fs", row.method, failure.error, delay
        )
        await self._storage.outbox_update(
            row.id,
            in_flight=in_flight,
            attempts=attempts,
            error=failure.error,
            not_before=now + timedelta(seconds=delay),
        )
