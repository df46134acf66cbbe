"""`recording-bot console`: use the bot from a terminal, as a chosen Slack user, without Slack.

The console serves the real app on 127.0.0.1 and drives it exactly as Slack would (signed slash
commands and button clicks). Only Slack itself is replaced, by the simulated Slack Web API, whose
messages are printed here. With --demo the recording system and Webex are simulated too, on a
throw-away database, so a newcomer can walk through the whole approval flow in a minute.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from pydantic import SecretStr

from bot.action_ids import (
    ACTION_ABANDON,
    ACTION_APPROVE,
    ACTION_CHANGE_ABANDON,
    ACTION_CHANGE_APPROVE,
    ACTION_CHANGE_DENY,
    ACTION_CHANGE_RETRY,
    ACTION_CHANGE_UNDO,
    ACTION_DENY,
    ACTION_RESUME,
    ACTION_RETRY,
    ACTION_SETTINGS_PICK,
)
from bot.app import RecordingBot, create_app
from bot.clock import Clock, utc_now
from bot.commands.parser import read_user_id
from bot.commands.types import USAGE
from bot.config import Config, config_from
from bot.models import Invocation, PauseRequest, Role, SlackUser
from bot.models.changes import ChangeRequest
from bot.sandbox import console_render
from bot.sandbox.console_forms import FormFiller
from bot.sandbox.console_input import ConsoleInput, TypedMentions, slack_escaped, without_comment
from bot.sandbox.console_render import render_blocks
from bot.sandbox.simulators.recording_system import (
    DEMO_API_KEY,
    DEMO_CALLS,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    SimulatedRecordingSystem,
)
from bot.sandbox.simulators.slack import SimulatedSlack, SlackCall
from bot.sandbox.simulators.slack_sender import SlackSender
from bot.sandbox.simulators.webex import DEFAULT_ACCESS_TOKEN, SimulatedWebex
from bot.services.scheduler import MAX_SLEEP_SECONDS
from bot.serving.local import LocalServer
from bot.serving.wsgi import wsgi_app_for
from bot.words import closest_word

DEMO_TEAM = "T0DEMO"
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

DEMO_CLOSING = """\
`/recording help` lists every command (extend, cancel, breakglass, group …); `help` the console's own.
Type `quit` to leave.
"""


def demo_intro(recording_system: SimulatedRecordingSystem, webex: SimulatedWebex) -> str:
    """The demo's banner: what to try, then the calls and lines that really are there to try it on."""
    facts = (_calls_line(recording_system), _lines_line(webex))
    listed = [textwrap.fill(text, width=108, subsequent_indent="  ") for text in facts]
    return DEMO_WALKTHROUGH + "\n".join(listed) + "\n" + DEMO_CLOSING


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


CONSOLE_HELP = """\
Console commands:
  /recording <subcommand …>    what a Slack user types (the `/recording ` prefix may be left out)
  approve N | deny N | retry N | abandon N | resume-now N
                               press a button on request N's card as the current user
  approve-change N | deny-change N | retry-change N | abandon-change N | undo-change N
                               press a button on settings change N's card (`/recording set`)
  side-only | both-sides       answer the bot's question which side of a call to pause
  home                         open your Home tab (what Slack shows on the app's Home)
  show LINE_ID                 press a settings answer's Show button
  digest [DIR]                 the daily compliance digest, its chart (PNG) and audit rows (CSV) written to DIR
                               (default: here); the demo skips to the next DIGEST_TIME, elsewhere it is
                               `/recording digest` (admins)
  as U123                      act as another Slack user from now on (`as @U123` works too)
  whoami                       show the current user
  # …                          a comment (a `#` after a space, then a space or the line's end), ignored
  wait [seconds]               show what the bot does meanwhile (default 5 s; timed resumes, expiries)
  help                         this list
  quit                         leave
Type people and channels as in Slack: `@U0NEWBIE`, `@pat`, `#sales-approvals` (the demo's Slack makes up
a person or a channel for a name it has not met; elsewhere, type Slack's IDs: `@U012ABCDEF`, `#C0123ABCDEF`).
"""

