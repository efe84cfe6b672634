"""A whole local world in one process: the Slack workspace, moto with BodyScript's estate, a GitHub
stand-in for follow-ups, and the bot.

Used by `warroom demo`, `warroom console` and `warroom drill`. The bot runs exactly as in
production (its aiohttp app, its lifecycle, a real SQLite file), pointed at the local stand-ins.
Moto comes from the `sandbox` extra and is imported only when AWS is wanted.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import SecretStr

from bot.config import Settings
from bot.sandbox.console import Console
from bot.sandbox.github import GitHubStandIn
from bot.sandbox.slack.state import run_tag
from bot.sandbox.slack.workspace import RunningWorkspace, SlackWorkspace, serve
from bot.services import Services

SANDBOX_BOT_TOKEN = "xoxb-test-sandbox-0000-warroom"
SANDBOX_SIGNING_SECRET = "test-sandbox-signing-secret"
SANDBOX_GITHUB_TOKEN = "ghp_test_sandbox_00000000000000000000000000"
SANDBOX_REPO = "bodyscript/operations"
# The sandbox's people who may approve AWS steps (Alice, who declares and requests, is not one).
SANDBOX_APPROVERS = ["UBOB", "UCAROL", "UDAVE"]


@dataclass
class World:
    settings: Settings
    services: Services
    slack: RunningWorkspace
    bot_url: str
    estate: Any | None
    github: GitHubStandIn

    def console(self, **kwargs: Any) -> Console:
        return Console(
            slack=self.slack,
            bot_url=self.bot_url,
            signing_secret=SANDBOX_SIGNING_SECRET,
            **kwargs,
        )


@contextmanager
def sandbox_aws_environment(endpoint_url: str) -> Iterator[None]:
    """Point boto3 at moto with visibly fake credentials (boto3 reads these itself); restore on exit."""
    names = (
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
    )
    saved = {name: os.environ.get(name) for name in names}
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint_url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@asynccontextmanager
async def local_world(
    directory: Path,
    *,
    aws: bool = True,
    aws_endpoint: str | None = None,
    estate: Any | None = None,
    **overrides: Any,
) -> AsyncIterator[World]:
    """Start the stand-ins and the bot; stop everything on exit. Settings overrides are passed on.

    `aws_endpoint` with its seeded `estate` uses that AWS stand-in (e.g. a proxy in front of moto,
    whose request log a test reads) instead of starting moto here.
    """
    from bot.app import build_services, create_app, create_web_app

    moto = None
    environment = ExitStack()
    if aws_endpoint is not None:
        environment.enter_context(sandbox_aws_environment(aws_endpoint))
    elif aws:
        from bot.sandbox.estate.moto_server import MotoSandbox, seed_estate

        moto = MotoSandbox()
        endpoint = moto.start()
        environment.enter_context(sandbox_aws_environment(endpoint))
        moto.reset()  # moto's backends are per process: start from an empty estate
        estate = seed_estate(endpoint_url=endpoint)
    try:
        # A fresh workspace on a database that may have seen others: ids must not repeat (issue 14).
        async with serve(SlackWorkspace(run=run_tag())) as slack:
            # The follow-up tracker: a GitHub stand-in on 127.0.0.1.
            github = GitHubStandIn(repo=SANDBOX_REPO, token=SANDBOX_GITHUB_TOKEN)
            tracker = web.AppRunner(github.app(), access_log=None)
            await tracker.setup()
            await web.TCPSite(tracker, "127.0.0.1", 0).start()
            github.base = f"http://127.0.0.1:{tracker.addresses[0][1]}"
            settings = Settings(
                slack_bot_token=SecretStr(SANDBOX_BOT_TOKEN),
                slack_signing_secret=SecretStr(SANDBOX_SIGNING_SECRET),
                slack_api_url=slack.api_url,
                database_path=directory / "warroom.db",
                shutdown_drain_seconds=2,
                **{
                    "approvers": SANDBOX_APPROVERS,
                    "tracker": "github",
                    "github_repo": SANDBOX_REPO,
                    "github_token": SecretStr(SANDBOX_GITHUB_TOKEN),
                    "github_api_url": github.base,
                    **overrides,
                },
            )
            services = build_services(settings, backoff_base=0.2)
            runner = web.AppRunner(
                create_web_app(settings, services, create_app(settings, services))
            )
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            url = f"http://127.0.0.1:{runner.addresses[0][1]}/slack/events"
            try:
                yield World(settings, services, slack, url, estate, github)
            finally:
                await runner.cleanup()
                await tracker.cleanup()
    finally:
        environment.close()
        if moto is not None:
            moto.stop()
