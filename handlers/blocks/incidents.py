"""Pure Block Kit builders: incident card, modals, notifications, lists. No I/O.

Every user-supplied string is escaped for mrkdwn (`&`, `<`, `>`) and cut to Slack's limits here,
so `<!channel>` typed into a title cannot ping a channel and no builder can exceed a block limit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    DateTimePickerElement,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticMultiSelectElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.config import Settings
from bot.models.incidents import Incident, Status, TimelineEntry
from bot.plan import COMPONENTS
from bot.services.incidents.catchup import CatchUp
from bot.services.postmortem.facts import TRIGGERS
from handlers.ids import VALUE, Action, Callback, Field

SECTION_LIMIT = 3000
MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100


PRIVATE = "private"


def announced(incident: Incident, text: str) -> str:
    """What the announcement channel may be told: `text`, or of a private incident only that it
    exists and who runs it."""
    if not incident.private:
        return text
    drill = "[DRILL] " if incident.drill else ""
    return (
        f"{drill}:lock: A private incident, {incident.key}, is being handled by"
        f" {user(incident.commander)}. Ask them if you need to join."
    )


def announcement_blocks(incident: Incident, text: str) -> list[dict[str, Any]]:
    """The announcement's text (already escaped) with a Subscribe button under it."""
    return [
        *text_section(text),
        ActionsBlock(
            block_id=f"announcement-{incident.number}",
            elements=[
                ButtonElement(
                    text="Subscribe to updates",
                    action_id=Action.ANNOUNCEMENT_SUBSCRIBE,
                    value=str(incident.number),
                )
            ],
        ).to_dict(),
    ]


def escape(text: str) -> str:
    """Escape Slack's three control characters so user text is shown, never interpreted."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def user(user_id: str | None) -> str:
    return f"<@{user_id}>" if user_id else "_unassigned_"


def stamp(moment: datetime, zone: tzinfo = UTC) -> str:
    """A time as the plan's notifications write it, in WARROOM_TIMEZONE: `2026-12-02 16:34 UTC`."""
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def when(moment: datetime | None, token: str = "{date_short_pretty} {time}") -> str:
    """A Slack date token, shown in each reader's time zone; the fallback (old clients,
    notifications) is the UTC time as people write it, `2026-12-02 16:34 UTC`."""
    if moment is None:
        return "—"
    return f"<!date^{int(moment.timestamp())}^{token}|{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC>"


def _status_options() -> list[Option]:
    return [
        Option(value=s.value, label=s.value.capitalize())
        for s in Status
        if s is not Status.RESOLVED
    ]


