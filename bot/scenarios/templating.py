"""`{{ ... }}` substitution in scenario parameters, and JMESPath captures over AWS responses.

Owns the template grammar, which is deliberately not a language: a template names one variable
(`inputs.<name>`, `steps.<step-id>.<capture>`, `incident.<field>` or `clock.<name>`), looked up by
plain dictionary access. There are no filters, expressions, attribute calls or loops, so a scenario
file can never run code. It must not talk to AWS, Slack or storage.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from bot.errors import UsageError

TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_SINGLE = re.compile(r"^\s*\{\{(.*?)\}\}\s*$", re.DOTALL)
_PART = r"[A-Za-z0-9_][A-Za-z0-9_-]*"
_VARIABLE = re.compile(rf"^(inputs|incident|clock)\.{_PART}$|^steps\.{_PART}\.{_PART}$")

INCIDENT_FIELDS = frozenset(
    {
        "id",
        "slug",
        "title",
        "severity",
        "status",
        "channel",
        "commander",
        "declared_at",
        "impact_start",
    }
)
CLOCK_FIELDS = frozenset(
    {"now", "minus_15m", "minus_1h", "minus_24h", "today", "yesterday", "week_ago"}
)


def _name(raw: str) -> str:
    name = raw.strip()
    if not _VARIABLE.fullmatch(name):
        raise UsageError(
            f"{{{{ {name} }}}} is not a template variable: use inputs.<name>, steps.<step-id>.<capture>, incident.<field> or clock.<name>"
        )
    return name


def variables(value: Any) -> set[str]:
    """Return every variable referenced in a value (strings, dicts, lists), as written and stripped."""
    found: set[str] = set()
    if isinstance(value, str):
        found.update(match.strip() for match in TEMPLATE.findall(value))
    elif isinstance(value, Mapping):
        for item in value.values():
            found |= variables(item)
    elif isinstance(value, list | tuple):
        for item in value:
            found |= variables(item)
    return found


def lookup(name: str, context: Mapping[str, Any]) -> Any:
    """Return the value of one variable; an unknown or empty one raises UsageError."""
    current: Any = context
    for part in _name(name).split("."):
        if not isinstance(current, Mapping) or part not in current:
            raise UsageError(_unknown(name.strip()))
        current = current[part]
    if current is None:
        raise UsageError(
            f"Template variable {{{{ {name.strip()} }}}} has no value yet."
        )
    return current


def _unknown(name: str) -> str:
    """Say which value is missing, in words a responder reading a step card understands."""
    scope, rest = name.split(".", 1)
    words = rest.replace("_", " ")
    if scope == "inputs":
        why = f"nothing has been given for the {words} yet"
    elif scope == "steps":
        step, capture = rest.split(".", 1)
        why = f"step {step} has not run yet, or captured no {capture}"
    elif scope == "incident":
        why = f"the incident has no {words}"
    else:
        why = f"the clock has only {', '.join(sorted(CLOCK_FIELDS))}"
    return f"Unknown template variable {{{{ {name} }}}}: {why}."


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """Substitute templates in strings inside dicts and lists; a lone template keeps its value's type."""
    if isinstance(value, str):
        single = _SINGLE.fullmatch(value)
        if single and "{{" not in single.group(1):
            return lookup(single.group(1), context)
        return TEMPLATE.sub(lambda match: _text(match.group(1), context), value)
    if isinstance(value, Mapping):
        return {key: render(item, context) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render(item, context) for item in value]
    return value


def _text(name: str, context: Mapping[str, Any]) -> str:
    value = lookup(name, context)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise UsageError(
        f"{{{{ {name.strip()} }}}} is a {type(value).__name__} and cannot be placed inside text."
    )


def clock(now: datetime) -> dict[str, str]:
    """Return the `clock.*` variables for a moment (UTC ISO times; dates as YYYYMMDD, like `date +%Y%m%d`)."""
    utc = now.astimezone(UTC)

    def iso(moment: datetime) -> str:
        return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")

    return {
        "now": iso(utc),
        "minus_15m": iso(utc - timedelta(minutes=15)),
        "minus_1h": iso(utc - timedelta(hours=1)),
        "minus_24h": iso(utc - timedelta(hours=24)),
        "today": utc.strftime("%Y%m%d"),
        "yesterday": (utc - timedelta(days=1)).strftime("%Y%m%d"),
        "week_ago": (utc - timedelta(days=7)).strftime("%Y%m%d"),
    }


def build_context(
    *,
    inputs: Mapping[str, Any] | None = None,
    steps: Mapping[str, Mapping[str, Any]] | None = None,
    incident: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Assemble the rendering context from input values, step captures, incident fields and the time."""
    return {
        "inputs": dict(inputs or {}),
        "steps": {key: dict(value) for key, value in (steps or {}).items()},
        "incident": dict(incident or {}),
        "clock": clock(now or datetime.now(UTC)),
    }


def check_expression(expression: str) -> str | None:
    """Return why a JMESPath expression does not compile, or None if it does."""
    try:
        jmespath.compile(expression)
    except JMESPathError as exc:
        return str(exc).strip().splitlines()[0]
    return None


def _plain(value: Any) -> Any:
    # The AWS CLI's --query sees timestamps as ISO text; do the same so sort_by and comparisons work.
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def capture(expression: str, response: Any) -> Any:
    """Evaluate a JMESPath expression over an AWS response (timestamps as UTC ISO text)."""
    try:
        return jmespath.search(expression, _plain(response))
    except JMESPathError as exc:
        raise UsageError(f"JMESPath {expression!r} failed: {exc}") from None
