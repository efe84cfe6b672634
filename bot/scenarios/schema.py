"""Scenario files: the strict schema of a runbook and its loader.

Owns the pydantic models (`extra="forbid"` everywhere) for `scenarios/*.yaml`, the file-level rules
(id equals the file name, what an incident scenario must declare), resolving shared phases
(`include`), and the JSON Schema. The calls around an AWS step live in `bot.scenarios.calls`, inputs
in `bot.scenarios.inputs` and YAML line tracking in `bot.scenarios.source` (the last two re-exported
here). It must not talk to AWS, Slack or storage, and it checks nothing against botocore: that is
`bot.scenarios.checks`' job.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.scenarios.calls import Guard, Preview, Verify, Wait
from bot.scenarios.inputs import BUILTIN_PATTERNS, Input, InputType, validate_input
from bot.scenarios.source import (
    Document,
    Issue,
    ScenarioFileError,
    issue_from_error,
    read_document,
)

__all__ = [
    "BUILTIN_PATTERNS",
    "ActionStep",
    "AnyStep",
    "AwsStep",
    "Document",
    "Input",
    "InputType",
    "Issue",
    "Kind",
    "ManualStep",
    "NotifyStep",
    "PageStep",
    "Phase",
    "Scenario",
    "ScenarioFileError",
    "json_schema",
    "load_all",
    "load_scenario",
    "parse_document",
    "read_document",
    "shipped_directory",
    "validate_input",
    "write_json_schema",
]

Severity = Literal["SEV1", "SEV2", "SEV3", "SEV4"]
_ID = r"^[a-z0-9]+(-[a-z0-9]+)*$"
SCHEMA_FILE = "schema.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Kind(StrEnum):
    """What a file is for: an incident runbook, phases other files include, or routine checks."""

    INCIDENT = "incident"
    SHARED = "shared"
    ROUTINE = "routine"


class _Step(_Strict):
    id: str = Field(pattern=_ID)
    title: str


class AwsStep(_Step):
    """One boto3 call. Read-only calls run on a click; others need approval (two if destructive)."""

    kind: Literal["aws"]
    service: str = Field(pattern=r"^[a-z0-9-]+$")
    operation: str = Field(
        pattern=r"^[a-z0-9_]+$",
        description="boto3 method name, e.g. describe_db_instances",
    )
    region: str = "{{ inputs.region }}"
    params: dict[str, Any] = Field(default_factory=dict)
    destructive: bool = False
    read_only: bool | None = None
    captures: dict[str, str] = Field(
        default_factory=dict, description="name -> JMESPath over the response"
    )
    preview: Preview | None = None
    wait: Wait | None = None
    verify: Verify | None = None
    guards: list[Guard] = Field(default_factory=list, max_length=5)
    assume_role: str | None = None
    restore_point: str | None = Field(
        None, description="Template naming the restore point time, for RPO"
    )
    on_failure: str = ""
    note: str = ""


class ActionStep(_Step):
    """A curated action from `bot.scenarios.actions`, for things one AWS call cannot do safely."""

    kind: Literal["action"]
    action: str
    params: dict[str, Any] = Field(default_factory=dict)
    destructive: bool | None = None
    restore_point: str | None = None
    on_failure: str = ""
    note: str = ""


class ManualStep(_Step):
    """A checklist item; `command` is text to copy and is never executed by the bot."""

    kind: Literal["manual"]
    command: str | None = None
    details: str = ""
    note: str = ""


class PageStep(_Step):
    """Page more responders: an escalation policy, a service or a role."""

    kind: Literal["page"]
    target: str
    message: str


class NotifyStep(_Step):
    """Post one of the plan's notification templates."""

    kind: Literal["notify"]
    template: Literal["initial", "resolution", "status"]


Step = Annotated[
    AwsStep | ActionStep | ManualStep | PageStep | NotifyStep,
    Field(discriminator="kind"),
]


class Phase(_Strict):
    """A stage of the response, e.g. "Immediate response (0-5 minutes)"."""

    id: str = Field(pattern=_ID)
    title: str
    steps: list[Step]


