"""PagerDuty to the timeline: acknowledgements and resolutions, by polling and by v3 webhook;
incidents the bot did not open go to alert intake.

Owns turning a `PdStatusChange` into one timeline entry per (PagerDuty incident, status), the
incident's `acknowledged_at` key time (the first acknowledgement), a line in the incident channel,
the poller loop (injectable clock and interval) and the webhook checks (signature, redelivery).
Must not: know about HTTP frameworks or Slack, or log the webhook secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from enum import StrEnum

from bot.errors import BotError
from bot.gateways.pagerduty.pager import DEDUP_PREFIX, Pager, PdStatusChange
from bot.gateways.pagerduty.webhooks import (
    parse_alert,
    parse_webhook,
    verify_webhook_signature,
)
from bot.models.incidents import Clock, NewEntry
from bot.services.alerts import AlertService
from bot.services.ports import CommsPort
from bot.storage import Storage

log = logging.getLogger(__name__)
# Resolved incidents are polled a while longer, so PagerDuty's own resolution is recorded too.
AFTER_RESOLVE = timedelta(hours=1)


class WebhookOutcome(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    FORGED = "forged"


class PagerDutySync:
    """Record PagerDuty status changes once, whichever way they arrive."""

    def __init__(
        self,
        *,
        storage: Storage,
        clock: Clock,
        pager: Pager,
        port: CommsPort,
        alerts: AlertService,
        webhook_secret: str | None,
        poll_seconds: float,
    ) -> None:
        self.storage, self.clock, self.pager, self.port = storage, clock, pager, port
        self.alerts = alerts
        self._secret = webhook_secret
        self.poll_seconds = poll_seconds

    async def record(self, change: PdStatusChange, *, via: str) -> bool:
        """Put a change on its incident's timeline; False when unknown or already recorded."""
        number = await self.storage.incident_of_pd(change.pd_incident_id)
        key = change.incident_key or ""
        if number is None and key.startswith(f"{DEDUP_PREFIX}INC-"):
            with contextlib.suppress(ValueError):
                number = int(key.removeprefix(f"{DEDUP_PREFIX}INC-"))
        incident = (
            await self.storage.get_incident(number) if number is not None else None
        )
        if incident is None:
            return False
        who = change.by_name or "PagerDuty"
        text = f"PagerDuty incident {change.pd_incident_id} {change.status} by {who}"
        entry = NewEntry(
            kind=f"pd_{change.status}",
            text=text,
            occurred_at=change.at,
            key_event=change.status == "acknowledged",
            source=f"pd:{change.pd_incident_id}:{change.status}",
            data={
                "pd_incident_id": change.pd_incident_id,
                "by": who,
                "by_pd_user": change.by_user_id,
                "via": via,
            },
        )
        added = await self.storage.append(incident.number, [entry], now=self.clock())
        if not added:
            return False
        if change.status == "acknowledged" and (
            incident.acknowledged_at is None or change.at < incident.acknowledged_at
        ):
            incident = await self.storage.update_incident(
                incident.number, acknowledged_at=change.at
            )
        icon = ":eyes:" if change.status == "acknowledged" else ":white_check_mark:"
        await self.port.say(incident, f"{icon} {text}", key=entry.source or text)
        return True

    async def poll_once(self) -> int:
        """Ask PagerDuty about every incident still worth polling; return how many changes were new."""
        ids = await self.storage.pd_incidents(
            resolved_since=self.clock() - AFTER_RESOLVE
        )
        if not ids:
            return 0
        try:
            changes = await self.pager.acknowledgements(pd_incident_ids=sorted(ids))
        except BotError as exc:
            log.warning("polling PagerDuty failed: %s", exc.message)
            return 0
        return sum([await self.record(change, via="poll") for change in changes])

    async def run(self, stop: asyncio.Event) -> None:
        """Poll every `poll_seconds` until `stop` is set."""
        while not stop.is_set():
            try:
                await self.poll_once()
            except Exception:  # the poller must outlive a bad answer
                log.exception("PagerDuty poller failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.poll_seconds)

    async def webhook(
        self, *, body: bytes, signature: str | None, delivery_id: str | None
    ) -> WebhookOutcome:
        """Check and record one v3 webhook delivery."""
        if not self._secret or not verify_webhook_signature(
            secret=self._secret, body=body, header=signature
        ):
            log.warning("PagerDuty webhook with a missing or wrong signature rejected")
            return WebhookOutcome.FORGED
        if delivery_id and await self.storage.webhook_seen(
            delivery_id, now=self.clock()
        ):
            return WebhookOutcome.DUPLICATE
        alert = parse_alert(body)  # an incident the bot did not open: an alert
        if alert is not None:
            await self.alerts.receive(alert)
            return WebhookOutcome.ACCEPTED
        change = parse_webhook(body)
        if change is None:
            return WebhookOutcome.IGNORED
        recorded = await self.record(change, via="webhook")
        return WebhookOutcome.ACCEPTED if recorded else WebhookOutcome.IGNORED
