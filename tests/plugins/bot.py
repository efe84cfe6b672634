"""pytest fixtures that run the real bot: settings, and the aiohttp server on 127.0.0.1.

`bot` starts warroom exactly as `warroom run` does in HTTP mode (same web app, same lifecycle,
a real SQLite file in tmp_path), pointed at the local Slack workspace, and yields a `RunningBot`
whose `sender` posts signed requests to it. Nothing of the bot is patched.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from bot.app import build_services, create_app, create_web_app
from bot.config import Settings
from bot.models.incidents import Clock, utcnow
from bot.sandbox.signing import SlackSender
from bot.sandbox.slack.workspace import RunningWorkspace
from bot.services import Services
from tests.plugins.slack import FAKE_BOT_TOKEN, FAKE_SIGNING_SECRET


@dataclass
class RunningBot:
    url: str
    base_url: str
    services: Services
    sender: SlackSender
    settings: Settings


def make_settings(
    database: Path, slack: RunningWorkspace, **overrides: Any
) -> Settings:
    return Settings(
        slack_bot_token=SecretStr(FAKE_BOT_TOKEN),
        slack_signing_secret=SecretStr(FAKE_SIGNING_SECRET),
        slack_api_url=slack.api_url,
        database_path=database,
        **overrides,
    )


@asynccontextmanager
async def run_bot(
    settings: Settings, slack: RunningWorkspace, clock: Clock = utcnow
) -> AsyncIterator[RunningBot]:
    """Start the bot's web app on an ephemeral port (with `clock`); stop it (with its drain) on exit."""
    services = build_services(settings, clock=clock, backoff_base=0.05)
    web_app = create_web_app(settings, services, create_app(settings, services))
    runner = web.AppRunner(web_app, shutdown_timeout=5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}"
    try:
        async with SlackSender(
            f"{base}/slack/events", FAKE_SIGNING_SECRET, slack=slack
        ) as sender:
            yield RunningBot(f"{base}/slack/events", base, services, sender, settings)
    finally:
        await runner.cleanup()


@pytest.fixture
def bot_settings(tmp_path: Path, slack_server: RunningWorkspace) -> Settings:
    return make_settings(tmp_path / "warroom.db", slack_server)


@pytest.fixture
async def bot(
    bot_settings: Settings, slack_server: RunningWorkspace
) -> AsyncIterator[RunningBot]:
    async with run_bot(bot_settings, slack_server) as running:
        yield running


@pytest.fixture
def start_bot(slack_server: RunningWorkspace) -> Callable[[Settings], Any]:
    """For tests that stop and start the bot themselves (restarts, second instances)."""
    return lambda settings: run_bot(settings, slack_server)
