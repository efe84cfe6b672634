"""What an unanswered Slack call did. The Web API has no idempotency keys, so before the outbox sends
again a row whose last attempt got no answer (a crash, a timeout), it looks for that attempt's effect:

- a post, by the outbox key every post carries as message metadata, in the channel's history;
- a new channel, by its name among the bot's channels created since the row was queued.

A lookup that fails raises the caller's error: the outbox then sends again, the lesser harm.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from bot.models.incidents import OutboxRow

MARK = (
    "warroom_outbox"  # message metadata event_type carrying the outbox key of each post
)
# Slack's clock and ours may disagree a little about when a channel was created.
CLOCK_SKEW = timedelta(minutes=1)
MAX_PAGES = 50

Call = Callable[..., Awaitable[dict[str, Any]]]


def marked(args: dict[str, Any], row: OutboxRow) -> dict[str, Any]:
    """Post arguments carrying the row's outbox key, so the post can be found, not repeated."""
    return {
        **args,
        "metadata": {"event_type": MARK, "event_payload": {"key": row.dedup_key}},
    }


class EarlierAttempts:
    def __init__(self, call: Call) -> None:
        self._call = call

    async def find(self, row: OutboxRow, args: dict[str, Any]) -> dict[str, Any] | None:
        """The result the unanswered attempt of `row` had, if it took effect; else None."""
        if row.method == "chat.postMessage":
            return await self._posted(row, args["channel"])
        if row.method == "conversations.create" and row.created_at is not None:
            return await self._created(args["name"], since=row.created_at - CLOCK_SKEW)
        return None

    async def _posted(self, row: OutboxRow, channel: str) -> dict[str, Any] | None:
        # A read method Slack takes only as form arguments, not as JSON.
        args = {"channel": channel, "limit": 200, "include_all_metadata": True}
        history = await self._call("conversations.history", args, form=True)
        for message in history.get("messages") or []:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if (
                metadata.get("event_type") == MARK
                and payload.get("key") == row.dedup_key
            ):
                return {
                    "ok": True,
                    "channel": channel,
                    "ts": message.get("ts"),
                    "message": message,
                }
        return None

    async def _created(self, name: str, *, since: datetime) -> dict[str, Any] | None:
        cursor = ""
        for _ in range(MAX_PAGES):
            args = {
                "types": "public_channel,private_channel",
                "exclude_archived": "true",
                "limit": 200,
                "cursor": cursor,
            }
            page = await self._call("users.conversations", args, form=True)
            for channel in page.get("channels") or []:
                if (
                    channel.get("name") == name
                    and channel.get("created", 0) >= since.timestamp()
                ):
                    return {"ok": True, "channel": channel}
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or ""
            if not cursor:
                break
        return None
