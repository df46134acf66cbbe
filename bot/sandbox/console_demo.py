"""The console's demo: its simulated Slack, recording system and Webex, its people, the words it greets a
newcomer with, and the sandboxes the console runs in (the demo's, and a configured deployment's)."""

from __future__ import annotations

import contextlib
import secrets
import tempfile
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.app import RecordingBot, create_app
from bot.clock import Clock, utc_now
from bot.config import Config, config_from
from bot.models import Invocation, Role, SlackUser
from bot.sandbox import console_render
from bot.sandbox.simulators.recording_system import (
    DEMO_API_KEY,
    DEMO_CALLS,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    SimulatedRecordingSystem,
)
from bot.sandbox.simulators.slack import SimulatedSlack
from bot.sandbox.simulators.slack_sender import NOT_GRID, SlackSender, grid
from bot.sandbox.simulators.webex import DEFAULT_ACCESS_TOKEN, SimulatedWebex
from bot.services.scheduler import MAX_SLEEP_SECONDS
from bot.serving.local import LocalServer
from bot.serving.wsgi import wsgi_app_for

DEMO_TEAM = "T0DEMO"
# `console --demo --org`: one org-wide install of an Enterprise Grid organisation, added by its org admin to
# two of its workspaces and not to a third.
DEMO_ORG = "E0DEMOORG"
DEMO_TEAM_B = "T0DEMOB"
DEMO_TEAM_LEFT_OUT = "T0DEMOC"
DEMO_ADMIN = "U0DEMOADMIN"
DEMO_LEAD = "U0DEMOLEAD"
DEMO_AGENT = "U0DEMOAGENT"
DEMO_AGENT_EMAIL = "agent@example.com"
DEMO_AGENT_EXTENSION = "8856"
CHANNEL = "C0CONSOLE"
# The demo's approver group: its members' cards go to its own approvals channel.
DEMO_GROUP = "floor-a"
DEMO_GROUP_CHANNEL = "C0APPROVALS"
# Where the demo's daily compliance digest goes (DIGEST_CHANNEL).
DEMO_DIGEST_CHANNEL = "C0COMPLIANCE"
CHANNEL_NAMES = {CHANNEL: "#console", DEMO_GROUP_CHANNEL: "#approvals-floor-a", DEMO_DIGEST_CHANNEL: "#compliance"}
console_render.CHANNEL_NAMES.update(CHANNEL_NAMES)
# Webex's demo lines, given ongoing calls so that settings, warnings and pauses tell one story.
DEMO_WEBEX_CALLS = (
    ("5a1e2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b", ("1000",)),
    ("6b2f3c4d-5e6f-4a71-9b8c-0d1e2f3a4b5c", ("1002",)),
    ("7c3a4d5e-6f7a-4b82-8c9d-1e2f3a4b5c6d", ("1003",)),
)

# The demo agent is a Webex person with extension 8856, so the examples in `/recording help` (which all
# use 8856) work as typed: pause it, resume it, read its settings (a person's line, as most agents' are).
DEMO_AGENT_RECORDING: dict[str, Any] = {
    "enabled": True,
    "record": "Always with Pause/Resume",
    "recordVoicemailEnabled": False,
    "notification": {"type": "Beep", "enabled": True},
    "repeat": {"interval": 15, "enabled": False},
    "startStopAnnouncement": {"internalCallsEnabled": False, "pstnCallsEnabled": True},
    "callRecordingAccessSettings": {
        "viewAndPlayRecordingsEnabled": True,
        "downloadRecordingsEnabled": False,
        "deleteRecordingsEnabled": False,
        "shareRecordingsEnabled": False,
    },
}

DEMO_WALKTHROUGH = f"""\
recording-bot console (demo): a throw-away database, and simulated Slack, recording system and Webex
on 127.0.0.1. The bot itself is the real one; no environment variable is read.
You are {DEMO_ADMIN} (admin). {DEMO_LEAD} is an approver (team lead) and {DEMO_AGENT} a requester,
both in the approver group {DEMO_GROUP}, whose cards go to {CHANNEL_NAMES[DEMO_GROUP_CHANNEL]}.
Try, line by line (a `#` after a space starts a comment, as in a shell):
  as {DEMO_AGENT}
  /recording pause 8856 20s customer is reading out a card number
  as {DEMO_LEAD}                # the card went to {CHANNEL_NAMES[DEMO_GROUP_CHANNEL]}, and a DM to you
  approve 1
  /recording requests
  wait 21                      # the pause ends; the bot resumes the recording by itself
  /recording settings 1000     # a virtual line
  /recording settings jane.doe@example.com   # a person (also by extension, number or name)
  /recording settings Front Desk             # a workspace and a virtual line: `show` the one you mean
  /recording pause             # the pause form: answer its questions line by line
  home                         # your Home tab
  /recording set jane.doe@example.com mode=on-demand agents start it   # a settings change, as the lead
  as {DEMO_ADMIN}
  approve-change 1             # approved like a pause: Webex is read again, changed, read to confirm
  digest                       # skip to the next daily digest (08:00 UTC) in #compliance; writes its chart here
`me` means one's own extension: {DEMO_AGENT}'s is found through Slack and Webex ({DEMO_AGENT_EXTENSION}).
"""

