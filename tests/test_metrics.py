"""`/metrics`: ack latency, duplicates, outbox depth and dead letters per channel, inbox lag."""

from __future__ import annotations

import re

import aiohttp

from bot.sandbox.slack.workspace import SlackWorkspace
from tests.flows import command_in, declare, eventually
from tests.plugins.bot import RunningBot


async def scrape(bot: RunningBot) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{bot.base_url}/metrics") as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return await response.text()


def value(text: str, name: str, default: float | None = None) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    if match is None and default is not None:
        return default  # a labelled series appears with its first observation
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


async def test_metrics_report_acks_duplicates_and_dead_letters(
    bot: RunningBot, slack_workspace: SlackWorkspace
):
    before = await scrape(bot)
    acks_before = value(before, 'warroom_ack_seconds_count{kind="command"}', default=0)
    duplicates_before = value(before, "warroom_duplicate_deliveries_total")
    incident = await declare(bot, slack_workspace)
    event = slack_workspace.user_message(incident.channel_id, "UBOB", "seen twice")
    await bot.sender.event(event)
    await bot.sender.event(event, retry_num=1)
    slack_workspace.fail("chat.postMessage", "invalid_blocks", times=1)
    await command_in(bot, incident, "note this one cannot be posted")

    async def dead() -> str | None:
        text = await scrape(bot)
        return (
            text
            if f'warroom_outbox_dead_letters{{channel="incident:{incident.number}"}} 1.0'
            in text
            else None
        )

    text = await eventually(dead)
    assert value(text, 'warroom_ack_seconds_count{kind="command"}') >= acks_before + 2
    assert value(text, "warroom_duplicate_deliveries_total") == duplicates_before + 1
    assert value(text, "warroom_inbox_lag_seconds") >= 0
    assert "warroom_event_loop_lag_seconds" in text
