"""`python -m pulse.cli`: the same as the `pulse` command."""

from __future__ import annotations

import sys

from pulse.cli import main

sys.exit(main())
