"""AwsGateway against moto behind the fault proxy: retry policy, exactly-once, errors, secrets, loop.

The proxy stands in for what moto cannot do (throttling, AccessDenied, 5xx, hangs) and its request
log is what "sent exactly once" is counted on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import traceback
from typing import Any

import boto3
import pytest

from bot.gateways.aws.clients import session_name_for
from bot.gateways.aws.failures import OrphanKeyError
from bot.gateways.aws.gateway import AwsCallError, AwsGateway, AwsWaitError
from bot.sandbox.estate.names import Estate
from tests.aws_fault_proxy import AwsFaultProxy

REGION = "us-east-1"
CLUSTER: dict[str, Any] = {
    "cluster": "bodyscript-production",
    "services": ["bodyscript-api"],
}
SCALE_TO_ONE = {
    "cluster": "bodyscript-production",
    "service": "bodyscript-api",
    "desiredCount": 1,
}


def desired_count(estate: Estate) -> int:
    ecs = boto3.client("ecs", endpoint_url=estate.endpoint_url, region_name=REGION)
    service = ecs.describe_services(
        cluster=CLUSTER["cluster"], services=["bodyscript-api"]
    )["services"][0]
    ecs.close()
    return int(service["desiredCount"])


async def update_service(gateway: AwsGateway) -> None:
    await gateway.call(
        service="ecs",
        operation="update_service",
        region=REGION,
        params=SCALE_TO_ONE,
        mutating=True,
    )


async def test_aws_gateway_read_returns_redacted_json_safe_response(
    estate: Estate, aws_gateway: AwsGateway
) -> None:
    result = await aws_gateway.call(
        service="rds",
        operation="describe_db_instances",
        region=REGION,
        params={"DBInstanceIdentifier": "bodyscript-production"},
        mutating=False,
    )
    assert result.http_status == 200
    assert result.request_id
    assert result.response["ResponseMetadata"] == {
        "RequestId": result.request_id,
        "HTTPStatusCode": 200,
    }
    instance = result.response["DBInstances"][0]
    assert instance["Engine"] == "postgres"
    assert isinstance(instance["InstanceCreateTime"], str)  # datetimes become ISO-8601
    json.dumps(result.response)  # JSON-safe all the way down


async def test_aws_gateway_read_throttled_twice_is_retried_by_botocore(
    estate: Estate, aws_gateway: AwsGateway, aws_proxy: AwsFaultProxy
) -> None:
    aws_proxy.throttle("ecs:DescribeServices", times=2)
    result = await aws_gateway.call(
        service="ecs",
        operation="describe_services",
        region=REGION,
        params=CLUSTER,
        mutating=False,
    )
    assert result.response["services"][0]["desiredCount"] == 3
    assert aws_proxy.count("ecs:DescribeServices") == 3
    assert aws_proxy.count("ecs:DescribeServices", outcome="throttled") == 2


async def test_aws_gateway_mutating_throttled_is_sent_once_and_proves_not_run(
    estate: Estate, aws_gateway: AwsGateway, aws_proxy: AwsFaultProxy
) -> None:
    aws_proxy.throttle("ecs:UpdateService", times=1)
    with pytest.raises(AwsCallError) as caught:
        await update_service(aws_gateway)
    assert aws_proxy.count("ecs:UpdateService") == 1
    assert caught.value.code == "ThrottlingException"
    assert caught.value.proves_not_run is True
    assert caught.value.retryable is True
    assert "throttling" in caught.value.next_step
    assert desired_count(estate) == 3


@pytest.mark.parametrize("status", [500, 503])
async def test_aws_gateway_mutating_5xx_is_sent_once_and_outcome_unknown(
    aws_gateway: AwsGateway, aws_proxy: AwsFaultProxy, status: int
) -> None:
    aws_proxy.fail("ecs:UpdateService", status=status, times=1)
    with pytest.raises(AwsCallError) as caught:
        await update_service(aws_gateway)
    assert aws_proxy.count("ecs:UpdateService") == 1
    assert caught.value.http_status == status
    assert caught.value.proves_not_run is False
    assert caught.value.retryable is True
    assert "verify" in caught.value.next_step


async def test_aws_gateway_mutating_that_hangs_is_sent_once_and_outcome_unknown(
    estate: Estate, aws_proxy: AwsFaultProxy
) -> None:
    gateway = AwsGateway(
        endpoint_url=aws_proxy.endpoint_url, connect_timeout=1, read_timeout=0.3
    )
    aws_proxy.delay("ecs:UpdateService", 0.8, times=1)
    try:
        with pytest.raises(AwsCallError) as caught:
            await update_service(gateway)
    finally:
        gateway.close()
    assert caught.value.code == "ReadTimeoutError"
    assert caught.value.proves_not_run is False
    assert aws_proxy.count("ecs:UpdateService") == 1
    # The proxy forwards the held request after the pause: the change happened although the
    # caller never heard, which is exactly why a timeout must not be re-sent blindly.
    for _ in range(50):
        if desired_count(estate) == 1:
            break
        await asyncio.sleep(0.1)
    assert desired_count(estate) == 1
    assert aws_proxy.count("ecs:UpdateService") == 1


@pytest.mark.parametrize(
    ("service", "operation", "params", "code"),
    [
        ("ecs", "update_service", SCALE_TO_ONE, "AccessDeniedException"),
        (
            "rds",
            "reboot_db_instance",
            {"DBInstanceIdentifier": "bodyscript-production"},
            "AccessDenied",
        ),
        (
            "cloudtrail",
            "start_logging",
            {"Name": "bodyscript-security-trail"},
            "AccessDeniedException",
        ),
    ],
)
async def test_aws_gateway_access_denied_gives_code_and_advice(
    aws_gateway: AwsGateway,
    aws_proxy: AwsFaultProxy,
    service: str,
    operation: str,
    params: dict[str, object],
    code: str,
) -> None:
    api = "".join(
        part.upper() if part == "db" else part.title() for part in operation.split("_")
    )
    aws_proxy.deny(f"{service}:{operation}")
    with pytest.raises(AwsCallError) as caught:
        await aws_gateway.call(
            service=service,
            operation=operation,
            region=REGION,
            params=params,
            mutating=True,
        )
    assert caught.value.code == code
    assert caught.value.proves_not_run is True
    assert caught.value.retryable is False
    assert caught.value.next_step == (
        f"the bot's role lacks {service}:{api}; grant it or run the step by hand"
    )
    assert aws_proxy.count(operation, service=service) == 1


async def test_aws_gateway_ec2_unauthorized_operation_proves_not_run(
    aws_gateway: AwsGateway, aws_proxy: AwsFaultProxy
) -> None:
    aws_proxy.deny("ec2:AuthorizeSecurityGroupIngress")
    params = {
        "GroupId": "sg-0a1b2c3d4e5f60718",
        "IpPermissions": [
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "UserIdGroupPairs": [{"GroupId": "sg-0f1e2d3c4b5a69788"}],
            }
        ],
    }
    with pytest.raises(AwsCallError) as caught:
        await aws_gateway.call(
            service="ec2",
            operation="authorize_security_group_ingress",
            region=REGION,
            params=params,
            mutating=True,
        )
    assert (caught.value.code, caught.value.http_status) == (
        "UnauthorizedOperation",
        403,
    )
    assert caught.value.proves_not_run is True


async def test_aws_gateway_not_found_proves_not_run(
    aws_gateway: AwsGateway, aws_proxy: AwsFaultProxy
) -> None:
    with pytest.raises(AwsCallError) as caught:
        await aws_gateway.call(
            service="rds",
            operation="restore_db_instance_from_db_snapshot",
            region=REGION,
            params={
                "DBInstanceIdentifier": "bodyscript-production-restored",
                "DBSnapshotIdentifier": "bodyscript-production-snapshot-19990101",
            },
            mutating=True,
        )
    assert caught.value.code == "DBSnapshotNotFound"
    assert caught.value.proves_not_run is True
    assert "region (us-east-1)" in caught.value.next_step
    assert aws_proxy.count("RestoreDBInstanceFromDBSnapshot") == 1


async def test_aws_gateway_read_only_flag_cannot_make_a_change_retry(
    aws_gateway: AwsGateway, aws_proxy: AwsFaultProxy
) -> None:
    aws_proxy.throttle("ecs:UpdateService", times=1)
    with pytest.raises(AwsCallError):
        await aws_gateway.call(
            service="ecs",
            operation="update_service",
            region=REGION,
            params=SCALE_TO_ONE,
            mutating=False,  # wrong on purpose: an Update* is still sent only once
        )
    assert aws_proxy.count("ecs:UpdateService") == 1


async def test_aws_gateway_unknown_operation_sends_nothing(
    aws_gateway: AwsGateway, aws_proxy: AwsFaultProxy
) -> None:
    with pytest.raises(AwsCallError) as caught:
        await aws_gateway.call(
            service="ecs",
            operation="launch_rockets",
            region=REGION,
            params={},
            mutating=True,
        )
    assert caught.value.code == "UnknownOperation"
    assert caught.value.proves_not_run is True
    assert aws_proxy.calls == []


async def test_aws_gateway_secret_never_leaves(
    estate: Estate,
    aws_gateway: AwsGateway,
    aws_proxy: AwsFaultProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    result = await aws_gateway.call(
        service="iam",
        operation="create_access_key",
        region=REGION,
        params={"UserName": "bodyscript-api"},
        mutating=True,
    )
    wire = aws_proxy.find("iam:CreateAccessKey")[0].response_body.decode()
    canary = re.search(r"<SecretAccessKey>([^<]+)</SecretAccessKey>", wire)
    assert canary is not None  # the secret really crossed the wire
    secret = canary.group(1)
    assert result.response["AccessKey"]["SecretAccessKey"] == "[REDACTED]"
    assert secret not in json.dumps(result.response)

    # AWS error messages may echo input; plant the secret in one.
    aws_proxy.error(
        "iam:ListAccessKeys",
        code="ValidationError",
        message=f"1 validation error: secretAccessKey={secret} is not allowed here",
    )
    with pytest.raises(AwsCallError) as caught:
        await aws_gateway.call(
            service="iam",
            operation="list_access_keys",
            region=REGION,
            params={"UserName": "bodyscript-api"},
            mutating=False,
        )
    assert caught.value.proves_not_run is True
    shown = "".join(traceback.format_exception(caught.value))
    for text in (str(caught.value), caught.value.aws_message, shown):
        assert secret not in text
    # the gateway did log, and botocore's debug output was captured
    assert caplog.records
    for record in caplog.records:
        assert secret not in record.getMessage()


async def test_aws_gateway_assume_role_sends_session_tags(
    estate: Estate,
    aws_gateway: AwsGateway,
    aws_proxy: AwsFaultProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    tags = {"incident": "INC-42", "step": "rollback-ecs", "approved-by": "U0APPROVER"}
    for _ in range(2):
        result = await aws_gateway.call(
            service="ecs",
            operation="describe_services",
            region=REGION,
            params=CLUSTER,
            mutating=False,
            role_arn=estate.role_arn,
            session_tags=tags,
        )
        assert result.response["services"][0]["serviceName"] == "bodyscript-api"
    [assume] = aws_proxy.find("sts:AssumeRole")  # cached: one AssumeRole for both calls
    assert assume.form["RoleArn"] == estate.role_arn
    assert assume.form["RoleSessionName"] == "warroom-INC-42-rollback-ecs"
    sent = {
        assume.form[f"Tags.member.{i}.Key"]: assume.form[f"Tags.member.{i}.Value"]
        for i in range(1, len(tags) + 1)
    }
    assert sent == tags
    # The ECS calls were signed with the role's temporary key, not the bot's own.
    for call in aws_proxy.find("ecs:DescribeServices"):
        assert call.access_key not in ("", "testing")
    session_token = re.search(
        r"<SessionToken>([^<]+)</SessionToken>", assume.response_body.decode()
    )
    assert session_token is not None
    for record in caplog.records:
        assert session_token.group(1) not in record.getMessage()


async def test_aws_gateway_does_not_block_the_event_loop(
    aws_gateway: AwsGateway, aws_proxy: AwsFaultProxy
) -> None:
    aws_proxy.delay("ecs:DescribeClusters", 0.5, times=1)
    ticks: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    await aws_gateway.call(
        service="ecs",
        operation="describe_clusters",
        region=REGION,
        params={"clusters": ["bodyscript-production"]},
        mutating=False,
    )
    done.set()
    await task
    # A blocked loop would tick once or twice during the held call; a free one ticks dozens of times.
    # (Counted, not timed: these machines are shared and noisy.)
    assert len(ticks) >= 5


async def test_aws_gateway_wait_polls_until_success_and_reports_progress(
    estate: Estate, aws_gateway: AwsGateway
) -> None:
    attempts: list[int] = []

    async def progress(attempt: int) -> None:
        attempts.append(attempt)

    result = await aws_gateway.wait(
        service="rds",
        waiter="db_instance_available",
        region=REGION,
        params={"DBInstanceIdentifier": "bodyscript-production"},
        delay=0.05,
        max_attempts=3,
        on_attempt=progress,
    )
    assert (result.attempts, attempts) == (1, [1])

    with pytest.raises(AwsWaitError) as caught:
        await aws_gateway.wait(
            service="rds",
            waiter="db_instance_deleted",
            region=REGION,
            params={"DBInstanceIdentifier": "bodyscript-production"},
            delay=0.05,
            max_attempts=2,
            on_attempt=progress,
        )
    assert caught.value.timed_out is True
    assert attempts == [1, 1, 2]


async def test_aws_gateway_ping(aws_gateway: AwsGateway, aws_env: str) -> None:
    assert await aws_gateway.ping(region=REGION) is True
    nowhere = AwsGateway(endpoint_url="http://127.0.0.1:9")
    try:
        assert await nowhere.ping(region=REGION) is False
    finally:
        nowhere.close()


async def test_aws_gateway_key_rotation_puts_the_secret_only_in_secrets_manager(
    estate: Estate,
    aws_gateway: AwsGateway,
    aws_proxy: AwsFaultProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    rotation = await aws_gateway.create_access_key_into_secret(
        user_name="bodyscript-api", secret_id=estate.secret_arn, region=REGION
    )
    sm = boto3.client(
        "secretsmanager", endpoint_url=estate.endpoint_url, region_name=REGION
    )
    stored = json.loads(sm.get_secret_value(SecretId=estate.secret_arn)["SecretString"])
    sm.close()
    assert stored["AccessKeyId"] == rotation.access_key_id != estate.access_key_id
    assert rotation.secret_arn == estate.secret_arn
    secret = stored["SecretAccessKey"]
    assert secret not in repr(rotation)
    for record in caplog.records:
        assert secret not in record.getMessage()
    assert aws_proxy.count("iam:CreateAccessKey") == 1
    assert aws_proxy.count("secretsmanager:PutSecretValue") == 1


async def test_aws_gateway_key_rotation_reports_an_orphan_key(
    estate: Estate, aws_gateway: AwsGateway, aws_proxy: AwsFaultProxy
) -> None:
    aws_proxy.deny("secretsmanager:PutSecretValue")
    with pytest.raises(OrphanKeyError) as caught:
        await aws_gateway.create_access_key_into_secret(
            user_name="bodyscript-api", secret_id=estate.secret_arn, region=REGION
        )
    assert caught.value.proves_not_run is False  # the key exists
    iam = boto3.client("iam", endpoint_url=estate.endpoint_url, region_name=REGION)
    keys = iam.list_access_keys(UserName="bodyscript-api")["AccessKeyMetadata"]
    iam.close()
    assert caught.value.access_key_id in {k["AccessKeyId"] for k in keys}
    assert caught.value.access_key_id in caught.value.next_step
    assert aws_proxy.count("iam:CreateAccessKey") == 1
    assert aws_proxy.count("secretsmanager:PutSecretValue") == 1


def test_aws_gateway_session_name_follows_sts_rules() -> None:
    name = session_name_for({"incident": "INC 42/é", "step": "x" * 80})
    assert name.startswith("warroom-INC-42--")
    assert len(name) == 64
    assert re.fullmatch(r"[\w+=,.@-]+", name, flags=re.ASCII)
    assert session_name_for(None) == "warroom"
