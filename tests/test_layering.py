"""The architecture holds: listeners → services → clients/store → models, each library has one home, and the
bot never reaches into its own sandbox (the demo console, the simulators, the loopback server)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parent.parent / "bot"
# The command line may start the sandbox (`recording-bot console`); nothing else of the bot may import it.
ENTRY_POINT = BOT / "cli" / "main.py"


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


def test_the_listeners_import_no_circle() -> None:
    def local_imports(path: Path) -> set[str]:
        return {name for name in _imports(path) if name.startswith("bot.listeners.")}

    graph = {f"bot.listeners.{p.stem}": local_imports(p) for p in _modules("listeners") if p.stem != "__init__"}
    for module, imported in graph.items():
        for other in imported:
            assert module not in graph.get(other, set()), f"{module} and {other} import each other"
