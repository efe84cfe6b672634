"""Block Kit as terminal text, for the console and the demo.

Owns the text rendering of messages and the list of interactive choices (buttons and select options)
a message offers, numbered so a person can pick one. It never sends anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_MENTION = re.compile(r"<([@#!])([^>|]+)(?:\|([^>]*))?>")


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


def plain(text: str, names: dict[str, str] | None = None) -> str:
    """mrkdwn to readable text: mentions become @name / #channel, escapes are undone."""
    names = names or {}

    def mention(match: re.Match[str]) -> str:
        sigil, ref, label = match.groups()
        if sigil == "!" and ref.startswith("date^"):
            return label or ref
        shown = label or names.get(ref, ref)
        return f"{'@' if sigil == '@' else '#' if sigil == '#' else '@'}{shown}"

    text = _MENTION.sub(mention, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


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
