"""The Slack side of the runbook ports: `SlackRunbookAnnouncer` (outbox messages).

The announcer posts the runbook message and one card per AWS step, updates them as steps move, and
replies in a card's thread with results. It never calls Slack directly: messages go through the
outbox, which records each card's ts when it is sent (the message's purpose is its `CardRef.key`)
and fills a `CardRef.placeholder` with it at send time.
"""

from __future__ import annotations

from typing import Any

from bot.gateways.slack.outbox import Outbox, card_lane, lane
from bot.models.incidents import CardRef, OutboxMessage
from bot.services.runbooks.views import RunbookView
from handlers.blocks import runbooks as runbook_blocks


class SlackRunbookAnnouncer:
    """Implements bot.services.ports.RunbookAnnouncer with outbox messages."""

    def __init__(self, *, outbox: Outbox) -> None:
        self.outbox = outbox

    def _message(
        self,
        view: RunbookView,
        method: str,
        args: dict[str, Any],
        key: str,
        purpose: str = "",
        card: CardRef | None = None,
    ) -> OutboxMessage:
        """A call in the incident channel; updating `card`, in that card's own lane."""
        n = view.incident.number
        return OutboxMessage(
            method=method,
            args={"channel": "{incident.channel}", **args},
            channel_key=card_lane(n, card.key) if card else lane(n),
            dedup_key=f"inc-{n}:rb-{view.runbook.id}:{key}",
            incident=n,
            purpose=purpose,
        )

    async def runbook_posted(self, view: RunbookView) -> None:
        rb = view.runbook.id
        text, blocks = runbook_blocks.runbook_message(view)
        messages = [
            self._message(
                view,
                "chat.postMessage",
                {"text": text, "blocks": blocks},
                "card:",
                CardRef(rb).key,
            )
        ]
        for item in view.steps:
            if item.actionable:
                text, blocks = runbook_blocks.step_card(view, item.step.id)
                messages.append(
                    self._message(
                        view,
                        "chat.postMessage",
                        {"text": text, "blocks": blocks},
                        f"card:{item.step.id}",
                        CardRef(rb, item.step.id).key,
                    )
                )
        await self.outbox.enqueue(*messages)

    async def step_changed(
        self, view: RunbookView, step_id: str, *, key: str, reply: str | None = None
    ) -> None:
        rb = view.runbook.id
        messages = []
        if view.step(step_id).actionable:
            text, blocks = runbook_blocks.step_card(view, step_id)
            messages.append(
                self._message(
                    view,
                    "chat.update",
                    {
                        "ts": CardRef(rb, step_id).placeholder,
                        "text": text,
                        "blocks": blocks,
                    },
                    f"{key}:update:{step_id}",
                    card=CardRef(rb, step_id),
                )
            )
            if reply:
                messages.append(
                    self._message(
                        view,
                        "chat.postMessage",
                        {
                            "thread_ts": CardRef(rb, step_id).placeholder,
                            "text": reply[:3000],
                        },
                        f"{key}:reply:{step_id}",
                    )
                )
        text, blocks = runbook_blocks.runbook_message(view)
        messages.append(
            self._message(
                view,
                "chat.update",
                {"ts": CardRef(rb).placeholder, "text": text, "blocks": blocks},
                f"{key}:overview",
                card=CardRef(rb),
            )
        )
        await self.outbox.enqueue(*messages)
