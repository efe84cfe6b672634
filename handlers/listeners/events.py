"""Events: every message, edit, deletion and file in an incident channel goes on the timeline;
pins and :pushpin: reactions mark key events; App Home shows open incidents. New messages, the most
frequent event, are recognised by `inline_message` and recorded by the journal middleware itself."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.models.incidents import NewEntry
from bot.services import Services
from handlers.access import Allow
from handlers.listeners import home
from handlers.middleware import journaled


def permalink(channel: str, ts: str) -> str:
    # slack.com/archives links resolve to the right workspace for a signed-in user; no API call needed.
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def _at(ts: str | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(ts), UTC) if ts else None
    except ValueError:
        return None


def message_entry(event: dict[str, Any], source: str) -> NewEntry | None:
    """Turn a message event (any subtype) into a timeline entry."""
    subtype, channel = event.get("subtype"), event.get("channel", "")
    if subtype == "message_changed":
        new, old = event.get("message") or {}, event.get("previous_message") or {}
        ts = str(new.get("ts") or "")
        return NewEntry(
            kind="edit",
            actor=new.get("user"),
            text=str(new.get("text") or ""),
            slack_ts=ts,
            occurred_at=_at(event.get("event_ts") or event.get("ts")),
            permalink=permalink(channel, ts),
            data={"previous_text": old.get("text", "")},
            source=source,
        )
    if subtype == "message_deleted":
        old, ts = (
            event.get("previous_message") or {},
            str(event.get("deleted_ts") or ""),
        )
        return NewEntry(
            kind="delete",
            actor=old.get("user"),
            text=str(old.get("text") or ""),
            slack_ts=ts,
            occurred_at=_at(event.get("event_ts") or event.get("ts")),
            data={"deleted": True},
            source=source,
        )
    if subtype in (
        "channel_join",
        "channel_leave",
        "channel_topic",
        "channel_purpose",
        "pinned_item",
    ):
        return None
    ts = str(event.get("ts") or "")
    files = [
        {"id": f.get("id"), "name": f.get("name"), "permalink": f.get("permalink")}
        for f in event.get("files") or []
    ]
    data: dict[str, Any] = {"files": files} if files else {}
    if event.get("thread_ts") and event.get("thread_ts") != ts:
        data["thread_ts"] = event["thread_ts"]
    if event.get("bot_id"):
        data["bot_id"] = event["bot_id"]
    return NewEntry(
        kind="message",
        actor=event.get("user") or event.get("bot_id"),
        text=str(event.get("text") or ""),
        slack_ts=ts,
        occurred_at=_at(ts),
        permalink=permalink(channel, ts),
        data=data,
        source=source,
    )


def inline_message(body: dict[str, Any], source: str) -> tuple[str, NewEntry] | None:
    """A new channel message: (channel, entry), recorded by the journal middleware before the ack.

    Edits and deletions (which look up the message they correct), pins and every other request go
    to their listener.
    """
    event = body.get("event") if body.get("type") == "event_callback" else None
    if not isinstance(event, dict) or event.get("type") != "message":
        return None
    entry = message_entry(event, source)
    if entry is None or entry.kind != "message":
        return None
    return str(event.get("channel") or ""), entry


async def handle_message_event(
    event: dict[str, Any], inbox_key: str, services: Services
) -> None:
    entry = message_entry(event, inbox_key)
    if entry is not None:
        await services.incidents.capture(
            channel_id=event.get("channel", ""), entry=entry
        )


async def handle_pin_added_event(
    event: dict[str, Any], inbox_key: str, services: Services
) -> None:
    message = (event.get("item") or {}).get("message") or {}
    ts = str(message.get("ts") or "")
    entry = NewEntry(
        kind="pin",
        actor=event.get("user"),
        text=str(message.get("text") or ""),
        slack_ts=ts,
        key_event=True,
        permalink=permalink(event.get("channel_id", ""), ts),
        source=inbox_key,
    )
    await services.incidents.capture(
        channel_id=event.get("channel_id", ""), entry=entry
    )


async def handle_reaction_added_event(
    event: dict[str, Any], inbox_key: str, services: Services
) -> None:
    item = event.get("item") or {}
    if event.get("reaction") != "pushpin" or item.get("type") != "message":
        return
    entry = NewEntry(
        kind="pushpin",
        actor=event.get("user"),
        slack_ts=item.get("ts"),
        key_event=True,
        permalink=permalink(item.get("channel", ""), str(item.get("ts"))),
        source=inbox_key,
    )
    await services.incidents.capture(channel_id=item.get("channel", ""), entry=entry)


async def handle_app_home_opened_event(
    event: dict[str, Any], services: Services
) -> None:
    if event.get("tab", "home") == "home":
        await home.publish(services, user_id=event["user"])


def register(app: AsyncApp) -> None:
    app.event("message")(journaled(handle_message_event, allow=Allow.ANYONE))
    app.event("pin_added")(journaled(handle_pin_added_event, allow=Allow.ANYONE))
    app.event("reaction_added")(
        journaled(handle_reaction_added_event, allow=Allow.ANYONE)
    )
    app.event("app_home_opened")(
        journaled(handle_app_home_opened_event, allow=Allow.ANYONE)
    )
