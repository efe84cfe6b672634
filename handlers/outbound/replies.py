"""Replies to a command's or a click's `response_url`, sent through the outbox like every other effect.

Bolt's own `respond` posts at once, so a request replayed after a crash (acknowledged, its reply
sent, the process killed before the request was marked done) answered twice. The journal
middleware puts a `Replies` in the context instead: each reply is queued in the outbox under the
request's inbox key and its place among the request's replies, so a replay queues nothing new.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.webhook import WebhookResponse

from bot.gateways.slack.outbox import RESPONSE_URL, Outbox
from bot.models.incidents import OutboxMessage


class Replies(AsyncRespond):
    """Bolt's `respond`, queued: the n-th reply of inbox request `key` is queued once."""

    def __init__(self, outbox: Outbox, *, response_url: str, key: str, user: str):
        super().__init__(response_url=response_url)
        self._outbox, self._key, self._user, self._sent = outbox, key, user, 0

    async def __call__(  # type: ignore[override]  # dict blocks only; the reply is queued
        self,
        text: str | dict[str, Any] = "",
        blocks: Sequence[dict[str, Any]] | None = None,
        attachments: Sequence[dict[str, Any]] | None = None,
        response_type: str | None = None,
        replace_original: bool | None = None,
        delete_original: bool | None = None,
        unfurl_links: bool | None = None,
        unfurl_media: bool | None = None,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> WebhookResponse:
        fields = {
            "blocks": list(blocks) if blocks is not None else None,
            "attachments": list(attachments) if attachments is not None else None,
            "response_type": response_type,
            "replace_original": replace_original,
            "delete_original": delete_original,
            "unfurl_links": unfurl_links,
            "unfurl_media": unfurl_media,
            "thread_ts": thread_ts,
            "metadata": metadata,
        }
        body = text if isinstance(text, dict) else {"text": text}
        body = {**body, **{k: v for k, v in fields.items() if v is not None}}
        self._sent += 1
        await self._outbox.enqueue(
            OutboxMessage(
                method=RESPONSE_URL,
                args={"url": self.response_url, "body": body},
                channel_key=f"replies:{self._user}",
                dedup_key=f"{self._key}:reply:{self._sent}",
                purpose="reply",
            )
        )
        return WebhookResponse(
            url=str(self.response_url), status_code=202, body="queued", headers={}
        )
