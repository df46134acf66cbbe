"""The architecture holds: listeners → services → clients/store → models, each library has one home, and the
bot never reaches into its own sandbox (the demo console, the simulators, the loopback server)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parent.parent / "bot"
# The command line may start the sandbox (`recording-bot console`); nothing else of the bot may import it.
ENTRY_POINT = BOT / "cli" / "serve.py"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            # `from bot import listeners` names a module too.
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _modules(package: str) -> list[Path]:
    return sorted((BOT / package).rglob("*.py"))


def _offenders(paths: list[Path], forbidden: tuple[str, ...], *, allowed: tuple[str, ...] = ()) -> list[str]:
    return [
        f"{path.relative_to(BOT)} imports {name}"
        for path in paths
        for name in _imports(path)
        if name.startswith(forbidden) and not name.startswith(allowed)
    ]


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        (
            "services",
            ("slack_bolt", "slack_sdk", "httpx", "sqlite_utils", "bot.listeners", "bot.app", "bot.blocks"),
        ),
        ("clients", ("slack_bolt", "slack_sdk", "sqlite_utils", "bot.services", "bot.listeners", "bot.store")),
        ("store", ("slack_bolt", "slack_sdk", "httpx", "bot.services", "bot.listeners", "bot.clients", "bot.blocks")),
        (
            "blocks",
            (
                "slack_bolt",
                "slack_sdk",
                "httpx",
                "sqlite_utils",
                "bot.listeners",
                "bot.services",
                "bot.store",
                "bot.clients",
            ),
        ),
        ("models", ("bot.",)),
    ],
)
def test_dependencies_point_inward(package: str, forbidden: tuple[str, ...]) -> None:
    # Models may import each other, and nothing else of the bot.
    assert _offenders(_modules(package), forbidden, allowed=("bot.models",)) == []


def test_the_core_never_imports_the_sandbox() -> None:
    core = [p for p in BOT.rglob("*.py") if "sandbox" not in p.relative_to(BOT).parts and p != ENTRY_POINT]
    assert core, "no core modules found"
    assert _offenders(core, ("bot.sandbox",)) == []


def test_no_test_constant_ships_in_the_package() -> None:
    shipped = "\n".join(p.read_text() for p in BOT.rglob("*.py"))
    for constant in ("T0TEST", "C0OPS", "U0ADMIN", "U0LEAD", "SECRET-"):
        assert constant not in shipped, constant


def test_only_store_imports_sqlite_utils() -> None:
    users = [p for p in BOT.rglob("*.py") if "sqlite_utils" in _imports(p)]
    assert all(p.parent.name == "store" for p in users), users


# Every module of the bot belongs to one room, and a room may import only rooms of a lower rank (and itself).
# Two rooms of one rank (services and blocks; clients, store and commands) never import each other.
RANKS: dict[str, int] = {
    "__main__": 10,
    "cli": 9,
    "sandbox": 8,
    "app": 7,
    "listeners": 6,
    "serving": 5,
    "services": 4,
    "blocks": 4,
    "chart": 4,  # the digest's chart: a child process draws it (chart/draw.py), chart/__init__.py starts it
    "clients": 3,
    "store": 3,
    "commands": 3,
    "models": 2,
    "config": 1,
    "clock": 0,
    "logs": 1,
    "redaction": 0,
    "words": 0,
    "action_ids": 0,
    "bot": 0,  # bot/__init__.py: the version
    "metrics": 1,  # bot/metrics/: every metric's definition, and the /metrics page
}


def _name(path: Path) -> str:
    parts = path.relative_to(BOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "bot"


def _bot_modules() -> dict[str, Path]:
    return {_name(path): path for path in sorted(BOT.rglob("*.py"))}


def test_every_module_of_the_bot_is_in_a_ranked_room() -> None:
    unranked = sorted(name for name in _bot_modules() if _room(name) not in RANKS)
    assert unranked == [], f"give these rooms a rank in RANKS: {unranked}"


def test_no_import_points_back_up_or_across_a_layer() -> None:
    modules = _bot_modules()
    wrong = []
    for name, path in modules.items():
        room = _room(name)
        for imported in _imports(path):
            if not (imported == "bot" or imported.startswith("bot.")) or imported not in modules:
                continue  # a library, or `from bot.x import function` (the module itself is listed too)
            other = _room(imported)
            if other != room and RANKS.get(other, 99) >= RANKS.get(room, -1):
                wrong.append(f"{name} ({room}, {RANKS.get(room)}) imports {imported} ({other}, {RANKS.get(other)})")
    assert wrong == []


def test_no_module_imports_itself_back_through_others() -> None:
    modules = _bot_modules()
    graph = {name: {i for i in _imports(path) if i in modules and i != name} for name, path in modules.items()}
    # Imports made inside functions (to start the sandbox or a subcommand lazily) are still imports here.
    state: dict[str, int] = {}
    circles: list[str] = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for other in sorted(graph[module]):
            if other.startswith(module + ".") or module.startswith(other + "."):
                continue  # a package and its own modules (`__init__` re-exports)
            if state.get(other) == 1:
                circles.append(" → ".join([*trail[trail.index(other) :], other]) if other in trail else other)
            elif other not in state:
                visit(other, [*trail, other])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []


def test_only_metrics_imports_prometheus_client_and_the_http_front_never_loads_it() -> None:
    users = [p for p in BOT.rglob("*.py") if any(n.startswith("prometheus_client") for n in _imports(p))]
    assert users and all(p.parent.name == "metrics" for p in users), users
    # The front (both of its processes) counts in bot/metrics/tally.py: 1.6 MB less in each, of a 120 MB budget.
    modules = _bot_modules()
    loaded, waiting = set(), ["bot.serving.front"]
    while waiting:
        name = waiting.pop()
        if name in loaded:
            continue
        loaded.add(name)
        parts = name.split(".")
        packages = {".".join(parts[:i]) for i in range(2, len(parts))}  # a module's packages run first
        waiting += [i for i in _imports(modules[name]) | packages if i in modules and i not in loaded]
    assert "bot.metrics.tally" in loaded
    assert not [n for n in loaded if any(i.startswith("prometheus_client") for i in _imports(modules[n]))]


def test_only_the_chart_child_imports_matplotlib() -> None:
    # matplotlib costs the serving processes memory they do not have: it is loaded in a child process only.
    users = sorted(str(p.relative_to(BOT)) for p in BOT.rglob("*.py") if any(
        name.startswith("matplotlib") for name in _imports(p)
    ))  # fmt: skip
    assert users == ["chart/draw.py"]
    importers = sorted(str(p.relative_to(BOT)) for p in BOT.rglob("*.py") if "bot.chart.draw" in _imports(p))
    assert importers == []


def test_the_serving_processes_load_neither_matplotlib_nor_numpy_nor_cryptography_unless_installable() -> None:
    """numpy (matplotlib's, for the digest's chart child) would cost each serving process ~12 MB: sqlite_utils
    imported it whenever it is installed, and the store no longer loads sqlite_utils (SQLite's own catalogue
    says which tables exist); cryptography (~7 MB) is loaded by the token cipher of installable mode only."""
    import subprocess
    import sys

    probe = (
        "import sys, bot.app, bot.cli.main, bot.serving.front, bot.store.sqlite\n"
        "print(sorted(m for m in ('numpy', 'matplotlib', 'cryptography') if m in sys.modules))\n"
        "import numpy\n"  # and numpy still imports for whoever needs it
        "print('numpy', bool(numpy.__version__))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split("\n")[:2] == ["[]", "numpy True"], done.stdout + done.stderr


# What each serving process keeps out (README "Performance": every MB counts against the 120 MB of all three).
_KEPT_OUT = {
    # The bot's process: sqlite_utils and what it brings (click, pluggy, dateutil), and httpx's command-line
    # client (click, rich, pygments), which httpx's package imports whenever they are installed.
    "bot.app, bot.cli.main": ("sqlite_utils", "click", "pluggy", "dateutil", "pygments", "rich", "httpx._main"),
    # The HTTP front (its gunicorn master, and the app its worker loads once forked): no Bolt, no Slack SDK, no
    # pydantic, no database but the inbox file's writer (test_serving.py), no HTTP client, no prometheus_client
    # (it counts in plain Python, bot/metrics/tally.py).
    "bot.serving.front, bot.serving.front_app": (
        "slack_bolt", "slack_sdk", "pydantic", "pydantic_settings", "psycopg", "httpx", "prometheus_client",
        "cachetools", "bot.app", "bot.services", "bot.store.sqlite", "bot.store.postgres", "bot.listeners",
    ),
}  # fmt: skip


@pytest.mark.parametrize("modules", sorted(_KEPT_OUT))
def test_a_fresh_serving_process_loads_none_of_what_it_keeps_out(modules: str) -> None:
    import subprocess
    import sys

    kept_out = _KEPT_OUT[modules]
    probe = f"import sys, {modules}\nprint(sorted(m for m in {kept_out!r} if sys.modules.get(m) is not None))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_httpx_still_works_without_its_command_line_client() -> None:
    import subprocess
    import sys

    probe = "import bot, httpx\nprint(httpx.Client().__class__.__name__, callable(httpx.main))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "Client True", done.stdout + done.stderr


def test_the_front_s_gunicorn_master_holds_neither_the_edge_nor_the_link() -> None:
    """The master only watches its worker; the worker builds the app after the fork (bot/serving/front.py)."""
    import subprocess
    import sys

    app_parts = ("bot.serving.front_app", "bot.serving.edge", "bot.serving.link", "multiprocessing.connection")
    probe = f"import sys, bot.serving.front\nprint(sorted(m for m in {app_parts!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_the_front_loads_what_gunicorn_imports_but_never_uses_only_when_used() -> None:
    """bot/serving/lazy_imports.py: importlib.metadata and email.utils run no code in the front until asked
    (about 4 MB of its two processes), and work in full when they are."""
    import subprocess
    import sys

    probe = (
        "import sys, bot.serving.front, bot.serving.front_app\n"
        "parts = ('importlib.metadata._meta', 'email._parseaddr')\n"
        "print(sorted(m for m in parts if m in sys.modules))\n"
        "import gunicorn.util\nprint(gunicorn.util.http_date(0))\n"
        "from importlib.metadata import version\nprint(version('gunicorn') == gunicorn.__version__)\n"
        "print(sorted(m for m in parts if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split("\n")[:4] == [
        "[]", "Thu, 01 Jan 1970 00:00:00 GMT", "True", "['email._parseaddr', 'importlib.metadata._meta']",
    ], done.stdout + done.stderr  # fmt: skip
