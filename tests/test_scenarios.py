"""Scenario files: every shipped one loads and lints clean and encodes the plan; every lint rule fires.

Also the template grammar (no logic, no code), JMESPath captures, input validation and the curated
action declarations. Fast: botocore models are loaded once per service and cached.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.errors import ScenarioError, UsageError
from bot.scenarios.actions import CATALOGUE
from bot.scenarios.checks import Problem
from bot.scenarios.lint import is_read_only, lint_files, main
from bot.scenarios.schema import (
    ActionStep,
    AwsStep,
    Input,
    InputType,
    Kind,
    ManualStep,
    NotifyStep,
    json_schema,
    load_all,
    load_scenario,
    shipped_directory,
    validate_input,
)
from bot.scenarios.templating import build_context, capture, render, variables

SHIPPED = sorted(shipped_directory().glob("*.yaml"))
INCIDENTS = {
    "complete-site-outage": "SEV1",
    "database-failure": "SEV1",
    "regional-aws-failure": "SEV1",
    "data-corruption": "SEV2",
    "security-incident": "SEV1",
}
BROKEN = Path(__file__).parent / "fixtures" / "broken_scenarios"

# Every AWS CLI command of the plan -> (scenario, service, operation or curated action) that encodes it.
# `aws configure set region us-west-2` is absent on purpose: it edits the local CLI profile and is no
# AWS call; regional-aws-failure's `region` input (default us-west-2) replaces it.
PLAN_AWS_COMMANDS: dict[str, tuple[str, str, str]] = {
    "aws cloudwatch get-metric-statistics --namespace AWS/ECS --metric-name RunningTaskCount": (
        "complete-site-outage",
        "cloudwatch",
        "get_metric_statistics",
    ),
    "aws elbv2 describe-target-health --target-group-arn ...": (
        "complete-site-outage",
        "elbv2",
        "describe_target_health",
    ),
    "aws rds describe-db-instances --db-instance-identifier bodyscript-production": (
        "database-failure",
        "rds",
        "describe_db_instances",
    ),
    "aws rds describe-db-snapshots --db-instance-identifier bodyscript-production": (
        "database-failure",
        "rds",
        "describe_db_snapshots",
    ),
    "aws rds restore-db-instance-from-db-snapshot ...": (
        "database-failure",
        "rds",
        "restore_db_instance_from_db_snapshot",
    ),
    "aws s3 sync s3://bodyscript-backup-us-west-2/latest/ s3://bodyscript-production-us-west-2/": (
        "regional-aws-failure",
        "action",
        "s3_copy_backup_prefix",
    ),
    "aws route53 change-resource-record-sets --hosted-zone-id Z123456 ...": (
        "regional-aws-failure",
        "route53",
        "change_resource_record_sets",
    ),
    "aws ecs update-service --cluster bodyscript-production --service bodyscript-api --desired-count 0": (
        "data-corruption",
        "ecs",
        "update_service",
    ),
    "aws rds restore-db-instance-to-point-in-time ...": (
        "data-corruption",
        "rds",
        "restore_db_instance_to_point_in_time",
    ),
    # The plan's authorize-security-group-ingress opens access; a network ACL deny rule blocks it.
    "aws ec2 authorize-security-group-ingress --group-id sg-12345678 ...": (
        "security-incident",
        "ec2",
        "create_network_acl_entry",
    ),
    "aws iam create-access-key --user-name bodyscript-api": (
        "security-incident",
        "action",
        "iam_rotate_access_key",
    ),
    "aws iam delete-access-key --user-name bodyscript-api --access-key-id OLDKEY": (
        "security-incident",
        "iam",
        "delete_access_key",
    ),
    "aws logs put-retention-policy --log-group-name /aws/ecs/bodyscript-production --retention-in-days 30": (
        "security-incident",
        "logs",
        "put_retention_policy",
    ),
    "aws cloudtrail start-logging --name bodyscript-security-trail": (
        "security-incident",
        "cloudtrail",
        "start_logging",
    ),
    "aws s3 ls s3://bodyscript-backups/daily/ --recursive | tail -1": (
        "daily-backup-checks",
        "s3",
        "list_objects_v2",
    ),
    "aws s3api head-object --bucket bodyscript-backups --key daily/backup-$(date +%Y%m%d).tar.gz": (
        "daily-backup-checks",
        "s3",
        "head_object",
    ),
    "aws s3 ls s3://bodyscript-backups-us-west-2/daily/ --recursive | tail -1": (
        "daily-backup-checks",
        "s3",
        "list_objects_v2",
    ),
}

# Every non-AWS command of the plan, kept verbatim as a manual step's command.
PLAN_MANUAL_COMMANDS: dict[str, str] = {
    "./deploy/rollback.sh --list production": "complete-site-outage",
    "./deploy/rollback.sh production --force": "complete-site-outage",
    "kubectl set env deployment/bodyscript-api DATABASE_READ_ONLY=true": "data-corruption",
    'sudo -u postgres psql -d bodyscript -c "REINDEX DATABASE bodyscript;"': "data-corruption",
    "sudo -u postgres psql -d bodyscript -c \"SELECT * FROM audit_log WHERE created_at > NOW() - INTERVAL '24 hours';\"": "data-corruption",
    "./deploy/rollback.sh staging --version $(date -d '7 days ago' +%Y%m%d)": "daily-backup-checks",
    "python scripts/verify-backup-integrity.py --environment staging": "daily-backup-checks",
    "./scripts/test-dr-failover.sh --dry-run": "daily-backup-checks",
}


@pytest.fixture(scope="module")
def scenarios() -> dict[str, Any]:
    return load_all()


def test_load_all__finds_every_scenario_of_the_plan(scenarios: dict[str, Any]) -> None:
    assert set(INCIDENTS) <= set(scenarios)
    assert {"recovery-verification", "post-incident", "daily-backup-checks"} <= set(
        scenarios
    )


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenario__loads_and_lints_clean(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.id == path.stem
    assert lint_files([path]) == []
    ids = [step.id for _, step in scenario.steps()]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(("scenario_id", "severity"), INCIDENTS.items())
def test_incident_scenario__has_plan_shape(
    scenarios: dict[str, Any], scenario_id: str, severity: str
) -> None:
    scenario = scenarios[scenario_id]
    assert scenario.kind is Kind.INCIDENT
    assert scenario.default_severity == severity
    assert scenario.symptoms
    assert scenario.components
    assert scenario.include[0] == "recovery-verification"
    templates = [s.template for _, s in scenario.steps() if isinstance(s, NotifyStep)]
    assert templates[0] == "initial"
    assert templates[-1] == "resolution"
    phase_ids = [p.id for p in scenario.phases]
    assert phase_ids[-5:-1] == [
        "verify-functional",
        "verify-performance",
        "verify-security",
        "verify-data-integrity",
    ]
    assert scenario.private is (scenario_id == "security-incident")


@pytest.mark.parametrize(
    ("command", "expected"), PLAN_AWS_COMMANDS.items(), ids=list(PLAN_AWS_COMMANDS)
)
def test_plan_aws_command__is_encoded(
    scenarios: dict[str, Any], command: str, expected: tuple[str, str, str]
) -> None:
    scenario_id, service, operation = expected
    found = {
        ("action", s.action) if isinstance(s, ActionStep) else (s.service, s.operation)
        for _, s in scenarios[scenario_id].steps()
        if isinstance(s, AwsStep | ActionStep)
    }
    assert (service, operation) in found


@pytest.mark.parametrize(("command", "scenario_id"), PLAN_MANUAL_COMMANDS.items())
def test_plan_shell_command__is_a_manual_step(
    scenarios: dict[str, Any], command: str, scenario_id: str
) -> None:
    commands = [
        s.command
        for _, s in scenarios[scenario_id].steps()
        if isinstance(s, ManualStep)
    ]
    assert command in commands


def test_plan_resource_names__are_used(scenarios: dict[str, Any]) -> None:
    text = json.dumps([s.model_dump(mode="json") for s in scenarios.values()])
    for name in (
        "bodyscript-production",
        "bodyscript-api",
        "bodyscript-backups",
        "bodyscript-backups-us-west-2",
        "bodyscript-backup-us-west-2",
        "bodyscript-production-us-west-2",
        "bodyscript-security-trail",
        "/aws/ecs/bodyscript-production",
    ):
        assert name in text


def test_destructive_steps__are_the_ones_the_plan_needs(
    scenarios: dict[str, Any],
) -> None:
    destructive = {
        (sid, step.id)
        for sid, scenario in scenarios.items()
        for _, step in scenario.steps()
        if isinstance(step, AwsStep | ActionStep) and step.destructive
    }
    assert {
        ("database-failure", "restore-from-snapshot"),
        ("regional-aws-failure", "update-route53"),
        ("regional-aws-failure", "restore-dr-database"),
        ("data-corruption", "stop-write-operations"),
        ("data-corruption", "restore-point-in-time"),
        ("security-incident", "delete-old-access-key"),
    } <= destructive


def test_schema_json__is_up_to_date() -> None:
    committed = json.loads(
        (shipped_directory() / "schema.json").read_text(encoding="utf-8")
    )
    assert committed == json_schema(), (
        "run `python -m bot.scenarios.schema` to regenerate scenarios/schema.json"
    )


# --- lint: one broken fixture per rule ------------------------------------------------------------

BROKEN_CASES: dict[str, tuple[int | None, str, str, str]] = {
    # fixture: (line, step, field, words in the message)
    "unknown-operation": (
        17,
        "check",
        "operation",
        "no operation 'describe_db_instancez'",
    ),
    "unknown-parameter": (
        19,
        "check",
        "params.DBInstanceIdentifer",
        "unknown parameter",
    ),
    "wrong-parameter-type": (19, "check", "params.MaxRecords", "expected integer"),
    "missing-required-param": (
        18,
        "restore",
        "params.DBInstanceIdentifier",
        "missing required parameter",
    ),
    "undeclared-template-variable": (18, "check", "params", "{{ inputs.instance }}"),
    "read-only-wrongly-claimed": (20, "start-trail", "read_only", "not read-only"),
    "missing-destructive-flag": (13, "delete-key", "destructive", "deletes"),
    "unknown-component": (6, "", "components.0", "unknown component 'api-gateway'"),
    "unknown-action": (
        16,
        "rollback",
        "action",
        "unknown curated action 'ecs_rollforward'",
    ),
    "wrong-action-params": (
        18,
        "rollback",
        "params.task_definition",
        "unknown parameter",
    ),
    "duplicate-step-id": (20, "check", "id", "duplicate step id"),
    "bad-yaml-syntax": (5, "", "", "YAML syntax error"),
    "extra-field": (20, "check", "retries", "unknown field"),
    "unknown-waiter": (20, "check", "wait.waiter", "no waiter 'db_instance_ready'"),
    "mutating-verify": (20, "check", "verify.operation", "must be read-only"),
    "bad-default-from": (9, "", "inputs.1.default_from", "names no step capture"),
}


def test_broken_fixtures__each_has_a_case() -> None:
    assert {p.stem for p in BROKEN.glob("*.yaml")} == set(BROKEN_CASES)


@pytest.mark.parametrize(
    ("fixture", "expected"), BROKEN_CASES.items(), ids=list(BROKEN_CASES)
)
def test_lint__reports_file_step_and_field(
    fixture: str, expected: tuple[int | None, str, str, str]
) -> None:
    line, step, field, words = expected
    path = BROKEN / f"{fixture}.yaml"
    [problem] = lint_files([path])
    assert (problem.file, problem.line, problem.step, problem.field) == (
        str(path),
        line,
        step,
        field,
    )
    assert words in problem.message
    assert str(problem).startswith(f"{path}:{line}: {step or '-'}: {field or '-'}: ")


def test_lint__collects_problems_from_every_file() -> None:
    problems = lint_files(sorted(BROKEN.glob("*.yaml")))
    assert len({p.file for p in problems}) == len(BROKEN_CASES)


def test_load_scenario__schema_error_names_file_line_step_and_field() -> None:
    path = BROKEN / "extra-field.yaml"
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert (
        caught.value.message
        == f"{path}:20: check: retries: unknown field (not in the schema)"
    )


def _write_variant(tmp_path: Path, source: str, old: str, new: str) -> Path:
    path = tmp_path / source
    text = (shipped_directory() / source).read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("old", "new", "step", "field", "words"),
    [
        (
            "kind: manual",
            "kind: manaul",
            "list-releases",
            "kind",
            "does not match any of the expected tags",
        ),
        (
            "id: complete-site-outage",
            "id: site-outage",
            "",
            "id",
            "must equal the file name",
        ),
        (
            "        operation: describe_target_health\n",
            "",
            "target-health",
            "operation",
            "Field required",
        ),
        (
            "read_only: true\n        # The plan",
            "region: us-east1\n        # The plan",
            "running-task-count",
            "region",
            "is not an AWS region name",
        ),
        (
            "&Timestamp",
            "&Timestamp)",
            "running-task-count",
            "captures.latest_average",
            "invalid JMESPath",
        ),
    ],
)
def test_lint__variants_of_a_shipped_file(
    tmp_path: Path, old: str, new: str, step: str, field: str, words: str
) -> None:
    path = _write_variant(tmp_path, "complete-site-outage.yaml", old, new)
    problems = lint_files([path])
    assert problems
    assert (problems[0].step, problems[0].field) == (step, field)
    assert words in problems[0].message


def test_main__prints_problems_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(BROKEN / "unknown-operation.yaml"), str(SHIPPED[0])]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(
        f"{BROKEN / 'unknown-operation.yaml'}:17: check: operation: "
    )
    assert out[-1] == "1 problem(s) in 1 of 2 scenario file(s)"


def test_main__clean_files_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert capsys.readouterr().out.strip() == f"{len(SHIPPED)} scenario file(s) OK"


def test_lint__unknown_component_list_is_a_parameter() -> None:
    problems = lint_files(
        [shipped_directory() / "database-failure.yaml"], components={"api"}
    )
    assert [p.field for p in problems] == ["components.0"]


def test_problem__str() -> None:
    assert str(Problem("a.yaml", "s", "f", "m")) == "a.yaml: s: f: m"


# --- read-only classification ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "operation", "params", "expected"),
    [
        ("rds", "describe_db_instances", None, True),
        ("s3", "head_object", None, True),
        ("s3", "ListObjectsV2", None, True),
        ("cloudtrail", "lookup_events", None, True),
        ("cloudwatch", "get_metric_statistics", None, True),
        ("ecs", "update_service", None, False),
        ("s3", "get_object", None, False),
        ("secretsmanager", "get_secret_value", None, False),
        ("kms", "decrypt", None, False),
        ("ec2", "get_password_data", None, False),
        ("ecr", "get_authorization_token", None, False),
        ("sts", "get_session_token", None, False),
        ("sts", "get_caller_identity", None, True),
        ("ssm", "get_parameter", {"Name": "x", "WithDecryption": True}, False),
        ("ssm", "get_parameter", {"Name": "x"}, True),
        ("ssm", "get_parameters_by_path", None, False),
    ],
)
def test_is_read_only(
    service: str, operation: str, params: dict[str, Any] | None, expected: bool
) -> None:
    assert is_read_only(service, operation, params) is expected


# --- templating -----------------------------------------------------------------------------------


def _context() -> dict[str, Any]:
    return build_context(
        inputs={"count": 3, "region": "us-west-2", "name": "db"},
        steps={"check-snapshots": {"newest_snapshot": "snap-2"}},
        incident={"id": "INC-7", "slug": "inc-7-db"},
        now=datetime(2024, 9, 24, 10, 0, tzinfo=UTC),
    )


def test_render__single_template_keeps_type() -> None:
    assert render({"desiredCount": "{{ inputs.count }}"}, _context()) == {
        "desiredCount": 3
    }
    assert render("{{inputs.count}}", _context()) == 3


def test_render__embeds_values_in_text_and_walks_lists() -> None:
    rendered = render(
        [
            "{{ incident.id }}: {{ steps.check-snapshots.newest_snapshot }} x{{ inputs.count }}"
        ],
        _context(),
    )
    assert rendered == ["INC-7: snap-2 x3"]


def test_render__clock_variables() -> None:
    assert (
        render("daily/backup-{{ clock.today }}.tar.gz", _context())
        == "daily/backup-20240924.tar.gz"
    )
    assert render("{{ clock.minus_15m }}", _context()) == "2024-09-24T09:45:00Z"


@pytest.mark.parametrize(
    "template",
    ["{{ inputs.missing }}", "{{ steps.nope.x }}", "{{ incident.commander }}"],
)
def test_render__unknown_variable_is_an_error(template: str) -> None:
    with pytest.raises(UsageError, match="Unknown template variable"):
        render(template, _context())


@pytest.mark.parametrize(
    "template",
    [
        "{{ __import__('os') }}",
        "{{ inputs.name | upper }}",
        "{{ inputs.name.upper() }}",
        "{{ 1 + 1 }}",
        "{{ inputs }}",
    ],
)
def test_render__no_logic_and_no_code(template: str) -> None:
    with pytest.raises(UsageError, match="not a template variable"):
        render(template, _context())


def test_variables__lists_every_reference() -> None:
    value = {
        "a": ["{{ inputs.x }}", {"b": "p-{{steps.s.c}}-{{ clock.today }}"}],
        "n": 1,
    }
    assert variables(value) == {"inputs.x", "steps.s.c", "clock.today"}


def test_capture__newest_snapshot_by_creation_time() -> None:
    response = {
        "DBSnapshots": [
            {
                "DBSnapshotIdentifier": "new",
                "Status": "available",
                "SnapshotCreateTime": datetime(2024, 9, 24, tzinfo=UTC),
            },
            {
                "DBSnapshotIdentifier": "old",
                "Status": "available",
                "SnapshotCreateTime": datetime(2024, 9, 23, tzinfo=UTC),
            },
            {"DBSnapshotIdentifier": "wip", "Status": "creating"},
        ]
    }
    expression = "DBSnapshots[?Status=='available'] | sort_by(@, &SnapshotCreateTime) | [-1].DBSnapshotIdentifier"
    assert capture(expression, response) == "new"
    assert (
        capture("DBSnapshots[0].SnapshotCreateTime", response) == "2024-09-24T00:00:00Z"
    )


# --- inputs ---------------------------------------------------------------------------------------


def _input(kind: InputType, **extra: Any) -> Input:
    return Input(name="value", label="Value", type=kind, **extra)


@pytest.mark.parametrize(
    ("kind", "raw", "message"),
    [
        (InputType.CIDR, "10.0.0.1/24", "host bits set; did you mean 10.0.0.0/24?"),
        (InputType.CIDR, "300.0.0.0/8", "not a valid IPv4 or IPv6 CIDR block"),
        (InputType.CIDR, "10.0.0.0", "is not a CIDR block"),
        (InputType.SNAPSHOT_ID, "snap--1", "is not an RDS snapshot identifier"),
        (InputType.SNAPSHOT_ID, "1snapshot", "is not an RDS snapshot identifier"),
        (InputType.REGION, "us-west", "is not an AWS region name"),
        (
            InputType.ISO_DATETIME,
            "2024-09-24 10:00",
            "is not an ISO 8601 time with a time zone",
        ),
        (InputType.ISO_DATETIME, "2024-02-30T10:00:00Z", "is not a real date and time"),
        (InputType.ACCESS_KEY_ID, "OLDKEY", "is not an access key id"),
        (InputType.INTEGER, "ten", "is not a whole number"),
    ],
)
def test_validate_input__specific_messages(
    kind: InputType, raw: str, message: str
) -> None:
    with pytest.raises(UsageError, match="Value") as caught:
        validate_input(_input(kind), raw)
    assert message in caught.value.message
    assert caught.value.field == "value"


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        (InputType.CIDR, " 2001:db8::/32 ", "2001:db8::/32"),
        (InputType.ISO_DATETIME, "2024-09-24T12:00:00+02:00", "2024-09-24T10:00:00Z"),
        (InputType.INTEGER, "4", 4),
        (InputType.REGION, "us-gov-west-1", "us-gov-west-1"),
        (
            InputType.SNAPSHOT_ID,
            "rds:bodyscript-production-2024-09-24-10-00",
            "rds:bodyscript-production-2024-09-24-10-00",
        ),
    ],
)
def test_validate_input__returns_typed_value(
    kind: InputType, raw: str, expected: Any
) -> None:
    assert validate_input(_input(kind), raw) == expected


def test_validate_input__pattern_and_bounds() -> None:
    narrow = _input(
        InputType.CIDR, pattern=r"^\d{1,3}(\.\d{1,3}){3}/(1[6-9]|2\d|3[0-2])$"
    )
    with pytest.raises(UsageError, match="does not match"):
        validate_input(narrow, "10.0.0.0/8")
    with pytest.raises(UsageError, match="above the maximum of 5"):
        validate_input(_input(InputType.INTEGER, maximum=5), "6")
    with pytest.raises(UsageError, match="required"):
        validate_input(_input(InputType.STRING), "  ")


# --- curated actions ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_action__declares_real_operations(name: str) -> None:
    from bot.scenarios.operations import service_model

    spec = CATALOGUE[name]
    assert spec.summary
    assert spec.operations
    for service, operation in spec.operations:
        model = service_model(service)
        assert model is not None
        assert operation in model.operation_names


def test_action__destructiveness() -> None:
    assert {n for n, s in CATALOGUE.items() if s.destructive} == {
        "rds_restore_newest_snapshot"
    }
    assert all(s.mutating for s in CATALOGUE.values())


GUARD = """          - operation: describe_db_snapshots
            params: {DBSnapshotIdentifier: "{{ inputs.snapshot_id }}"}"""


@pytest.mark.parametrize(
    ("old", "new", "field", "words"),
    [
        (
            GUARD,
            GUARD.replace("describe_db_snapshots", "delete_db_snapshot"),
            "guards[0].operation",
            "must be read-only",
        ),
        (
            GUARD,
            GUARD.replace("inputs.snapshot_id", "inputs.snapshot"),
            "guards[0].params",
            "{{ inputs.snapshot }}",
        ),
        (
            'query: "DBSnapshots[0].Status"',
            'query: "DBSnapshots[0.Status"',
            "guards[0]",
            "invalid JMESPath",
        ),
        (
            "operation: restore_db_instance_from_db_snapshot",
            "operation: describe_db_snapshots",
            "guards",
            "only a step that changes something",
        ),
    ],
)
def test_lint__guards_are_read_only_well_formed_and_only_on_changes(
    tmp_path: Path, old: str, new: str, field: str, words: str
) -> None:
    path = _write_variant(tmp_path, "database-failure.yaml", old, new)
    problems = [(p.step, p.field, p.message) for p in lint_files([path])]
    assert any(
        step == "restore-from-snapshot" and f == field and words in message
        for step, f, message in problems
    ), problems
