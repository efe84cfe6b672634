"""Block Kit limits, enforced the way the Slack Web API enforces them.

Owns the limit numbers and the checks for message blocks and views, producing Slack's error string
(`invalid_blocks` for messages, `invalid_arguments` for views, `msg_too_long` for text) with
`response_metadata.messages` that point at the offending field. Must not hold state or render blocks.
"""

from __future__ import annotations

from typing import Any

from bot.sandbox.slack.args import SlackError

MAX_MESSAGE_TEXT = 40_000
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ID_LENGTH = 255
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_OPTIONS = 100
MAX_MODAL_TITLE = 24
MAX_PRIVATE_METADATA = 3000

BLOCK_TYPES = frozenset(
    {
        "section",
        "header",
        "divider",
        "actions",
        "context",
        "input",
        "image",
        "rich_text",
        "file",
        "video",
        "markdown",
        "table",
    }
)


def _too_long(limit: int, pointer: str) -> str:
    return f"[ERROR] must be less than {limit + 1} characters [json-pointer:{pointer}]"


def _text_problems(
    obj: Any, pointer: str, limit: int, *, plain_only: bool = False
) -> list[str]:
    """Check a text object (`{"type": "mrkdwn", "text": ...}`)."""
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        return [f"[ERROR] must provide an object [json-pointer:{pointer}]"]
    kinds = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if obj.get("type") not in kinds:
        return [f"[ERROR] must be one of {list(kinds)} [json-pointer:{pointer}/type]"]
    if not obj["text"]:
        return [f"[ERROR] must be more than 0 characters [json-pointer:{pointer}/text]"]
    return [_too_long(limit, f"{pointer}/text")] if len(obj["text"]) > limit else []


def _element_problems(element: Any, pointer: str) -> list[str]:
    """Check an interactive element (button, select, input ...)."""
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        return [f"[ERROR] must provide an object with a type [json-pointer:{pointer}]"]
    problems: list[str] = []
    if len(str(element.get("action_id", ""))) > MAX_ID_LENGTH:
        problems.append(_too_long(MAX_ID_LENGTH, f"{pointer}/action_id"))
    if element["type"] == "button":
        problems += _text_problems(
            element.get("text"), f"{pointer}/text", MAX_BUTTON_TEXT, plain_only=True
        )
        if len(str(element.get("value", ""))) > MAX_BUTTON_VALUE:
            problems.append(_too_long(MAX_BUTTON_VALUE, f"{pointer}/value"))
    options = element.get("options")
    if isinstance(options, list) and len(options) > MAX_OPTIONS:
        problems.append(
            f"[ERROR] no more than {MAX_OPTIONS} items allowed [json-pointer:{pointer}/options]"
        )
    return problems


def _block_problems(block: Any, pointer: str) -> list[str]:
    """Check one block against its type's limits."""
    if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
        kind = block.get("type") if isinstance(block, dict) else None
        return [f"[ERROR] unsupported type: {kind} [json-pointer:{pointer}/type]"]
    problems: list[str] = []
    if len(str(block.get("block_id", ""))) > MAX_ID_LENGTH:
        problems.append(_too_long(MAX_ID_LENGTH, f"{pointer}/block_id"))
    kind = block["type"]
    if kind == "section":
        problems += _section_problems(block, pointer)
    elif kind == "header":
        problems += _text_problems(
            block.get("text"), f"{pointer}/text", MAX_HEADER_TEXT, plain_only=True
        )
    elif kind in ("actions", "context"):
        limit = MAX_ACTIONS_ELEMENTS if kind == "actions" else MAX_CONTEXT_ELEMENTS
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            return [
                *problems,
                f"[ERROR] must provide an array [json-pointer:{pointer}/elements]",
            ]
        if len(elements) > limit:
            problems.append(
                f"[ERROR] no more than {limit} items allowed [json-pointer:{pointer}/elements]"
            )
        if kind == "actions":
            for index, element in enumerate(elements):
                problems += _element_problems(element, f"{pointer}/elements/{index}")
    elif kind == "input":
        problems += _text_problems(
            block.get("label"), f"{pointer}/label", 2000, plain_only=True
        )
        problems += _element_problems(block.get("element"), f"{pointer}/element")
    return problems


