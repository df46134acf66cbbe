"""`recording-bot console --demo --installable`: the app installed into two workspaces through Slack's OAuth
flow, as a browser would do it (/slack/install → the simulated Slack's authorize page → /slack/oauth_redirect),
its tokens then read from the database, encrypted with a key made for the demo; each workspace is answered with
its own token, and the console says whose token each Slack call carried."""

from __future__ import annotations

import contextlib
import re
import secrets
import tempfile
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import httpx
from pydantic import SecretStr

from bot.clients.tls import tls_context
from bot.clock import Clock, utc_now
from bot.config import config_from
from bot.models import SlackUser
from bot.sandbox.console_demo import (
    CHANNEL_NAMES,
    DEMO_ADMIN,
    DEMO_AGENT,
    DEMO_CLOSING,
    DEMO_GROUP,
    DEMO_GROUP_CHANNEL,
    DEMO_LEAD,
    DEMO_TEAM,
    DEMO_TEAM_B,
    Sandbox,
    demo_facts,
    demo_upstreams,
    served_sandbox,
    staff_demo,
)
from bot.sandbox.simulators.slack import Installer, SimulatedSlack
from bot.services.scheduler import MAX_SLEEP_SECONDS

# The demo's app, as Slack's app settings page would show its credentials (made up, like everything here).
DEMO_CLIENT_ID = "1000000000.2000000000"
# Who installs the app in each workspace (and so becomes its first admin); user IDs are per workspace.
DEMO_WORKSPACES = (
    Installer(team_id=DEMO_TEAM, user_id=DEMO_ADMIN, team_name="Demo Alpha"),
    Installer(team_id=DEMO_TEAM_B, user_id="U0BRAVOADMIN", team_name="Demo Bravo"),
)
BRAVO_ADMIN = DEMO_WORKSPACES[1].user_id

INSTALLABLE_WALKTHROUGH = f"""\
recording-bot console (demo, installable mode): a throw-away database, and simulated Slack, recording system
and Webex on 127.0.0.1. The bot itself is the real one; no environment variable is read.
The app has no token of its own: it was just installed into two workspaces through Slack's OAuth flow
(/slack/install → Slack's authorize page → /slack/oauth_redirect), and each workspace's token lives in the
database, encrypted with a TOKEN_ENCRYPTION_KEY made for this demo. Every Slack call below says whose token it
carried. Each workspace keeps its own allow-list, groups and audit.
In {DEMO_TEAM} you are {DEMO_ADMIN}, its installer (admin); {DEMO_LEAD} is an approver and {DEMO_AGENT} a
requester, in the group {DEMO_GROUP}, whose cards go to {CHANNEL_NAMES[DEMO_GROUP_CHANNEL]}.
In {DEMO_TEAM_B}, {BRAVO_ADMIN} installed it and is its only admin.
Try, line by line (`in T…` acts from the other workspace):
  as {DEMO_AGENT}
  /recording pause 8856 20s customer is reading out a card number   # the card: {DEMO_TEAM}'s token
  as {DEMO_LEAD}
  approve 1                    # decided in {DEMO_TEAM}, by its lead; the card updated with {DEMO_TEAM}'s token
  in {DEMO_TEAM_B}
  /recording requests          # {DEMO_LEAD} is on {DEMO_TEAM}'s allow-list, not {DEMO_TEAM_B}'s: refused
  as {BRAVO_ADMIN}
  home                         # {DEMO_TEAM_B}'s Home tab, published with {DEMO_TEAM_B}'s token
"""


@contextlib.contextmanager
def installable_sandbox(*, clock: Clock = utc_now, scheduler_max_sleep: float = MAX_SLEEP_SECONDS) -> Iterator[Sandbox]:
    """The demo in installable mode: the bot with SLACK_CLIENT_ID, _SECRET, SLACK_STATE_SECRET and a fresh
    TOKEN_ENCRYPTION_KEY, installed into DEMO_WORKSPACES over HTTP before the console starts."""
    from cryptography.fernet import Fernet

    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="recording-bot-demo-")))
        # `bot_token` is the simulated Slack's own single-workspace token; the bot is never given it.
        slack = stack.enter_context(SimulatedSlack(team_id=DEMO_TEAM, bot_token="xoxb-console-unused"))  # noqa: S106
        slack.client_id, slack.client_secret = DEMO_CLIENT_ID, secrets.token_hex(16)
        recording_system, webex, upstreams = demo_upstreams(stack, slack)
        config = config_from(
            slack_client_id=DEMO_CLIENT_ID, slack_client_secret=SecretStr(slack.client_secret),
            slack_state_secret=SecretStr(secrets.token_hex(16)),
            token_encryption_key=SecretStr(Fernet.generate_key().decode("ascii")),
            slack_oauth_authorize_url=slack.authorize_url, slack_signing_secret=SecretStr(secrets.token_hex(16)),
            slack_api_url=slack.api_url, database_path=folder / "demo.db", **upstreams,
        )  # fmt: skip
        served = served_sandbox(config, slack, clock=clock, scheduler_max_sleep=scheduler_max_sleep)
        sandbox = stack.enter_context(served)
        slack.redirect_url = f"{sandbox.server.url}/slack/oauth_redirect"
        installed = [install_in_browser(sandbox.server.url, slack, installer) for installer in DEMO_WORKSPACES]
        staff_demo(sandbox, SlackUser(team_id=DEMO_TEAM, user_id=DEMO_ADMIN))
        teams = [installer.team_id for installer in DEMO_WORKSPACES]
        sandbox.token_owner = lambda token: next((t for t in teams if token in slack.tokens_of(t)), None)
        sandbox.installable = True
        sandbox.invents_names = True
        sandbox.clock = clock
        facts = demo_facts(recording_system, webex)
        sandbox.intro = INSTALLABLE_WALKTHROUGH + "\n".join(installed) + "\n" + facts + DEMO_CLOSING
        yield sandbox


def install_in_browser(url: str, slack: SimulatedSlack, installer: Installer) -> str:
    """One install as a browser does it: the Add to Slack page, its link to Slack's authorize page, Slack's
    redirect back, the page that says what was installed. A line saying so (raises if the install failed)."""
    slack.installer = installer
    with httpx.Client(timeout=10, verify=tls_context()) as browser:
        page = browser.get(f"{url}/slack/install")
        link = re.search(r'href="([^"]+)"', page.text)
        if page.status_code != 200 or link is None:
            raise RuntimeError(f"the install page answered HTTP {page.status_code}")
        back = browser.get(unescape(link.group(1)))
        # The state cookie is `Secure`, which httpx keeps for https alone: sent back by hand, as a browser would.
        name, _, value = page.headers.get("set-cookie", "").split(";", 1)[0].partition("=")
        done = browser.get(back.headers.get("location", ""), headers={"cookie": f"{name}={value}"})
    said = " ".join(re.sub(r"<[^>]+>", " ", unescape(done.text)).split())
    if done.status_code != 200 or "is installed in" not in said:
        raise RuntimeError(f"the install of {installer.team_id} did not complete (HTTP {done.status_code})")
    where = said[said.index("is installed in") :].split(".")[0].strip()
    return f"Installed through /slack/oauth_redirect: recording-bot {where} ({installer.team_id}), by " + (
        f"{installer.user_id}."
    )
