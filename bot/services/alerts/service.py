"""Alert intake: an alert from a source (a PagerDuty incident the bot did not open) is posted once
to the announcement channel; its repeats are grouped on that post and its clearing updates it.

Owns recording each report (`bot/storage/alerts.py`) and telling the `AlertPort` what changed.
Must not: check a source's signature (its gateway and listener do, before anything reaches this),
or know about Slack.
"""

from __future__ import annotations

import logging

from bot.models.alerts import Alert, AlertEvent
from bot.models.incidents import Clock
from bot.services.ports import AlertPort
from bot.storage import Storage

log = logging.getLogger(__name__)


class AlertService:
    """Record alerts and keep their one post current."""

    def __init__(self, *, storage: Storage, clock: Clock, port: AlertPort) -> None:
        self.storage, self.clock, self.port = storage, clock, port

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
