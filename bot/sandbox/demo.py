"""`warroom demo`: a complete scripted incident in the terminal, against the local stand-ins.

Two simulated responders (Alice declares and requests, Bob approves) go through a whole incident
with the same console a person would use: every line below is typed or clicked, every form filled
through prompts. Each step is checked against what the bot stored; the demo exits 0 only when every
step succeeded.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from bot.models.incidents import Incident, Status
from bot.sandbox.choices import unknown_scenario
from bot.sandbox.console import Console
from bot.sandbox.local import World, local_world

Check = Callable[
    [], Awaitable[str | None]
]  # returns a problem, or None when the step worked


class DemoFailed(Exception):
    pass


class Demo:
    def __init__(
        self,
        world: World,
        console: Console,
        out: Callable[[str], None],
        *,
        after: int = 0,
    ) -> None:
        """`after` is the newest incident number the database held before this run."""
        self.world, self.console, self.out = world, console, out
        self.after = after
        self.failures: list[str] = []
        self.postmortem: Path | None = None
        self.status_page: Path | None = None

    async def step(
        self,
        title: str,
        *lines: str,
        answers: tuple[str, ...] = (),
        check: Check | None = None,
    ) -> None:
        self.out(f"\n### {title}")
        self.console.answers.extend(answers)
        for line in lines:
            await self.console.type(line)
        problem = await check() if check else None
        if problem:
            self.failures.append(f"{title}: {problem}")
            self.out(f"  ✘ {problem}")
            raise DemoFailed(problem)
        self.out(f"  ✔ {title}")

    async def expect_step(
        self, title: str, state: str, *, within: float = 20.0
    ) -> None:
        """Wait until the runbook step whose title contains `title` is in `state`."""
        number = (await self.incident()).number
        loop = asyncio.get_running_loop()
        deadline, current = loop.time() + within, "?"
        while loop.time() < deadline:
            for runbook in await self.world.services.storage.runbooks_for(number):
                view = await self.world.services.runbooks.view(runbook.id)
                for item in view.steps:
                    if title.lower() in item.step.title.lower():
                        current = item.state.value
            if current == state:
                return
            await asyncio.sleep(0.1)
        problem = f"step {title!r} is {current}, expected {state}"
        self.failures.append(problem)
        raise DemoFailed(problem)

    def timeline_has(self, kind: str) -> Check:
        async def check() -> str | None:
            entries = await self.world.services.storage.timeline(
                (await self.incident()).number
            )
            return (
                None
                if any(e.kind == kind for e in entries)
                else f"no {kind} on the timeline"
            )

        return check

    async def incident(self) -> Incident:
        """The incident this run declared (a `--dir` used before holds earlier ones)."""
        incidents = await self.world.services.storage.incidents()
        if not incidents or incidents[0].number <= self.after:
            raise DemoFailed("no incident was declared")
        return incidents[0]


async def run_demo(
    scenario: str, *, directory: Path, out: Callable[[str], None] = print
) -> int:
    """Run the scripted incident; return the process exit code."""
    out(f"warroom demo: scenario {scenario}, working in {directory}")
    async with local_world(directory) as world, world.console(out=out) as console:
        earlier = await world.services.storage.incidents(limit=1)
        demo = Demo(world, console, out, after=earlier[0].number if earlier else 0)
        try:
            await _script(demo, scenario)
        except (DemoFailed, LookupError) as exc:
            out(f"\nDEMO FAILED: {exc}")
            return 1
    out(
        f"\nDemo finished: every step succeeded.\nDatabase: {directory / 'warroom.db'}\nPost-mortem draft: {demo.postmortem}"
        f"\nStatus page: {demo.status_page} (served at /status while the bot runs)"
    )
    return 0


async def _script(demo: Demo, scenario: str) -> None:
    """The scripted incident. Every check reads what the bot stored, not what it printed."""
    services = demo.world.services

    async def declared() -> str | None:
        incident = await demo.incident()
        if not (incident.channel_id and incident.card_ts):
            return "the incident channel or its card is missing"
        if not await services.storage.runbooks_for(incident.number):
            return "the runbook was not posted"
        demo.console.channel = incident.channel_id
        return None

    await demo.step(
        "Alice declares a SEV1 from #incident-response, choosing the scenario",
        "/incident declare Database connection errors",
        answers=(
            "",
            "SEV1",
            scenario,
            "database,api",
            "",
            "API returns 500s; /api/health/database is failing",
        ),
        check=declared,
    )

    async def paged() -> str | None:
        entries = await services.storage.timeline((await demo.incident()).number)
        texts = [
            m.text for m in demo.world.slack.workspace.messages(demo.console.channel)
        ]
        return (
            None
            if any("would page" in t for t in texts)
            or any(e.kind == "page" for e in entries)
            else "no page"
        )

    await demo.step(
        "The on-call rotation is paged (log-only pager: no PagerDuty here)", check=paged
    )
    await demo.step(
        "Bob reports what he sees",
        "as bob",
        "say RDS shows connection issues since 10:02",
        check=demo.timeline_has("message"),
    )

    demo.out("\n### Alice runs the read-only checks")
    await demo.console.type("as alice")
    for step in (
        "Check RDS instance status",
        "Check backup availability",
        "Confirm the snapshot",
    ):
        await demo.console.click("Run", on=step)
        await demo.expect_step(step, "succeeded")

    await demo.console.click("Request approval", on="restore from snapshot")
    await demo.expect_step("restore from snapshot", "awaiting-approval")
    demo.out("\n### Alice tries to approve her own request")
    await demo.console.click("Approve", on="restore from snapshot")
    await demo.expect_step("restore from snapshot", "awaiting-approval")
    demo.out("  ✔ refused: the requester cannot approve")

    demo.out(
        "\n### Bob and Carol approve the exact plan (a destructive step needs two)"
    )
    await demo.console.type("as carol")
    await demo.console.type("say Joining to review the restore")
    for person in ("bob", "carol"):
        await demo.console.type(f"as {person}")
        await demo.console.click("Approve", on="restore from snapshot")
    await demo.expect_step("restore from snapshot", "succeeded", within=60)
    await demo.console.type("as alice")
    await demo.console.click("Run", on="restored database's endpoint")
    await demo.expect_step("restored database's endpoint", "succeeded")

    async def monitoring() -> str | None:
        incident = await demo.incident()
        return (
            None
            if incident.status is Status.MONITORING and incident.mitigated_at
            else "not monitoring"
        )

    await demo.step(
        "Alice marks it mitigated", "/incident status monitoring", check=monitoring
    )

    async def public() -> str | None:
        await services.status_page.wait_idle()
        directory = services.status_page.sink.directory
        index = directory / "index.html" if directory else None
        if index is None or "restored" not in index.read_text(encoding="utf-8"):
            return "the status page does not show the public update"
        demo.status_page = index
        return None

    await demo.step(
        "Alice posts a status update with a public text; the status page shows it",
        "/incident update",
        answers=(
            "monitoring",
            "Restored bodyscript-restored from rds:bodyscript-0930; API pointed at it",
            "Logins and uploads work again; we are watching the restored database.",
        ),
        check=public,
    )

    async def resolved() -> str | None:
        incident = await demo.incident()
        if incident.status is not Status.RESOLVED:
            return "not resolved"
        await services.postmortems.wait_idle(within=30)
        drafts = await services.storage.postmortems_of(incident.number)
        if not drafts or not drafts[-1].path.exists():
            return "no post-mortem draft was written"
        demo.postmortem = drafts[-1].path
        return None

    await demo.step(
        "Alice resolves it, saying what the post-mortem needs first; the draft is written and uploaded",
        "/incident resolve",
        answers=(
            "Restored the database from the newest snapshot",
            "Storage filled up on the primary",
            "alert",
            "API errors for 9 minutes: 1,240 failed requests",
        ),
        check=resolved,
    )

    async def filed() -> str | None:
        items = await services.storage.followups((await demo.incident()).number)
        if not items or not items[-1].tracker_url:
            return "the follow-up was not filed in the tracker"
        return None

    due = (services.clock() + timedelta(days=7)).date().isoformat()
    await demo.step(
        "Alice adds a follow-up for Bob; it is filed as an issue in the tracker (GitHub stand-in)",
        f"/incident followup detect: Alarm when free storage is below 20% @bob {due} high",
        check=filed,
    )

    async def done() -> str | None:
        [item] = await services.storage.followups((await demo.incident()).number)
        number = int(item.tracker_key or 0)
        demo.world.github.close(number)  # Bob closes the issue on GitHub
        await services.followups.sync()  # what the scheduled sync does
        item = await services.storage.followup(item.id) or item
        return (
            None
            if item.state.value == "done"
            else "the closed issue did not come back done"
        )

    await demo.step(
        "Bob closes the issue on GitHub; the bot reads it back as done", check=done
    )

    async def reshared() -> str | None:
        number = (await demo.incident()).number
        await services.postmortems.wait_idle(within=30)
        versions = await services.storage.entries_of(number, ("postmortem_version",))
        if len(versions) < 2:
            return "the completed post-mortem was not shared again"
        drafts = await services.storage.postmortems_of(number)
        demo.postmortem = drafts[-1].path
        return None

    await demo.step(
        "Alice completes the post-mortem; it is rebuilt with the action item done and shared as version 2",
        "/incident postmortem edit",
        answers=(
            "alert",
            "API errors for 9 minutes: 1,240 failed requests",
            "Promoted the restored instance and moved the API to its endpoint",
            "Storage filled up on the primary",
            "No alarm on free storage",
            "",
        ),
        check=reshared,
    )


def main(scenario: str = "database-failure", directory: str | None = None) -> int:
    """Run the demo; its database and post-mortem stay in `directory` (default: a new temp folder)."""
    problem = unknown_scenario(scenario)
    if problem:  # before anything starts (issue 14)
        print(f"DEMO FAILED: {problem}")
        return 2
    folder = (
        Path(directory) if directory else Path(tempfile.mkdtemp(prefix="warroom-demo-"))
    )
    folder.mkdir(parents=True, exist_ok=True)
    if scenario != "database-failure":
        from bot.sandbox.drill.driver import run_drill

        print(
            f"The narrated demo is written for database-failure; {scenario} is played end to end by the"
            " generic driver, as a drill (every read-only step run, every change approved and run)."
        )
        return asyncio.run(run_drill(scenario, directory=folder))
    return asyncio.run(run_demo(scenario, directory=folder))
