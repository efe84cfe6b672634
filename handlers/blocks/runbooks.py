"""Pure Block Kit builders for runbooks: the runbook message, step cards, the input and skip modals.

A step card shows exactly what will run (service, operation, region, parameters after templating),
whether it is read-only, mutating or destructive, the preview current → proposed, its state, who
approved, the result or the AWS error with what to do next, and the buttons its state allows. Every
user or AWS string is escaped and cut to Slack's limits here. No I/O.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from bot.models.runbooks import Risk, StepState
from bot.redaction import redact
from bot.scenarios.schema import AwsStep, NotifyStep, PageStep, Scenario
from bot.scenarios.templating import variables
from bot.services.runbooks.views import RunbookView, StepView
from handlers.blocks.incidents import cut, escape, user
from handlers.ids import VALUE, Action, Callback, Field

ICONS = {
    StepState.PENDING: ":white_circle:",
    StepState.AWAITING_APPROVAL: ":hourglass:",
    StepState.APPROVED: ":ballot_box_with_check:",
    StepState.EXECUTING: ":arrows_counterclockwise:",
    StepState.SUCCEEDED: ":white_check_mark:",
    StepState.FAILED: ":x:",
    StepState.OUTCOME_UNKNOWN: ":question:",
    StepState.SKIPPED: ":fast_forward:",
    StepState.DONE: ":white_check_mark:",
    StepState.CANCELLED: ":white_circle:",
}
RISK = {
    Risk.READ_ONLY: "read-only",
    Risk.MUTATING: ":warning: mutating (1 approver)",
    Risk.DESTRUCTIVE: ":rotating_light: destructive (2 approvers)",
    Risk.MANUAL: "manual",
}


class StepRef(BaseModel):
    """What a runbook button or modal carries (serialised as JSON, never string-split)."""

    rb: int
    step: str = ""
    attempt: int = 0
    run: int = 0
    then: str = ""


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, 3000)}}


def _context(text: str) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": cut(text, 3000)}],
    }


def _button(
    label: str, action: str, ref: StepRef, style: str | None = None
) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action,
        "value": ref.model_dump_json(),
    }
    if style:
        button["style"] = style
    return button


def runbook_message(view: RunbookView) -> tuple[str, list[dict[str, Any]]]:
    """The runbook overview: phases, each step's state (with what a page or notify step did), n of
    m done, and the menus: page or post, mark done, skip."""
    done, total = view.progress()
    flags = [f"*{done} of {total}* steps done"]
    if view.dry_run:
        flags.append(":test_tube: dry run: no mutating call is sent")
    if not view.aws_enabled:
        flags.append(":octagonal_sign: AWS execution is switched off")
    title = f"Runbook: {view.scenario.title} ({view.incident.key})"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": cut(title, 150)}},
        _context(" · ".join(flags)),
    ]
    for phase in view.scenario.phases:
        lines = [f"*{escape(phase.title)}*"]
        for item in view.steps:
            if item.phase.id == phase.id:
                outcome = item.run.summary or item.run.reason if item.run else ""
                lines.append(
                    f"{ICONS[item.state]} {escape(item.step.title)}"
                    + (f" _({item.risk.value})_" if item.actionable else "")
                    + (
                        f": {escape(cut(outcome, 300))}"
                        if outcome and isinstance(item.step, PageStep | NotifyStep)
                        else ""
                    )
                )
        text = "\n".join(lines)
        while text and len(blocks) < 45:
            blocks.append(_section(text[:2900]))
            text = text[2900:]
    ref = StepRef(rb=view.runbook.id)
    open_manual = [
        s
        for s in view.steps
        if not s.actionable and s.state in (StepState.PENDING, StepState.FAILED)
    ]
    open_any = [
        s
        for s in view.steps
        if s.state in (StepState.PENDING, StepState.FAILED, StepState.OUTCOME_UNKNOWN)
    ]
    open_outreach = [
        s for s in open_manual if isinstance(s.step, PageStep | NotifyStep)
    ]
    elements = []
    if open_outreach:
        elements.append(_select("Page or post…", Action.RUNBOOK_ACT, open_outreach))
    if open_manual:
        elements.append(
            _select("Mark a step done…", Action.RUNBOOK_MANUAL_DONE, open_manual)
        )
    if open_any:
        elements.append(_select("Skip a step…", Action.RUNBOOK_MANUAL_SKIP, open_any))
    if elements:
        blocks.append(
            {"type": "actions", "block_id": f"runbook-{ref.rb}", "elements": elements}
        )
    return f"{title}: {done} of {total} steps done", blocks


def _select(label: str, action: str, steps: list[StepView]) -> dict[str, Any]:
    options = [
        {
            "text": {"type": "plain_text", "text": cut(s.step.title, 75)},
            "value": s.step.id,
        }
        for s in steps[:100]
    ]
    return {
        "type": "static_select",
        "action_id": action,
        "placeholder": {"type": "plain_text", "text": label},
        "options": options,
    }


def needs(view: RunbookView, item: StepView) -> str:
    """What a step lacks before it can be planned, in the responder's words: the inputs to give
    (by their labels), or the earlier step to run; else the templating's own reason (issue 14:
    the card said "Unknown template variable {{ inputs.snapshot_id }}")."""
    declared = {spec.name: spec for spec in view.scenario.inputs}
    steps = {s.step.id: s for s in view.steps}

    def unfinished(step_id: str) -> StepView | None:
        found = steps.get(step_id)
        return found if found and found.state is not StepState.SUCCEEDED else None

    wanted = [
        declared[name]
        for name in item.inputs
        if name in declared and view.inputs.get(name) is None
    ]
    if wanted:
        names = " and ".join(f"*{escape(spec.label)}*" for spec in wanted)
        finders = [
            unfinished(spec.default_from.split(".")[1])
            for spec in wanted
            if spec.default_from
        ]
        finder = next((s for s in finders if s is not None), None)
        then = (
            f" (run *{escape(finder.step.title)}* first and it is filled in for you)"
            if finder
            else ""
        )
        return f":pencil: Needs {names} before it can be planned: press *Inputs…* to give it{then}."
    templated = item.step.model_dump(include={"region", "params"})
    earlier = [
        unfinished(name.split(".")[1])
        for name in sorted(variables(templated))
        if name.startswith("steps.")
    ]
    first = next((s for s in earlier if s is not None), None)
    if first is not None:
        return (
            f":pencil: Needs the result of *{escape(first.step.title)}* before it can be"
            " planned: run that step first."
        )
    return f":pencil: Cannot be planned yet: {escape(item.problem)}"


def _plan_text(view: RunbookView, item: StepView) -> str:
    if item.plan is None:
        return needs(view, item)
    plan = item.run.plan if item.run and item.run.plan else item.plan
    # Structured redaction: secret fields go whatever their value; identifiers (an access key id
    # to delete) stay, so approvers see the exact call.
    params = cut(
        json.dumps(redact(plan.params), indent=1, sort_keys=True, default=str), 2500
    )
    what = (
        f"action `{plan.operation}`"
        if plan.kind == "action"
        else f"`{plan.service}:{plan.operation}`"
    )
    return f"{what} in `{escape(plan.region)}`\n```{escape(params)}```"


def step_card(view: RunbookView, step_id: str) -> tuple[str, list[dict[str, Any]]]:
    """One AWS or action step: the exact call, its risk, preview, state, approvals, result, buttons."""
    item = view.step(step_id)
    state, run = item.state, item.run
    blocks = [
        _section(
            f"{ICONS[state]} *{escape(item.step.title)}*  ·  {RISK[item.risk]}  ·  _{state.value}_"
        ),
        _section(_plan_text(view, item)),
    ]
    if (run and run.preview_current is not None) or (
        run and run.preview_proposed is not None
    ):
        assert run is not None
        blocks.append(
            _section(
                f"*Plan:* `{escape(str(run.preview_current))}` → `{escape(str(run.preview_proposed))}`"
            )
        )
    guards = item.step.guards if isinstance(item.step, AwsStep) else []
    if guards:
        blocks.append(
            _context(
                "Checked just before it is sent: "
                + "; ".join(escape(g.why) for g in guards)
            )
        )
    facts = []
    if run:
        facts.append(f"attempt {run.attempt}")
        if run.requested_by:
            facts.append(f"by {user(run.requested_by)}")
        if run.required_approvals:
            granted = [a.user for a in item.approvals if a.decision == "approve"]
            facts.append(
                f"approvals {len(granted)} of {run.required_approvals}"
                + (": " + ", ".join(user(u) for u in granted) if granted else "")
            )
        if run.state is StepState.AWAITING_APPROVAL and run.expires_at:
            facts.append(
                f"expires <!date^{int(run.expires_at.timestamp())}^{{time}}|{run.expires_at:%H:%M} UTC>"
            )
        if run.reason:
            facts.append(escape(run.reason))
    if facts:
        blocks.append(_context(" · ".join(facts)))
    if run and run.summary:
        blocks.append(_section(escape(cut(run.summary, 2900))))
    if run and run.error and state in (StepState.FAILED, StepState.OUTCOME_UNKNOWN):
        error = run.error
        blocks.append(
            _section(
                f":x: *{escape(str(error.get('code', '')))}*: {escape(cut(str(error.get('message', '')), 1500))}\n"
                f"*Next:* {escape(str(error.get('next_step', '')))}"
            )
        )
    buttons = _buttons(view, item)
    if buttons:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"step-{view.runbook.id}-{step_id}"[:255],
                "elements": buttons,
            }
        )
    return f"{item.step.title}: {state.value}", blocks


def _buttons(view: RunbookView, item: StepView) -> list[dict[str, Any]]:
    run = item.run
    ref = StepRef(
        rb=view.runbook.id,
        step=item.step.id,
        attempt=item.next_attempt,
        run=run.id if run else 0,
    )
    state = item.state
    if state is StepState.AWAITING_APPROVAL:
        return [
            _button("Approve", Action.RUNBOOK_APPROVE, ref, "primary"),
            _button("Reject", Action.RUNBOOK_REJECT, ref, "danger"),
            _button("Cancel", Action.RUNBOOK_CANCEL, ref),
        ]
    # approved but held back (e.g. AWS was switched off)
    if state is StepState.APPROVED:
        return [
            _button("Execute", Action.RUNBOOK_RUN, ref, "primary"),
            _button("Cancel", Action.RUNBOOK_CANCEL, ref),
        ]
    if state is StepState.OUTCOME_UNKNOWN:
        return [
            _button("Verify", Action.RUNBOOK_VERIFY, ref, "primary"),
            _button("Mark done", Action.RUNBOOK_DONE, ref),
        ]
    if state is StepState.EXECUTING:
        return []
    buttons = []
    if item.risk is Risk.READ_ONLY:
        buttons.append(
            _button(
                "Run again" if run and state is not StepState.PENDING else "Run",
                Action.RUNBOOK_RUN,
                ref,
                "primary",
            )
        )
    else:
        buttons.append(
            _button("Request approval", Action.RUNBOOK_REQUEST, ref, "primary")
        )
    if item.inputs:
        buttons.append(_button("Inputs…", Action.RUNBOOK_INPUTS, ref))
    if state not in (StepState.SUCCEEDED, StepState.SKIPPED, StepState.DONE):
        buttons.append(_button("Skip…", Action.RUNBOOK_SKIP, ref))
    return buttons


def inputs_modal(
    scenario: Scenario, names: list[str], values: dict[str, Any], ref: StepRef
) -> dict[str, Any]:
    """A modal asking for the inputs a step uses, typed and prefilled with defaults."""
    blocks = []
    for name in names[:40]:
        spec = scenario.input(name)
        element: dict[str, Any] = {"type": "plain_text_input", "action_id": VALUE}
        if values.get(name) is not None:
            element["initial_value"] = cut(str(values[name]), 3000)
        block: dict[str, Any] = {
            "type": "input",
            "block_id": name,
            "label": {"type": "plain_text", "text": cut(spec.label, 2000)},
            "element": element,
        }
        hint = spec.help or f"Type: {spec.type.value}"
        block["hint"] = {"type": "plain_text", "text": cut(hint, 2000)}
        blocks.append(block)
    return {
        "type": "modal",
        "callback_id": Callback.RUNBOOK_INPUTS,
        "private_metadata": ref.model_dump_json(),
        "title": {"type": "plain_text", "text": "Step inputs"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def skip_modal(title: str, ref: StepRef) -> dict[str, Any]:
    block = {
        "type": "input",
        "block_id": Field.SKIP_REASON,
        "label": {"type": "plain_text", "text": "Why skip it?"},
        "element": {"type": "plain_text_input", "action_id": VALUE, "max_length": 500},
    }
    return {
        "type": "modal",
        "callback_id": Callback.RUNBOOK_SKIP,
        "private_metadata": ref.model_dump_json(),
        "title": {"type": "plain_text", "text": "Skip a step"},
        "submit": {"type": "plain_text", "text": "Skip"},
        "blocks": [_section(f"Skip *{escape(cut(title, 200))}*"), block],
    }
