"""The Slack side of the `ChannelHistory` port: an incident channel's messages, read back with
`conversations.history` (through the outbox's client and its rate-limit handling), as the same
timeline entries the live message events make."""

from __future__ import annotations

from bot.gateways.slack.outbox import Outbox
from bot.models.incidents import NewEntry
from handlers.listeners.events import message_entry


class SlackHistory:
    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    async def entries_since(self, channel_id: str, after: str) -> list[NewEntry]:
        messages = await self.outbox.history(channel_id, after=after)
        entries = (
            message_entry(
                {**m, "channel": channel_id}, f"backfill:{channel_id}:{m.get('ts')}"
            )
            for m in messages
        )
        return [e for e in entries if e is not None and e.kind == "message"]
