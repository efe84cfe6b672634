"""What a drill reads and waits on: the bot's own records of the drill, and the console's choices.

Owns the waiting half of `bot.sandbox.drill.driver`: each wait polls what the bot stored (storage, the
runbook view) or what the local Slack workspace received, never what the console printed, and gives
up with `DrillFailed` naming what it waited for. It only reads; every action goes through the console.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bot.models.incidents import Incident, Status
from bot.models.runbooks import StepState
from bot.sandbox.console import Console
from bot.sandbox.local import World
from bot.services.runbooks.views import RunbookView

ENDED = frozenset(
    {
        StepState.SUCCEEDED,
        StepState.DONE,
        StepState.SKIPPED,
        StepState.FAILED,
        StepState.OUTCOME_UNKNOWN,
    }
)


class DrillFailed(Exception):
    pass


class DrillState:
    """The drill's incident and runbook as the bot stored them."""

    def __init__(self, world: World, console: Console, *, after: int = 0) -> None:
        """`after` is the newest incident number the database held before this drill."""
        self.world, self.console, self.services = world, console, world.services
        self.after = after
        self.number, self.rb = 0, 0
        self.postmortem: Path | None = None

    # -- what the bot stored -------------------------------------------------------------------
    async def view(self) -> RunbookView:
        return await self.services.runbooks.view(self.rb)

    async def state(self, step_id: str) -> StepState:
        return (await self.view()).step(step_id).state

    async def settled(
        self,
        step_id: str,
        *,
        within: float,
        also: frozenset[StepState] | set[StepState] = frozenset(),
    ) -> StepState | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            state = await self.state(step_id)
            if state in ENDED or state in also:
                return state
            await asyncio.sleep(0.05)
        return None

    async def until(
        self, what: str, check: Callable[[], Awaitable[Any]], *, within: float = 20
    ) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            found = await check()
            if found:
                return found
            await asyncio.sleep(0.05)
        raise DrillFailed(f"gave up waiting for {what}")

    async def incident(self) -> Incident | None:
        """The drill this run declared (a `--dir` used before holds earlier incidents)."""
        drills = [
            i
            for i in await self.services.storage.incidents()
            if i.drill and i.number > self.after
        ]
        return drills[0] if drills else None

    async def _declared(self) -> Incident | None:
        incident = await self.incident()
        if not (incident and incident.channel_id and incident.card_ts):
            return None
        books = await self.services.storage.runbooks_for(incident.number)
        if not books:
            return None
        self.number, self.rb = incident.number, books[0].id
        return incident

    async def _cards(self) -> bool:
        cards = await self.services.storage.card_timestamps(self.number)
        wanted = [s.step.id for s in (await self.view()).steps if s.actionable]
        return all(f"card:{self.rb}:{step}" in cards for step in wanted)

    async def _stored(self, values: dict[str, str]) -> bool:
        stored = await self.services.storage.inputs(self.rb)
        return all(str(stored.get(name)) == value for name, value in values.items())

    async def _updated(self) -> bool:
        texts = [
            m.text for m in self.world.slack.workspace.messages(self.console.channel)
        ]
        return any("INCIDENT UPDATE" in text for text in texts)

    async def _monitoring(self) -> bool:
        incident = await self.incident()
        return bool(
            incident and incident.status in (Status.MONITORING, Status.RESOLVED)
        )

    async def _postmortem(self) -> Path | None:
        incident = await self.incident()
        if not incident or incident.status is not Status.RESOLVED:
            return None
        drafts = [
            d
            for d in await self.services.storage.postmortems_of(incident.number)
            if d.path.suffix == ".md" and d.path.exists()
        ]
        self.postmortem = drafts[-1].path if drafts else None
        return self.postmortem

    # -- the console ---------------------------------------------------------------------------
    async def refresh(self) -> None:
        await self.console.settle()
        await self.console.show()

    async def _choice(self, block_id: str, *labels: str, within: float = 20) -> int:
        """The newest numbered choice with one of `labels` on the message block `block_id`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            for number in range(len(self.console.choices), 0, -1):
                choice = self.console.choices[number - 1][0]
                if (
                    choice.block_id == block_id
                    and choice.label.split(" (")[0] in labels
                ):
                    return number
            if loop.time() > deadline:
                raise DrillFailed(f"no {' / '.join(labels)} on {block_id}")
            await self.refresh()  # the message that offers it may not be shown yet

    def markers(self, incident: Incident) -> list[str]:
        """What is not marked as a drill: the channel name, the bot's notifications, the post-mortem."""
        problems = []
        if not (incident.channel_name or "").startswith(f"drill-{incident.number}-"):
            problems.append(
                f"the channel #{incident.channel_name} is not named drill-{incident.number}-…"
            )
        workspace = self.world.slack.workspace
        notices = [
            m.text
            for cid in workspace.channels
            for m in workspace.messages(cid)
            if any(
                n in m.text
                for n in ("INCIDENT ALERT", "INCIDENT UPDATE", "INCIDENT RESOLVED")
            )
        ]
        problems += [
            f"a notification without [DRILL]: {t.splitlines()[0][:80]}"
            for t in notices
            if "[DRILL]" not in t
        ]
        if not notices:
            problems.append("no notification was posted")
        first = (
            self.postmortem.read_text(encoding="utf-8").split("\n", 1)[0]
            if self.postmortem
            else ""
        )
        if "DRILL" not in first:
            problems.append("the post-mortem draft does not say DRILL")
        return problems
