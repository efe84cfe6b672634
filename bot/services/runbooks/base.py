"""The runbook service's foundation: its dependencies, reading a runbook's state, planning helpers,
the timeline records and the announcer port.

Owns `RunbookAnnouncer` (how the service tells people; the Slack adapter implements it) and the shared
plumbing of `RunbookService`: the view of a runbook, rendering and preview reads for a plan, voiding an
open request, launching a claimed run. It decides no transition of its own and knows nothing of Slack.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Protocol

from bot.config import Settings
from bot.errors import ConflictError, NotFound, UsageError
from bot.gateways.aws.gateway import AwsCallError, AwsGateway
from bot.models.incidents import Clock, Incident, NewEntry
from bot.models.runbooks import OPEN_REQUEST, Runbook, StepRun, StepState
from bot.redaction import redact
from bot.scenarios.schema import (
    ActionStep,
    AnyStep,
    AwsStep,
    Scenario,
)
from bot.scenarios.templating import capture, render
from bot.services.runbooks.action_runs import ActionRunner
from bot.services.runbooks.approvals import (
    ApprovalPolicy,
    Authoriser,
    plan_hash,
)
from bot.services.runbooks.executor import Executor
from bot.services.runbooks.views import (
    RunbookView,
    build_view,
    captures_of,
    context_for,
    run_captures,
)
from bot.storage import Storage

log = logging.getLogger(__name__)
KILL_SWITCH = "aws"
_ANY_OPEN = frozenset({StepState.AWAITING_APPROVAL, StepState.APPROVED})


class RunbookAnnouncer(Protocol):
    """How the runbook service tells people; implemented in handlers/outbound/runbook_announcer.py."""

    async def runbook_posted(self, view: RunbookView) -> None: ...
    async def step_changed(
        self, view: RunbookView, step_id: str, *, key: str, reply: str | None = None
    ) -> None: ...


class RunbookBase:
    """Dependencies and shared helpers of the runbook service."""

    def __init__(
        self,
        *,
        storage: Storage,
        settings: Settings,
        clock: Clock,
        scenarios: dict[str, Scenario],
        gateway: AwsGateway,
        authoriser: Authoriser,
        announcer: RunbookAnnouncer,
    ) -> None:
        self.storage, self.settings, self.clock, self.scenarios = (
            storage,
            settings,
            clock,
            scenarios,
        )
        self.announcer = announcer
        self.policy = ApprovalPolicy(
            authoriser=authoriser, ttl=timedelta(minutes=settings.approval_ttl_minutes)
        )
        self.actions = ActionRunner(gateway=gateway)
        self.gateway = gateway
        self.executor = Executor(
            storage=storage,
            gateway=gateway,
            actions=self.actions,
            clock=clock,
            notify=self._ran,
        )

    # -- reading --------------------------------------------------------------------------------
    def scenario(self, scenario_id: str) -> Scenario:
        found = self.scenarios.get(scenario_id)
        if found is None:
            names = ", ".join(
                sorted(k for k, s in self.scenarios.items() if s.kind == "incident")
            )
            raise NotFound(f"No scenario {scenario_id[:60]!r}; choose one of: {names}.")
        return found

    async def view(self, runbook_id: int) -> RunbookView:
        runbook = await self.storage.get_runbook(runbook_id)
        if runbook is None:
            raise NotFound(f"Runbook {runbook_id} does not exist.")
        incident = await self._incident(runbook.incident)
        runs = await self.storage.step_runs(runbook.id)
        latest = {r.step: r for r in runs}
        approvals = {
            r.id: await self.storage.approvals(r.id)
            for r in latest.values()
            if r.required_approvals
        }
        return build_view(
            runbook=runbook,
            scenario=self.scenario(runbook.scenario),
            incident=incident,
            stored=await self.storage.inputs(runbook.id),
            runs=runs,
            approvals=approvals,
            now=self.clock(),
            aws_enabled=await self.aws_enabled(),
            dry_run=self._dry(runbook, incident),
        )

    async def is_approved(self, run_id: int) -> bool:
        """Whether a run is approved and waiting to execute (held back by the kill switch)."""
        run = await self.storage.step_run(run_id)
        return run is not None and run.state is StepState.APPROVED

    async def aws_enabled(self) -> bool:
        return await self.storage.switch(KILL_SWITCH) != "off"

    def _dry(self, runbook: Runbook, incident: Incident) -> bool:
        drill = incident.drill and self.settings.drill_dry_run
        return self.settings.dry_run or runbook.dry_run or drill

    async def _incident(self, number: int) -> Incident:
        incident = await self.storage.get_incident(number)
        if incident is None:
            raise NotFound(f"INC-{number} does not exist.")
        return incident

    @staticmethod
    def _matches(plan: Any, run: StepRun) -> bool:
        """Whether the plan rendered now is the one approved (an action's planned extras aside)."""
        if plan is None or run.plan is None:
            return False
        if run.plan.kind == "action":
            keys = set(plan.params)
            own = {k: v for k, v in run.plan.params.items() if k in keys}
            return plan_hash(run.plan.model_copy(update={"params": own})) == plan_hash(
                plan
            )
        return plan_hash(plan) == run.plan_hash

    async def _guards_now(self, view: RunbookView, step: AnyStep, region: str) -> str:
        """Whether each of a step's guards holds right now, for the approvers (checked again later)."""
        if not isinstance(step, AwsStep) or not step.guards:
            return ""
        checks = self.executor.guard_checks(
            step, await self._context(view), region, None, {}
        )
        seen = [
            f"{'holds' if ok else 'does NOT hold'}: {guard.why} ({what})"
            async for guard, ok, what in checks
        ]
        return "Guards now (checked again before it is sent): " + "; ".join(seen)

    async def _planned(
        self, view: RunbookView, step: AnyStep, plan: Any
    ) -> tuple[Any, Any, Any]:
        """The concrete plan and the preview's current and proposed values, read fresh."""
        try:
            if isinstance(step, ActionStep):
                planned = await self.actions.plan(step.action, plan.params)
                return planned.plan, planned.current, planned.proposed
            if isinstance(step, AwsStep) and step.preview is not None:
                context = await self._context(view)
                pv = step.preview
                result = await self.gateway.call(
                    service=pv.service or step.service,
                    operation=pv.operation,
                    region=plan.region,
                    params=render(pv.params, context),
                    mutating=False,
                )
                return (
                    plan,
                    capture(pv.capture, result.response),
                    render(pv.proposed, context),
                )
        except AwsCallError as exc:
            raise UsageError(
                f"Could not read the current state for the plan: {exc.code}: {exc.next_step}."
            ) from None
        return plan, None, None

    async def _context(self, view: RunbookView) -> dict[str, Any]:
        runs = await self.storage.step_runs(view.runbook.id)
        return context_for(
            view.scenario,
            view.incident,
            await self.storage.inputs(view.runbook.id),
            captures_of(runs),
            self.clock(),
        )

    async def _gate(self) -> None:
        if not await self.aws_enabled():
            raise ConflictError(
                "AWS execution is switched off: `/incident aws on` (commander or approvers) resumes it."
            )

    def _launch(
        self, view: RunbookView, run: StepRun, step: AnyStep, user: str
    ) -> None:
        context = context_for(
            view.scenario, view.incident, view.inputs, {}, self.clock()
        )
        context["steps"] = {
            s.step.id: run_captures(s.run.result)
            for s in view.steps
            if s.run and s.run.state is StepState.SUCCEEDED
        }
        tags = {
            "incident": view.incident.key,
            "step": step.id,
            "requester": run.requested_by or user,
            "approvers": ",".join(
                a.user for a in view.step(step.id).approvals if a.decision == "approve"
            ),
        }
        self.executor.launch(run, step, context, tags)

    async def _ran(self, run: StepRun, reply: str | None) -> None:
        await self.announcer.step_changed(
            await self.view(run.runbook),
            run.step,
            key=f"run-{run.id}:{run.state.value}:{run.updated_at.timestamp()}",
            reply=reply,
        )

    # -- helpers ------------------------------------------------------------------------------
    async def _run(self, run_id: int) -> StepRun:
        run = await self.storage.step_run(run_id)
        if run is None:
            raise NotFound("That step run does not exist.")
        return run

    def _step(self, view: RunbookView, step: str) -> Any:
        try:
            return view.step(step)
        except KeyError:
            raise NotFound(f"No step {step[:60]!r} in this runbook.") from None

    def _aws_step(self, view: RunbookView, step: str) -> Any:
        item = self._step(view, step)
        if not item.actionable:
            raise UsageError(f"{item.step.title} makes no AWS call.")
        if item.run and item.run.state in (StepState.EXECUTING, *OPEN_REQUEST):
            raise ConflictError(f"{item.step.title} is already {item.run.state.value}.")
        return item

    async def _void(
        self,
        view: RunbookView,
        run: StepRun,
        user: str,
        why: str,
        source: str,
        state: StepState = StepState.CANCELLED,
    ) -> None:
        done = await self.storage.transition(
            run.id, from_states=_ANY_OPEN, to=state, now=self.clock(), reason=why
        )
        if done is None:
            return
        await self._record(
            run.incident,
            user,
            f"Approval void for {run.step}: {why}",
            {"run": run.id},
            source,
        )
        await self.announcer.step_changed(
            await self.view(run.runbook), run.step, key=source
        )

    async def _record(
        self,
        incident: int,
        actor: str | None,
        text: str,
        data: dict[str, Any],
        source: str,
    ) -> None:
        await self.storage.append(
            incident,
            [
                NewEntry(
                    kind="runbook",
                    actor=actor,
                    text=text,
                    data=redact(data),
                    source=source,
                )
            ],
            now=self.clock(),
        )
