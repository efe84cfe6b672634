"""Follow-ups tracked to done: `/incident followup` adds one to the incident's list (in the channel,
on the timeline), it is filed as a GitHub issue that links back, its state comes back from GitHub,
overdue owners are told once a day, and bad input changes nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from bot.models.followups import FollowUp, FollowUpKind, FollowUpState, Priority
from bot.sandbox import payloads
from bot.sandbox.github import GitHubStandIn
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace
from handlers.ids import Field
from tests.flows import command_in, declare, eventually
from tests.plugins.bot import RunningBot, make_settings, run_bot
from tests.plugins.trackers import REPO, TOKEN
from tests.runbook_support import MovableClock, ephemeral_texts
from tests.test_subscriptions import direct_messages, settled

WEBHOOK_SECRET = "test-github-webhook-secret"


@pytest.fixture
async def tracked(
    tmp_path: Path,
    slack_server: RunningWorkspace,
    github: GitHubStandIn,
    clock: MovableClock,
) -> AsyncIterator[RunningBot]:
    """The bot filing follow-ups in the GitHub stand-in, on a movable clock."""
    settings = make_settings(
        tmp_path / "warroom.db",
        slack_server,
        tracker="github",
        github_repo=REPO,
        github_token=TOKEN,
        github_api_url=github.base,
    )
    async with run_bot(settings, slack_server, clock) as running:
        yield running


def channel_texts(slack: SlackWorkspace, channel: str | None) -> list[str]:
    assert channel
    return [m.text for m in slack.messages(channel)]


async def test_a_followup_is_stored_filed_in_github_and_comes_back_done(
    tracked: RunningBot, slack_workspace: SlackWorkspace, github: GitHubStandIn
):
    slack, bot = slack_workspace, tracked
    incident = await declare(bot, slack)
    due = (bot.services.clock() + timedelta(days=7)).date()
    await command_in(
        bot,
        incident,
        f"followup detect: Alarm on replica lag <@UBOB|bob> {due.isoformat()} high",
    )
    [item] = await eventually(lambda: bot.services.storage.followups(incident.number))
    assert (item.text, item.kind, item.priority, item.owner, item.due) == (
        "Alarm on replica lag",
        FollowUpKind.DETECT,
        Priority.HIGH,
        "UBOB",
        due,
    )
    filed = await eventually(lambda: _filed(bot, item.id))
    [issue] = github.issues.values()
    assert issue["title"] == "[INC-1] Alarm on replica lag"
    assert f"app_redirect?channel={incident.channel_id}" in issue["body"]
    assert {"detect", "priority:high"} <= {label["name"] for label in issue["labels"]}
    assert (filed.tracker, filed.tracker_key, filed.tracker_url) == (
        "github",
        "1",
        issue["html_url"],
    )
    kinds = [e.kind for e in await bot.services.storage.timeline(incident.number)]
    assert "followup" in kinds
    assert "followup_exported" in kinds

    await bot.services.followups.sync()  # still open on GitHub: nothing changes
    assert (await bot.services.storage.followup(item.id)).state is FollowUpState.OPEN  # type: ignore[union-attr]
    github.close(1)
    await bot.services.followups.sync()
    done = await bot.services.storage.followup(item.id)
    assert done is not None
    assert done.state is FollowUpState.DONE
    entries = await bot.services.storage.timeline(incident.number)
    assert [e.text for e in entries if e.kind == "followup_done"] == [
        "Follow-up #1 done (github 1): Alarm on replica lag"
    ]
    await bot.services.followups.sync()  # done once
    assert (
        len(
            [
                e
                for e in await bot.services.storage.timeline(incident.number)
                if e.kind == "followup_done"
            ]
        )
        == 1
    )

    await eventually(lambda: settled(bot))
    texts = channel_texts(slack, incident.channel_id)
    assert any("Follow-up added" in t and "Alarm on replica lag" in t for t in texts)
    assert any("Follow-up done" in t for t in texts)
    await command_in(bot, incident, "followups")
    listing = await eventually(lambda: _shown(slack, "Follow-ups of INC-1"))
    assert "0 open, 1 done" in listing[-1]


async def _shown(slack: SlackWorkspace, text: str) -> list[str]:
    """What the bot answered privately (by response_url or ephemeral message) containing `text`."""
    answers = [str(body.get("text", "")) for _, body in slack.response_posts]
    answers += ephemeral_texts(slack, "UALICE")
    return [a for a in answers if text in a]


async def _issues(github: GitHubStandIn) -> bool:
    return bool(github.issues)


async def _given_up(github: GitHubStandIn) -> bool:
    return github.fail_next == 10 - 3


async def _filed(bot: RunningBot, followup_id: int):  # type: ignore[no-untyped-def]
    item = await bot.services.storage.followup(followup_id)
    return item if item and item.tracker_key else None


async def test_github_down_leaves_it_unfiled_and_the_next_sync_files_it_once(
    tracked: RunningBot, slack_workspace: SlackWorkspace, github: GitHubStandIn
):
    bot = tracked
    incident = await declare(bot, slack_workspace)
    github.fail_next = 10  # more than the gateway's retries
    await command_in(bot, incident, "followup Add a runbook for disk full")
    [item] = await eventually(lambda: bot.services.storage.followups(incident.number))
    await eventually(lambda: _given_up(github))  # three tries, then given up
    assert github.issues == {}
    assert (await bot.services.storage.followup(item.id)).tracker_key is None  # type: ignore[union-attr]
    github.fail_next = 0
    await bot.services.followups.sync()
    await bot.services.followups.sync()
    assert len(github.issues) == 1
    assert (await bot.services.storage.followup(item.id)).tracker_key == "1"  # type: ignore[union-attr]


async def test_overdue_owners_are_told_by_direct_message_once_a_day(
    tracked: RunningBot, slack_workspace: SlackWorkspace, clock: MovableClock
):
    bot = tracked
    incident = await declare(bot, slack_workspace)
    tomorrow = (bot.services.clock() + timedelta(days=1)).date()
    await command_in(
        bot, incident, f"followup Rotate the DB password <@UCAROL|carol> {tomorrow}"
    )
    await command_in(bot, incident, "followup No owner yet 2099-01-01")
    await eventually(lambda: _count(bot, incident.number, 2))
    assert await bot.services.followups.remind_overdue() == 0  # not due yet
    clock.offset = timedelta(days=2)
    assert await bot.services.followups.remind_overdue() == 1
    assert await bot.services.followups.remind_overdue() == 0  # once a day
    await eventually(lambda: settled(bot))
    [dm] = direct_messages(slack_workspace, "UCAROL")
    assert "overdue" in dm
    assert "Rotate the DB password" in dm
    clock.offset = timedelta(days=3)
    assert await bot.services.followups.remind_overdue() == 1  # the next day, again


async def _count(bot: RunningBot, number: int, n: int) -> bool:
    return len(await bot.services.storage.followups(number)) == n


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("followup", "Invalid text"),
        ("followup Fix it 2026-02-30", "2026-02-30 is not a date"),
        ("followup Fix it 2001-01-01", "The due date 2001-01-01 has passed"),
        ("followup done #99", "INC-1 has no follow-up #99"),
        ("followup prevent:", "Say what is to be done"),
    ],
)
async def test_bad_followups_get_a_clear_error_and_change_nothing(
    bot: RunningBot, slack_workspace: SlackWorkspace, text: str, error: str
):
    incident = await declare(bot, slack_workspace)
    rows = len(await bot.services.storage.timeline(incident.number))
    response = await command_in(bot, incident, text)
    if error not in response.text:
        await eventually(lambda: _shown(slack_workspace, error))
    assert await bot.services.storage.followups(incident.number) == []
    assert len(await bot.services.storage.timeline(incident.number)) == rows


async def test_without_a_tracker_a_followup_is_closed_by_hand(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace)
    await command_in(bot, incident, "followup process: Page the DBA earlier")
    [item] = await eventually(lambda: bot.services.storage.followups(incident.number))
    assert item.tracker is None
    await command_in(bot, incident, f"followup done #{item.id}")
    done = await eventually(lambda: _state(bot, item.id, FollowUpState.DONE))
    assert done.done_at is not None
    await command_in(bot, incident, f"followup reopen #{item.id}")
    await eventually(lambda: _state(bot, item.id, FollowUpState.OPEN))
    kinds = [e.kind for e in await bot.services.storage.timeline(incident.number)]
    assert kinds.count("followup_done") == 1
    assert kinds.count("followup_reopened") == 1


async def _state(bot: RunningBot, followup_id: int, state: FollowUpState):  # type: ignore[no-untyped-def]
    item = await bot.services.storage.followup(followup_id)
    return item if item and item.state is state else None


async def test_a_private_incidents_title_stays_out_of_github(
    tracked: RunningBot, slack_workspace: SlackWorkspace, github: GitHubStandIn
):
    bot = tracked
    private = {Field.PRIVATE: payloads.checkboxes_value(["private"])}
    incident = await declare(
        bot, slack_workspace, title="Keys leaked in a log", **private
    )
    assert incident.private
    await command_in(bot, incident, "followup Rotate every key")
    await eventually(lambda: _issues(github))
    [issue] = github.issues.values()
    assert incident.title not in issue["body"]
    assert "INC-1" in issue["body"]


async def test_outside_a_channel_the_list_leaves_out_private_incidents_followups(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    public = await declare(bot, slack_workspace)
    private = await declare(
        bot,
        slack_workspace,
        title="Keys leaked in a log",
        **{Field.PRIVATE: payloads.checkboxes_value(["private"])},
    )
    await command_in(bot, public, "followup Add a disk alarm")
    await command_in(bot, private, "followup Rotate the leaked signing key")
    await eventually(lambda: _count_all(bot, 2))
    response = await bot.sender.command(
        "followups", user_id="UALICE", channel_id="CGENERAL"
    )
    assert response.status == 200
    [listing] = await eventually(lambda: _shown(slack_workspace, "Open follow-ups"))
    assert "Add a disk alarm" in listing
    assert "Rotate the leaked signing key" not in listing
    assert "1 of private incidents not shown" in listing


async def _count_all(bot: RunningBot, n: int) -> bool:
    return len(await bot.services.storage.followups()) == n


def _signed(body: bytes, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "X-Hub-Signature-256": f"sha256={digest}",
        "X-GitHub-Event": "issues",
        "Content-Type": "application/json",
    }


@pytest.fixture
async def hooked(
    tmp_path: Path, slack_server: RunningWorkspace, github: GitHubStandIn
) -> AsyncIterator[RunningBot]:
    """The GitHub-tracked bot with the issues webhook on."""
    settings = make_settings(
        tmp_path / "warroom.db",
        slack_server,
        tracker="github",
        github_repo=REPO,
        github_token=TOKEN,
        github_api_url=github.base,
        github_webhook_secret=WEBHOOK_SECRET,
    )
    async with run_bot(settings, slack_server) as running:
        yield running


async def test_a_signed_github_webhook_marks_the_followup_done_at_once(
    hooked: RunningBot, slack_workspace: SlackWorkspace, github: GitHubStandIn
):
    bot = hooked
    incident = await declare(bot, slack_workspace)
    await command_in(bot, incident, "followup Alarm on replica lag")
    [item] = await eventually(lambda: _all_filed(bot, incident.number))
    event = {
        "action": "closed",
        "issue": {
            "number": 1,
            "html_url": github.issues[1]["html_url"],
            "state": "closed",
        },
        "repository": {"full_name": REPO},
    }
    body = json.dumps(event).encode()
    url = f"{bot.base_url}/github/webhook"
    async with aiohttp.ClientSession() as session:
        forged = {**_signed(body, "not-the-secret")}
        async with session.post(url, data=body, headers=forged) as response:
            assert response.status == 401
        assert (
            await bot.services.storage.followup(item.id)
        ).state is FollowUpState.OPEN  # type: ignore[union-attr]
        other = json.dumps(
            {**event, "repository": {"full_name": "acme/other"}}
        ).encode()
        async with session.post(url, data=other, headers=_signed(other)) as response:
            assert (response.status, (await response.json())["outcome"]) == (
                200,
                "ignored",
            )
        for _ in range(2):  # a redelivery changes nothing more
            async with session.post(url, data=body, headers=_signed(body)) as response:
                assert response.status == 200
    done = await bot.services.storage.followup(item.id)
    assert done is not None
    assert done.state is FollowUpState.DONE
    kinds = [e.kind for e in await bot.services.storage.timeline(incident.number)]
    assert kinds.count("followup_done") == 1


async def _all_filed(bot: RunningBot, number: int) -> list[FollowUp] | None:
    items = await bot.services.storage.followups(number)
    return items if items and all(i.tracker_key for i in items) else None
