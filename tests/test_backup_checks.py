"""The plan's daily backup checks on a schedule: read-only calls against the moto estate, a post to
the announcement channel only when a check fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3

from bot.sandbox.estate.names import Estate
from bot.sandbox.slack.state import INCIDENT_RESPONSE_CHANNEL_ID
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace
from tests.flows import eventually
from tests.plugins.bot import make_settings, run_bot


def announcements(slack: SlackWorkspace) -> list[str]:
    return [
        m.text
        for m in slack.messages(INCIDENT_RESPONSE_CHANNEL_ID)
        if "backup checks" in m.text
    ]


async def test_backup_checks_pass_quietly_and_report_a_missing_backup(
    tmp_path: Path,
    slack_server: RunningWorkspace,
    slack_workspace: SlackWorkspace,
    estate: Estate,
    aws_env: str,
):
    settings = make_settings(
        tmp_path / "warroom.db", slack_server, backup_check_time="06:30"
    )
    async with run_bot(settings, slack_server) as bot:
        checks = bot.services.comms.backup_checks
        now = bot.services.clock()
        results = await checks.run_and_report(now=now, key="manual-1")
        assert [r.ok for r in results] == [True, True, True], results
        assert announcements(slack_workspace) == []

        today = f"daily/backup-{now:%Y%m%d}.tar.gz"
        s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=aws_env)
        s3.delete_object(Bucket=estate.backup_bucket, Key=today)
        results = await checks.run_and_report(now=now, key="manual-2")
        assert [r.step_id for r in results if not r.ok] == ["check-backup-integrity"]
        [text] = await eventually(lambda: _async(announcements(slack_workspace)))
        assert "1 of 3 failed" in text
        assert "Check backup integrity" in text
        assert "check the backup job's logs" in text

        # the schedule is a reminder row: due at the next 06:30 UTC, and it runs the same checks
        row = await bot.services.storage.reminder_get("backup-checks")
        assert row is not None
        assert (row.due_at.hour, row.due_at.minute) == (6, 30)
        assert await bot.services.comms.reminders.tick(row.due_at) == 1
        after = await bot.services.storage.reminder_get("backup-checks")
        assert (after.due_at - row.due_at).days == 1


async def _async(value: Any) -> Any:
    return value
