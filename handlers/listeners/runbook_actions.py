"""Runbook buttons: run, request approval, approve, reject, skip (opens a modal), mark done, verify,
cancel, edit inputs, and the runbook message's "page or post" / "mark done" / "skip" menus.

Each listener acks, parses the button's `StepRef`, checks the clicker is a responder where the service
cannot, and calls one runbook service method; the service decides everything else. The one Slack
call made here is opening a modal (`handlers.views.open_view`: a trigger id lives 3 seconds).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import PermissionDenied, UsageError
from bot.services import Services
from bot.services.runbooks.views import run_captures
from handlers.access import Allow
from handlers.blocks import runbooks as runbook_blocks
from handlers.blocks.runbooks import StepRef
from handlers.ids import Action
from handlers.middleware import journaled
from handlers.views import open_for_click


async def _ref(services: Services, body: dict[str, Any]) -> StepRef:
    """The step a click names, checked against where it was clicked: its runbook must belong to the
    incident of this channel, and its run to that runbook (a forged value names another's)."""
    ref = _parse_ref(body)
    runbook = await services.storage.get_runbook(ref.rb)
    channel = (body.get("channel") or {}).get("id") or ""
    here = await services.incidents.by_channel(channel)
    run = await services.storage.step_run(ref.run) if ref.run else None
    if (
        runbook is None
        or here is None
        or runbook.incident != here.number
        or (ref.run and (run is None or run.runbook != ref.rb))
    ):
        raise PermissionDenied(
            "This button does not belong to this incident's runbook."
        )
    return ref


def _parse_ref(body: dict[str, Any]) -> StepRef:
    action = body["actions"][0]
    if action.get("type") == "static_select":
        block = str(action.get("block_id", ""))
        value = (action.get("selected_option") or {}).get("value", "")
        try:
            return StepRef(rb=int(block.removeprefix("runbook-")), step=str(value))
        except ValueError:
            raise UsageError("This runbook message is no longer valid.") from None
    try:
        return StepRef.model_validate_json(action.get("value") or "{}")
    except ValidationError:
        raise UsageError("This button is no longer valid.") from None


async def _needs_inputs(services: Services, ref: StepRef) -> list[str]:
    """The inputs a step names that nobody has given yet and that have no fixed default."""
    view = await services.runbooks.view(ref.rb)
    stored = await services.storage.inputs(ref.rb)
    item = view.step(ref.step)
    return [
        n
        for n in item.inputs
        if n not in stored and view.scenario.input(n).default is None
    ]


async def open_inputs(
    client: AsyncWebClient,
    services: Services,
    ref: StepRef,
    body: dict[str, Any],
    inbox_key: str,
) -> None:
    """Open the inputs modal of a step for the person who clicked (`body`)."""
    view = await services.runbooks.view(ref.rb)
    names = view.step(ref.step).inputs
    values = dict(view.inputs)
    captures = {
        s.step.id: run_captures(s.run.result)
        for s in view.steps
        if s.run and s.run.result
    }
    for name in names:
        spec = view.scenario.input(name)
        if spec.default_from and name not in values:
            _, step, key = spec.default_from.split(".", 2)
            values[name] = captures.get(step, {}).get(key)
    await open_for_click(
        client,
        services,
        body,
        view=runbook_blocks.inputs_modal(view.scenario, names, values, ref),
        source=inbox_key,
    )


async def handle_runbook_step_action(
    ack: AsyncAck,
    body: dict[str, Any],
    client: AsyncWebClient,
    inbox_key: str,
    services: Services,
) -> None:
    """Run (read-only) or Request approval (mutating): ask for missing inputs first."""
    await ack()
    ref, user = await _ref(services, body), body["user"]["id"]
    then = "run" if body["actions"][0]["action_id"] == Action.RUNBOOK_RUN else "request"
    if then == "run" and ref.run and await services.runbooks.is_approved(ref.run):
        await services.runbooks.execute(run_id=ref.run, user=user, source=inbox_key)
        return
    if await _needs_inputs(services, ref):
        await open_inputs(
            client, services, ref.model_copy(update={"then": then}), body, inbox_key
        )
        return
    method = services.runbooks.run if then == "run" else services.runbooks.request
    await method(
        runbook=ref.rb,
        step=ref.step,
        attempt=ref.attempt,
        user=user,
        source=inbox_key,
    )


async def handle_runbook_decide_action(
    ack: AsyncAck, body: dict[str, Any], inbox_key: str, services: Services
) -> None:
    await ack()
    ref = await _ref(services, body)
    approve = body["actions"][0]["action_id"] == Action.RUNBOOK_APPROVE
    await services.runbooks.decide(
        run_id=ref.run,
        user=body["user"]["id"],
        approve=approve,
        source=inbox_key,
    )


async def handle_runbook_run_action(
    ack: AsyncAck,
    body: dict[str, Any],
    client: AsyncWebClient,
    inbox_key: str,
    services: Services,
) -> None:
    """Verify, cancel or mark done on an existing run; from the menus, page or post (a page or
    notify step) or mark a manual step done."""
    await ack()
    ref, user, source = await _ref(services, body), body["user"]["id"], inbox_key
    action = body["actions"][0]["action_id"]
    if action == Action.RUNBOOK_VERIFY:
        await services.runbooks.verify(run_id=ref.run, user=user, source=source)
    elif action == Action.RUNBOOK_CANCEL:
        await services.runbooks.cancel(run_id=ref.run, user=user, source=source)
    elif action == Action.RUNBOOK_ACT:
        await services.runbooks.act(
            runbook=ref.rb, step=ref.step, user=user, source=source
        )
    else:
        attempt = (
            ref.attempt
            or (await services.runbooks.view(ref.rb)).step(ref.step).next_attempt
        )
        await services.runbooks.mark(
            runbook=ref.rb,
            step=ref.step,
            attempt=attempt,
            user=user,
            source=source,
            skip=False,
        )


async def handle_runbook_modal_action(
    ack: AsyncAck,
    body: dict[str, Any],
    client: AsyncWebClient,
    inbox_key: str,
    services: Services,
) -> None:
    """Open the skip-reason modal or the inputs modal."""
    await ack()
    ref = await _ref(services, body)
    if body["actions"][0]["action_id"] == Action.RUNBOOK_INPUTS:
        await open_inputs(client, services, ref, body, inbox_key)
        return
    item = (await services.runbooks.view(ref.rb)).step(ref.step)
    ref = ref.model_copy(update={"attempt": item.next_attempt})
    await open_for_click(
        client,
        services,
        body,
        view=runbook_blocks.skip_modal(item.step.title, ref),
        source=inbox_key,
    )


def register(app: AsyncApp) -> None:
    for action in (Action.RUNBOOK_RUN, Action.RUNBOOK_REQUEST):
        app.action(action)(
            journaled(
                handle_runbook_step_action,
                allow=Allow.RESPONDER,
                what="work on a runbook",
            )
        )
    for action in (Action.RUNBOOK_APPROVE, Action.RUNBOOK_REJECT):
        app.action(action)(
            journaled(
                handle_runbook_decide_action,
                allow=Allow.RESPONDER,  # the service then wants an approver, not the requester
                what="work on a runbook",
            )
        )
    for action in (
        Action.RUNBOOK_VERIFY,
        Action.RUNBOOK_CANCEL,
        Action.RUNBOOK_DONE,
        Action.RUNBOOK_MANUAL_DONE,
        Action.RUNBOOK_ACT,
    ):
        app.action(action)(
            journaled(
                handle_runbook_run_action,
                allow=Allow.RESPONDER,
                what="work on a runbook",
            )
        )
    for action in (
        Action.RUNBOOK_SKIP,
        Action.RUNBOOK_INPUTS,
        Action.RUNBOOK_MANUAL_SKIP,
    ):
        app.action(action)(
            journaled(
                handle_runbook_modal_action,
                allow=Allow.RESPONDER,
                what="work on a runbook",
            )
        )
