"""Pure Block Kit builders for after the incident: the post-mortem details form, the follow-up
form, the prompt under a shared draft, and a follow-up as one line. No I/O; user text escaped and cut here."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    DatePickerElement,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    SectionBlock,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.models.followups import FollowUp, FollowUpKind, Priority
from bot.models.incidents import Incident
from handlers.blocks.incidents import (
    cut,
    escape,
    impact_input,
    labelled_select,
    optional_text,
    trigger_input,
    user,
)
from handlers.ids import VALUE, Action, Callback, Field

KINDS = {
    FollowUpKind.PREVENT: "Prevent: stops it happening again",
    FollowUpKind.MITIGATE: "Mitigate: makes the next one smaller",
    FollowUpKind.DETECT: "Detect: notices it sooner",
    FollowUpKind.PROCESS: "Process: how we respond",
}


def details_modal(incident: Incident, details: dict[str, str]) -> dict[str, Any]:
    """`/incident postmortem edit` and the Complete button: the post-mortem's details, as given so far."""
    meeting = details.get("review_meeting")
    blocks: list[Block] = [
        SectionBlock(
            text=MarkdownTextObject(
                text=cut(
                    f"Post-mortem of *{incident.key}*: {escape(incident.title)}", 3000
                )
            )
        ),
        trigger_input(details.get("trigger")),
        impact_input(details.get("impact")),
        optional_text(
            Field.RESOLUTION,
            "Resolution",
            details.get("resolution"),
            hint="What was done to end it, in order, and what finally fixed it.",
        ),
        optional_text(Field.ROOT_CAUSE, "Root cause", details.get("root_cause")),
        optional_text(
            Field.CONTRIBUTING,
            "Contributing factors",
            details.get("contributing_factors"),
        ),
        InputBlock(
            block_id=Field.REVIEW_MEETING,
            label="Review meeting",
            optional=True,
            element=DatePickerElement(action_id=VALUE, initial_date=meeting or None),
        ),
    ]
    return View(
        type="modal",
        callback_id=Callback.POSTMORTEM_DETAILS,
        title=cut(f"Post-mortem {incident.key}", 24),
        submit="Save",
        close="Cancel",
        blocks=blocks,
        private_metadata=json.dumps({"incident": incident.number}),
    ).to_dict()


def followup_modal(incident: Incident) -> dict[str, Any]:
    """The Add follow-up button's form."""
    blocks: list[Block] = [
        InputBlock(
            block_id=Field.FOLLOWUP_TEXT,
            label="What is to be done",
            element=PlainTextInputElement(
                action_id=VALUE,
                max_length=500,
                placeholder="Alarm on replica lag over 30 s",
            ),
        ),
        labelled_select(
            Field.FOLLOWUP_KIND, "Type", {k.value: v for k, v in KINDS.items()}, None
        ),
        InputBlock(
            block_id=Field.FOLLOWUP_OWNER,
            label="Owner",
            optional=True,
            element=UserSelectElement(action_id=VALUE),
        ),
        InputBlock(
            block_id=Field.FOLLOWUP_DUE,
            label="Due",
            optional=True,
            element=DatePickerElement(action_id=VALUE),
        ),
        labelled_select(
            Field.FOLLOWUP_PRIORITY,
            "Priority",
            {p.value: p.value.capitalize() for p in Priority},
            Priority.MEDIUM.value,
            optional=False,
        ),
    ]
    return View(
        type="modal",
        callback_id=Callback.FOLLOWUP,
        title=cut(f"Follow-up {incident.key}", 24),
        submit="Add",
        close="Cancel",
        blocks=blocks,
        private_metadata=json.dumps({"incident": incident.number}),
    ).to_dict()


def author_prompt(
    incident: Incident, missing: list[str]
) -> tuple[str, list[dict[str, Any]]]:
    """Under a shared draft: what is still to write (the commander is mentioned) and the buttons."""
    if missing:
        text = (
            f":writing_hand: {user(incident.commander)}, the post-mortem of {incident.key} still needs: "
            f"{', '.join(missing)}. Add follow-ups for what is to be done."
        )
    else:
        text = f":writing_hand: The post-mortem of {incident.key} has every detail; add follow-ups for what is to be done."
    buttons = ActionsBlock(
        elements=[
            ButtonElement(
                text="Complete the post-mortem",
                action_id=Action.POSTMORTEM_EDIT,
                value=str(incident.number),
                style="primary" if missing else None,
            ),
            ButtonElement(
                text="Add follow-up",
                action_id=Action.FOLLOWUP_ADD,
                value=str(incident.number),
            ),
        ]
    )
    blocks = [SectionBlock(text=MarkdownTextObject(text=cut(text, 3000))), buttons]
    return text, [b.to_dict() for b in blocks]


def followup_line(item: FollowUp) -> str:
    """One follow-up as a Slack line (escaped)."""
    kind = item.kind.value if item.kind else "untyped"
    owner = f" · {user(item.owner)}" if item.owner else " · no owner"
    due = f" · due {item.due.isoformat()}" if item.due else ""
    tracked = (
        f" · <{escape(item.tracker_url)}|{escape(item.tracker or '')} {escape(item.tracker_key or '')}>"
        if item.tracker_url
        else ""
    )
    state = ":white_check_mark: " if item.state.value == "done" else ""
    return (
        f"{state}*#{item.id}* {escape(cut(item.text, 300))} "
        f"_({kind}, {item.priority.value}{owner}{due}{tracked})_"
    )
