"""pytest fixtures for the PagerDuty stand-in: served over HTTPS (the `pagerduty` client accepts only
https base URLs) with a trustme CA, and gateways pointed at it that never sleep between retries.

Fixtures:
    pagerduty_standin   the running stand-in (`.url`, `.ssl_context_for_clients`, `.state`, `.requests`,
                        plus `fail`, `drop_connection`, `acknowledge`, `sign_webhook` ...)
    pd_settings         settings for a bot paging through the stand-in (REST API, routes, webhook secret)
    pager               a REST-mode `PagerDutyGateway` (API key + From) pointed at it
    events_pager        an Events-API-v2-mode `PagerDutyGateway` (routing key only) pointed at it

The stand-in is served on the test's own event loop, so a gateway call that blocked the loop could
never be answered: every passing gateway test also shows the call ran off the loop.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from bot.gateways.pagerduty.gateway import PagerDutyGateway
from tests.pagerduty_standin import API_KEY, FROM_EMAIL, ROUTING_KEY, PagerDutyStandIn


@dataclass(frozen=True)
class _Tls:
    server: ssl.SSLContext
    client: ssl.SSLContext
    ca_path: Path


@pytest.fixture(scope="session")
def _pagerduty_tls(tmp_path_factory: pytest.TempPathFactory) -> _Tls:
    """One CA and certificate for the session: key generation is the slow part."""
    ca = trustme.CA()
    ca_path = tmp_path_factory.mktemp("pagerduty-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return _Tls(server=server, client=client, ca_path=ca_path)


class RunningStandIn:
    """The stand-in plus where it listens and how to trust it."""

    def __init__(
        self,
        standin: PagerDutyStandIn,
        url: str,
        client_context: ssl.SSLContext,
        ca_path: Path,
    ) -> None:
        self.standin = standin
        self.url = url
        self.ssl_context_for_clients = client_context
        self.ca_path = ca_path  # a PEM file, for settings (WARROOM_PAGERDUTY_CA_BUNDLE)

    @property
    def state(self) -> Any:
        return self.standin.state

    @property
    def requests(self) -> Any:
        return self.standin.requests

    # fail, drop_connection, acknowledge, sign_webhook ...
    def __getattr__(self, name: str) -> Any:
        return getattr(self.standin, name)


@pytest.fixture
async def pagerduty_standin(_pagerduty_tls: _Tls) -> AsyncIterator[RunningStandIn]:
    standin = PagerDutyStandIn()
    server = TestServer(standin.app, host="127.0.0.1")
    await server.start_server(ssl=_pagerduty_tls.server)
    try:
        yield RunningStandIn(
            standin,
            str(server.make_url("")).rstrip("/"),
            _pagerduty_tls.client,
            _pagerduty_tls.ca_path,
        )
    finally:
        await server.close()


def make_gateway(standin: RunningStandIn, **overrides: Any) -> PagerDutyGateway:
    """A gateway pointed at the stand-in that never sleeps between retries."""
    options: dict[str, Any] = {
        "api_key": SecretStr(API_KEY),
        "routing_key": None,
        "from_email": FROM_EMAIL,
        "rest_url": standin.url,
        "events_url": standin.url,
        "verify": standin.ssl_context_for_clients,
        "backoff": lambda attempt: 0.0,
        "sleep": lambda seconds: None,
        "timeout": 5.0,
    }
    options.update(overrides)
    return PagerDutyGateway(**options)


@pytest.fixture
async def pager(pagerduty_standin: RunningStandIn) -> AsyncIterator[PagerDutyGateway]:
    gateway = make_gateway(pagerduty_standin)
    yield gateway
    await gateway.aclose()


@pytest.fixture
async def events_pager(
    pagerduty_standin: RunningStandIn,
) -> AsyncIterator[PagerDutyGateway]:
    gateway = make_gateway(
        pagerduty_standin,
        api_key=None,
        routing_key=SecretStr(ROUTING_KEY),
        from_email=None,
    )
    yield gateway
    await gateway.aclose()


WEBHOOK_SECRET = "stand-in-webhook-secret"
ROUTES = {"default": {"service_id": "PSVCAPI", "escalation_policy_id": "PEPSECU"}}


def pagerduty_settings(standin: RunningStandIn, **overrides: Any) -> dict[str, Any]:
    """Settings overrides that make a bot page through the stand-in over HTTPS."""
    options: dict[str, Any] = {
        "pagerduty_api_key": SecretStr(API_KEY),
        "pagerduty_from_email": FROM_EMAIL,
        "pagerduty_rest_url": standin.url,
        "pagerduty_events_url": standin.url,
        "pagerduty_ca_bundle": standin.ca_path,
        "pagerduty_routes": ROUTES,
        "pagerduty_webhook_secret": SecretStr(WEBHOOK_SECRET),
    }
    return {**options, **overrides}


@pytest.fixture
async def pd_bot(
    tmp_path: Path, slack_server: Any, pagerduty_standin: RunningStandIn
) -> AsyncIterator[Any]:
    """The real bot paging through the stand-in (REST API key, default route PSVCAPI / PEPSECU)."""
    from tests.plugins.bot import make_settings, run_bot

    settings = make_settings(
        tmp_path / "warroom.db", slack_server, **pagerduty_settings(pagerduty_standin)
    )
    async with run_bot(settings, slack_server) as running:
        yield running
