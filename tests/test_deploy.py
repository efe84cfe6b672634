"""What `deploy/` promises that cfn-lint (run by `make lint`) cannot know: never two bots on one
database, no inbound traffic, the database on encrypted EFS at /data, tokens only from Secrets
Manager, every environment name one warroom reads, the health check on /readyz, and a backup bucket
that is private, encrypted and expires old backups by its own rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cfnlint.decode import decode_str

from bot.config import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def template(name: str) -> dict[str, Any]:
    decoded, problems = decode_str((DEPLOY / name).read_text(encoding="utf-8"))
    assert not problems
    assert decoded is not None
    return dict(decoded)


def resources(name: str, kind: str) -> list[dict[str, Any]]:
    found = template(name)["Resources"].values()
    return [r["Properties"] for r in found if r["Type"] == kind]


def environment_names() -> set[str]:
    """Every environment variable the settings read."""
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        names.add(str(choices[0]) if choices else f"WARROOM_{name.upper()}")
    return names


def test_one_task_at_a_time_and_nothing_inbound():
    [service] = resources("warroom.yaml", "AWS::ECS::Service")
    assert service["DesiredCount"] == 1
    assert service["DeploymentConfiguration"]["MaximumPercent"] == 100
    assert service["DeploymentConfiguration"]["MinimumHealthyPercent"] == 0
    groups = resources("warroom.yaml", "AWS::EC2::SecurityGroup")
    task = next(g for g in groups if "task" in g["GroupDescription"])
    assert "SecurityGroupIngress" not in task
    ingress = resources("warroom.yaml", "AWS::EC2::SecurityGroupIngress")
    assert ingress == []
    assert not resources("warroom.yaml", "AWS::ElasticLoadBalancingV2::LoadBalancer")


def test_the_container_reads_its_database_from_efs_and_its_tokens_from_secrets():
    [task] = resources("warroom.yaml", "AWS::ECS::TaskDefinition")
    [container] = task["ContainerDefinitions"]
    # an `!If` entry (the optional status page bucket) counts as set
    entries = [e["Fn::If"][1] if "Fn::If" in e else e for e in container["Environment"]]
    env = {e["Name"]: e["Value"] for e in entries}
    secrets = {s["Name"] for s in container["Secrets"]}
    assert secrets == {"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"}  # Socket Mode
    assert not [v for v in env.values() if isinstance(v, str) and v.startswith("xox")]
    assert not secrets & set(env)
    assert set(env) | secrets <= environment_names()
    assert env["WARROOM_DATABASE_PATH"] == "/data/warroom.db"
    [mount] = container["MountPoints"]
    assert mount["ContainerPath"] == "/data"
    [volume] = task["Volumes"]
    assert volume["Name"] == mount["SourceVolume"]
    assert volume["EFSVolumeConfiguration"]["TransitEncryption"] == "ENABLED"
    [efs] = resources("warroom.yaml", "AWS::EFS::FileSystem")
    assert efs["Encrypted"] is True
    # The drain fits inside the stop timeout ECS gives before SIGKILL.
    assert float(env["WARROOM_SHUTDOWN_DRAIN_SECONDS"]) * 3 < container["StopTimeout"]
    check = " ".join(container["HealthCheck"]["Command"])
    assert "/readyz" in check
    assert "WARROOM_HTTP_PORT" in check


def test_the_backup_bucket_is_private_encrypted_and_expires_old_backups():
    [bucket] = resources("backup-bucket.yaml", "AWS::S3::Bucket")
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    [expiry] = bucket["LifecycleConfiguration"]["Rules"]
    assert expiry["Status"] == "Enabled"
    assert expiry["Prefix"] == "warroom/"
    assert expiry["ExpirationInDays"] == {"Ref": "RetentionDays"}
    [policy] = resources("backup-bucket.yaml", "AWS::S3::BucketPolicy")
    tls = policy["PolicyDocument"]["Statement"][0]
    assert tls["Effect"] == "Deny"
    assert tls["Condition"]["Bool"]["aws:SecureTransport"] == "false"
