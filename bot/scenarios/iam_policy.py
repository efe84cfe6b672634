"""The least-privilege IAM policy for the bot, scoped to the resources the scenarios name.

Owns the computation from scenario data and the action catalogue: every AWS call a step makes (its
call, preview, guards, waiter and verify read, the calls of the curated actions it names, and
`sts:AssumeRole`/`sts:TagSession` for a step that names a role), the IAM actions each call needs,
and the resource ARNs each is allowed on, in the account, partition and regions given. A resource
named literally in the YAML is granted by name; one that comes from an input is granted up to the
literal prefix of the input's declared `pattern` (`bodyscript/production/*`), else by a wildcard
name in that account and region. Reads of regional services that are not scoped here stay on `"*"`
in one statement limited by `aws:RequestedRegion`; a mutating action may be on `"*"` only if it is
in `STAR_ONLY`. `warroom iam-policy` prints the result. It must not talk to AWS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.errors import ScenarioError, UsageError
from bot.scenarios.actions import CATALOGUE
from bot.scenarios.inputs import BUILTIN_PATTERNS, Input, InputType
from bot.scenarios.operations import is_read_only, operations, waiters
from bot.scenarios.schema import ActionStep, AwsStep, Scenario
from bot.scenarios.templating import TEMPLATE

PARTITIONS = ("aws", "aws-cn", "aws-us-gov")
# The size limit of a customer-managed policy, in characters without whitespace.
MANAGED_POLICY_LIMIT = 6144
_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(BUILTIN_PATTERNS[InputType.REGION][0])
_IAM_PREFIX = {"elbv2": "elasticloadbalancing", "elb": "elasticloadbalancing"}
# Services whose ARNs carry no region (IAM and STS roles: the account only; S3 and Route 53: neither),
# so their requests are not limited by region either.
GLOBAL_SERVICES = frozenset({"iam", "sts", "s3", "route53"})
# A template stands for any value: the curated actions' calls use it where the name is only known
# at run time (the newest snapshot, each copied key).
_ANY = "{{ any }}"

# Actions AWS authorises only on "*" (no resource-level permissions; the Service Authorization
# Reference lists no resource type for them). Only these may be granted on "*" when they change
# something; today every one is a read. Other reads of regional services without a rule in
# `_RULES` are on "*" too, in the statement `_star_statement` makes, limited by aws:RequestedRegion.
STAR_ONLY: dict[str, str] = {
    "cloudwatch:GetMetricStatistics": "metrics have no ARN",
    "ec2:DescribeNetworkAcls": "EC2 Describe* calls take no resource",
    "ecs:DescribeTaskDefinition": "ECS authorises it only on *",
    "ecs:ListTaskDefinitions": "ECS authorises it only on *",
    "elasticloadbalancing:DescribeTargetHealth": "ELB Describe* calls take no resource",
}


def check_account(text: str) -> str:
    """Return an AWS account id, or raise UsageError saying what one looks like."""
    if not _ACCOUNT.fullmatch(text):
        raise UsageError(
            f"--account {text!r} is not an AWS account id: 12 digits, e.g. 123456789012."
        )
    return text


def check_region(text: str) -> str:
    """Return an AWS region name, or raise UsageError saying what one looks like."""
    if not _REGION.fullmatch(text):
        raise UsageError(
            f"--region {text!r} is not an AWS region name, e.g. us-east-1 or eu-west-2."
        )
    return text


def _partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws-us-gov" if region.startswith("us-gov-") else "aws"


def partition_for(regions: Iterable[str], partition: str | None = None) -> str:
    """The partition of these regions (aws-cn for cn-*, aws-us-gov for us-gov-*, else aws);
    a `partition` given must match every region, or UsageError names the ones that do not."""
    regions = tuple(regions)
    if partition is not None and partition not in PARTITIONS:
        raise UsageError(
            f"--partition {partition!r}: use one of {', '.join(PARTITIONS)}."
        )
    found = sorted({_partition_of(region) for region in regions})
    if partition is None and len(found) > 1:
        raise UsageError(
            f"--region: regions of different partitions ({', '.join(found)}) cannot share"
            " one policy: print one per partition."
        )
    wanted = partition or (found[0] if found else "aws")
    mismatched = [r for r in regions if _partition_of(r) != wanted]
    if mismatched:
        raise UsageError(
            f"--partition {wanted}: {', '.join(mismatched)} is not a region of that partition."
        )
    return wanted


# -- the calls the scenarios make --------------------------------------------------------------


@dataclass(frozen=True)
class Use:
    """One IAM action a step needs, with the call's parameters and region (possibly templates)."""

    action: str
    api: str
    params: Mapping[str, Any]
    region: str
    scenario: Scenario = field(repr=False, compare=False)
    step: str

    @property
    def service(self) -> str:
        return self.action.split(":", 1)[0]

    @property
    def where(self) -> str:
        return f"{self.scenario.id}/{self.step}"


