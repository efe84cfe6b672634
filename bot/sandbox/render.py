"""Block Kit as terminal text, for the console and the demo.

Owns the text rendering of messages (mentions as @name and #channel, Slack's `<!date^…>` tokens
as a Slack client shows them, in UTC) and the list of interactive choices (buttons and select
options) a message offers, numbered so a person can pick one. It never sends anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

_MENTION = re.compile(r"<([@#!])([^>|]+)(?:\|([^>]*))?>")
_TOKEN = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Choice:
    """Something clickable: a button, or a select menu with its options (value, label)."""

    label: str
    action_id: str
    block_id: str
    value: str
    kind: str  # "button" | "static_select"
    url: str | None = None
    options: tuple[tuple[str, str], ...] = ()


def plain(
    text: str, names: dict[str, str] | None = None, *, now: datetime | None = None
) -> str:
    """mrkdwn to readable text: mentions become @name / #channel, dates are formatted, escapes undone."""
    names = names or {}

    def mention(match: re.Match[str]) -> str:
        sigil, ref, label = match.groups()
        if sigil == "!" and ref.startswith("date^"):
            return slack_date(ref, now=now) or label or ref
        shown = label or names.get(ref, ref)
        return f"{'@' if sigil == '@' else '#' if sigil == '#' else '@'}{shown}"

    text = _MENTION.sub(mention, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def slack_date(ref: str, *, now: datetime | None = None) -> str | None:
    """`date^<epoch>^<tokens>[^<link>]` as a Slack client shows it, in UTC; None when malformed.

    Tokens are Slack's (`{date_num}`, `{date}`, `{date_short}`, `{date_long}`, their `_pretty`
    forms, `{time}`, `{time_secs}`, `{ago}`); an unknown token is left as written.
    """
    parts = ref.split("^")
    if len(parts) < 3 or not parts[1].lstrip("-").isdigit():
        return None
    moment = datetime.fromtimestamp(int(parts[1]), UTC)
    now = now or datetime.now(UTC)
    day = moment.day
    suffix = (
        "th"
        if 10 <= day % 100 <= 20
        else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    )
    dates = {
        "date_num": f"{moment:%Y-%m-%d}",
        "date": f"{moment:%B} {day}{suffix}, {moment:%Y}",
        "date_short": f"{moment:%b} {day}, {moment:%Y}",
        "date_long": f"{moment:%A, %B} {day}{suffix}, {moment:%Y}",
    }
    relative = {
        now.date(): "today",
        (now - timedelta(days=1)).date(): "yesterday",
        (now + timedelta(days=1)).date(): "tomorrow",
    }.get(moment.date())
    values = {
        **dates,
        **{f"{key}_pretty": relative or value for key, value in dates.items()},
        "time": f"{moment:%H:%M} UTC",
        "time_secs": f"{moment:%H:%M:%S} UTC",
        "ago": _ago(moment, now),
    }
    return _TOKEN.sub(lambda m: values.get(m.group(1), m.group(0)), parts[2])


def _ago(moment: datetime, now: datetime) -> str:
    seconds = int((now - moment).total_seconds())
    future, seconds = seconds < 0, abs(seconds)
    if seconds < 60:
        return "in a few seconds" if future else "a few seconds ago"
    count, unit = next(
        (seconds // size, unit)
        for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60))
        if seconds >= size
    )
    amount = f"{count} {unit}{'' if count == 1 else 's'}"
    return f"in {amount}" if future else f"{amount} ago"


def _text(obj: Any) -> str:
    return str(obj.get("text", "")) if isinstance(obj, dict) else ""


def render_blocks(
    blocks: list[dict[str, Any]], names: dict[str, str] | None = None
) -> tuple[list[str], list[Choice]]:
    """Return the lines to print and the choices the blocks offer."""
    lines: list[str] = []
    choices: list[Choice] = []
    for block in blocks:
        kind, block_id = block.get("type"), str(block.get("block_id", ""))
        if kind == "header":
            lines.append(f"== {plain(_text(block.get('text')), names)} ==")
        elif kind == "section":
            if block.get("text"):
                lines.extend(plain(_text(block["text"]), names).splitlines())
            for field in block.get("fields", []):
                lines.append(
                    "  "
                    + plain(_text(field), names)
                    .replace("\n", ": ", 1)
                    .replace("\n", ", ")
                )
        elif kind == "context":
            lines.append(
                "  ("
                + " · ".join(plain(_text(e), names) for e in block.get("elements", []))
                + ")"
            )
        elif kind == "divider":
            lines.append("-" * 40)
        elif kind == "actions":
            for element in block.get("elements", []):
                choices.extend(_choices(element, block_id))
    return lines, choices


def _choices(element: dict[str, Any], block_id: str) -> list[Choice]:
    action_id = str(element.get("action_id", ""))
    if element.get("type") == "button":
        return [
            Choice(
                _text(element.get("text")),
                action_id,
                block_id,
                str(element.get("value", "")),
                "button",
                element.get("url"),
            )
        ]
    if element.get("type") == "static_select":
        options = tuple(
            (str(o.get("value", "")), _text(o.get("text")))
            for o in element.get("options", [])
        )
        label = (
            f"{_text(element.get('placeholder')) or 'Choose'} ({len(options)} options)"
        )
        return [Choice(label, action_id, block_id, "", "static_select", None, options)]
    return []


def render_message(
    author: str,
    text: str,
    blocks: list[dict[str, Any]],
    names: dict[str, str] | None = None,
) -> tuple[str, list[Choice]]:
    """A whole message as text (blocks when present, else its text) and its choices."""
    lines, choices = render_blocks(blocks, names) if blocks else ([], [])
    # No blocks, or only blocks without a text rendering (rich_text): show the text.
    if not lines:
        lines = plain(text, names).splitlines()
    body = "\n".join(f"    {line}" for line in lines)
    return f"  {author}:\n{body}", choices
