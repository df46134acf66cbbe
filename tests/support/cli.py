"""Running `recording-bot ARGS` (`python -m bot ARGS`) for a test: in a process of its own, or in this one.

A new process costs half a CPU-second of imports before the command runs. Tests about what a command does
run it here instead, through the same `main(argv)` the console script calls, with the environment, working
folder, standard streams and logging set up as a new process would have them and put back afterwards; each
command area keeps at least one test that runs the real process.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from bot.cli.main import main


def run_bot(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    stdin: str = "",
    process: bool = False,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """`recording-bot ARGV` with exactly `env` as its environment, in `cwd`, reading `stdin`; its exit code and
    output. `process=True` starts `python -m bot` as a real process."""
    if process:
        return subprocess.run(
            [sys.executable, "-m", "bot", *argv], env=dict(env), cwd=cwd, input=stdin, capture_output=True,
            text=True, timeout=timeout,
        )  # fmt: skip
    out, err = io.StringIO(), io.StringIO()
    with _as_a_new_process(env, cwd, stdin), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = _exit_code(argv)
    return subprocess.CompletedProcess(["recording-bot", *argv], code, out.getvalue(), err.getvalue())


def _exit_code(argv: Sequence[str]) -> int:
    """What the process would exit with: main's result, a SystemExit's code, or 1 after a traceback."""
    try:
        return main(list(argv))
    except SystemExit as done:
        if done.code is None or isinstance(done.code, int):
            return done.code or 0
        print(done.code, file=sys.stderr)
        return 1
    except Exception:
        traceback.print_exc()
        return 1


@contextlib.contextmanager
def _as_a_new_process(env: Mapping[str, str], cwd: Path, stdin: str) -> Iterator[None]:
    environment = dict(os.environ)
    folder = Path.cwd()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    # The command installs its own log handler and sets library loggers' levels (bot/logs.py).
    levels = {name: logger.level for name, logger in _loggers()}
    typed_in = sys.stdin
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.stdin = io.StringIO(stdin)
    try:
        yield
    finally:
        sys.stdin = typed_in
        os.chdir(folder)
        os.environ.clear()
        os.environ.update(environment)
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)
        for name, logger in _loggers():
            logger.setLevel(levels.get(name, logging.NOTSET))


def _loggers() -> Iterator[tuple[str, logging.Logger]]:
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            yield name, logger
