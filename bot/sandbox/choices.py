"""The scenarios `warroom demo` and `warroom drill` accept, known before anything starts.

Owns the list of shipped incident scenario ids (for `--help` and for checking a name) and the
message for a name that is not one of them, naming the closest (difflib). It reads only each
scenario file's top-level `kind` with the C YAML parser, a few milliseconds, because the command
line is built on every `warroom` call; the bot loads and validates the files in full when it starts.
It imports nothing of the bot and starts nothing.
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path

import yaml

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _directory() -> Path:
    # As bot.scenarios.schema.shipped_directory, without importing the schema (a fifth of a second).
    try:
        return Path(str(resources.files("scenarios")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "scenarios"


def incident_scenarios(directory: Path | None = None) -> list[str]:
    """Ids of the incident scenarios (not the shared phases or routine checks), sorted."""
    found = []
    for path in sorted((directory or _directory()).glob("*.yaml")):
        try:
            document = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
        except (OSError, yaml.YAMLError):
            continue  # the bot's own loader reports a broken file
        kind = document.get("kind", "incident") if isinstance(document, dict) else None
        if kind == "incident":
            found.append(path.stem)
    return found


def unknown_scenario(name: str, directory: Path | None = None) -> str | None:
    """Why `name` is not an incident scenario (naming the closest one), or None when it is."""
    known = incident_scenarios(directory)
    if name in known:
        return None
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]}?" if close else ""
    return (
        f"No incident scenario {name[:60]!r}.{hint} Choose one of: {', '.join(known)}."
    )
