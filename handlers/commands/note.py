"""`/incident note <text>`: add a note to the timeline (and show it in the channel)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from handlers.access import Allow
from handlers.commands._registry import CommandContext, subcommand


class NoteArgs(BaseModel):
    text: str = Field(min_length=1, max_length=3000)


@subcommand(
    "note",
    summary="Add a note to the timeline",
    usage="note <text>",
    example="note payload service down since 10:02",
    args=NoteArgs,
    needs_incident=True,
    allow=Allow.RESPONDER,
)
async def handle_note_command(args: NoteArgs, ctx: CommandContext) -> None:
    incident = ctx.require_incident()
    await ctx.services.incidents.note(
        number=incident.number, text=args.text, actor=ctx.user_id, source=ctx.source
    )
