"""`recording-bot console`: use the bot from a terminal, as a chosen Slack user, without Slack.

The console serves the real app on 127.0.0.1 and drives it exactly as Slack would (signed slash
commands and button clicks). Only Slack itself is replaced, by the simulated Slack Web API, whose
messages are printed here. With --demo the recording system and Webex are simulated too, on a
throw-away database, so a newcomer can walk through the whole approval flow in a minute.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

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
from bot.commands.parser import read_user_id
from bot.commands.types import USAGE
from bot.config import Config
from bot.models import PauseRequest
from bot.models.changes import ChangeRequest
from bot.sandbox import console_render
from bot.sandbox.console_demo import (
    CHANNEL,
    CHANNEL_NAMES,
    DEMO_ADMIN,
    DEMO_TEAM,
    DEMO_TEAM_B,
    DemoClock,
    Sandbox,
    configured_sandbox,
    demo_sandbox,
)
from bot.sandbox.console_forms import FormFiller
from bot.sandbox.console_input import ConsoleInput, TypedMentions, slack_escaped, without_comment
from bot.sandbox.console_installable import installable_sandbox
from bot.sandbox.console_render import render_blocks
from bot.sandbox.simulators.slack import SlackCall
from bot.words import closest_word

# Also for the tests, which drive the console as a newcomer would.
__all__ = [
    "DEMO_ADMIN",
    "DEMO_TEAM",
    "Console",
    "ConsoleInput",
    "Sandbox",
    "TypedMentions",
    "demo_sandbox",
    "run_console",
    "without_comment",
]

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
  in T123                      act from another workspace (`--demo --org`, `--demo --installable`)
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
            while (line := lines.read(self._prompt())) is not None:
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
            role = self._sandbox.bot.services.authorizer.role_of_user(self._sandbox.scope, self.user)
            self._say(f"you are {self.user} ({role.value if role else 'not on the allow-list'})")
        elif head == "as":
            self._act_as(words[1:])
        elif head == "in" and len(words) <= 2:
            self._act_in(words[1:])
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

    def _prompt(self) -> str:
        several = self._sandbox.org or self._sandbox.installable
        return f"{self.user}@{self._sandbox.sender.team}> " if several else f"{self.user}> "

    def _act_in(self, args: list[str]) -> None:
        if not (self._sandbox.org or self._sandbox.installable):
            self._say(
                "`in` acts from another workspace: start the console with --demo --org (an organisation's) "
                "or --demo --installable (two installed workspaces)"
            )
            return
        workspace = args[0].upper() if args else ""
        if not _WORKSPACE_ID.match(workspace):
            self._say(f"`in` needs a workspace ID, e.g. `in {DEMO_TEAM_B}`")
            return
        # Every request the console sends from now on comes from that workspace (as Slack's would).
        self._sandbox.sender.team = workspace
        self._say(f"now acting in workspace {workspace}")

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
        shown = self._described(call)
        owner = self._sandbox.token_owner
        if shown is None or owner is None or call.method == "response_url":
            return shown
        # Installable mode: whose token the call carried (the one of the workspace it was for, or not).
        team = owner(call.token)
        where, _, rest = shown.partition("]")
        return f"{where} · with {team + chr(39) + 's' if team else 'an unknown'} token]{rest}"

    def _described(self, call: SlackCall) -> str | None:
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
_WORKSPACE_ID = re.compile(r"^T[A-Z0-9]{2,30}$")
_DEFAULT_WAIT_SECONDS = 5.0
_MAX_WAIT_SECONDS = 600.0
_ANSWERS = {word: action_id for action_id, word in console_render.ANSWER_COMMANDS.items()}
_CONSOLE_WORDS = (*_BUTTONS, *_ANSWERS, "home", "show", "as", "in", "whoami", "wait", "help", "quit")


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


def run_console(
    config: Config | None,
    *,
    demo: bool,
    as_user: str | None,
    team_id: str | None,
    script: list[str] | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    org: bool = False,
    installable: bool = False,
) -> int:
    # The streams of the moment of the call (sys.stdin and sys.stdout by default), not of this module's import.
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    clock = DemoClock() if demo else None
    if clock is not None and installable:
        context = installable_sandbox(clock=clock)
    elif clock is not None:
        context = demo_sandbox(clock=clock, org=org)
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

