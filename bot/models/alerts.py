"""Alerts: something that fired elsewhere (a PagerDuty incident the bot did not open, a CloudWatch
alarm) and may become an incident. `AlertEvent` is what a source reports; `Alert` is the stored row,
its repeats grouped on it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel


class AlertState(StrEnum):
    FIRING = "firing"
    CLEARED = "cleared"
    DISMISSED = (
        "dismissed"  # someone judged it no incident: repeats are grouped, not shown
    )


class AlertEvent(BaseModel):
    """One report from a source: `key` names the alert there (a PagerDuty incident id)."""

    source: str
    key: str
    title: str
    service: str = ""
    url: str = ""
    at: datetime
    cleared: bool = False


class Alert(BaseModel):
    id: int
    source: str
    source_key: str
    title: str
    service: str = ""
    url: str = ""
    state: AlertState
    first_at: datetime
    last_at: datetime
    cleared_at: datetime | None = None
    repeats: int = 1
    incident: int | None = None
    dismissed_by: str | None = None
    dismissed_reason: str | None = None
