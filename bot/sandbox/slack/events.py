"""What people do in the local Slack workspace, and the Events API bodies Slack sends about it.

Owns user-side actions (post, edit, delete, pin, react, open App Home): each changes the workspace
state and returns the `event_callback` document Slack would deliver to the bot. Must not send
anything, and must not produce events for the bot's own messages (Bolt ignores those anyway).
"""

from __future__ import annotations

import copy
import secrets
import time
import uuid
from typing import Any

from bot.sandbox.payloads import event_envelope
from bot.sandbox.slack.api_chat import add_reaction
from bot.sandbox.slack.args import SlackError
from bot.sandbox.slack.records import (
    BOT_USER_ID,
    TEAM_ID,
    Channel,
    Message,
)
from bot.sandbox.slack.state import WorkspaceState


def _channel_type(channel: Channel) -> str:
    if channel.is_im:
        return "im"
    return "group" if channel.is_private else "channel"


def _rich_text(text: str) -> list[dict[str, Any]]:
    """Return the rich_text block Slack's clients attach to a typed message."""
    section = {
        "type": "rich_text_section",
        "elements": [{"type": "text", "text": text}],
    }
    return [
        {"type": "rich_text", "block_id": secrets.token_hex(2), "elements": [section]}
    ]


def _human(ws: WorkspaceState, channel_ref: str, user: str) -> Channel:
    """Resolve the channel a person acts in; the bot's own actions produce no events."""
    if user == BOT_USER_ID:
        raise ValueError(
            "the bot's own actions produce no events; use the Web API for them"
        )
    ws.user(user)
    channel = ws.channel(channel_ref)
    if user not in channel.members:
        if channel.is_private:
            raise ValueError(f"{user} is not a member of private channel {channel.id}")
        # Slack's clients join a public channel when you post in it
        channel.members.append(user)
    return channel


def user_message(
    ws: WorkspaceState,
    channel: str,
    user: str,
    text: str,
    *,
    thread_ts: str | None = None,
    files: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Post a message as a person; return the `message` event body."""
    target = _human(ws, channel, user)
    parent = ws.message(target.id, thread_ts) if thread_ts else None
    root = (parent.thread_ts or parent.ts) if parent else None
    message = Message(
        target.id,
        ws.next_ts(),
        text,
        user,
        _rich_text(text),
        root,
        files=list(files or []),
    )
    if files:
        message.subtype = "file_share"
    ws.history[target.id].append(message)
    event = {
        **message.to_json(),
        "channel": target.id,
        "event_ts": message.ts,
        "channel_type": _channel_type(target),
    }
    event["client_msg_id"] = str(uuid.uuid4())
    if parent is not None:
        event["parent_user_id"] = ws.message(target.id, root or "").user
    return event_envelope(event)


def user_edit(
    ws: WorkspaceState, channel: str, ts: str, user: str, new_text: str
) -> dict[str, Any]:
    """Edit a person's own message; return the `message_changed` event body."""
    target = _human(ws, channel, user)
    message = ws.message(target.id, ts)
    if message.user != user:
        raise SlackError("cant_update_message")
    previous = copy.deepcopy(ws.message_json(message))
    event_ts = ws.next_ts()
    message.text, message.blocks = new_text, _rich_text(new_text)
    message.edited = {"user": user, "ts": event_ts}
    event = {
        "type": "message",
        "subtype": "message_changed",
        "hidden": True,
        "channel": target.id,
        "ts": event_ts,
        "event_ts": event_ts,
        "channel_type": _channel_type(target),
        "message": ws.message_json(message),
        "previous_message": previous,
    }
    return event_envelope(event)


def user_delete(ws: WorkspaceState, channel: str, ts: str) -> dict[str, Any]:
    """Delete a message (a person or an admin did it); return the `message_deleted` event body."""
    target = ws.channel(channel)
    message = ws.message(target.id, ts)
    previous = ws.message_json(message)
    ws.history[target.id].remove(message)
    target.pins.pop(ts, None)
    event_ts = ws.next_ts()
    event = {
        "type": "message",
        "subtype": "message_deleted",
        "hidden": True,
        "channel": target.id,
        "ts": event_ts,
        "deleted_ts": ts,
        "event_ts": event_ts,
        "channel_type": _channel_type(target),
        "previous_message": previous,
    }
    return event_envelope(event)


def user_pin(ws: WorkspaceState, channel: str, ts: str, user: str) -> dict[str, Any]:
    """Pin a message as a person; return the `pin_added` event body."""
    target = _human(ws, channel, user)
    message = ws.message(target.id, ts)
    if ts in target.pins:
        raise SlackError("already_pinned")
    created = int(time.time())
    target.pins[ts] = (user, created)
    item = {
        "type": "message",
        "created": created,
        "created_by": user,
        "channel": target.id,
    }
    event = {
        "type": "pin_added",
        "user": user,
        "channel_id": target.id,
        "item": {**item, "message": ws.message_json(message)},
        "item_user": message.user,
        "pin_count": len(target.pins),
        "pinned_info": {"channel": target.id, "pinned_by": user, "pinned_ts": created},
        "event_ts": ws.next_ts(),
    }
    return event_envelope(event)


def user_react(
    ws: WorkspaceState, channel: str, ts: str, user: str, reaction: str
) -> dict[str, Any]:
    """Add a person's reaction; return the `reaction_added` event body."""
    target = _human(ws, channel, user)
    message = ws.message(target.id, ts)
    name = reaction.strip(":")
    add_reaction(message, name, user)
    event = {
        "type": "reaction_added",
        "user": user,
        "reaction": name,
        "item_user": message.user,
        "item": {"type": "message", "channel": target.id, "ts": ts},
        "event_ts": ws.next_ts(),
    }
    return event_envelope(event)


def app_home_opened(ws: WorkspaceState, user: str) -> dict[str, Any]:
    """Open the bot's App Home as a person; return the `app_home_opened` event body."""
    ws.user(user)
    event: dict[str, Any] = {
        "type": "app_home_opened",
        "user": user,
        "channel": ws.dm_channel(user).id,
        "tab": "home",
        "event_ts": ws.next_ts(),
    }
    home = ws.home_views.get(user)
    if home is not None:
        event["view"] = {**home.to_json(), "team_id": TEAM_ID}
    return event_envelope(event)
