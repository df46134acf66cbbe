"""A pytest plugin, loaded before any test module or the bot (pyproject's `-p`): the suite keeps the bytecode
of what it imports, whatever the machine's PYTHONDONTWRITEBYTECODE says. Otherwise each xdist worker, and
each bot process a test starts, compiles the bot from source and rewrites every test module's asserts again:
about a minute of CPU in a run from a fresh clone.

In a fresh clone there is no bytecode yet, and the five workers would each make it at once (about 4 s of CPU
each on two cores). The run's first process makes it once instead, before the workers start: the bot's
modules with `compileall` in a process beside it, the test modules' rewritten asserts itself, through
pytest's own rewriting (private functions: if a pytest release moves them, the workers make their own again,
as before, and the run is only slower)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

_ROOT = Path(__file__).resolve().parents[2]


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER") or not getattr(config.option, "numprocesses", None):
        return  # a worker, or a run without workers: each module is made once anyway
    compiling = subprocess.Popen(
        [sys.executable, "-m", "compileall", "-q", str(_ROOT / "bot"), str(_ROOT / "tests" / "support")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _rewrite_test_modules(config, sorted((_ROOT / "tests").glob("test_*.py")))
    finally:
        compiling.wait()


def _rewrite_test_modules(config: pytest.Config, modules: list[Path]) -> None:
    try:
        from _pytest.assertion import rewrite
        from _pytest.assertion.rewrite import assertstate_key

        state = config.stash[assertstate_key]
        for module in modules:
            cache = rewrite.get_cache_dir(module)
            pyc = cache / (module.name[:-3] + rewrite.PYC_TAIL)
            if rewrite._read_pyc(module, pyc) is not None:
                continue  # made by an earlier run, and its source has not changed since
            source_hash, code = rewrite._rewrite_test(module, config)
            cache.mkdir(exist_ok=True)
            rewrite._write_pyc(state, code, source_hash, pyc)
    except (ImportError, AttributeError, KeyError, TypeError, OSError):
        return  # see the module's docstring: the workers rewrite for themselves
