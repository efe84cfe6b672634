"""A local Slack workspace: a stateful stand-in for the Slack Web API over real HTTP on 127.0.0.1.

Used by the end-to-end tests, the terminal console and the demo. The bot talks to it with a normal
`AsyncWebClient(base_url=running.api_url)`; it answers with Slack's response shapes and error
strings, records every call, injects faults (429 + Retry-After, 5xx, any error string, delays) and
plays the people in the workspace (`user_*` methods return the Events API body Slack would send).

This module owns `SlackWorkspace` (the call log, faults, response_url targets and the public
helpers) and re-exports the rest of the stand-in's API. Identity and record types live in
`slack_records`, the collections and lookups in `slack_state`, the methods in `slack_api_*`, Block Kit limits in `slack_blocks`, HTTP in `slack_http` and user-side
actions in `slack_events`. Must never be imported by `bot/services/` or talk to the real Slack.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.sandbox.slack import events as slack_events
from bot.sandbox.slack.args import SlackError
from bot.sandbox.slack.http import (
    Fault,
    RecordedCall,
    RunningWorkspace,
    make_app,
    serve,
)
from bot.sandbox.slack.limits import RateLimits
from bot.sandbox.slack.records import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    BOT_USER_NAME,
    INCIDENT_RESPONSE_CHANNEL,
    INCIDENT_RESPONSE_CHANNEL_ID,
    TEAM_ID,
    Channel,
    Ephemeral,
    Message,
    UploadedFile,
    User,
    View,
)
from bot.sandbox.slack.socket_mode import SocketHub
from bot.sandbox.slack.state import WorkspaceState

__all__ = [
    "APP_ID",
    "BOT_ID",
    "BOT_USER_ID",
    "BOT_USER_NAME",
    "INCIDENT_RESPONSE_CHANNEL",
    "INCIDENT_RESPONSE_CHANNEL_ID",
    "TEAM_ID",
    "Channel",
    "Ephemeral",
    "HookTarget",
    "Message",
    "RecordedCall",
    "RunningWorkspace",
    "SlackError",
    "SlackWorkspace",
    "UploadedFile",
    "User",
    "View",
    "make_app",
    "serve",
]


@dataclass(frozen=True)
class HookTarget:
    """Where a response_url's posts land: the channel, the user who saw it, the original message."""

    channel_id: str | None = None
    user_id: str | None = None
    message_ts: str | None = None


