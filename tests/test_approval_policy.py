"""The approval policy as pure rules: who counts as an approver of a step run, how many are needed,
the plan hash an approval is bound to, and who may decide on a request (`ApprovalPolicy`).

No storage, no Slack: `StepRun` and `Approval` values are built directly and the authoriser is a small
in-test class answering from a fixed set of approvers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.errors import ConflictError, PermissionDenied
from bot.models.runbooks import Approval, Plan, Risk, StepRun, StepState
from bot.services.runbooks.approvals import (
    ApprovalPolicy,
    plan_hash,
    required_approvals,
)

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
TTL = timedelta(minutes=30)
REQUESTER = "UALICE"
APPROVERS = frozenset({"UALICE", "UBOB", "UCAROL", "UDAVE"})  # the requester is one too
PLAN = Plan(
    kind="aws",
    service="ecs",
    operation="update_service",
    region="us-east-1",
    params={"cluster": "prod", "service": "api", "desiredCount": 1},
)
OTHER_PLAN = PLAN.model_copy(
    update={"params": {"cluster": "prod", "service": "api", "desiredCount": 0}}
)


class Approvers:
    """Authoriser stand-in: everyone is a responder, the given users are approvers."""

    def __init__(self, approvers: frozenset[str] = APPROVERS) -> None:
        self.approvers = approvers

    async def is_responder(self, user_id: str) -> bool:
        return True

    async def is_approver(self, user_id: str) -> bool:
        return user_id in self.approvers


def policy() -> ApprovalPolicy:
    return ApprovalPolicy(authoriser=Approvers(), ttl=TTL)


def run_for(
    risk: Risk = Risk.DESTRUCTIVE,
    *,
    state: StepState = StepState.AWAITING_APPROVAL,
    plan: Plan = PLAN,
    requested_by: str | None = REQUESTER,
) -> StepRun:
    return StepRun(
        id=7,
        runbook=1,
        incident=1,
        step="scale-api",
        attempt=1,
        state=state,
        requested_by=requested_by,
        plan=plan,
        plan_hash=plan_hash(plan),
        required_approvals=required_approvals(risk),
        expires_at=policy().expires_at(T0),
        created_at=T0,
        updated_at=T0,
    )


def approval(user: str, decision: str = "approve", plan: Plan = PLAN) -> Approval:
    return Approval(
        step_run=7,
        user=user,
        decision=decision,
        plan_hash=plan_hash(plan),
        created_at=T0 + timedelta(minutes=1),
    )


# -- how many approvals a risk needs ----------------------------------------------------------

EXPECTED_APPROVALS = {
    Risk.DESTRUCTIVE: 2,
    Risk.MUTATING: 1,
    Risk.READ_ONLY: 0,
    Risk.MANUAL: 0,
}


def test_every_risk_has_an_expected_number_of_approvals() -> None:
    # A new Risk must be added to the table below this test, not silently default to none.
    assert set(EXPECTED_APPROVALS) == set(Risk)


@pytest.mark.parametrize(("risk", "needed"), EXPECTED_APPROVALS.items())
def test_required_approvals_by_risk(risk: Risk, needed: int) -> None:
    assert required_approvals(risk) == needed


# -- who counts ---------------------------------------------------------------------------------


def test_requester_is_never_counted_even_with_an_approval_row_of_their_own() -> None:
    run = run_for(Risk.MUTATING)
    approvals = [approval(REQUESTER)]
    assert policy().granted(run, approvals) == []
    assert policy().satisfied(run, approvals) is False


def test_requester_plus_one_approver_does_not_satisfy_the_two_person_rule() -> None:
    run = run_for(Risk.DESTRUCTIVE)
    approvals = [approval(REQUESTER), approval("UBOB")]
    assert policy().granted(run, approvals) == ["UBOB"]
    assert policy().satisfied(run, approvals) is False


def test_same_approver_is_counted_once() -> None:
    run = run_for(Risk.DESTRUCTIVE)
    approvals = [approval("UBOB"), approval("UBOB"), approval("UBOB")]
    assert policy().granted(run, approvals) == ["UBOB"]
    assert policy().satisfied(run, approvals) is False


def test_approval_bound_to_a_different_plan_hash_does_not_count() -> None:
    run = run_for(Risk.MUTATING, plan=OTHER_PLAN)
    approvals = [approval("UBOB", plan=PLAN)]
    assert plan_hash(PLAN) != plan_hash(OTHER_PLAN)
    assert policy().granted(run, approvals) == []
    assert policy().satisfied(run, approvals) is False


def test_reject_does_not_count() -> None:
    run = run_for(Risk.MUTATING)
    approvals = [approval("UBOB", "reject")]
    assert policy().granted(run, approvals) == []
    assert policy().satisfied(run, approvals) is False


def test_a_reject_does_not_cancel_another_approvers_approval() -> None:
    run = run_for(Risk.DESTRUCTIVE)
    approvals = [approval("UBOB"), approval("UCAROL", "reject"), approval("UDAVE")]
    assert policy().granted(run, approvals) == ["UBOB", "UDAVE"]
    assert policy().satisfied(run, approvals) is True


@pytest.mark.parametrize(
    ("risk", "users", "satisfied"),
    [
        (Risk.DESTRUCTIVE, [], False),
        (Risk.DESTRUCTIVE, ["UBOB"], False),
        (Risk.DESTRUCTIVE, ["UBOB", "UCAROL"], True),
        (Risk.MUTATING, [], False),
        (Risk.MUTATING, ["UBOB"], True),
        (Risk.READ_ONLY, [], True),
        (Risk.MANUAL, [], True),
    ],
)
def test_satisfied_needs_the_required_number_of_distinct_approvers(
    risk: Risk, users: list[str], satisfied: bool
) -> None:
    run = run_for(risk)
    assert policy().satisfied(run, [approval(u) for u in users]) is satisfied


# -- the plan hash ------------------------------------------------------------------------------


def test_plan_hash_is_sha256_hex_and_ignores_parameter_order() -> None:
    reordered = PLAN.model_copy(
        update={"params": dict(reversed(list(PLAN.params.items())))}
    )
    assert re.fullmatch(r"[0-9a-f]{64}", plan_hash(PLAN))
    assert plan_hash(reordered) == plan_hash(PLAN)


@pytest.mark.parametrize("field", sorted(Plan.model_fields))
def test_plan_hash_changes_with_every_field_of_the_plan(field: str) -> None:
    changed: dict[str, Any] = {
        "params": {**PLAN.params, "desiredCount": 2},
    }
    value = changed.get(field, f"{getattr(PLAN, field)}-changed")
    assert plan_hash(PLAN.model_copy(update={field: value})) != plan_hash(PLAN)


# -- who may decide -----------------------------------------------------------------------------


async def decide(
    user: str,
    *,
    run: StepRun | None = None,
    approvals: Sequence[Approval] = (),
    now: datetime = T0 + timedelta(minutes=5),
) -> None:
    await policy().check_can_decide(
        run=run or run_for(), user=user, approvals=approvals, now=now
    )


async def test_an_approver_who_has_not_decided_may_decide() -> None:
    await decide("UBOB")
    await decide("UCAROL", approvals=[approval("UBOB")])


async def test_requester_may_not_decide_even_as_an_approver() -> None:
    assert await Approvers().is_approver(REQUESTER)
    with pytest.raises(PermissionDenied, match="You requested this step"):
        await decide(REQUESTER)


async def test_non_approver_may_not_decide() -> None:
    with pytest.raises(PermissionDenied, match="Only approvers"):
        await decide("UEVE")


@pytest.mark.parametrize("first", ["approve", "reject"])
async def test_second_decision_by_the_same_person_is_refused(first: str) -> None:
    with pytest.raises(ConflictError, match="already decided"):
        await decide("UBOB", approvals=[approval("UBOB", first)])


@pytest.mark.parametrize(
    "late", [timedelta(0), timedelta(seconds=1), timedelta(days=1)]
)
async def test_expired_request_is_refused(late: timedelta) -> None:
    run = run_for()
    assert run.expires_at is not None
    with pytest.raises(ConflictError, match="expired"):
        await decide("UBOB", run=run, now=run.expires_at + late)


async def test_request_just_before_expiry_may_be_decided() -> None:
    run = run_for()
    assert run.expires_at is not None
    await decide("UBOB", run=run, now=run.expires_at - timedelta(microseconds=1))


@pytest.mark.parametrize(
    "state", [s for s in StepState if s is not StepState.AWAITING_APPROVAL]
)
async def test_request_not_awaiting_approval_is_refused(state: StepState) -> None:
    with pytest.raises(ConflictError, match="nothing to approve"):
        await decide("UBOB", run=run_for(state=state))


def test_an_approval_of_another_run_of_the_same_plan_does_not_count() -> None:
    # Attempt 2 of the step, requested again with the same plan: attempt 1's approvals are not its.
    run = run_for(Risk.DESTRUCTIVE)
    earlier = [
        approval(user).model_copy(update={"step_run": run.id - 1})
        for user in ("UBOB", "UCAROL")
    ]
    assert policy().granted(run, earlier) == []
    assert not policy().satisfied(run, earlier)
    assert policy().granted(run, [approval("UBOB"), *earlier]) == ["UBOB"]
