"""`POST /aws/sns`: Amazon SNS deliveries (CloudWatch alarms), a thin aiohttp adapter.

Reads the raw body and hands it to `AlertService.from_sns`; a delivery that fails its checks is
answered 403 and nothing is recorded, anything else 200 (SNS retries other answers).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.services import Services
from bot.services.alerts.service import SnsOutcome

MAX_BODY = 256 * 1024  # SNS messages are at most 256 KB


def sns_endpoint(
    services: Services,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Build the route handler bound to `services`."""

    async def handle_sns(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return web.Response(status=413, text="payload too large")
        outcome = await services.alerts.from_sns(await request.read())
        if outcome is SnsOutcome.REJECTED:
            return web.Response(status=403, text="not a genuine SNS delivery")
        return web.json_response({"outcome": outcome.value})

    return handle_sns
