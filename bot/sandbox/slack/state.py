"""State of the local Slack workspace: every record it holds, and Slack's lookup rules.

Owns the collections of records (users, channels, histories, views, files, trigger ids), id and
message-ts generation, and the lookups that turn call arguments into records (raising Slack's
error strings). A workspace given a `run_tag()` makes ids that never repeat across workspaces, so
a bot whose database outlives one (`warroom demo --dir D`, run twice) never meets an old channel's
id again; without one, ids count from `C00000002`, the same in every run (tests compare them). Must not speak HTTP, record calls or
inject faults (that is `slack_http` and `slack.SlackWorkspace`), nor implement a Web API method
(the `slack_api_*` modules).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

from bot.sandbox.slack.args import Args, SlackError
from bot.sandbox.slack.records import (
    BOT_USER_ID,
    BOT_USER_NAME,
    INCIDENT_RESPONSE_CHANNEL,
    INCIDENT_RESPONSE_CHANNEL_ID,
    SEED_USERS,
    TRIGGER_TTL_SECONDS,
    Channel,
    Ephemeral,
    Message,
    UploadedFile,
    User,
    Usergroup,
    View,
)

_last_tag = 0
_tag_lock = threading.Lock()


def run_tag() -> str:
    """Eight base-36 digits of the milliseconds since 1970, later for every tag made.

    Two workspaces on one database run one after the other (the bot holds a lease on it), so
    they are milliseconds apart; within a process the tag is bumped past the previous one.
    """
    global _last_tag
    with _tag_lock:
        _last_tag = max(time.time_ns() // 1_000_000, _last_tag + 1)
        tag = _last_tag
    digits = ""
    while tag:
        tag, digit = divmod(tag, 36)
        digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[digit] + digits
    return digits.rjust(8, "0")


class WorkspaceState:
    """Everything the workspace holds, with Slack's lookup rules."""

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, run: str = ""
    ) -> None:
        """`run`, a `run_tag()`, goes into every id the workspace makes."""
        self.clock = clock
        self.users: dict[str, User] = {}
        self.usergroups: dict[str, Usergroup] = {}
        self.channels: dict[str, Channel] = {}
        self.history: dict[str, list[Message]] = {}
        self.views: dict[str, View] = {}
        self.home_views: dict[str, View] = {}
        self.ephemerals: list[Ephemeral] = []
        self.files: dict[str, UploadedFile] = {}
        self.triggers: dict[str, tuple[float, str | None]] = {}
        self._ids = itertools.count(2)  # 1 is #incident-response's
        self._run = run
        self._last_ts_us = 0
        self.add_user(
            BOT_USER_ID,
            BOT_USER_NAME,
            "Warroom",
            "warroom-bot@example.com",
            is_bot=True,
        )
        for user_id, name, real_name, email in SEED_USERS:
            self.add_user(user_id, name, real_name, email)
        humans = [user_id for user_id, *_ in SEED_USERS]
        self.add_channel(
            INCIDENT_RESPONSE_CHANNEL,
            creator="UALICE",
            members=[*humans, BOT_USER_ID],
            id=INCIDENT_RESPONSE_CHANNEL_ID,
        )

    # -- creation -------------------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        """Return a fresh Slack-looking id: `C00000002`, or with a run tag `CMIQ2K7PB0002`.

        The seeded `#incident-response` keeps its fixed id (`C00000001`) in every workspace: it is
        the same channel.
        """
        number = next(self._ids)
        return (
            f"{prefix}{self._run}{number:04d}" if self._run else f"{prefix}{number:08d}"
        )

    def next_ts(self) -> str:
        """Return a message ts from the wall clock, strictly increasing (`1764090000.000100`)."""
        now_us = max(int(time.time() * 1_000_000), self._last_ts_us + 1)
        self._last_ts_us = now_us
        return f"{now_us // 1_000_000}.{now_us % 1_000_000:06d}"

    def add_user(
        self, id: str, name: str, real_name: str, email: str, *, is_bot: bool = False
    ) -> User:
        """Add a member of the workspace."""
        user = User(id, name, real_name, email, is_bot)
        self.users[id] = user
        return user

    def add_usergroup(self, id: str, handle: str, members: list[str]) -> Usergroup:
        """Add a user group (`@handle`)."""
        group = Usergroup(id, handle, list(members))
        self.usergroups[id] = group
        return group

    def add_channel(
        self,
        name: str,
        *,
        is_private: bool = False,
        creator: str = BOT_USER_ID,
        members: list[str] | None = None,
        id: str | None = None,
    ) -> Channel:
        """Create a channel without any validation (seeding and tests)."""
        channel = Channel(
            id or self.new_id("C"), name, is_private, creator, int(time.time())
        )
        channel.members = list(members if members is not None else [creator])
        self.channels[channel.id] = channel
        self.history[channel.id] = []
        return channel

    def dm_channel(self, user_id: str) -> Channel:
        """Return the bot's direct-message channel with a user, opening it if needed."""
        for channel in self.channels.values():
            if channel.is_im and channel.members[0] == user_id:
                return channel
        channel = Channel(
            self.new_id("D"), user_id, True, BOT_USER_ID, int(time.time()), is_im=True
        )
        channel.members = [user_id, BOT_USER_ID]
        self.channels[channel.id] = channel
        self.history[channel.id] = []
        return channel

    def register_trigger(self, trigger_id: str, user_id: str | None = None) -> None:
        """Remember a trigger id handed to the bot, so views.open can check it."""
        self.triggers[trigger_id] = (self.clock(), user_id)

    def use_trigger(self, trigger_id: str) -> str | None:
        """Check a trigger id like Slack does and return the user it was issued for."""
        if trigger_id not in self.triggers:
            raise SlackError("invalid_trigger_id")
        issued, user_id = self.triggers[trigger_id]
        if self.clock() - issued > TRIGGER_TTL_SECONDS:
            raise SlackError("expired_trigger_id")
        return user_id

    # -- lookups --------------------------------------------------------------------------------

    def channel_by_name(self, name: str) -> Channel:
        """Return a channel by its name (`#` optional); KeyError if there is none."""
        wanted = name.removeprefix("#")
        for channel in self.channels.values():
            if channel.name == wanted and not channel.is_im:
                return channel
        raise KeyError(
            f"no channel named {wanted!r}; channels: {[c.name for c in self.channels.values()]}"
        )

    def channel(self, ref: str) -> Channel:
        """Return a channel by id or name (a user id: the app's direct messages with that user,
        as `chat.postMessage` takes it), or fail with channel_not_found."""
        if ref in self.channels:
            return self.channels[ref]
        if ref in self.users:
            return self.dm_channel(ref)
        try:
            return self.channel_by_name(ref)
        except KeyError:
            raise SlackError("channel_not_found") from None

    def channel_arg(self, args: Args, name: str = "channel") -> Channel:
        """Return the channel a call names; private channels without the bot are invisible."""
        channel = self.channel(args.text(name, error="channel_not_found"))
        if (
            channel.is_private
            and not channel.is_im
            and BOT_USER_ID not in channel.members
        ):
            raise SlackError("channel_not_found")
        return channel

    def user(self, user_id: str) -> User:
        """Return a user or fail with user_not_found."""
        if user_id not in self.users:
            raise SlackError("user_not_found")
        return self.users[user_id]

    def message(self, channel_id: str, ts: str) -> Message:
        """Return a message or fail with message_not_found."""
        for message in self.history.get(channel_id, []):
            if message.ts == ts:
                return message
        raise SlackError("message_not_found")

    def replies(self, channel_id: str, thread_ts: str) -> list[Message]:
        """Return a thread's replies, oldest first (the parent excluded)."""
        return [
            m
            for m in self.history.get(channel_id, [])
            if m.thread_ts == thread_ts and m.ts != thread_ts
        ]

    def message_json(self, message: Message) -> dict[str, Any]:
        """Return a message as the Web API shows it, with thread counters and pins."""
        data = message.to_json()
        replies = self.replies(message.channel, message.ts)
        if replies:
            data["thread_ts"] = message.ts
            data["reply_count"] = len(replies)
            data["reply_users"] = sorted({reply.user for reply in replies})
            data["latest_reply"] = replies[-1].ts
        if message.ts in self.channels[message.channel].pins:
            data["pinned_to"] = [message.channel]
        return data
