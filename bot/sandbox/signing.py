"""Send requests to the bot's endpoint the way Slack does: encoded once, signed (v0), over HTTP.

Owns Slack's request signing scheme (HMAC-SHA256 over `v0:{timestamp}:{body}`) and `SlackSender`,
which posts commands, interactions and events to the bot with Slack's headers (including the
Events API retry headers). Must not build payload shapes itself (`payloads` does) and must never
re-encode a body after signing it.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from bot.sandbox import payloads
from bot.sandbox.slack.http import RunningWorkspace
from bot.sandbox.slack.records import INCIDENT_RESPONSE_CHANNEL_ID

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def sign(secret: str, body: str, timestamp: int | None = None) -> dict[str, str]:
    """Return the `X-Slack-Request-Timestamp` and `X-Slack-Signature` headers for `body`."""
    ts = int(time.time()) if timestamp is None else timestamp
    base = f"v0:{ts}:{body}".encode()
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": f"v0={digest}"}


@dataclass(frozen=True)
class SentResponse:
    """The bot's answer to one signed request."""

    status: int
    text: str
    headers: CIMultiDictProxy[str]
    elapsed: float

    def json(self) -> Any:
        return json.loads(self.text)


class SlackSender:
    """Posts signed requests to the bot's endpoint, as Slack would. Use as an async context manager.

    With `slack` (a served workspace), user and channel names come from it, trigger ids are
    registered with it and response URLs point at it, so `views.open` and `respond()` work.
    """

    def __init__(
        self,
        url: str,
        signing_secret: str,
        *,
        slack: RunningWorkspace | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.url = url
        self.signing_secret = signing_secret
        self.slack = slack
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._hooks = itertools.count(1)

    async def __aenter__(self) -> SlackSender:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.timeout)
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self,
        body: str,
        *,
        content_type: str,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> SentResponse:
        """Sign `body` and post exactly that string; `signature` overrides the real one (for tamper tests)."""
        if self._session is None:
            raise RuntimeError(
                "use SlackSender as `async with SlackSender(...) as sender:`"
            )
        headers = {
            "Content-Type": content_type,
            **sign(self.signing_secret, body, timestamp),
        }
        if signature is not None:
            headers["X-Slack-Signature"] = signature
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        started = time.monotonic()
        async with self._session.post(
            self.url, data=body.encode(), headers=headers
        ) as response:
            text = await response.text()
        return SentResponse(
            response.status, text, response.headers, time.monotonic() - started
        )

    def _names(self, user_id: str, channel_id: str) -> tuple[str, str]:
        workspace = self.slack.workspace if self.slack else None
        user = workspace.users.get(user_id) if workspace else None
        channel = workspace.channels.get(channel_id) if workspace else None
        return (
            user.name if user else payloads.handle(user_id),
            channel.name if channel else "unknown",
        )

    def _response_url(
        self, channel_id: str | None, user_id: str, message_ts: str | None = None
    ) -> str:
        if self.slack is None:
            return "https://hooks.slack.test/commands/T0WARROOM/0000/unrouted"
        return self.slack.response_url(
            f"r{next(self._hooks)}",
            channel_id=channel_id,
            user_id=user_id,
            message_ts=message_ts,
        )

    async def command(
        self,
        text: str,
        *,
        user_id: str = "UALICE",
        channel_id: str = INCIDENT_RESPONSE_CHANNEL_ID,
        command: str = "/incident",
    ) -> SentResponse:
        """Send a slash command (`/incident <text>`) typed by `user_id` in `channel_id`."""
        user_name, channel_name = self._names(user_id, channel_id)
        body = payloads.slash_command(
            command=command,
            text=text,
            user_id=user_id,
            user_name=user_name,
            channel_id=channel_id,
            channel_name=channel_name,
            response_url=self._response_url(channel_id, user_id),
            workspace=self.slack.workspace if self.slack else None,
        )
        return await self.send(body, content_type=FORM)

    async def action(
        self,
        *,
        action_id: str,
        value: str = "",
        user_id: str = "UALICE",
        block_id: str = "actions",
        channel_id: str | None = None,
        message_ts: str | None = None,
        view: dict[str, Any] | str | None = None,
    ) -> SentResponse:
        """Send a `block_actions` click on a message (`channel_id` + `message_ts`) or in a view.

        `view` is the view's JSON, or with `slack` set, a view id to look up (modal or App Home).
        """
        if isinstance(view, str):
            view = self._view_json(view)
        body = payloads.block_actions(
            user_id=user_id,
            user_name=self._names(user_id, channel_id or "")[0],
            action_id=action_id,
            value=value,
            block_id=block_id,
            channel_id=channel_id,
            message_ts=message_ts,
            view=view,
            response_url=None
            if view is not None
            else self._response_url(channel_id, user_id, message_ts),
            workspace=self.slack.workspace if self.slack else None,
        )
        return await self.send(body, content_type=FORM)

    def _view_json(self, view_id: str) -> dict[str, Any]:
        workspace = self.slack.workspace if self.slack else None
        views = (
            [*workspace.views.values(), *workspace.home_views.values()]
            if workspace
            else []
        )
        for view in views:
            if view.id == view_id:
                return view.to_json()
        raise LookupError(
            f"no view {view_id!r} in the workspace (pass the view's JSON instead)"
        )

    async def submit_view(
        self,
        *,
        callback_id: str,
        values: dict[str, dict[str, dict[str, Any]]],
        view_id: str,
        private_metadata: str = "",
        user_id: str = "UALICE",
    ) -> SentResponse:
        """Send a `view_submission` of the modal `view_id` with `values` (Slack's `state.values`)."""
        body = payloads.view_submission(
            user_id=user_id,
            user_name=self._names(user_id, "")[0],
            callback_id=callback_id,
            values=values,
            view_id=view_id,
            private_metadata=private_metadata,
            workspace=self.slack.workspace if self.slack else None,
        )
        return await self.send(body, content_type=FORM)

    async def event(
        self,
        body: str | dict[str, Any],
        *,
        retry_num: int | None = None,
        retry_reason: str | None = None,
    ) -> SentResponse:
        """Send an Events API body (a JSON string, an envelope, or a bare event to wrap)."""
        text = body if isinstance(body, str) else payloads.event_callback(body)
        return await self.send(
            text, content_type=JSON, retry_num=retry_num, retry_reason=retry_reason
        )
