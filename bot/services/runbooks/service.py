"""Runbooks: plan → request → approve → execute → verify → record, with the step ledger.

Owns the rules of a running scenario: a read-only step runs on a click, a mutating one after one
approval, a destructive one after two (`bot.services.runbooks.approvals`); each attempt is one ledger row, and
every transition is a conditional update, so double clicks, simultaneous approvals, Slack retries and
restarts never send a second call. The kill switch and dry run (global, or per incident for drills)
stop execution here. Every outcome goes to storage and the timeline before the `RunbookAnnouncer`
(the Slack adapter) is told. It knows nothing of Slack payloads and never calls boto3 itself.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.errors import ConflictError, UsageError
from bot.models.runbooks import Risk, Runbook, StepRun, StepState
from bot.redaction import redact
from bot.scenarios.schema import (
    ActionStep,
    validate_input,
)
from bot.services.runbooks.approvals import (
    plan_hash,
    required_approvals,
)
from bot.services.runbooks.base import _ANY_OPEN, KILL_SWITCH, RunbookAnnouncer
from bot.services.runbooks.outcomes import RunbookOutcomes
from bot.services.runbooks.views import (
    RunbookView,
)

__all__ = ["KILL_SWITCH", "RunbookAnnouncer", "RunbookService"]
log = logging.getLogger(__name__)


class RunbookService(RunbookOutcomes):
    """Commands on runbooks and their steps; see the module docstring for the rules."""

    # -- starting ---------------------------------------------------------------------------------
    async def start(
        self,
        *,
        incident: int,
        scenario: str,
        user: str,
        source: str,
        dry_run: bool = False,
    ) -> Runbook:
        """Open a scenario's runbook for an incident (once per source) and post it."""
        chosen = self.scenario(scenario)
        if chosen.kind == "shared":
            raise UsageError(
                f"{scenario} is a shared phase set, included by other scenarios."
            )
        runbook, new = await self.storage.create_runbook(
            incident=incident,
            scenario=chosen.id,
            created_by=user,
            dry_run=dry_run,
            now=self.clock(),
            source=source,
        )
        if new:
            await self._record(
                incident,
                user,
                f"Runbook {chosen.title} started",
                {"runbook": runbook.id},
                f"{source}:runbook",
            )
        await self.announcer.runbook_posted(await self.view(runbook.id))
        return runbook

    async def set_inputs(
        self, *, runbook: int, raw: dict[str, str], user: str, source: str
    ) -> dict[str, Any]:
        """Validate and store input values; open requests whose plan changed are voided."""
        view = await self.view(runbook)
        values: dict[str, Any] = {}
        for name, text in raw.items():
            try:
                spec = view.scenario.input(name)
            except KeyError:
                raise UsageError(f"Unknown input {name!r}.", field=name) from None
            values[name] = validate_input(spec, text)
        await self.storage.set_inputs(runbook, values, user=user, now=self.clock())
        after = await self.view(runbook)
        for step in after.steps:
            run = step.run
            if run and run.state in _ANY_OPEN and not self._matches(step.plan, run):
                await self._void(
                    after,
                    run,
                    user,
                    "an input changed after the plan was approved",
                    f"{source}:void:{run.id}",
                )
        await self._record(
            view.incident.number,
            user,
            "Runbook inputs set: " + ", ".join(sorted(values)),
            {"runbook": runbook, "inputs": sorted(values)},
            f"{source}:inputs",
        )
        return values

    # -- read-only steps ------------------------------------------------------------------------
    async def run(
        self, *, runbook: int, step: str, attempt: int, user: str, source: str
    ) -> StepRun | None:
        """Run a read-only step now (attempt `attempt`); a repeated click on the same attempt does nothing."""
        view = await self.view(runbook)
        item = self._aws_step(view, step)
        if item.risk is not Risk.READ_ONLY:
            raise UsageError(
                f"{item.step.title} changes AWS: request approval instead."
            )
        if item.plan is None:
            raise UsageError(f"{item.step.title} cannot run yet: {item.problem}")
        await self._gate()
        claimed = await self.storage.insert_step_run(
            runbook=runbook,
            incident=view.incident.number,
            step=step,
            attempt=attempt,
            state=StepState.EXECUTING,
            now=self.clock(),
            source=source,
            requested_by=user,
            plan=item.plan,
            plan_hash=plan_hash(item.plan),
        )
        if claimed is None:
            return None
        await self.announcer.step_changed(
            await self.view(runbook), step, key=f"run-{claimed.id}:start"
        )
        self._launch(view, claimed, item.step, user)
        return claimed

    # -- approval-gated steps -------------------------------------------------------------------
    async def request(
        self, *, runbook: int, step: str, attempt: int, user: str, source: str
    ) -> StepRun | None:
        """Plan a mutating step (reading its preview) and ask for approval."""
        view = await self.view(runbook)
        item = self._aws_step(view, step)
        if item.risk is Risk.READ_ONLY:
            raise UsageError(f"{item.step.title} only reads: use Run.")
        if item.plan is None:
            raise UsageError(f"{item.step.title} cannot be planned yet: {item.problem}")
        plan, current, proposed = await self._planned(view, item.step, item.plan)
        guards = await self._guards_now(view, item.step, plan.region)
        now = self.clock()
        claimed = await self.storage.insert_step_run(
            runbook=runbook,
            incident=view.incident.number,
            step=step,
            attempt=attempt,
            state=StepState.AWAITING_APPROVAL,
            now=now,
            source=source,
            requested_by=user,
            plan=plan,
            summary=guards or None,
            plan_hash=plan_hash(plan),
            preview_current=current,
            preview_proposed=proposed,
            required_approvals=required_approvals(item.risk),
            expires_at=self.policy.expires_at(now),
        )
        if claimed is None:
            return None
        need = claimed.required_approvals
        await self._record(
            view.incident.number,
            user,
            f"Approval requested for {item.step.title} ({item.risk.value}, "
            f"{need} approver{'s' if need > 1 else ''})",
            {
                "run": claimed.id,
                "plan_hash": claimed.plan_hash,
                "plan": plan.model_dump(),
            },
            f"{source}:request",
        )
        await self.announcer.step_changed(
            await self.view(runbook), step, key=f"run-{claimed.id}:request"
        )
        return claimed

    async def decide(
        self, *, run_id: int, user: str, approve: bool, source: str, reason: str = ""
    ) -> StepRun:
        """Approve or reject a request; the last approval needed starts the execution."""
        run = await self._run(run_id)
        view = await self.view(run.runbook)
        now = self.clock()
        approvals = await self.storage.approvals(run.id)
        if run.state is StepState.AWAITING_APPROVAL and self.policy.expired(run, now):
            await self._void(
                view,
                run,
                user,
                "the approval request expired",
                f"{source}:expired",
                state=StepState.CANCELLED,
            )
            raise ConflictError(
                "This approval request has expired; request approval again."
            )
        await self.policy.check_can_decide(
            run=run, user=user, approvals=approvals, now=now
        )
        title = view.step(run.step).step.title
        if not await self.storage.add_approval(
            step_run=run.id,
            user=user,
            decision="approve" if approve else "reject",
            plan_hash=run.plan_hash or "",
            now=now,
            source=source,
        ):
            raise ConflictError("You already decided on this request.")
        if not approve:
            done = await self.storage.transition(
                run.id,
                from_states={StepState.AWAITING_APPROVAL},
                to=StepState.CANCELLED,
                now=now,
                reason=f"rejected by {user}: {reason}".strip(": "),
            )
            await self._record(
                run.incident,
                user,
                f"Rejected {title}" + (f": {reason}" if reason else ""),
                {"run": run.id},
                f"{source}:reject",
            )
            await self.announcer.step_changed(
                await self.view(run.runbook), run.step, key=f"{source}:reject"
            )
            return done or run
        approvals = await self.storage.approvals(run.id)
        granted = self.policy.granted(run, approvals)
        await self._record(
            run.incident,
            user,
            f"Approved {title} ({len(granted)} of {run.required_approvals})",
            {"run": run.id, "plan_hash": run.plan_hash},
            f"{source}:approve",
        )
        if not self.policy.satisfied(run, approvals):
            await self.announcer.step_changed(
                await self.view(run.runbook), run.step, key=f"{source}:approve"
            )
            return run
        approved = await self.storage.transition(
            run.id,
            from_states={StepState.AWAITING_APPROVAL},
            to=StepState.APPROVED,
            now=now,
        )
        if approved is None:
            return run
        return await self.execute(run_id=run.id, user=user, source=source)

    async def execute(self, *, run_id: int, user: str, source: str) -> StepRun:
        """Execute an approved run after re-checking everything; exactly one caller wins the claim."""
        run = await self._run(run_id)
        view = await self.view(run.runbook)
        item = view.step(run.step)
        problem = await self._recheck(view, run)
        if problem:
            await self._void(view, run, user, problem, f"{source}:void")
            raise ConflictError(f"Not executed: {problem}. Request approval again.")
        if not await self.aws_enabled():
            raise ConflictError(
                "AWS execution is switched off (`/incident aws on` to resume); the approval stands."
            )
        if view.dry_run:
            done = await self.storage.transition(
                run.id,
                from_states={StepState.APPROVED},
                to=StepState.SKIPPED,
                now=self.clock(),
                reason="dry run: planned and approved, not sent",
                summary="Dry run: the call was not sent",
            )
            if done:
                await self._record(
                    run.incident,
                    user,
                    f"Dry run: {item.step.title} not sent",
                    {"run": run.id},
                    f"{source}:dry",
                )
                await self.announcer.step_changed(
                    await self.view(run.runbook), run.step, key=f"{source}:dry"
                )
            return done or run
        claimed = await self.storage.transition(
            run.id,
            from_states={StepState.APPROVED},
            to=StepState.EXECUTING,
            now=self.clock(),
        )
        if claimed is None:
            return run
        await self.announcer.step_changed(
            await self.view(run.runbook), run.step, key=f"run-{run.id}:start"
        )
        self._launch(view, claimed, item.step, user)
        return claimed

    async def _recheck(self, view: RunbookView, run: StepRun) -> str:
        """Why an approved run must not execute now (empty when it may)."""
        item = view.step(run.step)
        approvals = await self.storage.approvals(run.id)
        if self.policy.expired(run, self.clock()):
            return "the approval expired"
        if not self._matches(item.plan, run):
            return "the plan changed after approval"
        lost = await self.policy.still_authorised(run, approvals)
        if lost:
            return "an approver is no longer authorised (" + ", ".join(lost) + ")"
        if not self.policy.satisfied(run, approvals):
            return "not enough approvals"
        if run.preview_current is not None or isinstance(item.step, ActionStep):
            plan, current, _ = await self._planned(view, item.step, item.plan)
            if isinstance(item.step, ActionStep) and plan_hash(plan) != run.plan_hash:
                return "the resource changed since approval"
            # The stored preview was redacted before it was stored: compare like with like.
            if str(redact(current)) != str(run.preview_current):
                return f"the current value changed since approval ({run.preview_current} → {current})"
        return ""