def _api(service: str, operation: str) -> str:
    """`service:ApiName` with the IAM service prefix, from a boto3 or API operation name."""
    return f"{_IAM_PREFIX.get(service, service)}:{operations(service).get(operation, operation)}"


def curated_calls(
    action: str, params: Mapping[str, Any]
) -> list[tuple[str, str, dict[str, Any]]]:
    """The (service, API operation, parameters) a curated action's executor sends, with the
    parameters that name resources (`bot/services/runbooks/action_runs.py` is the executor)."""
    p = params
    if action == "ecs_rollback":
        service = {"cluster": p.get("cluster"), "service": p.get("service")}
        return [
            ("ecs", "DescribeServices", {}),
            ("ecs", "ListTaskDefinitions", {}),
            ("ecs", "DescribeTaskDefinition", {}),
            ("ecs", "UpdateService", service),
        ]
    if action == "rds_restore_newest_snapshot":
        target = {"DBInstanceIdentifier": p.get("target_db_instance")}
        # The newest snapshot's name is found at run time: any snapshot in the account and region.
        restore = {**target, "DBSnapshotIdentifier": _ANY}
        return [
            ("rds", "DescribeDBSnapshots", {}),
            ("rds", "RestoreDBInstanceFromDBSnapshot", restore),
            ("rds", "DescribeDBInstances", target),
        ]
    if action == "s3_copy_backup_prefix":
        source = {
            "Bucket": p.get("source_bucket"),
            "Key": f"{p.get('source_prefix', '')}{_ANY}",
        }
        target = {
            "Bucket": p.get("destination_bucket"),
            "Key": f"{p.get('destination_prefix', '')}{_ANY}",
        }
        return [
            ("s3", "ListObjectsV2", {"Bucket": source["Bucket"]}),
            ("s3", "ListObjectsV2", {"Bucket": target["Bucket"]}),
            ("s3", "CopyObject", {**target, "CopySource": source}),
            ("s3", "HeadObject", target),
        ]
    if action == "iam_rotate_access_key":
        user, secret = {"UserName": p.get("user_name")}, p.get("secret_name")
        return [
            ("iam", "ListAccessKeys", user),
            ("iam", "CreateAccessKey", user),
            ("secretsmanager", "DescribeSecret", {"SecretId": secret}),
            ("secretsmanager", "CreateSecret", {"Name": secret}),
            ("secretsmanager", "PutSecretValue", {"SecretId": secret}),
        ]
    raise ScenarioError(
        f"curated action {action!r}: the IAM policy does not know which resources it touches;"
        " add it to bot/scenarios/iam_policy.py `curated_calls`."
    )


def _step_calls(step: AwsStep) -> list[tuple[str, Mapping[str, Any]]]:
    calls: list[tuple[str, Mapping[str, Any]]] = [
        (_api(step.service, step.operation), step.params)
    ]
    for call in (step.preview, step.verify, *step.guards):
        if call is not None:
            calls.append(
                (_api(call.service or step.service, call.operation), call.params)
            )
    if step.wait is not None:
        api = waiters(step.service).get(step.wait.waiter, step.wait.waiter)
        calls.append((_api(step.service, api), step.wait.params))
    if step.assume_role:
        role = {"RoleArn": step.assume_role}
        calls += [("sts:AssumeRole", role), ("sts:TagSession", role)]
    return calls


