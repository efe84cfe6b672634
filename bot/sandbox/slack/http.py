"""HTTP face of the local Slack workspace: the Web API, upload URLs and response_url hooks.

Owns the aiohttp routes, reading arguments from query string, form or JSON body, the token check,
fault injection, delays and Slack's rate limits (`limits.py`) at the HTTP level (429 + Retry-After,
5xx with an HTML body), recording
every call, and `serve()` on an ephemeral 127.0.0.1 port. Must not hold state of its own or decide
what a method does (the `slack_api_*` modules do).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import BodyPartReader, web

from bot.sandbox.slack import api_chat as slack_api_chat
from bot.sandbox.slack import api_conversations as slack_api_conversations
from bot.sandbox.slack import api_views as slack_api_views
from bot.sandbox.slack.args import Args, SlackError, decode_json_fields
from bot.sandbox.slack.socket_mode import connections_open
from bot.sandbox.slack.state import WorkspaceState

if TYPE_CHECKING:
    from bot.sandbox.slack.workspace import SlackWorkspace

API_METHODS: dict[str, Callable[[WorkspaceState, Args], dict[str, Any]]] = {
    **slack_api_conversations.METHODS,
    **slack_api_chat.METHODS,
    **slack_api_views.METHODS,
}
WORKSPACE = web.AppKey["SlackWorkspace"]("slack_workspace")
EDGE_ERROR_PAGE = "<html><head><title>{status} Error</title></head><body><h1>{status}</h1><p>Slack is having trouble.</p></body></html>"


@dataclass(frozen=True)
class RecordedCall:
    """One request the stand-in answered: Web API method (or `response_url`, `file_upload`)."""

    method: str
    args: dict[str, Any]
    status: int
    at: float  # time.monotonic() when the request arrived
    path: str = ""
    response: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return bool(self.response and self.response.get("ok"))

    @property
    def error(self) -> str | None:
        return None if self.response is None else self.response.get("error")


@dataclass
class Fault:
    """An injected failure for the next `times` calls of a method."""

    error: str
    times: int
    status: int | None = None
    retry_after: int | None = None

    def response(self) -> tuple[web.Response, dict[str, Any] | None]:
        """Return the HTTP response Slack's edge or API would give for this failure."""
        if self.status is not None and self.status >= 500:
            page = EDGE_ERROR_PAGE.format(status=self.status)
            return web.Response(
                status=self.status, text=page, content_type="text/html"
            ), None
        body = {"ok": False, "error": self.error}
        if self.error == "ratelimited":
            headers = {
                "Retry-After": str(
                    self.retry_after if self.retry_after is not None else 1
                )
            }
            return web.json_response(
                body, status=self.status or 429, headers=headers
            ), body
        return web.json_response(body, status=self.status or 200), body


@dataclass(frozen=True)
class RunningWorkspace:
    """A workspace being served; hand `api_url` to `AsyncWebClient(base_url=...)`."""

    workspace: SlackWorkspace
    base_url: str  # http://127.0.0.1:PORT/

    @property
    def api_url(self) -> str:
        return f"{self.base_url}api/"

    def response_url(
        self,
        name: str,
        *,
        channel_id: str | None = None,
        user_id: str | None = None,
        message_ts: str | None = None,
    ) -> str:
        """Return a response_url on the stand-in; where its posts land is set by the keywords."""
        self.workspace.register_hook(
            name, channel_id=channel_id, user_id=user_id, message_ts=message_ts
        )
        return f"{self.base_url}hooks/{name}"


async def _read_values(request: web.Request) -> dict[str, Any]:
    """Merge query string, form body and JSON body, as slack_sdk uses all three."""
    values: dict[str, Any] = dict(request.query)
    body = await request.text()
    if body.strip():
        if request.content_type == "application/json" or body.lstrip().startswith("{"):
            try:
                parsed = json.loads(body)
            except json.JSONDecodeError:
                raise SlackError("invalid_json") from None
            if not isinstance(parsed, dict):
                raise SlackError("invalid_json")
            values.update(parsed)
        else:
            values.update(parse_qsl(body, keep_blank_values=True))
    return decode_json_fields(values)


