"""boto3 clients for the AWS gateway, blocking (the gateway calls them from worker threads): one
boto3 session, clients built lazily per service, region, retry kind ("read", "write", "ping") and
identity under a lock, identities that are either the default credential chain or an STS assumed
role (session named and tagged after the incident and step, refreshed before it expires), closing
every client, and keeping botocore's wire-level debug logs (request bodies, signed headers with
session tokens) out of the logs. Must not let credentials out.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from bot.gateways.aws.failures import _translate

_SESSION_NAME_CHARS = re.compile(r"[^\w+=,.@-]", re.ASCII)
_TAG_CHARS = re.compile(r"[^\w\s.:/=+@-]")
_REFRESH_MARGIN = timedelta(minutes=5)
# Loggers that print request bodies, signed headers (session tokens) or response bodies at DEBUG.
_WIRE_LOGGERS = frozenset(
    [
        "botocore.endpoint",
        "botocore.parsers",
        "botocore.auth",
        "botocore.hooks",
        "botocore.retryhandler",
        "botocore.httpsession",
        "urllib3.connectionpool",
    ]
)


@dataclass
class _Identity:
    """Credentials a set of clients signs with: the default chain, or an assumed role."""

    credentials: dict[str, str] | None = None
    expires_at: datetime | None = None
    clients: dict[tuple[str, str, str], Any] = field(default_factory=dict)

    def fresh(self) -> bool:
        return (
            self.expires_at is None
            or self.expires_at - _REFRESH_MARGIN > datetime.now(UTC)
        )


class _DropWireDebug(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


def _quiet_wire_logs() -> None:
    for name in _WIRE_LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, _DropWireDebug) for f in target.filters):
            target.addFilter(_DropWireDebug())


def session_name_for(tags: dict[str, str] | None) -> str:
    """Build an STS RoleSessionName (2-64 chars of [\\w+=,.@-]) from the incident and step tags."""
    parts = [tags[k] for k in ("incident", "step") if tags and tags.get(k)]
    name = _SESSION_NAME_CHARS.sub("-", "-".join(["warroom", *parts]))
    return name[:64]


class AwsClients:
    """Cached boto3 clients per (service, region, kind) for the default identity and assumed roles."""

    def __init__(
        self,
        *,
        endpoint_url: str | None,
        read_attempts: int,
        connect_timeout: float,
        read_timeout: float,
        session_factory: Callable[[], boto3.session.Session],
    ) -> None:
        self.endpoint_url = endpoint_url
        self._session_factory = session_factory
        self._session: boto3.session.Session | None = None
        self._lock = threading.Lock()
        self._assume_lock = threading.Lock()
        self.base = _Identity()
        self._roles: dict[tuple[Any, ...], _Identity] = {}
        self._retired: list[_Identity] = []
        timeouts = Config(connect_timeout=connect_timeout, read_timeout=read_timeout)
        self._configs = {
            "read": timeouts.merge(
                Config(
                    retries={"mode": "standard", "total_max_attempts": read_attempts}
                )
            ),
            # botocore sends a mutating call exactly once; only the step ledger may re-send it.
            "write": timeouts.merge(
                Config(retries={"mode": "standard", "total_max_attempts": 1})
            ),
            "ping": Config(
                retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=3
            ),
        }
        _quiet_wire_logs()

    def client(self, service: str, region: str, kind: str, identity: _Identity) -> Any:
        """Return the client for `service` in `region` signing as `identity`, built on first use."""
        key = (service, region, kind)
        with self._lock:
            client = identity.clients.get(key)
            if client is None:
                if self._session is None:
                    self._session = self._session_factory()
                creds = identity.credentials or {}
                client = self._session.client(
                    service,  # type: ignore[call-overload]
                    region_name=region,
                    endpoint_url=self.endpoint_url,
                    config=self._configs[kind],
                    **creds,
                )
                identity.clients[key] = client
            return client

    def identity(
        self,
        role_arn: str | None,
        tags: dict[str, str] | None,
        name: str | None,
        region: str,
    ) -> _Identity:
        """Return the default identity, or a fresh assumed-role one (STS failures: not sent)."""
        if role_arn is None:
            return self.base
        name = name or session_name_for(tags)
        clean = {
            _TAG_CHARS.sub("_", k)[:128]: _TAG_CHARS.sub("_", v)[:256]
            for k, v in (tags or {}).items()
        }
        key = (role_arn, name, tuple(sorted(clean.items())))
        with self._assume_lock:
            identity = self._roles.get(key)
            if identity is not None and identity.fresh():
                return identity
            sts = self.client("sts", region, "read", self.base)
            try:
                creds = sts.assume_role(
                    RoleArn=role_arn,
                    RoleSessionName=name,
                    Tags=[{"Key": k, "Value": v} for k, v in clean.items()],
                )["Credentials"]
            except (ClientError, BotoCoreError) as exc:
                # Whatever STS says, the operation itself was never sent.
                raise _translate(
                    exc, "sts", "assume_role", region, mutating=False, not_sent=True
                ) from None
            identity = _Identity(
                credentials={
                    "aws_access_key_id": creds["AccessKeyId"],
                    "aws_secret_access_key": creds["SecretAccessKey"],
                    "aws_session_token": creds["SessionToken"],
                },
                expires_at=creds["Expiration"],
            )
            old = self._roles.pop(key, None)
            if old is not None:
                # Another thread may still be mid-call on the old clients: close them at close().
                self._retired.append(old)
            self._roles[key] = identity
        return identity

    def close(self) -> None:
        """Close every client's connection pool (also those of replaced role sessions)."""
        with self._lock:
            identities = [self.base, *self._roles.values(), *self._retired]
            self._roles.clear()
            self._retired.clear()
            for identity in identities:
                for client in identity.clients.values():
                    client.close()
                identity.clients.clear()
