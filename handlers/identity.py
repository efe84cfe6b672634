"""Who the bot is in Slack, learned in the background, so no request ever waits on `auth.test`.

Bolt's default single-team authorization calls `auth.test` on the first request and again on every
request while it fails: with Slack slow or down, acks would wait on Slack. Here `authorize` answers
from memory at once, and `learn` fills in the bot's ids (used to ignore its own events) with retries.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


class BotIdentity:
    def __init__(self, token: str | None) -> None:
        self.token = token
        self.user_id: str | None = None
        self.bot_id: str | None = None
        self.team_id: str | None = None

    def authorizer(
        self,
    ) -> Callable[[str | None, str | None], Awaitable[AuthorizeResult]]:
        """Bolt's `authorize` function (a plain function: Bolt injects arguments by parameter name)."""

        async def authorize(
            enterprise_id: str | None, team_id: str | None
        ) -> AuthorizeResult:
            return AuthorizeResult(
                enterprise_id=enterprise_id,
                team_id=team_id or self.team_id,
                bot_token=self.token,
                bot_user_id=self.user_id,
                bot_id=self.bot_id,
            )

        return authorize

    async def learn(
        self, client: AsyncWebClient, *, attempts: int = 0, pause: float = 2.0
    ) -> bool:
        """Call `auth.test` until it answers (forever when attempts is 0); return whether it did."""
        tried = 0
        while attempts == 0 or tried < attempts:
            tried += 1
            try:
                response = await client.auth_test()
            except (SlackApiError, SlackRequestError, OSError, TimeoutError) as exc:
                log.warning(
                    "auth.test failed (%s); Slack identity unknown for now",
                    type(exc).__name__,
                )
                await asyncio.sleep(min(60.0, pause * tried))
                continue
            self.user_id, self.bot_id = response.get("user_id"), response.get("bot_id")
            self.team_id = response.get("team_id")
            return True
        return False
