"""Fault tests: kill -9 under load (a few trials of `bench/kill9.py`), and a Slack 429 then 503 storm."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import pytest

from bench.kill9 import run_trials
from bot.models.incidents import Incident
from bot.sandbox.slack.limits import RateLimits
from bot.sandbox.slack.workspace import (
    INCIDENT_RESPONSE_CHANNEL_ID,
    RunningWorkspace,
    SlackWorkspace,
)
from handlers.ids import Callback
from tests.flows import command_in, declare, declare_values, eventually, open_view
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


class FrozenClock:
    """The workspace's clock for its rate limits: stands still until `thaw()`, then runs."""

    def __init__(self) -> None:
        self.at, self.frozen = time.monotonic(), True

    def __call__(self) -> float:
        return self.at if self.frozen else time.monotonic()

    def thaw(self) -> None:
        self.frozen = False


async def test_slack_published_rate_limits_lose_no_card_or_announcement_and_keep_order(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    clock = (
        FrozenClock()
    )  # until thawed, a channel takes one post: every further one is a 429
    limits = slack_workspace.rate_limits = RateLimits(clock)
    for n in range(3):  # a regional outage: three declared together
        view_id = await open_view(bot, slack_workspace, f"declare Region outage {n}")
        response = await bot.sender.submit_view(
            callback_id=Callback.DECLARE,
            values=declare_values(f"Region outage {n}"),
            view_id=view_id,
        )
        assert response.status == 200, response.text

    async def refused() -> bool:  # the second and third announcements at least
        return limits.refused >= 2

    await eventually(refused)
    clock.thaw()

    async def ready() -> list[Incident] | None:
        found = await bot.services.storage.incidents()
        done = [i for i in found if i.channel_id and i.card_ts]
        return sorted(done, key=lambda i: i.number) if len(done) == 3 else None

    incidents = await eventually(ready)

    def announced() -> list[str]:
        return [
            m.text
            for m in slack_workspace.messages(INCIDENT_RESPONSE_CHANNEL_ID)
            if not m.thread_ts and "Region outage" in m.text
        ]

    async def all_announced() -> bool:
        return len(announced()) >= 3

    await eventually(all_announced)

    async def drained() -> dict[str, int] | None:
        counts = await bot.services.storage.outbox_counts()
        return None if counts.get("pending") else counts

    assert not (await eventually(drained)).get("dead")
    assert [
        [n for n in range(3) if f"Region outage {n}" in text] for text in announced()
    ] == [[0], [1], [2]]
    # Each channel shows the bot's posts once each, in the order they were queued.
    queued = {r.dedup_key: r.id for r in await bot.services.storage.outbox_rows()}
    for channel in [
        INCIDENT_RESPONSE_CHANNEL_ID,
        *(i.channel_id or "" for i in incidents),
    ]:
        keys = [
            m.metadata["event_payload"]["key"]
            for m in slack_workspace.messages(channel)
            if m.metadata
        ]
        assert len(keys) == len(set(keys)), keys
        assert [queued[k] for k in keys] == sorted(queued[k] for k in keys), keys
    for incident in incidents:
        said = [m.ts for m in slack_workspace.messages(incident.channel_id or "")]
        assert said[0] == incident.card_ts  # the card (and its pin) before the rest
        assert said.count(incident.card_ts or "") == 1
    limited = [
        c for c in slack_workspace.calls_to("chat.postMessage") if c.status == 429
    ]
    assert limited
    assert all(c.error == "ratelimited" for c in limited)


async def test_slack_a_cards_updates_held_back_by_slack_send_only_the_newest(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace)
    # Slack refuses updates for now (chat.update is Tier 3): three changes queue behind it.
    slack_workspace.fail("chat.update", "ratelimited", times=10**6, retry_after=1)
    await command_in(bot, incident, "status identified")
    await command_in(bot, incident, "severity SEV2")
    await command_in(bot, incident, "status monitoring")

    async def queued() -> bool:  # all three updates of the card wait
        rows = await bot.services.storage.outbox_rows(status="pending")
        return len([r for r in rows if r.method == "chat.update"]) == 3

    await eventually(queued)
    slack_workspace.clear_faults()

    async def drained() -> bool:
        rows = await bot.services.storage.outbox_rows(status="pending")
        return not rows

    await eventually(drained)
    updates = [
        c
        for c in slack_workspace.calls_to("chat.update")
        if c.ok and c.args.get("ts") == incident.card_ts
    ]
    assert len(updates) == 1  # the newest says it all
    card = json.dumps(updates[0].args.get("blocks"))
    assert "SEV2" in card
    assert "Monitoring" in card
    card_now = slack_workspace.message(
        incident.channel_id or "", incident.card_ts or ""
    )
    assert "Monitoring" in json.dumps(card_now.blocks)
