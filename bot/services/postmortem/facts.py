"""The facts of a post-mortem: key times, durations, RTO/RPO, history, pages, steps, checklist.

Owns how the timeline (which every part of the bot writes to) and, where present, the runbook
ledger are read into small, bounded facts. Tolerant by design: pages, acknowledgements and steps
are recognised by their timeline kinds and `data`, so an older database or a part that is not
installed just gives fewer facts. Key events and the full timeline are not facts: the writers
stream them. Nothing here renders text or talks to Slack.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from bot.config import Settings
from bot.models.followups import FollowUp
from bot.models.incidents import Incident, from_iso
from bot.services.postmortem.steps import StepFact, checklist_of, step_facts
from bot.storage.snapshot import Snapshot

LIFECYCLE = ("declared", "status", "severity", "role", "resolved")
# What people write into the post-mortem (the resolve form, `/incident postmortem edit`): field ->
# its heading. The latest value given for a field wins.
DETAILS = {
    "trigger": "How it was noticed",
    "impact": "Impact",
    "resolution": "Resolution",
    "root_cause": "Root cause",
    "contributing_factors": "Contributing factors",
    "review_meeting": "Review meeting",
}
TRIGGERS = {
    "alert": "an automated alert",
    "customer": "a customer report",
    "person": "someone on the team noticed",
    "other": "another way",
}
DETAIL_KINDS = ("resolved", "postmortem_details")  # the timeline rows that give DETAILS
REVIEW_STATES = ("draft", "in review", "final")
POSTMORTEM_KINDS = ("postmortem_details", "postmortem_review", "postmortem_version")
SLOW_DETECTION = timedelta(
    minutes=10
)  # impact to detection or declaration: called out when longer
PAGE_KINDS = ("page", "page_failed", "pd_resolve")
ACK_KINDS = ("pd_acknowledged", "acknowledged", "page_acknowledged")


@dataclass(frozen=True)
class Change:
    """One status, severity or role change."""

    at: datetime
    actor: str | None
    what: str
    before: str | None
    after: str


@dataclass(frozen=True)
class PageFact:
    at: datetime
    actor: str | None
    kind: str
    target: str
    mode: str
    delivered: bool
    text: str


@dataclass(frozen=True)
class AckFact:
    at: datetime
    by: str
    pd_incident: str
    text: str


@dataclass(frozen=True)
class TargetResult:
    """One affected component against the plan's RTO and RPO."""

    component: str
    name: str
    rto: timedelta
    recovery: timedelta | None
    rpo: timedelta
    data_loss: timedelta | None
    restore_point: datetime | None
    restore_step: str | None

    @property
    def rto_met(self) -> bool | None:
        return None if self.recovery is None else self.recovery <= self.rto

    @property
    def rpo_met(self) -> bool | None:
        return None if self.data_loss is None else self.data_loss <= self.rpo

    def restored_after(self, impact_start: datetime | None) -> bool:
        """The restore point is after impact started: the restored data may hold the damage."""
        return bool(
            self.restore_point and impact_start and self.restore_point > impact_start
        )


@dataclass
class Facts:
    incident: Incident
    generated_at: datetime
    rows: int
    head_hash: str | None
    key_times: dict[str, datetime | None]
    durations: dict[str, timedelta | None]
    statuses: list[Change] = field(default_factory=list)
    severities: list[Change] = field(default_factory=list)
    roles: list[Change] = field(default_factory=list)
    participants: list[dict[str, Any]] = field(default_factory=list)
    pages: list[PageFact] = field(default_factory=list)
    acks: list[AckFact] = field(default_factory=list)
    steps: list[StepFact] = field(default_factory=list)
    checklist: list[dict[str, Any]] = field(default_factory=list)
    targets: list[TargetResult] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)  # DETAILS given so far
    authors: list[str] = field(
        default_factory=list
    )  # the commander, then who wrote details
    reviewers: list[str] = field(default_factory=list)
    review: str = "draft"  # REVIEW_STATES
    version: int = 1  # this draft's number among the incident's shared drafts
    followups: list[FollowUp] = field(default_factory=list)
    people: dict[str, str] = field(default_factory=dict)  # Slack user id -> handle
    recovered: int = (
        0  # channel messages read back from Slack after a restart or restore
    )
    recovered_since: datetime | None = None
    detected_at: datetime | None = None  # when the alert it was declared from fired
    zone: tzinfo = (
        UTC  # WARROOM_TIMEZONE: the draft's times (its appendix keeps the stored UTC)
    )

    def who(self, user: str | None) -> str:
        """`@handle` for a Slack user id the bot has seen with a handle; anything else as it is."""
        if not user:
            return ""
        return f"@{self.people[user]}" if user in self.people else user


def _delta(start: datetime | None, end: datetime | None) -> timedelta | None:
    return end - start if start and end else None


