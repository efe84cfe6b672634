"""The Slack side of the `PostmortemPublisher` port: shares a post-mortem draft as a file.

Owns Slack's external upload flow (what slack_sdk's `files_upload_v2` does, done step by step so
the file is streamed from disk rather than read into memory): files.getUploadURLExternal, the upload
itself, files.completeUploadExternal into the incident channel. A draft is always a file, whatever
its size, never a (truncated) message. It also starts the automatic draft once the resolution's head
hash has been posted (an outbox hook), so resolving never waits for it. Failures are retried a few
times (Retry-After honoured), then shown in the channel through the outbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import ExternalServiceError
from bot.gateways.slack.outbox import CHANNEL, Outbox, SlackCallFailed, lane
from bot.models.incidents import Incident, OutboxMessage, OutboxRow
from bot.services.postmortem.service import PostmortemService, auto_source
from bot.storage.postmortems import PostmortemRecord
from handlers.blocks import incidents as blocks
from handlers.blocks import postmortem as postmortem_blocks
from handlers.outbound.announcer import direct_messages

RESOLUTION_PURPOSE = (
    "resolution-chain"  # the announcer's message with the head hash at resolve
)
ATTEMPTS = 3
MAX_WAIT_S = 30.0


class SlackPostmortemPublisher:
    """Implements bot.services.ports.PostmortemPublisher with the Web API."""

    def __init__(
        self, *, client: AsyncWebClient, outbox: Outbox, backoff_base: float = 1.0
    ) -> None:
        self.client, self.outbox, self.backoff_base = client, outbox, backoff_base
        self.service: PostmortemService | None = None

    def bind(self, service: PostmortemService) -> None:
        """Connect to the service and build a draft after every resolution is posted."""
        self.service = service
        self.outbox.on_sent(RESOLUTION_PURPOSE, self._resolution_posted)

    async def _resolution_posted(self, row: OutboxRow, result: dict[str, Any]) -> None:
        if self.service is not None and row.incident is not None:
            self.service.publish_later(
                number=row.incident, trigger="resolve", source=auto_source(row.incident)
            )

    async def handles(self, user_ids: list[str]) -> dict[str, str]:
        """Slack handles (`users.info`); a user Slack cannot answer for is left out."""
        found: dict[str, str] = {}
        for user_id in user_ids:
            try:
                response = await self.client.users_info(user=user_id)
            except (
                SlackApiError,
                SlackRequestError,
                aiohttp.ClientError,
                TimeoutError,
            ):
                continue
            name = (response.get("user") or {}).get("name")
            if name:
                found[user_id] = str(name)
        return found

    async def upload(self, incident: Incident, draft: PostmortemRecord) -> str:
        title = f"{incident.key} post-mortem draft"
        ticket = await self._call(
            lambda: self.client.files_getUploadURLExternal(
                filename=draft.filename, length=draft.size
            )
        )
        file_id = str(ticket["file_id"])
        await self._call(lambda: self._send_bytes(str(ticket["upload_url"]), draft))
        comment = (
            f":page_facing_up: Post-mortem draft for {incident.key} ({draft.rows} timeline entries, head hash "
            f"`{draft.head_hash}`{'' if draft.chain_ok else ', CHAIN BROKEN: run `warroom verify`'}). "
            "Fill in the sections marked *To write* with the button below."
        )
        await self._call(
            lambda: self.client.files_completeUploadExternal(
                files=[{"id": file_id, "title": title}],
                channel_id=incident.channel_id,
                initial_comment=comment,
            )
        )
        return file_id

    async def upload_failed(
        self, incident: Incident, draft: PostmortemRecord, error: str
    ) -> None:
        text = (
            f":warning: The post-mortem draft for {incident.key} could not be uploaded ({blocks.escape(error)}). "
            f"It is saved on the bot's host as `{draft.filename}`; `/incident postmortem` tries again, and "
            f"`warroom export {incident.key}` writes it anew."
        )
        await self.outbox.enqueue(
            OutboxMessage(
                method="chat.postMessage",
                args={"channel": CHANNEL, "text": text},
                channel_key=lane(incident.number),
                dedup_key=f"inc-{incident.number}:postmortem-failed:{draft.id}",
                incident=incident.number,
            )
        )

    async def ask_author(
        self, incident: Incident, draft: PostmortemRecord, missing: list[str]
    ) -> None:
        text, blocks = postmortem_blocks.author_prompt(incident, missing)
        await self.outbox.enqueue(
            OutboxMessage(
                method="chat.postMessage",
                args={"channel": CHANNEL, "text": text, "blocks": blocks},
                channel_key=lane(incident.number),
                dedup_key=f"inc-{incident.number}:postmortem-author:{draft.id}",
                incident=incident.number,
            )
        )

    async def ask_review(
        self, incident: Incident, reviewers: list[str], *, by: str, key: str
    ) -> None:
        text = (
            f":mag: {blocks.user(by)} asks you to review the post-mortem of {incident.key}: the"
            f" newest draft is the last file in <#{incident.channel_id}>. Say what is wrong or"
            " missing there; `/incident postmortem final` closes the review."
        )
        await self.outbox.enqueue(
            *direct_messages(incident, reviewers, text, f"review:{key}")
        )

    async def remind_author(
        self, incident: Incident, missing: list[str], *, key: str
    ) -> None:
        text, blocks = postmortem_blocks.author_prompt(incident, missing)
        await self.outbox.enqueue(
            *direct_messages(incident, [incident.commander], text, key, blocks)
        )

    async def _send_bytes(self, url: str, draft: PostmortemRecord) -> None:
        timeout = aiohttp.ClientTimeout(total=300)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            with draft.path.open("rb") as body:
                async with session.post(url, data=body) as response:
                    if response.status != 200:
                        raise SlackCallFailed(
                            f"upload_http_{response.status}", status=response.status
                        )

    async def _call(self, send: Callable[[], Awaitable[Any]]) -> Any:
        """Run one step of the flow, retrying rate limits, 5xx and connection errors a few times."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await send()
            except SlackApiError as exc:
                status = exc.response.status_code
                error = str(exc.response.get("error") or f"http_{status}")
                retry = exc.response.headers.get(
                    "Retry-After"
                ) or exc.response.headers.get("retry-after")
                failure = (
                    SlackCallFailed(
                        error,
                        status=status,
                        retry_after=float(retry) if retry else None,
                    )
                    if status == 429 or status >= 500
                    else None
                )
                if failure is None:
                    raise ExternalServiceError(
                        f"Slack refused the upload: {error}",
                        service="slack",
                        code=error,
                    ) from None
            except (aiohttp.ClientError, TimeoutError) as exc:
                failure = SlackCallFailed(f"connection: {type(exc).__name__}", status=0)
            except SlackCallFailed as exc:
                failure = exc
            if attempt == ATTEMPTS:
                raise ExternalServiceError(
                    f"Slack upload failed: {failure.error}",
                    service="slack",
                    code=failure.error,
                    retryable=True,
                )
            await asyncio.sleep(
                min(MAX_WAIT_S, failure.retry_after or self.backoff_base * 2**attempt)
            )
        raise AssertionError("unreachable")
