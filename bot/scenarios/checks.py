"""The checks of one scenario file beyond its schema, and `Problem`, one finding of them.

Owns `Linter`: AWS operations, parameters and waiters (via `bot.scenarios.operations`), `read_only` claims,
the rules that demand `destructive: true`, template variables, captures, components and curated
actions. It collects every problem, never just the first, and reads botocore's bundled models only:
it must not create clients, send requests or touch Slack and storage. Reading files and the command
line are `bot.scenarios.lint`'s.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from botocore.model import OperationModel
from pydantic import ValidationError

from bot.errors import UsageError
from bot.scenarios.actions import CATALOGUE
from bot.scenarios.calls import Call
from bot.scenarios.inputs import BUILTIN_PATTERNS, InputType, validate_input
from bot.scenarios.operations import (
    check_params,
    destructive_reason,
    is_read_only,
    operation_model,
    operations,
    service_model,
    waiters,
)
from bot.scenarios.schema import ActionStep, AwsStep, Scenario
from bot.scenarios.source import Document
from bot.scenarios.templating import (
    CLOCK_FIELDS,
    INCIDENT_FIELDS,
    TEMPLATE,
    check_expression,
    variables,
)


@dataclass(frozen=True)
class Problem:
    """One lint finding; `step` and `field` are "" when the problem is about the whole file."""

    file: str
    step: str
    field: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.step or '-'}: {self.field or '-'}: {self.message}"


class Linter:
    def __init__(self, doc: Document, components: Collection[str]) -> None:
        self.doc, self.components = doc, components
        self.problems: list[Problem] = []

    def add(self, step: str, field: str, message: str, occurrence: int = 0) -> None:
        base = self.doc.step_path(step, occurrence) if step else ()
        parts: tuple[str | int, ...] = tuple(
            int(p) if p.isdigit() else p for p in field.split(".") if p
        )
        line = self.doc.line_of((*(base or ()), *parts)) if base is not None else None
        self.problems.append(Problem(str(self.doc.path), step, field, message, line))

    def run(self, own: Scenario, resolved: Scenario) -> list[Problem]:
        for i, component in enumerate(own.components):
            if component not in self.components:
                self.add(
                    "",
                    f"components.{i}",
                    f"unknown component {component!r}; known: {', '.join(sorted(self.components))}",
                )
        self._unique("", "phases", [p.id for p in resolved.phases], "phase id")
        self._unique("", "inputs", [i.name for i in resolved.inputs], "input name")
        seen: dict[str, int] = {}
        for _, step in resolved.steps():
            if step.id in seen:
                message = f"duplicate step id {step.id!r}"
                self.add(step.id, "id", message, occurrence=seen[step.id])
            seen[step.id] = seen.get(step.id, 0) + 1
        captures = {s.id: _outputs(s) for _, s in resolved.steps()}
        self._inputs(own, captures)
        known = {f"inputs.{i.name}" for i in resolved.inputs}
        known |= {f"incident.{f}" for f in INCIDENT_FIELDS} | {
            f"clock.{f}" for f in CLOCK_FIELDS
        }
        for _, step in own.steps():
            mine = {f"steps.{step.id}.{name}" for name in captures[step.id]}
            if isinstance(step, AwsStep):
                self._aws(step, known, known | mine)
            elif isinstance(step, ActionStep):
                self._action(step, known, known | mine)
            known |= mine
        return self.problems

    def _unique(self, step: str, field: str, values: list[str], what: str) -> None:
        for value in {v for v in values if values.count(v) > 1}:
            self.add(step, field, f"duplicate {what} {value!r}")

    def _inputs(self, scenario: Scenario, captures: dict[str, set[str]]) -> None:
        for i, item in enumerate(scenario.inputs):
            where = f"inputs.{i}"
            if item.pattern is not None:
                try:
                    re.compile(item.pattern)
                except re.error as exc:
                    self.add("", f"{where}.pattern", f"invalid regex: {exc}")
                    continue
            if item.default_from:
                _, step_id, name = item.default_from.split(".")
                if name not in captures.get(step_id, set()):
                    self.add(
                        "",
                        f"{where}.default_from",
                        f"{item.default_from} names no step capture",
                    )
            if item.default is not None:
                try:
                    validate_input(item, str(item.default))
                except UsageError as exc:
                    self.add("", f"{where}.default", exc.message)

    def _vars(self, step: str, field: str, value: Any, known: set[str]) -> None:
        for name in sorted(variables(value)):
            if name not in known:
                self.add(
                    step,
                    field,
                    f"template variable {{{{ {name} }}}} is not a declared input, an earlier step's capture, incident.<field> or clock.<name>",
                )

    def _aws(self, step: AwsStep, before: set[str], after: set[str]) -> None:
        op = self._call(step.id, "", step.service, step.operation, step.params)
        self._vars(step.id, "region", step.region, before)
        region_pattern, shape = BUILTIN_PATTERNS[InputType.REGION]
        if not TEMPLATE.search(step.region) and not re.fullmatch(
            region_pattern, step.region
        ):
            self.add(step.id, "region", f"{step.region!r} is not {shape}")
        self._vars(step.id, "params", step.params, before)
        self._vars(step.id, "assume_role", step.assume_role, before)
        self._vars(step.id, "restore_point", step.restore_point, after)
        for name, expression in step.captures.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                self.add(
                    step.id,
                    f"captures.{name}",
                    "a capture name must be a plain identifier",
                )
            if (error := check_expression(expression)) is not None:
                self.add(step.id, f"captures.{name}", f"invalid JMESPath: {error}")
        if op is not None:
            read_only = is_read_only(step.service, op.name, step.params)
            if step.read_only and not read_only:
                self.add(
                    step.id,
                    "read_only",
                    f"{step.service}:{op.name} is not read-only: it changes something or returns secrets or customer data",
                )
            reason = destructive_reason(step.service, op.name, step.params)
            if reason and not step.destructive:
                self.add(
                    step.id,
                    "destructive",
                    f"must be true because {reason}",
                )
        for field, call, value in (
            ("preview", step.preview, "capture"),
            ("verify", step.verify, "query"),
        ):
            if call is not None:
                self._side_call(
                    step,
                    field,
                    call,
                    getattr(call, value),
                    before if field == "preview" else after,
                )
        for n, guard in enumerate(step.guards):
            self._side_call(step, f"guards[{n}]", guard, guard.query, before)
            self._vars(step.id, f"guards[{n}].expected", guard.expected, before)
        if (
            step.guards
            and op is not None
            and is_read_only(step.service, op.name, step.params)
        ):
            self.add(
                step.id, "guards", "only a step that changes something can have guards"
            )
        if step.preview is not None:
            self._vars(step.id, "preview.proposed", step.preview.proposed, before)
        if step.verify is not None:
            self._vars(step.id, "verify.expected", step.verify.expected, after)
        if step.wait is not None:
            self._wait(step, after)

    def _call(
        self,
        step: str,
        prefix: str,
        service: str,
        operation: str,
        params: dict[str, Any],
    ) -> OperationModel | None:
        if service_model(service) is None:
            self.add(step, f"{prefix}service", f"botocore knows no service {service!r}")
            return None
        op = operation_model(service, operation)
        if op is None:
            close = difflib.get_close_matches(operation, list(operations(service)), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            self.add(
                step,
                f"{prefix}operation",
                f"{service} has no operation {operation!r}{hint}",
            )
            return None
        for field, message in check_params(op.input_shape, params, f"{prefix}params"):
            self.add(step, field, message)
        return op

    def _side_call(
        self, step: AwsStep, field: str, call: Call, expression: str, known: set[str]
    ) -> None:
        service = call.service or step.service
        op = self._call(step.id, f"{field}.", service, call.operation, call.params)
        if op is not None and not is_read_only(service, op.name, call.params):
            self.add(
                step.id,
                f"{field}.operation",
                f"a {field} call must be read-only; {service}:{op.name} is not",
            )
        if (error := check_expression(expression)) is not None:
            self.add(step.id, field, f"invalid JMESPath: {error}")
        self._vars(step.id, f"{field}.params", call.params, known)

    def _wait(self, step: AwsStep, known: set[str]) -> None:
        assert step.wait is not None
        known_waiters = waiters(step.service)
        if step.wait.waiter not in known_waiters:
            self.add(
                step.id,
                "wait.waiter",
                f"{step.service} has no waiter {step.wait.waiter!r}; known: {', '.join(sorted(known_waiters)) or 'none'}",
            )
        else:
            model = service_model(step.service)
            assert model is not None
            shape = model.operation_model(known_waiters[step.wait.waiter]).input_shape
            for field, message in check_params(shape, step.wait.params, "wait.params"):
                self.add(step.id, field, message)
        self._vars(step.id, "wait.params", step.wait.params, known)

    def _action(self, step: ActionStep, before: set[str], after: set[str]) -> None:
        self._vars(step.id, "params", step.params, before)
        self._vars(step.id, "restore_point", step.restore_point, after)
        spec = CATALOGUE.get(step.action)
        if spec is None:
            self.add(
                step.id,
                "action",
                f"unknown curated action {step.action!r}; known: {', '.join(sorted(CATALOGUE))}",
            )
            return
        if step.destructive is not spec.destructive:
            self.add(
                step.id,
                "destructive",
                f"must be {str(spec.destructive).lower()}, as in the catalogue entry {spec.name}",
            )
        try:
            spec.inputs.model_validate(step.params)
        except ValidationError as exc:
            for error in exc.errors():
                key = str(error["loc"][0]) if error["loc"] else ""
                if not TEMPLATE.search(str(step.params.get(key, ""))):
                    message = (
                        "unknown parameter"
                        if error["type"] == "extra_forbidden"
                        else error["msg"]
                    )
                    self.add(
                        step.id, f"params.{key}", f"{message} (action {spec.name})"
                    )


def _outputs(step: Any) -> set[str]:
    if isinstance(step, AwsStep):
        return set(step.captures)
    if isinstance(step, ActionStep) and step.action in CATALOGUE:
        return set(CATALOGUE[step.action].outputs)
    return set()
