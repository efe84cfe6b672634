"""`/incident postmortem`: build the post-mortem draft now and share it in the channel as a file;
`postmortem edit` opens its details form; `postmortem review @a @b` names its reviewers and puts it
in review; `postmortem final` (or `draft`) sets its status. Each change rebuilds and shares it."""

from __future__ import annotations

from pydantic import BaseModel, Field

from bot.errors import UsageError
from handlers.access import Allow
from handlers.blocks import postmortem as blocks
from handlers.commands._registry import CommandContext, subcommand
from handlers.commands.assign import MENTION

USAGE = "postmortem [edit | review @reviewer ... | final | draft]"


class PostmortemArgs(BaseModel):
    text: str = Field(default="", max_length=2000)


@subcommand(
    "postmortem",
    summary="Build and upload the post-mortem draft; edit its details, name reviewers, set its status",
    usage=USAGE,
    example="postmortem review @dana",
    args=PostmortemArgs,
    needs_incident=True,
    allow=Allow.RESPONDER,
)
async def handle_postmortem_command(args: PostmortemArgs, ctx: CommandContext) -> None:
    incident = ctx.require_incident()
    action, _, rest = args.text.strip().partition(" ")
    service = ctx.services.postmortems
    if action == "edit" and not rest:
        await ctx.open_view(
            blocks.details_modal(incident, await service.details(incident.number))
        )
        return
    if action in ("review", "final", "draft"):
        mentions = [MENTION.match(word) for word in rest.split()]
        if not all(mentions):
            raise UsageError(f"Name reviewers as mentions.\nUsage: `/incident {USAGE}`")
        reviewers = [m.group(1) for m in mentions if m]
        chosen = await service.review(
            number=incident.number,
            status="in review" if action == "review" else action,
            reviewers=list(dict.fromkeys(reviewers)),
            actor=ctx.user_id,
            source=ctx.source,
        )
        who = ", ".join(f"<@{u}>" for u in chosen) or "no one yet"
        await ctx.respond(
            text=f"The post-mortem of {incident.key} is now *{'in review' if action == 'review' else action}* (reviewers: {who}); the draft is being rebuilt.",
            response_type="ephemeral",
        )
        return
    if action:
        raise UsageError(f"Unknown post-mortem action.\nUsage: `/incident {USAGE}`")
    await ctx.respond(
        text=f"Building the post-mortem draft for {incident.key}…",
        response_type="ephemeral",
    )
    draft = await service.publish(
        number=incident.number, trigger="command", actor=ctx.user_id, source=ctx.source
    )
    state = "verified" if draft.chain_ok else "BROKEN (run `warroom verify`)"
    await ctx.respond(
        text=f"Uploaded `{draft.filename}` ({draft.size:,} bytes, {draft.rows} timeline entries, chain {state}).",
        response_type="ephemeral",
    )
