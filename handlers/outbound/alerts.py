"""The Slack side of `AlertPort`: one post per alert in the announcement channel, kept current.

The post and its updates share one outbox lane per alert, so an update follows its post; an update
names the post by `sent_placeholder`, filled with the post's ts when it is sent. Times are Slack
date tokens: each reader sees their own time zone.
"""

from __future__ import annotations

from typing import Any

from bot.config import Settings
from bot.gateways.slack.outbox import Outbox, sent_placeholder
from bot.models.alerts import Alert, AlertState
from bot.models.incidents import OutboxMessage
from handlers.blocks.incidents import cut, escape, when
from handlers.ids import Action

SOURCES = {"pagerduty": "PagerDuty", "cloudwatch": "CloudWatch"}


def alert_text(alert: Alert) -> str:
    """What fired, where, since when, how often, and whether it cleared (mrkdwn)."""
    title = escape(cut(alert.title, 300))
    what = f"<{alert.url}|{title}>" if alert.url.startswith("https://") else title
    since = when(alert.first_at)
    parts = [
        f":rotating_light: *Alert from {SOURCES.get(alert.source, alert.source)}*: {what}",
        f"Service: {escape(cut(alert.service, 200))}" if alert.service else "",
        f"Firing since {since}"
        + (
            f", repeated {alert.repeats} times, last {when(alert.last_at)}"
            if alert.repeats > 1
            else ""
        ),
    ]
    if alert.state is AlertState.CLEARED and alert.cleared_at is not None:
        parts[0] = parts[0].replace(":rotating_light:", ":white_check_mark:", 1)
        parts.append(f"Cleared {when(alert.cleared_at)}")
    if alert.incident is not None:
        parts.append(f"Declared as INC-{alert.incident}")
    if alert.state is AlertState.DISMISSED:
        parts[0] = parts[0].replace(":rotating_light:", ":no_bell:", 1)
        reason = escape(cut(alert.dismissed_reason or "", 500))
        parts.append(f"Dismissed by <@{alert.dismissed_by}>: {reason}")
    return "\n".join(p for p in parts if p)


def alert_blocks(alert: Alert) -> list[dict[str, Any]]:
    """The alert's text, and Declare and Dismiss while it fires, undeclared and not dismissed."""
    text = alert_text(alert)
    layout: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    ]
    if alert.state is AlertState.FIRING and alert.incident is None:
        layout.append(
            {
                "type": "actions",
                "block_id": f"alert-{alert.id}",
                "elements": [
                    {
                        "type": "button",
                        "action_id": Action.ALERT_DECLARE,
                        "text": {"type": "plain_text", "text": "Declare"},
                        "style": "danger",
                        "value": str(alert.id),
                    },
                    {
                        "type": "button",
                        "action_id": Action.ALERT_DISMISS,
                        "text": {"type": "plain_text", "text": "Dismiss"},
                        "value": str(alert.id),
                    },
                ],
            }
        )
    return layout


class SlackAlertAnnouncer:
    """Implements bot.services.ports.AlertPort with outbox messages."""

    def __init__(self, *, outbox: Outbox, settings: Settings) -> None:
        self.outbox, self.settings = outbox, settings

    async def alert_posted(self, alert: Alert) -> None:
        await self.outbox.enqueue(self._message(alert, "chat.postMessage", {}, "post"))

    async def alert_changed(self, alert: Alert) -> None:
        key = f"update:{alert.repeats}:{alert.state.value}:{alert.incident or ''}"
        ts = sent_placeholder(_key(alert, "post"))
        await self.outbox.enqueue(self._message(alert, "chat.update", {"ts": ts}, key))

    def _message(
        self, alert: Alert, method: str, extra: dict[str, Any], key: str
    ) -> OutboxMessage:
        text = alert_text(alert)
        return OutboxMessage(
            method=method,
            args={
                "channel": self.settings.announcement_channel,
                "text": text,
                "blocks": alert_blocks(alert),
                **extra,
            },
            channel_key=f"alert:{alert.id}",
            dedup_key=_key(alert, key),
        )


def _key(alert: Alert, key: str) -> str:
    """The outbox key of the alert's post (`post`) or one of its updates."""
    return f"alert-{alert.id}:{key}"