def incident_card(incident: Incident, settings: Settings) -> list[dict[str, Any]]:
    """The pinned card: status, severity, people, times, war room and buttons."""
    roles = (
        "\n".join(
            f"{role}: {user(uid)}" for role, uid in sorted(incident.roles.items())
        )
        or "—"
    )
    war_room = incident.bridge_url or settings.war_room
    fields = [
        MarkdownTextObject(text=f"*Status*\n{incident.status.value.capitalize()}"),
        MarkdownTextObject(text=f"*Severity*\n{incident.severity}"),
        MarkdownTextObject(text=f"*Commander*\n{user(incident.commander)}"),
        MarkdownTextObject(
            text=f"*Declared*\n{when(incident.declared_at, '{date_short_pretty} {time} ({ago})')}"
        ),
        MarkdownTextObject(text=cut(f"*Roles*\n{roles}", 2000)),
        MarkdownTextObject(text=cut(f"*War room*\n{escape(war_room)}", 2000)),
    ]
    blocks: list[Block] = [
        HeaderBlock(text=cut(f"{incident.key}: {incident.title}", 150)),
        SectionBlock(fields=fields),
    ]
    context = [
        f"Channel <#{incident.channel_id}>"
        if incident.channel_id
        else incident.channel_name
    ]
    if incident.scenario:
        context.append(f"Scenario: {escape(incident.scenario)}")
    if incident.components:
        context.append("Components: " + escape(", ".join(incident.components)))
    if incident.resolved_at:
        context.append(f"Resolved {when(incident.resolved_at)}")
    blocks.append(
        ContextBlock(elements=[MarkdownTextObject(text=cut(" · ".join(context), 2000))])
    )
    if incident.is_open:
        current = Option(
            value=incident.status.value, label=incident.status.value.capitalize()
        )
        elements: list[Any] = [
            StaticSelectElement(
                action_id=Action.CARD_STATUS,
                placeholder="Set status",
                options=_status_options(),
                initial_option=current,
            ),
            ButtonElement(
                text="Resolve",
                action_id=Action.CARD_RESOLVE,
                value=str(incident.number),
                style="primary",
            ),
            ButtonElement(
                text="Timeline",
                action_id=Action.CARD_TIMELINE,
                value=str(incident.number),
            ),
        ]
        if war_room.startswith(("https://", "http://")):
            elements.append(
                ButtonElement(
                    text="Join war room", action_id=Action.CARD_WAR_ROOM, url=war_room
                )
            )
        blocks.append(
            ActionsBlock(block_id=f"card-{incident.number}", elements=elements)
        )
    return [b.to_dict() for b in blocks]


def text_section(text: str) -> list[dict[str, Any]]:
    """One or more sections holding `text` (already mrkdwn), split at Slack's section limit."""
    chunks = [
        text[i : i + SECTION_LIMIT] for i in range(0, len(text), SECTION_LIMIT)
    ] or [""]
    return [
        SectionBlock(text=MarkdownTextObject(text=c)).to_dict()
        for c in chunks[:MESSAGE_BLOCK_LIMIT]
    ]


def declare_modal(
    settings: Settings,
    *,
    title: str = "",
    scenarios: Sequence[tuple[str, str]] = (),
    scenario: str | None = None,
    severity: str | None = None,
    impact_started: datetime | None = None,
    drill: bool = False,
    alert: int | None = None,
) -> dict[str, Any]:
    """The `/incident declare` form; `drill` marks what it declares as a drill (`/incident drill`),
    `alert` ties it to the alert it was opened from (which also fills in what it knows)."""
    severities = [
        Option(
            value=s.name,
            label=cut(f"{s.name} - {s.description}", 75),
            description=("pages on-call" if s.pages else "does not page"),
        )
        for s in settings.severities
    ]
    blocks: list[Block] = [
        InputBlock(
            block_id=Field.TITLE,
            label="Title",
            element=PlainTextInputElement(
                action_id=VALUE,
                initial_value=cut(title, 150) or None,
                max_length=150,
                placeholder="API returns 500s",
            ),
        ),
        InputBlock(
            block_id=Field.SEVERITY,
            label="Severity",
            element=StaticSelectElement(
                action_id=VALUE,
                options=severities,
                placeholder="Choose a severity",
                initial_option=next(
                    (o for o in severities if o.value == severity), None
                ),
            ),
        ),
    ]
    if scenarios:
        options = [Option(value=sid, label=cut(name, 75)) for sid, name in scenarios][
            :100
        ]
        chosen = next((o for o in options if o.value == scenario), None)
        blocks.append(
            InputBlock(
                block_id=Field.SCENARIO,
                label="Scenario",
                optional=True,
                hint="Posts its runbook",
                element=StaticSelectElement(
                    action_id=VALUE,
                    options=options,
                    placeholder="None",
                    initial_option=chosen,
                ),
            )
        )
    components = [
        Option(value=c.id, label=f"{c.name} (RTO {c.rto}, RPO {c.rpo})")
        for c in COMPONENTS
    ]
    blocks += [
        InputBlock(
            block_id=Field.COMPONENTS,
            label="Affected components",
            optional=True,
            element=StaticMultiSelectElement(
                action_id=VALUE, options=components, placeholder="Components"
            ),
        ),
        InputBlock(
            block_id=Field.IMPACT_STARTED,
            label="Impact started",
            optional=True,
            hint="Leave empty if unknown; recovery time then counts from declaration",
            element=DateTimePickerElement(
                action_id=VALUE,
                initial_date_time=int(impact_started.timestamp())
                if impact_started
                else None,
            ),
        ),
        InputBlock(
            block_id=Field.DESCRIPTION,
            label="Description",
            optional=True,
            element=PlainTextInputElement(
                action_id=VALUE, multiline=True, max_length=2000
            ),
        ),
        InputBlock(
            block_id=Field.PRIVATE,
            label="Visibility",
            optional=True,
            hint="Security incidents are always private",
            element=CheckboxesElement(
                action_id=VALUE,
                options=[
                    Option(
                        value=PRIVATE,
                        label="Private: only the people in its channel see it",
                    )
                ],
            ),
        ),
    ]
    view = View(
        type="modal",
        callback_id=Callback.DECLARE,
        title="Declare a drill" if drill else "Declare an incident",
        submit="Declare",
        close="Cancel",
        blocks=blocks,
        private_metadata=json.dumps(
            {k: v for k, v in (("drill", drill or None), ("alert", alert)) if v}
        )
        if drill or alert
        else None,
    )
    return view.to_dict()


