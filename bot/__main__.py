"""`python -m bot` is the `warroom` command."""

import sys

from bot.cli.main import main

sys.exit(main())
