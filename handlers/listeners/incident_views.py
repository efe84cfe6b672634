"""Modal submissions: declare and resolve. Values are validated before the ack; errors go back
to the modal as field errors (`response_action: errors`) and nothing is stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot.plan import COMPONENT_IDS
from bot.services import Services
from bot.services.postmortem.facts import TRIGGERS
from handlers.access import Allow
from handlers.blocks.incidents import PRIVATE
from handlers.ids import Callback
from handlers.ids import Field as F
from handlers.middleware import journaled
from handlers.views import carried_id, carried_metadata, submitted_value


class DeclareForm(BaseModel):
    title: str = Field(min_length=3, max_length=150)
    severity: str
    scenario: str | None = None
    components: list[str] = Field(default_factory=list)
    impact_started_at: datetime | None = None
    description: str = Field(default="", max_length=2000)
    private: bool = False

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        value = " ".join(value.split())
        if len(value) < 3:
            raise ValueError("Give the incident a title of at least 3 characters.")
        return value


def validate_declare(
    values: dict[str, Any], services: Services
) -> tuple[DeclareForm | None, dict[str, str]]:
    """Return the form, or an error for every bad field at once, keyed by block id."""
    raw = {
        name: submitted_value(values, name)
        for name in (
            F.TITLE,
            F.SEVERITY,
            F.SCENARIO,
            F.COMPONENTS,
            F.IMPACT_STARTED,
            F.DESCRIPTION,
            F.PRIVATE,
        )
    }
    raw[F.PRIVATE] = PRIVATE in (raw[F.PRIVATE] or [])
    errors: dict[str, str] = {}
    form: DeclareForm | None = None
    try:
        form = DeclareForm.model_validate(
            {k: v for k, v in raw.items() if v is not None}
        )
    except ValidationError as exc:
        for error in exc.errors():
            block = str(error["loc"][0]) if error["loc"] else F.TITLE
            errors.setdefault(block, str(error["msg"]).removeprefix("Value error, "))
    severity, scenario = raw[F.SEVERITY], raw[F.SCENARIO]
    if not severity or services.settings.severity(str(severity)) is None:
        errors[F.SEVERITY] = "Choose one of the configured severities."
    if scenario and scenario not in services.scenario_titles:
        errors[F.SCENARIO] = f"Unknown scenario {str(scenario)[:50]!r}."
    unknown = [str(c) for c in raw[F.COMPONENTS] or [] if c not in COMPONENT_IDS]
    if unknown:
        errors[F.COMPONENTS] = "Unknown component(s): " + ", ".join(
            u[:40] for u in unknown[:5]
        )
    started = raw[F.IMPACT_STARTED]
    if isinstance(started, datetime) and started > services.clock():
        errors[F.IMPACT_STARTED] = "Impact cannot start in the future."
    return (None, errors) if errors else (form, {})


async def handle_declare_submission(
    ack: AsyncAck, body: dict[str, Any], inbox_key: str, services: Services
) -> None:
    form, errors = validate_declare(body["view"]["state"]["values"], services)
    if form is None:
        await ack(response_action="errors", errors=errors)
        return
    await ack()
    carried = carried_metadata(body["view"])
    incident = await services.incidents.declare(
        source=inbox_key,
        title=form.title,
        severity=form.severity,
        declared_by=body["user"]["id"],
        scenario=form.scenario,
        components=form.components,
        impact_started_at=form.impact_started_at,
        description=form.description,
        private=form.private or form.scenario in services.private_scenarios,
        drill=carried.get("drill") is True,
    )
    alert = carried.get("alert")
    if isinstance(alert, int):
        await services.alerts.link(
            alert_id=alert,
            incident=incident.number,
            actor=body["user"]["id"],
            source=inbox_key,
        )
    # queued behind the channel's creation, so it lands in the new channel
    if form.scenario:
        await services.runbooks.start(
            incident=incident.number,
            scenario=form.scenario,
            user=body["user"]["id"],
            source=f"{inbox_key}:runbook",
            dry_run=incident.drill and services.settings.drill_dry_run,
        )


async def handle_resolve_submission(
    ack: AsyncAck, body: dict[str, Any], inbox_key: str, services: Services
) -> None:
    values = body["view"]["state"]["values"]
    summary = str(submitted_value(values, F.SUMMARY) or "").strip()
    if len(summary) < 3:
        await ack(
            response_action="errors",
            errors={F.SUMMARY: "Write a short summary of what happened."},
        )
        return
    number = carried_id(body["view"], "incident")
    if number is None:
        await ack(
            response_action="errors",
            errors={
                F.SUMMARY: "This form is no longer valid; run /incident resolve again."
            },
        )
        return
    trigger = str(submitted_value(values, F.TRIGGER) or "")
    if trigger and trigger not in TRIGGERS:
        await ack(
            response_action="errors", errors={F.TRIGGER: "Choose one of the list."}
        )
        return
    await ack()
    await services.incidents.resolve(
        number=number,
        summary=summary,
        root_cause=str(submitted_value(values, F.ROOT_CAUSE) or ""),
        trigger=trigger,
        impact=str(submitted_value(values, F.IMPACT) or ""),
        actor=body["user"]["id"],
        source=inbox_key,
    )


def register(app: AsyncApp) -> None:
    app.view(Callback.DECLARE)(
        journaled(
            handle_declare_submission, allow=Allow.RESPONDER, what="declare incidents"
        )
    )
    app.view(Callback.RESOLVE)(
        journaled(
            handle_resolve_submission, allow=Allow.RESPONDER, what="change an incident"
        )
    )