DEMO_ORG_WALKTHROUGH = f"""\
recording-bot console (demo, Enterprise Grid): a throw-away database, and simulated Slack, recording system
and Webex on 127.0.0.1. The bot itself is the real one; no environment variable is read.
The app is installed org-wide in organisation {DEMO_ORG}, whose org admin added it to the workspaces
{DEMO_TEAM} and {DEMO_TEAM_B} (not {DEMO_TEAM_LEFT_OUT}): one allow-list, one set of groups, one audit for both.
You are {DEMO_ADMIN} (admin) in {DEMO_TEAM}. {DEMO_LEAD} is an approver (team lead) and {DEMO_AGENT} a
requester, both in the approver group {DEMO_GROUP}, whose cards go to {CHANNEL_NAMES[DEMO_GROUP_CHANNEL]}.
Try, line by line (`in T…` acts from another workspace of the organisation):
  as {DEMO_AGENT}
  /recording pause 8856 20s customer is reading out a card number
  as {DEMO_LEAD}
  in {DEMO_TEAM_B}                  # the lead works in the other workspace, and decides there
  approve 1
  in {DEMO_TEAM_LEFT_OUT}                  # a workspace the org admin did not add the app to
  /recording requests          # refused, and audited
  as {DEMO_ADMIN}
  in {DEMO_TEAM}
  /recording users             # who is in, and the workspace each last used the bot from
  /recording audit 5
"""

DEMO_CLOSING = """\
`/recording help` lists every command (extend, cancel, breakglass, group …); `help` the console's own.
Type `quit` to leave.
"""


def demo_intro(recording_system: SimulatedRecordingSystem, webex: SimulatedWebex, *, org: bool = False) -> str:
    """The demo's banner: what to try, then the calls and lines that really are there to try it on."""
    return (DEMO_ORG_WALKTHROUGH if org else DEMO_WALKTHROUGH) + demo_facts(recording_system, webex) + DEMO_CLOSING


def demo_facts(recording_system: SimulatedRecordingSystem, webex: SimulatedWebex) -> str:
    """The calls in progress and the Webex lines the demo simulates, wrapped for a terminal."""
    facts = (_calls_line(recording_system), _lines_line(webex))
    return "\n".join(textwrap.fill(text, width=108, subsequent_indent="  ") for text in facts) + "\n"


def _calls_line(recording_system: SimulatedRecordingSystem) -> str:
    calls_per_party: dict[str, int] = {}
    for parties in recording_system.ongoing_calls().values():
        for party in parties:
            calls_per_party[party] = calls_per_party.get(party, 0) + 1

    def shown(party: str) -> str:
        count = calls_per_party[party]
        return f"{party} ({count} calls: use the call ID)" if count > 1 else party

    extensions = sorted((p for p in calls_per_party if not p.startswith("+")), key=lambda p: (len(p), p))
    numbers = sorted(p for p in calls_per_party if p.startswith("+"))
    return (
        f"Calls in progress (pause or resume them): extensions {', '.join(shown(p) for p in extensions)}; "
        f"numbers {', '.join(shown(p) for p in numbers)}."
    )


