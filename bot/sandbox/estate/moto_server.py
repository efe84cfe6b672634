"""A local moto server and the seed that fills it with BodyScript's estate.

Owns `MotoSandbox` (a moto server on 127.0.0.1 for the demo and the tests) and `seed_estate`, which
creates the resources the disaster-recovery plan names (ECS, RDS, S3 in two regions, ALB, Route 53,
security group, IAM user, CloudTrail, CloudWatch) through `bot.sandbox.estate.network` and
`bot.sandbox.estate.data`. Moto has no per-call throttling (tests use `tests/aws_fault_proxy.py`).
"""

from __future__ import annotations

import logging
import urllib.request
from datetime import UTC, datetime, timedelta

from bot.sandbox.estate.data import seed_iam, seed_rds, seed_storage
from bot.sandbox.estate.names import (
    ACCOUNT_ID,
    BACKUP_DAYS,
    DR_REGION,
    REGION,
    Estate,
    clients_for,
)
from bot.sandbox.estate.network import seed_ecs, seed_network, seed_route53


def _backup_days(now: datetime) -> list[datetime]:
    today = now.astimezone(UTC).replace(hour=3, minute=0, second=0, microsecond=0)
    return [today - timedelta(days=back) for back in range(BACKUP_DAYS - 1, -1, -1)]


def seed_estate(*, endpoint_url: str, now: datetime | None = None) -> Estate:
    """Create BodyScript's estate in the moto server at `endpoint_url` (call it on a reset server)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    days = _backup_days(now)
    client = clients_for(endpoint_url)

    network = seed_network(client)
    ecs, dns = seed_ecs(client, network), seed_route53(client, network)
    rds, s3, iam = (
        seed_rds(client, days),
        seed_storage(client, days, now),
        seed_iam(client),
    )
    return Estate(
        endpoint_url=endpoint_url,
        now=now,
        account_id=ACCOUNT_ID,
        region=REGION,
        dr_region=DR_REGION,
        **ecs,
        **rds,
        **s3,
        vpc_id=network["vpc_id"],
        subnet_ids=network["subnet_ids"],
        security_group_id=network["security_group_id"],
        alb_security_group_id=network["alb_security_group_id"],
        network_acl_id=network["network_acl_id"],
        instance_ids=network["instance_ids"],
        load_balancer_arn=network["load_balancer_arn"],
        target_group_arn=network["target_group_arn"],
        **dns,
        **iam,
    )


class MotoSandbox:
    """A moto server on 127.0.0.1 (a free port) with a reset; use as a context manager."""

    def __init__(self, *, ip_address: str = "127.0.0.1", port: int = 0) -> None:
        # the sandbox extra; not needed in production
        from moto.server import (
            ThreadedMotoServer,
        )

        # Werkzeug logs every request at INFO; the demo and the tests do not want them.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(
            ip_address=ip_address, port=port, verbose=False
        )
        self._endpoint_url: str | None = None

    @property
    def endpoint_url(self) -> str:
        if self._endpoint_url is None:
            raise RuntimeError("MotoSandbox is not started")
        return self._endpoint_url

    def start(self) -> str:
        """Start the server and return its endpoint URL."""
        self._server.start()
        host, port = self._server.get_host_and_port()
        self._endpoint_url = f"http://{host}:{port}"
        return self._endpoint_url

    def stop(self) -> None:
        if self._endpoint_url is None:
            return
        self._server.stop()
        # ThreadedMotoServer.stop() shuts the loop down but leaves the listening socket open.
        inner = getattr(self._server, "_server", None)
        if inner is not None:
            inner.server_close()
        self._endpoint_url = None

    def reset(self) -> None:
        """Empty every moto backend (POST /moto-api/reset)."""
        request = urllib.request.Request(
            f"{self.endpoint_url}/moto-api/reset", method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def __enter__(self) -> MotoSandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
