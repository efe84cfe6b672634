"""A GitHub stand-in on 127.0.0.1: the Issues calls follow-ups use, answered as GitHub's REST API does.

`POST /repos/{owner}/{repo}/issues`, `GET` and `PATCH /repos/{owner}/{repo}/issues/{number}` (a
person closing an issue), with GitHub's status codes: 401 without the token, 404 for another
repository or an unknown issue, 422 for a missing title. Answers carry every field githubkit's
`Issue` model requires, so its validation checks the stand-in. Each request is kept in `calls`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

API = "http://127.0.0.1"


@dataclass
class GitHubCall:
    method: str
    path: str
    body: dict[str, Any]


@dataclass
class GitHubStandIn:
    repo: str
    token: str
    issues: dict[int, dict[str, Any]] = field(default_factory=dict)
    calls: list[GitHubCall] = field(default_factory=list)
    base: str = API
    fail_next: int = 0  # answer the next n requests 502 (a GitHub outage)

    def app(self) -> web.Application:
        app = web.Application()
        route = "/repos/{owner}/{repo}/issues"
        app.router.add_post(route, self._create)
        app.router.add_get(route + "/{number}", self._get)
        app.router.add_patch(route + "/{number}", self._patch)
        return app

    def close(self, number: int) -> None:
        """A person closes the issue on GitHub."""
        issue = self.issues[number]
        issue.update(state="closed", closed_at=_now(), state_reason="completed")

    async def _check(self, request: web.Request) -> dict[str, Any]:
        body = json.loads(await request.read() or b"{}")
        self.calls.append(GitHubCall(request.method, request.path, body))
        if self.fail_next:
            self.fail_next -= 1
            raise web.HTTPBadGateway(text=json.dumps({"message": "Server Error"}))
        auth = request.headers.get("Authorization", "")
        if auth not in (f"token {self.token}", f"Bearer {self.token}"):
            raise _error(web.HTTPUnauthorized, "Bad credentials")
        if f"{request.match_info['owner']}/{request.match_info['repo']}" != self.repo:
            raise _error(web.HTTPNotFound, "Not Found")
        return dict(body)

    async def _create(self, request: web.Request) -> web.Response:
        body = await self._check(request)
        if not isinstance(body.get("title"), str) or not body["title"]:
            raise _error(web.HTTPUnprocessableEntity, "Validation Failed")
        number = len(self.issues) + 1
        self.issues[number] = self._issue(number, body)
        return web.json_response(self.issues[number], status=201)

    async def _get(self, request: web.Request) -> web.Response:
        await self._check(request)
        return web.json_response(self._find(request))

    async def _patch(self, request: web.Request) -> web.Response:
        body = await self._check(request)
        issue = self._find(request)
        if body.get("state") == "closed" and issue["state"] != "closed":
            self.close(issue["number"])
        elif body.get("state") == "open":
            issue.update(state="open", closed_at=None, state_reason="reopened")
        return web.json_response(issue)

    def _find(self, request: web.Request) -> dict[str, Any]:
        number = request.match_info["number"]
        if not number.isdigit() or int(number) not in self.issues:
            raise _error(web.HTTPNotFound, "Not Found")
        return self.issues[int(number)]

    def _issue(self, number: int, body: dict[str, Any]) -> dict[str, Any]:
        repo_api = f"{self.base}/repos/{self.repo}"
        url = f"{repo_api}/issues/{number}"
        now = _now()
        return {
            "id": 1000 + number,
            "node_id": f"I_stand-in{number}",
            "url": url,
            "repository_url": repo_api,
            "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments",
            "events_url": f"{url}/events",
            "html_url": f"{self.base}/{self.repo}/issues/{number}",
            "number": number,
            "state": "open",
            "state_reason": None,
            "title": body["title"],
            "body": body.get("body"),
            "user": _user("warroom-bot", self.base),
            "labels": [
                {
                    "id": 2000 + i,
                    "node_id": f"LA_{i}",
                    "url": f"{repo_api}/labels/{name}",
                    "name": name,
                    "color": "ededed",
                    "default": False,
                    "description": None,
                }
                for i, name in enumerate(body.get("labels") or [])
            ],
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "locked": False,
            "active_lock_reason": None,
            "comments": 0,
            "closed_at": None,
            "created_at": now,
            "updated_at": now,
            "author_association": "NONE",
        }


def _user(login: str, base: str) -> dict[str, Any]:
    url = f"{base}/users/{login}"
    return {
        "login": login,
        "id": 1,
        "node_id": "U_stand-in",
        "avatar_url": f"{base}/avatars/{login}",
        "gravatar_id": "",
        "url": url,
        "html_url": f"{base}/{login}",
        "followers_url": f"{url}/followers",
        "following_url": f"{url}/following{{/other_user}}",
        "gists_url": f"{url}/gists{{/gist_id}}",
        "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{url}/subscriptions",
        "organizations_url": f"{url}/orgs",
        "repos_url": f"{url}/repos",
        "events_url": f"{url}/events{{/privacy}}",
        "received_events_url": f"{url}/received_events",
        "type": "Bot",
        "site_admin": False,
    }


def _error(kind: type[web.HTTPException], message: str) -> web.HTTPException:
    return kind(
        text=json.dumps(
            {"message": message, "documentation_url": "https://docs.github.com/rest"}
        ),
        content_type="application/json",
    )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
