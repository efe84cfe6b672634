"""Values the storage tests write directly, without going through Slack."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.models.incidents import Incident

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def incident_draft(channel_name: str = "c", at: datetime = NOW) -> Incident:
    """A new incident for `Storage.create_incident` (storage numbers it)."""
    return Incident(
        number=0,
        title="t",
        severity="SEV1",
        commander="U1",
        channel_name=channel_name,
        declared_by="U1",
        declared_at=at,
    )
