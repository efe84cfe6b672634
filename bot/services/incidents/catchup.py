"""Catch-up: what someone joining an incident late needs, built from storage and the timeline only.

Owns the choice of what a latecomer reads: the incident as it stands (status, severity, commander
and roles), its last key events (those marked key, notes and status updates), every runbook step
done, waiting for approval or still to do, the last status update and when the next one is due.
Nothing here calls a provider, and nothing here knows Slack: `handlers/blocks/` draws it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.models.incidents import TOLD, Incident, TimelineEntry
from bot.models.runbooks import FINISHED, StepState
from bot.services.runbooks.service import RunbookService
from bot.storage import Storage


@dataclass(frozen=True)
class StepLine:
    """One runbook step as a latecomer needs it: its title and where it stands."""

    title: str
    state: StepState
    requested_by: str | None = None
    approvals: tuple[str, ...] = ()
    required: int = 0


@dataclass(frozen=True)
class CatchUp:
    incident: Incident
    key_events: list[TimelineEntry]
    done: list[StepLine] = field(default_factory=list)
    waiting: list[StepLine] = field(default_factory=list)  # for approval
    to_do: list[StepLine] = field(default_factory=list)
    last_update: TimelineEntry | None = None
    next_update_due: datetime | None = None


async def catch_up(
    storage: Storage, runbooks: RunbookService, incident: Incident, *, events: int = 10
) -> CatchUp:
    """The incident as it stands, its last `events` key events, and its runbooks' steps."""
    entries = await storage.timeline(incident.number)
    told = [e for e in entries if e.key_event or e.kind in TOLD]
    updates = [e for e in entries if e.kind == "status_update"]
    reminder = await storage.reminder_get(f"update:{incident.number}")
    lines: dict[str, list[StepLine]] = {"done": [], "waiting": [], "to_do": []}
    for book in await storage.runbooks_for(incident.number):
        view = await runbooks.view(book.id)
        for item in view.steps:
            run = item.run
            line = StepLine(
                title=item.step.title,
                state=item.state,
                requested_by=run.requested_by if run else None,
                approvals=tuple(
                    a.user for a in item.approvals if a.decision == "approve"
                ),
                required=run.required_approvals if run else 0,
            )
            if item.state in FINISHED:
                lines["done"].append(line)
            elif item.state is StepState.AWAITING_APPROVAL:
                lines["waiting"].append(line)
            else:
                lines["to_do"].append(line)
    return CatchUp(
        incident=incident,
        key_events=told[-events:],
        last_update=updates[-1] if updates else None,
        next_update_due=(
            reminder.due_at
            if reminder and reminder.status == "active" and incident.is_open
            else None
        ),
        **lines,
    )
