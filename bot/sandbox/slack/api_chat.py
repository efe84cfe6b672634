"""Web API methods on messages: chat.*, pins.*, reactions.* and the external file upload.

Owns what each method does to the workspace state and the body it answers with, using Slack's
error strings. Must not speak HTTP, record calls or inject faults (`slack_http` does).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

from bot.sandbox.slack.args import Args, SlackError
from bot.sandbox.slack.blocks import check_message
from bot.sandbox.slack.records import (
    BOT_USER_ID,
    WORKSPACE_URL,
    Channel,
    Ephemeral,
    Message,
    UploadedFile,
)
from bot.sandbox.slack.state import WorkspaceState

TS_PATTERN = re.compile(r"^\d+\.\d+$")


def _postable_channel(ws: WorkspaceState, args: Args) -> Channel:
    """Resolve `channel` for posting: an id, a name, or a user id (the bot's DM with them)."""
    ref = args.text("channel", error="channel_not_found")
    if ref in ws.users and ref != BOT_USER_ID:
        return ws.dm_channel(ref)
    channel = ws.channel(ref)
    if channel.is_private and not channel.is_im and BOT_USER_ID not in channel.members:
        raise SlackError("not_in_channel")
    if channel.archived:
        raise SlackError("is_archived")
    return channel


def _content(
    args: Args, *, required: bool
) -> tuple[str | None, list[dict[str, Any]] | None]:
    """Return the call's `text` and `blocks`, checked against Slack's limits."""
    text = args.optional_text("text")
    blocks = args.json("blocks", error="invalid_blocks")
    check_message(text, blocks)
    if required and not text and not blocks and not args.get("attachments"):
        raise SlackError("no_text")
    return text, blocks


def _thread_root(
    ws: WorkspaceState, channel: Channel, thread_ts: str | None
) -> str | None:
    """Return the thread a reply belongs to; a reply to a reply joins the parent's thread."""
    if thread_ts is None:
        return None
    if not TS_PATTERN.match(thread_ts):
        raise SlackError(
            "invalid_thread_ts",
            messages=[f"[ERROR] {thread_ts} is not a valid thread_ts"],
        )
    try:
        parent = ws.message(channel.id, thread_ts)
    except SlackError:
        # Slack answers ok to a well-formed ts it cannot find: the reply lands in an orphan
        # thread nobody sees (python-slack-sdk#840). history() hides it the same way.
        return thread_ts
    return parent.thread_ts or parent.ts


def post_message(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    channel = _postable_channel(ws, args)
    text, blocks = _content(args, required=True)
    thread_ts = _thread_root(ws, channel, args.optional_text("thread_ts"))
    message = Message(
        channel.id, ws.next_ts(), text or "", BOT_USER_ID, blocks or [], thread_ts
    )
    metadata = args.values.get("metadata")
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    if metadata is not None:
        if not isinstance(metadata, dict) or "event_type" not in metadata:
            raise SlackError("invalid_metadata_format")
        message.metadata = metadata
    ws.history[channel.id].append(message)
    return {
        "channel": channel.id,
        "ts": message.ts,
        "message": ws.message_json(message),
    }


def update(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    channel = ws.channel_arg(args)
    message = ws.message(channel.id, args.text("ts", error="message_not_found"))
    if not message.by_bot:
        raise SlackError("cant_update_message")
    if channel.archived:
        raise SlackError("is_archived")
    text, blocks = _content(args, required=False)
    if text is not None:
        message.text = text
    if blocks is not None:
        message.blocks = blocks
    message.edited = {"user": BOT_USER_ID, "ts": ws.next_ts()}
    return {
        "channel": channel.id,
        "ts": message.ts,
        "text": message.text,
        "message": ws.message_json(message),
    }


def post_ephemeral(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    channel = _postable_channel(ws, args)
    user = ws.user(args.text("user", error="user_not_found"))
    if user.id not in channel.members:
        raise SlackError("user_not_in_channel")
    text, blocks = _content(args, required=True)
    ephemeral = Ephemeral(
        channel.id,
        user.id,
        ws.next_ts(),
        text or "",
        blocks or [],
        args.optional_text("thread_ts"),
    )
    ws.ephemerals.append(ephemeral)
    return {"message_ts": ephemeral.ts}


def delete(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    channel = ws.channel_arg(args)
    message = ws.message(channel.id, args.text("ts", error="message_not_found"))
    if not message.by_bot:
        raise SlackError("cant_delete_message")
    ws.history[channel.id].remove(message)
    channel.pins.pop(message.ts, None)
    return {"channel": channel.id, "ts": message.ts}


def get_permalink(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    channel = ws.channel_arg(args)
    message = ws.message(channel.id, args.text("message_ts", error="message_not_found"))
    link = f"{WORKSPACE_URL}archives/{channel.id}/p{message.ts.replace('.', '')}"
    if message.thread_ts and message.thread_ts != message.ts:
        link += f"?thread_ts={message.thread_ts}&cid={channel.id}"
    return {"channel": channel.id, "permalink": link}


def _member_message(ws: WorkspaceState, args: Args) -> tuple[Channel, Message]:
    """Resolve `channel` + `timestamp` for pins and reactions (the bot must be in the channel)."""
    channel = ws.channel_arg(args)
    if BOT_USER_ID not in channel.members:
        raise SlackError("not_in_channel")
    if channel.archived:
        raise SlackError("is_archived")
    ts = args.optional_text("timestamp")
    if ts is None:
        raise SlackError("no_item_specified")
    return channel, ws.message(channel.id, ts)


def pins_add(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    channel, message = _member_message(ws, args)
    if message.ts in channel.pins:
        raise SlackError("already_pinned")
    channel.pins[message.ts] = (BOT_USER_ID, int(time.time()))
    return {}


def pins_remove(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    channel, message = _member_message(ws, args)
    if channel.pins.pop(message.ts, None) is None:
        raise SlackError("not_pinned")
    return {}


def pins_list(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    channel = ws.channel_arg(args)
    items = []
    for ts, (pinned_by, created) in channel.pins.items():
        message = ws.message(channel.id, ts)
        item = {
            "type": "message",
            "channel": channel.id,
            "created": created,
            "created_by": pinned_by,
        }
        items.append({**item, "message": ws.message_json(message)})
    return {"items": items}


def reactions_add(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    _, message = _member_message(ws, args)
    name = args.text("name", error="invalid_name").strip(":")
    add_reaction(message, name, BOT_USER_ID)
    return {}


def add_reaction(message: Message, name: str, user_id: str) -> None:
    """Add `user_id`'s reaction `name` to a message, or fail with already_reacted."""
    for reaction in message.reactions:
        if reaction["name"] == name:
            if user_id in reaction["users"]:
                raise SlackError("already_reacted")
            reaction["users"].append(user_id)
            reaction["count"] += 1
            return
    message.reactions.append({"name": name, "users": [user_id], "count": 1})


def get_upload_url(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    filename = args.text("filename")
    length = args.number("length", -1)
    if length < 0:
        raise SlackError("invalid_arguments")
    file = UploadedFile(ws.new_id("F"), filename, length, int(time.time()))
    ws.files[file.id] = file
    return {"upload_url": f"{args.origin}upload/v1/{file.id}", "file_id": file.id}


def complete_upload(ws: WorkspaceState, args: Args) -> dict[str, Any]:
    entries = args.json("files")
    if not isinstance(entries, list) or not entries:
        raise SlackError("invalid_arguments")
    files: list[UploadedFile] = []
    for entry in entries:
        file = ws.files.get(str(entry.get("id"))) if isinstance(entry, dict) else None
        if file is None or file.content is None:
            raise SlackError("file_not_found")
        file.title = str(entry.get("title") or file.filename)
        files.append(file)
    targets = [
        ref for ref in (args.optional_text("channel_id"), *args.ids("channels")) if ref
    ]
    for ref in targets:
        _share(ws, _postable_channel(ws, Args({"channel": ref})), files, args)
    return {"files": [{"id": file.id, "title": file.title} for file in files]}


def _share(
    ws: WorkspaceState, channel: Channel, files: list[UploadedFile], args: Args
) -> None:
    """Post the message that shares uploaded files in a channel."""
    comment = args.optional_text("initial_comment") or ""
    for file in files:
        file.initial_comment = comment
        file.channels.append(channel.id)
    thread_ts = _thread_root(ws, channel, args.optional_text("thread_ts"))
    message = Message(
        channel.id, ws.next_ts(), comment, BOT_USER_ID, thread_ts=thread_ts
    )
    message.files = [file.to_json() for file in files]
    ws.history[channel.id].append(message)


METHODS: dict[str, Callable[[WorkspaceState, Args], dict[str, Any]]] = {
    "chat.postMessage": post_message,
    "chat.update": update,
    "chat.postEphemeral": post_ephemeral,
    "chat.delete": delete,
    "chat.getPermalink": get_permalink,
    "pins.add": pins_add,
    "pins.remove": pins_remove,
    "pins.list": pins_list,
    "reactions.add": reactions_add,
    "files.getUploadURLExternal": get_upload_url,
    "files.completeUploadExternal": complete_upload,
}
