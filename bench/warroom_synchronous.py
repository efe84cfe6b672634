"""`python -m bench.warroom_synchronous MODE`: `warroom run` with its writer connection committing
under `PRAGMA synchronous = MODE` (NORMAL or FULL), so that `python -m bench ingest --synchronous
NORMAL FULL` can measure what FULL costs, both in one run. warroom itself always commits with FULL
(`StorageBase.SYNCHRONOUS`); this measuring tool is the only thing that sets it otherwise.
"""

from __future__ import annotations

import sys

from bot.cli.main import main
from bot.storage.base import StorageBase

MODES = ("NORMAL", "FULL")

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in MODES:
        print(f"usage: python -m bench.warroom_synchronous {{{'|'.join(MODES)}}}")
        sys.exit(2)
    StorageBase.SYNCHRONOUS = sys.argv[1]
    sys.exit(main(["run"]))