_BUTTONS = {
    "approve": ACTION_APPROVE,
    "deny": ACTION_DENY,
    "retry": ACTION_RETRY,
    "abandon": ACTION_ABANDON,
    "resume-now": ACTION_RESUME,
    "approve-change": ACTION_CHANGE_APPROVE,
    "deny-change": ACTION_CHANGE_DENY,
    "retry-change": ACTION_CHANGE_RETRY,
    "abandon-change": ACTION_CHANGE_ABANDON,
    "undo-change": ACTION_CHANGE_UNDO,
}
_CHANGE_BUTTONS = frozenset(
    {ACTION_CHANGE_APPROVE, ACTION_CHANGE_DENY, ACTION_CHANGE_RETRY, ACTION_CHANGE_ABANDON, ACTION_CHANGE_UNDO}
)
# After each command, output is printed once the bot has been quiet this long (or after the cap).
_QUIET_SECONDS = 0.4
_SETTLE_CAP_SECONDS = 8.0


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


class Console:
    def __init__(
        self, sandbox: Sandbox, *, user: str, out: TextIO, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._sandbox = sandbox
        # How `wait` lets time pass (the tests move a clock instead).
        self._sleep = sleep
        self.user = user
        self._out = out
        self._seen = 0
        self._modals_seen = 0
        self._home_wanted_by: str | None = None
        self._input: ConsoleInput | None = None
        self._print_lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="console-output", daemon=True)
        self._mentions = TypedMentions(invent=sandbox.invents_names, channels=CHANNEL_NAMES)

    def run(self, lines: ConsoleInput) -> int:
        self._input = lines
        self._watcher.start()
        try:
            while (line := lines.read(f"{self.user}> ")) is not None:
                if not self.execute(line.strip()):
                    return 0
            return 0
        finally:
            self._stop.set()
            self._watcher.join(2)

    def execute(self, line: str) -> bool:
        """Run one console line; False means quit."""
        line = without_comment(line).strip()
        if not line or line.startswith("#"):
            return True
        words = line.split()
        head = words[0].lower()
        if head in ("quit", "exit"):
            return False
        if head in ("help", "?"):
            self._say(CONSOLE_HELP)
        elif head == "whoami":
            role = self._sandbox.bot.services.authorizer.role_of_user(self._sandbox.team_id, self.user)
            self._say(f"you are {self.user} ({role.value if role else 'not on the allow-list'})")
        elif head == "as":
            self._act_as(words[1:])
        elif head == "wait":
            self._wait(words[1:])
        elif head in _BUTTONS:
            if len(words) == 2 and _REQUEST_NUMBER.match(words[1]):
                self._press(_BUTTONS[head], words[1].lstrip("#"))
            else:
                self._say(f"`{head}` needs the request's number from its card, e.g. `{head} 1`")
        elif head in _ANSWERS and len(words) == 1:
            self._answer(_ANSWERS[head])
        elif head == "home" and len(words) == 1:
            self._open_home()
        elif head == "digest" and len(words) <= 2 and not (len(words) == 2 and _ISO_DAY.match(words[1])):
            self._digest(Path(words[1]) if len(words) == 2 else Path("."))
        elif head == "show":
            if len(words) == 2:
                self._show_line(words[1])
            else:
                self._say("`show` needs a line ID from a settings answer's list, e.g. `show Y2lzY29…`")
        elif (guess := _console_command_meant(head)) is not None:
            self._say(f"`{head}` is not a console command; did you mean `{guess}`? (`help` lists them)")
        else:
            text = line[len("/recording") :].strip() if head == "/recording" else line
            text, notes = self._mentions.as_slack_sends(text)
            for note in notes:
                self._say(note)
            response = self._sandbox.sender.command(slack_escaped(text), user=self.user)
            if response.status_code != 200:
                self._say(f"(the bot answered HTTP {response.status_code})")
            self._settle()
        return True

    def _act_as(self, args: list[str]) -> None:
        user_id = read_user_id(args[0]) if len(args) == 1 else None
        if user_id is None:
            self._say("`as` needs one Slack user ID, e.g. `as U0DEMOLEAD` or `as @U0DEMOLEAD`")
            return
        self.user = user_id
        self._say(f"now acting as {self.user}")

    def _wait(self, args: list[str]) -> None:
        if args and not _is_number(args[0]):
            self._say("`wait` takes a number of seconds, e.g. `wait 21`")
            return
        seconds = min(max(float(args[0]) if args else _DEFAULT_WAIT_SECONDS, 0.0), _MAX_WAIT_SECONDS)
        # Say so first: a silent pause of half a minute looks like a console that hangs.
        self._say(f"(waiting {seconds:g} s; what the bot does meanwhile shows here)")
        self._sleep(seconds)
        self._wait_quiet()
        self._say("(done waiting)")

    def _digest(self, folder: Path) -> None:
        """The daily digest: in the demo, skip on to its time and let the scheduler post it; elsewhere post one
        now. Its chart and CSV, uploaded to the simulated Slack, are written into `folder`."""
        before = len(self._sandbox.slack.uploads())
        digests = self._sandbox.bot.services.digests
        if self._sandbox.clock is not None and digests is not None:
            now = self._sandbox.clock()
            due = digests.schedule.next_end(now)
            self._say(f"(skipping to the next digest, {due:%Y-%m-%d %H:%M} UTC: the day's pauses end meanwhile)")
            # Deadline by deadline, so that pauses resume and requests expire on time on the way.
            pauses = self._sandbox.bot.services.pauses
            for _ in range(_MAX_SKIPS):
                step = pauses.next_due()
                if step is None or step >= due:
                    break
                self._sleep(max(0.0, (step - self._sandbox.clock()).total_seconds()) + 0.01)
                self._wait_quiet()
            self._sleep(max(0.0, (due - self._sandbox.clock()).total_seconds()) + 1)
        else:
            self._sandbox.sender.command("digest", user=self.user)
        deadline = time.monotonic() + _DIGEST_WAIT_SECONDS
        while time.monotonic() < deadline and len(self._sandbox.slack.uploads()) < before + 1:
            time.sleep(0.1)
        self._wait_quiet()
        uploads = self._sandbox.slack.uploads()[before:]
        if not uploads:
            self._say("(no digest files arrived; see what the bot answered above)")
            return
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for upload in uploads:
                (folder / upload.filename).write_bytes(upload.content)
                self._say(f"(wrote {folder / upload.filename}, {len(upload.content):,} bytes)")
        except OSError as error:
            self._say(f"(cannot write into {folder}: {error.strerror or error})")

    def _show_line(self, line_id: str) -> None:
        response = self._sandbox.sender.click(ACTION_SETTINGS_PICK, line_id, user=self.user)
        if response.status_code != 200:
            self._say(f"(the bot answered HTTP {response.status_code})")
        self._settle()

    def _open_home(self) -> None:
        self._home_wanted_by = self.user
        response = self._sandbox.sender.home_opened(user=self.user)
        if response.status_code != 200:
            self._say(f"(the bot answered HTTP {response.status_code})")
        self._settle()

    def _fill_new_forms(self) -> None:
        """A form the bot opened since the last line: ask its questions here, as Slack would show them."""
        modals = self._sandbox.slack.modals()
        opened, self._modals_seen = modals[self._modals_seen :], len(modals)
        if not opened or self._input is None:
            if opened:
                self._say("(the bot opened a form; answer it in an interactive console or after `-c`)")
            return
        filler = FormFiller(opened[-1], read=self._input.read, say=self._say, current_channel=CHANNEL)
        filler.fill(
            submit=lambda answers: self._sandbox.sender.submit_view(opened[-1], answers, user=self.user),
            settle=self._settle,
        )

    def _press(self, action_id: str, request_id: str) -> None:
        changes = self._sandbox.bot.services.changes
        if action_id in _CHANGE_BUTTONS and changes is not None:
            found: PauseRequest | ChangeRequest | None = changes.get(int(request_id))
        else:
            found = self._sandbox.bot.services.pauses.get(int(request_id))
        message_ts = found.message_ts if found and found.message_ts else "0"
        channel = found.card_channel if found else CHANNEL
        response = self._sandbox.sender.click(
            action_id, request_id, user=self.user, message_ts=message_ts, channel=channel
        )
        if response.status_code != 200:
            self._say(f"(the bot answered HTTP {response.status_code})")
        self._settle()

    def _answer(self, action_id: str) -> None:
        """Press the newest button of this kind the bot sent (a question's answer carries its own value)."""
        for call in reversed(self._sandbox.slack.calls()):
            found = [e for b in call.blocks for e in b.get("elements") or [] if e.get("action_id") == action_id]
            if found:
                response = self._sandbox.sender.click(action_id, str(found[0].get("value", "")), user=self.user)
                if response.status_code != 200:
                    self._say(f"(the bot answered HTTP {response.status_code})")
                self._settle()
                return
        self._say("nothing to answer: the bot has asked no question with that button")

    # -- output ----------------------------------------------------------------------------------

    def _settle(self) -> None:
        """Wait until the bot has gone quiet, print what it sent, then answer any form it opened."""
        self._wait_quiet()
        self._fill_new_forms()

    def _wait_quiet(self) -> None:
        """Wait until the bot has gone quiet, then print what it sent, so output precedes the next prompt."""
        deadline = time.monotonic() + _SETTLE_CAP_SECONDS
        last_count, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            count = len(self._sandbox.slack.requests)
            if count != last_count:
                last_count, last_change = count, time.monotonic()
            # Nothing sent yet: give the bot a little longer to start answering.
            quiet_needed = _QUIET_SECONDS if count > self._seen else _QUIET_SECONDS * 2
            if time.monotonic() - last_change >= quiet_needed:
                break
            time.sleep(0.05)
        self._flush()

    def _watch(self) -> None:
        # Scheduled work (automatic resumes, expiries) happens between commands: show it as it comes.
        while not self._stop.wait(0.5):
            self._flush()

    def _flush(self) -> None:
        with self._print_lock:
            calls = self._sandbox.slack.calls()
            for call in calls[self._seen :]:
                shown = self._describe(call)
                if shown:
                    self._out.write(shown + "\n\n")
            self._seen = len(calls)
            self._out.flush()

    def _describe(self, call: SlackCall) -> str | None:
        body = render_blocks(call.blocks, call.text)
        channel = str(call.payload.get("channel", ""))
        if call.method == "response_url":
            where = "only you see this" if call.payload.get("response_type", "ephemeral") == "ephemeral" else "#console"
            return f"[{where}]\n{_indent(body)}"
        if call.method == "chat.postMessage":
            where = f"DM to {channel}" if channel.startswith("D") else CHANNEL_NAMES.get(channel, channel)
            return f"[{where}]\n{_indent(body)}"
        if call.method == "chat.update":
            return f"[{CHANNEL_NAMES.get(channel, channel)} · card updated]\n{_indent(body)}"
        if call.method == "files.completeUploadExternal":
            names = ", ".join(str(f.get("title", "")) for f in _json_list(call.payload.get("files")))
            return f"[{CHANNEL_NAMES.get(str(call.payload.get('channel_id', '')), 'Slack')} · files] {names}"
        if call.method == "chat.postEphemeral":
            return f"[only {call.payload.get('user')} sees this]\n{_indent(body)}"
        if call.method == "views.publish" and call.payload.get("user_id") == self._home_wanted_by:
            self._home_wanted_by = None
            return f"[your Home tab]\n{_indent(body)}"
        return None

    def _say(self, text: str) -> None:
        with self._print_lock:
            self._out.write(text.rstrip() + "\n")
            self._out.flush()


