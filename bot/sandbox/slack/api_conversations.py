"""Web API methods on channels and people: auth.test, conversations.*, users.*, usergroups.*.

Owns what each method does to the workspace state and the body it answers with, using Slack's
error strings and validation rules (channel names exactly as Slack checks them). Must not speak
HTTP, record calls or inject faults (`slack_http` does).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any, TypeVar

from bot.sandbox.slack.args import Args, SlackError
from bot.sandbox.slack.records import (
    BOT_ID,
    BOT_USER_ID,
    BOT_USER_NAME,
    TEAM_ID,
    TEAM_NAME,
    WORKSPACE_URL,
    Channel,
    Message,
)
from bot.sandbox.slack.state import WorkspaceState

T = TypeVar("T")
CHANNEL_NAME = re.compile(r"^[a-z0-9_-]{1,80}$")
MAX_TOPIC = 250


def auth_test(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    return {
        "url": WORKSPACE_URL,
        "team": TEAM_NAME,
        "user": BOT_USER_NAME,
        "team_id": TEAM_ID,
        "user_id": BOT_USER_ID,
        "bot_id": BOT_ID,
        "is_enterprise_install": False,
    }


def check_channel_name(name: str | None) -> str:
    """Validate a new channel name with Slack's rules and error strings."""
    if not name:
        raise SlackError("invalid_name_required")
    if len(name) > 80:
        raise SlackError("invalid_name_maxlength")
    if not CHANNEL_NAME.match(name):
        raise SlackError("invalid_name_specials")
    if not re.search(r"[a-z0-9]", name):
        raise SlackError("invalid_name_punctuation")
    return name


