"""Runbook step outcomes after the fact: mark done or skip, cancel, verify, the kill switch, recovery
of runs cut off by a restart, and the bounded wait for in-flight calls at shutdown.

A run found `executing` at start-up becomes `outcome-unknown` and is never re-sent; Verify checks it
with read-only calls. It knows nothing of Slack.
"""

from __future__ import annotations

import logging

from bot.errors import ConflictError, UsageError
from bot.gateways.aws.gateway import AwsCallError
from bot.models.runbooks import OPEN_REQUEST, StepRun, StepState
from bot.scenarios.schema import (
    ActionStep,
    AwsStep,
    ManualStep,
)
from bot.services.runbooks.base import KILL_SWITCH, RunbookBase

log = logging.getLogger(__name__)


class RunbookOutcomes(RunbookBase):
    """Manual outcomes, cancel, verify, kill switch, recovery and shutdown."""

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
        await self.announcer.step_changed(
            await self.view(runbook), step, key=f"{source}:mark"
        )
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
        await self.announcer.step_changed(
            await self.view(run.runbook),
            run.step,
            key=f"{source}:verify",
            reply=f"*{step.title}* verify: {seen}",
        )
        return done or run

    # -- kill switch, recovery, shutdown ----------------------------------------------------------
    async def set_aws_enabled(
        self, *, enabled: bool, user: str, incident: int | None, source: str
    ) -> None:
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
        """At start-up: a run found executing was cut off mid-call; its outcome is unknown."""
        found = []
        for run in await self.storage.runs_in_state(StepState.EXECUTING):
            moved = await self.storage.transition(
                run.id,
                from_states={StepState.EXECUTING},
                to=StepState.OUTCOME_UNKNOWN,
                now=self.clock(),
                summary="The bot restarted during this call: verify before anything else",
                error={
                    "code": "OutcomeUnknown",
                    "message": "interrupted by a restart",
                    "next_step": "press Verify; never re-run blindly",
                },
            )
            if moved:
                found.append(moved)
                await self._record(
                    run.incident,
                    None,
                    f"Step {run.step}: outcome unknown after a restart",
                    {"run": run.id},
                    f"recover-{run.id}",
                )
                await self.announcer.step_changed(
                    await self.view(run.runbook), run.step, key=f"recover-{run.id}"
                )
        return found

    async def drain(self, seconds: float) -> None:
        await self.executor.drain(seconds)
