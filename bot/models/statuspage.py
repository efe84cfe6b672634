"""The public status page as data: components and their states, incidents as the public saw them.

Only what was written for the public is here: each update's public text, its status and time, and
the components an incident affects (named as the plan names them). No title, note, summary or
person from inside the incident.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel


class ComponentState(StrEnum):
    OPERATIONAL = "operational"
    DEGRADED = "degraded_performance"
    PARTIAL = "partial_outage"
    MAJOR = "major_outage"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()

    @classmethod
    def worst(cls, *states: ComponentState) -> ComponentState:
        """The most severe of `states` (operational when there are none)."""
        order = list(cls)
        return max(states, key=order.index, default=cls.OPERATIONAL)


class PublicUpdate(BaseModel):
    id: int
    incident: int
    status: str  # investigating, identified, monitoring, resolved
    text: str
    at: datetime


class PublicComponent(BaseModel):
    id: str
    name: str
    state: ComponentState


class PublicIncident(BaseModel):
    number: int
    key: str  # the public id, e.g. INC-4
    name: str  # made from the components it affects, never the internal title
    status: str
    impact: ComponentState
    components: list[str]
    started_at: datetime
    resolved_at: datetime | None = None
    updates: list[PublicUpdate]  # newest first


class StatusPage(BaseModel):
    service: str
    generated_at: datetime
    components: list[PublicComponent]
    current: list[PublicIncident]
    history: list[PublicIncident]

    @property
    def overall(self) -> ComponentState:
        return ComponentState.worst(*(c.state for c in self.components))
