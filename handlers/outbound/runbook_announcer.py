"""The Slack side of the runbook ports: `SlackRunbookAnnouncer` (outbox messages).

The announcer posts the runbook message and one card per AWS step, records their timestamps when the
outbox has sent them, updates them as steps move, and replies in a card's thread with results. It
never calls Slack directly: messages go through the outbox, whose `{incident.card:<runbook>:<step>}`
placeholders are filled once the card exists. The authoriser answers "may this person approve" from
settings (users and user groups, looked up in Slack).
"""

from __future__ import annotations

from typing import Any

from bot.gateways.slack.outbox import Outbox
from bot.models.incidents import OutboxMessage, OutboxRow
from bot.services.runbooks.views import RunbookView
from bot.storage import Storage
from handlers.blocks import runbooks as runbook_blocks

PURPOSE = "runbook-card"


def placeholder(runbook: int, step: str) -> str:
    return "{incident.card:%d:%s}" % (runbook, step)  # noqa: UP031  # braces are literal here


class SlackRunbookAnnouncer:
    """Implements bot.services.runbooks.RunbookAnnouncer with outbox messages."""

    def __init__(self, *, outbox: Outbox, storage: Storage) -> None:
        self.outbox, self.storage = outbox, storage
        outbox.on_sent(PURPOSE, self._card_sent)

    def _message(
        self,
        view: RunbookView,
        method: str,
        args: dict[str, Any],
        key: str,
        purpose: str = "",
    ) -> OutboxMessage:
        n = view.incident.number
        return OutboxMessage(
            method=method,
            args={"channel": "{incident.channel}", **args},
            channel_key=f"incident:{n}",
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
                PURPOSE,
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
                        PURPOSE,
                    )
                )
        del rb
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
                    {"ts": placeholder(rb, step_id), "text": text, "blocks": blocks},
                    f"{key}:update:{step_id}",
                )
            )
            if reply:
                messages.append(
                    self._message(
                        view,
                        "chat.postMessage",
                        {"thread_ts": placeholder(rb, step_id), "text": reply[:3000]},
                        f"{key}:reply:{step_id}",
                    )
                )
        text, blocks = runbook_blocks.runbook_message(view)
        messages.append(
            self._message(
                view,
                "chat.update",
                {"ts": placeholder(rb, ""), "text": text, "blocks": blocks},
                f"{key}:overview",
            )
        )
        await self.outbox.enqueue(*messages)

    async def _card_sent(self, row: OutboxRow, result: dict[str, Any]) -> None:
        # dedup_key is inc-<n>:rb-<runbook>:card:<step>
        _, rb, _, step = row.dedup_key.split(":", 3)
        await self.storage.set_card_ts(
            int(rb.removeprefix("rb-")), step, str(result["ts"])
        )
