"""sqlite_utils, loaded without numpy.

sqlite_utils imports numpy whenever it is installed (matplotlib brings it, for the digest's chart, which is
drawn in a child process), only to map numpy's number types to column types: this bot never stores one, and
numpy costs every serving process about 15 MB of its 120 MB budget. So numpy is hidden while sqlite_utils
loads (an import of a module set to None fails), and can be imported normally afterwards."""

from __future__ import annotations

import sys

_hide_numpy = "numpy" not in sys.modules
if _hide_numpy:
    sys.modules["numpy"] = None  # type: ignore[assignment]
try:
    import sqlite_utils
finally:
    if _hide_numpy:
        del sys.modules["numpy"]

__all__ = ["sqlite_utils"]
