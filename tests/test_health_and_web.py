"""/healthz reports the database; other paths and methods answer plainly."""

from __future__ import annotations

import os
import stat

import pytest

from tests.conftest import ServedBot
from tests.support import web


def test_healthz_is_200_with_json_when_the_database_is_reachable(served: ServedBot) -> None:
    response = web.get(served.url + "/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] == "ok"


@pytest.mark.engines("sqlite")
def test_healthz_is_503_when_the_database_is_read_only(served: ServedBot) -> None:
    path = served.config.database_path
    if os.geteuid() == 0:
        # root ignores file modes; take the write lock from another connection instead.
        import sqlite3

        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        try:
            response = web.get(served.url + "/healthz", timeout=10)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert response.status_code == 503
        assert "locked" in response.json()["database"]
    else:
        path.chmod(stat.S_IRUSR)
        try:
            response = web.get(served.url + "/healthz", timeout=10)
        finally:
            path.chmod(stat.S_IRUSR | stat.S_IWUSR)
        assert response.status_code == 503
    # And it recovers once the database is usable again.
    assert web.get(served.url + "/healthz").status_code == 200


def test_unknown_path_is_404_and_get_on_events_is_405(served: ServedBot) -> None:
    assert web.get(served.url + "/nope").status_code == 404
    assert web.get(served.url + "/slack/events").status_code == 405
