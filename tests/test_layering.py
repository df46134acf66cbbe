"""The architecture holds: listeners → services → clients/store → models, and each library has one home."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parent.parent / "bot"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def _modules(package: str) -> list[Path]:
    return sorted((BOT / package).rglob("*.py"))


def _offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(BOT)} imports {name}"
        for path in _modules(package)
        for name in _imports(path)
        if name.startswith(forbidden)
    ]


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("services", ("slack_bolt", "slack_sdk", "httpx", "sqlite_utils", "bot.listeners", "bot.app")),
        ("clients", ("slack_bolt", "slack_sdk", "sqlite_utils", "bot.services", "bot.listeners", "bot.store")),
        ("store", ("slack_bolt", "slack_sdk", "httpx", "bot.services", "bot.listeners", "bot.clients")),
        (
            "blocks",
            ("slack_bolt", "slack_sdk", "httpx", "sqlite_utils", "bot.listeners", "bot.services", "bot.store.database"),
        ),
    ],
)
def test_dependencies_point_inward(package: str, forbidden: tuple[str, ...]) -> None:
    assert _offenders(package, forbidden) == []


def test_only_store_imports_sqlite_utils() -> None:
    users = [p for p in BOT.rglob("*.py") if "sqlite_utils" in _imports(p)]
    assert all(p.parent.name == "store" for p in users), users
