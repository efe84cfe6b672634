"""Every port a service calls out through, and the values that cross them. No logic.

The services decide; these protocols are how they tell people and ask questions of the world they do
not own. Each is implemented once by the Slack adapter (`handlers/outbound/`), or by a service:

    Announcer           the incident lifecycle, told in Slack        handlers/outbound/announcer.py
    Follower            work that follows a lifecycle change          paging and reminder services
    CommsPort           paging, reminders, status updates, checks     handlers/outbound/comms.py
    RunbookAnnouncer    runbook messages and step cards               handlers/outbound/runbook_announcer.py
    Authoriser          who is a responder, who may approve           handlers/outbound/authoriser.py
    ApprovalEscalations paging approvers about a waiting approval     bot/services/scheduling/reminders.py
    PostmortemPublisher sharing the draft                             handlers/outbound/postmortem_publisher.py
    FollowUpPort        follow-ups told in the channel, overdue DMs   handlers/outbound/followups.py
    StatusMirror        Atlassian Statuspage, the status page's copy  bot/gateways/statuspage_io.py
    Tracker             the team's issue tracker                      bot/gateways/github.py

Every posting method takes an idempotency `key` (or derives one), so a repeat (a replay, a retried
tick) posts nothing twice. Lookups are reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from bot.gateways.pagerduty.pager import OnCall
from bot.models.alerts import Alert
from bot.models.followups import FollowUp, TrackerIssue
from bot.models.incidents import Incident, NewEntry, Status
from bot.services.runbooks.views import RunbookView
from bot.storage.postmortems import PostmortemRecord


# -- the incident lifecycle ------------------------------------------------------------------------
@dataclass(frozen=True)
class Change:
    """Something that happened to an incident, for the announcer to tell people about."""

    kind: str
    actor: str
    detail: dict[str, Any] = field(default_factory=dict)
    source: str = ""


class Announcer(Protocol):
    """How the domain tells people; implemented by the Slack adapter (handlers/outbound/announcer.py)."""

    async def declared(self, incident: Incident) -> None: ...
    async def changed(self, incident: Incident, change: Change) -> None: ...
    async def resolved(
        self,
        incident: Incident,
        *,
        head_hash: str,
        root_cause: str,
        subscribers: Sequence[str] = (),
    ) -> None: ...
    async def invite(self, incident: Incident, users: list[str]) -> None: ...


class Follower(Protocol):
    """Work that follows a lifecycle change once it is journaled (paging, reminders).

    Called after the timeline entry is written and the announcement queued; a follower must only
    queue its work (never wait on PagerDuty or AWS) and must not raise for an outside failure.
    """

    async def after_declare(self, incident: Incident, *, source: str) -> None: ...
    async def after_severity(
        self, incident: Incident, *, actor: str, source: str
    ) -> None: ...
    async def after_resolve(self, incident: Incident, *, source: str) -> None: ...


# -- paging, reminders, status updates, scheduled checks -----------------------------------------
@dataclass(frozen=True)
class Link:
    """A link to show after a line of text (the adapter draws it in Slack's syntax)."""

    url: str
    label: str


class CommsPort(Protocol):
    """Text passed to it is plain: the adapter escapes it (names from PagerDuty, AWS answers)."""

    async def say(
        self, incident: Incident, text: str, *, key: str, link: Link | None = None
    ) -> None:
        """Post a plain line in the incident channel, with a link after it if given."""
        ...

    async def alarm(self, incident: Incident, text: str, *, key: str) -> None:
        """Post a loud message (paging failed, escalation) in the incident channel."""
        ...

    async def announce(self, text: str, *, key: str) -> None:
        """Post in the announcement channel (about no one incident: scheduled checks)."""
        ...

    async def show_oncall(
        self,
        incident: Incident,
        oncall: Sequence[OnCall],
        slack_ids: dict[str, str],
        *,
        key: str,
    ) -> None:
        """Post who is on call now (Slack users matched by email are mentioned)."""
        ...

    async def invite(self, incident: Incident, users: list[str], *, key: str) -> None:
        """Invite Slack users to the incident channel."""
        ...

    async def remind(
        self, incident: Incident, *, key: str, minutes: int, overdue: bool
    ) -> None:
        """Ask the commander for a status update, with Snooze and Post-update buttons."""
        ...

    async def archive(self, incident: Incident, text: str, *, key: str) -> None:
        """Post `text` in the incident channel, then archive the channel."""
        ...

    async def status_update(
        self,
        incident: Incident,
        *,
        status: Status,
        message: str,
        next_update: datetime,
        head_hash: str,
        actor: str,
        key: str,
        subscribers: Sequence[str] = (),
    ) -> None:
        """Post a status update to the announcement channel and the incident channel (with the
        head hash), and send it to each subscriber by direct message."""
        ...

    async def email_of(self, user_id: str) -> str | None:
        """The email of a Slack user, if the bot may see it."""
        ...

    async def users_by_email(self, emails: Sequence[str]) -> dict[str, str]:
        """Slack user ids of the emails that match a workspace member (email -> user id)."""
        ...


# -- runbooks --------------------------------------------------------------------------------------
class AlertPort(Protocol):
    """Where alerts are shown (Slack: one post per alert in the announcement channel)."""

    async def alert_posted(self, alert: Alert) -> None: ...
    async def alert_changed(self, alert: Alert) -> None: ...


class RunbookAnnouncer(Protocol):
    """How the runbook service tells people; implemented in handlers/outbound/runbook_announcer.py."""

    async def runbook_posted(self, view: RunbookView) -> None: ...
    async def step_changed(
        self, view: RunbookView, step_id: str, *, key: str, reply: str | None = None
    ) -> None: ...


class StepPager(Protocol):
    """Pages for a runbook's page steps; implemented by bot/services/paging/pages.py."""

    async def page_step(
        self, incident: Incident, *, target: str, message: str, actor: str, source: str
    ) -> str:
        """Queue the page once per `source`; say whom it pages. UsageError: nobody to page."""
        ...


class Notices(Protocol):
    """Posts for a runbook's notify steps; implemented by handlers/outbound/announcer.py."""

    async def notify(self, incident: Incident, template: str) -> str:
        """Post the plan's `template` where the plan says, once per incident; say where."""
        ...


class ChannelHistory(Protocol):
    """What an incident channel said; implemented by handlers/outbound/history.py."""

    async def entries_since(self, channel_id: str, after: str) -> list[NewEntry]:
        """The channel's messages posted after the Slack ts `after`, as timeline entries."""
        ...


class Authoriser(Protocol):
    """Answers who may act: responders, and approvers of AWS steps (re-asked at execution)."""

    async def is_responder(self, user_id: str) -> bool: ...
    async def is_approver(self, user_id: str) -> bool: ...


class ApprovalEscalations(Protocol):
    async def schedule_approval_escalation(
        self, *, incident: int, approval_id: str, summary: str
    ) -> object: ...
    async def cancel_approval_escalation(self, *, approval_id: str) -> bool: ...


# -- post-mortems ----------------------------------------------------------------------------------
class PostmortemPublisher(Protocol):
    """How a draft reaches people, and how it names them; implemented by the Slack adapter
    (handlers/outbound/postmortem_publisher.py)."""

    async def handles(self, user_ids: list[str]) -> dict[str, str]:
        """The handles of those of `user_ids` that can be looked up."""
        ...

    async def upload(self, incident: Incident, draft: PostmortemRecord) -> str:
        """Share the draft in the incident channel as a file; return its file id."""
        ...

    async def upload_failed(
        self, incident: Incident, draft: PostmortemRecord, error: str
    ) -> None: ...

    async def ask_author(
        self, incident: Incident, draft: PostmortemRecord, missing: list[str]
    ) -> None:
        """Under a shared draft: what is still to write, with buttons to write it and to add a
        follow-up."""
        ...

    async def ask_review(
        self, incident: Incident, reviewers: list[str], *, by: str, key: str
    ) -> None:
        """Ask each reviewer by direct message to review the post-mortem."""
        ...

    async def remind_author(
        self, incident: Incident, missing: list[str], *, key: str
    ) -> None:
        """Remind the commander by direct message of what the post-mortem still lacks."""
        ...


# -- follow-ups ------------------------------------------------------------------------------------
class Tracker(Protocol):
    """The team's issue tracker (bot/gateways/github.py)."""

    name: str

    async def create(
        self,
        item: FollowUp,
        *,
        incident_key: str,
        incident_title: str | None,
        link: str,
    ) -> TrackerIssue:
        """File the follow-up as an issue of `incident_key` that links back to it (`link`);
        `incident_title` is None for a private incident, whose title stays in Slack."""
        ...

    async def state(self, key: str) -> TrackerIssue:
        """The issue as it stands (done: closed)."""
        ...

    async def aclose(self) -> None: ...


class FollowUpPort(Protocol):
    """How follow-ups reach people; implemented by the Slack adapter (handlers/outbound/followups.py)."""

    def incident_link(self, incident: Incident) -> str:
        """A link that opens the incident's channel, for the tracker's issue."""
        ...

    async def followup_changed(
        self, incident: Incident, item: FollowUp, what: str, *, key: str
    ) -> None:
        """Say in the incident channel what happened to a follow-up (`what`: added, filed, done, reopened)."""
        ...

    async def overdue(self, owner: str, items: Sequence[FollowUp], *, key: str) -> None:
        """Remind `owner` by direct message of their overdue follow-ups."""
        ...


# -- the public status page ------------------------------------------------------------------------
class StatusMirror(Protocol):
    """A hosted status page the bot's own page is copied to (bot/gateways/statuspage_io.py)."""

    async def create(
        self, *, name: str, status: str, body: str, components: dict[str, str]
    ) -> str:
        """Open an incident there with its first update; return its id."""
        ...

    async def update(
        self, remote_id: str, *, status: str, body: str, components: dict[str, str]
    ) -> None: ...
