"""`POST /pagerduty/webhook`: PagerDuty v3 webhooks (HTTP mode only), a thin aiohttp adapter.

Reads the raw body, hands it with the signature header and the delivery id to
`PagerDutySync.webhook`, and maps the outcome to a status: 401 for a missing or wrong signature,
otherwise 200 (PagerDuty retries anything else, and a redelivery is recognised by its id).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.gateways.pagerduty.webhooks import SIGNATURE_HEADER
from bot.services import Services
from bot.services.paging.sync import WebhookOutcome

MAX_BODY = 512 * 1024  # PagerDuty webhook payloads are small; refuse anything absurd


def pagerduty_webhook(
    services: Services,
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Build the route handler bound to `services`."""

    async def handle_pagerduty_webhook(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return web.Response(status=413, text="payload too large")
        body = await request.read()
        outcome = await services.comms.pd_sync.webhook(
            body=body,
            signature=request.headers.get(SIGNATURE_HEADER),
            delivery_id=request.headers.get("X-Webhook-Id"),
        )
        if outcome is WebhookOutcome.FORGED:
            return web.Response(status=401, text="invalid signature")
        return web.json_response({"outcome": outcome.value})

    return handle_pagerduty_webhook
