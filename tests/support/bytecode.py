"""A pytest plugin, loaded before any test module or the bot (pyproject's `-p`): the suite keeps the bytecode
of what it imports, whatever the machine's PYTHONDONTWRITEBYTECODE says. Otherwise each xdist worker, and
each bot process a test starts, compiles the bot from source and rewrites every test module's asserts again:
about a minute of CPU in a run from a fresh clone."""

from __future__ import annotations

import os
import sys

sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