def uses(scenarios: Iterable[Scenario]) -> list[Use]:
    """Every IAM action each step of the scenarios needs, with what the call names."""
    found: list[Use] = []
    for scenario in scenarios:
        for _, step in scenario.steps():
            if isinstance(step, AwsStep):
                calls, region = _step_calls(step), step.region
            elif isinstance(step, ActionStep) and step.action in CATALOGUE:
                region = str(step.params.get("region", "{{ inputs.region }}"))
                calls = [
                    (_api(service, api), params)
                    for service, api, params in curated_calls(step.action, step.params)
                ]
            else:
                continue
            for api, params in calls:
                for action, _ in _RULES.get(api, ((api, None),)):
                    found.append(Use(action, api, params, region, scenario, step.id))
    return found


def required_actions(scenarios: Iterable[Scenario]) -> list[str]:
    """Every IAM action the scenarios' steps (and the curated actions they name) need, sorted."""
    return sorted({use.action for use in uses(scenarios)})


# -- resources ---------------------------------------------------------------------------------


def literal_prefix(pattern: str) -> tuple[str, bool]:
    """The literal text every full match of a regex starts with (inputs are checked with
    `re.fullmatch`), and whether that text is the whole match. Conservative: it stops at the first
    character class, group, quantifier or class escape (`\\d`), and gives up ("") on an
    alternation."""
    if "|" in pattern:
        return "", False
    out: list[str] = []
    i = 1 if pattern.startswith("^") else 0
    while i < len(pattern):
        char = pattern[i]
        if char == "$" and i == len(pattern) - 1:
            break
        if char == "\\" and i + 1 < len(pattern) and not pattern[i + 1].isalnum():
            literal, width = pattern[i + 1], 2
        elif char in ".^$*+?{}[]()\\":
            return "".join(out), False
        else:
            literal, width = char, 1
        if pattern[i + width : i + width + 1] in ("*", "+", "?", "{"):
            return "".join(out), False
        out.append(literal)
        i += width
    return "".join(out), True


@dataclass(frozen=True)
class _Scope:
    """Turns what a call names into ARN patterns in the policy's partition, account and regions."""

    partition: str
    account: str
    regions: tuple[str, ...]
    inputs: Mapping[str, Input]

    def name(self, value: Any) -> str:
        """A literal name as it is; each template as the literal prefix of the input's declared
        pattern followed by `*`, or `*` alone."""
        if value is None:
            return "*"

        def wildcard(match: re.Match[str]) -> str:
            variable = match.group(1).strip()
            spec = self.inputs.get(variable.removeprefix("inputs."))
            if variable.startswith("inputs.") and spec and spec.pattern:
                prefix, exact = literal_prefix(spec.pattern)
                return prefix if exact else prefix + "*"
            return "*"

        return re.sub(r"\*+", "*", TEMPLATE.sub(wildcard, str(value)))

    def regional(self, service: str, resource: str) -> list[str]:
        return [
            f"arn:{self.partition}:{service}:{region}:{self.account}:{resource}"
            for region in self.regions
        ]

    def in_account(self, service: str, resource: str) -> list[str]:
        return [f"arn:{self.partition}:{service}::{self.account}:{resource}"]

    def unowned(self, service: str, resource: str) -> list[str]:
        return [f"arn:{self.partition}:{service}:::{resource}"]


def _after(value: str, marker: str) -> str:
    """The name in a value that may be an ARN or path (`.../cluster/NAME`, `/hostedzone/ID`)."""
    return value.rsplit(marker, 1)[-1] if marker in value else value


Params = Mapping[str, Any]
Resources = Callable[[_Scope, Params], list[str]]

# The option and parameter groups and the subnet group a restored instance is created with are
# authorised too; the steps name none, so RDS uses the defaults, whose names vary by engine: any
# group in the account and region.
_RDS_GROUPS = ("og:*", "pg:*", "subgrp:*")


def _rds_restore_snapshot(s: _Scope, p: Params) -> list[str]:
    snapshot = _after(s.name(p.get("DBSnapshotIdentifier")), ":snapshot:")
    return [
        *s.regional("rds", f"db:{s.name(p.get('DBInstanceIdentifier'))}"),
        *s.regional("rds", f"snapshot:{snapshot}"),
        *(arn for group in _RDS_GROUPS for arn in s.regional("rds", group)),
    ]


