"""The AWS gateway: every boto3 call the bot makes goes through `AwsGateway`.

Owns the retry policy (botocore standard retries for read-only calls; a mutating call is sent exactly
once), waiter polling, readiness pings, redaction of responses into JSON-safe `AwsResult`s, and the
translation of botocore failures into `AwsCallError` that says whether AWS proved the call did not
run. Clients and assumed-role sessions are `bot/gateways/aws/clients.py`; key rotation is
`bot/gateways/aws/key_rotation.py`.

It must not: run boto3 on the event loop (every call goes through `asyncio.to_thread`), re-send a
mutating call (the step ledger decides), know about Slack, let credentials or secrets out (responses
are redacted, error text too), or dry-run anything.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, WaiterError
from botocore.response import StreamingBody

from bot import metrics
from bot.gateways.aws.clients import AwsClients
from bot.gateways.aws.failures import (
    THROTTLING_CODES,
    AwsCallError,
    AwsWaitError,
    _translate,
)
from bot.gateways.aws.key_rotation import KeyRotation, rotate_access_key_into_secret
from bot.redaction import redact
from bot.scenarios.operations import is_read_only

__all__ = [
    "AwsCallError",
    "AwsGateway",
    "AwsResult",
    "AwsWaitError",
    "WaitResult",
]

logger = logging.getLogger(__name__)


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
        self._account: str | None = None
        self._warming: set[asyncio.Task[None]] = set()
        self._clients = AwsClients(
            endpoint_url=endpoint_url,
            read_attempts=read_attempts,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            session_factory=session_factory,
        )

    def warm(self, services: Iterable[str], region: str) -> None:
        """Build the default identity's clients for `services` in the background (botocore loads
        a service's model on first use, tens of ms), so a responder's first click does not wait."""

        def build() -> None:
            for service in sorted(set(services)):
                for kind in ("read", "write"):
                    self._clients.client(service, region, kind, self._clients.base)

        task = asyncio.get_running_loop().create_task(asyncio.to_thread(build))
        self._warming.add(task)
        task.add_done_callback(self._warming.discard)

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
            self._call_sync,
            service,
            operation,
            region,
            params,
            mutating,
            role_arn,
            session_tags,
            session_name,
        )

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
            timed_out=True,
            service=service,
            operation=waiter,
            region=region,
            code="WaiterTimeout",
            proves_not_run=False,
            retryable=True,
            next_step="the change may still be in progress; check its status, then verify again",
        )

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
            rotate_access_key_into_secret,
            self._clients,
            user_name,
            secret_id,
            region,
            role_arn,
            session_tags,
        )

    async def ping(self, *, region: str | None = None) -> bool:
        """Return whether STS answers GetCallerIdentity (readiness; short timeouts, no retries)."""
        region = region or self.default_region

        def probe() -> bool:
            try:
                self._clients.client(
                    "sts", region, "ping", self._clients.base
                ).get_caller_identity()
            except (BotoCoreError, ClientError):
                return False
            return True

        return await asyncio.to_thread(probe)

    async def account_id(self) -> str:
        """The AWS account the bot acts in (STS GetCallerIdentity, asked once)."""
        if self._account is None:
            result = await self.call(
                service="sts",
                operation="get_caller_identity",
                region=self.default_region,
                params={},
                mutating=False,
            )
            self._account = str(result.response["Account"])
        return self._account

    def close(self) -> None:
        """Close every client's connection pool."""
        self._clients.close()

    # -- worker-thread side ------------------------------------------------------------------

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
        mapping = self._clients.client(
            service, region, "read", self._clients.base
        ).meta.method_to_api_mapping
        api: str | None = mapping.get(operation)
        if api is None:
            raise AwsCallError(
                f"AWS {service} has no operation {operation}",
                service=service,
                operation=operation,
                region=region,
                code="UnknownOperation",
                proves_not_run=True,
                retryable=False,
                next_step="fix the step: the operation name is the boto3 snake_case method name",
            )
        # A call that is not read-only is sent once even if the caller says otherwise.
        mutating = mutating or not is_read_only(service, operation)
        identity = self._clients.identity(role_arn, tags, session_name, region)
        client = self._clients.client(
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
                service,
                api,
                region,
                error.code,
                error.request_id or "-",
                error.proves_not_run,
            )
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
            service,
            api,
            region,
            status,
            request_id or "-",
            duration,
        )
        return AwsResult(response, request_id, status, duration)

    def _wait_once(
        self,
        service: str,
        waiter: str,
        region: str,
        params: dict[str, Any],
        role_arn: str | None,
        tags: dict[str, str] | None,
    ) -> bool:
        client = self._clients.client(
            service,
            region,
            "read",
            self._clients.identity(role_arn, tags, None, region),
        )
        if waiter not in client.waiter_names:
            raise AwsWaitError(
                f"AWS {service} has no waiter {waiter}",
                timed_out=False,
                service=service,
                operation=waiter,
                region=region,
                code="UnknownWaiter",
                proves_not_run=True,
                retryable=False,
                next_step="fix the step: use one of the service's boto3 waiters",
            )
        try:
            client.get_waiter(waiter).wait(
                **params, WaiterConfig={"Delay": 0, "MaxAttempts": 1}
            )
        except WaiterError as exc:
            if str(exc.kwargs.get("reason", "")).startswith("Max attempts exceeded"):
                return False
            raise AwsWaitError(
                f"AWS {service} waiter {waiter} in {region} failed: {exc.kwargs.get('reason', '')}",
                timed_out=False,
                service=service,
                operation=waiter,
                region=region,
                code="WaiterFailed",
                proves_not_run=False,
                retryable=False,
                next_step="the resource reached a failure state; inspect it before going on",
            ) from None
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
