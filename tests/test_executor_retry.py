"""The executor's retry rule, end to end: a mutating AWS call is re-sent only when AWS proved it did
not run (throttled: `proves_not_run and retryable`), never after a 5xx, a timeout or a dropped
connection; read-only calls may be retried.

A real `Executor` runs claimed step runs from a real `Storage` ledger through a real `AwsGateway`
(botocore's own retry configuration included) to moto behind the fault proxy, whose request log is
what the sends are counted on. A dropped connection comes from a tiny in-test server that resets
every connection it accepts. `retry_base=0`, so nothing sleeps between the executor's re-sends.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from bot.gateways.aws.gateway import AwsGateway
from bot.models.incidents import Incident, utcnow
from bot.models.runbooks import Plan, StepRun, StepState
from bot.scenarios.schema import AwsStep
from bot.services.runbooks.action_runs import ActionRunner
from bot.services.runbooks.approvals import plan_hash
from bot.services.runbooks.executor import MUTATING_TRIES, Executor
from bot.storage import Storage
from tests.aws_fault_proxy import AwsFaultProxy

REGION = "us-east-1"
TABLE = "warroom-test-flags"
UPDATE = "dynamodb:UpdateItem"  # mutating (JSON protocol: throttling is a 400 ThrottlingException)
DESCRIBE = "dynamodb:DescribeTable"  # read-only


@dataclass
class Ledger:
    """A real storage file with one incident and one runbook to hang step runs on."""

    storage: Storage
    runbook: int
    notified: list[StepRun] = field(default_factory=list)
    attempts: int = 0

    async def notify(self, run: StepRun, reply: str | None) -> None:
        self.notified.append(run)

    async def run(
        self, gateway: AwsGateway, step: AwsStep, *, mutating: bool
    ) -> StepRun:
        """Claim one step run (state `executing`), let the executor run it, return how it ended."""
        self.attempts += 1
        plan = Plan(
            kind="aws",
            service=step.service,
            operation=step.operation,
            region=REGION,
            params=step.params,
        )
        run = await self.storage.insert_step_run(
            runbook=self.runbook,
            incident=1,
            step=step.id,
            attempt=self.attempts,
            state=StepState.EXECUTING,
            now=utcnow(),
            source=f"test:{step.id}:{self.attempts}",
            requested_by="UALICE",
            plan=plan,
            plan_hash=plan_hash(plan),
            required_approvals=1 if mutating else 0,
        )
        assert run is not None
        executor = Executor(
            storage=self.storage,
            gateway=gateway,
            actions=ActionRunner(gateway=gateway),
            clock=utcnow,
            notify=self.notify,
            retry_base=0,
        )
        executor.launch(run, step, {"steps": {}}, {})
        await asyncio.wait_for(asyncio.gather(*executor.tasks), timeout=60)
        done = await self.storage.step_run(run.id)
        assert done is not None
        return done


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    storage = Storage(tmp_path / "warroom.db")
    await storage.open()
    try:
        incident = Incident(
            number=0,
            title="Feature flag stuck",
            severity="SEV2",
            commander="UALICE",
            channel_name="inc-1-feature-flag-stuck",
            declared_by="UALICE",
            declared_at=utcnow(),
        )
        await storage.create_incident(incident, source="test:declare")
        runbook, _ = await storage.create_runbook(
            incident=1,
            scenario="test",
            created_by="UALICE",
            dry_run=False,
            now=utcnow(),
            source="test:runbook",
        )
        yield Ledger(storage, runbook.id)
    finally:
        await storage.close()


@pytest.fixture
def moto(aws_env: str) -> str:
    """Fake AWS credentials and a reset moto holding the step's table (made past the proxy): its URL."""
    dynamodb = boto3.client("dynamodb", endpoint_url=aws_env, region_name=REGION)
    try:
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    finally:
        dynamodb.close()
    return aws_env


def times_applied(moto_url: str) -> int:
    """How many times the update step's `ADD applied :one` reached the table (read past the proxy)."""
    dynamodb = boto3.client("dynamodb", endpoint_url=moto_url, region_name=REGION)
    try:
        item = dynamodb.get_item(TableName=TABLE, Key={"id": {"S": "flag"}}).get("Item")
    finally:
        dynamodb.close()
    return int(item["applied"]["N"]) if item else 0


