"""The digest's chart, drawn in a short-lived child process (`python -m bot.chart.draw`): matplotlib costs
tens of megabytes and a second to import, which the serving processes must never pay (their memory budget),
so it is loaded only there, and gone when the picture is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # `python -m bot.chart.draw` loads this package first: the child needs no pydantic
    from bot.models.digest import ChartSeries

# What the child is given of this process's environment: enough to find Python, the bot and a cache folder for
# matplotlib's fonts; never the secrets the serving process holds.
_CHILD_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV", "MPLCONFIGDIR",
                      "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "SYSTEMROOT")  # fmt: skip
# Drawing takes about a second; a child that takes far longer is stuck, and the digest goes without it.
DRAW_TIMEOUT_SECONDS = 60.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ChartFailed(Exception):
    """The chart was not drawn; the message says why in a few words (for the digest)."""


def draw_chart(series: ChartSeries, *, timeout: float = DRAW_TIMEOUT_SECONDS) -> bytes:
    """The chart as PNG bytes, drawn by a child process; raises ChartFailed."""
    environment = {name: os.environ[name] for name in _CHILD_ENVIRONMENT if name in os.environ}
    environment["MPLBACKEND"] = "Agg"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bot.chart.draw"],
            input=json.dumps(asdict(series)).encode(),
            capture_output=True,
            timeout=timeout,
            env=environment,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ChartFailed(f"drawing took longer than {timeout:g} s") from None
    except OSError as error:
        raise ChartFailed(f"the drawing process did not start ({error.strerror or error})") from None
    if done.returncode != 0:
        last = (done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"])[-1]
        raise ChartFailed(f"the drawing process failed ({last[:200]})")
    if not done.stdout.startswith(PNG_SIGNATURE):
        raise ChartFailed("the drawing process wrote no PNG")
    return done.stdout