def dismiss_modal(alert_id: int, title: str) -> dict[str, Any]:
    """The form an alert's Dismiss button opens: why it is no incident."""
    view = View(
        type="modal",
        callback_id=Callback.ALERT_DISMISS,
        title="Dismiss an alert",
        submit="Dismiss",
        close="Cancel",
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=cut(escape(title), 3000))),
            InputBlock(
                block_id=Field.REASON,
                label="Why is it not an incident?",
                element=PlainTextInputElement(
                    action_id=VALUE,
                    max_length=500,
                    placeholder="A known deploy blip, already fixed",
                ),
            ),
        ],
        private_metadata=json.dumps({"alert": alert_id}),
    )
    return view.to_dict()


def labelled_select(
    block: str,
    label: str,
    choices: dict[str, str],
    initial: str | None,
    optional: bool = True,
) -> InputBlock:
    options = [Option(value=k, text=cut(v, 75)) for k, v in choices.items()]
    chosen = next((o for o in options if o.value == initial), None)
    return InputBlock(
        block_id=block,
        label=label,
        optional=optional,
        element=StaticSelectElement(
            action_id=VALUE, options=options, initial_option=chosen
        ),
    )


def optional_text(
    block: str,
    label: str,
    initial: str | None,
    *,
    limit: int = 3000,
    hint: str = "",
    placeholder: str | None = None,
) -> InputBlock:
    """An optional multi-line text input, filled with `initial` if given."""
    return InputBlock(
        block_id=block,
        label=label,
        optional=True,
        hint=hint or None,
        element=PlainTextInputElement(
            action_id=VALUE,
            multiline=True,
            max_length=limit,
            initial_value=initial or None,
            placeholder=placeholder,
        ),
    )


def trigger_input(initial: str | None = None) -> InputBlock:
    return labelled_select(
        Field.TRIGGER,
        "How was it noticed?",
        {k: v.capitalize() for k, v in TRIGGERS.items()},
        initial,
    )


def impact_input(initial: str | None = None) -> InputBlock:
    return optional_text(
        Field.IMPACT,
        "Impact",
        initial,
        hint="Who was affected and how much: users, failed requests, error budget. Measured, not guessed.",
    )