def update_step(**overrides: Any) -> AwsStep:
    """A mutating step whose every application AWS counts: ADD 1 to an item's `applied`."""
    values: dict[str, Any] = {
        "kind": "aws",
        "id": "count-flag",
        "title": "Flip the feature flag",
        "service": "dynamodb",
        "operation": "update_item",
        "region": REGION,
        "params": {
            "TableName": TABLE,
            "Key": {"id": {"S": "flag"}},
            "UpdateExpression": "ADD applied :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        },
        **overrides,
    }
    return AwsStep.model_validate(values)


def describe_step() -> AwsStep:
    return AwsStep.model_validate(
        {
            "kind": "aws",
            "id": "describe-flags",
            "title": "Describe the feature flag table",
            "service": "dynamodb",
            "operation": "describe_table",
            "region": REGION,
            "params": {"TableName": TABLE},
            "read_only": True,
        }
    )


# -- mutating: sent once unless AWS proved it did not run ---------------------------------------


@pytest.mark.parametrize("status", [500, 503])
async def test_mutating_call_answered_5xx_is_sent_once_and_outcome_unknown(
    ledger: Ledger,
    aws_gateway: AwsGateway,
    aws_proxy: AwsFaultProxy,
    moto: str,
    status: int,
) -> None:
    # Only the first request fails: a re-send (by the executor or by botocore) would succeed.
    aws_proxy.fail(UPDATE, status=status, times=1)
    run = await ledger.run(aws_gateway, update_step(), mutating=True)
    assert aws_proxy.count(UPDATE) == 1
    assert run.state is StepState.OUTCOME_UNKNOWN
    assert run.error["proves_not_run"] is False
    assert times_applied(moto) == 0


async def test_mutating_call_that_times_out_is_sent_once_and_outcome_unknown(
    ledger: Ledger, aws_proxy: AwsFaultProxy, moto: str
) -> None:
    gateway = AwsGateway(
        endpoint_url=aws_proxy.endpoint_url, connect_timeout=2, read_timeout=0.2
    )
    # The held request is forwarded after the pause: AWS acts although the caller gave up.
    aws_proxy.delay(UPDATE, 0.8, times=1)
    try:
        run = await ledger.run(gateway, update_step(), mutating=True)
    finally:
        gateway.close()
    assert run.state is StepState.OUTCOME_UNKNOWN
    assert run.error["code"] == "ReadTimeoutError"
    assert run.error["proves_not_run"] is False
    # Wait for the held request to reach moto, then count again: still one send, one write.
    for _ in range(100):
        if all(call.status for call in aws_proxy.find(UPDATE)):
            break
        await asyncio.sleep(0.05)
    assert aws_proxy.count(UPDATE) == 1
    assert times_applied(moto) == 1


class ResettingServer:
    """Accepts HTTP requests on 127.0.0.1, records each, and resets the connection (no answer)."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.endpoint_url = ""
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ResettingServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.endpoint_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            0,
        )
        body = await reader.readexactly(length)
        self.requests.append(head + body)
        # SO_LINGER 0: close with a TCP RST, as a dropped load balancer connection does.
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()


async def test_mutating_call_whose_connection_is_reset_is_sent_once_and_outcome_unknown(
    ledger: Ledger, moto: str
) -> None:
    # `moto` only for the fake credentials: nothing here reaches it.
    async with ResettingServer() as server:
        gateway = AwsGateway(
            endpoint_url=server.endpoint_url, connect_timeout=2, read_timeout=5
        )
        try:
            run = await ledger.run(gateway, update_step(), mutating=True)
        finally:
            gateway.close()
    assert len(server.requests) == 1
    assert b"DynamoDB_20120810.UpdateItem" in server.requests[0]
    assert run.state is StepState.OUTCOME_UNKNOWN
    assert run.error["code"] == "ConnectionClosedError"
    assert run.error["proves_not_run"] is False


async def test_mutating_call_throttled_is_re_sent_then_failed_not_run(
    ledger: Ledger, aws_gateway: AwsGateway, aws_proxy: AwsFaultProxy, moto: str
) -> None:
    aws_proxy.throttle(UPDATE)  # every time
    run = await ledger.run(aws_gateway, update_step(), mutating=True)
    assert aws_proxy.count(UPDATE) == MUTATING_TRIES
    assert MUTATING_TRIES > 1
    assert run.state is StepState.FAILED
    assert run.error["code"] == "ThrottlingException"
    assert run.error["proves_not_run"] is True
    assert times_applied(moto) == 0


async def test_mutating_call_throttled_once_is_re_sent_and_succeeds_once(
    ledger: Ledger, aws_gateway: AwsGateway, aws_proxy: AwsFaultProxy, moto: str
) -> None:
    aws_proxy.throttle(UPDATE, times=1)
    run = await ledger.run(aws_gateway, update_step(), mutating=True)
    assert run.state is StepState.SUCCEEDED, run.error
    assert aws_proxy.count(UPDATE) == 2
    assert aws_proxy.count(UPDATE, outcome="throttled") == 1
    assert times_applied(moto) == 1


async def test_mutating_call_refused_is_sent_once_and_failed_not_run(
    ledger: Ledger, moto: str, aws_gateway: AwsGateway, aws_proxy: AwsFaultProxy
) -> None:
    # AccessDenied proves the call did not run, but is not retryable: no re-send either.
    aws_proxy.deny(UPDATE, times=1)
    run = await ledger.run(aws_gateway, update_step(), mutating=True)
    assert aws_proxy.count(UPDATE) == 1
    assert run.state is StepState.FAILED
    assert run.error["proves_not_run"] is True
    assert times_applied(moto) == 0


async def test_mutating_operation_on_a_step_claimed_read_only_is_still_sent_once_on_5xx(
    ledger: Ledger, moto: str, aws_gateway: AwsGateway, aws_proxy: AwsFaultProxy
) -> None:
    # The gateway decides from the operation itself: a wrong read-only claim cannot add retries.
    aws_proxy.fail(UPDATE, status=500, times=1)
    await ledger.run(aws_gateway, update_step(read_only=True), mutating=False)
    assert aws_proxy.count(UPDATE) == 1
    assert times_applied(moto) == 0


# -- read-only: may be retried --------------------------------------------------------------------


async def test_read_only_call_answered_5xx_is_retried_and_succeeds(
    ledger: Ledger, moto: str, aws_gateway: AwsGateway, aws_proxy: AwsFaultProxy
) -> None:
    aws_proxy.fail(DESCRIBE, status=500, times=2)
    run = await ledger.run(aws_gateway, describe_step(), mutating=False)
    assert run.state is StepState.SUCCEEDED, run.error
    assert aws_proxy.count(DESCRIBE) == 3
    assert aws_proxy.count(DESCRIBE, outcome="failed") == 2