def _indent(text: str) -> str:
    return "\n".join("  " + line if line else "" for line in text.splitlines())


_REQUEST_NUMBER = re.compile(r"^#?[0-9]{1,12}$")
_ISO_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
# The chart is drawn by a child process: a few seconds on a busy machine.
_DIGEST_WAIT_SECONDS = 30.0
# Deadlines stepped through on the way to the digest at most (each a resume, an expiry or a reminder).
_MAX_SKIPS = 50
_DEFAULT_WAIT_SECONDS = 5.0
_MAX_WAIT_SECONDS = 600.0
_ANSWERS = {word: action_id for action_id, word in console_render.ANSWER_COMMANDS.items()}
_CONSOLE_WORDS = (*_BUTTONS, *_ANSWERS, "home", "show", "as", "whoami", "wait", "help", "quit")


def _json_list(value: object) -> list[dict[str, object]]:
    parsed = json.loads(value) if isinstance(value, str) else value
    return [item for item in parsed if isinstance(item, dict)] if isinstance(parsed, list) else []


def _console_command_meant(word: str) -> str | None:
    """The console command a mistyped word means (`aprove` → `approve`); None when it is closer to
    (or is) a `/recording` subcommand, which the bot answers itself, with its own suggestion."""
    guess = closest_word(word, (*_CONSOLE_WORDS, *USAGE))
    return guess if guess in _CONSOLE_WORDS and word not in USAGE else None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# -- setting up --------------------------------------------------------------------------------------


