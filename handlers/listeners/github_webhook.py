"""`POST /github/webhook`: GitHub `issues` webhooks (a follow-up's issue closed or reopened), a
thin aiohttp adapter. Hands the raw body and its `X-Hub-Signature-256` to
`FollowUpService.github_webhook` and maps the outcome: 401 for a missing or wrong signature,
otherwise 200 (GitHub shows anything else as a failed delivery)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.gateways.github import SIGNATURE_HEADER
from bot.services import Services

MAX_BODY = 1024 * 1024  # an issues event is tens of kilobytes; refuse anything absurd


def github_webhook(
    services: Services,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle_github_webhook(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return web.Response(status=413, text="payload too large")
        body = await request.read()
        outcome = await services.followups.github_webhook(
            body, signature=request.headers.get(SIGNATURE_HEADER)
        )
        if outcome == "forged":
            return web.Response(status=401, text="invalid signature")
        return web.json_response({"outcome": outcome})

    return handle_github_webhook
