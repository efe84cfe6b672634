"""Runbook steps as a post-mortem sees them: who asked, who approved, what ran, how long it took.

Owns turning the step ledger (`step_runs` + `approvals`, when that part is installed) or, failing
that, the timeline's step entries into `StepFact`s; finding the restore point a restore step chose,
and whether it restored anything (only a change that was sent and succeeded did: not a read that
shows a snapshot's time, nor a dry run); and the recovery verification checklist with each item's
result. Scenario files only give titles
and phases. Nothing here runs a step, renders text or talks to Slack.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from bot.errors import BotError
from bot.models.incidents import from_iso
from bot.scenarios.operations import is_read_only
from bot.storage.snapshot import Snapshot

CHECKLIST_SCENARIO = "recovery-verification"
FINISHED = frozenset(
    {"succeeded", "failed", "outcome-unknown", "skipped", "done", "cancelled"}
)
_RESTORE_KEYS = (
    "restore_point",
    "RestoreTime",
    "restore_time",
    "snapshot_time",
    "SnapshotCreateTime",
)
_REQUEST_KEYS = ("aws_request_id", "request_id", "RequestId")
_COMPONENT_OF_SERVICE = {
    "rds": "database",
    "dynamodb": "database",
    "s3": "file-storage",
}


@dataclass
class StepFact:
    key: str
    step: str
    title: str = ""
    phase: str = ""
    attempt: int = 1
    requester: str | None = None
    approvers: list[str] = field(default_factory=list)
    rejected_by: list[str] = field(default_factory=list)
    operation: str = ""
    region: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    outcome: str = ""
    summary: str = ""
    request_id: str | None = None
    requested_at: datetime | None = None
    approved_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    restore_point: datetime | None = None
    component: str | None = None
    dry_run: bool = False

    @property
    def run_time(self) -> timedelta | None:
        start = self.started_at or self.approved_at or self.requested_at
        return self.finished_at - start if start and self.finished_at else None

    @property
    def restored_to(self) -> datetime | None:
        """The restore point this step restored data to, for data loss against the RPO; None unless
        the step changed AWS (its operation is not read-only), was sent (not a dry run) and
        succeeded. A read that shows a snapshot's time, and a restore that was planned, failed or
        skipped, restored nothing."""
        if self.restore_point is None or self.dry_run or self.outcome != "succeeded":
            return None
        service, _, operation = self.operation.partition(":")
        if not operation or is_read_only(service, operation, self.params):
            return None
        return self.restore_point

    @property
    def approval_wait(self) -> timedelta | None:
        if not self.requested_at or not self.approved_at:
            return None
        return self.approved_at - self.requested_at


def parse_time(value: Any) -> datetime | None:
    """A datetime from ISO text (with or without a zone; naive means UTC), else None."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _find(tree: Any, keys: tuple[str, ...], depth: int = 3) -> Any:
    """The first value under one of `keys` in nested dicts (breadth first, a few levels deep)."""
    if not isinstance(tree, dict) or depth < 0:
        return None
    for key in keys:
        if tree.get(key) not in (None, ""):
            return tree[key]
    for value in tree.values():
        found = _find(value, keys, depth - 1)
        if found not in (None, ""):
            return found
    return None


@cache
def _titles(scenario: str | None) -> dict[str, tuple[str, str]]:
    """step id -> (title, phase title) from a shipped scenario file; empty when unknown."""
    from bot.scenarios.schema import load_scenario, shipped_directory

    path = shipped_directory() / f"{scenario or CHECKLIST_SCENARIO}.yaml"
    try:
        loaded = load_scenario(path)
    except (BotError, OSError, ValueError):
        return {}
    return {step.id: (step.title, phase.title) for phase, step in loaded.steps()}


def step_facts(
    snap: Snapshot, number: int, rows: list[dict[str, Any]], *, scenario: str | None
) -> list[StepFact]:
    """Steps from the ledger when it has any for this incident, else from the timeline's step rows."""
    runs = snap.step_runs(number)
    facts = [_from_run(run) for run in runs] if runs else list(_from_rows(rows))
    scenarios = {run["id"]: run.get("runbook_scenario") for run in runs}
    for fact in facts:
        own = scenarios.get(int(fact.key)) if fact.key.isdigit() else None
        title, phase = (
            _titles(own or scenario).get(fact.step)
            or _titles(None).get(fact.step)
            or ("", "")
        )
        fact.title, fact.phase = fact.title or title or fact.step, fact.phase or phase
    return facts