def _bearer(request: web.Request, values: dict[str, Any]) -> str | None:
    """Return the token from `Authorization: Bearer` or, as Slack allows, a `token` argument."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip() or None
    token = values.pop("token", None)
    return str(token) if token else None


def _answer(
    ws: SlackWorkspace, method: str, token: str | None, args: Args
) -> tuple[web.Response, dict[str, Any] | None]:
    handler = API_METHODS.get(method)
    body: dict[str, Any]
    if handler is None:
        body = {"ok": False, "error": "unknown_method"}
    elif token is None:
        body = {"ok": False, "error": "not_authed"}
    elif not token.startswith(("xoxb-", "xoxp-")):
        body = {"ok": False, "error": "invalid_auth"}
    elif (fault := ws.take_fault(method)) is not None:
        return fault.response()
    elif (wait := _over_limit(ws, method, args)) is not None:
        return Fault("ratelimited", 1, retry_after=wait).response()
    else:
        try:
            body = {"ok": True, **handler(ws, args)}
        except SlackError as error:
            body = error.body()
    return web.json_response(body), body


def _over_limit(ws: SlackWorkspace, method: str, args: Args) -> int | None:
    """Retry-After when the workspace enforces Slack's rate limits and this call is over them."""
    if ws.rate_limits is None:
        return None
    channel = args.values.get("channel")
    if isinstance(channel, str):
        with suppress(SlackError):
            channel = ws.channel(channel).id
    return ws.rate_limits.retry_after(
        method, channel if isinstance(channel, str) else None
    )


async def _api(request: web.Request) -> web.Response:
    ws = request.app[WORKSPACE]
    method = request.match_info["method"]
    arrived = time.monotonic()
    await asyncio.sleep(ws.delay_for(method))
    body: dict[str, Any] | None
    try:
        values = await _read_values(request)
    except SlackError as error:
        values, response, body = {}, web.json_response(error.body()), error.body()
    else:
        token = _bearer(request, values)
        origin = f"{request.scheme}://{request.host}/"
        if method == "apps.connections.open":
            body = connections_open(origin, token)
            response = web.json_response(body)
        else:
            response, body = _answer(ws, method, token, Args(values, origin=origin))
    ws.record(
        RecordedCall(method, values, response.status, arrived, request.path, body)
    )
    await asyncio.sleep(ws.late_for(method))  # done already; only the answer is late
    return response


async def _upload(request: web.Request) -> web.Response:
    """The URL files.getUploadURLExternal hands out: takes the raw bytes (or one multipart file)."""
    ws = request.app[WORKSPACE]
    arrived = time.monotonic()
    file = ws.files.get(request.match_info["file_id"])
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        part = await reader.next()
        content = await part.read() if isinstance(part, BodyPartReader) else b""
    else:
        content = await request.read()
    status = 404 if file is None else 200
    if file is not None:
        file.content = bytes(content)
    ws.record(
        RecordedCall(
            "file_upload",
            {"file_id": request.match_info["file_id"], "size": len(content)},
            status,
            arrived,
            request.path,
        )
    )
    return web.Response(
        status=status,
        text=f"OK - {len(content)}" if file else "file not found",
        content_type="text/plain",
    )


async def _hook(request: web.Request) -> web.Response:
    """A response_url: Bolt's `respond()` posts JSON here."""
    ws = request.app[WORKSPACE]
    arrived = time.monotonic()
    text = await request.text()
    try:
        body = (
            json.loads(text) if text.lstrip().startswith("{") else dict(parse_qsl(text))
        )
    except json.JSONDecodeError:
        body = {"_raw": text}
    fault = ws.take_fault("response_url")
    if fault is not None:
        response, answer = fault.response()
    else:
        ws.apply_response_url(request.match_info["name"], body)
        response, answer = web.json_response({"ok": True}), {"ok": True}
    ws.record(
        RecordedCall(
            "response_url", body, response.status, arrived, request.path, answer
        )
    )
    return response


def make_app(workspace: SlackWorkspace) -> web.Application:
    """Build the aiohttp application that serves `workspace`."""
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app[WORKSPACE] = workspace
    app.router.add_route("*", "/api/{method}", _api)
    app.router.add_route("POST", "/upload/v1/{file_id}", _upload)
    app.router.add_route("PUT", "/upload/v1/{file_id}", _upload)
    app.router.add_route("POST", "/hooks/{name}", _hook)
    app.router.add_route("GET", "/link", workspace.sockets.handle)
    return app


@asynccontextmanager
async def serve(
    workspace: SlackWorkspace, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[RunningWorkspace]:
    """Serve `workspace` over HTTP until the block exits (port 0 picks a free port)."""
    runner = web.AppRunner(make_app(workspace), access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        yield RunningWorkspace(workspace, f"http://{host}:{bound_port}/")
    finally:
        await runner.cleanup()
