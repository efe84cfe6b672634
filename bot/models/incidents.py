"""Domain models that cross the storage boundary: incidents, timeline entries, journal rows.

Pydantic models only; no I/O and nothing Slack-specific beyond plain ids (user, channel, ts strings).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The real clock; services take a `Clock` so tests can inject their own."""
    return datetime.now(UTC)


def to_iso(moment: datetime) -> str:
    """Format a timezone-aware time as ISO 8601 in UTC with microseconds."""
    return (
        moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    )


def from_iso(text: str) -> datetime:
    """Parse what `to_iso` wrote."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Status(StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class Incident(BaseModel):
    """An incident as stored. `number` n gives the key `INC-n`."""

    model_config = ConfigDict(extra="ignore")

    number: int
    title: str
    severity: str
    status: Status = Status.INVESTIGATING
    scenario: str | None = None
    components: list[str] = Field(default_factory=list)
    description: str = ""
    commander: str
    roles: dict[str, str] = Field(default_factory=dict)
    channel_id: str | None = None
    channel_name: str
    card_ts: str | None = None
    declared_by: str
    declared_at: datetime
    impact_started_at: datetime | None = None
    acknowledged_at: datetime | None = None
    mitigated_at: datetime | None = None
    resolved_at: datetime | None = None
    summary: str = ""
    private: bool = False
    drill: bool = False
    bridge_url: str | None = None

    @property
    def key(self) -> str:
        return f"INC-{self.number}"

    @property
    def is_open(self) -> bool:
        return self.status is not Status.RESOLVED


# Timeline kinds that are key events without being marked: what people told each other.
TOLD = ("note", "status_update")


class TimelineEntry(BaseModel):
    """One append-only, hash-chained row of an incident's timeline."""

    model_config = ConfigDict(extra="ignore")

    incident: int
    seq: int
    kind: str
    actor: str | None = None
    text: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    occurred_at: datetime
    recorded_at: datetime
    slack_ts: str | None = None
    permalink: str | None = None
    key_event: bool = False
    corrects: int | None = None
    prev_hash: str
    hash: str


class NewEntry(BaseModel):
    """What a service asks storage to append; storage adds seq, times and the chain."""

    kind: str
    actor: str | None = None
    text: str = ""
    data: dict[str, Any] = Field(default_factory=dict)
    occurred_at: datetime | None = None
    slack_ts: str | None = None
    permalink: str | None = None
    key_event: bool = False
    corrects: int | None = None
    source: str | None = Field(
        default=None,
        description="Idempotency key: a second append with the same source is ignored.",
    )


@dataclass(frozen=True)
class CardRef:
    """A runbook message the outbox remembers by reference: a step's card, or the overview (step "").

    The one format of a card reference: `key` names it in storage and as an outbox message's
    `purpose` (the outbox records the message's ts when it is sent); `placeholder` stands for that ts
    in a later message's args until the outbox fills it in at send time.
    """

    runbook: int
    step: str = ""

    @property
    def key(self) -> str:
        return f"card:{self.runbook}:{self.step}"

    @property
    def placeholder(self) -> str:
        return "{" + self.key + "}"

    @classmethod
    def parse(cls, key: str) -> CardRef | None:
        """The reference a `key` names, or None when it names no card."""
        kind, _, rest = key.partition(":")
        runbook, sep, step = rest.partition(":")
        if kind != "card" or not sep or not runbook.isdigit():
            return None
        return cls(int(runbook), step)


class OutboxMessage(BaseModel):
    """A Slack Web API call waiting to be sent, in order, per channel."""

    method: str
    args: dict[str, Any]
    channel_key: str = Field(
        description="Ordering group: a channel id, a name, or incident:<n>."
    )
    dedup_key: str
    incident: int | None = None
    purpose: str = ""


class OutboxRow(OutboxMessage):
    id: int
    status: str
    attempts: int
    in_flight: bool = False
    not_before: datetime | None = None
    created_at: datetime | None = None
    error: str | None = None