def _rds_restore_point_in_time(s: _Scope, p: Params) -> list[str]:
    return [
        *s.regional("rds", f"db:{s.name(p.get('SourceDBInstanceIdentifier'))}"),
        *s.regional("rds", f"db:{s.name(p.get('TargetDBInstanceIdentifier'))}"),
        *(arn for group in _RDS_GROUPS for arn in s.regional("rds", group)),
    ]


def _ecs_service(s: _Scope, p: Params) -> list[str]:
    cluster = _after(s.name(p.get("cluster")), "cluster/")
    service = _after(s.name(p.get("service")), "/")
    return s.regional("ecs", f"service/{cluster}/{service}")


def _trail(s: _Scope, p: Params) -> list[str]:
    return s.regional("cloudtrail", f"trail/{_after(s.name(p.get('Name')), 'trail/')}")


def _network_acl(s: _Scope, p: Params) -> list[str]:
    return s.regional("ec2", f"network-acl/{s.name(p.get('NetworkAclId'))}")


def _log_group(s: _Scope, p: Params) -> list[str]:
    name = s.name(p.get("logGroupName"))
    # The log group's ARN as DescribeLogGroups reports it ends with ":*"; both forms are granted.
    return [
        *s.regional("logs", f"log-group:{name}"),
        *s.regional("logs", f"log-group:{name}:*"),
    ]


def _secret(key: str) -> Resources:
    def resources(s: _Scope, p: Params) -> list[str]:
        name = _after(s.name(p.get(key)), ":secret:")
        # A secret's ARN ends with "-" and six random characters.
        return s.regional(
            "secretsmanager",
            f"secret:{name}" if name.endswith("*") else f"secret:{name}-??????",
        )

    return resources


def _s3_object(bucket: str, key: str) -> Resources:
    def resources(s: _Scope, p: Params) -> list[str]:
        source = p.get(bucket)
        where = source if isinstance(source, Mapping) else p
        return s.unowned(
            "s3", f"{s.name(where.get('Bucket'))}/{s.name(where.get(key))}"
        )

    return resources


def _s3_bucket(s: _Scope, p: Params) -> list[str]:
    return s.unowned("s3", s.name(p.get("Bucket")))


def _user(s: _Scope, p: Params) -> list[str]:
    return s.in_account("iam", f"user/{s.name(p.get('UserName'))}")


def _role(s: _Scope, p: Params) -> list[str]:
    role = s.name(p.get("RoleArn"))
    return (
        [role]
        if role.startswith("arn:")
        else s.in_account("iam", f"role/{_after(role, 'role/')}")
    )


def _hosted_zone(s: _Scope, p: Params) -> list[str]:
    return s.unowned(
        "route53", f"hostedzone/{_after(s.name(p.get('HostedZoneId')), '/')}"
    )


def _change(s: _Scope, p: Params) -> list[str]:
    return s.unowned("route53", f"change/{_after(s.name(p.get('Id')), '/')}")


