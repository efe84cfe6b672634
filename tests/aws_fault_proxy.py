"""A fault-injecting HTTP proxy in front of moto, and the request log tests count AWS calls with.

Moto answers every call at once and correctly: it has no per-call throttling, no AccessDenied, no
5xx and no slow answers. This proxy sits between boto3 and moto on 127.0.0.1, works out the AWS
operation of each request (JSON `X-Amz-Target`, query `Action=`, CBOR path, REST method + path
matched against botocore's own service model) and, by rule, answers with the error AWS would send
for that protocol, holds the request back, or forwards it. Every request is logged, forwarded or
not: that log is how tests prove "sent exactly once". Test code only; it must never hold real
credentials and never talks to anything but the moto server it fronts.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import botocore.exceptions
import botocore.session
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

_SIGNING_TO_SERVICE = {"elasticloadbalancing": "elbv2", "monitoring": "cloudwatch"}
_CREDENTIAL = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_CBOR_PATH = re.compile(r"^/service/[^/]+/operation/([^/?]+)")
# Hop-by-hop and framing headers: aiohttp sets its own when it forwards.
_HOP_BY_HOP = frozenset(
    [
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "expect",
        "upgrade",
        "content-encoding",
        "proxy-connection",
        "te",
        "trailer",
    ]
)


def normalise(operation: str) -> str:
    """`DescribeDBSnapshots`, `describe_db_snapshots` and `rds:DescribeDBSnapshots` compare equal."""
    return operation.rsplit(":", 1)[-1].replace("_", "").lower()


@dataclass
class ProxyCall:
    """One request that reached the proxy."""

    service: str
    operation: str
    method: str
    path: str
    at: float
    outcome: str  # forwarded | throttled | denied | failed | error | delayed
    status: int = 0
    # Raw bodies are kept so tests can find what crossed the wire (moto's fake secrets included).
    body: bytes = b""
    response_body: bytes = b""
    form: dict[str, str] = field(default_factory=dict)
    access_key: str = ""  # the key id the request was signed with (never a secret)


@dataclass
class _Rule:
    kind: str
    operation: str
    service: str | None
    times: int | None
    status: int = 400
    seconds: float = 0.0
    code: str = ""
    message: str = ""
    gate: Hold | None = None

    def matches(self, service: str, operation: str) -> bool:
        if self.service not in (None, service):
            return False
        if self.operation not in ("*", normalise(operation)):  # "*": every operation
            return False
        if self.times is None:
            return True
        if self.times <= 0:
            return False
        self.times -= 1
        return True


@dataclass
class Hold:
    """A request held at the proxy until the test releases it: `arrived` is set when one is held."""

    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.released.set()


class AwsFaultProxy:
    """An aiohttp reverse proxy on 127.0.0.1; configure faults per operation, read `calls`."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.calls: list[ProxyCall] = []
        self._rules: list[_Rule] = []
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self.endpoint_url = ""

    # -- rules ---------------------------------------------------------------------------------

    def _add(self, kind: str, operation: str, times: int | None, **kw: Any) -> None:
        service, _, _ = operation.rpartition(":")
        self._rules.append(
            _Rule(kind, normalise(operation), service or None, times, **kw)
        )

    def throttle(self, operation: str, *, times: int | None = None) -> None:
        """Answer the protocol's throttling error (`times` calls, or always)."""
        self._add("throttled", operation, times)

    def deny(self, operation: str, *, times: int | None = None) -> None:
        """Answer AccessDenied / AccessDeniedException / UnauthorizedOperation."""
        self._add("denied", operation, times)

    def fail(
        self, operation: str, *, status: int = 500, times: int | None = None
    ) -> None:
        """Answer a 5xx server error without forwarding."""
        self._add("failed", operation, times, status=status)

    def error(
        self,
        operation: str,
        *,
        code: str,
        message: str,
        status: int = 400,
        times: int | None = None,
    ) -> None:
        """Answer any error code and message (e.g. a validation error that echoes input)."""
        self._add("error", operation, times, status=status, code=code, message=message)

    def delay(
        self, operation: str, seconds: float, *, times: int | None = None
    ) -> None:
        """Hold the request `seconds`, then forward it (a hang: AWS acts, the client may not hear)."""
        self._add("delayed", operation, times, seconds=seconds)

    def hold(self, operation: str, *, times: int | None = 1) -> Hold:
        """Hold the request until `release()`, then forward it (a slow call, with no clock in it)."""
        gate = Hold()
        self._add("held", operation, times, gate=gate)
        return gate

    def clear(self) -> None:
        """Drop every rule (the request log is kept)."""
        self._rules.clear()

    def count(
        self,
        operation: str | None = None,
        *,
        service: str | None = None,
        outcome: str | None = None,
    ) -> int:
        """How many requests for `operation` (any service, or `service:Op`) reached the proxy."""
        return len(self.find(operation, service=service, outcome=outcome))

    def find(
        self,
        operation: str | None = None,
        *,
        service: str | None = None,
        outcome: str | None = None,
    ) -> list[ProxyCall]:
        if operation and ":" in operation:
            service = service or operation.split(":", 1)[0]
        wanted = normalise(operation) if operation else None
        return [
            c
            for c in self.calls
            if (wanted is None or normalise(c.operation) == wanted)
            and (service is None or c.service == service)
            and (outcome is None or c.outcome == outcome)
        ]

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._client = aiohttp.ClientSession(auto_decompress=False)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.endpoint_url = f"http://127.0.0.1:{port}"
        return self.endpoint_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._client is not None:
            await self._client.close()

    async def __aenter__(self) -> AwsFaultProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- the proxy -----------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        service, operation, form, style = identify(request, body)
        call = ProxyCall(
            service, operation, request.method, request.path, time.time(), "forwarded"
        )
        call.body, call.form = body, form
        signed = re.search(
            r"Credential=([^/,\s]+)/", request.headers.get("Authorization", "")
        )
        call.access_key = signed.group(1) if signed else ""
        self.calls.append(call)
        rule = next((r for r in self._rules if r.matches(service, operation)), None)
        if rule is not None and rule.gate is not None:
            call.outcome = "held"
            rule.gate.arrived.set()
            await rule.gate.released.wait()
            return await self._forward(request, body, call)
        if rule is not None and rule.kind != "delayed":
            call.outcome = rule.kind
            response = fault_response(rule, service, operation, style, request.method)
            call.status = response.status
            return response
        if rule is not None:
            call.outcome = "delayed"
            # Moto never hangs. The request is still forwarded after the pause, so a client that
            # gave up on a mutating call leaves a change it did not hear about, as AWS can.
            await asyncio.sleep(rule.seconds)
        return await self._forward(request, body, call)

    async def _forward(
        self, request: web.Request, body: bytes, call: ProxyCall
    ) -> web.StreamResponse:
        assert self._client is not None
        headers = CIMultiDict(
            (k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP
        )
        url = URL(self.upstream + request.raw_path, encoded=True)
        async with self._client.request(
            request.method, url, headers=headers, data=body, allow_redirects=False
        ) as upstream:
            payload = await upstream.read()
            out = CIMultiDict(
                (k, v)
                for k, v in upstream.headers.items()
                if k.lower() not in _HOP_BY_HOP
            )
            call.status, call.response_body = upstream.status, payload
            if request.method == "HEAD":
                # A HEAD answer has no body, but its Content-Length is data (s3 head_object).
                head = web.StreamResponse(status=upstream.status, headers=out)
                if "Content-Length" in upstream.headers:
                    head.content_length = int(upstream.headers["Content-Length"])
                await head.prepare(request)
                await head.write_eof()
                return head
            return web.Response(status=upstream.status, headers=out, body=payload)


def identify(request: web.Request, body: bytes) -> tuple[str, str, dict[str, str], str]:
    """Return (service, operation, form, style) where style is json|cbor|query|ec2|rest-xml."""
    auth = request.headers.get("Authorization", "") or request.query.get(
        "X-Amz-Credential", ""
    )
    match = _CREDENTIAL.search(auth) or re.search(r"^[^/]+/\d{8}/[^/]+/([^/]+)/", auth)
    signing = match.group(1) if match else "unknown"
    service = _SIGNING_TO_SERVICE.get(signing, signing)
    target = request.headers.get("X-Amz-Target")
    if target:
        return service, target.rsplit(".", 1)[-1], {}, "json"
    cbor = _CBOR_PATH.match(request.path)
    if cbor:
        return service, cbor.group(1), {}, "cbor"
    form: dict[str, str] = {}
    if request.content_type == "application/x-www-form-urlencoded":
        form = dict(parse_qsl(body.decode(), keep_blank_values=True))
    action = form.get("Action") or request.query.get("Action")
    if action:
        return service, action, form, "ec2" if service == "ec2" else "query"
    return service, _rest_operation(service, request), {}, "rest-xml"


@functools.lru_cache(maxsize=32)
def _rest_routes(
    service: str,
) -> list[tuple[str, list[str], dict[str, str], set[str], str]]:
    """(method, path template, required query, required headers, name) from botocore's model."""
    model = botocore.session.get_session().get_service_model(service)
    routes = []
    for name in model.operation_names:
        operation = model.operation_model(name)
        path, _, query = operation.http["requestUri"].partition("?")
        wanted = dict(parse_qsl(query, keep_blank_values=True))
        headers: set[str] = set()
        shape = operation.input_shape
        for member in shape.required_members if shape is not None else ():
            where = shape.members[member].serialization  # type: ignore[union-attr]
            if where.get("location") == "querystring":
                wanted.setdefault(where["name"], "")
            elif where.get("location") == "header":
                headers.add(where["name"].lower())
        segments = [s for s in path.split("/") if s]
        routes.append((operation.http["method"], segments, wanted, headers, name))
    return routes


def _rest_operation(service: str, request: web.Request) -> str:
    try:
        routes = _rest_routes(service)
    except botocore.exceptions.UnknownServiceError:
        return f"{request.method} {request.path}"
    segments = [s for s in request.path.split("/") if s]
    present = {h.lower() for h in request.headers}
    best, best_score = f"{request.method} {request.path}", -1
    for method, template, wanted, headers, name in routes:
        if method != request.method or not _path_matches(template, segments):
            continue
        if any(
            k not in request.query or (v and request.query[k] != v)
            for k, v in wanted.items()
        ):
            continue
        if not headers <= present:
            continue
        literal = sum(1 for t in template if not t.startswith("{"))
        score = 100 * literal + 10 * len(wanted) + len(headers)
        if score > best_score:
            best, best_score = name, score
    return best


def _path_matches(template: list[str], segments: list[str]) -> bool:
    if template and template[-1].endswith("+}"):
        head = template[:-1]
        return len(segments) > len(head) and _path_matches(head, segments[: len(head)])
    if len(template) != len(segments):
        return False
    return all(
        t.startswith("{") or t == s for t, s in zip(template, segments, strict=True)
    )


# (style, kind) -> (code, status); "failed" takes its status from the rule.
_CODES = {
    ("json", "throttled"): ("ThrottlingException", 400),
    ("cbor", "throttled"): ("Throttling", 400),
    ("query", "throttled"): ("Throttling", 400),
    ("ec2", "throttled"): ("RequestLimitExceeded", 503),
    ("rest-xml", "throttled"): ("Throttling", 400),
    ("json", "denied"): ("AccessDeniedException", 400),
    ("cbor", "denied"): ("AccessDenied", 403),
    ("query", "denied"): ("AccessDenied", 403),
    ("ec2", "denied"): ("UnauthorizedOperation", 403),
    ("rest-xml", "denied"): ("AccessDenied", 403),
}


def fault_response(
    rule: _Rule, service: str, operation: str, style: str, method: str
) -> web.Response:
    """Build the error AWS would send for this protocol."""
    if rule.kind == "error":
        code, status, message = rule.code, rule.status, rule.message
    elif rule.kind == "failed":
        status = rule.status
        code = "ServiceUnavailable" if status == 503 else "InternalFailure"
        if style in ("ec2", "rest-xml") and status != 503:
            code = "InternalError"
        message = "We encountered an internal error. Please try again."
    else:
        code, status = _CODES[(style, rule.kind)]
        if service == "s3" and rule.kind == "throttled":
            code, status = "SlowDown", 503
        message = "Rate exceeded"
        if rule.kind == "denied":
            message = (
                "User: arn:aws:sts::123456789012:assumed-role/warroom-runbook/warroom is not"
                f" authorized to perform: {service}:{operation}"
            )
    request_id = str(uuid.uuid4())
    headers = {"x-amzn-RequestId": request_id, "x-amz-request-id": request_id}
    if method == "HEAD":  # no body: botocore takes the HTTP status as the code
        return web.Response(status=status, headers=headers)
    if style == "json":
        payload = json.dumps({"__type": code, "message": message}).encode()
        headers["Content-Type"] = "application/x-amz-json-1.1"
        return web.Response(status=status, body=payload, headers=headers)
    if style == "cbor":
        headers.update(
            {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}
        )
        headers["x-amzn-query-error"] = f"{code};Sender"
        payload = _cbor_map({"__type": code, "message": message})
        return web.Response(status=status, body=payload, headers=headers)
    error = f"<Code>{code}</Code><Message>{_xml(message)}</Message>"
    if style == "ec2":
        xml = f"<Response><Errors><Error>{error}</Error></Errors><RequestID>{request_id}</RequestID></Response>"
    elif service == "s3":
        xml = f"<Error>{error}<RequestId>{request_id}</RequestId></Error>"
    else:
        kind = "Sender" if status < 500 else "Receiver"
        xml = f"<ErrorResponse><Error><Type>{kind}</Type>{error}</Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    headers["Content-Type"] = "text/xml"
    return web.Response(status=status, body=xml.encode(), headers=headers)


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cbor_map(values: dict[str, str]) -> bytes:
    """Encode a small map of text to text as CBOR (RFC 8949), enough for an error body."""

    def head(major: int, n: int) -> bytes:
        if n < 24:
            return bytes([major << 5 | n])
        if n < 256:
            return bytes([major << 5 | 24, n])
        return bytes([major << 5 | 25]) + n.to_bytes(2, "big")

    out = head(5, len(values))
    for key, value in values.items():
        for text in (key.encode(), value.encode()):
            out += head(3, len(text)) + text
    return out
