"""Paging as the rest of the bot sees it: the `Pager` protocol, its result types, the log-only pager
and the fallback text shown when paging fails for good.

Owns: the interface services call (`Pager`), `PageResult` / `OnCall` / `PdObject` / `PdStatusChange`,
and the dedup key derived from an incident id. Webhook checks live in
`bot/gateways/pagerduty/webhooks.py`, PagerDuty request and response documents in
`bot/gateways/pagerduty/payloads.py`. Must not: import the `pagerduty` package or any HTTP client
(that is `bot/gateways/pagerduty/gateway.py`), know about Slack, or ever hold, log or return an API key,
routing key or webhook secret.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

logger = logging.getLogger(__name__)

Urgency = Literal["high", "low"]
TargetKind = Literal["user", "escalation_policy", "service"]
PdStatus = Literal["acknowledged", "resolved"]

DEDUP_PREFIX = "warroom-"
MAX_DEDUP_KEY = 255  # PagerDuty's documented limit for dedup_key / incident_key


def dedup_key_for(incident_id: str) -> str:
    """Return the stable PagerDuty dedup key / incident_key for a warroom incident, e.g. `warroom-INC-42`."""
    key = f"{DEDUP_PREFIX}{incident_id}"
    if len(key) <= MAX_DEDUP_KEY:
        return key
    # Stable and still unique for absurdly long ids: keep a readable head and a hash of the whole.
    digest = hashlib.sha256(incident_id.encode()).hexdigest()[:32]
    return f"{key[: MAX_DEDUP_KEY - 33]}-{digest}"


@dataclass(frozen=True, slots=True)
class PageResult:
    """What happened when the bot asked for someone to be paged (or resolved a page).

    `delivered` is False when nothing reached PagerDuty (log-only mode, or an unsupported request in
    Events mode); `text` then says plainly what would have happened. `already_open` means PagerDuty
    already had an open incident with this key and no second one was created.
    """

    delivered: bool
    text: str
    mode: Literal["rest", "events", "log-only"]
    dedup_key: str | None = None
    pd_incident_id: str | None = None
    html_url: str | None = None
    already_open: bool = False


@dataclass(frozen=True, slots=True)
class OnCall:
    """One on-call entry: who is on call for which escalation policy level, and until when."""

    name: str
    email: str | None
    user_id: str
    escalation_level: int
    policy_id: str
    policy_name: str
    schedule_name: str | None
    start: datetime | None
    end: datetime | None


@dataclass(frozen=True, slots=True)
class PdObject:
    """A PagerDuty user, escalation policy or service as a directory lookup returns it."""

    kind: TargetKind
    id: str
    name: str
    email: str | None = None


@dataclass(frozen=True, slots=True)
class PdStatusChange:
    """A PagerDuty incident was acknowledged or resolved, when and by whom (as PagerDuty reports it)."""

    pd_incident_id: str
    status: PdStatus
    at: datetime
    by_user_id: str | None
    by_name: str | None
    incident_key: str | None = None


class Pager(Protocol):
    """Everything the bot may ask of a paging system.

    Every call is safe to repeat: the dedup key comes from the incident id. A failure after bounded
    retries raises `ExternalServiceError` (`retryable` says whether trying later may help); a request
    the configured mode cannot serve returns `PageResult(delivered=False)` with the reason in `text`.
    """

    def describe(self) -> str:
        """Say which mode and endpoint are in use (for readiness and logs); never a key."""
        ...

    async def trigger(
        self,
        *,
        incident_id: str,
        title: str,
        severity: str,
        details: str,
        urgency: Urgency,
        service_id: str | None,
        escalation_policy_id: str | None,
    ) -> PageResult:
        """Page for a new incident; a repeat returns the already open PagerDuty incident."""
        ...

    async def page(
        self,
        *,
        incident_id: str,
        pd_incident_id: str | None,
        target_kind: TargetKind,
        target_id: str,
        message: str,
    ) -> PageResult:
        """Add a user or escalation policy to the PagerDuty incident, or open one on a service."""
        ...

    async def oncall(self, *, escalation_policy_ids: list[str]) -> list[OnCall]:
        """List who is on call now (the earliest entry per policy, level and user)."""
        ...

    async def directory(self, *, kind: TargetKind, query: str) -> list[PdObject]:
        """Find users (by name or email), escalation policies or services (by name) matching `query`."""
        ...

    async def acknowledgements(
        self, *, pd_incident_ids: list[str]
    ) -> list[PdStatusChange]:
        """Return the first acknowledgement and the resolution PagerDuty holds for each incident.

        Stateless: the same changes come back on every poll, so callers record only new ones.
        """
        ...

    async def resolve(
        self, *, incident_id: str, pd_incident_id: str | None
    ) -> PageResult:
        """Resolve the page (by PagerDuty id, or by the incident's dedup key); repeats are harmless."""
        ...

    async def aclose(self) -> None:
        """Release connections (called from the app's cleanup context)."""
        ...


_TARGET_WORDS: dict[str, str] = {
    "user": "user",
    "escalation_policy": "escalation policy",
    "service": "service",
}


class LogOnlyPager:
    """The pager used when no PagerDuty is configured: says plainly what it would have paged."""

    NOT_CONFIGURED = "PagerDuty is not configured"

    def describe(self) -> str:
        return "log-only (PagerDuty is not configured)"

    def _result(self, text: str, *, incident_id: str) -> PageResult:
        logger.warning("%s", text)
        return PageResult(
            delivered=False,
            text=text,
            mode="log-only",
            dedup_key=dedup_key_for(incident_id),
        )

    async def trigger(
        self,
        *,
        incident_id: str,
        title: str,
        severity: str,
        details: str,
        urgency: Urgency,
        service_id: str | None,
        escalation_policy_id: str | None,
    ) -> PageResult:
        if escalation_policy_id:
            target = f"escalation policy {escalation_policy_id}"
        elif service_id:
            target = f"service {service_id}"
        else:
            target = "the on-call rotation"
        text = (
            f"{self.NOT_CONFIGURED}: would page {target} for {incident_id} ({severity})"
        )
        return self._result(text, incident_id=incident_id)

    async def page(
        self,
        *,
        incident_id: str,
        pd_incident_id: str | None,
        target_kind: TargetKind,
        target_id: str,
        message: str,
    ) -> PageResult:
        text = f"{self.NOT_CONFIGURED}: would page {_TARGET_WORDS[target_kind]} {target_id} for {incident_id}"
        if message:
            text += f" ({message})"
        return self._result(text, incident_id=incident_id)

    async def oncall(self, *, escalation_policy_ids: list[str]) -> list[OnCall]:
        logger.info("%s: no on-call information available", self.NOT_CONFIGURED)
        return []

    async def directory(self, *, kind: TargetKind, query: str) -> list[PdObject]:
        return []

    async def acknowledgements(
        self, *, pd_incident_ids: list[str]
    ) -> list[PdStatusChange]:
        return []

    async def resolve(
        self, *, incident_id: str, pd_incident_id: str | None
    ) -> PageResult:
        text = f"{self.NOT_CONFIGURED}: would resolve the page for {incident_id}"
        return self._result(text, incident_id=incident_id)

    async def aclose(self) -> None:
        return None


def fallback_message(contacts: Sequence[str], error: BaseException | str) -> str:
    """Return the loud text for the incident channel when paging has failed for good."""
    reason = getattr(error, "message", None) or str(error) or "unknown error"
    lines = [f":rotating_light: Paging failed: {reason}", "Call these people directly:"]
    lines += [f"• {contact}" for contact in contacts] or [
        "• (no fallback contacts configured)"
    ]
    return "\n".join(lines)
