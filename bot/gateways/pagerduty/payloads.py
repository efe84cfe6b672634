"""PagerDuty documents to and from our values, pure (the gateway does the I/O): the REST v2
`POST /incidents` and responder-request bodies, the Events v2 trigger, PagerDuty's ISO 8601 times,
status changes read from an incident's log entries (or a webhook's agent) and on-call entries as
`OnCall`. Holds no keys and makes no requests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.gateways.pagerduty.pager import OnCall, PdStatus, PdStatusChange


def parse_time(value: object) -> datetime | None:
    """Parse PagerDuty's ISO 8601 times (with `Z` or an offset); None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def change_by_agent(
    pd_id: str, status: PdStatus, at: datetime, agent: object, key: str | None
) -> PdStatusChange:
    """Build a `PdStatusChange`; `agent` is PagerDuty's reference to who made it (its id kept for users only)."""
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
            found[status] = change_by_agent(pd_id, status, at, entry.get("agent"), key)
    current = incident.get("status")
    if current in ("acknowledged", "resolved") and current not in found:
        # No log entry for the current status (a trimmed log): use the incident's own fields.
        at = parse_time(incident.get("last_status_change_at")) or datetime.now(UTC)
        by = incident.get("last_status_change_by")
        found[current] = change_by_agent(pd_id, current, at, by, key)
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
