"""Atlassian Statuspage, the optional mirror of the public status page (its REST API v1).

Owns two calls: create an incident on the page and update it (status, the update's text, the
affected components' states). Authenticated with the page's API key (`Authorization: OAuth …`);
one attempt per call (the next publish catches up); a failure leaves here as an
`ExternalServiceError` naming the status, never the key.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from bot.errors import ExternalServiceError

TIMEOUT = aiohttp.ClientTimeout(total=10)


class AtlassianStatuspage:
    def __init__(self, *, api_url: str, page_id: str, api_key: str) -> None:
        self.base = f"{api_url.rstrip('/')}/v1/pages/{page_id}/incidents"
        self._headers = {"Authorization": f"OAuth {api_key}"}

    async def create(
        self, *, name: str, status: str, body: str, components: dict[str, str]
    ) -> str:
        """Open an incident; return its id."""
        incident = {
            "name": name,
            "status": status,
            "body": body,
            "component_ids": list(components),
            "components": components,
        }
        found = await self._send("POST", self.base, {"incident": incident})
        return str(found["id"])

    async def update(
        self, remote_id: str, *, status: str, body: str, components: dict[str, str]
    ) -> None:
        incident = {"status": status, "body": body, "components": components}
        await self._send("PATCH", f"{self.base}/{remote_id}", {"incident": incident})

    async def _send(
        self, method: str, url: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        try:
            async with (
                aiohttp.ClientSession(
                    timeout=TIMEOUT, headers=self._headers
                ) as session,
                session.request(method, url, json=payload) as response,
            ):
                if response.status >= 300:
                    raise ExternalServiceError(
                        f"Statuspage refused the update: HTTP {response.status}",
                        service="statuspage",
                        code=str(response.status),
                        retryable=response.status == 429 or response.status >= 500,
                    )
                found = await response.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ExternalServiceError(
                f"Statuspage could not be reached: {type(exc).__name__}",
                service="statuspage",
                code=type(exc).__name__,
                retryable=True,
            ) from None
        return dict(found)
