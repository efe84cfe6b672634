"""The seeded BodyScript estate exists as the plan describes it, seen through plain boto3 calls."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from bot.sandbox.estate.moto_server import MotoSandbox, seed_estate
from bot.sandbox.estate.names import Estate

REGION, DR = "us-east-1", "us-west-2"
CLUSTER, API = "bodyscript-production", "bodyscript-api"


@pytest.fixture(scope="module")
def estate(moto_server: MotoSandbox) -> Estate:
    """Seeded once for this module: every test here only reads (the last one reseeds)."""
    moto_server.reset()
    return seed_estate(endpoint_url=moto_server.endpoint_url)


@pytest.fixture
def aws(estate: Estate) -> Iterator[Callable[..., Any]]:
    clients: list[Any] = []

    def make(service: str, region: str = REGION) -> Any:
        client = boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=estate.endpoint_url,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_estate_moto_sandbox_reports_its_real_port(moto_server: MotoSandbox) -> None:
    host, _, port = moto_server.endpoint_url.removeprefix("http://").partition(":")
    assert (host, port != "0") == ("127.0.0.1", True)
    # reachable on the reported port
    with urllib.request.urlopen(
        f"{moto_server.endpoint_url}/moto-api/config"
    ) as response:
        assert response.status < 300


def test_estate_ecs_service_runs_revision_41_of_four(estate: Estate, aws: Any) -> None:
    ecs = aws("ecs")
    service = ecs.describe_services(cluster=CLUSTER, services=[API])["services"][0]
    assert service["desiredCount"] == 3
    assert service["runningCount"] == 3
    assert service["taskDefinition"].endswith(f"task-definition/{API}:41")
    active = ecs.list_task_definitions(familyPrefix=API, status="ACTIVE")[
        "taskDefinitionArns"
    ]
    assert [int(arn.rsplit(":", 1)[1]) for arn in active] == [38, 39, 40, 41]
    assert estate.running_task_definition == service["taskDefinition"]


def test_estate_rds_instance_and_dated_snapshots(estate: Estate, aws: Any) -> None:
    rds = aws("rds")
    db = rds.describe_db_instances(DBInstanceIdentifier=CLUSTER)["DBInstances"][0]
    assert (db["Engine"], db["DBInstanceStatus"]) == ("postgres", "available")
    assert db["BackupRetentionPeriod"] > 0
    manual = rds.describe_db_snapshots(
        DBInstanceIdentifier=CLUSTER, SnapshotType="manual"
    )
    ids = [s["DBSnapshotIdentifier"] for s in manual["DBSnapshots"]]
    assert ids == [s.id for s in estate.snapshots]
    today = estate.now.strftime("%Y%m%d")
    assert ids[-1] == f"bodyscript-production-snapshot-{today}"


def test_estate_backups_in_both_regions(estate: Estate, aws: Any) -> None:
    s3, west = aws("s3"), aws("s3", DR)
    daily = s3.list_objects_v2(Bucket="bodyscript-backups", Prefix="daily/")["Contents"]
    assert [o["Key"] for o in daily] == list(estate.backup_keys)
    today_key = f"daily/backup-{estate.now:%Y%m%d}.tar.gz"
    assert (
        s3.head_object(Bucket="bodyscript-backups", Key=today_key)["ContentLength"] > 0
    )
    for bucket in ("bodyscript-backups-us-west-2", "bodyscript-backup-us-west-2"):
        assert west.get_bucket_location(Bucket=bucket)["LocationConstraint"] == DR
        for prefix in ("latest/", "daily/"):
            assert west.list_objects_v2(Bucket=bucket, Prefix=prefix)["KeyCount"] > 0
    target = west.list_objects_v2(Bucket="bodyscript-production-us-west-2")
    assert target["KeyCount"] == 0


def test_estate_network_load_balancer_and_dns(estate: Estate, aws: Any) -> None:
    ec2, elb, r53 = aws("ec2"), aws("elbv2"), aws("route53")
    [group] = ec2.describe_security_groups(GroupIds=[estate.security_group_id])[
        "SecurityGroups"
    ]
    assert (group["GroupName"], group["VpcId"]) == (API, estate.vpc_id)
    [acl] = ec2.describe_network_acls(NetworkAclIds=[estate.network_acl_id])[
        "NetworkAcls"
    ]
    assert acl["VpcId"] == estate.vpc_id
    [tg] = elb.describe_target_groups(Names=[API])["TargetGroups"]
    assert tg["TargetGroupArn"] == estate.target_group_arn
    health = elb.describe_target_health(TargetGroupArn=estate.target_group_arn)
    states = [t["TargetHealth"]["State"] for t in health["TargetHealthDescriptions"]]
    assert states == ["healthy", "healthy"]
    records = r53.list_resource_record_sets(HostedZoneId=estate.hosted_zone_id)
    names = {r["Name"] for r in records["ResourceRecordSets"]}
    assert "api.bodyscript.com." in names


def test_estate_identity_audit_and_metrics(estate: Estate, aws: Any) -> None:
    iam = aws("iam")
    keys = iam.list_access_keys(UserName=API)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [estate.access_key_id]
    assert iam.get_role(RoleName="warroom-runbook")["Role"]["Arn"] == estate.role_arn
    secret = aws("secretsmanager").get_secret_value(SecretId=estate.secret_arn)
    assert json.loads(secret["SecretString"])["AccessKeyId"] == estate.access_key_id
    status = aws("cloudtrail").get_trail_status(Name="bodyscript-security-trail")
    assert status["IsLogging"] is False
    groups = aws("logs").describe_log_groups(logGroupNamePrefix="/aws/ecs/")[
        "logGroups"
    ]
    assert [g["logGroupName"] for g in groups] == ["/aws/ecs/bodyscript-production"]
    cw = aws("cloudwatch")
    for metric in ("RunningTaskCount", "CPUUtilization"):
        stats = cw.get_metric_statistics(
            Namespace="AWS/ECS",
            MetricName=metric,
            Dimensions=[
                {"Name": "ClusterName", "Value": CLUSTER},
                {"Name": "ServiceName", "Value": API},
            ],
            StartTime=estate.now - timedelta(hours=1),
            EndTime=estate.now + timedelta(minutes=1),
            Period=300,
            Statistics=["Average"],
        )
        assert stats["Datapoints"]


# Last in the module: `aws_env` resets moto under the module's shared estate.
def test_estate_dates_follow_now_as_in_the_plan(aws_env: str) -> None:
    estate = seed_estate(
        endpoint_url=aws_env, now=datetime(2024, 9, 24, 14, 0, tzinfo=UTC)
    )
    assert [s.id for s in estate.snapshots] == [
        "bodyscript-production-snapshot-20240922",
        "bodyscript-production-snapshot-20240923",
        "bodyscript-production-snapshot-20240924",
    ]
    assert estate.backup_keys[-1] == "daily/backup-20240924.tar.gz"
    assert estate.snapshots[-1].intended_time == datetime(2024, 9, 24, 3, 0, tzinfo=UTC)
