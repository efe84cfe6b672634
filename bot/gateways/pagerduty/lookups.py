"""Read-only PagerDuty REST v2 lookups, blocking (the gateway runs them off the event loop): the open
incidents with a dedup key / incident_key, who is on call (the earliest entry per policy, level and
user), directory searches for users, escalation policies and services, the acknowledgement and
resolution PagerDuty holds for an incident (from its log entries), and the user id of the From
address that responder requests need. Every request goes through `PagerDutyTransport`; pagination
is bounded.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.errors import ExternalServiceError
from bot.gateways.pagerduty.pager import OnCall, PdObject, PdStatusChange, TargetKind
from bot.gateways.pagerduty.payloads import oncall_from_entry, status_changes
from bot.gateways.pagerduty.transport import SERVICE, PagerDutyTransport, json_body

logger = logging.getLogger(__name__)

MAX_PAGES = 50  # bound on pagination, in case a server keeps answering `more: true`
OPEN = ["triggered", "acknowledged"]


def find_open_incidents(
    http: PagerDutyTransport, key: str, *, service_id: str | None
) -> list[dict[str, Any]]:
    """Return the open PagerDuty incidents whose incident_key is `key` (on `service_id`, if given)."""
    params: dict[str, Any] = {"incident_key": key, "statuses[]": OPEN}
    if service_id:
        params["service_ids[]"] = [service_id]
    action = "look up the PagerDuty incident"
    body = json_body(http.call(http.rest, "GET", "/incidents", action, params=params))
    # Filter again: an ignored incident_key filter would return every open incident.
    return [i for i in body.get("incidents", []) if i.get("incident_key") == key]


def list_oncall(http: PagerDutyTransport, policy_ids: list[str]) -> list[OnCall]:
    """List who is on call for `policy_ids` (all policies when empty), following pagination."""
    result: list[OnCall] = []
    params: dict[str, Any] = {
        "include[]": ["users"],
        "earliest": "true",
        "limit": 100,
        "offset": 0,
    }
    if policy_ids:
        params["escalation_policy_ids[]"] = policy_ids
    for _ in range(MAX_PAGES):
        body = json_body(
            http.call(
                http.rest, "GET", "/oncalls", "list who is on call", params=params
            )
        )
        entries = body.get("oncalls", [])
        result += [oncall_from_entry(entry) for entry in entries]
        if not body.get("more") or not entries:
            break
        params = {
            **params,
            "offset": int(body.get("offset") or params["offset"]) + len(entries),
        }
    return sorted(result, key=lambda o: (o.policy_name, o.escalation_level, o.name))


def search_directory(
    http: PagerDutyTransport, kind: TargetKind, query: str
) -> list[PdObject]:
    """Find PagerDuty users, escalation policies or services matching `query`, following pagination."""
    path = {
        "user": "/users",
        "escalation_policy": "/escalation_policies",
        "service": "/services",
    }[kind]
    plural = path.lstrip("/")
    found: list[PdObject] = []
    params: dict[str, Any] = {"query": query, "limit": 100, "offset": 0}
    for _ in range(MAX_PAGES):
        action = f"look up PagerDuty {plural.replace('_', ' ')}"
        body = json_body(http.call(http.rest, "GET", path, action, params=params))
        items = body.get(plural, [])
        found += [
            PdObject(
                kind=kind,
                id=str(i["id"]),
                name=str(i.get("name") or i.get("summary") or i["id"]),
                email=i.get("email"),
            )
            for i in items
            if isinstance(i, dict) and i.get("id")
        ]
        if not body.get("more") or not items:
            break
        params = {**params, "offset": int(params["offset"]) + len(items)}
    return found


def read_status_changes(
    http: PagerDutyTransport, ids: list[str]
) -> list[PdStatusChange]:
    """Return the acknowledgements and resolutions PagerDuty holds for the incidents `ids`."""
    changes: list[PdStatusChange] = []
    for pd_id in ids:
        action = "read the PagerDuty incident"
        response = http.call(
            http.rest, "GET", f"/incidents/{pd_id}", action, allow={404}
        )
        if response.status_code == 404:
            logger.warning("PagerDuty incident %s does not exist (any more)", pd_id)
            continue
        incident = json_body(response)["incident"]
        if incident.get("status") not in ("acknowledged", "resolved"):
            continue
        action, path = (
            "read the PagerDuty incident log",
            f"/incidents/{pd_id}/log_entries",
        )
        entries = json_body(
            http.call(http.rest, "GET", path, action, params={"limit": 100})
        )
        changes += status_changes(incident, entries.get("log_entries", []))
    return changes


def requester_id(http: PagerDutyTransport) -> str:
    """The PagerDuty user id of the From address (responder requests need a requester)."""
    action = "look up the PagerDuty user of the From address"
    params = {"query": http.from_email}
    users = json_body(http.call(http.rest, "GET", "/users", action, params=params)).get(
        "users", []
    )
    wanted = (http.from_email or "").lower()
    matches = [u for u in users if str(u.get("email", "")).lower() == wanted]
    if not matches:
        raise ExternalServiceError(
            f"The From address {http.from_email} is not a user of the PagerDuty account.",
            service=SERVICE,
            code="requester_not_found",
        )
    return str(matches[0]["id"])
