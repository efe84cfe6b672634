"""Socket Mode in the local Slack workspace: `apps.connections.open` and the `/link` WebSocket.

Slack pushes envelopes (`slash_commands`, `interactive`, `events_api`) to a connected app and reads
its ack frames (`{"envelope_id": ..., "payload": ...}`). `SocketHub.send` does the same for tests
and returns the app's ack. Nothing here sends HTTP requests to the bot.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from aiohttp import WSMsgType, web


class SocketHub:
    """The app's open Socket Mode connections and the acks it has sent back."""

    def __init__(self) -> None:
        self.connections: list[web.WebSocketResponse] = []
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.connected = asyncio.Event()

    async def send(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        retry_attempt: int = 0,
        within: float = 60.0,
    ) -> dict[str, Any]:
        """Push an envelope to the first connection; return the app's ack frame."""
        await asyncio.wait_for(self.connected.wait(), within)
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": retry_attempt,
            "retry_reason": "timeout" if retry_attempt else "",
        }
        waiter: asyncio.Future[dict[str, Any]] = (
            asyncio.get_running_loop().create_future()
        )
        self._acks[envelope_id] = waiter
        await self.connections[0].send_str(json.dumps(envelope))
        return await asyncio.wait_for(waiter, within)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self.connections.append(socket)
        await socket.send_str(
            json.dumps({"type": "hello", "num_connections": len(self.connections)})
        )
        self.connected.set()
        try:
            async for message in socket:
                if message.type is WSMsgType.TEXT:
                    frame = json.loads(message.data)
                    waiter = self._acks.pop(str(frame.get("envelope_id")), None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(frame)
        finally:
            self.connections.remove(socket)
            if not self.connections:
                self.connected.clear()
        return socket


def connections_open(origin: str, token: str | None) -> dict[str, Any]:
    """The `apps.connections.open` answer: app-level tokens only."""
    if not token:
        return {"ok": False, "error": "not_authed"}
    if not token.startswith("xapp-"):
        return {"ok": False, "error": "invalid_auth"}
    return {"ok": True, "url": origin.replace("http://", "ws://", 1) + "link"}
