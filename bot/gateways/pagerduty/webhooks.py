"""PagerDuty v3 webhooks, pure: the `X-PagerDuty-Signature` header name, computing and checking
its `v1=` HMAC signatures against the webhook secret, and reading the acknowledgement or resolution a
webhook body reports as a `PdStatusChange`, and an incident the bot did not open as an
`AlertEvent` (anything else is None). Never logs or returns the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from bot.gateways.pagerduty.pager import DEDUP_PREFIX, PdStatus, PdStatusChange
from bot.gateways.pagerduty.payloads import change_by_agent, parse_time
from bot.models.alerts import AlertEvent

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


def _event(body: bytes) -> dict[str, Any] | None:
    """A v3 webhook body's `event` object, or None for an unreadable body."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    event = document.get("event") if isinstance(document, dict) else None
    return event if isinstance(event, dict) else None


def parse_alert(body: bytes) -> AlertEvent | None:
    """The alert a v3 webhook reports: an incident triggered or resolved that the bot did not open
    (its incident key is not the bot's). None for the bot's own incidents and anything else."""
    event = _event(body)
    if event is None:
        return None
    kind = event.get("event_type")
    data = event.get("data")
    at = parse_time(event.get("occurred_at"))
    if kind not in ("incident.triggered", "incident.resolved") or at is None:
        return None
    if not isinstance(data, dict) or not data.get("id"):
        return None
    if str(data.get("incident_key") or "").startswith(DEDUP_PREFIX):
        return None
    service = data.get("service")
    return AlertEvent(
        source="pagerduty",
        key=str(data["id"]),
        title=str(data.get("title") or data.get("summary") or data["id"]),
        service=str(service.get("summary") or "") if isinstance(service, dict) else "",
        url=str(data.get("html_url") or ""),
        at=at,
        cleared=kind == "incident.resolved",
    )


def parse_webhook(body: bytes) -> PdStatusChange | None:
    """Return the status change a v3 webhook reports, or None for other events and unreadable bodies."""
    event = _event(body)
    if event is None:
        return None
    status = _WEBHOOK_STATUSES.get(str(event.get("event_type", "")))
    data = event.get("data")
    at = parse_time(event.get("occurred_at"))
    if status is None or not isinstance(data, dict) or not data.get("id") or at is None:
        return None
    return change_by_agent(
        str(data["id"]), status, at, event.get("agent"), data.get("incident_key")
    )
