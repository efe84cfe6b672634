"""Paging as the rest of the bot sees it: the `Pager` protocol, its result types, the log-only pager,
PagerDuty v3 webhook checks and the fallback text shown when paging fails for good.

Owns: the interface services call (`Pager`), `PageResult` / `OnCall` / `PdStatusChange`, the dedup key
derived from an incident id, webhook signature checks and parsing. Must not: import the `pagerduty`
package or any HTTP client (that is `bot/services/pagerduty.py`), know about Slack, or ever hold,
log or return an API key, routing key or webhook secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

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


# --- PagerDuty v3 webhooks ------------------------------------------------------------------------

SIGNATURE_HEADER = "X-PagerDuty-Signature"
_WEBHOOK_STATUSES: dict[str, PdStatus] = {
    "incident.acknowledged": "acknowledged",
    "incident.resolved": "resolved",
}


def sign_webhook_body(*, secret: str, body: bytes) -> str:
    """Return the `v1=<hex>` signature PagerDuty computes for a v3 webhook body."""
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_webhook_signature(*, secret: str, body: bytes, header: str | None) -> bool:
    """Check a v3 `X-PagerDuty-Signature` header: any of its comma-separated `v1=` signatures may match."""
    if not secret or not header:
        return False
    expected = sign_webhook_body(secret=secret, body=body)
    matched = False
    for candidate in header.split(","):
        # Compare every candidate (no early exit) so timing does not reveal which one matched.
        matched |= hmac.compare_digest(candidate.strip().encode(), expected.encode())
    return matched


def parse_time(value: object) -> datetime | None:
    """Parse PagerDuty's ISO 8601 times (with `Z` or an offset); None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_webhook(body: bytes) -> PdStatusChange | None:
    """Return the status change a v3 webhook reports, or None for other events and unreadable bodies."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    event = document.get("event") if isinstance(document, dict) else None
    if not isinstance(event, dict):
        return None
    status = _WEBHOOK_STATUSES.get(str(event.get("event_type", "")))
    data = event.get("data")
    at = parse_time(event.get("occurred_at"))
    if status is None or not isinstance(data, dict) or not data.get("id") or at is None:
        return None
    return _change(
        str(data["id"]), status, at, event.get("agent"), data.get("incident_key")
    )


def _change(
    pd_id: str, status: PdStatus, at: datetime, agent: object, key: str | None
) -> PdStatusChange:
    who: dict[str, Any] = agent if isinstance(agent, dict) else {}
    is_user = str(who.get("type", "")).startswith("user")
    return PdStatusChange(
        pd_incident_id=pd_id,
        status=status,
        at=at,
        by_user_id=who.get("id") if is_user else None,
        by_name=who.get("summary"),
        incident_key=key,
    )


# --- PagerDuty documents <-> our inputs and results (pure; the gateway does the I/O) ---------------

_EVENT_SEVERITY = {
    "SEV1": "critical",
    "SEV2": "critical",
    "SEV3": "error",
    "SEV4": "warning",
}
_TARGET_TYPES = {
    "user": "user_reference",
    "escalation_policy": "escalation_policy_reference",
}


def incident_request(
    *,
    title: str,
    details: str,
    urgency: str,
    service_id: str,
    policy_id: str | None,
    key: str,
) -> dict[str, Any]:
    """The `POST /incidents` body (REST API v2), with our incident_key as the idempotency guard."""
    incident: dict[str, Any] = {
        "type": "incident",
        "title": title[:1024],
        "urgency": urgency,
        "service": {"id": service_id, "type": "service_reference"},
        "body": {"type": "incident_body", "details": details},
        "incident_key": key,
    }
    if policy_id:
        incident["escalation_policy"] = {
            "id": policy_id,
            "type": "escalation_policy_reference",
        }
    return {"incident": incident}


def trigger_event(
    *,
    incident_id: str,
    summary: str,
    severity: str,
    details: str,
    urgency: str,
    key: str,
) -> dict[str, Any]:
    """An Events API v2 trigger (the client adds the routing key); built once, so retries match."""
    payload = {
        "summary": summary[:1024],
        "source": "warroom",
        "severity": _EVENT_SEVERITY.get(
            severity.upper(), "critical" if urgency == "high" else "warning"
        ),
        # Always explicit: pagerduty 7.2's own timestamp helper raises AttributeError.
        "timestamp": datetime.now(UTC).isoformat(),
        "custom_details": {
            "incident": incident_id,
            "severity": severity,
            "details": details,
        },
    }
    return {
        "event_action": "trigger",
        "dedup_key": key,
        "client": "warroom",
        "payload": payload,
    }


def responder_request(
    *, requester_id: str, kind: str, target_id: str, message: str
) -> dict[str, Any]:
    """The `POST /incidents/{id}/responder_requests` body for one user or escalation policy."""
    target = {"id": target_id, "type": _TARGET_TYPES[kind]}
    return {
        "requester_id": requester_id,
        "message": message,
        "responder_request_targets": [{"responder_request_target": target}],
    }


_LOG_STATUSES: dict[str, PdStatus] = {
    "acknowledge_log_entry": "acknowledged",
    "resolve_log_entry": "resolved",
}


def status_changes(
    incident: dict[str, Any], log_entries: list[dict[str, Any]]
) -> list[PdStatusChange]:
    """Return the first acknowledgement and the resolution of an incident from its log entries."""
    pd_id, key, found = str(incident["id"]), incident.get("incident_key"), {}
    for entry in sorted(log_entries, key=lambda e: str(e.get("created_at"))):
        status = _LOG_STATUSES.get(str(entry.get("type", "")))
        at = parse_time(entry.get("created_at"))
        if status is not None and at is not None and status not in found:
            found[status] = _change(pd_id, status, at, entry.get("agent"), key)
    current = incident.get("status")
    if current in ("acknowledged", "resolved") and current not in found:
        # No log entry for the current status (a trimmed log): use the incident's own fields.
        at = parse_time(incident.get("last_status_change_at")) or datetime.now(UTC)
        by = incident.get("last_status_change_by")
        found[current] = _change(pd_id, current, at, by, key)
    return list(found.values())


def oncall_from_entry(entry: dict[str, Any]) -> OnCall:
    """Map one `GET /oncalls` entry (with `include[]=users`) to an `OnCall`."""
    user = entry.get("user") or {}
    policy = entry.get("escalation_policy") or {}
    schedule = entry.get("schedule") or {}
    return OnCall(
        name=str(user.get("name") or user.get("summary") or user.get("id", "")),
        email=user.get("email"),
        user_id=str(user.get("id", "")),
        escalation_level=int(entry.get("escalation_level") or 0),
        policy_id=str(policy.get("id", "")),
        policy_name=str(policy.get("summary") or policy.get("name") or ""),
        schedule_name=schedule.get("summary") or schedule.get("name"),
        start=parse_time(entry.get("start")),
        end=parse_time(entry.get("end")),
    )
