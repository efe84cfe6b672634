"""`/incident followup …` adds a follow-up (or marks one done); `/incident followups` lists them.

`followup [prevent:|mitigate:|detect:|process:] <text> [@owner] [YYYY-MM-DD] [high|medium|low]`:
the type leads, the owner, due date and priority trail the text in any order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from pydantic import BaseModel, Field

from bot.errors import UsageError
from bot.models.followups import FollowUpKind, Priority
from handlers.access import Allow
from handlers.blocks.postmortem import followup_line
from handlers.commands._registry import CommandContext, NoArgs, subcommand
from handlers.commands.assign import MENTION

KIND = re.compile(r"^(prevent|mitigate|detect|process):\s*", re.IGNORECASE)
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PRIORITIES = frozenset(p.value for p in Priority)
CLOSE = re.compile(r"^(done|reopen)\s+#?(\d{1,9})$", re.IGNORECASE)


class FollowUpArgs(BaseModel):
    text: str = Field(min_length=1, max_length=3000)


@dataclass
class Parsed:
    text: str
    kind: FollowUpKind | None = None
    priority: Priority = Priority.MEDIUM
    owner: str | None = None
    due: date | None = None


def parse(text: str) -> Parsed:
    """The type leading the text; owner, due date and priority trailing it in any order."""
    parsed, text = Parsed(text=""), text.strip()
    kind = KIND.match(text)
    if kind:
        parsed.kind, text = FollowUpKind(kind.group(1).lower()), text[kind.end() :]
    words, seen = text.split(), set[str]()
    while words:
        last, mention = words[-1], MENTION.match(words[-1])
        if mention and "owner" not in seen:
            parsed.owner, field = mention.group(1), "owner"
        elif DAY.match(last) and "due" not in seen:
            try:
                parsed.due, field = date.fromisoformat(last), "due"
            except ValueError:
                raise UsageError(f"{last} is not a date (YYYY-MM-DD).") from None
        elif last.lower() in PRIORITIES and "priority" not in seen:
            parsed.priority, field = Priority(last.lower()), "priority"
        else:
            break
        seen.add(field)
        words.pop()
    parsed.text = " ".join(words)
    return parsed


@subcommand(
    "followup",
    summary="Add a follow-up (owner, due date, type and priority optional), or mark one done",
    usage="followup [prevent:|mitigate:|detect:|process:] <text> [@owner] [YYYY-MM-DD] [high|medium|low] · followup done #<n>",
    example="followup detect: alarm on replica lag @dana 2026-12-18 high",
    args=FollowUpArgs,
    needs_incident=True,
    allow=Allow.RESPONDER,
)
async def handle_followup_command(args: FollowUpArgs, ctx: CommandContext) -> None:
    incident = ctx.require_incident()
    service = ctx.services.followups
    closing = CLOSE.match(args.text.strip())
    if closing:
        await service.close(
            number=incident.number,
            followup_id=int(closing.group(2)),
            actor=ctx.user_id,
            done=closing.group(1).lower() == "done",
        )
        return
    parsed = parse(args.text)
    await service.add(
        number=incident.number,
        text=parsed.text,
        kind=parsed.kind,
        priority=parsed.priority,
        owner=parsed.owner,
        due=parsed.due,
        actor=ctx.user_id,
        source=ctx.source,
    )


@subcommand(
    "followups",
    summary="List follow-ups: this incident's, or every open one outside an incident channel",
    usage="followups",
    example="followups",
    allow=Allow.RESPONDER,
)
async def handle_followups_command(args: NoArgs, ctx: CommandContext) -> None:
    service = ctx.services.followups
    if ctx.incident is not None:
        items = await service.listing(ctx.incident.number)
        title = f"*Follow-ups of {ctx.incident.key}*"
    else:
        items, hidden = await service.open_everywhere()
        title = "*Open follow-ups*" + (
            f" ({hidden} of private incidents not shown: ask in their channels)"
            if hidden
            else ""
        )
    today = ctx.services.clock().date()
    lines = [
        ("" if ctx.incident else f"INC-{i.incident} ")
        + followup_line(i)
        + (" :warning: *overdue*" if i.overdue(today) else "")
        for i in items
    ]
    done = sum(1 for i in items if i.state.value == "done")
    summary = f"{len(items) - done} open, {done} done" if items else "none yet"
    await ctx.respond(
        text="\n".join([f"{title} ({summary})", *lines])[:3900],
        response_type="ephemeral",
    )
