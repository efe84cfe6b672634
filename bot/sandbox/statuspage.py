"""An Atlassian Statuspage stand-in on 127.0.0.1: creating and updating a page's incidents as its
REST API v1 does (`POST /v1/pages/{page_id}/incidents`, `PATCH .../incidents/{id}`, the
`{"incident": {...}}` envelope, `Authorization: OAuth <key>`). 401 for a wrong key, 404 for another
page or an unknown incident, 422 for a missing name or a status it does not know. Each incident
keeps its updates (newest first, as the API lists them) and the page its components' states."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

STATUSES = {"investigating", "identified", "monitoring", "resolved"}
COMPONENT_STATES = {
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
}


@dataclass
class StatuspageStandIn:
    page_id: str
    api_key: str
    components: dict[str, str] = field(default_factory=dict)  # component id -> state
    incidents: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail_next: int = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/pages/{page}/incidents", self._create)
        app.router.add_patch("/v1/pages/{page}/incidents/{id}", self._update)
        return app

    async def _check(self, request: web.Request) -> dict[str, Any]:
        if self.fail_next:
            self.fail_next -= 1
            raise web.HTTPServiceUnavailable()
        if request.headers.get("Authorization") != f"OAuth {self.api_key}":
            raise web.HTTPUnauthorized(
                text=json.dumps({"error": "Unauthorized"}),
                content_type="application/json",
            )
        if request.match_info["page"] != self.page_id:
            raise web.HTTPNotFound(
                text=json.dumps({"error": "Not found"}), content_type="application/json"
            )
        body = json.loads(await request.read() or b"{}")
        incident = body.get("incident")
        if not isinstance(incident, dict):
            raise _invalid("incident is missing")
        if "status" in incident and incident["status"] not in STATUSES:
            raise _invalid("Status is not included in the list")
        for state in (incident.get("components") or {}).values():
            if state not in COMPONENT_STATES:
                raise _invalid("Component status is not included in the list")
        return incident

    async def _create(self, request: web.Request) -> web.Response:
        incident = await self._check(request)
        if not incident.get("name"):
            raise _invalid("Name can't be blank")
        remote_id = f"inc{len(self.incidents) + 1:04d}"
        self.incidents[remote_id] = {
            "id": remote_id,
            "page_id": self.page_id,
            "name": incident["name"],
            "status": incident.get("status", "investigating"),
            "created_at": _now(),
            "incident_updates": [],
            "components": [],
        }
        self._apply(self.incidents[remote_id], incident)
        return web.json_response(self.incidents[remote_id], status=201)

    async def _update(self, request: web.Request) -> web.Response:
        incident = await self._check(request)
        found = self.incidents.get(request.match_info["id"])
        if found is None:
            raise web.HTTPNotFound(
                text=json.dumps({"error": "Not found"}), content_type="application/json"
            )
        self._apply(found, incident)
        return web.json_response(found)

    def _apply(self, found: dict[str, Any], incident: dict[str, Any]) -> None:
        found["status"] = incident.get("status", found["status"])
        if incident.get("body"):
            found["incident_updates"].insert(
                0,
                {
                    "status": found["status"],
                    "body": incident["body"],
                    "created_at": _now(),
                },
            )
        for component, state in (incident.get("components") or {}).items():
            self.components[component] = state
        found["components"] = [
            {"id": c, "status": s} for c, s in self.components.items()
        ]
        if found["status"] == "resolved":
            found["resolved_at"] = _now()


def _invalid(message: str) -> web.HTTPException:
    return web.HTTPUnprocessableEntity(
        text=json.dumps({"error": [message]}), content_type="application/json"
    )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
