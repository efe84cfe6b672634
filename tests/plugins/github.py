"""The GitHub stand-in (bot/sandbox/github.py) served on 127.0.0.1 for a test. Test code only."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.sandbox.github import GitHubStandIn

REPO = "acme/bodyscript"
TOKEN = "ghp_test_0000000000000000000000000000000000"


@pytest.fixture
async def github() -> AsyncIterator[GitHubStandIn]:
    stand_in = GitHubStandIn(repo=REPO, token=TOKEN)
    runner = web.AppRunner(stand_in.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    stand_in.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield stand_in
    await runner.cleanup()
