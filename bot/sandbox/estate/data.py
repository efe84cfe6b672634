"""Seeds the estate's data and control plane in moto: RDS, S3 backups, IAM, Secrets Manager, audit.

Owns `seed_rds`, `seed_storage` (with the CloudTrail trail, log group and CloudWatch datapoints) and
`seed_iam`, called by `seed_estate`. Moto cannot backdate timestamps, so snapshot and object times
are "now" (the intended times are returned in `Estate`), and it has no AWS-generated metrics.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from bot.sandbox.estate.names import ACCOUNT_ID, API, DR_REGION, NAME, Clients, Snapshot


def seed_rds(client: Clients, days: list[datetime]) -> dict[str, Any]:
    rds = client("rds")
    db_arn = rds.create_db_instance(
        DBInstanceIdentifier=NAME,
        Engine="postgres",
        EngineVersion="16.3",
        DBInstanceClass="db.t3.medium",
        AllocatedStorage=100,
        DBName="bodyscript",
        MasterUsername="bodyscript",
        MasterUserPassword="fake-password-not-real",
        BackupRetentionPeriod=7,
        MultiAZ=True,
    )["DBInstance"]["DBInstanceArn"]
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


def seed_storage(
    client: Clients, days: list[datetime], now: datetime
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
        for name in (
            "manifest.json",
            "uploads/sample-001.mp4",
            "poses/sample-001.json",
        ):
            west.put_object(Bucket=bucket, Key=f"latest/{name}", Body=b"{}\n")
    west.create_bucket(
        Bucket="bodyscript-production-us-west-2",
        CreateBucketConfiguration=location,
    )
    return dict(
        backup_bucket="bodyscript-backups",
        backup_keys=keys,
        dr_backup_buckets=dr_buckets,
        dr_target_bucket="bodyscript-production-us-west-2",
        **_seed_audit(client, now),
    )


def seed_iam(client: Clients) -> dict[str, Any]:
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


def _seed_audit(client: Clients, now: datetime) -> dict[str, Any]:
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
        dict(
            MetricName=metric,
            Dimensions=dims,
            Timestamp=now - timedelta(minutes=ago),
            Value=value + ago * (metric == "CPUUtilization"),
            Unit=unit,
        )
        for ago in range(30, 0, -5)
        for metric, value, unit in (
            ("RunningTaskCount", 3.0, "Count"),
            ("CPUUtilization", 35.0, "Percent"),
        )
    ]
    cw.put_metric_data(Namespace="AWS/ECS", MetricData=points)
    return dict(
        trail_arn=trail_arn, trail_bucket=trail_bucket, log_group_name=log_group
    )
