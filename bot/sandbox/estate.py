"""BodyScript's AWS estate in moto: a local moto server, and the seed that fills it.

Owns `MotoSandbox` (a moto server on 127.0.0.1 for the demo and the tests) and `seed_estate`, which
creates the resources the disaster-recovery plan names (ECS, RDS, S3 in two regions, ALB, Route 53,
security group, IAM user, CloudTrail, CloudWatch). Only fake data, account 123456789012. This module
must never be imported by `bot/services/` and never talks to real AWS: every client it builds has
an explicit local `endpoint_url` and the fake credentials `testing`.

Moto simplifies AWS in ways the seed works around, said where it happens: ECS services report the
desired count at once, timestamps cannot be backdated (snapshot and object times are "now"; the
intended times are returned in `Estate`), and there is no per-call throttling (tests use
`tests/aws_fault_proxy.py`).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
DR_REGION = "us-west-2"
NAME = "bodyscript-production"
API = "bodyscript-api"
ZONE = "bodyscript.com"
TASK_REVISIONS = (38, 39, 40, 41)
BACKUP_DAYS = 3  # today and the two days before: daily backups and manual snapshots
_FAKE_AMI = "ami-12c6146b"  # one of the images moto loads by default


@dataclass(frozen=True)
class Snapshot:
    """A manual RDS snapshot; `intended_time` is its date's 03:00 UTC (moto stamps "now")."""

    id: str
    arn: str
    intended_time: datetime


@dataclass(frozen=True)
class Estate:
    """Ids of everything `seed_estate` created, for tests and the demo."""

    endpoint_url: str
    now: datetime
    account_id: str
    region: str
    dr_region: str
    cluster_arn: str
    service_arn: str
    task_definition_arns: dict[int, str]
    db_instance_arn: str
    snapshots: tuple[Snapshot, ...]
    backup_bucket: str
    backup_keys: tuple[str, ...]
    dr_backup_buckets: tuple[str, ...]
    dr_target_bucket: str
    vpc_id: str
    subnet_ids: tuple[str, ...]
    security_group_id: str
    alb_security_group_id: str
    network_acl_id: str
    instance_ids: tuple[str, ...]
    load_balancer_arn: str
    target_group_arn: str
    hosted_zone_id: str
    record_name: str
    iam_user: str
    access_key_id: str
    role_arn: str
    secret_arn: str
    trail_arn: str
    trail_bucket: str
    log_group_name: str

    @property
    def running_task_definition(self) -> str:
        """The task definition the service runs (revision 41)."""
        return self.task_definition_arns[TASK_REVISIONS[-1]]


class _Clients:
    """boto3 clients for the seed, built under a lock (sessions are not thread-safe, clients are)."""

    def __init__(self, endpoint_url: str) -> None:
        self._session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        self._endpoint_url = endpoint_url
        self._lock = threading.Lock()
        self._config = Config(retries={"mode": "standard", "total_max_attempts": 2})

    def __call__(self, service: str, region: str = REGION) -> Any:
        with self._lock:
            return self._session.client(
                service,  # type: ignore[call-overload]
                endpoint_url=self._endpoint_url,
                region_name=region,
                config=self._config,
            )


@functools.lru_cache(maxsize=4)
def _clients_for(endpoint_url: str) -> _Clients:
    # Loading botocore's service models costs more than the seed's calls, and tests seed often.
    return _Clients(endpoint_url)


def _backup_days(now: datetime) -> list[datetime]:
    today = now.astimezone(UTC).replace(hour=3, minute=0, second=0, microsecond=0)
    return [today - timedelta(days=back) for back in range(BACKUP_DAYS - 1, -1, -1)]