def resolve_modal(incident: Incident) -> dict[str, Any]:
    """The resolve form: a summary for the Resolution Notification, and the post-mortem's first
    details (root cause, how it was noticed, impact), each optional."""
    blocks: list[Block] = [
        SectionBlock(
            text=MarkdownTextObject(
                text=cut(f"Resolve *{incident.key}*: {escape(incident.title)}", 3000)
            )
        ),
        InputBlock(
            block_id=Field.SUMMARY,
            label="Summary",
            element=PlainTextInputElement(
                action_id=VALUE,
                multiline=True,
                max_length=2000,
                placeholder="What happened and what fixed it",
            ),
        ),
        InputBlock(
            block_id=Field.ROOT_CAUSE,
            label="Root cause (brief)",
            optional=True,
            element=PlainTextInputElement(action_id=VALUE, max_length=500),
        ),
        trigger_input(),
        impact_input(),
    ]
    view = View(
        type="modal",
        callback_id=Callback.RESOLVE,
        title=cut(f"Resolve {incident.key}", 24),
        submit="Resolve",
        close="Cancel",
        blocks=blocks,
        private_metadata=json.dumps({"incident": incident.number}),
    )
    return view.to_dict()


def timeline_text(entries: Sequence[TimelineEntry]) -> str:
    lines = [
        f"`{e.occurred_at:%H:%M:%S}` *{e.kind}* {user(e.actor) if e.actor else ''} {escape(cut(e.text, 300))}"
        for e in entries
    ]
    return "\n".join(lines) or "_The timeline is empty._"


def catchup_text(c: CatchUp, *, now: datetime) -> str:
    """`/incident catchup`: the incident as it stands, for someone joining late."""
    i = c.incident
    roles = ", ".join(
        f"{escape(role)} {user(who)}"
        for role, who in i.roles.items()
        if role != "commander"
    )
    scenario = f" · scenario `{escape(i.scenario)}`" if i.scenario else ""
    lines = [
        f"*Catch-up on {i.key}: {escape(cut(i.title, 150))}*",
        f"*{i.status.value}* · {i.severity}{scenario} · open {_elapsed(now - i.declared_at)}"
        f" (declared {when(i.declared_at)}"
        + (f", impact since {when(i.impact_started_at)}" if i.impact_started_at else "")
        + ")",
        f"Commander {user(i.commander)}" + (f" · {roles}" if roles else ""),
    ]
    if i.description:
        lines.append(f"What is broken: {escape(cut(i.description, 500))}")
    if c.last_update:
        lines.append(
            f"Last status update {when(c.last_update.occurred_at)}:"
            f" {escape(cut(c.last_update.text, 300))}"
        )
    else:
        lines.append("No status update posted yet.")
    if c.next_update_due:
        lines.append(f"Next update due {when(c.next_update_due, '{time}')}.")
    if c.waiting:
        lines.append("*Waiting for approval*")
        lines += [
            f"• {escape(s.title)} (by {user(s.requested_by)}, approvals"
            f" {len(s.approvals)} of {s.required})"
            for s in c.waiting
        ]
    if c.done or c.to_do:
        lines.append(f"*Runbook*: {len(c.done)} steps done, {len(c.to_do)} to do")
        lines += [f"• :white_check_mark: {escape(s.title)}" for s in c.done[-5:]]
        lines += [
            f"• :black_square_button: {escape(s.title)} _({s.state.value})_"
            for s in c.to_do[:5]
        ]
    lines.append(f"*Key events* (last {len(c.key_events)})")
    lines.append(timeline_text(c.key_events))
    return "\n".join(lines)


def incident_list_text(incidents: Sequence[Incident], *, now: datetime) -> str:
    if not incidents:
        return "No open incidents."
    return "\n".join(
        f"*{i.key}* {i.severity} · {i.status.value} · {escape(cut(i.title, 80))} · "
        f"<#{i.channel_id}> · open {_elapsed(now - i.declared_at)}"
        if i.channel_id
        else f"*{i.key}* {i.severity} · {i.status.value} · {escape(cut(i.title, 80))}"
        for i in incidents
    )


def _elapsed(delta: Any) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60}h {minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"
