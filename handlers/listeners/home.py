"""App Home: open incidents with severity, status and elapsed time, and a Declare button.

Stays inside Slack's 100-block limit with any number of incidents: incidents are listed as lines in
a few sections (each under 3,000 characters), and past the cap the view says how many are not shown.
"""

from __future__ import annotations

import uuid
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.models.incidents import Incident, OutboxMessage
from bot.services import Services
from handlers import access
from handlers.blocks import incidents as blocks
from handlers.ids import Action

MAX_SECTIONS = 40


def home_view(incidents: list[Incident], *, now: Any) -> dict[str, Any]:
    """The Home tab for a list of open incidents, most severe first."""
    ordered = sorted(incidents, key=lambda i: (i.severity, i.declared_at))
    view_blocks: list[Block] = [
        HeaderBlock(text="Incidents"),
        ActionsBlock(
            elements=[
                ButtonElement(
                    text="Declare an incident",
                    action_id=Action.HOME_DECLARE,
                    style="danger",
                )
            ]
        ),
        SectionBlock(text=MarkdownTextObject(text=f"*{len(ordered)} open*")),
    ]
    section, shown = "", 0
    for incident in ordered:
        line = blocks.incident_list_text([incident], now=now) + "\n"
        if len(section) + len(line) > blocks.SECTION_LIMIT:
            if len(view_blocks) >= MAX_SECTIONS:
                break
            view_blocks.append(SectionBlock(text=MarkdownTextObject(text=section)))
            section = ""
        section += line
        shown += 1
    if section:
        view_blocks.append(SectionBlock(text=MarkdownTextObject(text=section)))
    if shown < len(ordered):
        view_blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=f"_…and {len(ordered) - shown} more: use `/incident list`._"
                )
            )
        )
    return {"type": "home", "blocks": [b.to_dict() for b in view_blocks]}


async def publish(services: Services, *, user_id: str) -> None:
    incidents = await access.visible(
        services.outbox.client, user_id, await services.incidents.open_incidents()
    )
    view = home_view(incidents, now=services.clock())
    await services.outbox.enqueue(
        OutboxMessage(
            method="views.publish",
            args={"user_id": user_id, "view": view},
            channel_key=f"home:{user_id}",
            dedup_key=f"home:{user_id}:{uuid.uuid4().hex}",
        )
    )
