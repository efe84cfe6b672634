"""`warroom drill SCENARIO`: rehearse any scenario's runbook as a drill incident, through the console.

A scripted driver, like the demo but generic: Alice declares the drill with `/incident drill`, runs
every read-only step, requests approval for every mutating or destructive step (Bob, then Carol,
approve: never the requester), answers step-input forms with ids from the seeded estate, marks the
manual steps done, sets monitoring, resolves, and the post-mortem draft is written. Everything goes
through the console, i.e. through signed Slack requests to the real bot; `world.services` is only
read, to know when a step has settled. A step the sandbox cannot make succeed is skipped through its
Skip… form with the reason, and said so; nothing is faked. The drill then prints its score per
affected component from the post-mortem's own facts. Exit 0 only when every step succeeded or was
done (in a dry run, mutating steps end "not sent", and steps that read what they would have made
are skipped, saying so).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import NotFound
from bot.models.runbooks import Risk, StepState
from bot.sandbox.choices import unknown_scenario
from bot.sandbox.console import Console
from bot.sandbox.drill.state import DrillFailed, DrillState
from bot.sandbox.drill.values import (
    by_name,
    by_type,
    missing,
    read_targets,
    sandbox_region,
    score_table,
)
from bot.sandbox.estate.names import Estate
from bot.sandbox.local import World, local_world
from bot.scenarios.schema import Scenario
from bot.services.postmortem.facts import TargetResult
from bot.services.runbooks.views import RunbookView, StepView, run_captures

APPROVERS = ("bob", "carol", "dave")


@dataclass
class Outcome:
    """How one step of the drill ended; `ok` is False for anything the drill could not explain."""

    title: str
    state: str
    ok: bool
    note: str = ""


class Drill(DrillState):
    """The script: declare, every step in order, monitoring, an update, resolve, the score."""

    def __init__(
        self,
        world: World,
        console: Console,
        scenario: Scenario,
        *,
        dry_run: bool,
        out: Callable[[str], None],
        after: int = 0,
    ) -> None:
        super().__init__(world, console, after=after)
        self.scenario, self.dry_run, self.out = scenario, dry_run, out
        if world.estate is None:
            raise DrillFailed("a drill needs the sandbox estate")
        self.estate: Estate = world.estate
        self.outcomes: list[Outcome] = []
        self.unsent: list[str] = []  # mutating steps a dry run planned and did not send
        self.targets: list[TargetResult] = []

    # -- the script ----------------------------------------------------------------------------
    async def run(self) -> None:
        await self.declare()
        view = await self.view()
        for item in view.steps:
            await self.step(item.step.id)
        await self.console.type("/incident status monitoring")
        await self.until("monitoring", self._monitoring)
        self.console.answers.extend(
            ("monitoring", "Every runbook step is finished; watching the service.")
        )
        await self.console.type("/incident update")
        await self.until("the status update", self._updated)
        self.console.answers.extend(
            (f"Drill of {self.scenario.title} finished", "Drill: no real fault")
        )
        await self.console.type("/incident resolve")
        await self.until("the post-mortem", self._postmortem, within=40)
        await self.score()

    async def declare(self) -> None:
        scenario = self.scenario
        self.out(f"\n### Alice declares a drill of {scenario.title}")
        self.console.answers.extend(
            (
                "",
                scenario.default_severity or "SEV2",
                scenario.id,
                ",".join(scenario.components),
                "",
                f"Drill: {scenario.summary}",
            )
        )
        await self.console.type(f"/incident drill {scenario.id}")
        incident = await self.until("the drill's channel and runbook", self._declared)
        self.console.channel = incident.channel_id or self.console.channel
        await self.until("the step cards", self._cards)
        await self.refresh()

    async def step(self, step_id: str) -> None:
        item = (await self.view()).step(step_id)
        if item.state in (StepState.SUCCEEDED, StepState.DONE):
            return
        self.out(f"\n### {item.step.title} ({item.risk.value})")
        if not item.actionable:
            await self.console.click(
                await self._choice(f"runbook-{self.rb}", "Mark a step done…"),
                option=step_id,
            )
            state = await self.settled(step_id, within=20)
            self._record(item, state, state is StepState.DONE)
            return
        await self.inputs(item)
        card = f"step-{self.rb}-{step_id}"[:255]
        if item.risk is Risk.READ_ONLY:
            await self.console.click(await self._choice(card, "Run", "Run again"))
        else:
            await self.console.click(await self._choice(card, "Request approval"))
            if (
                await self.settled(
                    step_id, within=15, also={StepState.AWAITING_APPROVAL}
                )
                is StepState.AWAITING_APPROVAL
            ):
                await self.approve(step_id, card)
        state = await self.settled(step_id, within=90)
        await self.judge(step_id, card, state)

    async def inputs(self, item: StepView) -> None:
        """Fill the step's input form when a value is missing or the sandbox needs another one."""
        view = await self.view()
        answers, changed = self.input_values(view, item)
        if not changed:
            return
        self.out(
            "  (sandbox values: "
            + ", ".join(f"{n}={v}" for n, v in changed.items())
            + ")"
        )
        self.console.answers.extend(answers)
        await self.console.click(
            await self._choice(f"step-{self.rb}-{item.step.id}"[:255], "Inputs…")
        )
        await self.until("the inputs", lambda: self._stored(changed))

    def input_values(
        self, view: RunbookView, item: StepView
    ) -> tuple[list[str], dict[str, str]]:
        """Every input of the step's form in order, and those that differ from what the runbook has."""
        estate, named = self.estate, by_name(self.estate)
        captures = {
            s.step.id: run_captures(s.run.result)
            for s in view.steps
            if s.run and s.run.result
        }
        answers: list[str] = []
        changed: dict[str, str] = {}
        for name in item.inputs:
            spec, current = view.scenario.input(name), view.inputs.get(name)
            wanted: Any = named.get(name)
            if spec.type.value == "region" and item.plan is not None:
                wanted = sandbox_region(item.plan.service, current, estate)
                if wanted:
                    self.out(
                        f"  (the sandbox has {item.plan.service} only in {wanted}, so this step runs there)"
                    )
            if wanted is None and current is None and spec.default_from:
                _, step, key = spec.default_from.split(".", 2)
                wanted = captures.get(step, {}).get(key)
            if wanted is None and current is None:
                wanted = by_type(spec, estate)
            if wanted is None and current is None:
                raise DrillFailed(
                    f"no sandbox value for the input {name!r} of {item.step.title}"
                )
            if wanted is not None and str(wanted) != str(current):
                changed[name] = str(wanted)
            answers.append(str(wanted if wanted is not None else current))
        return answers, changed

    async def approve(self, step_id: str, card: str) -> None:
        # Found once, on the card Alice requested it from; each approver in turn clicks it.
        button = await self._choice(card, "Approve")
        for person in APPROVERS:
            await self.console.type(f"as {person}")
            await self.console.click(button)
            if await self.state(step_id) is not StepState.AWAITING_APPROVAL:
                break
        await self.console.type("as alice")

    async def judge(self, step_id: str, card: str, state: StepState | None) -> None:
        """Record how the step ended; skip (with the reason, through the UI) what the sandbox cannot do."""
        item = (await self.view()).step(step_id)
        run = item.run
        if state is StepState.SUCCEEDED:
            self._record(item, state, True)
            return
        if state is StepState.SKIPPED and run and run.reason.startswith("dry run"):
            self.unsent.append(item.step.title)
            self._record(
                item, state, self.dry_run, "dry run: planned and approved, not sent"
            )
            return
        error = (
            (run.error.get("message") or run.summary) if run else "it did not finish"
        )
        if self.dry_run and self.unsent and missing(str(error)):
            reason, ok = (
                f"dry run: it reads what an unsent step would have made ({error})",
                True,
            )
        else:
            reason, ok = f"the sandbox could not run it: {error}", False
        mark = "↷" if ok else "✘"
        self.out(
            f"  {mark} {item.step.title}: {state.value if state else 'no answer'}; skipping it: {reason}"
        )
        self.console.answers.append(reason[:480])
        await self.console.click(await self._choice(card, "Skip…"))
        final = await self.settled(step_id, within=10)
        self._record(item, final, ok and final is StepState.SKIPPED, reason)

    async def score(self) -> None:
        settings = self.world.settings
        self.targets = await asyncio.to_thread(read_targets, settings, self.number)
        self.out(
            "\n### Score against the plan's targets (the post-mortem's own figures)"
        )
        for line in score_table(self.targets, dry_run=self.dry_run):
            self.out(line)
        if self.dry_run:
            self.out(
                "  (dry run: nothing was changed; recovery time is the drill's, and data loss is not "
                "measured because nothing was restored)"
            )

    def _record(
        self, item: StepView, state: StepState | None, ok: bool, note: str = ""
    ) -> None:
        self.outcomes.append(
            Outcome(item.step.title, state.value if state else "no answer", ok, note)
        )
        self.out(
            f"  {'✔' if ok else '✘'} {item.step.title}: {state.value if state else 'no answer'}"
        )


