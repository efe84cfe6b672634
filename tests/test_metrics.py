"""`/metrics`: ack latency, duplicates, outbox depth and dead letters per channel, inbox lag."""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
from contextlib import closing

import aiohttp

from bot.sandbox.signing import JSON
from bot.sandbox.slack.records import TEAM_ID
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


async def test_ack_metric_labels_come_from_a_closed_set(bot: RunningBot):
    """Issue 12: a signed body's `type` must not become a new series (unbounded cardinality)."""
    before = await scrape(bot)
    others = value(before, 'warroom_ack_seconds_count{kind="other"}', default=0)
    commands = value(before, 'warroom_ack_seconds_count{kind="command"}', default=0)
    made_up = f"made-up-{secrets.token_hex(4)}"
    response = await bot.sender.send(
        json.dumps({"type": made_up, "team_id": TEAM_ID}), content_type=JSON
    )
    assert response.status == 404  # and no listener took it
    await bot.sender.command("help")
    text = await scrape(bot)
    assert made_up not in text
    assert value(text, 'warroom_ack_seconds_count{kind="other"}') == others + 1
    assert value(text, 'warroom_ack_seconds_count{kind="command"}') == commands + 1
    with closing(sqlite3.connect(bot.settings.database_path)) as db:
        kinds = [k for (k,) in db.execute("select kind from inbox order by id")]
    assert kinds == ["other", "command"]
