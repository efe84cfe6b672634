"""Reading scenario YAML with line numbers, and turning schema errors into file/line/step/field issues.

Owns `Document` (parsed data plus the line of every key), `Issue` and `ScenarioFileError`. It knows
the shape of a scenario file only as far as "phases[i].steps[j]" to name a step; it must not validate
anything itself, nor talk to AWS, Slack or storage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ScenarioError


@dataclass(frozen=True)
class Issue:
    """One thing wrong with a scenario file; `step` is "" when no step is involved."""

    file: str
    line: int | None
    step: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.step or '-'}: {self.field or '-'}: {self.message}"


class ScenarioFileError(ScenarioError):
    """A scenario file failed to load; `issues` lists every problem with file, line, step and field."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("\n".join(str(issue) for issue in issues))
        self.issues = issues


@dataclass
class Document:
    """A parsed YAML file with the line of every mapping key, by path (e.g. ("phases", 0, "id"))."""

    path: Path
    data: Any
    lines: dict[tuple[str | int, ...], int] = field(default_factory=dict)

    def step_path(
        self, step_id: str, occurrence: int = 0
    ) -> tuple[str | int, ...] | None:
        """Return the path of the step with this id in the raw data (the n-th one), if any."""
        found = [
            ("phases", i, "steps", j)
            for i, phase in enumerate(_as_list(_get(self.data, "phases")))
            for j, step in enumerate(_as_list(_get(phase, "steps")))
            if _get(step, "id") == step_id
        ]
        return found[occurrence] if occurrence < len(found) else None

    def line_of(self, path: tuple[str | int, ...]) -> int | None:
        """Return the line of the deepest known key on this path."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None


def read_document(path: Path) -> Document:
    """Parse a YAML file, recording key lines; a syntax error becomes a ScenarioFileError."""
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioFileError(
            [Issue(str(path), line, "", "", f"YAML syntax error: {problem}")]
        ) from None
    doc = Document(path, data)
    if node is not None:
        _record_lines(node, (), doc.lines)
    return doc


def _record_lines(
    node: yaml.Node,
    path: tuple[str | int, ...],
    lines: dict[tuple[str | int, ...], int],
) -> None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, str(key.value))
            lines[child] = key.start_mark.line + 1
            _record_lines(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            _record_lines(item, (*path, i), lines)


def _get(data: Any, key: str) -> Any:
    return data.get(key) if isinstance(data, dict) else None


def _as_list(data: Any) -> list[Any]:
    return data if isinstance(data, list) else []


def issue_from_error(doc: Document, error: Any) -> Issue:
    """Turn a pydantic error into an Issue, naming the step id and the field inside it."""
    data: Any = doc.data
    path: list[str | int] = []
    for part in error["loc"]:
        if (isinstance(data, dict) and part in data) or (
            isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        ):
            data = data[part]
        elif isinstance(data, dict) and data.get("kind") == part:
            continue  # the discriminator tag pydantic adds to a union member's location
        else:
            data = None
        path.append(part)
    if str(error["type"]).startswith("union_tag"):
        path.append("kind")  # pydantic names the step; the wrong value is its `kind`
    step, rest = "", [str(p) for p in path]
    if len(path) >= 4 and path[0] == "phases" and path[2] == "steps":
        raw = doc.data["phases"][path[1]]["steps"][path[3]]
        step = str(_get(raw, "id") or f"phases.{path[1]}.steps.{path[3]}")
        rest = [str(p) for p in path[4:]]
    message = (
        "unknown field (not in the schema)"
        if error["type"] == "extra_forbidden"
        else error["msg"]
    )
    return Issue(str(doc.path), doc.line_of(tuple(path)), step, ".".join(rest), message)
