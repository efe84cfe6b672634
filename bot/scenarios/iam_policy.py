"""The least-privilege IAM policy for the bot: exactly the AWS operations the scenarios and the
curated actions use (calls, previews, waiters, verify reads), plus `sts:AssumeRole`/`sts:TagSession`
for steps that name a role.

Owns only the computation from scenario data and the action catalogue; `warroom iam-policy` prints
it. It must not talk to AWS.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.scenarios.actions import CATALOGUE, get_action
from bot.scenarios.operations import operations, waiters
from bot.scenarios.schema import ActionStep, AwsStep, Scenario

_IAM_PREFIX = {"elbv2": "elasticloadbalancing", "elb": "elasticloadbalancing"}
# API operations whose IAM action has another name (S3 authorises by what is read or written).
_IAM_NAMES = {
    "s3:ListObjectsV2": ("s3:ListBucket",),
    "s3:ListObjects": ("s3:ListBucket",),
    "s3:HeadObject": ("s3:GetObject",),
    "s3:CopyObject": ("s3:GetObject", "s3:PutObject"),
    "s3:HeadBucket": ("s3:ListBucket",),
}


def _actions(service: str, api: str) -> set[str]:
    name = f"{_IAM_PREFIX.get(service, service)}:{api}"
    return set(_IAM_NAMES.get(name, (name,)))


def _step_actions(step: AwsStep) -> set[str]:
    found = _actions(
        step.service, operations(step.service).get(step.operation, step.operation)
    )
    for call in (step.preview, step.verify):
        if call is not None:
            service = call.service or step.service
            found |= _actions(
                service, operations(service).get(call.operation, call.operation)
            )
    if step.wait is not None:
        found |= _actions(
            step.service, waiters(step.service).get(step.wait.waiter, step.wait.waiter)
        )
    if step.assume_role:
        found |= {"sts:AssumeRole", "sts:TagSession"}
    return found


def required_actions(scenarios: Iterable[Scenario]) -> list[str]:
    """Every IAM action the scenarios' steps (and the curated actions they name) need, sorted."""
    found: set[str] = set()
    for scenario in scenarios:
        for _, step in scenario.steps():
            if isinstance(step, AwsStep):
                found |= _step_actions(step)
            elif isinstance(step, ActionStep) and step.action in CATALOGUE:
                for service, api in get_action(step.action).operations:
                    found |= _actions(service, api)
    return sorted(found)


def policy(scenarios: Iterable[Scenario]) -> dict[str, Any]:
    """An IAM policy document allowing exactly `required_actions`, grouped by service."""
    by_service: dict[str, list[str]] = {}
    for action in required_actions(scenarios):
        by_service.setdefault(action.split(":", 1)[0], []).append(action)
    statements = [
        {
            "Sid": "Warroom"
            + "".join(p.title() for p in service.replace("-", " ").split()),
            "Effect": "Allow",
            "Action": actions,
            "Resource": "*",
        }
        for service, actions in sorted(by_service.items())
    ]
    return {"Version": "2012-10-17", "Statement": statements}
