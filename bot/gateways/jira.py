"""Jira, the follow-up tracker (`WARROOM_TRACKER=jira`), through the `jira` package.

Owns the two calls follow-ups need: create an issue (in `WARROOM_JIRA_PROJECT`, of
`WARROOM_JIRA_ISSUE_TYPE`) that links back to the incident, and read whether its status is in
Jira's "done" category. The client is synchronous (requests), so each call runs on a worker
thread; its retries are bounded (`RETRIES`), and every failure leaves here as an
`ExternalServiceError` naming the status, never the token.
"""

from __future__ import annotations

import asyncio
from typing import Any

from jira import JIRA, JIRAError
from requests.exceptions import RequestException

from bot.errors import ExternalServiceError
from bot.models.followups import FollowUp, TrackerIssue

RETRIES = (
    1  # the client's own retries of a failed call; the next sync tries again anyway
)
LABELS = ("incident-follow-up",)


class JiraTracker:
    name = "jira"

    def __init__(
        self,
        *,
        url: str,
        project: str,
        token: str,
        email: str | None = None,
        issue_type: str = "Task",
    ) -> None:
        self.url, self.project, self.issue_type = url.rstrip("/"), project, issue_type
        auth: dict[str, Any] = (
            {"basic_auth": (email, token)} if email else {"token_auth": token}
        )
        self._jira = JIRA(
            server=self.url,
            get_server_info=False,
            max_retries=RETRIES,
            timeout=10,
            **auth,
        )

    async def create(
        self,
        item: FollowUp,
        *,
        incident_key: str,
        incident_title: str | None,
        link: str,
    ) -> TrackerIssue:
        heading = f"Follow-up #{item.id} of *{incident_key}*" + (
            f": {incident_title}" if incident_title else ""
        )
        fields = {
            "project": {"key": self.project},
            "issuetype": {"name": self.issue_type},
            "summary": f"[{incident_key}] {item.text}"[:255],
            "description": "\n".join(
                [
                    heading,
                    "",
                    item.text,
                    "",
                    f"* Type: {item.kind.value if item.kind else 'to choose'}",
                    f"* Priority: {item.priority.value}",
                    f"* Due: {item.due.isoformat() if item.due else 'not set'}",
                    f"* Incident: {link}",
                    "",
                    "Moving this issue to a done status marks the follow-up done in warroom.",
                ]
            ),
            "labels": [
                *LABELS,
                item.kind.value if item.kind else "untyped",
                f"priority-{item.priority.value}",
            ],
        }
        if item.due:
            fields["duedate"] = item.due.isoformat()
        issue = await self._call(
            "create an issue", self._jira.create_issue, fields=fields
        )
        return _issue(issue)

    async def state(self, key: str) -> TrackerIssue:
        return _issue(
            await self._call(f"read {key}", self._jira.issue, key, fields="status")
        )

    async def aclose(self) -> None:
        await asyncio.to_thread(self._jira.close)

    async def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except JIRAError as exc:
            status = exc.status_code or 0
            raise ExternalServiceError(
                f"Jira could not {what}: HTTP {status}",
                service="jira",
                code=str(status),
                retryable=status in (0, 429) or status >= 500,
            ) from None
        except RequestException as exc:
            raise ExternalServiceError(
                f"Jira could not {what}: {type(exc).__name__}",
                service="jira",
                code=type(exc).__name__,
                retryable=True,
            ) from None


def _issue(issue: Any) -> TrackerIssue:
    category = issue.fields.status.statusCategory.key
    return TrackerIssue(
        key=str(issue.key), url=str(issue.permalink()), done=category == "done"
    )