def seed_estate(*, endpoint_url: str, now: datetime | None = None) -> Estate:
    """Create BodyScript's estate in the moto server at `endpoint_url` (call it on a reset server)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    days = _backup_days(now)
    client = _clients_for(endpoint_url)

    network = _seed_network(client)
    ecs, dns = _seed_ecs(client, network), _seed_route53(client, network)
    rds, s3, iam = (
        _seed_rds(client, days),
        _seed_storage(client, days, now),
        _seed_iam(client),
    )
    return Estate(
        endpoint_url=endpoint_url,
        now=now,
        account_id=ACCOUNT_ID,
        region=REGION,
        dr_region=DR_REGION,
        **ecs,
        **rds,
        **s3,
        vpc_id=network["vpc_id"],
        subnet_ids=network["subnet_ids"],
        security_group_id=network["security_group_id"],
        alb_security_group_id=network["alb_security_group_id"],
        network_acl_id=network["network_acl_id"],
        instance_ids=network["instance_ids"],
        load_balancer_arn=network["load_balancer_arn"],
        target_group_arn=network["target_group_arn"],
        **dns,
        **iam,
    )


def _seed_network(client: _Clients) -> dict[str, Any]:
    ec2 = client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    ec2.create_tags(Resources=[vpc_id], Tags=[{"Key": "Name", "Value": NAME}])
    subnet_ids = tuple(
        ec2.create_subnet(
            VpcId=vpc_id, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"{REGION}{az}"
        )["Subnet"]["SubnetId"]
        for i, az in ((1, "a"), (2, "b"))
    )
    alb_sg = ec2.create_security_group(
        GroupName="bodyscript-alb", Description="BodyScript ALB", VpcId=vpc_id
    )["GroupId"]
    api_sg = ec2.create_security_group(
        GroupName=API, Description="BodyScript API tasks", VpcId=vpc_id
    )["GroupId"]
    https = dict(IpProtocol="tcp", FromPort=443, ToPort=443)
    ec2.authorize_security_group_ingress(
        GroupId=alb_sg, IpPermissions=[{**https, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
    )
    app = dict(IpProtocol="tcp", FromPort=8000, ToPort=8000)
    ec2.authorize_security_group_ingress(
        GroupId=api_sg,
        IpPermissions=[{**app, "UserIdGroupPairs": [{"GroupId": alb_sg}]}],
    )
    acls = ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
        "NetworkAcls"
    ]
    instances = ec2.run_instances(
        ImageId=_FAKE_AMI, MinCount=2, MaxCount=2, InstanceType="t3.medium",
        SubnetId=subnet_ids[0], SecurityGroupIds=[api_sg],
    )["Instances"]  # fmt: skip
    instance_ids = tuple(i["InstanceId"] for i in instances)

    elb = client("elbv2")
    lb = elb.create_load_balancer(
        Name="bodyscript-alb", Subnets=list(subnet_ids), SecurityGroups=[alb_sg],
        Type="application", Scheme="internet-facing",
    )["LoadBalancers"][0]  # fmt: skip
    tg_arn = elb.create_target_group(
        Name=API, Protocol="HTTP", Port=8000, VpcId=vpc_id, TargetType="instance",
        HealthCheckPath="/api/health",
    )["TargetGroups"][0]["TargetGroupArn"]  # fmt: skip
    # Moto reports registered running instances as `healthy`; it cannot produce `unhealthy`.
    elb.register_targets(
        TargetGroupArn=tg_arn, Targets=[{"Id": i, "Port": 8000} for i in instance_ids]
    )
    elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}],
    )  # fmt: skip
    return dict(
        vpc_id=vpc_id, subnet_ids=subnet_ids, security_group_id=api_sg,
        alb_security_group_id=alb_sg, network_acl_id=acls[0]["NetworkAclId"],
        instance_ids=instance_ids, load_balancer_arn=lb["LoadBalancerArn"],
        alb_dns=lb["DNSName"], target_group_arn=tg_arn,
    )  # fmt: skip


def _seed_ecs(client: _Clients, network: dict[str, Any]) -> dict[str, Any]:
    ecs = client("ecs")
    cluster_arn = ecs.create_cluster(clusterName=NAME)["cluster"]["clusterArn"]
    arns: dict[int, str] = {}
    # Moto numbers revisions from 1, so the family is registered up to 41 and the old ones
    # deregistered (INACTIVE), as a long-lived service's family would be.
    for revision in range(1, TASK_REVISIONS[-1] + 1):
        image = f"{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com/{API}:build-{revision}"
        container = dict(
            name=API,
            image=image,
            essential=True,
            portMappings=[{"containerPort": 8000}],
        )
        arn = ecs.register_task_definition(
            family=API, networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
            cpu="512", memory="1024", containerDefinitions=[container],
        )["taskDefinition"]["taskDefinitionArn"]  # fmt: skip
        if revision in TASK_REVISIONS:
            arns[revision] = arn
        else:
            ecs.deregister_task_definition(taskDefinition=arn)
    target = dict(
        targetGroupArn=network["target_group_arn"],
        containerName=API,
        containerPort=8000,
    )
    vpc = dict(
        subnets=list(network["subnet_ids"]),
        securityGroups=[network["security_group_id"]],
    )
    service_arn = ecs.create_service(
        cluster=NAME, serviceName=API, taskDefinition=arns[TASK_REVISIONS[-1]], desiredCount=3,
        launchType="FARGATE", loadBalancers=[target],
        networkConfiguration={"awsvpcConfiguration": vpc},
    )["service"]["serviceArn"]  # fmt: skip
    # Moto leaves a new service at running=0 until an update, then jumps to the desired count
    # (no gradual rollout), so one update makes the healthy steady state of 3 running tasks.
    ecs.update_service(cluster=NAME, service=API, desiredCount=3)
    return dict(
        cluster_arn=cluster_arn, service_arn=service_arn, task_definition_arns=arns
    )


def _seed_rds(client: _Clients, days: list[datetime]) -> dict[str, Any]:
    rds = client("rds")
    db_arn = rds.create_db_instance(
        DBInstanceIdentifier=NAME, Engine="postgres", EngineVersion="16.3",
        DBInstanceClass="db.t3.medium", AllocatedStorage=100, DBName="bodyscript",
        MasterUsername="bodyscript", MasterUserPassword="fake-password-not-real",
        BackupRetentionPeriod=7, MultiAZ=True,
    )["DBInstance"]["DBInstanceArn"]  # fmt: skip
    snapshots = []
    # Oldest first: moto stamps each SnapshotCreateTime with "now", so creation order keeps
    # "sort by time, take the last" pointing at the newest date.
    for day in days:
        snapshot_id = f"{NAME}-snapshot-{day:%Y%m%d}"
        snap = rds.create_db_snapshot(
            DBSnapshotIdentifier=snapshot_id, DBInstanceIdentifier=NAME
        )["DBSnapshot"]
        snapshots.append(Snapshot(snapshot_id, snap["DBSnapshotArn"], day))
    return {"db_instance_arn": db_arn, "snapshots": tuple(snapshots)}


def _seed_storage(
    client: _Clients, days: list[datetime], now: datetime
) -> dict[str, Any]:
    s3 = client("s3")
    s3.create_bucket(Bucket="bodyscript-backups")
    keys = tuple(f"daily/backup-{day:%Y%m%d}.tar.gz" for day in days)
    for key in keys:
        s3.put_object(
            Bucket="bodyscript-backups", Key=key, Body=b"fake backup archive\n" * 64
        )
    west = client("s3", DR_REGION)
    location = {"LocationConstraint": DR_REGION}
    dr_buckets = ("bodyscript-backups-us-west-2", "bodyscript-backup-us-west-2")
    for bucket in dr_buckets:
        west.create_bucket(Bucket=bucket, CreateBucketConfiguration=location)
        for key in keys:
            west.put_object(Bucket=bucket, Key=key, Body=b"replicated backup\n" * 64)
        for name in ("manifest.json", "uploads/sample-001.mp4", "poses/sample-001.json"):  # fmt: skip
            west.put_object(Bucket=bucket, Key=f"latest/{name}", Body=b"{}\n")
    west.create_bucket(
        Bucket="bodyscript-production-us-west-2",
        CreateBucketConfiguration=location,
    )
    return dict(
        backup_bucket="bodyscript-backups", backup_keys=keys, dr_backup_buckets=dr_buckets,
        dr_target_bucket="bodyscript-production-us-west-2", **_seed_audit(client, now),
    )  # fmt: skip


def _seed_route53(client: _Clients, network: dict[str, Any]) -> dict[str, Any]:
    r53 = client("route53")
    zone_id = r53.create_hosted_zone(Name=ZONE, CallerReference="warroom-estate")[
        "HostedZone"
    ]["Id"].split("/")[-1]
    record = f"api.{ZONE}"
    record_set = dict(
        Name=record,
        Type="CNAME",
        TTL=60,
        ResourceRecords=[{"Value": network["alb_dns"]}],
    )
    r53.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={
            "Changes": [{"Action": "UPSERT", "ResourceRecordSet": record_set}]
        },
    )
    return {"hosted_zone_id": zone_id, "record_name": record}


def _seed_iam(client: _Clients) -> dict[str, Any]:
    iam = client("iam")
    iam.create_user(UserName=API)
    key = iam.create_access_key(UserName=API)["AccessKey"]
    principal = {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:root"}
    allow = dict(
        Effect="Allow", Principal=principal, Action=["sts:AssumeRole", "sts:TagSession"]
    )
    trust = {"Version": "2012-10-17", "Statement": [allow]}
    role_arn = iam.create_role(
        RoleName="warroom-runbook", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]
    # The API's current key lives in Secrets Manager, where a rotation writes the next one.
    sm = client("secretsmanager")
    secret_arn = sm.create_secret(
        Name=f"{API}/aws-access-key",
        SecretString=json.dumps(
            {k: key[k] for k in ("AccessKeyId", "SecretAccessKey")}
        ),
    )["ARN"]
    return dict(
        iam_user=API,
        access_key_id=key["AccessKeyId"],
        role_arn=role_arn,
        secret_arn=secret_arn,
    )


def _seed_audit(client: _Clients, now: datetime) -> dict[str, Any]:
    s3 = client("s3")
    trail_bucket = "bodyscript-cloudtrail-logs"
    s3.create_bucket(Bucket=trail_bucket)
    ct = client("cloudtrail")
    # Created and never started: the plan's security scenario starts logging.
    trail_arn = ct.create_trail(
        Name="bodyscript-security-trail", S3BucketName=trail_bucket
    )["TrailARN"]
    logs = client("logs")
    log_group = f"/aws/ecs/{NAME}"
    logs.create_log_group(logGroupName=log_group)
    logs.put_retention_policy(logGroupName=log_group, retentionInDays=7)
    # CloudWatch has no AWS-generated metrics in moto; these datapoints stand in for them.
    cw = client("cloudwatch")
    dims = [
        {"Name": "ClusterName", "Value": NAME},
        {"Name": "ServiceName", "Value": API},
    ]
    points = [
        dict(MetricName=metric, Dimensions=dims, Timestamp=now - timedelta(minutes=ago),
             Value=value + ago * (metric == "CPUUtilization"), Unit=unit)
        for ago in range(30, 0, -5)
        for metric, value, unit in (("RunningTaskCount", 3.0, "Count"), ("CPUUtilization", 35.0, "Percent"))
    ]  # fmt: skip
    cw.put_metric_data(Namespace="AWS/ECS", MetricData=points)
    return dict(
        trail_arn=trail_arn, trail_bucket=trail_bucket, log_group_name=log_group
    )


class MotoSandbox:
    """A moto server on 127.0.0.1 (a free port) with a reset; use as a context manager."""

    def __init__(self, *, ip_address: str = "127.0.0.1", port: int = 0) -> None:
        from moto.server import (
            ThreadedMotoServer,
        )  # the sandbox extra; not needed in production

        # Werkzeug logs every request at INFO; the demo and the tests do not want them.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(
            ip_address=ip_address, port=port, verbose=False
        )
        self._endpoint_url: str | None = None

    @property
    def endpoint_url(self) -> str:
        if self._endpoint_url is None:
            raise RuntimeError("MotoSandbox is not started")
        return self._endpoint_url

    def start(self) -> str:
        """Start the server and return its endpoint URL."""
        self._server.start()
        host, port = self._server.get_host_and_port()
        self._endpoint_url = f"http://{host}:{port}"
        return self._endpoint_url

    def stop(self) -> None:
        if self._endpoint_url is None:
            return
        self._server.stop()
        # ThreadedMotoServer.stop() shuts the loop down but leaves the listening socket open.
        inner = getattr(self._server, "_server", None)
        if inner is not None:
            inner.server_close()
        self._endpoint_url = None

    def reset(self) -> None:
        """Empty every moto backend (POST /moto-api/reset)."""
        request = urllib.request.Request(
            f"{self.endpoint_url}/moto-api/reset", method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def reseed(self, *, now: datetime | None = None) -> Estate:
        """Reset moto and seed BodyScript's estate again (the seed is not idempotent without it)."""
        self.reset()
        return seed_estate(endpoint_url=self.endpoint_url, now=now)

    def __enter__(self) -> MotoSandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
