"""`python -m bench [name [args ...]]`: run every benchmark script, or the named one with its arguments."""

from __future__ import annotations

import importlib
import sys

SCRIPTS = (
    "ack_latency",
    "ingest",
    "export_verify",
    "startup",
    "kill9",
    "loop_lag",
    "detectors",
    "backup",
    "host_loss",
    "latency",
)


def main(argv: list[str]) -> int:
    if argv and argv[0] not in SCRIPTS:
        print(
            f"unknown benchmark {argv[0]!r}; known: {', '.join(SCRIPTS)}",
            file=sys.stderr,
        )
        return 2
    runs = [(argv[0], argv[1:])] if argv else [(name, []) for name in SCRIPTS]
    status = 0
    for name, args in runs:
        status |= int(importlib.import_module(f"bench.{name}").main(args))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
