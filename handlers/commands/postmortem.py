"""`/incident postmortem`: build the post-mortem draft now and share it in the channel as a file."""

from __future__ import annotations

from handlers.access import Allow
from handlers.commands._registry import CommandContext, NoArgs, subcommand


@subcommand(
    "postmortem",
    summary="Build the post-mortem draft and upload it here",
    usage="postmortem",
    example="postmortem",
    needs_incident=True,
    allow=Allow.RESPONDER,
)
async def handle_postmortem_command(args: NoArgs, ctx: CommandContext) -> None:
    incident = ctx.require_incident()
    await ctx.respond(
        text=f"Building the post-mortem draft for {incident.key}…",
        response_type="ephemeral",
    )
    draft = await ctx.services.postmortems.publish(
        number=incident.number, trigger="command", actor=ctx.user_id, source=ctx.source
    )
    state = "verified" if draft.chain_ok else "BROKEN (run `warroom verify`)"
    await ctx.respond(
        text=f"Uploaded `{draft.filename}` ({draft.size:,} bytes, {draft.rows} timeline entries, chain {state}).",
        response_type="ephemeral",
    )
