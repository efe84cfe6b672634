"""Approvals: who may approve a step, how many must, the plan hash an approval is bound to, expiry.

Owns the two-person rule (destructive steps need two distinct approvers, neither the requester;
mutating steps one approver who is not the requester), the SHA-256 of the exact plan (operation,
region, rendered parameters), and the time an approval request lives. Who is an approver is asked of
an `Authoriser` port (user groups live in Slack; the adapter implements it). It stores nothing and
sends nothing: the runbook service records decisions and executes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from bot.errors import ConflictError, PermissionDenied
from bot.models.runbooks import Approval, Plan, Risk, StepRun, StepState
from bot.services.ports import Authoriser


def plan_hash(plan: Plan) -> str:
    """SHA-256 over the canonical JSON of (kind, service, operation, region, params)."""
    canonical = json.dumps(
        plan.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def required_approvals(risk: Risk) -> int:
    """Destructive: two approvers; mutating: one; read-only and manual: none."""
    return {Risk.DESTRUCTIVE: 2, Risk.MUTATING: 1}.get(risk, 0)


class ApprovalPolicy:
    """Applies the approval rules to a step run and the decisions recorded on it."""

    def __init__(self, *, authoriser: Authoriser, ttl: timedelta) -> None:
        self.authoriser, self.ttl = authoriser, ttl

    def expires_at(self, requested_at: datetime) -> datetime:
        return requested_at + self.ttl

    def expired(self, run: StepRun, now: datetime) -> bool:
        return run.expires_at is not None and now >= run.expires_at

    async def check_can_decide(
        self, *, run: StepRun, user: str, approvals: Sequence[Approval], now: datetime
    ) -> None:
        """Raise unless `user` may approve or reject this run now."""
        if run.state is not StepState.AWAITING_APPROVAL:
            raise ConflictError(
                f"This request is {run.state.value}; there is nothing to approve."
            )
        if self.expired(run, now):
            raise ConflictError(
                "This approval request has expired; request approval again."
            )
        if user == run.requested_by:
            raise PermissionDenied(
                "You requested this step, so you cannot approve it: ask another approver."
            )
        if not await self.authoriser.is_approver(user):
            raise PermissionDenied("Only approvers may approve or reject AWS steps.")
        if any(a.user == user for a in approvals):
            raise ConflictError(
                "You already decided on this request; a second, different approver is needed."
            )

    def granted(self, run: StepRun, approvals: Sequence[Approval]) -> list[str]:
        """The distinct approvers (not the requester) who approved this exact plan of this run."""
        seen: list[str] = []
        for item in approvals:
            if (
                item.step_run == run.id
                and item.decision == "approve"
                and item.plan_hash == run.plan_hash
                and item.user != run.requested_by
                and item.user not in seen
            ):
                seen.append(item.user)
        return seen

    def satisfied(self, run: StepRun, approvals: Sequence[Approval]) -> bool:
        return len(self.granted(run, approvals)) >= run.required_approvals

    async def still_authorised(
        self, run: StepRun, approvals: Sequence[Approval]
    ) -> list[str]:
        """Approvers who are no longer allowed to approve (checked again at execution)."""
        return [
            user
            for user in self.granted(run, approvals)
            if not await self.authoriser.is_approver(user)
        ]
