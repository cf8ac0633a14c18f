"""`python -m scheduler [--config FILE] [--log-level L]` = `lianxin scheduler` (its own process)."""
from __future__ import annotations

import sys

from bot.cli.main import main

if __name__ == "__main__":
    sys.argv = [sys.argv[0], *sys.argv[1:], "scheduler"]
    main()