# API operation -> the IAM actions it needs, each with the resources it is authorised on (None: a
# read on "*", or a mutating action that must be in STAR_ONLY). An operation not listed needs the
# action of its own name, with no resource rule.
_RULES: dict[str, tuple[tuple[str, Resources | None], ...]] = {
    "cloudtrail:StartLogging": (("cloudtrail:StartLogging", _trail),),
    "ec2:CreateNetworkAclEntry": (("ec2:CreateNetworkAclEntry", _network_acl),),
    "ecs:UpdateService": (("ecs:UpdateService", _ecs_service),),
    "iam:CreateAccessKey": (("iam:CreateAccessKey", _user),),
    "iam:DeleteAccessKey": (("iam:DeleteAccessKey", _user),),
    "iam:ListAccessKeys": (("iam:ListAccessKeys", _user),),
    "logs:PutRetentionPolicy": (("logs:PutRetentionPolicy", _log_group),),
    "rds:RestoreDBInstanceFromDBSnapshot": (
        ("rds:RestoreDBInstanceFromDBSnapshot", _rds_restore_snapshot),
    ),
    "rds:RestoreDBInstanceToPointInTime": (
        ("rds:RestoreDBInstanceToPointInTime", _rds_restore_point_in_time),
    ),
    "route53:ChangeResourceRecordSets": (
        ("route53:ChangeResourceRecordSets", _hosted_zone),
    ),
    "route53:ListResourceRecordSets": (
        ("route53:ListResourceRecordSets", _hosted_zone),
    ),
    "route53:GetChange": (("route53:GetChange", _change),),
    # S3 authorises by what is read or written, not by API operation.
    "s3:ListObjectsV2": (("s3:ListBucket", _s3_bucket),),
    "s3:ListObjects": (("s3:ListBucket", _s3_bucket),),
    "s3:HeadBucket": (("s3:ListBucket", _s3_bucket),),
    "s3:HeadObject": (("s3:GetObject", _s3_object("Bucket", "Key")),),
    "s3:GetObject": (("s3:GetObject", _s3_object("Bucket", "Key")),),
    "s3:PutObject": (("s3:PutObject", _s3_object("Bucket", "Key")),),
    "s3:CopyObject": (
        ("s3:GetObject", _s3_object("CopySource", "Key")),
        ("s3:PutObject", _s3_object("Bucket", "Key")),
    ),
    "secretsmanager:CreateSecret": (("secretsmanager:CreateSecret", _secret("Name")),),
    "secretsmanager:PutSecretValue": (
        ("secretsmanager:PutSecretValue", _secret("SecretId")),
    ),
    "secretsmanager:DescribeSecret": (
        ("secretsmanager:DescribeSecret", _secret("SecretId")),
    ),
    "sts:AssumeRole": (("sts:AssumeRole", _role),),
    "sts:TagSession": (("sts:TagSession", _role),),
}


def _change_action(change: Mapping[str, Any]) -> Any:
    return change.get("Action")


def _change_type(change: Mapping[str, Any]) -> Any:
    return (change.get("ResourceRecordSet") or {}).get("Type")


def _route53_condition(p: Params) -> dict[str, Any] | None:
    """Limit a DNS change to the change actions and record types its batch names literally."""
    changes = (p.get("ChangeBatch") or {}).get("Changes") or []
    if not isinstance(changes, list) or not all(
        isinstance(c, Mapping) for c in changes
    ):
        return None
    values: dict[str, list[str]] = {}
    for key, read in (
        ("route53:ChangeResourceRecordSetsActions", _change_action),
        ("route53:ChangeResourceRecordSetsRecordTypes", _change_type),
    ):
        found = [read(change) for change in changes]
        if found and all(isinstance(v, str) and not TEMPLATE.search(v) for v in found):
            values[key] = sorted(set(found))
    return {"ForAllValues:StringEquals": values} if values else None


def _condition(use: Use, account: str) -> dict[str, Any] | None:
    if use.service == "s3":
        # S3 ARNs name no account: the bucket must be the bot's account's.
        return {"StringEquals": {"s3:ResourceAccount": account}}
    if use.action == "route53:ChangeResourceRecordSets":
        return _route53_condition(use.params)
    return None


def _regions_of(use: Use, regions: tuple[str, ...]) -> tuple[str, ...]:
    if not TEMPLATE.search(use.region):
        return (use.region,) if use.region in regions else ()
    return regions


def uncovered(scenarios: Iterable[Scenario], regions: Iterable[str]) -> list[str]:
    """The steps whose region is written in the scenario and is not one of `regions`: the policy
    does not allow their calls there."""
    wanted = tuple(regions)
    return sorted(
        {
            f"{use.where} calls {use.action} in {use.region}, which is not a --region:"
            " the policy does not allow it there"
            for use in uses(scenarios)
            if use.service not in GLOBAL_SERVICES and not _regions_of(use, wanted)
        }
    )


def _sid(service: str, actions: list[str]) -> str:
    """`Warroom` + the service + the action when there is one (e.g. WarroomIamCreateAccessKey),
    else + Read or Write."""
    name = "".join(p.title() for p in service.replace("-", " ").split())
    if len(actions) == 1:
        return f"Warroom{name}{actions[0].split(':', 1)[1]}"
    reads = all(is_read_only(service, a.split(":", 1)[1]) for a in actions)
    return f"Warroom{name}{'Read' if reads else 'Write'}"


