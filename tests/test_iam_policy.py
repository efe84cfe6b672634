"""`warroom iam-policy --account A --region R`: the bot's IAM policy grants each action only on the
resources the scenarios name, in that account and those regions, and still allows every call the
scenarios make against the BodyScript estate in moto."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.cli.main import main
from bot.errors import ScenarioError
from bot.sandbox.estate.names import Estate, clients_for
from bot.scenarios.actions import CATALOGUE
from bot.scenarios.iam_policy import (
    MANAGED_POLICY_LIMIT,
    STAR_ONLY,
    curated_calls,
    policy,
    required_actions,
    size,
    uncovered,
)
from bot.scenarios.operations import is_read_only
from bot.scenarios.schema import ActionStep, AwsStep, Scenario, load_all

ROOT = Path(__file__).resolve().parents[1]
# Not the estate's account or regions: nothing in the policy may come from anywhere but the arguments.
ACCOUNT, REGIONS = "210987654321", ("eu-west-1", "eu-central-1")
# ARNs of these services name no region; those of S3 and Route 53 name no account either.
NO_REGION, NO_ACCOUNT = {"iam", "sts", "s3", "route53"}, {"s3", "route53"}


def printed_policy(
    capsys: pytest.CaptureFixture[str], account: str, *regions: str
) -> dict[str, Any]:
    argv = ["iam-policy", "--account", account]
    for region in regions:
        argv += ["--region", region]
    assert main(argv) == 0
    out = capsys.readouterr().out
    document: dict[str, Any] = json.loads(out)
    return document


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = document["Statement"]
    return found


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def mutating(action: str) -> bool:
    service, name = action.split(":", 1)
    return not is_read_only(service, name)


# -- a tiny IAM evaluator: Allow statements, wildcards, StringEquals and ForAllValues -------------


def wildcard(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    regex = "".join(
        ".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern
    )
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def condition_holds(condition: dict[str, Any], context: dict[str, Any]) -> bool:
    for operator, tests in condition.items():
        for key, allowed in tests.items():
            allowed = as_list(allowed)
            if operator == "StringEquals":
                if key not in context or context[key] not in allowed:
                    return False
            elif operator == "ForAllValues:StringEquals":
                if any(v not in allowed for v in as_list(context.get(key, []))):
                    return False
            else:
                raise AssertionError(f"the evaluator does not know {operator}")
    return True


def allows(
    document: dict[str, Any],
    action: str,
    resource: str,
    context: dict[str, Any] | None = None,
) -> bool:
    """Whether some Allow statement covers this action on this resource in this request context."""
    return any(
        statement["Effect"] == "Allow"
        and any(
            wildcard(a, action, ignore_case=True) for a in as_list(statement["Action"])
        )
        and any(wildcard(r, resource) for r in as_list(statement["Resource"]))
        and condition_holds(statement.get("Condition", {}), context or {})
        for statement in statements(document)
    )


# -- the policy's shape ------------------------------------------------------------------------


def test_no_mutating_action_is_granted_on_every_resource(
    capsys: pytest.CaptureFixture[str],
):
    document = printed_policy(capsys, ACCOUNT, *REGIONS)
    on_star = [
        action
        for statement in statements(document)
        if "*" in as_list(statement["Resource"])
        for action in as_list(statement["Action"])
    ]
    assert on_star, "the reads AWS authorises only on * are in the policy"
    assert [a for a in on_star if mutating(a) and a not in STAR_ONLY] == []
    # Every read on "*" is limited to the regions given.
    for statement in statements(document):
        if "*" in as_list(statement["Resource"]):
            assert statement["Condition"] == {
                "StringEquals": {"aws:RequestedRegion": list(REGIONS)}
            }
    # ...and every mutating action the scenarios need is granted, on named resources.
    granted = {a for s in statements(document) for a in as_list(s["Action"])}
    needed = {a for a in required_actions(load_all().values()) if mutating(a)}
    assert needed <= granted
    assert {"iam:CreateAccessKey", "s3:GetObject", "ecs:UpdateService"} <= needed


def test_the_policy_grants_exactly_the_actions_the_scenarios_use(
    capsys: pytest.CaptureFixture[str],
):
    document = printed_policy(capsys, ACCOUNT, *REGIONS)
    actions = [a for s in statements(document) for a in as_list(s["Action"])]
    assert sorted(set(actions)) == required_actions(load_all().values())
    assert not any("*" in a for a in actions)
    for needed in (
        "rds:RestoreDBInstanceFromDBSnapshot",
        "ecs:UpdateService",
        "ec2:CreateNetworkAclEntry",
        "secretsmanager:PutSecretValue",
        "s3:ListBucket",
    ):
        assert needed in actions


def test_every_scoped_arn_names_the_account_and_a_region_given(
    capsys: pytest.CaptureFixture[str],
):
    document = printed_policy(capsys, ACCOUNT, *REGIONS)
    scoped = [s for s in statements(document) if s["Resource"] != "*"]
    assert len(scoped) >= 10
    for statement in scoped:
        for arn in as_list(statement["Resource"]):
            partition, service, region, account = arn.split(":")[1:5]
            assert partition == "aws", arn
            assert account == ("" if service in NO_ACCOUNT else ACCOUNT), arn
            if service in NO_REGION:
                assert region == "", arn
            else:
                assert region in REGIONS, arn
        if statement["Action"][0].startswith("s3:"):
            # S3 ARNs cannot name the account: a condition does.
            assert statement["Condition"] == {
                "StringEquals": {"s3:ResourceAccount": ACCOUNT}
            }
    restore = next(
        s for s in scoped if s["Action"] == ["rds:RestoreDBInstanceFromDBSnapshot"]
    )
    for region in REGIONS:
        assert f"arn:aws:rds:{region}:{ACCOUNT}:snapshot:*" in restore["Resource"]
        assert f"arn:aws:rds:{region}:{ACCOUNT}:db:*" in restore["Resource"]


def test_secrets_manager_is_granted_only_under_the_declared_prefix(
    capsys: pytest.CaptureFixture[str],
):
    prefix = "bodyscript/production/"
    declared = load_all()["security-incident"].input("secret_name").pattern
    assert declared is not None
    assert declared.startswith(f"^{prefix}")
    document = printed_policy(capsys, ACCOUNT, *REGIONS)
    secrets = [
        s for s in statements(document) if s["Action"][0].startswith("secretsmanager:")
    ]
    assert {a for s in secrets for a in s["Action"]} >= {
        "secretsmanager:CreateSecret",
        "secretsmanager:PutSecretValue",
    }
    resources = [r for s in secrets for r in as_list(s["Resource"])]
    assert sorted(resources) == sorted(
        f"arn:aws:secretsmanager:{region}:{ACCOUNT}:secret:{prefix}*"
        for region in REGIONS
    )
    assert not allows(
        document,
        "secretsmanager:PutSecretValue",
        f"arn:aws:secretsmanager:{REGIONS[0]}:{ACCOUNT}:secret:other-app/db-password-AbCdEf",
    )


def test_access_keys_are_created_and_deleted_only_for_the_users_the_scenarios_name(
    capsys: pytest.CaptureFixture[str],
):
    named: set[str] = set()
    for scenario in load_all().values():
        for _, step in scenario.steps():
            if isinstance(step, AwsStep) and step.service == "iam":
                named.add(step.params["UserName"])
            elif (
                isinstance(step, ActionStep) and step.action == "iam_rotate_access_key"
            ):
                named.add(step.params["user_name"])
    assert named == {"bodyscript-api"}
    document = printed_policy(capsys, ACCOUNT, *REGIONS)
    for action in ("iam:CreateAccessKey", "iam:DeleteAccessKey", "iam:ListAccessKeys"):
        holding = [s for s in statements(document) if action in as_list(s["Action"])]
        assert [r for s in holding for r in as_list(s["Resource"])] == [
            f"arn:aws:iam::{ACCOUNT}:user/{user}" for user in sorted(named)
        ]
    assert not allows(
        document, "iam:CreateAccessKey", f"arn:aws:iam::{ACCOUNT}:user/admin"
    )


def test_the_policy_is_a_valid_managed_iam_policy(capsys: pytest.CaptureFixture[str]):
    document = printed_policy(capsys, ACCOUNT, *REGIONS)
    assert document["Version"] == "2012-10-17"
    sids = [s["Sid"] for s in statements(document)]
    assert len(sids) == len(set(sids))
    for statement in statements(document):
        assert re.fullmatch(r"[A-Za-z0-9]+", statement["Sid"])
        assert statement["Effect"] == "Allow"
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}
        for action in as_list(statement["Action"]):
            assert re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9]+", action), action
        for resource in as_list(statement["Resource"]):
            assert resource == "*" or resource.startswith("arn:aws:"), resource
    assert size(document) < MANAGED_POLICY_LIMIT


# -- arguments -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--account", "12345", "--region", "us-east-1"],
            "not an AWS account id: 12 digits",
        ),
        (
            ["--account", "1234567890123", "--region", "us-east-1"],
            "not an AWS account id",
        ),
        (
            ["--account", "12345678901a", "--region", "us-east-1"],
            "not an AWS account id",
        ),
        (
            ["--account", ACCOUNT, "--region", "useast1"],
            "'useast1' is not an AWS region",
        ),
        (["--account", ACCOUNT, "--region", "US-EAST-1"], "is not an AWS region"),
        (
            ["--account", ACCOUNT, "--region", "us-east-1", "--partition", "aws-cn"],
            "us-east-1 is not a region of that partition",
        ),
        (
            ["--account", ACCOUNT, "--region", "us-east-1", "--partition", "azure"],
            "use one of aws, aws-cn, aws-us-gov",
        ),
        (
            ["--account", ACCOUNT, "--region", "us-east-1", "--region", "cn-north-1"],
            "regions of different partitions",
        ),
    ],
)
def test_a_bad_account_region_or_partition_is_refused_with_a_clear_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
):
    assert main(["iam-policy", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("warroom iam-policy: error: ")
    assert message in captured.err


def test_the_command_needs_an_account_and_a_region():
    run = subprocess.run(
        [sys.executable, "-m", "bot", "iam-policy", "--region", "us-east-1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2
    assert run.stdout == ""
    assert "the following arguments are required: --account" in run.stderr


def test_another_partition_is_named_in_every_arn(capsys: pytest.CaptureFixture[str]):
    document = printed_policy(capsys, ACCOUNT, "cn-north-1")
    resources = [r for s in statements(document) for r in as_list(s["Resource"])]
    arns = [r for r in resources if r != "*"]
    assert arns
    assert all(r.startswith("arn:aws-cn:") for r in arns)


# -- how resources are derived -------------------------------------------------------------------


def scenario(step: dict[str, Any], **inputs: str) -> Scenario:
    return Scenario.model_validate(
        {
            "id": "probe",
            "title": "Probe",
            "inputs": [
                {"name": name, "label": name, "pattern": pattern}
                for name, pattern in inputs.items()
            ],
            "phases": [
                {
                    "id": "one",
                    "title": "One",
                    "steps": [{"id": "s", "title": "S", **step}],
                }
            ],
        }
    )


def test_an_input_pattern_narrows_the_resource_to_its_literal_prefix():
    restore = {
        "kind": "aws",
        "service": "rds",
        "operation": "restore_db_instance_to_point_in_time",
        "params": {
            "SourceDBInstanceIdentifier": "bodyscript-production",
            "TargetDBInstanceIdentifier": "{{ inputs.target }}",
        },
    }
    narrowed = policy(
        [scenario(restore, target="^bodyscript-[a-z-]{1,40}$")],
        account=ACCOUNT,
        regions=["eu-west-1"],
    )
    (statement,) = statements(narrowed)
    assert f"arn:aws:rds:eu-west-1:{ACCOUNT}:db:bodyscript-*" in statement["Resource"]
    assert f"arn:aws:rds:eu-west-1:{ACCOUNT}:db:*" not in statement["Resource"]
    # Without a pattern the name is any name, still in that account and region.
    (open_statement,) = statements(
        policy([scenario(restore)], account=ACCOUNT, regions=["eu-west-1"])
    )
    assert f"arn:aws:rds:eu-west-1:{ACCOUNT}:db:*" in open_statement["Resource"]


def test_a_mutating_call_the_policy_cannot_scope_is_refused_not_put_on_every_resource():
    terminate = {
        "kind": "aws",
        "service": "ec2",
        "operation": "terminate_instances",
        "destructive": True,
        "params": {"InstanceIds": ["i-0123456789abcdef0"]},
    }
    with pytest.raises(ScenarioError, match="probe/s: ec2:TerminateInstances changes"):
        policy([scenario(terminate)], account=ACCOUNT, regions=["eu-west-1"])


def test_a_region_written_in_a_scenario_and_not_given_is_left_out_and_reported():
    scale = {
        "kind": "aws",
        "service": "ecs",
        "operation": "update_service",
        "region": "ap-south-1",
        "params": {"cluster": "c", "service": "s", "desiredCount": 2},
    }
    document = policy([scenario(scale)], account=ACCOUNT, regions=["eu-west-1"])
    assert document["Statement"] == []
    assert uncovered([scenario(scale)], ["eu-west-1"]) == [
        "probe/s calls ecs:UpdateService in ap-south-1, which is not a --region: the policy"
        " does not allow it there"
    ]
    assert uncovered(load_all().values(), ["us-east-1"]) == []


def test_every_curated_action_declares_the_calls_its_executor_makes():
    for name, spec in CATALOGUE.items():
        calls = curated_calls(name, {})
        assert {(service, api) for service, api, _ in calls} == set(spec.operations), (
            name
        )


# -- against the estate --------------------------------------------------------------------------


def estate_calls(estate: Estate) -> list[tuple[str, str, dict[str, Any]]]:
    """(action, resource, request context) of every call the shipped scenarios make, with the ARNs
    moto gives the estate's resources (and those the restores and the rotation create)."""
    aws = clients_for(estate.endpoint_url)
    east, west, account = estate.region, estate.dr_region, estate.account_id

    def in_region(arn: str, region: str) -> str:
        return arn.replace(f":{east}:", f":{region}:")

    rds = aws("rds")
    newest = estate.snapshots[-1]
    restored = rds.restore_db_instance_from_db_snapshot(
        DBInstanceIdentifier="bodyscript-production-restored",
        DBSnapshotIdentifier=newest.id,
    )["DBInstance"]["DBInstanceArn"]
    recovered = rds.restore_db_instance_to_point_in_time(
        SourceDBInstanceIdentifier="bodyscript-production",
        TargetDBInstanceIdentifier="bodyscript-recovery",
        UseLatestRestorableTime=True,
    )["DBInstance"]["DBInstanceArn"]
    db_prefix = estate.db_instance_arn.rsplit(":", 1)[0]
    # The groups a restore is created with: the defaults, as AWS names them for postgres 16.
    groups = [
        f"arn:aws:rds:{east}:{account}:subgrp:default",
        f"arn:aws:rds:{east}:{account}:og:default:postgres-16",
        f"arn:aws:rds:{east}:{account}:pg:default.postgres16",
    ]
    user_arn = aws("iam").get_user(UserName=estate.iam_user)["User"]["Arn"]
    secret_arn = aws("secretsmanager").create_secret(
        Name="bodyscript/production/api-access-key", SecretString="{}"
    )["ARN"]
    log_group_arn = aws("logs").describe_log_groups(
        logGroupNamePrefix=estate.log_group_name
    )["logGroups"][0]["arn"]
    zone = f"arn:aws:route53:::hostedzone/{estate.hosted_zone_id}"
    change = aws("route53").change_resource_record_sets(
        HostedZoneId=estate.hosted_zone_id,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": estate.record_name,
                        "Type": "CNAME",
                        "TTL": 60,
                        "ResourceRecords": [{"Value": "dr.example.com"}],
                    },
                }
            ]
        },
    )["ChangeInfo"]["Id"]
    dns_change = {
        "route53:ChangeResourceRecordSetsActions": ["UPSERT"],
        "route53:ChangeResourceRecordSetsRecordTypes": ["CNAME"],
    }
    s3_account = {"s3:ResourceAccount": account}
    source, target = "bodyscript-backup-us-west-2", estate.dr_target_bucket

    calls: list[tuple[str, str, dict[str, Any]]] = []
    for region in (east, west):
        read = {"aws:RequestedRegion": region}
        calls += [
            (f"{action}", "*", read)
            for action in (
                "cloudwatch:GetMetricStatistics",
                "ec2:DescribeNetworkAcls",
                "ecs:DescribeServices",
                "ecs:DescribeTaskDefinition",
                "ecs:ListTaskDefinitions",
                "elasticloadbalancing:DescribeTargetHealth",
                "logs:DescribeLogGroups",
                "rds:DescribeDBInstances",
                "rds:DescribeDBSnapshots",
                "cloudtrail:GetTrailStatus",
            )
        ]
        calls += [
            ("ecs:UpdateService", in_region(estate.service_arn, region), {}),
            *(
                ("rds:RestoreDBInstanceFromDBSnapshot", in_region(arn, region), {})
                for arn in (restored, newest.arn, *groups)
            ),
        ]
    calls += [
        (
            "rds:RestoreDBInstanceFromDBSnapshot",
            f"{db_prefix}:bodyscript-production-dr".replace(east, west),
            {},
        ),
        ("rds:RestoreDBInstanceToPointInTime", estate.db_instance_arn, {}),
        ("rds:RestoreDBInstanceToPointInTime", recovered, {}),
        *(("rds:RestoreDBInstanceToPointInTime", arn, {}) for arn in groups),
        (
            "ec2:CreateNetworkAclEntry",
            f"arn:aws:ec2:{east}:{account}:network-acl/{estate.network_acl_id}",
            {},
        ),
        ("cloudtrail:StartLogging", estate.trail_arn, {}),
        ("logs:PutRetentionPolicy", log_group_arn, {}),
        *(
            (a, user_arn, {})
            for a in (
                "iam:ListAccessKeys",
                "iam:CreateAccessKey",
                "iam:DeleteAccessKey",
            )
        ),
        *(
            (a, secret_arn, {})
            for a in (
                "secretsmanager:DescribeSecret",
                "secretsmanager:CreateSecret",
                "secretsmanager:PutSecretValue",
            )
        ),
        ("route53:ChangeResourceRecordSets", zone, dns_change),
        ("route53:ListResourceRecordSets", zone, {}),
        (
            "route53:GetChange",
            f"arn:aws:route53:::change/{change.rsplit('/', 1)[-1]}",
            {},
        ),
        *(
            ("s3:ListBucket", f"arn:aws:s3:::{bucket}", s3_account)
            for bucket in (estate.backup_bucket, *estate.dr_backup_buckets, target)
        ),
        (
            "s3:GetObject",
            f"arn:aws:s3:::{estate.backup_bucket}/{estate.backup_keys[-1]}",
            s3_account,
        ),
        ("s3:GetObject", f"arn:aws:s3:::{source}/latest/manifest.json", s3_account),
        ("s3:PutObject", f"arn:aws:s3:::{target}/manifest.json", s3_account),
        ("s3:GetObject", f"arn:aws:s3:::{target}/manifest.json", s3_account),
    ]
    return calls


