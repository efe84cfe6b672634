"""Runbook domain models that cross the storage boundary: runbook instances, step runs, approvals.

Pydantic models and the step states only; no I/O and nothing Slack-specific. The runbook service
decides the transitions, storage only persists them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class StepState(StrEnum):
    """The ledger states of one attempt at a step."""

    PENDING = "pending"
    AWAITING_APPROVAL = "awaiting-approval"
    APPROVED = "approved"
    EXECUTING = "executing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    OUTCOME_UNKNOWN = "outcome-unknown"
    SKIPPED = "skipped"
    DONE = "done"
    CANCELLED = "cancelled"


FINISHED = frozenset({StepState.SUCCEEDED, StepState.SKIPPED, StepState.DONE})
OPEN_REQUEST = frozenset({StepState.AWAITING_APPROVAL, StepState.APPROVED})


class Risk(StrEnum):
    """How much a step can change: read-only steps run on a click."""

    READ_ONLY = "read-only"
    MUTATING = "mutating"
    DESTRUCTIVE = "destructive"
    MANUAL = "manual"


class Runbook(BaseModel):
    """A scenario's runbook running for one incident."""

    model_config = ConfigDict(extra="ignore")

    id: int
    incident: int
    scenario: str
    created_by: str
    created_at: datetime
    dry_run: bool = False
    message_ts: str | None = None


class Plan(BaseModel):
    """Exactly what a step will send: the approval is bound to the hash of this."""

    model_config = ConfigDict(extra="forbid")

    kind: str  # aws | action
    service: str
    operation: str
    region: str
    params: dict[str, Any] = Field(default_factory=dict)


class StepRun(BaseModel):
    """One attempt at one step: a row of the ledger, unique per (incident, runbook, step, attempt)."""

    model_config = ConfigDict(extra="ignore")

    id: int
    runbook: int
    incident: int
    step: str
    attempt: int
    state: StepState
    requested_by: str | None = None
    plan: Plan | None = None
    plan_hash: str | None = None
    preview_current: Any = None
    preview_proposed: Any = None
    required_approvals: int = 0
    expires_at: datetime | None = None
    result: dict[str, Any] = Field(default_factory=dict)
    summary: str = ""
    error: dict[str, Any] = Field(default_factory=dict)
    reason: str = ""
    dry_run: bool = False
    created_at: datetime
    updated_at: datetime


class Approval(BaseModel):
    """One person's decision on one step run, for the plan hash they saw."""

    model_config = ConfigDict(extra="ignore")

    step_run: int
    user: str
    decision: str  # approve | reject
    plan_hash: str
    created_at: datetime
