"""Ports of the incident lifecycle: how `IncidentService` tells people and the work that follows a change.

Owns `Change` (what happened, for the announcer), the `Announcer` protocol the Slack adapter implements
(handlers/outbound/announcer.py), and the `Follower` protocol paging and reminders implement. No logic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.models.incidents import Incident


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
        self, incident: Incident, *, head_hash: str, root_cause: str
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
