"""The plan's daily backup verification, run on a schedule (scenario `daily-backup-checks`).

Owns running the scenario's read-only AWS steps (templated through `bot/scenarios/templating.py`, called through
`AwsGateway` with `mutating=False`), deciding what failed (an AWS error, or captures that all found
nothing, such as a listing with no backup in it), and the daily schedule as a reminder row (a run missed
during downtime happens once). It reports to the announcement channel only when a check fails.
Must not: run anything that is not read-only, or know about Slack.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from bot.config import Settings
from bot.errors import BotError
from bot.gateways.aws.gateway import AwsGateway
from bot.models.incidents import Clock
from bot.scenarios.operations import is_read_only
from bot.scenarios.schema import AwsStep, Scenario, load_scenario, shipped_directory
from bot.scenarios.templating import build_context, capture, render
from bot.services.ports import CommsPort
from bot.services.scheduling.reminders import Fired, ReminderService
from bot.storage import Storage
from bot.storage.reminders import Reminder

log = logging.getLogger(__name__)
SCENARIO_ID = "daily-backup-checks"
KEY = "backup-checks"


@dataclass(frozen=True)
class CheckResult:
    step_id: str
    title: str
    ok: bool
    detail: str
    advice: str = ""


def next_run(now: datetime, at: str) -> datetime:
    """The first `HH:MM` UTC strictly after `now`."""
    hour, minute = (int(part) for part in at.split(":"))
    today = datetime.combine(now.date(), time(hour, minute), tzinfo=now.tzinfo)
    return today if today > now else today + timedelta(days=1)


class BackupCheckService:
    """Run the daily backup checks and say so only when one fails."""

    def __init__(
        self,
        *,
        storage: Storage,
        settings: Settings,
        clock: Clock,
        port: CommsPort,
        aws: AwsGateway,
        scenario: Scenario | None = None,
    ) -> None:
        self.storage, self.settings, self.clock = storage, settings, clock
        self.port, self.aws = port, aws
        self._scenario = scenario

    @property
    def scenario(self) -> Scenario:
        if self._scenario is None:
            self._scenario = load_scenario(shipped_directory() / f"{SCENARIO_ID}.yaml")
        return self._scenario

    def steps(self) -> list[AwsStep]:
        """The scenario's read-only AWS steps (manual steps are for people, not the schedule)."""
        return [
            step
            for _, step in self.scenario.steps()
            if isinstance(step, AwsStep) and is_read_only(step.service, step.operation)
        ]

    async def run_checks(self, *, now: datetime) -> list[CheckResult]:
        """Run every check once; failures are results, not exceptions."""
        context = build_context(now=now)
        results = []
        for step in self.steps():
            try:
                params = render(step.params, context)
                region = str(render(step.region, context))
                result = await self.aws.call(
                    service=step.service,
                    operation=step.operation,
                    region=region,
                    params=params,
                    mutating=False,
                )
                values = {
                    name: capture(expr, result.response)
                    for name, expr in step.captures.items()
                }
            except BotError as exc:
                results.append(
                    CheckResult(
                        step.id, step.title, False, exc.message, step.on_failure
                    )
                )
                continue
            found = {k: v for k, v in values.items() if v not in (None, "", [])}
            if values and not found:  # e.g. a listing with no backup in it
                detail = f"found nothing ({', '.join(values)} empty)"
                results.append(
                    CheckResult(step.id, step.title, False, detail, step.on_failure)
                )
            else:
                shown = ", ".join(f"{k}={v}" for k, v in found.items())
                results.append(CheckResult(step.id, step.title, True, shown))
        return results

    async def run_and_report(self, *, now: datetime, key: str) -> list[CheckResult]:
        """Run the checks and post to the announcement channel if any failed."""
        results = await self.run_checks(now=now)
        failed = [r for r in results if not r.ok]
        log.info("backup checks: %d of %d failed", len(failed), len(results))
        if failed:
            lines = [
                f":warning: *Daily backup checks: {len(failed)} of {len(results)} failed*"
            ]
            for r in failed:
                lines.append(
                    f"• *{r.title}*: {r.detail}"
                    + (f"\n   {r.advice}" if r.advice else "")
                )
            await self.port.announce("\n".join(lines), key=key)
        return results

    # -- the schedule ------------------------------------------------------------------------------
    def register(self, reminders: ReminderService) -> None:
        reminders.register(KEY, self._fire)

    async def ensure_scheduled(self) -> Reminder | None:
        """Keep one schedule row in step with the setting (created, kept, or stopped)."""
        if self.settings.backup_check_time is None:
            await self.storage.reminders_cancel(key=KEY)
            return None
        now = self.clock()
        existing = await self.storage.reminder_get(KEY)
        wanted_time = self.settings.backup_check_time
        keep = (
            existing is not None
            and existing.status == "active"
            and existing.data.get("at") == wanted_time
        )
        return await self.storage.reminder_set(
            key=KEY,
            kind=KEY,
            due_at=next_run(now, wanted_time),
            now=now,
            data={"at": wanted_time},
            only_if_new=keep,
        )

    async def _fire(self, reminder: Reminder, now: datetime) -> Fired:
        await self.run_and_report(now=now, key=f"{KEY}:{reminder.id}:{reminder.fired}")
        at = self.settings.backup_check_time
        return (next_run(now, at) if at else None), 0