async def run_drill(
    scenario: str,
    *,
    directory: Path,
    dry_run: bool = False,
    out: Callable[[str], None] = print,
    aws_endpoint: str | None = None,
    estate: Any | None = None,
) -> int:
    """Play `scenario` as a drill in the sandbox; return the process exit code.

    Without `dry_run` the sandbox executes every approved step (drills are dry runs anywhere else);
    with it, nothing mutating is sent. `aws_endpoint` and `estate` use an AWS stand-in seeded elsewhere.
    """
    problem = unknown_scenario(scenario)
    if problem:  # refused before the world starts, not after it (issue 14)
        out(f"DRILL FAILED: {problem}")
        return 2
    mode = (
        "dry run: no mutating AWS call is sent"
        if dry_run
        else "the sandbox executes approved steps"
    )
    out(f"warroom drill: scenario {scenario} ({mode}), working in {directory}")
    async with (
        local_world(
            directory, aws_endpoint=aws_endpoint, estate=estate, drill_dry_run=dry_run
        ) as world,
        world.console(out=out) as console,
    ):
        try:
            chosen = world.services.runbooks.scenario(scenario)
        except NotFound as exc:
            out(f"DRILL FAILED: {exc.message}")
            return 2
        if chosen.kind != "incident":
            out(
                f"DRILL FAILED: {scenario} is not an incident scenario ({chosen.kind.value})."
            )
            return 2
        # The drill waits on what the bot stored, not on what it printed.
        console.quiet_for = 0.1
        earlier = await world.services.storage.incidents(limit=1)
        drill = Drill(
            world,
            console,
            chosen,
            dry_run=dry_run,
            out=out,
            after=earlier[0].number if earlier else 0,
        )
        try:
            await drill.run()
        except (DrillFailed, LookupError) as exc:
            out(f"\nDRILL FAILED: {exc}")
            return 1
        incident = await drill.incident()
        problems = drill.markers(incident) if incident else ["no drill incident"]
    missed = [o for o in drill.outcomes if not o.ok]
    out(
        f"\n### Drill {'dry run ' if dry_run else ''}summary: {len(drill.outcomes)} steps"
    )
    for outcome in drill.outcomes:
        if outcome.note:
            out(f"  {outcome.state}: {outcome.title}: {outcome.note}")
    for problem in problems:
        out(f"  ✘ {problem}")
    if missed or problems:
        out(
            f"\nDRILL FAILED: {len(missed)} step(s) did not succeed, {len(problems)} marking problem(s)"
        )
        return 1
    out(
        f"\nDrill finished: every step {'succeeded, was done or planned' if dry_run else 'succeeded or was done'}."
        f"\nChannel: #{incident.channel_name if incident else '?'}\nPost-mortem draft: {drill.postmortem}"
    )
    return 0


def main(scenario: str, directory: str | None = None, *, dry_run: bool = False) -> int:
    """Run a drill; its database and post-mortem stay in `directory` (default: a new temp folder)."""
    problem = unknown_scenario(scenario)
    if problem:  # before even the folder is made
        print(f"DRILL FAILED: {problem}")
        return 2
    folder = (
        Path(directory)
        if directory
        else Path(tempfile.mkdtemp(prefix="warroom-drill-"))
    )
    folder.mkdir(parents=True, exist_ok=True)
    return asyncio.run(run_drill(scenario, directory=folder, dry_run=dry_run))