def test_the_policy_allows_every_call_the_scenarios_make_on_the_estate(
    estate: Estate, capsys: pytest.CaptureFixture[str]
):
    document = printed_policy(
        capsys, estate.account_id, estate.region, estate.dr_region
    )
    calls = estate_calls(estate)
    # Every action the scenarios need is exercised here, so a policy too narrow for one fails.
    assert {action for action, _, _ in calls} == set(
        required_actions(load_all().values())
    )
    refused = [call for call in calls if not allows(document, *call)]
    assert refused == []


def test_the_policy_refuses_what_the_scenarios_do_not_touch(
    estate: Estate, capsys: pytest.CaptureFixture[str]
):
    document = printed_policy(
        capsys, estate.account_id, estate.region, estate.dr_region
    )
    account, east = estate.account_id, estate.region
    s3_account = {"s3:ResourceAccount": account}
    refused = [
        ("iam:CreateAccessKey", f"arn:aws:iam::{account}:user/admin", {}),
        (
            "iam:DeleteAccessKey",
            f"arn:aws:iam::999999999999:user/{estate.iam_user}",
            {},
        ),
        (
            "ecs:UpdateService",
            f"arn:aws:ecs:{east}:{account}:service/bodyscript-production/other",
            {},
        ),
        ("ecs:UpdateService", estate.service_arn.replace(east, "eu-west-1"), {}),
        (
            "rds:RestoreDBInstanceFromDBSnapshot",
            estate.snapshots[-1].arn.replace(account, "999999999999"),
            {},
        ),
        (
            "secretsmanager:PutSecretValue",
            f"arn:aws:secretsmanager:{east}:{account}:secret:other-app/key-AbCdEf",
            {},
        ),
        (
            "logs:PutRetentionPolicy",
            f"arn:aws:logs:{east}:{account}:log-group:/aws/lambda/billing",
            {},
        ),
        (
            "cloudtrail:StartLogging",
            f"arn:aws:cloudtrail:{east}:{account}:trail/other",
            {},
        ),
        (
            "s3:PutObject",
            f"arn:aws:s3:::{estate.backup_bucket}/daily/backup-20240101.tar.gz",
            s3_account,
        ),
        ("s3:GetObject", "arn:aws:s3:::customer-uploads/secret.txt", s3_account),
        (
            "s3:ListBucket",
            f"arn:aws:s3:::{estate.backup_bucket}",
            {"s3:ResourceAccount": "999999999999"},
        ),
        (
            "route53:ChangeResourceRecordSets",
            f"arn:aws:route53:::hostedzone/{estate.hosted_zone_id}",
            {"route53:ChangeResourceRecordSetsActions": ["DELETE"]},
        ),
        ("rds:DescribeDBInstances", "*", {"aws:RequestedRegion": "eu-west-1"}),
        ("iam:CreateUser", f"arn:aws:iam::{account}:user/intruder", {}),
    ]
    assert [call for call in refused if allows(document, *call)] == []
