"""Follow-ups: the action items an incident leaves behind, tracked to done.

One list per incident whatever they came from (`/incident followup`, the post-mortem message's
button): typed as the post-mortem's action items are (prevent, mitigate, detect, process), each
with an owner, a due date, a priority and, once exported, the issue in the team's tracker.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel


class FollowUpKind(StrEnum):
    PREVENT = "prevent"  # stops it happening again
    MITIGATE = "mitigate"  # makes the next one smaller or shorter
    DETECT = "detect"  # notices it sooner
    PROCESS = "process"  # how people respond


class Priority(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class FollowUpState(StrEnum):
    OPEN = "open"
    DONE = "done"


class FollowUp(BaseModel):
    id: int
    incident: int
    text: str
    kind: FollowUpKind | None = None  # None: the author has still to choose
    priority: Priority = Priority.MEDIUM
    owner: str | None = None  # Slack user id
    due: date | None = None
    state: FollowUpState = FollowUpState.OPEN
    created_by: str
    created_at: datetime
    done_at: datetime | None = None
    tracker: str | None = None  # "github" or "jira" once exported
    tracker_key: str | None = None  # "42" (a GitHub issue number) or "OPS-7"
    tracker_url: str | None = None
    reminded_on: date | None = None  # the last day its owner was reminded it is overdue

    def overdue(self, today: date) -> bool:
        return (
            self.state is FollowUpState.OPEN
            and self.due is not None
            and self.due < today
        )


class TrackerIssue(BaseModel):
    """An issue in the tracker as the bot sees it."""

    key: str
    url: str
    done: bool
