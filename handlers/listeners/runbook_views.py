"""Runbook modal submissions: step inputs (typed, pattern-checked) and the skip reason.

Values are checked before the ack; an invalid one goes back to its field (`response_action: errors`)
and nothing is stored or run. A valid inputs form is stored, then the click that opened it (Run or
Request approval) goes on.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.errors import UsageError
from bot.scenarios.schema import validate_input
from bot.services import Services
from handlers.access import Allow
from handlers.blocks.runbooks import StepRef
from handlers.ids import VALUE, Callback, Field
from handlers.middleware import journaled


def _ref(body: dict[str, Any]) -> StepRef | None:
    try:
        return StepRef.model_validate_json(body["view"].get("private_metadata") or "{}")
    except ValidationError:
        return None


def _values(body: dict[str, Any]) -> dict[str, str]:
    state = body["view"]["state"]["values"]
    return {
        block: str((fields.get(VALUE) or {}).get("value") or "")
        for block, fields in state.items()
    }


async def handle_runbook_inputs_submission(
    ack: AsyncAck, body: dict[str, Any], inbox_key: str, services: Services
) -> None:
    ref, raw = _ref(body), _values(body)
    if ref is None:
        await ack(
            response_action="errors",
            errors={next(iter(raw), "value"): "This form is no longer valid."},
        )
        return
    scenario = (await services.runbooks.view(ref.rb)).scenario
    errors: dict[str, str] = {}
    for name, text in raw.items():
        try:
            validate_input(scenario.input(name), text)
        except (UsageError, KeyError) as exc:
            errors[name] = (
                exc.message if isinstance(exc, UsageError) else "Unknown input."
            )
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    await ack()
    user, source = body["user"]["id"], inbox_key
    await services.runbooks.set_inputs(
        runbook=ref.rb, raw=raw, user=user, source=source
    )
    if ref.then == "run":
        await services.runbooks.run(
            runbook=ref.rb, step=ref.step, attempt=ref.attempt, user=user, source=source
        )
    elif ref.then == "request":
        await services.runbooks.request(
            runbook=ref.rb, step=ref.step, attempt=ref.attempt, user=user, source=source
        )


async def handle_runbook_skip_submission(
    ack: AsyncAck, body: dict[str, Any], inbox_key: str, services: Services
) -> None:
    ref, reason = _ref(body), _values(body).get(Field.SKIP_REASON, "").strip()
    if ref is None or len(reason) < 3:
        await ack(
            response_action="errors",
            errors={Field.SKIP_REASON: "Say in a few words why the step is skipped."},
        )
        return
    await ack()
    await services.runbooks.mark(
        runbook=ref.rb,
        step=ref.step,
        attempt=ref.attempt,
        user=body["user"]["id"],
        source=inbox_key,
        skip=True,
        reason=reason,
    )


def register(app: AsyncApp) -> None:
    app.view(Callback.RUNBOOK_INPUTS)(
        journaled(
            handle_runbook_inputs_submission,
            allow=Allow.RESPONDER,
            what="work on a runbook",
        )
    )
    app.view(Callback.RUNBOOK_SKIP)(
        journaled(
            handle_runbook_skip_submission,
            allow=Allow.RESPONDER,
            what="work on a runbook",
        )
    )
