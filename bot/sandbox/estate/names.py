"""BodyScript's AWS estate in moto: its names, the `Estate` record of a seed, and the seed's clients.

Owns the estate's names (account 123456789012, regions, cluster, service, zone; only fake data), the
`Estate` and `Snapshot` records `seed_estate` (`bot.sandbox.estate.moto_server`) returns, and `Clients`,
the boto3 clients every seed module uses. The resources themselves are created by
`bot.sandbox.estate.network` and `bot.sandbox.estate.data`. No sandbox module may be imported by
`bot/services/`, and none talks to real AWS: every client built here has an explicit local
`endpoint_url` and the fake credentials `testing`.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import boto3
from botocore.config import Config

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
DR_REGION = "us-west-2"
NAME = "bodyscript-production"
API = "bodyscript-api"
ZONE = "bodyscript.com"
TASK_REVISIONS = (38, 39, 40, 41)
BACKUP_DAYS = 3  # today and the two days before: daily backups and manual snapshots


@dataclass(frozen=True)
class Snapshot:
    """A manual RDS snapshot; `intended_time` is its date's 03:00 UTC (moto stamps "now")."""

    id: str
    arn: str
    intended_time: datetime


@dataclass(frozen=True)
class Estate:
    """Ids of everything `seed_estate` created, for tests and the demo."""

    endpoint_url: str
    now: datetime
    account_id: str
    region: str
    dr_region: str
    cluster_arn: str
    service_arn: str
    task_definition_arns: dict[int, str]
    db_instance_arn: str
    snapshots: tuple[Snapshot, ...]
    backup_bucket: str
    backup_keys: tuple[str, ...]
    dr_backup_buckets: tuple[str, ...]
    dr_target_bucket: str
    vpc_id: str
    subnet_ids: tuple[str, ...]
    security_group_id: str
    alb_security_group_id: str
    network_acl_id: str
    instance_ids: tuple[str, ...]
    load_balancer_arn: str
    target_group_arn: str
    hosted_zone_id: str
    record_name: str
    iam_user: str
    access_key_id: str
    role_arn: str
    secret_arn: str
    trail_arn: str
    trail_bucket: str
    log_group_name: str

    @property
    def running_task_definition(self) -> str:
        """The task definition the service runs (revision 41)."""
        return self.task_definition_arns[TASK_REVISIONS[-1]]


class Clients:
    """boto3 clients for the seed, built under a lock (sessions are not thread-safe, clients are)."""

    def __init__(self, endpoint_url: str) -> None:
        self._session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        self._endpoint_url = endpoint_url
        self._lock = threading.Lock()
        self._config = Config(retries={"mode": "standard", "total_max_attempts": 2})

    def __call__(self, service: str, region: str = REGION) -> Any:
        with self._lock:
            return self._session.client(
                service,  # type: ignore[call-overload]
                endpoint_url=self._endpoint_url,
                region_name=region,
                config=self._config,
            )


@functools.lru_cache(maxsize=4)
def clients_for(endpoint_url: str) -> Clients:
    # Loading botocore's service models costs more than the seed's calls, and tests seed often.
    return Clients(endpoint_url)
