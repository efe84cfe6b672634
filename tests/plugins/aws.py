"""pytest fixtures for the AWS stand-in: one moto server per session, the BodyScript estate, the
fault proxy and an `AwsGateway` pointed at it.

Owns nothing but fixtures. They never reach real AWS: credentials are the fake `testing`, shared
config files are hidden, and `AWS_ENDPOINT_URL` points every stray boto3 client at moto.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest

from bot.gateways.aws.gateway import AwsGateway
from bot.sandbox.estate.moto_server import MotoSandbox, seed_estate
from bot.sandbox.estate.names import Estate
from tests.aws_fault_proxy import AwsFaultProxy

_AWS_VARIABLES_TO_DROP = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoSandbox]:
    """One moto server on 127.0.0.1 for the whole session (reset per test by `aws_env`)."""
    with MotoSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def aws_env(moto_server: MotoSandbox, monkeypatch: pytest.MonkeyPatch) -> str:
    """Reset moto, give boto3 fake credentials and no profile; yield moto's endpoint URL."""
    moto_server.reset()
    for name in _AWS_VARIABLES_TO_DROP:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # A safety net: a boto3 client built without an endpoint still lands on moto.
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.endpoint_url)
    return moto_server.endpoint_url


@pytest.fixture
def estate(aws_env: str) -> Estate:
    """BodyScript's estate, freshly seeded into a reset moto."""
    return seed_estate(endpoint_url=aws_env)


@pytest.fixture
async def aws_proxy(aws_env: str) -> AsyncIterator[AwsFaultProxy]:
    """The fault-injecting proxy in front of moto; `.endpoint_url`, rules and the request log."""
    async with AwsFaultProxy(aws_env) as proxy:
        yield proxy


@pytest.fixture
def aws_gateway(aws_proxy: AwsFaultProxy) -> Iterator[AwsGateway]:
    """An `AwsGateway` that talks to moto through the proxy (so calls are counted), short timeouts."""
    gateway = AwsGateway(
        endpoint_url=aws_proxy.endpoint_url, connect_timeout=2, read_timeout=5
    )
    yield gateway
    gateway.close()
