"""Subscriptions: who gets an incident's status updates and its resolution by direct message.

Owns the rules: anyone who can see the incident subscribes or unsubscribes themselves; only its
commander adds other people; each change is on the timeline. Sending is the announcers' (they get
the subscribers with each update and the resolution). Knows nothing of Slack.
"""

from __future__ import annotations

from bot.errors import PermissionDenied, UsageError
from bot.models.incidents import Clock, NewEntry
from bot.services.incidents.service import IncidentService
from bot.storage import Storage


class SubscriptionService:
    def __init__(
        self, *, storage: Storage, clock: Clock, incidents: IncidentService
    ) -> None:
        self.storage, self.clock, self.incidents = storage, clock, incidents

    async def subscribe(
        self, *, number: int, actor: str, people: list[str], source: str
    ) -> list[str]:
        """Subscribe `actor`, or the `people` named (the commander only); who was added."""
        incident = await self.incidents.get(number)
        if not incident.is_open:
            raise UsageError(f"{incident.key} is resolved: there are no more updates.")
        others = [p for p in people if p != actor]
        if others and actor != incident.commander:
            raise PermissionDenied(
                f"Only the commander of {incident.key} subscribes other people;"
                " `/incident subscribe` alone subscribes you."
            )
        added = []
        for user in people or [actor]:
            if await self.storage.subscribe(
                incident=number, user_id=user, added_by=actor, now=self.clock()
            ):
                added.append(user)
        await self._record(number, actor, "subscribed", added, source)
        return added

    async def unsubscribe(self, *, number: int, actor: str, source: str) -> bool:
        removed = await self.storage.unsubscribe(incident=number, user_id=actor)
        await self._record(
            number, actor, "unsubscribed", [actor] if removed else [], source
        )
        return removed

    async def _record(
        self, number: int, actor: str, verb: str, users: list[str], source: str
    ) -> None:
        if not users:
            return
        entry = NewEntry(
            kind="subscription",
            actor=actor,
            text=f"{verb}: {', '.join(users)}",
            data={"change": verb, "users": users},
            source=source,
        )
        await self.storage.append(number, [entry], now=self.clock())