@contextlib.contextmanager
def demo_sandbox(*, clock: Clock = utc_now, scheduler_max_sleep: float = MAX_SLEEP_SECONDS) -> Iterator[Sandbox]:
    """Simulated Slack, recording system and Webex, and the real bot on a throw-away database (on the
    clock given: the tests move one, so that `wait 21` takes no 21 seconds)."""
    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="recording-bot-demo-")))
        slack = stack.enter_context(SimulatedSlack(team_id=DEMO_TEAM, bot_token="xoxb-console-demo"))  # noqa: S106
        recording_system = stack.enter_context(
            SimulatedRecordingSystem(
                api_key=DEMO_API_KEY, username=DEMO_USERNAME, password=DEMO_PASSWORD, calls=DEMO_CALLS
            )
        )
        for call_id, extensions in DEMO_WEBEX_CALLS:
            recording_system.add_call(call_id, extensions)
        webex = stack.enter_context(SimulatedWebex())
        # From these values alone: a DATABASE_URL or a malformed variable in the environment must not
        # reach the demo (it would write into that database, or stop the trial).
        config = config_from(
            slack_bot_token=SecretStr(slack.bot_token),
            slack_signing_secret=SecretStr(secrets.token_hex(16)),
            slack_api_url=slack.api_url,
            database_path=folder / "demo.db",
            bot_admins=(DEMO_ADMIN,),
            media_repository_url=recording_system.url,
            media_repository_api_key=SecretStr(DEMO_API_KEY),
            media_repository_username=DEMO_USERNAME,
            media_repository_password=SecretStr(DEMO_PASSWORD),
            webex_api_url=webex.base_url,
            webex_access_token=SecretStr(DEFAULT_ACCESS_TOKEN),
            log_level="WARNING",
            digest_channel=DEMO_DIGEST_CHANNEL,
        )
        # `me` in the demo: the agent's e-mail in Slack leads to their Webex extension.
        slack.emails[DEMO_AGENT] = DEMO_AGENT_EMAIL
        webex.add_person(
            DEMO_AGENT_EMAIL, extension=DEMO_AGENT_EXTENSION, display_name="Demo Agent",
            call_recording=DEMO_AGENT_RECORDING, phone_number="+14085558856", location_name="San Jose HQ",
        )  # fmt: skip
        sandbox = stack.enter_context(_served(config, slack, clock=clock, scheduler_max_sleep=scheduler_max_sleep))
        authorizer = sandbox.bot.services.authorizer
        authorizer.set_role(DEMO_TEAM, DEMO_LEAD, Role.APPROVER, source="console demo", group=DEMO_GROUP)
        authorizer.set_role(DEMO_TEAM, DEMO_AGENT, Role.REQUESTER, source="console demo", group=DEMO_GROUP)
        admin = Invocation(user=SlackUser(team_id=DEMO_TEAM, user_id=DEMO_ADMIN), channel_id=CHANNEL, request_id="demo")
        authorizer.configure_group(admin, DEMO_GROUP, channel_id=DEMO_GROUP_CHANNEL)
        sandbox.intro = demo_intro(recording_system, webex)
        sandbox.invents_names = True
        sandbox.clock = clock
        yield sandbox


