"""Follow-ups in Jira (`WARROOM_TRACKER=jira`): filed through the `jira` package into the project,
linking back to the incident, with due date and labels; a status in Jira's "done" category comes
back as done; an outage leaves it unfiled until the next sync, which files it once."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.models.followups import FollowUpState
from bot.sandbox.jira import JiraStandIn
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace
from tests.flows import command_in, declare, eventually
from tests.plugins.bot import RunningBot, make_settings, run_bot
from tests.plugins.trackers import JIRA_EMAIL, JIRA_PROJECT, JIRA_TOKEN


@pytest.fixture
async def in_jira(
    tmp_path: Path, slack_server: RunningWorkspace, jira: JiraStandIn
) -> AsyncIterator[RunningBot]:
    settings = make_settings(
        tmp_path / "warroom.db",
        slack_server,
        tracker="jira",
        jira_url=jira.base,
        jira_project=JIRA_PROJECT,
        jira_email=JIRA_EMAIL,
        jira_token=JIRA_TOKEN,
    )
    async with run_bot(settings, slack_server) as running:
        yield running


async def _filed(bot: RunningBot, number: int) -> list | None:  # type: ignore[type-arg]
    items = await bot.services.storage.followups(number)
    return items if items and items[0].tracker_key else None


async def test_a_followup_is_filed_in_jira_and_comes_back_done(
    in_jira: RunningBot, slack_workspace: SlackWorkspace, jira: JiraStandIn
):
    bot = in_jira
    incident = await declare(bot, slack_workspace)
    due = (bot.services.clock() + timedelta(days=3)).date().isoformat()
    await command_in(
        bot, incident, f"followup prevent: Grow the volume <@UBOB|bob> {due} low"
    )
    [item] = await eventually(lambda: _filed(bot, incident.number))
    assert (item.tracker, item.tracker_key) == ("jira", "OPS-1")
    assert item.tracker_url == f"{jira.base}/browse/OPS-1"
    fields = jira.issues["OPS-1"]["fields"]
    assert fields["summary"] == "[INC-1] Grow the volume"
    assert fields["issuetype"] == {"name": "Task"}
    assert fields["duedate"] == due
    assert {"incident-follow-up", "prevent", "priority-low"} <= set(fields["labels"])
    assert f"app_redirect?channel={incident.channel_id}" in fields["description"]
    basic = base64.b64encode(f"{JIRA_EMAIL}:{JIRA_TOKEN}".encode()).decode()
    assert basic  # the stand-in refused anything but this Basic credential (401)

    await bot.services.followups.sync()
    assert (await bot.services.storage.followup(item.id)).state is FollowUpState.OPEN  # type: ignore[union-attr]
    jira.close("OPS-1")
    await bot.services.followups.sync()
    done = await bot.services.storage.followup(item.id)
    assert done is not None
    assert done.state is FollowUpState.DONE
    entries = await bot.services.storage.timeline(incident.number)
    assert [e.text for e in entries if e.kind == "followup_done"] == [
        "Follow-up #1 done (jira OPS-1): Grow the volume"
    ]


async def test_jira_down_leaves_it_unfiled_and_the_next_sync_files_it_once(
    in_jira: RunningBot, slack_workspace: SlackWorkspace, jira: JiraStandIn
):
    bot = in_jira
    incident = await declare(bot, slack_workspace)
    jira.fail_next = 10  # an outage
    await command_in(bot, incident, "followup Write the disk-full runbook")
    await eventually(lambda: _given_up(bot, jira))
    assert jira.issues == {}
    jira.fail_next = 0  # it is back
    await bot.services.followups.sync()
    await bot.services.followups.sync()
    assert list(jira.issues) == ["OPS-1"]
    assert await _filed(bot, incident.number)


async def _given_up(bot: RunningBot, jira: JiraStandIn) -> bool:
    """The command was worked (its filing tried and given up) with the outage seen."""
    return bool(jira.calls) and not await bot.services.storage.inbox_pending()
