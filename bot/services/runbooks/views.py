"""What a runbook looks like right now: each step's risk, its plan after templating, its ledger state.

Owns rendering a step's call from the runbook's inputs, earlier steps' captures and the incident
(`render_plan`), the classification read-only / mutating / destructive / manual (`risk_of`), which
inputs a step needs, and `RunbookView`, the snapshot the Slack adapter draws. Pure functions over
models: no AWS, no storage, no Slack.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.errors import UsageError
from bot.models.incidents import Incident
from bot.models.runbooks import (
    FINISHED,
    Approval,
    Plan,
    Risk,
    Runbook,
    StepRun,
    StepState,
)
from bot.scenarios.actions import get_action
from bot.scenarios.operations import is_read_only
from bot.scenarios.schema import ActionStep, AnyStep, AwsStep, Phase, Scenario
from bot.scenarios.templating import build_context, render, variables


def risk_of(step: AnyStep) -> Risk:
    """Read-only calls run on a click; anything else needs approval (two if destructive)."""
    if isinstance(step, AwsStep):
        if step.destructive:
            return Risk.DESTRUCTIVE
        if is_read_only(step.service, step.operation, step.params):
            return Risk.READ_ONLY
        return Risk.MUTATING
    if isinstance(step, ActionStep):
        spec = get_action(step.action)
        destructive = spec.destructive if step.destructive is None else step.destructive
        if destructive:
            return Risk.DESTRUCTIVE
        return Risk.MUTATING if spec.mutating else Risk.READ_ONLY
    return Risk.MANUAL


def _templated(step: AnyStep) -> list[Any]:
    if isinstance(step, AwsStep):
        parts: list[Any] = [step.region, step.params, step.assume_role]
        for extra in (step.preview, step.wait, step.verify):
            if extra is not None:
                parts.append(extra.model_dump())
        return parts
    if isinstance(step, ActionStep):
        return [step.params]
    return []


def inputs_used(step: AnyStep) -> list[str]:
    """The runbook inputs a step's templates name, in a stable order."""
    names = {
        v.split(".", 1)[1]
        for v in variables(_templated(step))
        if v.startswith("inputs.")
    }
    return sorted(names)


def incident_context(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.key,
        "slug": incident.channel_name,
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status.value,
        "channel": incident.channel_id,
        "commander": incident.commander,
        "declared_at": incident.declared_at.isoformat(),
        "impact_start": (
            incident.impact_started_at or incident.declared_at
        ).isoformat(),
    }


def effective_inputs(scenario: Scenario, stored: dict[str, Any]) -> dict[str, Any]:
    """Stored values, else static defaults; inputs with neither are absent."""
    values = {i.name: i.default for i in scenario.inputs if i.default is not None}
    return {**values, **stored}


def context_for(
    scenario: Scenario,
    incident: Incident,
    stored: dict[str, Any],
    captures: dict[str, dict[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    return build_context(
        inputs=effective_inputs(scenario, stored),
        steps=captures,
        incident=incident_context(incident),
        now=now,
    )


def render_plan(step: AnyStep, context: dict[str, Any]) -> Plan:
    """The exact call a step would send now; UsageError names a missing value."""
    if isinstance(step, AwsStep):
        region = str(render(step.region, context))
        return Plan(
            kind="aws",
            service=step.service,
            operation=step.operation,
            region=region,
            params=render(step.params, context),
        )
    if isinstance(step, ActionStep):
        params = render(step.params, context)
        spec = get_action(step.action)
        service = spec.operations[0][0] if spec.operations else "aws"
        return Plan(
            kind="action",
            service=service,
            operation=step.action,
            region=str(params.get("region", "")),
            params=params,
        )
    raise UsageError("This step makes no AWS call.")


@dataclass
class StepView:
    """One step as it stands: what it would run and where its ledger is."""

    phase: Phase
    step: AnyStep
    risk: Risk
    plan: Plan | None
    problem: str
    inputs: list[str]
    runs: list[StepRun] = field(default_factory=list)
    approvals: list[Approval] = field(default_factory=list)

    @property
    def run(self) -> StepRun | None:
        return self.runs[-1] if self.runs else None

    @property
    def state(self) -> StepState:
        run = self.run
        if run is None or run.state is StepState.CANCELLED:
            return StepState.PENDING
        return run.state

    @property
    def next_attempt(self) -> int:
        return (self.run.attempt + 1) if self.run else 1

    @property
    def actionable(self) -> bool:
        return isinstance(self.step, AwsStep | ActionStep)


@dataclass
class RunbookView:
    """A runbook's scenario, incident, inputs and every step's state, for the adapter to draw."""

    runbook: Runbook
    scenario: Scenario
    incident: Incident
    inputs: dict[str, Any]
    steps: list[StepView]
    aws_enabled: bool
    dry_run: bool

    def progress(self) -> tuple[int, int]:
        done = sum(1 for s in self.steps if s.state in FINISHED)
        return done, len(self.steps)

    def step(self, step_id: str) -> StepView:
        for item in self.steps:
            if item.step.id == step_id:
                return item
        raise KeyError(step_id)


def run_captures(result: dict[str, Any]) -> dict[str, Any]:
    """A run's captures: a step's JMESPath captures, or an action's outputs (kept as pairs so that a
    name such as `secret_arn` is not mistaken for a secret by key-based redaction)."""
    if isinstance(result.get("captures"), dict):
        return dict(result["captures"])
    pairs = result.get("outputs")
    return {str(k): v for k, v in pairs} if isinstance(pairs, list) else {}


def captures_of(runs: list[StepRun]) -> dict[str, dict[str, Any]]:
    """Each step's captures from its latest successful run."""
    return {
        run.step: run_captures(run.result)
        for run in runs
        if run.state is StepState.SUCCEEDED
    }


def build_view(
    *,
    runbook: Runbook,
    scenario: Scenario,
    incident: Incident,
    stored: dict[str, Any],
    runs: list[StepRun],
    approvals: dict[int, list[Approval]],
    now: datetime,
    aws_enabled: bool,
    dry_run: bool,
) -> RunbookView:
    context = context_for(scenario, incident, stored, captures_of(runs), now)
    steps: list[StepView] = []
    for phase, step in scenario.steps():
        plan, problem = None, ""
        if isinstance(step, AwsStep | ActionStep):
            try:
                plan = render_plan(step, context)
            except UsageError as exc:
                problem = exc.message
        mine = [r for r in runs if r.step == step.id]
        view = StepView(
            phase, step, risk_of(step), plan, problem, inputs_used(step), mine
        )
        if view.run is not None:
            view.approvals = approvals.get(view.run.id, [])
        steps.append(view)
    return RunbookView(
        runbook,
        scenario,
        incident,
        effective_inputs(scenario, stored),
        steps,
        aws_enabled,
        dry_run,
    )
