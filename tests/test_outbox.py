"""The Slack outbox under a 429 storm, a Slack outage, a restart, and a permanent error."""

from __future__ import annotations

import itertools

import aiohttp
import pytest

from bot.config import ConfigError
from bot.sandbox.slack.workspace import SlackWorkspace
from tests.flows import command_in, declare, eventually
from tests.plugins.bot import RunningBot


async def test_rate_limited_posts_wait_for_retry_after_and_keep_channel_order(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    incident = await declare(bot, slack_workspace)
    slack_workspace.fail("chat.postMessage", "ratelimited", times=3, retry_after=1)
    for n in range(5):
        await command_in(bot, incident, f"note step {n}")

    def notes() -> list[str]:
        return [
            m.text
            for m in slack_workspace.messages(incident.channel_id)
            if "Note from" in m.text
        ]

    async def delivered():
        return notes() if len(notes()) == 5 else None

    assert [t.rsplit(" ", 1)[-1] for t in await eventually(delivered)] == [
        "0",
        "1",
        "2",
        "3",
        "4",
    ]
    posts = [
        c
        for c in slack_workspace.calls_to("chat.postMessage")
        if c.args.get("channel") == incident.channel_id
    ]
    for before, after in itertools.pairwise(posts):
        if before.status == 429:
            assert after.at - before.at >= 0.95, (
                "a retry came before Retry-After had passed"
            )


async def test_posts_queued_during_a_slack_outage_drain_after_a_restart(
    bot_settings, start_bot, slack_workspace: SlackWorkspace
):
    settings = bot_settings.model_copy(update={"shutdown_drain_seconds": 0.5})
    async with start_bot(settings) as bot:
        incident = await declare(bot, slack_workspace)
        slack_workspace.fail("chat.postMessage", status=503, times=10_000)
        await command_in(bot, incident, "note written while Slack was down")

        async def queued():
            counts = await bot.services.storage.outbox_counts()
            return counts.get("pending")

        await eventually(queued)
    slack_workspace.clear_faults()
    async with start_bot(bot_settings) as bot:

        async def drained():
            counts = await bot.services.storage.outbox_counts()
            return not counts.get("pending") and counts

        counts = await eventually(drained)
        assert counts.get("dead", 0) == 0
    texts = [m.text for m in slack_workspace.messages(incident.channel_id)]
    assert any("written while Slack was down" in t for t in texts)


async def test_permanent_error_is_dead_lettered_and_reported_by_readyz(
    bot: RunningBot, slack_workspace
):
    incident = await declare(bot, slack_workspace)
    slack_workspace.fail("chat.postMessage", "invalid_blocks", times=1)
    await command_in(bot, incident, "note that cannot be posted")

    async def dead():
        return (await bot.services.storage.outbox_counts()).get("dead")

    assert await eventually(dead) == 1
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{bot.base_url}/readyz") as response,
    ):
        body = await response.json()
    assert response.status == 200  # Slack trouble is reported, not fatal
    assert body["slack"] == "degraded"
    assert body["outbox_dead"] == 1
    assert body["database"] is True


async def test_readyz_reports_slack_degraded_only_while_a_failed_call_waits(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    """Issue 13: one Slack error used to leave `"slack": "degraded"` for good."""
    incident = await declare(bot, slack_workspace)
    assert incident.channel_id
    slack_workspace.fail("chat.postMessage", status=503, times=10_000)
    await command_in(bot, incident, "note written while Slack fails")

    async def readyz(slack: str) -> dict[str, object] | None:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{bot.base_url}/readyz") as response,
        ):
            body = await response.json()
        assert response.status == 200, body  # Slack trouble is reported, not fatal
        return body if body["slack"] == slack and body["ready"] else None

    degraded = await eventually(lambda: readyz("degraded"))
    assert degraded["outbox_pending"] >= 1
    slack_workspace.clear_faults()

    async def recovered() -> dict[str, object] | None:
        body = await readyz("ok")
        return body if body and body["outbox_pending"] == 0 else None

    assert (await eventually(recovered))["outbox_dead"] == 0
    texts = [m.text for m in slack_workspace.messages(incident.channel_id)]
    assert any("written while Slack fails" in t for t in texts)


async def test_health_endpoints(bot: RunningBot):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{bot.base_url}/healthz") as response:
            assert response.status == 200
        async with http.get(f"{bot.base_url}/readyz") as response:
            body = await response.json()
    assert response.status == 200
    assert body["ready"] is True
    assert body["slack"] == "ok"


async def test_a_second_instance_on_the_same_database_refuses_to_start(
    bot: RunningBot, start_bot
):
    with pytest.raises(ConfigError, match="another warroom is running"):
        async with start_bot(bot.settings):
            pass
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{bot.base_url}/readyz") as response,
    ):
        assert response.status == 200  # the first one is unharmed
