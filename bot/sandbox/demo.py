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
from pathlib import Path

from bot.models import Incident, Status
from bot.sandbox.console import Console
from bot.sandbox.local import World, local_world

Check = Callable[
    [], Awaitable[str | None]
]  # returns a problem, or None when the step worked


class DemoFailed(Exception):
    pass


class Demo:
    def __init__(
        self, world: World, console: Console, out: Callable[[str], None]
    ) -> None:
        self.world, self.console, self.out = world, console, out
        self.failures: list[str] = []

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

    async def incident(self) -> Incident:
        incidents = await self.world.services.storage.incidents()
        if not incidents:
            raise DemoFailed("no incident was declared")
        return incidents[0]


async def run_demo(
    scenario: str, *, directory: Path, out: Callable[[str], None] = print
) -> int:
    """Run the scripted incident; return the process exit code."""
    out(f"warroom demo: scenario {scenario}, working in {directory}")
    async with local_world(directory) as world, world.console(out=out) as console:
        demo = Demo(world, console, out)
        try:
            await _script(demo, scenario)
        except (DemoFailed, LookupError) as exc:
            out(f"\nDEMO FAILED: {exc}")
            return 1
    out(f"\nDemo finished: every step succeeded. Database: {directory / 'warroom.db'}")
    return 0


async def _script(demo: Demo, scenario: str) -> None:
    async def declared() -> str | None:
        incident = await demo.incident()
        if not (incident.channel_id and incident.card_ts):
            return "the incident channel or its card is missing"
        demo.console.channel = incident.channel_id
        return None

    await demo.step(
        "Alice declares a SEV1 from #incident-response",
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

    async def noted() -> str | None:
        entries = await demo.world.services.storage.timeline(
            (await demo.incident()).number
        )
        return (
            None
            if any(e.kind == "message" for e in entries)
            else "the message is not on the timeline"
        )

    await demo.step(
        "Bob reports what he sees",
        "as bob",
        "say RDS shows connection issues since 10:02",
        check=noted,
    )

    async def monitoring() -> str | None:
        incident = await demo.incident()
        return (
            None
            if incident.status is Status.MONITORING and incident.mitigated_at
            else "not monitoring"
        )

    await demo.step(
        "Alice marks it mitigated",
        "as alice",
        "/incident status monitoring",
        check=monitoring,
    )

    async def resolved() -> str | None:
        incident = await demo.incident()
        return None if incident.status is Status.RESOLVED else "not resolved"

    await demo.step(
        "Alice resolves it", "/incident resolve",
        answers=("Restored the database from the newest snapshot", "Storage filled up on the primary"),
        check=resolved,
    )  # fmt: skip


def main(scenario: str = "database-failure", directory: str | None = None) -> int:
    if directory:
        return asyncio.run(run_demo(scenario, directory=Path(directory)))
    with tempfile.TemporaryDirectory(prefix="warroom-demo-") as tmp:
        return asyncio.run(run_demo(scenario, directory=Path(tmp)))
