"""A PagerDuty stand-in for tests: REST API v2 and Events API v2 over HTTPS on 127.0.0.1.

Owns: an in-memory PagerDuty account seeded like BodyScript's (services, escalation policies,
schedules, users, on-call entries), the routes warroom uses with the request and response shapes
of PagerDuty's published OpenAPI descriptions, a record of every request, and fault injection.
Must not: be imported by `bot/` (tests and fixtures only), or talk to anything but its clients.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

API_KEY = "u+StandInRestKey0001"  # REST API keys are 20 characters
ROUTING_KEY = "0123456789abcdef0123456789abcdef"  # integration keys are 32 characters
FROM_EMAIL = "warroom-bot@example.com"
HTML = "https://bodyscript.pagerduty.com"
JSON_BODY = web.RequestKey("json_body", object)
OPEN_STATUSES = ("triggered", "acknowledged")

USERS = {  # id: (name, email)
    "PBOTUSR": ("Warroom Bot", FROM_EMAIL),
    "PJOHNDO": ("John Doe", "john@example.com"),
    "PJANESM": ("Jane Smith", "jane@example.com"),
    "PBOBWIL": ("Bob Wilson", "bob@example.com"),
    "PALICEB": ("Alice Brown", "alice@example.com"),
    "PMIKEDA": ("Mike Davis", "mike@example.com"),
    "PSARAHL": ("Sarah Lee", "sarah@example.com"),
}
POLICIES = {  # id: (name, schedule id, schedule name, level-1 user on the schedule, level-2 user)
    "PEPDEVO": ("DevOps", "PSCDEVO", "DevOps Primary", "PJOHNDO", "PJANESM"),
    "PEPSECU": ("Security", "PSCSECU", "Security Primary", "PBOBWIL", "PALICEB"),
    "PEPINFR": (
        "Infrastructure",
        "PSCINFR",
        "Infrastructure Primary",
        "PMIKEDA",
        "PSARAHL",
    ),
}
SERVICES = {
    "PSVCAPI": ("BodyScript API", "PEPDEVO"),
    "PSVCDB1": ("Database", "PEPINFR"),
}


@dataclass
class Recorded:
    """One request as the stand-in received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    json: Any
    at: float = field(default_factory=time.monotonic)  # when it arrived


@dataclass
class Fault:
    match: str
    status: int
    times: int
    body: Any = None
    after_processing: bool = False


@dataclass
class State:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    escalation_policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    schedules: dict[str, dict[str, Any]] = field(default_factory=dict)
    oncalls: list[dict[str, Any]] = field(default_factory=list)
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    log_entries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    alerts: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    responder_requests: list[dict[str, Any]] = field(default_factory=list)
    api_keys: set[str] = field(default_factory=set)
    # routing key -> service id
    routing_keys: dict[str, str] = field(default_factory=dict)


