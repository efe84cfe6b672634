"""An approval request left unanswered pages the approvers' on-call; an answer stops the watch."""

from __future__ import annotations

from datetime import timedelta

from bot.models.runbooks import StepState
from handlers.ids import Action
from tests.flows import eventually
from tests.runbook_support import (
    click,
    run_step,
    start_runbook,
    submit_inputs,
    until_state,
)


async def test_unanswered_approval_is_escalated_and_answered_one_is_not(
    rbot, slack_workspace, aws_via_proxy, clock
):
    bot, slack = rbot, slack_workspace
    incident, rb = await start_runbook(bot, slack, "database-failure")
    for step in ("check-rds-instance", "check-snapshots"):
        assert await run_step(bot, incident, rb, step) is StepState.SUCCEEDED
    await click(bot, incident, rb, "restore-from-snapshot", Action.RUNBOOK_REQUEST)
    # inputs, prefilled
    await slack.wait_for("views.open", lambda c: "snapshot_id" in str(c.args))
    await submit_inputs(bot, slack, {})
    await until_state(bot, rb, "restore-from-snapshot", StepState.AWAITING_APPROVAL)
    run = (await bot.services.runbooks.view(rb)).step("restore-from-snapshot").run
    assert run is not None
    watches = [
        r
        for r in await bot.services.storage.reminders_active(incident=incident.number)
        if r.key == f"approval:step-run-{run.id}"
    ]
    assert len(watches) == 1

    reminders = bot.services.comms.reminders
    due = watches[0].due_at

    async def escalations() -> int:
        entries = await bot.services.storage.timeline(incident.number)
        return [e.kind for e in entries].count("approval_escalated")

    # Other reminders (the status update's) may fall due first: only the escalation is counted.
    await reminders.tick(due - timedelta(seconds=1))
    assert await escalations() == 0
    assert await reminders.tick(due) >= 1
    assert await escalations() == 1

    await click(bot, incident, rb, "restore-from-snapshot", Action.RUNBOOK_CANCEL)

    async def cancelled() -> bool:
        current = await bot.services.storage.step_run(run.id)
        return current is not None and current.state is StepState.CANCELLED

    await eventually(cancelled)
    active = await bot.services.storage.reminders_active(incident=incident.number)
    assert not [r for r in active if r.key == f"approval:step-run-{run.id}"]
