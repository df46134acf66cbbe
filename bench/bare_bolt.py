"""The baseline: a minimal Bolt app that only acks `/recording`, served exactly like `recording-bot serve`.

    PORT=3001 SLACK_SIGNING_SECRET=… python -m bench.bare_bolt [--threads 8]

Same framework options as bot/app.py (signing secret, `process_before_response=True`, an authorize
stub instead of a token, no self-event filter) and the same gunicorn settings as bot/cli/main.py
`_serve` (one gthread worker, same threads, timeout, keep-alive), so the difference to the real bot is
the bot's own work: its middleware, its listeners and the lazy work after the ack.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from slack_bolt import Ack, App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.authorization import AuthorizeResult
from slack_sdk import WebClient

from bench.slack_http import TEAM
from bot.serving.worker import run_gunicorn

# What auth.test would have said; never asked, so the app needs no Slack at all.
_IDENTITY = {
    "ok": True,
    "url": "https://example.slack.com/",
    "team": "Example",
    "user": "recording-bot",
    "team_id": TEAM,
    "user_id": "UBOT",
    "bot_id": "B0BOT",
    "is_enterprise_install": False,
}


def create_bare_app(signing_secret: str) -> App:
    result = AuthorizeResult.from_auth_test_response(
        auth_test_response=_IDENTITY,
        bot_token="xoxb-bare-bolt-not-used",
        user_token=None,
    )
    app = App(
        # A loopback base URL: nothing here calls the Web API, and if it did it would not leave the machine.
        client=WebClient(base_url="http://127.0.0.1:9/api/"),
        signing_secret=signing_secret,
        authorize=lambda **_: result,
        process_before_response=True,
        token_verification_enabled=False,
        ignoring_self_events_enabled=False,
        url_verification_enabled=True,
    )

    @app.command("/recording")
    def ack_only(ack: Ack) -> None:
        ack()

    return app


def wsgi_app() -> Any:
    return SlackRequestHandler(create_bare_app(os.environ["SLACK_SIGNING_SECRET"]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    port = int(os.environ.get("PORT", "3001"))

    # Served exactly as the bot is (bot/serving/worker.py), except for the loopback bind.
    run_gunicorn(wsgi_app, bind=f"127.0.0.1:{port}", threads=args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