def _lines_line(webex: SimulatedWebex) -> str:
    # (kind, name, call-recording settings) of each line, by extension: people, workspaces, virtual lines.
    lines_per_extension: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    owners: list[tuple[str, str | None, str, dict[str, Any]]] = [
        *(("person", p.extension, p.display_name, p.call_recording) for p in webex.people),
        *(("workspace", w.extension, w.display_name, w.call_recording) for w in webex.workspaces),
        *(("virtual line", v.extension, v.owner_name, v.call_recording) for v in webex.lines),
    ]
    for kind, extension, name, recording in owners:
        if extension:
            lines_per_extension.setdefault(extension, []).append((kind, name, recording))
    shown = []
    for extension in sorted(lines_per_extension, key=lambda e: (len(e), e)):
        lines = lines_per_extension[extension]
        kind, name, recording = lines[0]
        mode = str(recording.get("record", "?")) if recording.get("enabled") else "off"
        described = f"{kind} {name}, {mode}" if len(lines) == 1 else f"{len(lines)} lines: pick one"
        shown.append(f"{extension} ({described})")
    return f"Webex lines (`/recording settings EXT`): {'; '.join(shown)}."


@dataclass
class Sandbox:
    """Everything the console runs: the served bot, the simulated Slack and the sender that signs."""

    bot: RecordingBot
    server: LocalServer
    slack: SimulatedSlack
    sender: SlackSender
    team_id: str
    # What the console prints first (the demo's banner lists the calls and lines it simulates).
    intro: str = ""
    # Whether `@name` and `#name` typed for someone or somewhere Slack does not know yet may be made up
    # (the demo's workspace is the console's own; a configured deployment's is the real one's).
    invents_names: bool = False
    # The demo's clock can be skipped on to the next digest; a configured console asks for one now.
    clock: Clock | None = None
    # An Enterprise Grid organisation's org-wide install (`--demo --org`): `in T…` changes workspace.
    org: bool = False
    # Installable mode (`--demo --installable`): workspaces installed through the OAuth flow, each answered with
    # its own token; `in T…` changes workspace, and each Slack call shows whose token it carried.
    installable: bool = False
    token_owner: Callable[[str], str | None] | None = None

    @property
    def scope(self) -> str:
        """Whose allow-list the console's user is on now: the bot's scope, or (installable) the workspace's."""
        return self.team_id or self.sender.team


class DemoClock:
    """The demo's time: the wall clock plus what `wait` has skipped. In the demo everything is simulated, so
    `wait 21` moves this clock 21 s on and wakes the bot's scheduler instead of keeping the person waiting;
    a configured console waits for real, as the real recording system does."""

    def __init__(self) -> None:
        self._skipped = timedelta()
        self._lock = threading.Lock()
        self._wake: Callable[[], None] = lambda: None

    def __call__(self) -> datetime:
        with self._lock:
            return utc_now() + self._skipped

    def wakes(self, wake: Callable[[], None]) -> None:
        """What to call once time has moved on (the bot's scheduler, to look at its deadlines again)."""
        self._wake = wake

    def skip(self, seconds: float) -> None:
        with self._lock:
            self._skipped += timedelta(seconds=seconds)
        self._wake()



@contextlib.contextmanager
def demo_sandbox(
    *, clock: Clock = utc_now, scheduler_max_sleep: float = MAX_SLEEP_SECONDS, org: bool = False
) -> Iterator[Sandbox]:
    """Simulated Slack, recording system and Webex, and the real bot on a throw-away database (on the
    clock given: the tests move one, so that `wait 21` takes no 21 seconds). `org`: the app installed
    org-wide in an Enterprise Grid organisation, in two of its workspaces."""
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="recording-bot-demo-")))
        slack = stack.enter_context(SimulatedSlack(team_id=DEMO_TEAM, bot_token="xoxb-console-demo"))  # noqa: S106
        if org:
            slack.make_org_wide(DEMO_ORG, [DEMO_TEAM, DEMO_TEAM_B])
        recording_system, webex, upstreams = demo_upstreams(stack, slack)
        # From these values alone: a DATABASE_URL or a malformed variable in the environment must not
        # reach the demo (it would write into that database, or stop the trial).
        config = config_from(
            slack_bot_token=SecretStr(slack.bot_token), slack_signing_secret=SecretStr(secrets.token_hex(16)),
            slack_api_url=slack.api_url, database_path=folder / "demo.db", bot_admins=(DEMO_ADMIN,), **upstreams,
        )  # fmt: skip
        sandbox = stack.enter_context(
            served_sandbox(config, slack, clock=clock, scheduler_max_sleep=scheduler_max_sleep, org=org)
        )
        scope = sandbox.team_id  # the organisation's, org-wide
        staff_demo(sandbox, SlackUser(
            team_id=scope, user_id=DEMO_ADMIN, workspace_id=DEMO_TEAM if org else "",
            enterprise_id=DEMO_ORG if org else "",
        ))  # fmt: skip
        sandbox.intro = demo_intro(recording_system, webex, org=org)
        sandbox.invents_names = True
        sandbox.clock = clock
        yield sandbox


