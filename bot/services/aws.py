"""The AWS gateway: every boto3 call the bot makes goes through `AwsGateway`.

Owns boto3 clients (built lazily per service, region and identity, under a lock), the retry policy
(botocore standard retries for read-only calls; a mutating call is sent exactly once), assumed-role
sessions tagged with who approved what, redaction of responses, and the translation of botocore
failures into `AwsCallError` that says whether AWS proved the call did not run.

It must not: run boto3 on the event loop (every call goes through `asyncio.to_thread`), re-send a
mutating call (the step ledger decides), know about Slack, let credentials or secrets out (responses
are redacted, error text too, and botocore's wire-level debug logs are dropped), or dry-run anything.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    WaiterError,
)
from botocore.response import StreamingBody

from bot import metrics
from bot.redaction import redact
from bot.services.aws_errors import (
    THROTTLING_CODES,
    AwsCallError,
    AwsWaitError,
    OrphanKeyError,
    _translate,
)

__all__ = [
    "AwsCallError",
    "AwsGateway",
    "AwsResult",
    "AwsWaitError",
    "KeyRotation",
    "OrphanKeyError",
    "WaitResult",
]

logger = logging.getLogger(__name__)


# Operations that only read; anything else is sent once, whatever the caller says.
READ_PREFIXES = tuple(
    ["Describe", "List", "Get", "Head", "Lookup", "Filter", "Search", "BatchGet"]
)
_SESSION_NAME_CHARS = re.compile(r"[^\w+=,.@-]", re.ASCII)
_TAG_CHARS = re.compile(r"[^\w\s.:/=+@-]")
_REFRESH_MARGIN = timedelta(minutes=5)
# Loggers that print request bodies, signed headers (session tokens) or response bodies at DEBUG.
_WIRE_LOGGERS = frozenset(
    [
        "botocore.endpoint",
        "botocore.parsers",
        "botocore.auth",
        "botocore.hooks",
        "botocore.retryhandler",
        "botocore.httpsession",
        "urllib3.connectionpool",
    ]
)


@dataclass(frozen=True)
class AwsResult:
    """A successful call: the redacted, JSON-safe response and what identifies the request."""

    response: dict[str, Any]
    request_id: str
    http_status: int
    duration_s: float


@dataclass(frozen=True)
class WaitResult:
    """A waiter that reached its success state after `attempts` polls."""

    attempts: int
    duration_s: float


@dataclass(frozen=True)
class KeyRotation:
    """A new access key whose secret went straight into Secrets Manager (and nowhere else)."""

    user_name: str
    access_key_id: str
    secret_arn: str
    secret_version_id: str
    request_id: str


@dataclass
class _Identity:
    """Credentials a set of clients signs with: the default chain, or an assumed role."""

    credentials: dict[str, str] | None = None
    expires_at: datetime | None = None
    clients: dict[tuple[str, str, str], Any] = field(default_factory=dict)

    def fresh(self) -> bool:
        return (
            self.expires_at is None
            or self.expires_at - _REFRESH_MARGIN > datetime.now(UTC)
        )


class _DropWireDebug(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


def _quiet_wire_logs() -> None:
    for name in _WIRE_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, _DropWireDebug) for f in target.filters):
            target.addFilter(_DropWireDebug())


def session_name_for(tags: dict[str, str] | None) -> str:
    """Build an STS RoleSessionName (2-64 chars of [\\w+=,.@-]) from the incident and step tags."""
    parts = [tags[k] for k in ("incident", "step") if tags and tags.get(k)]
    name = _SESSION_NAME_CHARS.sub("-", "-".join(["warroom", *parts]))
    return name[:64]


class AwsGateway:
    """boto3 behind asyncio: read-only calls retried by botocore, mutating calls sent once."""

    def __init__(
        self,
        *,
        endpoint_url: str | None = None,
        default_region: str = "us-east-1",
        read_attempts: int = 4,
        connect_timeout: float = 5,
        read_timeout: float = 30,
        session_factory: Callable[[], boto3.session.Session] = boto3.session.Session,
    ) -> None:
        self.endpoint_url = endpoint_url
        self.default_region = default_region
        self._session_factory = session_factory
        self._session: boto3.session.Session | None = None
        self._lock = threading.Lock()
        self._assume_lock = threading.Lock()
        self._base = _Identity()
        self._roles: dict[tuple[Any, ...], _Identity] = {}
        self._retired: list[_Identity] = []
        timeouts = Config(connect_timeout=connect_timeout, read_timeout=read_timeout)
        self._configs = {
            "read": timeouts.merge(
                Config(
                    retries={"mode": "standard", "total_max_attempts": read_attempts}
                )
            ),
            # botocore sends a mutating call exactly once; only the step ledger may re-send it.
            "write": timeouts.merge(
                Config(retries={"mode": "standard", "total_max_attempts": 1})
            ),
            "ping": Config(
                retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=3
            ),
        }
        _quiet_wire_logs()

    async def call(
        self,
        *,
        service: str,
        operation: str,
        region: str,
        params: dict[str, Any],
        mutating: bool,
        role_arn: str | None = None,
        session_tags: dict[str, str] | None = None,
        session_name: str | None = None,
    ) -> AwsResult:
        """Run one boto3 operation (snake_case `operation`) off the event loop."""
        return await asyncio.to_thread(
            self._call_sync, service, operation, region, params, mutating,
            role_arn, session_tags, session_name,
        )  # fmt: skip

    async def wait(
        self,
        *,
        service: str,
        waiter: str,
        region: str,
        params: dict[str, Any],
        delay: float,
        max_attempts: int,
        role_arn: str | None = None,
        session_tags: dict[str, str] | None = None,
        on_attempt: Callable[[int], Awaitable[None]] | None = None,
    ) -> WaitResult:
        """Poll a boto3 waiter until success; sleep on the loop between polls, not in a thread."""
        started = time.perf_counter()
        for attempt in range(1, max_attempts + 1):
            done = await asyncio.to_thread(
                self._wait_once, service, waiter, region, params, role_arn, session_tags
            )
            if on_attempt is not None:
                await on_attempt(attempt)
            if done:
                return WaitResult(attempt, time.perf_counter() - started)
            if attempt < max_attempts:
                await asyncio.sleep(delay)
        raise AwsWaitError(
            f"AWS {service} waiter {waiter} in {region} gave up after {max_attempts} attempts",
            timed_out=True, service=service, operation=waiter, region=region,
            code="WaiterTimeout", proves_not_run=False, retryable=True,
            next_step="the change may still be in progress; check its status, then verify again",
        )  # fmt: skip

    async def create_access_key_into_secret(
        self,
        *,
        user_name: str,
        secret_id: str,
        region: str,
        role_arn: str | None = None,
        session_tags: dict[str, str] | None = None,
    ) -> KeyRotation:
        """Create an IAM access key and store it in Secrets Manager; the secret never comes back."""
        return await asyncio.to_thread(
            self._rotate_sync, user_name, secret_id, region, role_arn, session_tags
        )

    async def ping(self, *, region: str | None = None) -> bool:
        """Return whether STS answers GetCallerIdentity (readiness; short timeouts, no retries)."""
        region = region or self.default_region

        def probe() -> bool:
            try:
                self._client("sts", region, "ping", self._base).get_caller_identity()
            except (BotoCoreError, ClientError):
                return False
            return True

        return await asyncio.to_thread(probe)

    def close(self) -> None:
        """Close every client's connection pool."""
        with self._lock:
            identities = [self._base, *self._roles.values(), *self._retired]
            self._roles.clear()
            self._retired.clear()
            for identity in identities:
                for client in identity.clients.values():
                    client.close()
                identity.clients.clear()

    # -- worker-thread side ------------------------------------------------------------------

    def _client(self, service: str, region: str, kind: str, identity: _Identity) -> Any:
        key = (service, region, kind)
        with self._lock:
            client = identity.clients.get(key)
            if client is None:
                if self._session is None:
                    self._session = self._session_factory()
                creds = identity.credentials or {}
                client = self._session.client(
                    service,  # type: ignore[call-overload]
                    region_name=region, endpoint_url=self.endpoint_url,
                    config=self._configs[kind], **creds,
                )  # fmt: skip
                identity.clients[key] = client
            return client

    def _identity(
        self,
        role_arn: str | None,
        tags: dict[str, str] | None,
        name: str | None,
        region: str,
    ) -> _Identity:
        if role_arn is None:
            return self._base
        name = name or session_name_for(tags)
        clean = {
            _TAG_CHARS.sub("_", k)[:128]: _TAG_CHARS.sub("_", v)[:256]
            for k, v in (tags or {}).items()
        }
        key = (role_arn, name, tuple(sorted(clean.items())))
        with self._assume_lock:
            identity = self._roles.get(key)
            if identity is not None and identity.fresh():
                return identity
            sts = self._client("sts", region, "read", self._base)
            try:
                creds = sts.assume_role(
                    RoleArn=role_arn, RoleSessionName=name,
                    Tags=[{"Key": k, "Value": v} for k, v in clean.items()],
                )["Credentials"]  # fmt: skip
            except (ClientError, BotoCoreError) as exc:
                # Whatever STS says, the operation itself was never sent.
                raise _translate(
                    exc, "sts", "assume_role", region, mutating=False, not_sent=True
                ) from None
            identity = _Identity(
                credentials={
                    "aws_access_key_id": creds["AccessKeyId"],
                    "aws_secret_access_key": creds["SecretAccessKey"],
                    "aws_session_token": creds["SessionToken"],
                },
                expires_at=creds["Expiration"],
            )  # fmt: skip
            old = self._roles.pop(key, None)
            if old is not None:
                # Another thread may still be mid-call on the old clients: close them at close().
                self._retired.append(old)
            self._roles[key] = identity
        return identity

    def _call_sync(
        self,
        service: str,
        operation: str,
        region: str,
        params: dict[str, Any],
        mutating: bool,
        role_arn: str | None,
        tags: dict[str, str] | None,
        session_name: str | None,
    ) -> AwsResult:
        mapping = self._client(
            service, region, "read", self._base
        ).meta.method_to_api_mapping
        api: str | None = mapping.get(operation)
        if api is None:
            raise AwsCallError(
                f"AWS {service} has no operation {operation}", service=service, operation=operation,
                region=region, code="UnknownOperation", proves_not_run=True, retryable=False,
                next_step="fix the step: the operation name is the boto3 snake_case method name",
            )  # fmt: skip
        # A call that does not look read-only is sent once even if the caller says otherwise.
        mutating = mutating or not api.startswith(READ_PREFIXES)
        identity = self._identity(role_arn, tags, session_name, region)
        client = self._client(
            service, region, "write" if mutating else "read", identity
        )
        started = time.perf_counter()
        try:
            raw = getattr(client, operation)(**params)
        except (ClientError, BotoCoreError) as exc:
            error = _translate(
                exc, service, operation, region, mutating=mutating, api=api
            )
            logger.warning(
                "aws %s:%s in %s failed: %s (request %s, proves_not_run=%s)",
                service, api, region, error.code, error.request_id or "-", error.proves_not_run,
            )  # fmt: skip
            outcome = (
                "throttled"
                if error.code in THROTTLING_CODES
                else "not_run"
                if error.proves_not_run
                else "unknown"
            )
            metrics.AWS_CALLS.labels(service, outcome).inc()
            raise error from None
        metrics.AWS_CALLS.labels(service, "ok").inc()
        duration = time.perf_counter() - started
        meta = raw.get("ResponseMetadata", {})
        request_id = str(meta.get("RequestId", ""))
        status = int(meta.get("HTTPStatusCode", 0))
        body = {k: v for k, v in raw.items() if k != "ResponseMetadata"}
        response = redact(_jsonable(body))
        response["ResponseMetadata"] = {
            "RequestId": request_id,
            "HTTPStatusCode": status,
        }
        logger.info(
            "aws %s:%s in %s -> %s (request %s, %.3fs)",
            service, api, region, status, request_id or "-", duration,
        )  # fmt: skip
        return AwsResult(response, request_id, status, duration)

    def _rotate_sync(
        self,
        user_name: str,
        secret_id: str,
        region: str,
        role_arn: str | None,
        tags: dict[str, str] | None,
    ) -> KeyRotation:
        identity = self._identity(role_arn, tags, None, region)
        try:
            iam = self._client("iam", region, "write", identity)
            key = iam.create_access_key(UserName=user_name)["AccessKey"]
        except (ClientError, BotoCoreError) as exc:
            raise _translate(
                exc, "iam", "create_access_key", region, mutating=True
            ) from None
        key_id = key["AccessKeyId"]
        secret = json.dumps(
            {"AccessKeyId": key_id, "SecretAccessKey": key["SecretAccessKey"]}
        )
        # One token for every attempt: botocore may retry, Secrets Manager stores one version.
        token = str(uuid.uuid4())
        sm = self._client("secretsmanager", region, "read", identity)
        try:
            try:
                stored = sm.put_secret_value(
                    SecretId=secret_id, SecretString=secret, ClientRequestToken=token
                )
            except ClientError as exc:
                if (
                    exc.response.get("Error", {}).get("Code")
                    != "ResourceNotFoundException"
                ):
                    raise
                stored = sm.create_secret(
                    Name=secret_id, SecretString=secret, ClientRequestToken=token
                )
        except (ClientError, BotoCoreError) as exc:
            cause = _translate(
                exc, "secretsmanager", "put_secret_value", region, mutating=True
            )
            raise OrphanKeyError(
                f"created access key {key_id} for {user_name} but could not store it in"
                f" Secrets Manager ({cause.code}); its secret is lost",
                access_key_id=key_id, service="iam", operation="create_access_key",
                region=region, code=cause.code, request_id=cause.request_id,
                http_status=cause.http_status, proves_not_run=False, retryable=False,
                next_step=f"delete the orphan key {key_id} of {user_name} and rotate again",
            ) from None  # fmt: skip
        logger.info(
            "aws iam:CreateAccessKey for %s stored in %s", user_name, stored["ARN"]
        )
        meta = stored.get("ResponseMetadata", {})
        return KeyRotation(
            user_name,
            key_id,
            stored["ARN"],
            stored["VersionId"],
            str(meta.get("RequestId", "")),
        )

    def _wait_once(
        self,
        service: str,
        waiter: str,
        region: str,
        params: dict[str, Any],
        role_arn: str | None,
        tags: dict[str, str] | None,
    ) -> bool:
        client = self._client(
            service, region, "read", self._identity(role_arn, tags, None, region)
        )
        if waiter not in client.waiter_names:
            raise AwsWaitError(
                f"AWS {service} has no waiter {waiter}", timed_out=False, service=service,
                operation=waiter, region=region, code="UnknownWaiter", proves_not_run=True,
                retryable=False, next_step="fix the step: use one of the service's boto3 waiters",
            )  # fmt: skip
        try:
            client.get_waiter(waiter).wait(
                **params, WaiterConfig={"Delay": 0, "MaxAttempts": 1}
            )
        except WaiterError as exc:
            if str(exc.kwargs.get("reason", "")).startswith("Max attempts exceeded"):
                return False
            raise AwsWaitError(
                f"AWS {service} waiter {waiter} in {region} failed: {exc.kwargs.get('reason', '')}",
                timed_out=False, service=service, operation=waiter, region=region,
                code="WaiterFailed", proves_not_run=False, retryable=False,
                next_step="the resource reached a failure state; inspect it before going on",
            ) from None  # fmt: skip
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, service, waiter, region, mutating=False) from None
        return True


def _jsonable(value: Any) -> Any:
    """Turn a boto3 response into JSON-safe data: ISO-8601 times, no streams or raw bytes."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, StreamingBody):
        value.close()  # bodies are customer data; the gateway never reads them
        return "<stream omitted>"
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes omitted>"
    return value
