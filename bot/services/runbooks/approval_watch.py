"""Unanswered approvals page the approvers' on-call: a runbook announcer that also keeps the watch.

Wraps the runbook service's announcer: when a step run starts waiting for approval it schedules the
escalation reminder (bot/services/scheduling/reminders.py), and when the run leaves that state (approved,
rejected, cancelled, expired or voided) it cancels it. Knows nothing of Slack.
"""

from __future__ import annotations

from typing import Protocol

from bot.models.runbooks import StepState
from bot.services.runbooks.base import RunbookAnnouncer
from bot.services.runbooks.views import RunbookView


class ApprovalEscalations(Protocol):
    async def schedule_approval_escalation(
        self, *, incident: int, approval_id: str, summary: str
    ) -> object: ...
    async def cancel_approval_escalation(self, *, approval_id: str) -> bool: ...


class WatchingAnnouncer:
    """A `RunbookAnnouncer` that forwards everything and keeps approval escalations in step."""

    def __init__(
        self, inner: RunbookAnnouncer, escalations: ApprovalEscalations
    ) -> None:
        self.inner, self.escalations = inner, escalations

    async def runbook_posted(self, view: RunbookView) -> None:
        await self.inner.runbook_posted(view)

    async def step_changed(
        self, view: RunbookView, step_id: str, *, key: str, reply: str | None = None
    ) -> None:
        run = view.step(step_id).run
        if run is not None:
            approval_id = f"step-run-{run.id}"
            if run.state is StepState.AWAITING_APPROVAL:
                summary = f"{view.step(step_id).step.title} ({view.incident.key}) is waiting for approval"
                await self.escalations.schedule_approval_escalation(
                    incident=view.incident.number,
                    approval_id=approval_id,
                    summary=summary,
                )
            else:
                await self.escalations.cancel_approval_escalation(
                    approval_id=approval_id
                )
        await self.inner.step_changed(view, step_id, key=key, reply=reply)