def demo_upstreams(
    stack: contextlib.ExitStack[bool | None], slack: SimulatedSlack
) -> tuple[SimulatedRecordingSystem, SimulatedWebex, dict[str, Any]]:
    """The demo's simulated recording system and Webex (stopped with `stack`), the agent's `me` in Slack and
    Webex, and the settings that point the bot at them (and at the demo's digest channel)."""
    recording_system = stack.enter_context(
        SimulatedRecordingSystem(api_key=DEMO_API_KEY, username=DEMO_USERNAME, password=DEMO_PASSWORD, calls=DEMO_CALLS)
    )
    for call_id, extensions in DEMO_WEBEX_CALLS:
        recording_system.add_call(call_id, extensions)
    webex = stack.enter_context(SimulatedWebex())
    # `me` in the demo: the agent's e-mail in Slack leads to their Webex extension.
    slack.emails[DEMO_AGENT] = DEMO_AGENT_EMAIL
    webex.add_person(
        DEMO_AGENT_EMAIL, extension=DEMO_AGENT_EXTENSION, display_name="Demo Agent",
        call_recording=DEMO_AGENT_RECORDING, phone_number="+14085558856", location_name="San Jose HQ",
    )  # fmt: skip
    settings: dict[str, Any] = {
        "media_repository_url": recording_system.url, "media_repository_api_key": SecretStr(DEMO_API_KEY),
        "media_repository_username": DEMO_USERNAME, "media_repository_password": SecretStr(DEMO_PASSWORD),
        "webex_api_url": webex.base_url, "webex_access_token": SecretStr(DEFAULT_ACCESS_TOKEN),
        "log_level": "WARNING", "digest_channel": DEMO_DIGEST_CHANNEL,
    }  # fmt: skip
    return recording_system, webex, settings


def staff_demo(sandbox: Sandbox, admin: SlackUser) -> None:
    """The demo's lead and agent in the approver group, whose cards go to its approvals channel, in the scope
    of `admin` (who configures the group)."""
    authorizer = sandbox.bot.services.authorizer
    authorizer.set_role(admin.team_id, DEMO_LEAD, Role.APPROVER, source="console demo", group=DEMO_GROUP)
    authorizer.set_role(admin.team_id, DEMO_AGENT, Role.REQUESTER, source="console demo", group=DEMO_GROUP)
    invocation = Invocation(user=admin, channel_id=CHANNEL, request_id="demo")
    authorizer.configure_group(invocation, DEMO_GROUP, channel_id=DEMO_GROUP_CHANNEL)


@contextlib.contextmanager
def configured_sandbox(config: Config, *, team_id: str) -> Iterator[Sandbox]:
    """The configured database, recording system and Webex; only Slack is simulated (replies print here)."""
    with SimulatedSlack(team_id=team_id, bot_token="xoxb-console") as slack:  # noqa: S106
        local = config.model_copy(
            update={
                "slack_bot_token": SecretStr(slack.bot_token),
                "slack_signing_secret": SecretStr(secrets.token_hex(16)),
                "slack_api_url": slack.api_url,
                # An installable deployment's console: Slack is simulated with one token for the team chosen.
                "slack_client_id": None,
                "slack_client_secret": None,
                "slack_state_secret": None,
            }
        )
        with served_sandbox(local, slack) as sandbox:
            yield sandbox


@contextlib.contextmanager
def served_sandbox(
    config: Config,
    slack: SimulatedSlack,
    *,
    clock: Clock = utc_now,
    scheduler_max_sleep: float = MAX_SLEEP_SECONDS,
    org: bool = False,
) -> Iterator[Sandbox]:
    bot = create_app(config, clock=clock, scheduler_max_sleep=scheduler_max_sleep).start()
    server = LocalServer(wsgi_app_for(bot)).start()
    assert config.slack_signing_secret is not None
    sender = SlackSender(
        base_url=server.url,
        signing_secret=config.slack_signing_secret.get_secret_value(),
        response_url_factory=slack.response_url,
        team=slack.team_id,
        channel=CHANNEL,
        organisation=grid(DEMO_ORG, org_wide=True) if org else NOT_GRID,
    )
    try:
        yield Sandbox(bot=bot, server=server, slack=slack, sender=sender, team_id=bot.team_id, org=org)
    finally:
        sender.close()
        server.stop()
        bot.close()

