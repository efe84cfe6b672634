"""The port through which paging, reminders, status updates and scheduled checks talk to people.

Implemented by the Slack adapter (`handlers/outbound/comms.py`); services call it with domain values
and never see Slack payloads. Every posting method takes an idempotency `key`, so a repeat (a
replay, a retried tick) posts nothing twice. Lookups (`email_of`, `users_by_email`) are reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bot.gateways.pagerduty.pager import OnCall
from bot.models.incidents import Incident, Status


class CommsPort(Protocol):
    async def say(self, incident: Incident, text: str, *, key: str) -> None:
        """Post a plain line in the incident channel."""
        ...

    async def alarm(self, incident: Incident, text: str, *, key: str) -> None:
        """Post a loud message (paging failed, escalation) in the incident channel."""
        ...

    async def announce(
        self, text: str, *, key: str, incident: int | None = None
    ) -> None:
        """Post in the announcement channel."""
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
    ) -> None:
        """Post a status update to the announcement channel and the incident channel (with the head hash)."""
        ...

    async def email_of(self, user_id: str) -> str | None:
        """The email of a Slack user, if the bot may see it."""
        ...

    async def users_by_email(self, emails: Sequence[str]) -> dict[str, str]:
        """Slack user ids of the emails that match a workspace member (email -> user id)."""
        ...
