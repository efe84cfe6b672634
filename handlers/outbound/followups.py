"""The Slack side of `FollowUpPort`: follow-ups told in the incident channel, overdue owners told
by direct message. Posts go through the outbox (ordered, retried, once per key); text is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.gateways.slack.outbox import CHANNEL, Outbox, lane
from bot.models.followups import FollowUp
from bot.models.incidents import Incident, OutboxMessage
from handlers.blocks.postmortem import followup_line

ICONS = {
    "added": ":pushpin:",
    "filed": ":link:",
    "done": ":white_check_mark:",
    "reopened": ":leftwards_arrow_with_hook:",
}


class SlackFollowUpPort:
    """Implements bot.services.ports.FollowUpPort with outbox messages."""

    def __init__(self, *, outbox: Outbox) -> None:
        self.outbox = outbox

    def incident_link(self, incident: Incident) -> str:
        # slack.com/app_redirect opens the channel in the reader's own workspace.
        return f"https://slack.com/app_redirect?channel={incident.channel_id or ''}"

    async def followup_changed(
        self, incident: Incident, item: FollowUp, what: str, *, key: str
    ) -> None:
        n = incident.number
        text = f"{ICONS.get(what, '')} Follow-up {what}: {followup_line(item)}"
        await self.outbox.enqueue(
            OutboxMessage(
                method="chat.postMessage",
                args={"channel": CHANNEL, "text": text},
                channel_key=lane(n),
                dedup_key=f"inc-{n}:{key}",
                incident=n,
            )
        )

    async def overdue(self, owner: str, items: Sequence[FollowUp], *, key: str) -> None:
        lines = [f":alarm_clock: {len(items)} of your incident follow-ups are overdue:"]
        lines += [f"• INC-{i.incident} {followup_line(i)}" for i in items]
        await self.outbox.enqueue(
            OutboxMessage(
                method="chat.postMessage",
                args={"channel": owner, "text": "\n".join(lines)},
                channel_key=f"dm:{owner}",
                dedup_key=f"followups:{key}",
            )
        )
