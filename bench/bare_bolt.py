"""A bare Bolt app that only acks: the baseline for the acknowledgement-latency benchmark.

Same Bolt, same aiohttp server, same signature check as warroom; no journal, no work.
Run as `python -m bench.bare_bolt PORT SIGNING_SECRET API_URL`.
"""

from __future__ import annotations

import sys
from typing import Any

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.web.async_client import AsyncWebClient


def build(signing_secret: str, api_url: str) -> AsyncApp:
    async def authorize(
        enterprise_id: str | None, team_id: str | None
    ) -> AuthorizeResult:
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id,
            bot_token="xoxb-test-bare-bolt",
        )

    app = AsyncApp(
        client=AsyncWebClient(base_url=api_url),
        authorize=authorize,
        signing_secret=signing_secret,
    )

    async def just_ack(ack: Any) -> None:
        await ack()

    app.command("/incident")(just_ack)
    app.action({"action_id": "card-timeline"})(just_ack)
    app.event("message")(just_ack)
    return app


def main(argv: list[str]) -> int:
    port, secret, api_url = int(argv[0]), argv[1], argv[2]
    web.run_app(
        build(secret, api_url).web_app(path="/slack/events"),
        host="127.0.0.1",
        port=port,
        print=None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
