"""Every status the front can send has its reason phrase, and a status the bot side did not mean to send
(Bolt answering 500, a status that is no HTTP status) reaches Slack as a clean JSON answer and one log line."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import pytest

from bot.serving.local import LocalServer
from bot.serving.web import build_wsgi_app
from tests.support import web


class _Bot:
    """The bot side of the front, answering whatever status the test sets."""

    def __init__(self) -> None:
        self.status = 200
        self.body = b""

    def slack_events(self, _body: bytes, _headers: dict[str, str]) -> tuple[int, bytes]:
        return self.status, self.body

    def health(self) -> tuple[int, dict[str, Any]]:
        return self.status, {"status": "whatever"}


@pytest.fixture
def bot_side() -> Iterator[tuple[_Bot, str]]:
    bot = _Bot()
    server = LocalServer(build_wsgi_app(bot.slack_events, bot.health)).start()
    yield bot, server.url
    server.stop()


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_server_error_from_the_bot_side_is_a_clean_json_answer_and_one_log_line(
    bot_side: tuple[_Bot, str], caplog: pytest.LogCaptureFixture, status: int
) -> None:
    bot, url = bot_side
    bot.status, bot.body = status, b"<html>Bolt's own error page</html>"
    caplog.clear()
    with caplog.at_level(logging.INFO):
        answer = web.post(url + "/slack/events", content=b"payload=%7B%7D", timeout=5)
    assert answer.status_code == status
    assert answer.reason_phrase == HTTPStatus(status).phrase
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"error": "recording-bot could not handle this request"}
    lines = [r for r in caplog.records if r.name == "bot.serving.web"]
    assert len(lines) == 1 and f"HTTP {status}" in lines[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize("status", [299, 600, 42])
def test_a_status_that_is_no_http_status_becomes_a_500(
    bot_side: tuple[_Bot, str], caplog: pytest.LogCaptureFixture, status: int
) -> None:
    bot, url = bot_side
    bot.status, bot.body = status, b"odd"
    caplog.clear()
    answer = web.post(url + "/slack/events", content=b"x", timeout=5)
    assert answer.status_code == 500 and answer.reason_phrase == "Internal Server Error"
    assert answer.json() == {"error": "recording-bot could not handle this request"}
    lines = [r for r in caplog.records if r.name == "bot.serving.web"]
    assert len(lines) == 1 and f"HTTP {status}" in lines[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info]


@pytest.mark.parametrize("status", [200, 400, 401, 403, 404, 409, 429, 503])
def test_the_bot_side_s_own_statuses_pass_with_their_reason_phrase(bot_side: tuple[_Bot, str], status: int) -> None:
    bot, url = bot_side
    bot.status, bot.body = status, b'{"ok": true}'
    answer = web.post(url + "/slack/events", content=b"x", timeout=5)
    assert (answer.status_code, answer.reason_phrase, answer.content) == (
        status, HTTPStatus(status).phrase, b'{"ok": true}'
    )  # fmt: skip


def test_health_answers_a_status_of_the_bot_side_cleanly(bot_side: tuple[_Bot, str]) -> None:
    bot, url = bot_side
    bot.status = 500
    answer = web.get(url + "/healthz", timeout=5)
    assert answer.status_code == 500 and answer.reason_phrase == "Internal Server Error"
    assert answer.json() == {"status": "whatever"}
    bot.status = 299
    assert web.get(url + "/healthz", timeout=5).status_code == 500
