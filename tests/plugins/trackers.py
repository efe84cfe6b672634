"""The stand-ins of what comes after an incident, served on 127.0.0.1 for a test: the trackers
(bot/sandbox/github.py, bot/sandbox/jira.py) and Atlassian Statuspage (bot/sandbox/statuspage.py).
Test code only."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from bot.sandbox.github import GitHubStandIn
from bot.sandbox.jira import JiraStandIn
from bot.sandbox.statuspage import StatuspageStandIn

REPO = "acme/bodyscript"
TOKEN = "ghp_test_0000000000000000000000000000000000"
JIRA_PROJECT = "OPS"
JIRA_EMAIL = "warroom-bot@example.com"
JIRA_TOKEN = "jira-test-token-0000"
STATUSPAGE_PAGE = "kctbh9vrtdwd"
STATUSPAGE_KEY = "statuspage-test-key-0000"


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


@pytest.fixture
async def jira() -> AsyncIterator[JiraStandIn]:
    stand_in = JiraStandIn(project=JIRA_PROJECT, token=JIRA_TOKEN, email=JIRA_EMAIL)
    runner = web.AppRunner(stand_in.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    stand_in.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield stand_in
    await runner.cleanup()


@pytest.fixture
async def statuspage() -> AsyncIterator[tuple[StatuspageStandIn, str]]:
    """The Statuspage stand-in and its API URL."""
    stand_in = StatuspageStandIn(page_id=STATUSPAGE_PAGE, api_key=STATUSPAGE_KEY)
    runner = web.AppRunner(stand_in.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield stand_in, f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()