def wildcard_match(pattern: str, value: str) -> bool:
    """Whether an IAM pattern (`*` any run of characters, `?` one character) matches a value."""
    regex = "".join(
        ".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern
    )
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _minimal(resources: Iterable[str]) -> list[str]:
    """The resources without those another one's wildcard already covers."""
    found = set(resources)
    return sorted(
        r for r in found if not any(o != r and wildcard_match(o, r) for o in found)
    )


def policy(
    scenarios: Iterable[Scenario],
    *,
    account: str,
    regions: Iterable[str],
    partition: str | None = None,
) -> dict[str, Any]:
    """An IAM policy document allowing exactly what the scenarios' steps call, on the resources
    they name in `account` and `regions` (the partition defaults to the regions'). A bad account,
    region or partition raises UsageError; a mutating call it cannot scope, ScenarioError."""
    account, wanted = check_account(account), tuple(dict.fromkeys(regions))
    if not wanted:
        raise UsageError("--region: name at least one region the scenarios act in.")
    for region in wanted:
        check_region(region)
    partition = partition_for(wanted, partition)
    on_star: dict[bool, set[str]] = {True: set(), False: set()}  # by is_read_only
    scoped: dict[tuple[str, str], set[str]] = {}  # (action, condition key) -> resources
    conditions: dict[str, dict[str, Any] | None] = {"": None}
    for use in uses(scenarios):
        rule = dict(_RULES.get(use.api, ())).get(use.action)
        read_only = is_read_only(use.service, use.action.split(":", 1)[1])
        if rule is None:
            if not read_only and use.action not in STAR_ONLY:
                raise ScenarioError(
                    f"{use.where}: {use.action} changes something and the IAM policy has no"
                    " resource rule for it: add one to bot/scenarios/iam_policy.py `_RULES`"
                    ' (or to STAR_ONLY if AWS authorises it only on "*").'
                )
            if use.service in GLOBAL_SERVICES or _regions_of(use, wanted):
                on_star[read_only].add(use.action)
            continue
        inputs = {item.name: item for item in use.scenario.inputs}
        scope = _Scope(partition, account, _regions_of(use, wanted), inputs)
        found = rule(scope, use.params)
        if found:
            condition = _condition(use, account)
            key = json.dumps(condition, sort_keys=True) if condition else ""
            conditions[key] = condition
            scoped.setdefault((use.action, key), set()).update(found)
    grouped: dict[tuple[str, tuple[str, ...], str], list[str]] = {}
    for (action, key), resources in scoped.items():
        service = action.split(":", 1)[0]
        grouped.setdefault((service, tuple(_minimal(resources)), key), []).append(
            action
        )
    statements = [
        _star_statement(sorted(on_star[True]), "WarroomReadOnlyAnyResource", wanted),
        _star_statement(sorted(on_star[False]), "WarroomUnscopedWrites", wanted),
    ]
    sids: dict[str, int] = {}
    for (service, arns, key), actions in sorted(grouped.items()):
        sid = _sid(service, sorted(actions))
        sids[sid] = sids.get(sid, 0) + 1
        statement: dict[str, Any] = {
            "Sid": sid + (str(sids[sid]) if sids[sid] > 1 else ""),
            "Effect": "Allow",
            "Action": sorted(actions),
            "Resource": list(arns),
        }
        if conditions[key]:
            statement["Condition"] = conditions[key]
        statements.append(statement)
    return {"Version": "2012-10-17", "Statement": [s for s in statements if s]}


def _star_statement(
    actions: list[str], sid: str, regions: tuple[str, ...]
) -> dict[str, Any]:
    if not actions:
        return {}
    regional = [a for a in actions if a.split(":", 1)[0] not in GLOBAL_SERVICES]
    if len(regional) != len(actions):
        # A global service's request is made in us-east-1 whatever the step's region.
        raise ScenarioError(
            f"{', '.join(sorted(set(actions) - set(regional)))}: a read of a global service with"
            " no resource rule; add one to bot/scenarios/iam_policy.py `_RULES`."
        )
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": actions,
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:RequestedRegion": list(regions)}},
    }


def size(document: Mapping[str, Any]) -> int:
    """The policy's size as IAM counts it against MANAGED_POLICY_LIMIT (whitespace excluded)."""
    return len(re.sub(r"\s+", "", json.dumps(document)))