def ref(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """A PagerDuty `<kind>_reference` for an object of the stand-in."""
    plural = {"escalation_policy": "escalation_policies"}.get(kind, f"{kind}s")
    return {
        "id": obj["id"],
        "type": f"{kind}_reference",
        "summary": obj.get("summary") or obj.get("name"),
        "self": f"https://api.pagerduty.com/{plural}/{obj['id']}",
        "html_url": f"{HTML}/{plural}/{obj['id']}",
    }


def iso(moment: datetime | None) -> str | None:
    return (
        None
        if moment is None
        else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    )


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def pd_error(status: int, message: str, *errors: str, code: int = 2001) -> web.Response:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors:
        body["errors"] = list(errors)
    return web.json_response({"error": body}, status=status)


def event_error(message: str, *errors: str) -> web.Response:
    body = {"status": "invalid event", "message": message, "errors": list(errors)}
    return web.json_response(body, status=400)


def sign_webhook(secret: str, body: bytes) -> str:
    """Return the `X-PagerDuty-Signature` value PagerDuty sends for a v3 webhook body."""
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class PagerDutyStandIn:
    """The stand-in's state and aiohttp app. Serve `app` over HTTPS (see tests/plugins/pagerduty.py)."""

    def __init__(self, *, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.state = State()
        self.requests: list[Recorded] = []
        self.max_limit = (
            100  # PagerDuty caps `limit` at 100; tests lower it to force pagination
        )
        self._faults: list[Fault] = []
        self._drops = 0
        self.delay = (
            0.0  # seconds every answer takes (the latency bench: PagerDuty's own)
        )
        self._holds: dict[str, asyncio.Event] = {}
        self._ids = itertools.count(1)
        self._seed()
        self.app = web.Application(middlewares=[self._middleware])
        self.app.router.add_post("/incidents", self._create_incident)
        self.app.router.add_get("/incidents", self._list_incidents)
        self.app.router.add_get("/incidents/{id}", self._get_incident)
        self.app.router.add_put("/incidents/{id}", self._update_incident)
        self.app.router.add_get("/incidents/{id}/log_entries", self._list_log_entries)
        self.app.router.add_post(
            "/incidents/{id}/responder_requests", self._responder_request
        )
        self.app.router.add_get("/oncalls", self._list_oncalls)
        for name in ("users", "escalation_policies", "services"):
            self.app.router.add_get(f"/{name}", self._lister(name))
        self.app.router.add_post("/v2/enqueue", self._enqueue)

    # --- seed --------------------------------------------------------------------------------

    def _seed(self) -> None:
        s, now = self.state, self.clock()
        s.api_keys.add(API_KEY)
        s.routing_keys[ROUTING_KEY] = "PSVCAPI"
        for uid, (name, email) in USERS.items():
            s.users[uid] = {
                "id": uid,
                "type": "user",
                "name": name,
                "summary": name,
                "email": email,
                "time_zone": "America/Los_Angeles",
                "role": "user",
                "self": ref("user", {"id": uid, "name": name})["self"],
            }
        for pid, (name, sid, sname, first, second) in POLICIES.items():
            s.schedules[sid] = {
                "id": sid,
                "type": "schedule",
                "name": sname,
                "summary": sname,
            }
            s.escalation_policies[pid] = {
                "id": pid,
                "type": "escalation_policy",
                "name": name,
                "summary": name,
                "num_loops": 0,
                "escalation_rules": [
                    {
                        "escalation_delay_in_minutes": 15,
                        "targets": [ref("schedule", s.schedules[sid])],
                    },
                    {
                        "escalation_delay_in_minutes": 15,
                        "targets": [ref("user", s.users[second])],
                    },
                ],
            }
            # Level 1 from a weekly schedule (this shift and a later one), level 2 always on call.
            start = now.replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
            self.add_oncall(
                pid,
                first,
                level=1,
                schedule_id=sid,
                start=start,
                end=start + timedelta(days=7),
            )
            self.add_oncall(
                pid,
                first,
                level=1,
                schedule_id=sid,
                start=start + timedelta(days=14),
                end=start + timedelta(days=21),
            )
            self.add_oncall(pid, second, level=2)
        for sid, (name, policy) in SERVICES.items():
            s.services[sid] = {
                "id": sid,
                "type": "service",
                "name": name,
                "summary": name,
                "status": "active",
                "escalation_policy": ref(
                    "escalation_policy", s.escalation_policies[policy]
                ),
            }

    def add_oncall(
        self,
        policy_id: str,
        user_id: str,
        *,
        level: int,
        schedule_id: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> None:
        """Put a user on call for a policy level (no start/end means permanently)."""
        self.state.oncalls.append(
            {
                "policy": policy_id,
                "user": user_id,
                "level": level,
                "schedule": schedule_id,
                "start": start,
                "end": end,
            }
        )

    # --- fault injection and helpers for tests -------------------------------------------------

    def fail(
        self,
        route_or_method: str,
        status: int,
        *,
        times: int = 1,
        body: Any = None,
        after_processing: bool = False,
    ) -> None:
        """Answer the next `times` matching requests with `status` (429 carries ratelimit headers).

        `route_or_method` is a method ("POST"), a route ("/incidents/{id}"), a path, or both
        ("POST /incidents"). With `after_processing`, the request takes effect first and only its
        answer is replaced (a 502 from a proxy after PagerDuty created the incident).
        """
        self._faults.append(
            Fault(route_or_method, status, times, body, after_processing)
        )

    def hold(self, route: str) -> asyncio.Event:
        """Hold every `"METHOD /path"` request (recorded, unanswered) until the event is set."""
        self._holds[route] = asyncio.Event()
        return self._holds[route]

    def drop_connection(self, *, times: int = 1) -> None:
        """Close the connection without answering the next `times` requests (a network error)."""
        self._drops += times

    def user_id(self, who: str) -> str:
        for user in self.state.users.values():
            if who in (user["id"], user["email"], user["name"]):
                return str(user["id"])
        raise KeyError(who)

    def acknowledge(
        self, pd_incident_id: str, by_user: str, *, at: datetime | None = None
    ) -> dict[str, Any]:
        """Act as a responder acknowledging the incident in PagerDuty (the app, a phone call)."""
        user = ref("user", self.state.users[self.user_id(by_user)])
        return self._set_status(
            self.state.incidents[pd_incident_id], "acknowledged", user, at, "mobile"
        )

    def resolve(
        self, pd_incident_id: str, by_user: str, *, at: datetime | None = None
    ) -> dict[str, Any]:
        """Act as a responder resolving the incident in PagerDuty."""
        user = ref("user", self.state.users[self.user_id(by_user)])
        return self._set_status(
            self.state.incidents[pd_incident_id], "resolved", user, at, "website"
        )

    sign_webhook = staticmethod(sign_webhook)

    def webhook_body(
        self, pd_incident_id: str, event_type: str, *, by_user: str, at: datetime
    ) -> bytes:
        """The body of a v3 webhook PagerDuty would send for this incident."""
        user = self.state.users[self.user_id(by_user)]
        incident = self.state.incidents[pd_incident_id]
        event = {
            "id": uuid.uuid4().hex,
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": iso(at),
            "agent": ref("user", user),
            "client": None,
            "data": incident,
        }
        return json.dumps({"event": event}).encode()

    def requests_to(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    # --- plumbing ------------------------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Any
    ) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        query: dict[str, list[str]] = {}
        for key, value in request.query.items():
            query.setdefault(key, []).append(value)
        self.requests.append(
            Recorded(request.method, request.path, query, dict(request.headers), body)
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        held = self._holds.get(f"{request.method} {request.path}")
        if held is not None:
            await held.wait()
        if self._drops:
            self._drops -= 1
            assert request.transport is not None
            request.transport.abort()  # the client sees the connection reset, no response
            return web.Response(status=500)
        route = (
            request.match_info.route.resource.canonical
            if request.match_info.route.resource
            else request.path
        )
        names = {
            request.method,
            route,
            request.path,
            f"{request.method} {route}",
            f"{request.method} {request.path}",
        }
        fault = next(
            (f for f in self._faults if f.times > 0 and f.match in names), None
        )
        if fault is not None:
            fault.times -= 1
            if not fault.after_processing:
                return self._fault_response(fault, request.path)
        tokens = {f"Token token={key}" for key in self.state.api_keys}
        if (
            request.path != "/v2/enqueue"
            and request.headers.get("Authorization") not in tokens
        ):
            return pd_error(401, "Unauthorized", code=2006)
        request[JSON_BODY] = body
        response = await handler(request)
        # A fault after processing: the work was done but its answer is lost on the way back.
        return response if fault is None else self._fault_response(fault, request.path)

    def _fault_response(self, fault: Fault, path: str) -> web.Response:
        headers = {}
        if fault.status == 429:
            headers = {
                "ratelimit-limit": "960",
                "ratelimit-remaining": "0",
                "ratelimit-reset": "30",
            }
        if fault.body is not None:
            return web.json_response(fault.body, status=fault.status, headers=headers)
        if path == "/v2/enqueue":
            message = {
                429: "Requests for this service are arriving too quickly. Please retry later."
            }
            body = {
                "status": "error",
                "message": message.get(fault.status, "Internal error"),
                "errors": [],
            }
            return web.json_response(body, status=fault.status, headers=headers)
        messages = {
            400: "Invalid Input Provided",
            429: "Rate Limit Exceeded",
            403: "Forbidden",
        }
        codes = {400: 2001, 429: 2020, 403: 2010}
        response = pd_error(
            fault.status,
            messages.get(fault.status, "Internal Server Error"),
            code=codes.get(fault.status, 2000),
        )
        response.headers.update(headers)
        return response

    def _page(
        self, request: web.Request, name: str, items: list[dict[str, Any]]
    ) -> web.Response:
        limit = min(int(request.query.get("limit", 25)), self.max_limit)
        offset = int(request.query.get("offset", 0))
        chunk = items[offset : offset + limit]
        total = len(items) if request.query.get("total") == "true" else None
        more = offset + len(chunk) < len(items)
        return web.json_response(
            {
                name: chunk,
                "limit": limit,
                "offset": offset,
                "more": more,
                "total": total,
            }
        )

    def _from_user(self, request: web.Request) -> dict[str, Any] | web.Response:
        email = request.headers.get("From")
        if not email:
            return pd_error(
                400,
                "Invalid Input Provided",
                'You must specify a user\'s email address in the "From" header to perform this action.',
            )
        for user in self.state.users.values():
            if user["email"].lower() == email.lower():
                return user
        return pd_error(400, "Invalid Input Provided", "Requester User Not Found")

    def _now(self) -> str:
        return str(iso(self.clock()))

    def _log(
        self,
        incident: dict[str, Any],
        kind: str,
        agent: dict[str, Any],
        at: str,
        channel: str,
    ) -> dict[str, Any]:
        entry_id = f"R{next(self._ids):013d}"
        entry = {
            "id": entry_id,
            "type": kind,
            "summary": f"{kind.split('_')[0].capitalize()}d",
            "self": f"https://api.pagerduty.com/log_entries/{entry_id}",
            "created_at": at,
            "agent": agent,
            "channel": {"type": channel},
            "incident": ref("incident", incident),
            "service": incident["service"],
            "teams": [],
            "contexts": [],
        }
        self.state.log_entries[incident["id"]].append(entry)
        return entry

    def _set_status(
        self,
        incident: dict[str, Any],
        status: str,
        agent: dict[str, Any],
        at: datetime | None,
        channel: str,
    ) -> dict[str, Any]:
        when = iso(at or self.clock())
        incident.update(
            status=status,
            updated_at=when,
            last_status_change_at=when,
            last_status_change_by=agent,
        )
        if status == "acknowledged":
            incident["acknowledgements"].append({"at": when, "acknowledger": agent})
            self._log(incident, "acknowledge_log_entry", agent, str(when), channel)
        elif status == "resolved":
            incident.update(resolved_at=when, assignments=[])
            self._log(incident, "resolve_log_entry", agent, str(when), channel)
        return incident

    def _new_incident(
        self,
        *,
        title: str,
        service: dict[str, Any],
        policy: dict[str, Any],
        urgency: str,
        key: str | None,
        agent: dict[str, Any],
        details: str | None,
        channel: str,
    ) -> dict[str, Any]:
        number = len(self.state.incidents) + 1
        pd_id, now = f"PINC{number:03d}", self._now()
        assignees = [
            o["user"]
            for o in self.state.oncalls
            if o["policy"] == policy["id"] and o["level"] == 1
        ][:1]
        incident: dict[str, Any] = {
            "id": pd_id,
            "type": "incident",
            "title": title,
            "summary": f"[#{number}] {title}",
            "self": f"https://api.pagerduty.com/incidents/{pd_id}",
            "html_url": f"{HTML}/incidents/{pd_id}",
            "incident_number": number,
            "created_at": now,
            "updated_at": now,
            "status": "triggered",
            "incident_key": key,
            "service": ref("service", service),
            "urgency": urgency,
            "escalation_policy": ref("escalation_policy", policy),
            "assigned_via": "escalation_policy",
            "assignments": [
                {"at": now, "assignee": ref("user", self.state.users[u])}
                for u in assignees
            ],
            "acknowledgements": [],
            "resolved_at": None,
            "last_status_change_at": now,
            "last_status_change_by": ref("service", service),
            "teams": [],
            "body": {"type": "incident_body", "details": details},
        }
        self.state.incidents[pd_id] = incident
        self.state.log_entries[pd_id] = []
        trigger = self._log(incident, "trigger_log_entry", agent, now, channel)
        incident["first_trigger_log_entry"] = {
            "id": trigger["id"],
            "type": "trigger_log_entry_reference",
        }
        return incident

    # --- REST API v2 ---------------------------------------------------------------------------

    async def _create_incident(self, request: web.Request) -> web.Response:
        requester = self._from_user(request)
        if isinstance(requester, web.Response):
            return requester
        body = request[JSON_BODY]
        wrapped = body.get("incident") if isinstance(body, dict) else None
        if not isinstance(wrapped, dict):
            return pd_error(400, "Invalid Input Provided", "incident is required")
        if wrapped.get("type") != "incident":
            return pd_error(
                400, "Invalid Input Provided", "Incident type must be 'incident'."
            )
        if not wrapped.get("title"):
            return pd_error(400, "Invalid Input Provided", "Title cannot be empty.")
        service_ref = wrapped.get("service") or {}
        service = self.state.services.get(service_ref.get("id", ""))
        if service is None or service_ref.get("type") not in (
            "service_reference",
            "service",
        ):
            return pd_error(400, "Invalid Input Provided", "Service not found")
        if wrapped.get("urgency", "high") not in ("high", "low"):
            return pd_error(
                400, "Invalid Input Provided", "Urgency must be one of high, low"
            )
        policy_ref = wrapped.get("escalation_policy")
        policy_id = (policy_ref or {}).get("id") or service["escalation_policy"]["id"]
        policy = self.state.escalation_policies.get(policy_id)
        if policy is None or (
            policy_ref and policy_ref.get("type") != "escalation_policy_reference"
        ):
            return pd_error(
                400, "Invalid Input Provided", "Escalation policy not found"
            )
        if policy_ref and wrapped.get("assignments"):
            return pd_error(
                400,
                "Invalid Input Provided",
                "Cannot specify both assignments and an escalation policy",
            )
        key = wrapped.get("incident_key")
        if key and any(
            i["incident_key"] == key
            and i["service"]["id"] == service["id"]
            and i["status"] in OPEN_STATUSES
            for i in self.state.incidents.values()
        ):
            return pd_error(
                400,
                "Invalid Input Provided",
                "Open incident with matching incident key already exists on this service",
            )
        incident = self._new_incident(
            title=wrapped["title"],
            service=service,
            policy=policy,
            urgency=wrapped.get("urgency", "high"),
            key=key or uuid.uuid4().hex,
            agent=ref("user", requester),
            channel="api",
            details=(wrapped.get("body") or {}).get("details"),
        )
        return web.json_response({"incident": incident}, status=201)

    async def _list_incidents(self, request: web.Request) -> web.Response:
        statuses = request.query.getall("statuses[]", [])
        services = request.query.getall("service_ids[]", [])
        key = request.query.get("incident_key")
        found = [
            i
            for i in self.state.incidents.values()
            if (not key or i["incident_key"] == key)
            and (not statuses or i["status"] in statuses)
            and (not services or i["service"]["id"] in services)
        ]
        return self._page(request, "incidents", found)

    def _incident(self, request: web.Request) -> dict[str, Any] | web.Response:
        incident = self.state.incidents.get(request.match_info["id"])
        return (
            incident if incident is not None else pd_error(404, "Not Found", code=2100)
        )

    async def _get_incident(self, request: web.Request) -> web.Response:
        incident = self._incident(request)
        return (
            incident
            if isinstance(incident, web.Response)
            else web.json_response({"incident": incident})
        )

    async def _update_incident(self, request: web.Request) -> web.Response:
        incident = self._incident(request)
        if isinstance(incident, web.Response):
            return incident
        requester = self._from_user(request)
        if isinstance(requester, web.Response):
            return requester
        body = request[JSON_BODY]
        wrapped = body.get("incident") if isinstance(body, dict) else None
        if not isinstance(wrapped, dict) or wrapped.get("type") not in (
            "incident",
            "incident_reference",
        ):
            return pd_error(400, "Invalid Input Provided", "incident is required")
        status = wrapped.get("status")
        if status not in (None, "acknowledged", "resolved"):
            return pd_error(
                400,
                "Invalid Input Provided",
                "Status must be one of acknowledged, resolved",
            )
        if status and incident["status"] == "resolved":
            return pd_error(400, "Invalid Input Provided", "Incident Already Resolved")
        if status and status != incident["status"]:
            self._set_status(incident, status, ref("user", requester), None, "api")
        return web.json_response({"incident": incident})

    async def _list_log_entries(self, request: web.Request) -> web.Response:
        incident = self._incident(request)
        if isinstance(incident, web.Response):
            return incident
        newest_first = sorted(
            self.state.log_entries[incident["id"]],
            key=lambda e: e["created_at"],
            reverse=True,
        )
        return self._page(request, "log_entries", newest_first)

    async def _responder_request(self, request: web.Request) -> web.Response:
        incident = self._incident(request)
        if isinstance(incident, web.Response):
            return incident
        body = request[JSON_BODY] if isinstance(request[JSON_BODY], dict) else {}
        requester = self.state.users.get(body.get("requester_id", ""))
        targets = body.get("responder_request_targets")
        if (
            requester is None
            or not body.get("message")
            or not isinstance(targets, list)
            or not targets
        ):
            return pd_error(
                400,
                "Invalid Input Provided",
                "requester_id, message and responder_request_targets are required",
            )
        now, resolved = self._now(), []
        for item in targets:
            target = (item or {}).get("responder_request_target") or {}
            pool = {
                "user_reference": self.state.users,
                "escalation_policy_reference": self.state.escalation_policies,
            }
            found = pool.get(target.get("type"), {}).get(target.get("id", ""))
            if found is None:
                return pd_error(
                    400,
                    "Invalid Input Provided",
                    f"Responder request target {target.get('id')} not found",
                )
            kind = "user" if target["type"] == "user_reference" else "escalation_policy"
            responder = {
                "state": "pending",
                "user": ref("user", found if kind == "user" else requester),
                "incident": ref("incident", incident),
                "updated_at": now,
                "message": body["message"],
                "requester": ref("user", requester),
                "requested_at": now,
            }
            resolved.append(
                {
                    "responder_request_target": {
                        "type": kind,
                        "id": found["id"],
                        "incidents_responders": [responder],
                    }
                }
            )
        rr = {
            "incident": ref("incident", incident),
            "requester": ref("user", requester),
            "requested_at": now,
            "message": body["message"],
            "responder_request_targets": resolved,
        }
        self.state.responder_requests.append(rr)
        return web.json_response({"responder_request": rr})

    async def _list_oncalls(self, request: web.Request) -> web.Response:
        policies = request.query.getall("escalation_policy_ids[]", [])
        users = request.query.getall("user_ids[]", [])
        schedules = request.query.getall("schedule_ids[]", [])
        full_users = "users" in request.query.getall("include[]", [])
        # since/until default to now: an on-call period is listed when it overlaps the range.
        since = _time(request.query.get("since")) or self.clock()
        until = _time(request.query.get("until")) or since
        entries = sorted(
            (
                o
                for o in self.state.oncalls
                if (not policies or o["policy"] in policies)
                and (not users or o["user"] in users)
                and (not schedules or o["schedule"] in schedules)
                and (o["start"] is None or o["start"] <= until)
                and (o["end"] is None or o["end"] >= since)
            ),
            key=lambda o: (
                o["policy"],
                o["level"],
                o["start"] or datetime.min.replace(tzinfo=UTC),
            ),
        )
        if request.query.get("earliest") == "true":
            seen: set[tuple[str, int, str]] = set()
            entries = [
                o
                for o in entries
                if not (
                    (o["policy"], o["level"], o["user"]) in seen
                    or seen.add((o["policy"], o["level"], o["user"]))
                )
            ]
        result = []
        for o in entries:
            user = self.state.users[o["user"]]
            schedule = self.state.schedules.get(o["schedule"] or "")
            result.append(
                {
                    "user": dict(user) if full_users else ref("user", user),
                    "schedule": ref("schedule", schedule) if schedule else None,
                    "escalation_policy": ref(
                        "escalation_policy", self.state.escalation_policies[o["policy"]]
                    ),
                    "escalation_level": o["level"],
                    "start": iso(o["start"]),
                    "end": iso(o["end"]),
                }
            )
        return self._page(request, "oncalls", result)

    def _lister(self, name: str) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.Response:
            query = request.query.get("query", "").lower()
            items = [
                o
                for o in getattr(self.state, name).values()
                if query in o["name"].lower() or query in o.get("email", "").lower()
            ]
            return self._page(request, name, items)

        return handler

    # --- Events API v2 -------------------------------------------------------------------------

    async def _enqueue(self, request: web.Request) -> web.Response:
        event = request[JSON_BODY]
        if not isinstance(event, dict):
            return event_error("Event object is invalid", "JSON parse error")
        routing_key = event.get("routing_key")
        if routing_key not in self.state.routing_keys:
            return event_error("Event object is invalid", "Invalid routing key")
        action, key = event.get("event_action"), event.get("dedup_key")
        if action not in ("trigger", "acknowledge", "resolve"):
            return event_error(
                "Event object is invalid", "'event_action' is missing or invalid"
            )
        if key is not None and (not isinstance(key, str) or len(key) > 255):
            return event_error(
                "Event object is invalid",
                "'dedup_key' must be a string of at most 255 characters",
            )
        alert = self.state.alerts.get((routing_key, key or ""))
        is_open = (
            alert is not None
            and self.state.incidents[alert["incident"]]["status"] in OPEN_STATUSES
        )
        if action == "trigger":
            payload = (
                event.get("payload") if isinstance(event.get("payload"), dict) else {}
            )
            missing = [
                f"'payload.{f}' is missing or blank"
                for f in ("summary", "source", "severity")
                if not payload.get(f)
            ]
            if payload.get("severity") and payload["severity"] not in (
                "critical",
                "error",
                "warning",
                "info",
            ):
                missing.append(
                    "'payload.severity' must be one of critical, error, warning, info"
                )
            if missing:
                return event_error("Event object is invalid", *missing)
            key = key or uuid.uuid4().hex
            if alert is not None and is_open:
                alert["events"].append(event)  # merged into the open alert
            else:
                service = self.state.services[self.state.routing_keys[routing_key]]
                policy = self.state.escalation_policies[
                    service["escalation_policy"]["id"]
                ]
                severity = payload["severity"]
                incident = self._new_incident(
                    title=payload["summary"],
                    service=service,
                    policy=policy,
                    key=key,
                    channel="api",
                    urgency="high" if severity in ("critical", "error") else "low",
                    agent=ref("service", service),
                    details=json.dumps(payload.get("custom_details")),
                )
                self.state.alerts[(routing_key, key)] = {
                    "incident": incident["id"],
                    "events": [event],
                }
        elif not key:
            return event_error(
                "Event object is invalid", "'dedup_key' is missing or blank"
            )
        # ack/resolve of a closed or unknown alert is dropped
        elif alert is not None and is_open:
            alert["events"].append(event)
            incident = self.state.incidents[alert["incident"]]
            status = "acknowledged" if action == "acknowledge" else "resolved"
            self._set_status(incident, status, incident["service"], None, "api")
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": key},
            status=202,
        )
