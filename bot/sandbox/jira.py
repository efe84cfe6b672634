"""A Jira stand-in on 127.0.0.1: the REST API v2 calls follow-ups use, answered as Jira does.

`POST /rest/api/2/issue` (201 with id, key and self), `GET /rest/api/2/issue/{key}` (the issue
with its status and status category) and `POST /rest/api/2/issue/{key}/transitions` (a person
moving it to Done). 401 without the token, 400 with Jira's `errors` for a wrong project or a
missing summary, 404 for an unknown issue. Each request is kept in `calls`.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

STATUSES = {
    "To Do": {
        "id": "10000",
        "name": "To Do",
        "statusCategory": {"id": 2, "key": "new", "name": "To Do"},
    },
    "Done": {
        "id": "10001",
        "name": "Done",
        "statusCategory": {"id": 3, "key": "done", "name": "Done"},
    },
}
TRANSITIONS = {"31": "Done", "11": "To Do"}


@dataclass
class JiraCall:
    method: str
    path: str
    body: dict[str, Any]


@dataclass
class JiraStandIn:
    project: str
    token: str
    email: str | None = None
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[JiraCall] = field(default_factory=list)
    base: str = "http://127.0.0.1"
    fail_next: int = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/rest/api/2/issue", self._create)
        app.router.add_get("/rest/api/2/issue/{key}", self._get)
        app.router.add_post("/rest/api/2/issue/{key}/transitions", self._transition)
        return app

    def close(self, key: str) -> None:
        """A person moves the issue to Done."""
        self.issues[key]["fields"]["status"] = STATUSES["Done"]
        self.issues[key]["fields"]["resolutiondate"] = _now()

    async def _check(self, request: web.Request) -> dict[str, Any]:
        body = json.loads(await request.read() or b"{}")
        self.calls.append(JiraCall(request.method, request.path, body))
        if self.fail_next:
            self.fail_next -= 1
            raise web.HTTPServiceUnavailable(text="")
        expected = (
            "Basic " + base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
            if self.email
            else f"Bearer {self.token}"
        )
        if request.headers.get("Authorization") != expected:
            raise web.HTTPUnauthorized(
                text=json.dumps(
                    {"errorMessages": ["You are not authenticated."], "errors": {}}
                ),
                content_type="application/json",
            )
        return dict(body)

    async def _create(self, request: web.Request) -> web.Response:
        fields = (await self._check(request)).get("fields") or {}
        errors = {}
        if (fields.get("project") or {}).get("key") != self.project:
            errors["project"] = "valid project is required"
        if not fields.get("summary"):
            errors["summary"] = "You must specify a summary of the issue."
        if errors:
            return web.json_response(
                {"errorMessages": [], "errors": errors}, status=400
            )
        number = len(self.issues) + 1
        key = f"{self.project}-{number}"
        self.issues[key] = {
            "id": str(10000 + number),
            "key": key,
            "self": f"{self.base}/rest/api/2/issue/{10000 + number}",
            "fields": {
                **fields,
                "status": STATUSES["To Do"],
                "created": _now(),
                "resolutiondate": None,
            },
        }
        issue = self.issues[key]
        return web.json_response(
            {"id": issue["id"], "key": key, "self": issue["self"]}, status=201
        )

    async def _get(self, request: web.Request) -> web.Response:
        await self._check(request)
        return web.json_response(self._find(request))

    async def _transition(self, request: web.Request) -> web.Response:
        body = await self._check(request)
        issue = self._find(request)
        target = TRANSITIONS.get(str((body.get("transition") or {}).get("id")))
        if target is None:
            return web.json_response(
                {
                    "errorMessages": [
                        "It seems that you have tried to perform an illegal workflow operation."
                    ],
                    "errors": {},
                },
                status=400,
            )
        if target == "Done":
            self.close(issue["key"])
        else:
            issue["fields"]["status"] = STATUSES["To Do"]
        return web.Response(status=204)

    def _find(self, request: web.Request) -> dict[str, Any]:
        key = request.match_info["key"]
        if key not in self.issues:
            raise web.HTTPNotFound(
                text=json.dumps(
                    {
                        "errorMessages": [
                            "Issue does not exist or you do not have permission to see it."
                        ],
                        "errors": {},
                    }
                ),
                content_type="application/json",
            )
        return self.issues[key]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
