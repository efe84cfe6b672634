"""Pure Block Kit and text builders for paging and communications: on-call lists, reminders with their
Snooze button, loud paging failures, the status-update text and the `/incident update` modal. No I/O.

User-supplied text is escaped and cut here (through `handlers.blocks.incidents`), like every other builder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from pydantic import BaseModel, Field
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.config import Settings
from bot.gateways.pagerduty.pager import OnCall
from bot.models.incidents import Incident, Status
from bot.plan import SERVICE_NAME
from handlers.blocks.incidents import (
    SECTION_LIMIT,
    cut,
    escape,
    optional_text,
    stamp,
    user,
)
from handlers.ids import VALUE, Action, Callback
from handlers.ids import Field as F

SNOOZE_MINUTES = 15

# The plan's Initial Incident Notification, reshaped for the updates it promises every N minutes.
STATUS_UPDATE = """\
:large_blue_circle: INCIDENT UPDATE: {key} :large_blue_circle:

Service: {service}
Status: {status}
Impact: {impact}
Start Time: {start_time}
Update: {message}

Updates will be posted every {update_minutes} minutes.

Next Update: {next_update}
Incident Commander: {commander}"""


class ReminderButton(BaseModel):
    """What a reminder's buttons carry in their `value`."""

    incident: int
    minutes: int = Field(default=SNOOZE_MINUTES, ge=1, le=240)


def oncall_text(
    incident_key: str,
    oncall: Sequence[OnCall],
    slack_ids: dict[str, str],
    *,
    zone: tzinfo = UTC,
) -> str:
    """Who is on call now, level by level; people matched to Slack users are mentioned."""
    if not oncall:
        return f":busts_in_silhouette: Nobody is on call in PagerDuty for {incident_key} right now."
    lines = [f":busts_in_silhouette: *On call now for {incident_key}*"]
    for entry in oncall:
        who = (
            user(slack_ids[entry.email])
            if entry.email in slack_ids
            else escape(entry.name)
        )
        until = f" until {stamp(entry.end, zone)}" if entry.end else ""
        schedule = f" ({escape(entry.schedule_name)})" if entry.schedule_name else ""
        lines.append(
            f"• {escape(entry.policy_name)} level {entry.escalation_level}: {who}{schedule}{until}"
        )
    return cut("\n".join(lines), SECTION_LIMIT)


def alarm_blocks(text: str) -> list[dict[str, Any]]:
    """A loud message: a warning header line and the text, for when paging fails for good."""
    return [
        SectionBlock(text=MarkdownTextObject(text=cut(text, SECTION_LIMIT))).to_dict(),
        ContextBlock(
            elements=[
                MarkdownTextObject(text="<!here> Page these people by phone now.")
            ]
        ).to_dict(),
    ]


def reminder_text(incident: Incident, *, minutes: int, overdue: bool) -> str:
    if overdue:
        return (
            f":alarm_clock: {user(incident.commander)} the status update for {incident.key} is *overdue*. "
            "Post one with `/incident update`, or the commander will be paged."
        )
    return (
        f":alarm_clock: {user(incident.commander)} time for a status update on {incident.key} "
        f"(every {minutes} minutes). Use `/incident update`."
    )


def reminder_blocks(
    incident: Incident, *, minutes: int, overdue: bool
) -> list[dict[str, Any]]:
    """The reminder with a Snooze button and a button that opens the update form."""
    value = ReminderButton(incident=incident.number).model_dump_json()
    return [
        SectionBlock(
            text=MarkdownTextObject(
                text=reminder_text(incident, minutes=minutes, overdue=overdue)
            )
        ).to_dict(),
        ActionsBlock(
            block_id=f"reminder-{incident.number}",
            elements=[
                ButtonElement(
                    action_id=Action.REMINDER_UPDATE,
                    text="Post update",
                    value=value,
                    style="primary",
                ),
                ButtonElement(
                    action_id=Action.REMINDER_SNOOZE,
                    text=f"Snooze {SNOOZE_MINUTES} min",
                    value=value,
                ),
            ],
        ).to_dict(),
    ]


def status_update_text(
    incident: Incident,
    settings: Settings,
    *,
    status: Status,
    message: str,
    next_update: datetime,
) -> str:
    level = settings.severity(incident.severity)
    minutes = level.update_minutes if level else 15
    drill = "[DRILL] " if incident.drill else ""
    return drill + STATUS_UPDATE.format(
        key=incident.key,
        service=SERVICE_NAME,
        status=status.value.capitalize(),
        impact=level.impact if level else "High",
        start_time=stamp(
            incident.impact_started_at or incident.declared_at, settings.zone
        ),
        message=escape(cut(message, 2000)),
        update_minutes=minutes,
        next_update=stamp(next_update, settings.zone),
        commander=user(incident.commander),
    )


def head_hash_text(incident: Incident, head_hash: str) -> str:
    return f"Timeline head hash for {incident.key}: `{head_hash}`"


def update_modal(
    incident: Incident, *, now: datetime, minutes: int, zone: tzinfo = UTC
) -> dict[str, Any]:
    """The `/incident update` form: the state and what changed; the rest comes from the template."""
    options = [
        Option(value=s.value, label=s.value.capitalize())
        for s in Status
        if s is not Status.RESOLVED
    ]
    current = next((o for o in options if o.value == incident.status.value), options[0])
    blocks: list[Block] = [
        SectionBlock(
            text=MarkdownTextObject(
                text=cut(
                    f"Status update for *{incident.key}*: {escape(incident.title)}\n"
                    f"Posted to the announcement channel and here. Next update due {stamp(now + timedelta(minutes=minutes), zone)}.",
                    SECTION_LIMIT,
                )
            )
        ),
        InputBlock(
            block_id=F.UPDATE_STATUS,
            label="Status",
            element=StaticSelectElement(
                action_id=VALUE, options=options, initial_option=current
            ),
        ),
        InputBlock(
            block_id=F.UPDATE_MESSAGE,
            label="What changed",
            element=PlainTextInputElement(
                action_id=VALUE,
                multiline=True,
                max_length=2000,
                placeholder="Failover to the replica is under way",
            ),
        ),
    ]
    if not incident.drill:  # a drill is never shown on the status page
        blocks.append(
            optional_text(
                F.UPDATE_PUBLIC,
                "Public text (status page)",
                None,
                limit=2000,
                hint="Shown to customers on the status page, as written here and nothing else. Leave it empty to keep this update internal.",
                placeholder="Some users cannot log in. We are restoring service.",
            )
        )
    view = View(
        type="modal",
        callback_id=Callback.UPDATE,
        title=cut(f"Update {incident.key}", 24),
        submit="Post",
        close="Cancel",
        blocks=blocks,
        private_metadata=json.dumps({"incident": incident.number}),
    )
    return view.to_dict()