def create(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    name = check_channel_name(args.optional_text("name"))
    if any(
        channel.name == name for channel in ws.channels.values() if not channel.is_im
    ):
        # archived channels keep their names, as in Slack
        raise SlackError("name_taken")
    channel = ws.add_channel(
        name, is_private=args.flag("is_private"), creator=BOT_USER_ID
    )
    return {"channel": channel.to_json()}


def _writable(ws: WorkspaceState, args: Args) -> Channel:
    """Resolve a channel the bot changes: it must be a member and the channel not archived."""
    channel = ws.channel_arg(args)
    if BOT_USER_ID not in channel.members:
        raise SlackError("not_in_channel")
    if channel.archived:
        raise SlackError("is_archived")
    return channel


def invite(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    channel = _writable(ws, args)
    user_ids = args.ids("users")
    if not user_ids:
        raise SlackError("no_user")
    if BOT_USER_ID in user_ids:
        raise SlackError("cant_invite_self")
    for user_id in user_ids:
        ws.user(user_id)
    new = [user_id for user_id in user_ids if user_id not in channel.members]
    if not new:
        # only when every invitee is already a member
        raise SlackError("already_in_channel")
    channel.members.extend(dict.fromkeys(new))
    return {"channel": channel.to_json()}


def info(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    return {"channel": ws.channel_arg(args).to_json()}


def join(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    channel = ws.channel_arg(args)
    if channel.is_private or channel.is_im:
        raise SlackError("method_not_supported_for_channel_type")
    if channel.archived:
        raise SlackError("is_archived")
    if BOT_USER_ID in channel.members:
        return {"channel": channel.to_json(), "warning": "already_in_channel"}
    channel.members.append(BOT_USER_ID)
    return {"channel": channel.to_json()}


def open_dm(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    user_ids = args.ids("users")
    if len(user_ids) != 1:
        raise SlackError(
            "users_list_not_supplied" if not user_ids else "not_implemented"
        )
    return {"channel": {"id": ws.dm_channel(ws.user(user_ids[0]).id).id}}


def set_topic(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    channel = _writable(ws, args)
    topic = args.optional_text("topic") or ""
    if len(topic) > MAX_TOPIC:
        raise SlackError("too_long")
    channel.topic = topic
    return {"channel": channel.to_json()}


def set_purpose(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    channel = _writable(ws, args)
    purpose = args.optional_text("purpose") or ""
    if len(purpose) > MAX_TOPIC:
        raise SlackError("too_long")
    channel.purpose = purpose
    return {"channel": channel.to_json()}


def archive(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    channel = ws.channel_arg(args)
    if channel.archived:
        raise SlackError("already_archived")
    if BOT_USER_ID not in channel.members:
        raise SlackError("not_in_channel")
    channel.archived = True
    return {}


def _cut(args: Args, items: list[T]) -> tuple[list[T], str]:
    """One page of `items` and the next cursor, with Slack's cursor scheme (`limit`, `cursor`)."""
    limit = max(1, min(args.number("limit", 100), 999))
    cursor = args.optional_text("cursor")
    try:
        start = int(base64.b64decode(cursor).decode().split(":")[1]) if cursor else 0
    except (ValueError, IndexError):
        raise SlackError("invalid_cursor") from None
    more = start + limit < len(items)
    next_cursor = (
        base64.b64encode(f"next:{start + limit}".encode()).decode() if more else ""
    )
    return items[start : start + limit], next_cursor


def _page(ws: WorkspaceState, args: Args, messages: list[Message]) -> dict[str, Any]:
    """One page of messages (`response_metadata.next_cursor`, `has_more`)."""
    page, next_cursor = _cut(args, messages)
    more = bool(next_cursor)
    with_metadata = args.values.get("include_all_metadata") in (True, "true", "1", 1)
    return {
        "messages": [
            ws.message_json(m)
            | ({"metadata": m.metadata} if with_metadata and m.metadata else {})
            for m in page
        ],
        "has_more": more,
        "response_metadata": {"next_cursor": next_cursor},
    }


def _readable(ws: WorkspaceState, args: Args) -> Channel:
    channel = ws.channel_arg(args)
    if BOT_USER_ID not in channel.members:
        raise SlackError("not_in_channel")
    return channel


def _in_window(message: Message, args: Args) -> bool:
    oldest = float(args.optional_text("oldest") or 0)
    latest = float(args.optional_text("latest") or "inf")
    ts = float(message.ts)
    if args.flag("inclusive"):
        return oldest <= ts <= latest
    return oldest < ts < latest


def history(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    channel = _readable(ws, args)
    top_level = [
        m
        for m in ws.history[channel.id]
        if m.thread_ts in (None, m.ts) and _in_window(m, args)
    ]
    return _page(ws, args, list(reversed(top_level)))


def replies(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    channel = _readable(ws, args)
    try:
        parent = ws.message(channel.id, args.text("ts", error="thread_not_found"))
    except SlackError:
        raise SlackError("thread_not_found") from None
    return _page(ws, args, [parent, *ws.replies(channel.id, parent.ts)])


def members(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    channel = ws.channel_arg(args)
    return {"members": list(channel.members), "response_metadata": {"next_cursor": ""}}


def user_conversations(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    """The channels a user (by default the bot) is in, filtered by `types`, a page at a time."""
    user = args.optional_text("user") or BOT_USER_ID
    types = set((args.optional_text("types") or "public_channel").split(","))
    unknown = types - {"public_channel", "private_channel", "mpim", "im"}
    if unknown:
        raise SlackError("invalid_types")
    wanted = [
        c
        for c in ws.channels.values()
        if user in c.members
        and not c.is_im
        and ("private_channel" if c.is_private else "public_channel") in types
        and not (c.archived and args.flag("exclude_archived"))
    ]
    page, next_cursor = _cut(args, wanted)
    return {
        "channels": [c.to_json() for c in page],
        "response_metadata": {"next_cursor": next_cursor},
    }


def users_info(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    return {"user": ws.user(args.text("user", error="user_not_found")).to_json()}


def lookup_by_email(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    email = args.text("email", error="users_not_found").lower()
    for user in ws.users.values():
        if user.email.lower() == email:
            return {"user": user.to_json()}
    raise SlackError("users_not_found")


def usergroup_users(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    group = ws.usergroups.get(args.text("usergroup", error="no_such_subteam"))
    if group is None:
        raise SlackError("no_such_subteam")
    return {"users": list(group.members)}


METHODS: dict[str, Callable[[WorkspaceState, Args], dict[str, Any]]] = {
    "auth.test": auth_test,
    "conversations.create": create,
    "conversations.invite": invite,
    "conversations.info": info,
    "conversations.join": join,
    "conversations.open": open_dm,
    "conversations.setTopic": set_topic,
    "conversations.setPurpose": set_purpose,
    "conversations.archive": archive,
    "conversations.history": history,
    "conversations.replies": replies,
    "conversations.members": members,
    "users.conversations": user_conversations,
    "users.info": users_info,
    "users.lookupByEmail": lookup_by_email,
    "usergroups.users.list": usergroup_users,
}
