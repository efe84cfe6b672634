"""The README documents every setting and every package, and every subcommand module registers a documented subcommand."""

from __future__ import annotations

import pkgutil
from pathlib import Path

from pydantic import AliasChoices

import handlers.commands as commands
from bot.config import Settings
from handlers.commands._registry import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def env_names() -> list[str]:
    names = []
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.append(
            str(alias.choices[0])
            if isinstance(alias, AliasChoices)
            else f"WARROOM_{name.upper()}"
        )
    return names


def test_every_setting_is_described_and_in_the_readme_table():
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no description"
    missing = [env for env in env_names() if f"| `{env}` |" not in README]
    assert missing == [], f"add these settings to the README table: {missing}"


def test_every_subcommand_module_registers_a_documented_subcommand():
    modules = [
        m.name
        for m in pkgutil.iter_modules(commands.__path__)
        if not m.name.startswith("_")
    ]
    assert commands.discover() == modules
    registered_modules = {
        s.handler.__module__.rsplit(".", 1)[1] for s in REGISTRY.values()
    }
    assert set(modules) <= registered_modules, (
        f"modules registering nothing: {set(modules) - registered_modules}"
    )
    for sub in REGISTRY.values():
        assert sub.summary, sub.name
        assert sub.usage.startswith(sub.name), sub.name
        assert sub.example.startswith(sub.name), sub.name
        assert f"/incident {sub.name}" in README or sub.name in ("help", "declare"), (
            f"README lacks /incident {sub.name}"
        )


def test_the_readme_tree_names_every_package():
    tree = README.split("## How it is built", 1)[1].split("```")[1]
    packages = [
        p.parent.relative_to(ROOT)
        for top in ("bot", "handlers")
        for p in (ROOT / top).rglob("__init__.py")
        if p.parent.name != top
    ]
    missing = [str(p) for p in packages if f" {p.name}/" not in tree]
    assert packages
    assert missing == [], f"add these packages to README's tree: {missing}"
