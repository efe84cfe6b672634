"""Shared test setup: stand-in fixtures come from `tests/plugins/*`, one module per outside system."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.plugins.slack",
    "tests.plugins.aws",
    "tests.plugins.pagerduty",
    "tests.plugins.sns",
    "tests.plugins.trackers",
    "tests.plugins.bot",
    "tests.runbook_support",
]

_PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "http_proxy",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
)


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """slack_sdk ignores NO_PROXY, so a proxy variable would send 127.0.0.1 calls astray."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
