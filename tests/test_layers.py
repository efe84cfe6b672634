"""The layers README draws hold in the imports: handlers → services → gateways and storage, all on
models and scenarios; the sandbox, the CLI and the wiring root sit on top and nothing imports them."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOP = ("bot.app", "bot.web", "bot.cli", "bot.sandbox", "bot.__main__")


def layer(module: str) -> int | None:
    if module.startswith(TOP):
        return 5
    if module.startswith("handlers"):
        return 4
    if module.startswith("bot.services"):
        return 3
    if module.startswith(("bot.gateways", "bot.storage", "bot.migrations")):
        return 2
    if module.startswith("bot"):
        return 1  # models, scenarios, config, errors, redaction, metrics, plan
    return None


def imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return found


def test_imports_go_one_way_down_the_layers():
    upward = []
    for top in ("bot", "handlers"):
        for path in (ROOT / top).rglob("*.py"):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            own = layer(module.removesuffix(".__init__"))
            for target in imports(path):
                theirs = layer(target)
                if own is not None and theirs is not None and theirs > own:
                    upward.append(f"{module} imports {target}")
    assert upward == [], "imports against the layers:\n" + "\n".join(upward)
