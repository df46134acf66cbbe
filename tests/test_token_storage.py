"""The SQLite file keeps Webex tokens, its inbox file response_urls: they and their -wal/-shm files are readable
by the bot's user alone."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Config
from bot.models import WebexTokens
from bot.store.webex_tokens import DatabaseWebexTokenStore
from tests.conftest import ServedBot

pytestmark = pytest.mark.engines("sqlite")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that lets everyone read new files, as on many hosts: the bot must not rely on the umask."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_a_new_database_and_its_wal_files_are_owner_only(
    open_umask: None, engine: str, make_config: Callable[..., Config], tmp_path: Path
) -> None:
    database_path = tmp_path / "fresh" / "bot.db"
    database_path.parent.mkdir()
    served = ServedBot(make_config(database_path=database_path)).start()
    try:
        assert served.bot is not None
        DatabaseWebexTokenStore(database=served.bot.database).save(
            WebexTokens(
                access_token="stored-access-token-0001",
                refresh_token="stored-refresh-0001",
                expires_at=datetime.now(UTC) + timedelta(days=14),
            )
        )
        # The inbox file too: it keeps requests' response_urls, secrets for as long as they are valid.
        files = [Path(f"{database_path}{suffix}") for suffix in ("", "-wal", "-shm", "-inbox", "-inbox-wal",
                                                                  "-inbox-shm")]  # fmt: skip
        assert all(path.exists() for path in files)
        assert {path.name: oct(_mode(path)) for path in files} == {path.name: "0o600" for path in files}
    finally:
        served.stop()


def test_an_existing_readable_database_is_tightened_and_the_operator_told(
    open_umask: None, engine: str, make_config: Callable[..., Config], tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    database_path = tmp_path / "old.db"
    sqlite3.connect(database_path).close()
    database_path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="bot.store.sqlite"):
        served = ServedBot(make_config(database_path=database_path)).start()
        served.stop()
    assert _mode(database_path) == 0o600
    warnings = [r.getMessage() for r in caplog.records if r.name == "bot.store.sqlite"]
    assert any(str(database_path) in w and "0644" in w and "0600" in w and "Webex tokens" in w for w in warnings)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bot.store.sqlite"):
        ServedBot(make_config(database_path=database_path)).start().stop()
    assert not [r for r in caplog.records if r.name == "bot.store.sqlite"], "an owner-only file needs no warning"