def _from_run(run: dict[str, Any]) -> StepFact:
    plan, result = run.get("plan") or {}, run.get("result") or {}
    approvals = run.get("approvals") or []
    approves = [a for a in approvals if a.get("decision") == "approve"]
    fact = StepFact(
        key=str(run["id"]),
        step=str(run["step"]),
        attempt=int(run.get("attempt") or 1),
        requester=run.get("requested_by"),
        approvers=[a["user"] for a in approves],
        rejected_by=[a["user"] for a in approvals if a.get("decision") == "reject"],
        region=str(plan.get("region") or ""),
        params=dict(plan.get("params") or {}),
        outcome=str(run.get("state") or ""),
        summary=str(run.get("summary") or run.get("reason") or ""),
        requested_at=parse_time(run.get("created_at")),
        approved_at=max(
            (parse_time(a["created_at"]) for a in approves), default=None, key=_key
        ),
        dry_run=bool(run.get("dry_run")),
    )
    if plan:
        fact.operation = f"{plan.get('service', '')}:{plan.get('operation', '')}"
    fact.started_at = parse_time(result.get("started_at")) or fact.approved_at
    if fact.outcome in FINISHED:
        fact.finished_at = parse_time(result.get("finished_at")) or parse_time(
            run.get("updated_at")
        )
    fact.request_id = _request_id(result, run.get("error"))
    _restore(fact, plan.get("service"), result)
    return fact


def _key(moment: datetime | None) -> datetime:
    return moment or datetime.min.replace(tzinfo=UTC)


def _request_id(*trees: Any) -> str | None:
    for tree in trees:
        found = _find(tree, _REQUEST_KEYS)
        if found:
            return str(found)
    return None


def _restore(fact: StepFact, service: Any, result: Any) -> None:
    point = parse_time(_find(fact.params, _RESTORE_KEYS, 1)) or parse_time(
        _find(result, _RESTORE_KEYS)
    )
    if point is not None:
        fact.restore_point = point
        fact.component = _COMPONENT_OF_SERVICE.get(str(service or "").lower())


def _from_rows(rows: list[dict[str, Any]]) -> Iterator[StepFact]:
    """Fold step entries of the timeline (requested, approved, started, finished ...) into facts."""
    facts: dict[str, StepFact] = {}
    for row in rows:
        data, kind, at = row["data"], row["kind"], from_iso(row["occurred_at"])
        step = str(data.get("step") or data.get("step_id") or "")
        if not step:
            continue
        run = str(
            data.get("run")
            or data.get("run_id")
            or data.get("step_run")
            or f"{step}#{data.get('attempt', 1)}"
        )
        fact = facts.setdefault(
            run, StepFact(key=run, step=step, attempt=int(data.get("attempt") or 1))
        )
        _apply(fact, kind, at, row["actor"], data)
    yield from facts.values()


def _apply(
    fact: StepFact, kind: str, at: datetime, actor: str | None, data: dict[str, Any]
) -> None:
    nested = data.get("plan")
    plan: dict[str, Any] = nested if isinstance(nested, dict) else data
    if plan.get("operation"):
        service = plan.get("service", "")
        fact.operation = (
            f"{service}:{plan['operation']}" if service else str(plan["operation"])
        )
        fact.region = str(plan.get("region") or fact.region)
        fact.params = dict(plan.get("params") or fact.params)
        _restore(fact, service, data)
    fact.title = str(data.get("title") or fact.title)
    fact.phase = str(data.get("phase") or fact.phase)
    if "request" in kind:
        fact.requester, fact.requested_at = (
            actor or fact.requester,
            fact.requested_at or at,
        )
    elif "approv" in kind:
        fact.approvers.append(actor or "?")
        fact.approved_at = at
    elif "reject" in kind:
        fact.rejected_by.append(actor or "?")
    elif "start" in kind or "execut" in kind:
        fact.started_at = at
    state = str(data.get("state") or data.get("outcome") or "")
    if (
        state in FINISHED
        or kind.removeprefix("step_").removeprefix("step-") in FINISHED
    ):
        fact.outcome = state or kind.removeprefix("step_").removeprefix("step-")
        fact.finished_at = at
        fact.requester = fact.requester or actor
        fact.requested_at = fact.requested_at or at
        fact.summary = str(data.get("summary") or data.get("note") or fact.summary)
        fact.request_id = _request_id(data) or fact.request_id


def checklist_of(steps: list[StepFact]) -> list[dict[str, Any]]:
    """Every item of the plan's recovery verification checklist with its latest recorded result."""
    latest = {s.step: s for s in steps}
    items = []
    for step_id, (title, phase) in _titles(None).items():
        fact = latest.get(step_id)
        items.append(
            {
                "step": step_id,
                "title": title,
                "phase": phase,
                "result": fact.outcome if fact and fact.outcome else "not recorded",
                "by": fact.requester if fact else None,
                "note": fact.summary if fact else "",
                "at": fact.finished_at if fact else None,
            }
        )
    return items