def _section_problems(block: dict[str, Any], pointer: str) -> list[str]:
    if "text" not in block and "fields" not in block:
        return [f"[ERROR] must provide text or fields [json-pointer:{pointer}]"]
    problems: list[str] = []
    if "text" in block:
        problems += _text_problems(block["text"], f"{pointer}/text", MAX_SECTION_TEXT)
    fields = block.get("fields", [])
    if len(fields) > MAX_SECTION_FIELDS:
        problems.append(
            f"[ERROR] no more than {MAX_SECTION_FIELDS} items allowed [json-pointer:{pointer}/fields]"
        )
    for index, item in enumerate(fields):
        problems += _text_problems(item, f"{pointer}/fields/{index}", MAX_FIELD_TEXT)
    if "accessory" in block:
        problems += _element_problems(block["accessory"], f"{pointer}/accessory")
    return problems


def blocks_problems(blocks: Any, *, limit: int, pointer: str = "/blocks") -> list[str]:
    """Return Slack's messages for every broken limit in a list of blocks ([] when valid)."""
    if not isinstance(blocks, list):
        return [f"[ERROR] must provide an array [json-pointer:{pointer}]"]
    if len(blocks) > limit:
        return [f"[ERROR] no more than {limit} items allowed [json-pointer:{pointer}]"]
    problems: list[str] = []
    seen: set[str] = set()
    for index, block in enumerate(blocks):
        problems += _block_problems(block, f"{pointer}/{index}")
        block_id = block.get("block_id") if isinstance(block, dict) else None
        if block_id is not None and block_id in seen:
            problems.append(
                f"[ERROR] duplicate block_id: {block_id} [json-pointer:{pointer}/{index}/block_id]"
            )
        if block_id is not None:
            seen.add(str(block_id))
    return problems


def check_message(text: str | None, blocks: Any) -> None:
    """Enforce chat.postMessage / chat.update limits on `text` and `blocks`."""
    if text is not None and len(text) > MAX_MESSAGE_TEXT:
        raise SlackError("msg_too_long")
    if blocks is not None:
        problems = blocks_problems(blocks, limit=MAX_MESSAGE_BLOCKS)
        if problems:
            raise SlackError("invalid_blocks", messages=problems)


def check_view(view: Any, *, kind: str) -> dict[str, Any]:
    """Enforce views.* limits; `kind` is `modal` or `home`. Return the view as a dict."""
    if not isinstance(view, dict):
        raise SlackError(
            "invalid_arguments",
            messages=["[ERROR] must provide an object [json-pointer:/view]"],
        )
    problems: list[str] = []
    if view.get("type") != kind:
        problems.append(f"[ERROR] must be {kind} [json-pointer:/view/type]")
    if kind == "modal":
        problems += _text_problems(
            view.get("title"), "/view/title", MAX_MODAL_TITLE, plain_only=True
        )
        for button in ("submit", "close"):
            if view.get(button) is not None:
                problems += _text_problems(
                    view[button], f"/view/{button}", MAX_MODAL_TITLE, plain_only=True
                )
    if len(str(view.get("private_metadata", ""))) > MAX_PRIVATE_METADATA:
        problems.append(_too_long(MAX_PRIVATE_METADATA, "/view/private_metadata"))
    for name in ("callback_id", "external_id"):
        if len(str(view.get(name, ""))) > MAX_ID_LENGTH:
            problems.append(_too_long(MAX_ID_LENGTH, f"/view/{name}"))
    problems += blocks_problems(
        view.get("blocks", []), limit=MAX_VIEW_BLOCKS, pointer="/view/blocks"
    )
    if problems:
        raise SlackError("invalid_arguments", messages=problems)
    return view
