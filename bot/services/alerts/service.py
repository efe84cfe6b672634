"""Alert intake: an alert from a source (a PagerDuty incident the bot did not open, a CloudWatch
alarm through SNS) is posted once to the announcement channel; its repeats are grouped on that post
and its clearing updates it; an incident declared from it is tied to it.

Owns recording each report (`bot/storage/alerts.py`), SNS deliveries (checked by
`bot/gateways/aws/sns.py` before anything is kept, each MessageId once), and telling the
`AlertPort` what changed. Must not: know about HTTP frameworks or Slack.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from bot.config import Settings
from bot.errors import ConflictError, NotFound, UsageError
from bot.gateways.aws.sns import SnsRejected, SnsVerifier, cloudwatch_alarm
from bot.models.alerts import Alert, AlertEvent
from bot.models.incidents import Clock, NewEntry
from bot.services.ports import AlertPort
from bot.storage import Storage

log = logging.getLogger(__name__)


class SnsOutcome(StrEnum):
    ACCEPTED = "accepted"
    CONFIRMED = "confirmed"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    REJECTED = "rejected"


class AlertService:
    """Record alerts and keep their one post current."""

    def __init__(
        self,
        *,
        storage: Storage,
        settings: Settings,
        clock: Clock,
        port: AlertPort,
        sns: SnsVerifier,
    ) -> None:
        self.storage, self.settings, self.clock = storage, settings, clock
        self.port, self.sns = port, sns

    async def from_sns(self, body: bytes) -> SnsOutcome:
        """One SNS delivery: checked before anything is kept (a forgery records nothing), a
        subscription confirmed, a CloudWatch alarm's notification received once."""
        try:
            message = await self.sns.verify(body)
            if message.type == "SubscriptionConfirmation":
                await self.sns.confirm(message)
                log.info("SNS subscription to %s confirmed", message.topic_arn)
                return SnsOutcome.CONFIRMED
        except SnsRejected as exc:
            log.warning("SNS delivery refused: %s", exc)
            return SnsOutcome.REJECTED
        event = cloudwatch_alarm(message) if message.type == "Notification" else None
        if event is None:
            return SnsOutcome.IGNORED
        if await self.storage.webhook_seen(
            f"sns:{message.message_id}", now=self.clock()
        ):
            return SnsOutcome.DUPLICATE
        await self.receive(event)
        return SnsOutcome.ACCEPTED

    async def get(self, alert_id: int) -> Alert:
        alert = await self.storage.alert(alert_id)
        if alert is None:
            raise NotFound(f"There is no alert {alert_id}.")
        return alert

    async def for_declare(self, alert_id: int) -> tuple[Alert, str | None, str | None]:
        """An alert to declare an incident from, with the scenario and severity that
        `WARROOM_ALERT_SCENARIOS` gives its service, its title, or the longest name its title
        contains (any case); ConflictError once declared."""
        alert = await self.get(alert_id)
        if alert.incident is not None:
            raise ConflictError(f"This alert is INC-{alert.incident} already.")
        routes = {k.casefold(): r for k, r in self.settings.alert_scenarios.items()}
        title = alert.title.casefold()
        within = sorted((k for k in routes if k in title), key=len, reverse=True)
        route = (
            routes.get(alert.service.casefold())
            or routes.get(title)
            or (routes[within[0]] if within else None)
        )
        return (
            alert,
            route.scenario if route else None,
            route.severity if route else None,
        )

    async def dismiss(self, *, alert_id: int, actor: str, reason: str) -> Alert:
        """Judge an alert no incident: its post says who and why, and repeats stay quiet."""
        reason = " ".join(reason.split())
        if len(reason) < 3:
            raise UsageError("Say why the alert is dismissed.", field="reason")
        alert = await self.storage.alert_dismiss(
            alert_id, by=actor, reason=reason[:500]
        )
        if alert is None:
            found = await self.get(alert_id)
            if found.incident is not None:
                raise ConflictError(f"This alert is INC-{found.incident}.")
            return found  # dismissed already (a replay, or a second person)
        await self.port.alert_changed(alert)
        return alert

    async def link(
        self, *, alert_id: int, incident: int, actor: str, source: str
    ) -> Alert | None:
        """Tie the alert to the incident declared from it: on its timeline (a key event at the
        alert's time, which the post-mortem's detection uses) and on the alert's post."""
        alert = await self.storage.alert_link(alert_id, incident)
        if (
            alert is None
        ):  # tied already (a replayed submission, or a second declaration)
            return None
        entry = NewEntry(
            kind="alert",
            actor=actor,
            text=f"Alert from {alert.source}: {alert.title}",
            data={"alert": alert.id, "source": alert.source, "key": alert.source_key},
            occurred_at=alert.first_at,
            key_event=True,
            source=f"{source}:alert",
        )
        await self.storage.append(incident, [entry], now=self.clock())
        await self.port.alert_changed(alert)
        return alert

    async def receive(self, event: AlertEvent) -> Alert | None:
        """Record one report; the alert as it now stands (None: a clearing of nothing firing)."""
        if event.cleared:
            cleared = await self.storage.alert_cleared(event)
            if cleared is not None:
                await self.port.alert_changed(cleared)
            return cleared
        alert, new = await self.storage.alert_fired(event)
        if new:
            log.info("alert %s from %s: %s", alert.id, alert.source, alert.title)
            await self.port.alert_posted(alert)
        else:
            await self.port.alert_changed(alert)
        return alert