class Scenario(_Strict):
    """One runbook: a scenario of the plan, a shared phase set, or routine checks."""

    id: str = Field(pattern=_ID)
    kind: Kind = Kind.INCIDENT
    title: str
    summary: str = ""
    symptoms: list[str] = Field(default_factory=list)
    default_severity: Severity | None = None
    components: list[str] = Field(default_factory=list)
    private: bool = False
    inputs: list[Input] = Field(default_factory=list)
    phases: list[Phase]
    include: list[str] = Field(default_factory=list)

    def steps(self) -> Iterator[tuple[Phase, AnyStep]]:
        """Yield every (phase, step) in order."""
        for phase in self.phases:
            for step in phase.steps:
                yield phase, step

    def step(self, step_id: str) -> AnyStep:
        """Return the step with this id (KeyError if none)."""
        for _, step in self.steps():
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    def input(self, name: str) -> Input:
        """Return the declared input with this name (KeyError if none)."""
        for item in self.inputs:
            if item.name == name:
                return item
        raise KeyError(name)


AnyStep = AwsStep | ActionStep | ManualStep | PageStep | NotifyStep


def parse_document(doc: Document) -> Scenario:
    """Validate a parsed document against the schema and the file-level rules (no includes)."""
    name = str(doc.path)
    try:
        scenario = Scenario.model_validate(doc.data)
    except ValidationError as exc:
        raise ScenarioFileError(
            [issue_from_error(doc, error) for error in exc.errors()]
        ) from None
    issues: list[Issue] = []
    if scenario.id != doc.path.stem:
        issues.append(
            Issue(
                name,
                doc.line_of(("id",)),
                "",
                "id",
                f"id {scenario.id!r} must equal the file name {doc.path.stem!r}",
            )
        )
    if scenario.kind is Kind.INCIDENT:
        for required in ("default_severity", "symptoms", "components"):
            if not getattr(scenario, required):
                issues.append(
                    Issue(
                        name,
                        None,
                        "",
                        required,
                        f"{required} is required for an incident scenario",
                    )
                )
    if issues:
        raise ScenarioFileError(issues)
    return scenario


def shipped_directory() -> Path:
    """Return the directory of the scenarios shipped with the package."""
    try:
        return Path(str(resources.files("scenarios")))
    except ModuleNotFoundError:
        # An editable install that maps only `bot` and `handlers`: use the source checkout's copy.
        return Path(__file__).resolve().parent.parent / "scenarios"


def load_scenario(path: Path, *, search: tuple[Path, ...] = ()) -> Scenario:
    """Load one scenario file and append the phases (and inputs) of the files it includes."""
    scenario = parse_document(read_document(path))
    if not scenario.include:
        return scenario
    phases, inputs = list(scenario.phases), list(scenario.inputs)
    names = {item.name for item in inputs}
    for i, name in enumerate(scenario.include):
        found = [
            d / f"{name}.yaml"
            for d in (path.parent, *search, shipped_directory())
            if (d / f"{name}.yaml").is_file()
        ]
        if not found:
            raise ScenarioFileError(
                [
                    Issue(
                        str(path),
                        None,
                        "",
                        f"include.{i}",
                        f"no shared file {name}.yaml next to this file",
                    )
                ]
            )
        shared = parse_document(read_document(found[0]))
        if shared.kind is not Kind.SHARED or shared.include:
            raise ScenarioFileError(
                [
                    Issue(
                        str(found[0]),
                        None,
                        "",
                        "kind",
                        "an included file must be `kind: shared` and include nothing",
                    )
                ]
            )
        phases.extend(shared.phases)
        inputs.extend(item for item in shared.inputs if item.name not in names)
    return scenario.model_copy(update={"phases": phases, "inputs": inputs})


def load_all(directory: Path | None = None) -> dict[str, Scenario]:
    """Load every `*.yaml` in the directory (default: the shipped scenarios), keyed by id."""
    root = directory or shipped_directory()
    return {path.stem: load_scenario(path) for path in sorted(root.glob("*.yaml"))}


def json_schema() -> dict[str, Any]:
    """Return the JSON Schema of a scenario file."""
    return Scenario.model_json_schema()


def write_json_schema(path: Path | None = None) -> Path:
    """Write the JSON Schema to `scenarios/schema.json` (or `path`) and return where it went."""
    target = path or shipped_directory() / SCHEMA_FILE
    target.write_text(
        json.dumps(json_schema(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    return target


# `python -m bot.scenarios.schema [PATH]` regenerates schema.json
if __name__ == "__main__":
    print(write_json_schema(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
