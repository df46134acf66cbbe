"""Imported by the HTTP front before gunicorn: two standard-library modules that gunicorn imports but the
front's master never uses are loaded on their first use instead of at import.

- `importlib.metadata` (about 2.2 MB): gunicorn.util imports it for `egg:` entry points, which the front
  never names.
- `email.utils` (about 2 MB): gunicorn formats each response's `Date` header with it, so the worker loads it
  on its first response; the master, which only watches the worker, never does.

Every megabyte of the front counts twice against the 120 MB that the bot's three processes may hold (the
worker is forked from the master). Nothing else changes: the first attribute asked of such a module loads
it, in full, into the same module object. (`importlib.util.LazyLoader` cannot do this on Python 3.11: the
import system reads the module's `__spec__`, which loads a LazyLoader module at the next `import` of it.)
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import types
from typing import Any

DEFERRED = ("importlib.metadata", "email.utils")

_loading = threading.RLock()


class _LoadedOnFirstUse(types.ModuleType):
    """A module whose code has not run yet. Its name, spec and loader are there (the import system needs
    only those); asking for anything else runs the module's code, once, and the module becomes plain."""

    def __getattr__(self, attribute: str) -> Any:
        _run(self)
        return getattr(self, attribute)


def _run(module: types.ModuleType) -> None:
    with _loading:
        if type(module) is _LoadedOnFirstUse:
            spec = module.__spec__
            assert spec is not None and spec.loader is not None
            # Plain first: the module's own code asks it for its submodules as it runs.
            object.__setattr__(module, "__class__", types.ModuleType)
            spec.loader.exec_module(module)


def load(name: str) -> None:
    """Load a deferred module now (the worker does, before its threads serve: see `email.utils` above)."""
    module = sys.modules.get(name)
    if module is not None:
        _run(module)


def defer(names: tuple[str, ...] = DEFERRED) -> None:
    for name in names:
        if name in sys.modules:
            continue  # already loaded by whatever came first: nothing to save
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        module.__class__ = _LoadedOnFirstUse
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        setattr(sys.modules[parent], child, module)


defer()