def collect(snap: Snapshot, number: int, *, settings: Settings, now: datetime) -> Facts:
    """Read the bounded facts of INC-`number` from a snapshot (blocking)."""
    incident = snap.incident(number)
    rows, head = snap.head(number)
    facts = Facts(incident, now, rows, head, {}, {}, zone=settings.zone)
    step_rows: list[dict[str, Any]] = []
    for row in snap.rows(
        number,
        kinds=(*LIFECYCLE, *PAGE_KINDS, *ACK_KINDS, *POSTMORTEM_KINDS, "alert"),
        prefixes=("step", "runbook", "approval", "checklist"),
    ):
        data = json.loads(row["data"] or "{}")
        if row["kind"] == "alert":  # declared from an alert: detected when it fired
            fired = from_iso(row["occurred_at"])
            facts.detected_at = min(facts.detected_at or fired, fired)
        _lifecycle(facts, row, data)
        _written(facts, row, data)
        if row["kind"].startswith(("step", "runbook", "approval", "checklist")):
            step_rows.append({**row, "data": data})
    facts.participants = snap.actors(number)
    facts.people = snap.people()
    facts.recovered, facts.recovered_since = snap.recovered(number)
    facts.steps = step_facts(snap, number, step_rows, scenario=incident.scenario)
    facts.checklist = checklist_of(facts.steps)
    facts.followups = snap.followups(number)
    if incident.commander and incident.commander not in facts.authors:
        facts.authors.insert(0, incident.commander)
    if "trigger" not in facts.details and facts.detected_at is not None:
        facts.details["trigger"] = "alert"
    _times(facts)
    facts.targets = _targets(facts, settings)
    return facts


def _lifecycle(facts: Facts, row: dict[str, Any], data: dict[str, Any]) -> None:
    kind, at, actor = row["kind"], from_iso(row["occurred_at"]), row["actor"]
    if kind == "declared":
        facts.statuses.append(Change(at, actor, "status", None, "investigating"))
        facts.severities.append(
            Change(at, actor, "severity", None, str(data.get("severity", "")))
        )
    elif kind in ("status", "resolved"):
        after = "resolved" if kind == "resolved" else str(data.get("to", ""))
        facts.statuses.append(Change(at, actor, "status", data.get("from"), after))
    elif kind == "severity":
        facts.severities.append(
            Change(at, actor, "severity", data.get("from"), str(data.get("to", "")))
        )
    elif kind == "role":
        facts.roles.append(
            Change(
                at, actor, str(data.get("role", "")), None, str(data.get("user", ""))
            )
        )
    elif kind in PAGE_KINDS:
        target = str(data.get("target") or data.get("target_kind") or "")
        page_kind = (
            "failed"
            if kind == "page_failed"
            else "resolve"
            if kind == "pd_resolve"
            else str(data.get("page") or "page")
        )
        facts.pages.append(
            PageFact(
                at,
                actor,
                page_kind,
                target,
                str(data.get("mode") or ""),
                bool(data.get("delivered", kind == "page")),
                row["text"],
            )
        )
    elif kind in ACK_KINDS:
        facts.acks.append(
            AckFact(
                at,
                str(data.get("by") or actor or "PagerDuty"),
                str(data.get("pd_incident_id") or ""),
                row["text"],
            )
        )


def given_details(data: dict[str, Any]) -> dict[str, str]:
    """The DETAILS a timeline row of a DETAIL_KINDS kind gives (blank ones are not given)."""
    given = {k: str(v).strip() for k, v in data.items() if k in DETAILS and v}
    return {k: v for k, v in given.items() if v}


def _written(facts: Facts, row: dict[str, Any], data: dict[str, Any]) -> None:
    """What people wrote into the post-mortem: details, reviewers and status, shared versions."""
    kind = row["kind"]
    if kind in DETAIL_KINDS:
        facts.details.update(given_details(data))
        if (
            kind == "postmortem_details"
            and row["actor"]
            and row["actor"] not in facts.authors
        ):
            facts.authors.append(row["actor"])
    elif kind == "postmortem_review":
        facts.reviewers = [str(u) for u in data.get("reviewers") or facts.reviewers]
        facts.review = str(data.get("status") or facts.review)
    elif kind == "postmortem_version":
        facts.version = int(data.get("version") or 0) + 1


def _times(facts: Facts) -> None:
    inc = facts.incident
    acked = inc.acknowledged_at or min((a.at for a in facts.acks), default=None)
    start = inc.impact_started_at or inc.declared_at
    facts.key_times = {
        "impact_start": inc.impact_started_at,
        "detected": facts.detected_at,
        "declared": inc.declared_at,
        "acknowledged": acked,
        "mitigated": inc.mitigated_at,
        "resolved": inc.resolved_at,
    }
    facts.durations = {
        "time_to_detect": _delta(inc.impact_started_at, facts.detected_at),
        "time_to_declare": _delta(
            facts.detected_at or inc.impact_started_at, inc.declared_at
        ),
        "time_to_acknowledge": _delta(inc.declared_at, acked),
        "time_to_mitigate": _delta(start, inc.mitigated_at),
        "time_to_resolve": _delta(start, inc.resolved_at),
    }


def _targets(facts: Facts, settings: Settings) -> list[TargetResult]:
    inc = facts.incident
    start = inc.impact_started_at or inc.declared_at
    results = []
    for component in inc.components:
        target = settings.targets.get(component)
        if target is None:
            continue
        # Only a restore that ran says anything about data loss (`StepFact.restored_to`).
        restores = [
            s for s in facts.steps if s.restored_to and s.component in (component, None)
        ]
        chosen = restores[-1] if restores else None
        point = chosen.restored_to if chosen else None
        loss = max(start - point, timedelta(0)) if point else None
        results.append(
            TargetResult(
                component,
                target.name,
                target.rto,
                _delta(start, inc.mitigated_at),
                target.rpo,
                loss,
                point,
                chosen.title if chosen else None,
            )
        )
    return results
