"""`/incident subscribe [@user ...]`: get this incident's status updates and resolution by direct
message (the commander may subscribe others)."""

from __future__ import annotations

from pydantic import BaseModel, field_validator

from handlers.access import Allow
from handlers.commands._registry import CommandContext, subcommand
from handlers.commands.assign import MENTION


class SubscribeArgs(BaseModel):
    people: list[str] = []

    @field_validator("people", mode="before")
    @classmethod
    def _mentions(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        found = []
        for word in value.split():
            match = MENTION.match(word)
            if not match:
                raise ValueError("mention each person, like @dana")
            found.append(match.group(1))
        return found


@subcommand(
    "subscribe",
    summary="Get this incident's updates by direct message",
    usage="subscribe [@user ...]",
    example="subscribe",
    args=SubscribeArgs,
    needs_incident=True,
    allow=Allow.ANYONE,
)
async def handle_subscribe_command(args: SubscribeArgs, ctx: CommandContext) -> None:
    incident = ctx.require_incident()
    added = await ctx.services.subscriptions.subscribe(
        number=incident.number, actor=ctx.user_id, people=args.people, source=ctx.source
    )
    who = ", ".join(f"<@{u}>" for u in added)
    text = (
        f"Subscribed to {incident.key}: {who} will get its status updates and resolution by"
        " direct message."
        if added
        else "Already subscribed: nothing changed."
    )
    await ctx.respond(text=text, response_type="ephemeral")
