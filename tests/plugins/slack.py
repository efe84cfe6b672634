"""pytest fixtures for the local Slack workspace (`bot.sandbox.slack.workspace`).

Owns the fixture names other tests rely on:

- `slack_workspace`: a fresh `SlackWorkspace` (seeded users, `#incident-response`), not served.
- `slack_server`: that same workspace served on 127.0.0.1 (ephemeral port); yields a
  `RunningWorkspace` with `.api_url` (for `AsyncWebClient(base_url=...)`), `.base_url`,
  `.response_url(name, ...)` and `.workspace`.
- `slack_client`: an `AsyncWebClient` with a visibly fake bot token pointed at `slack_server`.

Must not start the bot or patch anything: tests drive the bot from outside and assert on
`slack_workspace.calls` / `wait_for(...)` and on the workspace's state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace, serve

FAKE_BOT_TOKEN = "xoxb-test-0000000000-warroom"
FAKE_SIGNING_SECRET = "test-signing-secret"


@pytest.fixture
def slack_workspace() -> SlackWorkspace:
    """A fresh local Slack workspace, one per test."""
    return SlackWorkspace()


@pytest.fixture
async def slack_server(
    slack_workspace: SlackWorkspace,
) -> AsyncIterator[RunningWorkspace]:
    """The test's `slack_workspace`, served over HTTP on 127.0.0.1 for the test's duration."""
    async with serve(slack_workspace) as running:
        yield running


@pytest.fixture
def slack_client(slack_server: RunningWorkspace) -> AsyncWebClient:
    """A plain slack_sdk client (no retry handlers beyond the default) talking to `slack_server`."""
    return AsyncWebClient(token=FAKE_BOT_TOKEN, base_url=slack_server.api_url)
