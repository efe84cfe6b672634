"""GitHub Issues, the follow-up tracker (`WARROOM_TRACKER=github`), through githubkit.

Owns the two calls follow-ups need: create an issue that links back to the incident, and read
whether it is closed. githubkit's response models check every answer (the stand-in's included).
`issue_event` checks and reads GitHub's signed `issues` webhook (an issue closed or reopened).
Its own retries are bounded (server errors, `RETRIES` tries in all; a rate limit waits for the next sync), and every library
failure leaves here as an `ExternalServiceError` naming the status, never the token.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from githubkit import GitHub
from githubkit.exception import GitHubException, RequestFailed
from githubkit.retry import RetryChainDecision, RetryServerError

from bot.errors import ExternalServiceError
from bot.models.followups import FollowUp, TrackerIssue

RETRIES = 3
LABELS = ("incident-follow-up",)


class GitHubTracker:
    name = "github"

    def __init__(self, *, repo: str, token: str, api_url: str) -> None:
        self.owner, self.repo = repo.split("/", 1)
        self._github = GitHub(
            token,
            base_url=api_url.rstrip("/") + "/",
            http_cache=False,
            timeout=10,
            # Server errors twice (1 s, 4 s); a rate limit is not waited out here: the next
            # sync tries again.
            auto_retry=RetryChainDecision(RetryServerError(max_retry=RETRIES - 1)),
            user_agent="warroom",
        )

    async def create(
        self,
        item: FollowUp,
        *,
        incident_key: str,
        incident_title: str | None,
        link: str,
    ) -> TrackerIssue:
        labels = [*LABELS, f"{item.kind.value}" if item.kind else "untyped"]
        body = "\n".join(
            [
                f"Follow-up #{item.id} of **{incident_key}**"
                + (f": {incident_title}" if incident_title else ""),
                "",
                item.text,
                "",
                f"- Type: {item.kind.value if item.kind else 'to choose'}",
                f"- Priority: {item.priority.value}",
                f"- Due: {item.due.isoformat() if item.due else 'not set'}",
                f"- Incident: {link}",
                "",
                "Closing this issue marks the follow-up done in warroom.",
            ]
        )
        try:
            response = await self._github.rest.issues.async_create(
                self.owner,
                self.repo,
                title=f"[{incident_key}] {item.text}"[:256],
                body=body,
                labels=[*labels, f"priority:{item.priority.value}"],
            )
        except GitHubException as exc:
            raise _failed("create an issue", exc) from None
        issue = response.parsed_data
        return TrackerIssue(
            key=str(issue.number), url=issue.html_url, done=issue.state == "closed"
        )

    async def state(self, key: str) -> TrackerIssue:
        try:
            response = await self._github.rest.issues.async_get(
                self.owner, self.repo, int(key)
            )
        except GitHubException as exc:
            raise _failed(f"read issue {key}", exc) from None
        issue = response.parsed_data
        return TrackerIssue(
            key=str(issue.number), url=issue.html_url, done=issue.state == "closed"
        )

    async def aclose(self) -> None:
        """githubkit opens a client per call unless one is entered: nothing stays open."""


SIGNATURE_HEADER = "X-Hub-Signature-256"


def issue_event(
    body: bytes, *, signature: str | None, secret: str, repo: str
) -> TrackerIssue | None:
    """An `issues` webhook delivery of `repo` that closed or reopened an issue, if its
    `X-Hub-Signature-256` (HMAC-SHA256 of the body) is right; raises ValueError when it is not."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not signature or not hmac.compare_digest(expected, signature):
        raise ValueError("invalid signature")
    try:
        event = json.loads(body)
        action, issue = event["action"], event["issue"]
        name = event["repository"]["full_name"]
        found = TrackerIssue(
            key=str(int(issue["number"])),
            url=str(issue["html_url"]),
            done=action == "closed",
        )
    except (ValueError, KeyError, TypeError):
        return None
    if name != repo or action not in ("closed", "reopened"):
        return None
    return found


def _failed(what: str, exc: GitHubException) -> ExternalServiceError:
    if isinstance(exc, RequestFailed):
        status = exc.response.status_code
        return ExternalServiceError(
            f"GitHub could not {what}: HTTP {status}",
            service="github",
            code=str(status),
            retryable=status == 429 or status >= 500,
        )
    return ExternalServiceError(
        f"GitHub could not {what}: {type(exc).__name__}",
        service="github",
        code=type(exc).__name__,
        retryable=True,
    )
