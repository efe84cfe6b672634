"""Fault tests: kill -9 under load (a few trials of `bench/kill9.py`), and a Slack 429 then 503 storm."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from bench.kill9 import run_trials
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace
from tests.flows import command_in, declare, eventually
from tests.plugins.bot import RunningBot


@pytest.mark.timeout(180)
async def test_kill_9_under_load_loses_no_acknowledged_request_and_does_nothing_twice(
    tmp_path: Path, slack_server: RunningWorkspace, slack_workspace: SlackWorkspace
):
    trials = await run_trials(
        slack_workspace,
        slack_server,
        tmp_path / "kill9.db",
        trials=3,
        seed=7,
        kill_window=(0.2, 0.8),
    )
    # Lost, undone or repeated work, a broken database or chain: none, ever.
    assert [t.problems for t in trials] == [[], [], []]
    assert sum(t.acked for t in trials) > 0  # the kills did land under load
    # A post Slack took just before the kill is found by its metadata, not posted again.
    assert [t.double_posts for t in trials] == [[], [], []]


async def test_slack_429_then_503_loses_no_post_honours_retry_after_and_keeps_order(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace)
    assert incident.channel_id
    slack_workspace.fail("chat.postMessage", "ratelimited", times=3, retry_after=1)
    # then backoff: 0.8 s, 1.6 s
    slack_workspace.fail("chat.postMessage", status=503, times=2)
    for n in range(6):
        await command_in(bot, incident, f"note storm {n}")

    def notes() -> list[str]:
        channel = incident.channel_id or ""
        return [
            m.text for m in slack_workspace.messages(channel) if "Note from" in m.text
        ]

    async def delivered() -> list[str] | None:
        return notes() if len(notes()) >= 6 else None

    texts = await eventually(delivered)
    assert [t.rsplit(" ", 1)[-1] for t in texts] == ["0", "1", "2", "3", "4", "5"]
    posts = [
        c
        for c in slack_workspace.calls_to("chat.postMessage")
        if c.args.get("channel") == incident.channel_id
    ]
    statuses = [c.status for c in posts]
    assert statuses.count(429) == 3, statuses
    assert statuses.count(503) == 2, statuses
    for before, after in itertools.pairwise(posts):
        if before.status == 429:
            assert after.at - before.at >= 0.95, (
                "a retry came before Retry-After had passed"
            )

    async def drained() -> dict[str, int] | None:
        counts = await bot.services.storage.outbox_counts()
        return None if counts.get("pending") else counts

    assert not (await eventually(drained)).get("dead")
