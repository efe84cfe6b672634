"""The `/incident update` modal submission: validated before the ack (field errors go back to the
modal), then one call to the status-update service."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.models.incidents import Status
from bot.services import Services
from handlers.access import Allow
from handlers.ids import Callback
from handlers.ids import Field as F
from handlers.middleware import journaled
from handlers.views import carried_id, submitted_value


def _values(body: dict[str, Any]) -> tuple[str, str, str]:
    values = body["view"]["state"]["values"]
    status, message, public = (
        str(submitted_value(values, block) or "").strip()
        for block in (F.UPDATE_STATUS, F.UPDATE_MESSAGE, F.UPDATE_PUBLIC)
    )
    return status, message, public


async def handle_update_submission(
    ack: AsyncAck, body: dict[str, Any], inbox_key: str, services: Services
) -> None:
    raw_status, message, public = _values(body)
    errors: dict[str, str] = {}
    if raw_status not in {s.value for s in Status if s is not Status.RESOLVED}:
        errors[F.UPDATE_STATUS] = "Choose investigating, identified or monitoring."
    if len(message) < 3:
        errors[F.UPDATE_MESSAGE] = "Write what changed since the last update."
    number = carried_id(body["view"], "incident")
    if number is None:
        errors[F.UPDATE_MESSAGE] = (
            "This form is no longer valid; run /incident update again."
        )
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    await ack()
    assert number is not None
    await services.comms.updates.post(
        number=number,
        status=Status(raw_status),
        message=message,
        public=public,
        actor=body["user"]["id"],
        source=inbox_key,
    )


def register(app: AsyncApp) -> None:
    app.view(Callback.UPDATE)(
        journaled(
            handle_update_submission, allow=Allow.RESPONDER, what="post status updates"
        )
    )
