"""`warroom scenarios lint`: check scenario files against the schema, botocore's service models and the rules.

Owns reading the files (every shipped one by default), turning load errors into problems, and the
command line; the checks themselves are `bot.scenarios.checks.Linter`'s. All problems in all files
are collected, never just the first. `is_read_only` is re-exported from `bot.scenarios.operations`.
"""

from __future__ import annotations

import argparse
from collections.abc import Collection, Sequence
from pathlib import Path

from bot.plan import COMPONENT_IDS
from bot.scenarios.checks import Linter, Problem
from bot.scenarios.operations import is_read_only
from bot.scenarios.schema import (
    ScenarioFileError,
    load_scenario,
    parse_document,
    read_document,
    shipped_directory,
)

__all__ = ["is_read_only", "lint_file", "lint_files", "main"]


def lint_files(
    paths: Sequence[Path] | None = None, *, components: Collection[str] = COMPONENT_IDS
) -> list[Problem]:
    """Lint scenario files (default: every shipped one) and return every problem found."""
    files = (
        list(paths) if paths is not None else sorted(shipped_directory().glob("*.yaml"))
    )
    problems: list[Problem] = []
    for path in files:
        problems += lint_file(path, components=components)
    return problems


def lint_file(
    path: Path, *, components: Collection[str] = COMPONENT_IDS
) -> list[Problem]:
    """Lint one scenario file."""
    try:
        doc = read_document(path)
        own = parse_document(doc)
        resolved = load_scenario(path)
    except ScenarioFileError as exc:
        return [Problem(i.file, i.step, i.field, i.message, i.line) for i in exc.issues]
    return Linter(doc, components).run(own, resolved)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `warroom scenarios lint [FILE...]`: print each problem, then a summary; 1 if any."""
    parser = argparse.ArgumentParser(
        prog="warroom scenarios lint", description="Check scenario files."
    )
    parser.add_argument(
        "files", nargs="*", type=Path, help="scenario files (default: the shipped ones)"
    )
    args = parser.parse_args(argv)
    files = args.files or sorted(shipped_directory().glob("*.yaml"))
    problems = lint_files(files)
    for problem in problems:
        print(problem)
    if problems:
        bad = len({p.file for p in problems})
        print(f"{len(problems)} problem(s) in {bad} of {len(files)} scenario file(s)")
        return 1
    print(f"{len(files)} scenario file(s) OK")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
