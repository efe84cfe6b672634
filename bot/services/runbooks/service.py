"""Runbooks: plan → request → approve → execute → verify → record, with the step ledger.

Owns the rules of a running scenario: a read-only step runs on a click, a mutating one after one
approval, a destructive one after two (`approvals`); each attempt is one ledger row (a step run,
`StepRun`), and every transition is a conditional update, so double clicks, simultaneous approvals,
Slack retries and restarts never send a second call. The kill switch and dry run (global, or per
incident for drills) stop execution here. Every outcome goes to storage and the timeline before the
`RunbookAnnouncer` is told, and a request waiting for approval keeps an escalation scheduled until it
is answered. A run found `executing` at start-up becomes `outcome-unknown` and is never re-sent. A page
step pages through the `StepPager` and a notify step posts through `Notices`, each once per runbook
step. It knows nothing of Slack and never calls boto3 itself: the `Executor` sends through the AWS
gateway.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from bot.config import Settings
from bot.errors import ConflictError, NotFound, PermissionDenied, UsageError
from bot.gateways.aws.gateway import AwsCallError, AwsGateway
from bot.models.incidents import Clock, Incident, NewEntry
from bot.models.runbooks import OPEN_REQUEST, Risk, Runbook, StepRun, StepState
from bot.redaction import redact
from bot.scenarios.schema import (
    ActionStep,
    AnyStep,
    AwsStep,
    ManualStep,
    NotifyStep,
    PageStep,
    Scenario,
    validate_input,
)
from bot.scenarios.templating import capture, render
from bot.services.ports import (
    ApprovalEscalations,
    Authoriser,
    Notices,
    RunbookAnnouncer,
    StepPager,
)
from bot.services.runbooks.action_runs import ActionRunner
from bot.services.runbooks.approvals import (
    ApprovalPolicy,
    plan_hash,
    required_approvals,
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
# The account field of an ARN: arn:partition:service:region:account:resource
_ARN_ACCOUNT = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12}):")


# How `recover` leaves a run a restart cut off, after its call may have left or before.
_INTERRUPTED: dict[str, Any] = {
    "summary": "The bot restarted during this call: verify before anything else",
    "error": {
        "code": "OutcomeUnknown",
        "message": "interrupted by a restart",
        "next_step": "press Verify; never re-run blindly",
    },
}
_NOT_SENT: dict[str, Any] = {
    "summary": "Not sent: the bot restarted before the call left",
    "error": {
        "code": "NotSent",
        "message": "interrupted by a restart before the call was sent",
        "proves_not_run": True,
        "next_step": "request the step again",
    },
}


class RunbookService:
    """Commands on runbooks and their steps; see the module docstring for the rules."""

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
        escalations: ApprovalEscalations,
        pager: StepPager,
        notices: Notices,
    ) -> None:
        self.storage, self.settings, self.clock = storage, settings, clock
        self.scenarios, self.gateway = scenarios, gateway
        self.announcer, self.escalations = announcer, escalations
        self.pager, self.notices = pager, notices
        self.policy = ApprovalPolicy(
            authoriser=authoriser, ttl=timedelta(minutes=settings.approval_ttl_minutes)
        )
        self.actions = ActionRunner(gateway=gateway)
        self.executor = Executor(
            storage=storage,
            gateway=gateway,
            actions=self.actions,
            clock=clock,
            notify=self._ran,
        )

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
            # Its first Run click should not wait for boto3 to load the services' models.
            self.gateway.warm(
                [
                    step.service
                    for _, step in chosen.steps()
                    if isinstance(step, AwsStep)
                ],
                self.gateway.default_region,
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
            await self._in_own_account(spec.label, name, values[name])
        await self.storage.set_inputs(runbook, values, user=user, now=self.clock())
        after = await self.view(runbook)
        for step in after.steps:
            run = step.run
            if run and run.state in OPEN_REQUEST and not self._matches(step.plan, run):
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
            while_on=KILL_SWITCH,
        )
        if claimed is None:
            await self._gate()  # switched off since the check above
            return None
        await self._tell(runbook, step, key=f"run-{claimed.id}:start")
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
        if not self.settings.approvers:
            raise UsageError(
                f"{item.step.title} changes AWS and nobody may approve it: set WARROOM_APPROVERS"
                " (Slack user or user-group ids) and restart the bot."
            )
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
        await self._tell(runbook, step, key=f"run-{claimed.id}:request")
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
            run_id=run.id,
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
            await self._tell(run.runbook, run.step, key=f"{source}:reject")
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
            await self._tell(run.runbook, run.step, key=f"{source}:approve")
            return run
        approved = await self.storage.transition(
            run.id,
            from_states={StepState.AWAITING_APPROVAL},
            to=StepState.APPROVED,
            now=now,
        )
        if approved is None:
            return run
        if not await self.aws_enabled():
            # Approved while AWS is off: it runs only when someone presses Execute after it is back on.
            await self._tell(
                run.runbook,
                run.step,
                key=f"{source}:held",
                reply=f"*{title}* is approved, but AWS execution is off: press Execute once it is back on.",
            )
            return approved
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
                dry_run=True,  # the ledger (and the post-mortem) says so
            )
            if done:
                await self._record(
                    run.incident,
                    user,
                    f"Dry run: {item.step.title} not sent",
                    {"run": run.id},
                    f"{source}:dry",
                )
                await self._tell(run.runbook, run.step, key=f"{source}:dry")
            return done or run
        claimed = await self.storage.transition(
            run.id,
            from_states={StepState.APPROVED},
            to=StepState.EXECUTING,
            now=self.clock(),
            while_on=KILL_SWITCH,
        )
        if claimed is None:
            await self._gate()  # switched off during the re-check: the approval stands
            return run
        await self._tell(run.runbook, run.step, key=f"run-{run.id}:start")
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

    # -- page and notify steps --------------------------------------------------------------------
    async def act(
        self, *, runbook: int, step: str, user: str, source: str
    ) -> StepRun | None:
        """Page (a page step) or post (a notify step), then mark the step done. The page is queued
        under the runbook step, not the click or the attempt, so double clicks, replays and a
        restart between the page and the ledger row never page twice. None: done already."""
        view = await self.view(runbook)
        item = self._step(view, step)
        if not isinstance(item.step, PageStep | NotifyStep):
            raise UsageError(f"{item.step.title} is not a page or notify step.")
        if item.state in (StepState.DONE, StepState.SKIPPED):
            return None
        incident = view.incident
        state, outcome = StepState.DONE, {}
        try:
            if isinstance(item.step, PageStep):
                text = await self.pager.page_step(
                    incident,
                    target=item.step.target,
                    message=item.step.message,
                    actor=user,
                    source=f"runbook-{runbook}:{step}",
                )
            else:
                text = await self.notices.notify(incident, item.step.template)
            outcome = {"summary": text}
        except UsageError as exc:
            state, text = StepState.FAILED, exc.message
            outcome = {"reason": text}
        ran = await self.storage.insert_step_run(
            runbook=runbook,
            incident=incident.number,
            step=step,
            attempt=item.next_attempt,
            state=state,
            now=self.clock(),
            source=source,
            requested_by=user,
            **outcome,
        )
        if ran is None:
            return None
        verb = "Done" if state is StepState.DONE else "Failed"
        await self._record(
            incident.number,
            user,
            f"{verb}: {item.step.title}: {text}",
            {"step": step},
            f"{source}:act",
        )
        await self._tell(runbook, step, key=f"{source}:act")
        return ran

    # -- manual outcomes, cancel, verify ---------------------------------------------------------
    async def mark(
        self,
        *,
        runbook: int,
        step: str,
        attempt: int,
        user: str,
        source: str,
        skip: bool,
        reason: str = "",
    ) -> StepRun | None:
        """Mark a step done (manual steps, or an outcome-unknown run a person checked) or skip it."""
        view = await self.view(runbook)
        item = self._step(view, step)
        if skip and not reason.strip():
            raise UsageError("Say why the step is skipped.", field="reason")
        run = item.run
        if run and run.state is StepState.OUTCOME_UNKNOWN and not skip:
            done = await self.storage.transition(
                run.id,
                from_states={StepState.OUTCOME_UNKNOWN},
                to=StepState.DONE,
                now=self.clock(),
                reason=f"confirmed by hand by {user}",
            )
        elif run and run.state in (StepState.EXECUTING, *OPEN_REQUEST):
            raise ConflictError(
                f"{item.step.title} is {run.state.value}; cancel it or wait for it first."
            )
        else:
            if not skip and not isinstance(item.step, ManualStep) and item.actionable:
                raise UsageError(
                    f"{item.step.title} is an AWS step: run it, or skip it with a reason."
                )
            done = await self.storage.insert_step_run(
                runbook=runbook,
                incident=view.incident.number,
                step=step,
                attempt=attempt,
                state=StepState.SKIPPED if skip else StepState.DONE,
                now=self.clock(),
                source=source,
                requested_by=user,
                reason=reason.strip(),
            )
        if done is None:
            return None
        verb = f"Skipped ({reason.strip()})" if skip else "Done"
        await self._record(
            view.incident.number,
            user,
            f"{verb}: {item.step.title}",
            {"step": step},
            f"{source}:mark",
        )
        await self._tell(runbook, step, key=f"{source}:mark")
        return done

    async def cancel(self, *, run_id: int, user: str, source: str) -> StepRun:
        run = await self._run(run_id)
        view = await self.view(run.runbook)
        await self._void(
            view,
            run,
            user,
            f"cancelled by {user}",
            f"{source}:cancel",
            state=StepState.CANCELLED,
        )
        return run

    async def verify(self, *, run_id: int, user: str, source: str) -> StepRun:
        """Check an outcome-unknown (or finished) run with read-only calls; confirmed becomes succeeded."""
        run = await self._run(run_id)
        view = await self.view(run.runbook)
        step = view.step(run.step).step
        await self._gate()
        try:
            if isinstance(step, ActionStep) and run.plan is not None:
                checked = await self.actions.verify(run.plan)
                ok, seen = checked.confirmed, checked.summary
            elif (
                isinstance(step, AwsStep)
                and step.verify is not None
                and run.plan is not None
            ):
                ok, seen = await self.executor.check(
                    step, await self._context(view), run.plan.region, None, {}
                )
            else:
                ok, seen = (
                    False,
                    "this step has no verify call: check in the AWS console, then mark it done",
                )
        except AwsCallError as exc:
            ok, seen = False, f"{exc.code}: {exc.next_step}"
        state = StepState.SUCCEEDED if ok else run.state
        done = await self.storage.transition(
            run.id,
            from_states={run.state},
            to=state,
            now=self.clock(),
            summary=f"Verified: {seen}" if ok else f"Verify: {seen}",
        )
        await self._record(
            run.incident,
            user,
            f"Verify {step.title}: {seen}"[:500],
            {"run": run.id, "confirmed": ok},
            f"{source}:verify",
        )
        await self._tell(
            run.runbook,
            run.step,
            key=f"{source}:verify",
            reply=f"*{step.title}* verify: {seen}",
        )
        return done or run

    # -- kill switch, recovery, shutdown ----------------------------------------------------------
    async def set_aws_enabled(
        self, *, enabled: bool, user: str, incident: int | None, source: str
    ) -> None:
        """Switch AWS execution off (an approver, or the commander of `incident`) or on (approvers only)."""
        approver = await self.policy.authoriser.is_approver(user)
        if enabled and not approver:
            raise PermissionDenied("Only an approver may switch AWS execution back on.")
        if not enabled and not approver:
            found = await self._incident(incident) if incident is not None else None
            if found is None or found.commander != user:
                raise PermissionDenied(
                    "Only the incident commander or an approver may switch AWS execution off."
                )
        await self.storage.set_switch(
            KILL_SWITCH, "on" if enabled else "off", user=user, now=self.clock()
        )
        log.warning("AWS execution switched %s by %s", "on" if enabled else "off", user)
        if incident is not None:
            await self._record(
                incident,
                user,
                f"AWS execution switched {'on' if enabled else 'off'}",
                {},
                f"{source}:switch",
            )

    async def recover(self) -> list[StepRun]:
        """At start-up: a run found executing was cut off by a restart. Before its call left (its
        result still empty: the executor marks it just before sending) it failed and may be
        requested again; after, its outcome is unknown."""
        found = []
        for run in await self.storage.runs_in_state(StepState.EXECUTING):
            sent = bool(run.result)
            moved = await self.storage.transition(
                run.id,
                from_states={StepState.EXECUTING},
                to=StepState.OUTCOME_UNKNOWN if sent else StepState.FAILED,
                now=self.clock(),
                **(_INTERRUPTED if sent else _NOT_SENT),
            )
            if moved:
                found.append(moved)
                await self._record(
                    run.incident,
                    None,
                    f"Step {run.step}: "
                    + (
                        "outcome unknown after a restart"
                        if sent
                        else "not sent (restart)"
                    ),
                    {"run": run.id},
                    f"recover-{run.id}",
                )
                await self._tell(run.runbook, run.step, key=f"recover-{run.id}")
        return found

    async def drain(self, seconds: float) -> None:
        await self.executor.drain(seconds)

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

    async def _tell(
        self, runbook: int, step: str, *, key: str, reply: str | None = None
    ) -> None:
        """Keep the step's approval escalation in line with its run, then tell people."""
        view = await self.view(runbook)
        run = view.step(step).run
        if run is not None:
            approval_id = f"step-run-{run.id}"
            if run.state is StepState.AWAITING_APPROVAL:
                await self.escalations.schedule_approval_escalation(
                    incident=view.incident.number,
                    approval_id=approval_id,
                    summary=f"{view.step(step).step.title} ({view.incident.key}) is waiting for approval",
                )
            else:
                await self.escalations.cancel_approval_escalation(
                    approval_id=approval_id
                )
        await self.announcer.step_changed(view, step, key=key, reply=reply)

    async def _ran(self, run: StepRun, reply: str | None) -> None:
        await self._tell(
            run.runbook,
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
        if item.run and item.run.state is StepState.OUTCOME_UNKNOWN:
            # The last call may have run: another one could do it twice.
            raise ConflictError(
                f"{item.step.title}: the last call's outcome is unknown. Press Verify to"
                " check it with read-only calls, or mark it done once checked by hand."
            )
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
            run.id, from_states=OPEN_REQUEST, to=state, now=self.clock(), reason=why
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
        await self._tell(run.runbook, run.step, key=source)

    async def _in_own_account(self, label: str, name: str, value: Any) -> None:
        """Refuse an ARN of another AWS account: a step may only act on the bot's own."""
        found = _ARN_ACCOUNT.match(str(value))
        if not found:
            return
        try:
            own = await self.gateway.account_id()
        except AwsCallError as exc:
            raise UsageError(
                f"{label}: cannot check the ARN's account ({exc.code}): {exc.next_step}.",
                field=name,
            ) from None
        if found.group(1) != own:
            raise UsageError(
                f"{label}: that ARN is in account {found.group(1)}; this bot acts only in"
                f" account {own}.",
                field=name,
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
