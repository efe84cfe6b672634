"""Status-update reminders, their escalation, snoozes, approval escalations, restarts and downtime.

Reminders are SQLite rows fired by `ReminderService.tick(now)`; tests pass `now` explicitly (the
injected clock), so nothing sleeps. The bot's own background loop runs on the real clock, for which
nothing is due within a test.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace
from handlers.ids import Action
from tests.flows import declare, eventually, resolve
from tests.plugins.bot import RunningBot, make_settings, run_bot
from tests.test_pages_declare import settled


def reminders_in(slack: SlackWorkspace, channel: str) -> list[Any]:
    return [m for m in slack.messages(channel) if ":alarm_clock:" in m.text]


async def wait_reminders(slack: SlackWorkspace, channel: str, count: int) -> list[Any]:
    async def check() -> list[Any] | None:
        found = reminders_in(slack, channel)
        return found if len(found) >= count else None

    return await eventually(check)


async def test_reminders_remind_then_mention_then_page_the_commander(
    pd_bot: RunningBot, slack_workspace: SlackWorkspace, pagerduty_standin: Any
):
    incident = await declare(pd_bot, slack_workspace, severity="SEV1")
    await settled(pd_bot)
    reminders, t0 = pd_bot.services.comms.reminders, incident.declared_at

    assert await reminders.tick(t0 + timedelta(minutes=14)) == 0
    assert await reminders.tick(t0 + timedelta(minutes=15)) == 1
    assert await reminders.tick(t0 + timedelta(minutes=15)) == 0
    [first] = await wait_reminders(slack_workspace, incident.channel_id, 1)
    assert (
        "<@UALICE> time for a status update on INC-1 (every 15 minutes)" in first.text
    )
    buttons = [
        e["action_id"]
        for b in first.blocks
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    assert buttons == [Action.REMINDER_UPDATE, Action.REMINDER_SNOOZE]

    assert await reminders.tick(t0 + timedelta(minutes=20)) == 1
    second = (await wait_reminders(slack_workspace, incident.channel_id, 2))[1]
    assert "is *overdue*" in second.text

    assert await reminders.tick(t0 + timedelta(minutes=25)) == 1
    rows = await settled(pd_bot, count=2)
    assert rows[1].target_id == "PALICEB"  # the commander, found in PagerDuty by email
    [request] = pagerduty_standin.state.responder_requests
    assert "status update is overdue" in request["message"]
    kinds = [e.kind for e in await pd_bot.services.storage.timeline(incident.number)]
    assert {"reminder", "update_overdue", "update_escalated"} <= set(kinds)
    reminder = await pd_bot.services.storage.reminder_get("update:1")
    assert reminder.stage == 0
    assert reminder.due_at == t0 + timedelta(minutes=40)


async def test_reminders_snooze_button_pushes_the_reminder_back(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace, severity="SEV2")
    reminders, t0 = bot.services.comms.reminders, incident.declared_at
    await reminders.tick(t0 + timedelta(minutes=15))
    [message] = await wait_reminders(slack_workspace, incident.channel_id, 1)
    snooze = next(
        e
        for b in message.blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == Action.REMINDER_SNOOZE
    )
    response = await bot.sender.action(
        action_id=Action.REMINDER_SNOOZE,
        value=snooze["value"],
        user_id="UALICE",
        channel_id=incident.channel_id,
        message_ts=message.ts,
    )
    assert response.status == 200

    async def snoozed() -> Any:
        row = await bot.services.storage.reminder_get("update:1")
        return row if row.stage == 0 else None

    row = await eventually(snoozed)
    assert row.due_at > t0 + timedelta(minutes=15)
    kinds = [e.kind for e in await bot.services.storage.timeline(incident.number)]
    assert "reminder_snoozed" in kinds
    # after the snooze the next firing is a plain reminder again, not the overdue mention
    await reminders.tick(row.due_at)
    second = (await wait_reminders(slack_workspace, incident.channel_id, 2))[1]
    assert "overdue" not in second.text


async def test_reminders_resume_after_restart_and_fire_once_after_downtime(
    tmp_path: Path,
    slack_server: RunningWorkspace,
    slack_workspace: SlackWorkspace,
    start_bot: Callable[[Any], Any],
):
    settings = make_settings(tmp_path / "warroom.db", slack_server)
    async with start_bot(settings) as first:
        incident = await declare(first, slack_workspace, severity="SEV1")
    # three hours of downtime: twelve 15-minute intervals fell due, one reminder is owed
    later = incident.declared_at + timedelta(hours=3)
    async with start_bot(settings) as second:
        reminders = second.services.comms.reminders
        assert await reminders.tick(later) == 1
        assert await reminders.tick(later) == 0
        await wait_reminders(slack_workspace, incident.channel_id, 1)
        row = await second.services.storage.reminder_get("update:1")
        assert row.fired == 1
        # the grace before the mention
        assert row.due_at == later + timedelta(minutes=5)
    assert len(reminders_in(slack_workspace, incident.channel_id)) == 1


async def test_reminders_unanswered_approval_pages_the_approvers_on_call(
    pd_bot: RunningBot, slack_workspace: SlackWorkspace, pagerduty_standin: Any
):
    incident = await declare(pd_bot, slack_workspace, severity="SEV1")
    await settled(pd_bot)
    reminders = pd_bot.services.comms.reminders
    # requested before the first update is due
    now = pd_bot.services.clock() - timedelta(minutes=10)
    await reminders.schedule_approval_escalation(
        incident=incident.number,
        approval_id="ap-1",
        summary="Restore the newest RDS snapshot",
        requested_at=now,
    )
    await reminders.schedule_approval_escalation(
        incident=incident.number,
        approval_id="ap-2",
        summary="answered in time",
        requested_at=now,
    )
    assert await reminders.cancel_approval_escalation(approval_id="ap-2")

    assert await reminders.tick(now + timedelta(minutes=14)) == 0
    assert await reminders.tick(now + timedelta(minutes=15)) == 1
    rows = await settled(pd_bot, count=2)
    assert (rows[1].target_kind, rows[1].target_id) == ("escalation_policy", "PEPSECU")
    [request] = pagerduty_standin.state.responder_requests
    assert "Restore the newest RDS snapshot" in request["message"]
    # only the status-update reminder is left
    assert await reminders.tick(now + timedelta(hours=2)) == 1
    kinds = [e.kind for e in await pd_bot.services.storage.timeline(incident.number)]
    assert kinds.count("approval_escalated") == 1


async def test_a_resolved_incidents_channel_is_archived_after_the_set_days(
    tmp_path: Path, slack_server: RunningWorkspace, slack_workspace: SlackWorkspace
):
    settings = make_settings(tmp_path / "w.db", slack_server, archive_after_days=7)
    async with run_bot(settings, slack_server) as bot:
        incident = await declare(bot, slack_workspace)
        other = await declare(bot, slack_workspace, title="Still open")
        await resolve(bot, slack_workspace, incident)
        resolved = await eventually(lambda: _resolved_at(bot, incident.number))
        reminders = bot.services.comms.reminders
        assert incident.channel_id
        channel = slack_workspace.channels[incident.channel_id]
        await reminders.tick(resolved + timedelta(days=6, hours=23))
        await eventually(lambda: _drained(bot))
        assert not channel.archived
        await reminders.tick(resolved + timedelta(days=7))
        await reminders.tick(resolved + timedelta(days=8))  # fired once only

        async def archived() -> bool:
            return channel.archived

        await eventually(archived)
        said = [m.text for m in slack_workspace.messages(incident.channel_id or "")]
        notices = [t for t in said if "this channel is archived now" in t]
        assert len(notices) == 1
        assert "warroom export INC-1" in notices[0]
        assert not slack_workspace.channels[other.channel_id or ""].archived
        kinds = [e.kind for e in await bot.services.storage.timeline(incident.number)]
        assert kinds[-1] == "archived"


async def _drained(bot: RunningBot) -> bool:
    return not await bot.services.storage.outbox_heads()


async def _resolved_at(bot: RunningBot, number: int) -> datetime | None:
    found = await bot.services.storage.get_incident(number)
    return found.resolved_at if found else None
