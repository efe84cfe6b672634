"""Execution of a claimed step run, in a background task the service tracks: call, wait, verify, record.

A run reaches this module already in state `executing` (the claim is the runbook service's). It sends
the call through the AWS gateway (boto3 off the event loop), re-sends a mutating call only after an
error that proves it did not run, follows it with the step's waiter and verify read, and writes every
outcome to storage before the Slack side is told. A failure that does not prove the call did not run
leaves the run `outcome-unknown`, never re-sent. It must not decide who may run what.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from bot.errors import BotError
from bot.gateways.aws.gateway import AwsCallError, AwsGateway, AwsWaitError
from bot.models.incidents import Clock, NewEntry, to_iso
from bot.models.runbooks import Plan, StepRun, StepState
from bot.scenarios.calls import Guard, Verify
from bot.scenarios.schema import ActionStep, AnyStep, AwsStep
from bot.scenarios.templating import capture, render
from bot.services.runbooks.action_runs import ActionRunner
from bot.storage import Storage

log = logging.getLogger(__name__)
Notify = Callable[[StepRun, str | None], Awaitable[None]]
MUTATING_TRIES = 3
_EXECUTING = frozenset({StepState.EXECUTING})
# In an executing run's result from just before its first call leaves; every later result keeps
# some key, so an executing run with an empty result provably sent nothing (see `recover`).
SENDING = "sending_at"


def error_of(exc: AwsCallError) -> dict[str, Any]:
    return {
        "code": exc.code,
        "message": exc.aws_message or exc.message,
        "next_step": exc.next_step,
        "request_id": exc.request_id,
        "proves_not_run": exc.proves_not_run,
    }


def check_verify(condition: str, actual: Any, expected: Any) -> bool:
    if condition in ("at_least", "at_most"):
        try:
            a, e = float(actual), float(expected)
        except (TypeError, ValueError):
            return False  # not a number: the check cannot hold
        return a >= e if condition == "at_least" else a <= e
    if condition == "contains":
        return (
            actual is not None and str(expected) in [str(a) for a in actual]
            if isinstance(actual, list)
            else str(expected) in str(actual)
        )
    if condition == "not_contains":
        return actual is None or (
            str(expected)
            not in (
                [str(a) for a in actual] if isinstance(actual, list) else str(actual)
            )
        )
    return str(actual) == str(expected)


class Executor:
    """Runs claimed step runs in tracked background tasks."""

    def __init__(
        self,
        *,
        storage: Storage,
        gateway: AwsGateway,
        actions: ActionRunner,
        clock: Clock,
        notify: Notify,
        retry_base: float = 0.5,
    ) -> None:
        self.storage, self.gateway, self.actions, self.clock = (
            storage,
            gateway,
            actions,
            clock,
        )
        self.notify, self.retry_base = notify, retry_base
        self.tasks: set[asyncio.Task[None]] = set()

    def launch(
        self, run: StepRun, step: AnyStep, context: dict[str, Any], tags: dict[str, str]
    ) -> None:
        task = asyncio.create_task(
            self._go(run, step, context, tags), name=f"step-run-{run.id}"
        )
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self, seconds: float) -> None:
        """Wait a bounded time for in-flight calls; what is left stays `executing` for recovery."""
        if not self.tasks:
            return
        _, pending = await asyncio.wait(set(self.tasks), timeout=seconds)
        for task in pending:
            task.cancel()
        if pending:
            log.warning(
                "%d step run(s) still executing at shutdown; they become outcome-unknown",
                len(pending),
            )
            await asyncio.gather(*pending, return_exceptions=True)

    async def _go(
        self, run: StepRun, step: AnyStep, context: dict[str, Any], tags: dict[str, str]
    ) -> None:
        try:
            if isinstance(step, ActionStep):
                await self._action(run)
            elif isinstance(step, AwsStep):
                await self._aws(run, step, context, tags)
        # a template or plan problem found late: nothing was sent
        except BotError as exc:
            await self._finish(
                run,
                StepState.FAILED,
                error={
                    "code": "StepError",
                    "message": exc.message,
                    "next_step": "fix the inputs and try again",
                },
            )

    async def _finish(
        self, run: StepRun, state: StepState, *, reply: str | None = None, **fields: Any
    ) -> None:
        now = self.clock()
        # When the call started (the claim) and ended, for the post-mortem's durations.
        times = {"started_at": to_iso(run.updated_at), "finished_at": to_iso(now)}
        fields["result"] = {**(fields.get("result") or {}), **times}
        done = await self.storage.transition(
            run.id, from_states=_EXECUTING, to=state, now=now, **fields
        )
        if done is None:
            return
        text = fields.get("summary") or (fields.get("error") or {}).get("code", "")
        await self.storage.append(
            done.incident,
            [
                NewEntry(
                    kind="runbook",
                    actor=None,
                    text=f"Step {run.step} {state.value}: {text}"[:500],
                    data={
                        "step": run.step,
                        "attempt": run.attempt,
                        "state": state.value,
                        "run": run.id,
                    },
                    source=f"run-{run.id}:{state.value}",
                )
            ],
            now=self.clock(),
        )
        await self.notify(done, reply)

    async def _sending(self, run: StepRun) -> None:
        """Record, after every guard read and just before the first call leaves, that it may have
        left: a run cut off by a restart with an empty result provably sent nothing."""
        await self.storage.transition(
            run.id,
            from_states=_EXECUTING,
            to=StepState.EXECUTING,
            now=run.updated_at,  # the claim's time stays the step's start
            result={SENDING: to_iso(self.clock())},
        )

    async def _send(
        self, plan: Plan, mutating: bool, tags: dict[str, str], role: str | None
    ) -> Any:
        tries = MUTATING_TRIES if mutating else 1
        for attempt in range(1, tries + 1):
            try:
                return await self.gateway.call(
                    service=plan.service,
                    operation=plan.operation,
                    region=plan.region,
                    params=plan.params,
                    mutating=mutating,
                    role_arn=role,
                    session_tags=tags,
                )
            except AwsCallError as exc:
                # Re-send a mutating call only when AWS proved it did not run (throttled, refused).
                if not (exc.proves_not_run and exc.retryable) or attempt == tries:
                    raise
                await asyncio.sleep(self.retry_base * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    async def _aws(
        self, run: StepRun, step: AwsStep, context: dict[str, Any], tags: dict[str, str]
    ) -> None:
        assert run.plan is not None
        mutating = run.required_approvals > 0 or step.read_only is False
        role = str(render(step.assume_role, context)) if step.assume_role else None
        blocked = (
            await self._guarded(step, context, run.plan.region, role, tags)
            if mutating
            else None
        )
        if blocked is not None:
            await self._finish(
                run,
                StepState.FAILED,
                summary=f"Not sent: {blocked['message']}",
                error=blocked,
            )
            return
        await self._sending(run)
        try:
            result = await self._send(run.plan, mutating, tags, role)
        except AwsCallError as exc:
            state = (
                StepState.FAILED
                if (exc.proves_not_run or not mutating)
                else StepState.OUTCOME_UNKNOWN
            )
            await self._finish(
                run, state, error=error_of(exc), summary=f"{exc.code}: {exc.next_step}"
            )
            return
        captures = {
            name: capture(expr, result.response) for name, expr in step.captures.items()
        }
        context["steps"] = {**context["steps"], step.id: captures}
        stored = {
            "response": result.response,
            "captures": captures,
            "request_id": result.request_id,
        }
        if step.restore_point:
            # The call was sent: a restore point that cannot be worked out must not fail the step.
            with contextlib.suppress(BotError):
                stored["restore_point"] = str(render(step.restore_point, context))
        if step.wait is not None:
            progress = await self.storage.transition(
                run.id,
                from_states=_EXECUTING,
                to=StepState.EXECUTING,
                now=self.clock(),
                result=stored,
                summary="Sent; waiting for AWS to finish",
            )
            if progress:
                await self.notify(progress, None)
            try:
                await self.gateway.wait(
                    service=step.service,
                    waiter=step.wait.waiter,
                    region=run.plan.region,
                    params=render(step.wait.params, context),
                    delay=step.wait.delay,
                    max_attempts=step.wait.max_attempts,
                    role_arn=role,
                    session_tags=tags,
                    on_attempt=self._progress(
                        run, step.wait.waiter, step.wait.max_attempts
                    ),
                )
            except AwsWaitError as exc:
                state = StepState.OUTCOME_UNKNOWN if exc.timed_out else StepState.FAILED
                await self._finish(
                    run,
                    state,
                    result=stored,
                    error=error_of(exc),
                    summary=exc.next_step,
                )
                return
            except AwsCallError as exc:
                await self._finish(
                    run,
                    StepState.OUTCOME_UNKNOWN,
                    result=stored,
                    error=error_of(exc),
                    summary=exc.next_step,
                )
                return
        summary = self._summary(step, captures)
        if step.verify is not None:
            ok, seen = await self.check(step, context, run.plan.region, role, tags)
            stored["verified"] = seen
            if not ok:
                await self._finish(
                    run,
                    StepState.FAILED,
                    result=stored,
                    summary=f"Sent, but verification failed: {seen}",
                    error={
                        "code": "VerifyFailed",
                        "message": seen,
                        "next_step": "inspect the resource before going on",
                    },
                )
                return
            summary = f"{summary}; verified: {seen}".strip("; ")
        await self._finish(
            run,
            StepState.SUCCEEDED,
            result=stored,
            summary=summary or "Done",
            reply=f"*{step.title}*: {summary or 'done'}",
        )

    def _progress(
        self, run: StepRun, waiter: str, most: int
    ) -> Callable[[int], Awaitable[None]]:
        """Live progress in the card while a waiter polls (from the second poll on)."""

        async def show(attempt: int) -> None:
            if attempt < 2:
                return
            moved = await self.storage.transition(
                run.id,
                from_states=_EXECUTING,
                to=StepState.EXECUTING,
                now=self.clock(),
                summary=f"Waiting for {waiter}: poll {attempt} of at most {most}",
            )
            if moved:
                await self.notify(moved, None)

        return show

    async def guard_checks(
        self,
        step: AwsStep,
        context: dict[str, Any],
        region: str,
        role: str | None,
        tags: dict[str, str],
    ) -> AsyncIterator[tuple[Guard, bool, str]]:
        """Read each of the step's guards in turn: (guard, whether it holds, what was seen)."""
        for guard in step.guards:
            try:
                ok, seen = await self.check(
                    step, context, region, role, tags, call=guard
                )
            except AwsCallError as exc:
                ok, seen = False, f"the check could not be read ({exc.code})"
            yield guard, ok, seen

    async def _guarded(
        self,
        step: AwsStep,
        context: dict[str, Any],
        region: str,
        role: str | None,
        tags: dict[str, str],
    ) -> dict[str, Any] | None:
        """The error to finish with when a guard does not hold (or cannot be read); None to go on."""
        async for guard, ok, seen in self.guard_checks(
            step, context, region, role, tags
        ):
            if not ok:
                return {
                    "code": "GuardFailed",
                    "message": f"{guard.why}: {seen}",
                    "proves_not_run": True,
                    "next_step": "put right what the guard checks, then request the step again",
                }
        return None

    async def check(
        self,
        step: AwsStep,
        context: dict[str, Any],
        region: str,
        role: str | None,
        tags: dict[str, str],
        *,
        call: Verify | None = None,
    ) -> tuple[bool, str]:
        """Run the step's verify read (or `call`, a guard); return whether it holds and what was seen."""
        verify = call or step.verify
        assert verify is not None
        result = await self.gateway.call(
            service=verify.service or step.service,
            operation=verify.operation,
            region=region,
            params=render(verify.params, context),
            mutating=False,
            role_arn=role,
            session_tags=tags,
        )
        actual = capture(verify.query, result.response)
        expected = render(verify.expected, context)
        return check_verify(
            verify.condition, actual, expected
        ), f"{verify.query} = {actual} (expected {verify.condition} {expected})"

    @staticmethod
    def _summary(step: AwsStep, captures: dict[str, Any]) -> str:
        shown = [
            f"{k}: {v}"
            for k, v in captures.items()
            if v is not None and not isinstance(v, dict | list)
        ]
        return ", ".join(shown)[:900]

    async def _action(self, run: StepRun) -> None:
        assert run.plan is not None
        await self._sending(run)
        try:
            outcome = await self.actions.execute(run.plan)
        except AwsCallError as exc:
            state = (
                StepState.FAILED if exc.proves_not_run else StepState.OUTCOME_UNKNOWN
            )
            await self._finish(
                run, state, error=error_of(exc), summary=f"{exc.code}: {exc.next_step}"
            )
            return
        stored = {
            "response": outcome.response,
            "outputs": [[k, v] for k, v in outcome.outputs.items()],
        }
        await self._finish(
            run,
            StepState.SUCCEEDED,
            result=stored,
            summary=outcome.summary,
            reply=outcome.summary,
        )