@contextlib.contextmanager
def configured_sandbox(config: Config, *, team_id: str) -> Iterator[Sandbox]:
    """The configured database, recording system and Webex; only Slack is simulated (replies print here)."""
    with SimulatedSlack(team_id=team_id, bot_token="xoxb-console") as slack:  # noqa: S106
        local = config.model_copy(
            update={
                "slack_bot_token": SecretStr(slack.bot_token),
                "slack_signing_secret": SecretStr(secrets.token_hex(16)),
                "slack_api_url": slack.api_url,
            }
        )
        with _served(local, slack) as sandbox:
            yield sandbox


@contextlib.contextmanager
def _served(
    config: Config, slack: SimulatedSlack, *, clock: Clock = utc_now, scheduler_max_sleep: float = MAX_SLEEP_SECONDS
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
    )
    try:
        yield Sandbox(bot=bot, server=server, slack=slack, sender=sender, team_id=slack.team_id)
    finally:
        sender.close()
        server.stop()
        bot.close()


def run_console(
    config: Config | None,
    *,
    demo: bool,
    as_user: str | None,
    team_id: str | None,
    script: list[str] | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    # The streams of the moment of the call (sys.stdin and sys.stdout by default), not of this module's import.
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    clock = DemoClock() if demo else None
    if clock is not None:
        context = demo_sandbox(clock=clock)
    else:
        assert config is not None and team_id is not None
        context = configured_sandbox(config, team_id=team_id)
    with context as sandbox:
        user = (as_user or (DEMO_ADMIN if demo else "")).upper()
        if clock is not None:
            clock.wakes(sandbox.bot.services.pauses.schedule_changed.set)
        console = Console(sandbox, user=user, out=stdout, sleep=clock.skip if clock is not None else time.sleep)
        if demo:
            stdout.write(sandbox.intro + "\n")
        else:
            stdout.write(f"recording-bot console as {user} in {team_id} (Slack is simulated; `help` lists commands)\n")
        stdout.flush()
        return console.run(ConsoleInput(stdin, stdout, interactive=stdin.isatty(), script=script))