class SlackWorkspace(WorkspaceState):
    """The workspace's state plus its call log, injected faults and the people's actions."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, run: str = ""
    ) -> None:
        super().__init__(clock=clock, run=run)
        self.calls: list[RecordedCall] = []
        self.hooks: dict[str, HookTarget] = {}
        self.response_posts: list[tuple[str, dict[str, Any]]] = []
        self._faults: dict[str, list[Fault]] = {}
        self._delays: dict[str, float] = {}
        self._late: dict[str, float] = {}
        self.sockets = SocketHub()  # Socket Mode connections of the app
        self.rate_limits: RateLimits | None = None  # off: answer every call

    def enforce_rate_limits(self) -> RateLimits:
        """From now on refuse calls over Slack's published limits with 429 and Retry-After."""
        self.rate_limits = RateLimits(self.clock)
        return self.rate_limits

    # -- fault injection ------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        error: str = "ratelimited",
        *,
        times: int = 1,
        status: int | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Make the next `times` calls of `method` (or `"*"`) fail; see `Fault.response` for the shape."""
        self._faults.setdefault(method, []).append(
            Fault(error, times, status, retry_after)
        )

    def delay(self, method: str, seconds: float, *, after: bool = False) -> None:
        """Make every call of `method` (or `"*"` for all) take `seconds` before it is answered.

        With `after=True` the call takes effect at once and only the answer is late, as when Slack
        has posted a message but the reply is lost with the caller (a crash, a timeout).
        """
        (self._late if after else self._delays)[method] = seconds

    def clear_faults(self) -> None:
        """Drop every injected failure and delay."""
        self._faults.clear()
        self._delays.clear()
        self._late.clear()

    def take_fault(self, method: str) -> Fault | None:
        """Consume one injected failure for this call, if any is pending."""
        for key in (method, "*"):
            pending = self._faults.get(key, [])
            if pending:
                fault = pending[0]
                fault.times -= 1
                if fault.times <= 0:
                    pending.pop(0)
                return fault
        return None

    def delay_for(self, method: str) -> float:
        return self._delays.get(method, self._delays.get("*", 0.0))

    def late_for(self, method: str) -> float:
        return self._late.get(method, self._late.get("*", 0.0))

    # -- the call log ---------------------------------------------------------------------------

    def record(self, call: RecordedCall) -> None:
        self.calls.append(call)

    def calls_to(self, method: str) -> list[RecordedCall]:
        """Return the recorded calls of one method, oldest first (failed ones included)."""
        return [call for call in self.calls if call.method == method]

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[RecordedCall], bool] | None = None,
        timeout: float = 60.0,  # noqa: ASYNC109 -- a polling deadline, as the tests' API promises
    ) -> RecordedCall:
        """Wait until a call of `method` matching `predicate` is recorded; return the first such call."""
        deadline = time.monotonic() + timeout
        while True:
            for call in self.calls_to(method):
                if predicate is None or predicate(call):
                    return call
            if time.monotonic() >= deadline:
                raise AssertionError(self._not_seen(method, timeout))
            await asyncio.sleep(0.02)

    def _not_seen(self, method: str, timeout: float) -> str:
        same = [
            f"  {call.status} {call.error or 'ok'} {call.args}"
            for call in self.calls_to(method)
        ]
        methods = [call.method for call in self.calls]
        return (
            f"no matching {method} call within {timeout}s.\ncalls of {method}:\n"
            + ("\n".join(same) or "  (none)")
            + f"\nall calls: {methods}"
        )

    # -- reading state --------------------------------------------------------------------------

    def messages(self, channel: str) -> list[Message]:
        """Return a channel's messages (id or name), oldest first, thread replies included."""
        return list(self.history[self.channel(channel).id])

    def ephemerals_for(self, user_id: str) -> list[Ephemeral]:
        """Return the ephemeral messages shown to one user, oldest first."""
        return [ephemeral for ephemeral in self.ephemerals if ephemeral.user == user_id]

    # -- response_url ---------------------------------------------------------------------------

    def register_hook(
        self,
        name: str,
        *,
        channel_id: str | None = None,
        user_id: str | None = None,
        message_ts: str | None = None,
    ) -> None:
        self.hooks[name] = HookTarget(channel_id, user_id, message_ts)

    def apply_response_url(self, name: str, body: dict[str, Any]) -> None:
        """Do what Slack does with a response_url post: reply, replace or delete the original."""
        self.response_posts.append((name, body))
        target = self.hooks.get(name, HookTarget())
        if target.channel_id is None or target.channel_id not in self.channels:
            return
        original = self._original(target)
        if body.get("delete_original") and original is not None:
            self.history[target.channel_id].remove(original)
        elif body.get("replace_original") and original is not None:
            original.text = str(body.get("text", original.text))
            original.blocks = list(body.get("blocks", original.blocks))
        elif body.get("response_type") == "in_channel":
            message = Message(
                target.channel_id,
                self.next_ts(),
                str(body.get("text", "")),
                BOT_USER_ID,
                list(body.get("blocks", [])),
                body.get("thread_ts"),
            )
            self.history[target.channel_id].append(message)
        elif target.user_id is not None:
            ephemeral = Ephemeral(
                target.channel_id,
                target.user_id,
                self.next_ts(),
                str(body.get("text", "")),
                list(body.get("blocks", [])),
            )
            self.ephemerals.append(ephemeral)

    def _original(self, target: HookTarget) -> Message | None:
        if target.channel_id is None or target.message_ts is None:
            return None
        try:
            return self.message(target.channel_id, target.message_ts)
        except SlackError:
            return None

    # -- people acting (each returns the Events API body Slack would send) -----------------------

    def user_message(
        self,
        channel: str,
        user: str,
        text: str,
        *,
        thread_ts: str | None = None,
        files: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Post as a person; return the `message` event_callback body."""
        return slack_events.user_message(
            self, channel, user, text, thread_ts=thread_ts, files=files
        )

    def user_edit(
        self, channel: str, ts: str, user: str, new_text: str
    ) -> dict[str, Any]:
        """Edit a person's message; return the `message_changed` event_callback body."""
        return slack_events.user_edit(self, channel, ts, user, new_text)

    def user_delete(self, channel: str, ts: str) -> dict[str, Any]:
        """Delete a message; return the `message_deleted` event_callback body."""
        return slack_events.user_delete(self, channel, ts)

    def user_pin(self, channel: str, ts: str, user: str) -> dict[str, Any]:
        """Pin a message as a person; return the `pin_added` event_callback body."""
        return slack_events.user_pin(self, channel, ts, user)

    def user_react(
        self, channel: str, ts: str, user: str, reaction: str
    ) -> dict[str, Any]:
        """React as a person; return the `reaction_added` event_callback body."""
        return slack_events.user_react(self, channel, ts, user, reaction)

    def app_home_opened(self, user: str) -> dict[str, Any]:
        """Open the App Home as a person; return the `app_home_opened` event_callback body."""
        return slack_events.app_home_opened(self, user)
