"""The console as a newcomer meets it: the README's demo as printed, mentions as people type them."""

from __future__ import annotations

import io
import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.commands.types import USAGE
from bot.models import Role
from bot.sandbox.console import (
    DEMO_ADMIN,
    DEMO_TEAM,
    Console,
    ConsoleInput,
    Sandbox,
    TypedMentions,
    demo_sandbox,
    without_comment,
)
from tests.conftest import TestClock as DemoClock

README = Path(__file__).resolve().parent.parent / "README.md"

# What each line of the README's demo must answer; a line the README adds must be listed here too.
DEMO_EXPECTED = {
    "as U0DEMOAGENT": ["now acting as U0DEMOAGENT"],
    "/recording pause 8856 20s customer is reading out a card number": [
        "Pause request #1 — recording on extension `8856`",
        "is waiting for an approver in #approvals-floor-a",
    ],
    "as U0DEMOLEAD": ["now acting as U0DEMOLEAD"],
    "approve 1": ["Approved by @U0DEMOLEAD", "Recording paused until"],
    "/recording requests": ["Active pauses (1)", "#1 extension `8856`"],
    "wait 21": ["resumed automatically at", "(done waiting)"],
    "/recording settings 1000": ["Call recording — Virtual line: Main Reception (ext. 1000"],
    "/recording settings jane.doe@example.com": [
        "Call recording — Person: Jane Doe (ext. 4001", "What this person may do with their recordings",
    ],
    "/recording settings Front Desk": ["2 lines match", "Workspace: Front Desk", "Virtual line: Front Desk"],
    "/recording pause": ["[form: Pause a recording]", "Call to pause: "],
    "8856": ["For how long"],
    "5m": ["Which side of the call"],
    "both sides": ["Reason: "],
    "card number read out": ["(form sent)", "Pause request #2 — recording on extension `8856`"],
    "home": ["[your Home tab]", "You are @U0DEMOLEAD, approver in the floor-a group", "#2 extension `8856`"],
}
# What a refused or misread line says: none of the demo's lines may say it.
FAILURES = (
    "needs one Slack user ID",
    "is not an extension",
    "is not a console command",
    "You can't",
    "is not one of the choices",
    "⚠",
    "nothing was sent",
    "the bot answered HTTP",
)


def readme_demo_block() -> list[str]:
    """The README's fenced demo block, line by line, exactly as printed."""
    text = README.read_text(encoding="utf-8")
    match = re.search(r"Walk through it.*?\n```text\n(.*?)\n```\n", text, re.S)
    assert match, "the README's demo block"
    return match.group(1).splitlines()


class _Waited:
    """`wait N` on the demo's test clock: the clock moves N seconds, then the bot's answer to that is awaited."""

    def __init__(self, clock: DemoClock, sandbox: Sandbox) -> None:
        self._clock = clock
        self._sandbox = sandbox

    def __call__(self, seconds: float) -> None:
        before = len(self._sandbox.slack.calls())
        self._clock.advance(seconds=seconds)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if any("resumed automatically" in str(c.payload) for c in self._sandbox.slack.calls()[before:]):
                break
            time.sleep(0.02)
        time.sleep(0.3)  # the card's update and the DM follow the resume: let both arrive


@pytest.fixture
def demo() -> Iterator[tuple[Sandbox, DemoClock]]:
    clock = DemoClock()
    with demo_sandbox(clock=clock, scheduler_max_sleep=0.02) as sandbox:
        yield sandbox, clock


def _run(sandbox: Sandbox, clock: DemoClock, lines: list[str], *, user: str = DEMO_ADMIN) -> str:
    out = io.StringIO()
    console = Console(sandbox, user=user, out=out, sleep=_Waited(clock, sandbox))
    console.run(ConsoleInput(io.StringIO("\n".join(lines) + "\n"), out, interactive=False))
    return out.getvalue()


def test_the_readmes_demo_block_runs_as_printed_line_by_line(demo: tuple[Sandbox, DemoClock]) -> None:
    sandbox, clock = demo
    lines = readme_demo_block()
    assert any(without_comment(line) != line for line in lines)  # the block carries comments
    out = _run(sandbox, clock, lines)
    assert [without_comment(line).strip() for line in lines] == list(DEMO_EXPECTED)
    for failure in FAILURES:
        assert failure not in out, out
    # Each line's answer comes after its echo in the transcript (the bot's replies, printed as they come,
    # may follow the next line's echo on a busy machine).
    position = 0
    for line in lines:
        echo = out.find(line, position)
        assert echo >= 0, f"not echoed: {line!r}\n{out}"
        for expected in DEMO_EXPECTED[without_comment(line).strip()]:
            assert expected in out[echo:], f"{line!r} was not answered with {expected!r}:\n{out[echo:]}"
        position = echo + len(line)
    # As the README says: the pause was approved, and the bot resumed the recording by itself.
    request = sandbox.bot.services.pauses.get(1)
    assert request is not None and request.state.value == "resumed", request


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("as U0DEMOLEAD   # the card went to #approvals-floor-a", "as U0DEMOLEAD"),
        ("home\t# your Home tab", "home"),
        ("/recording pause             #", "/recording pause"),
        ("# a whole line", ""),
        ("/recording group sales channel #sales-approvals", "/recording group sales channel #sales-approvals"),
        ("approve #1", "approve #1"),
        ("pause 8856 5m card#1 read out", "pause 8856 5m card#1 read out"),
        ("pause 8856 5m card #1 read # out", "pause 8856 5m card #1 read"),
    ],
)
def test_a_comment_is_a_hash_between_spaces_or_at_the_end(line: str, kept: str) -> None:
    assert without_comment(line) == kept


# -- mentions as people type them ---------------------------------------------------------------------

# What each `/recording help` example that names a person or a channel answers in the demo, in this order.
HELP_MENTIONS_EXPECTED = {
    "group": "Approvals channel: #sales-approvals",
    "allow": "@U0PAT is now allowed as approver, in the sales group",
    "revoke": "@U0PAT is no longer on the allow-list (was approver)",
}
REFUSED_MENTIONS = ("is not a Slack user", "is not a channel", "⚠")


def _readme_mention_examples() -> list[str]:
    """The README's own examples that name someone or a channel (not the usage lines' `@user`)."""
    text = README.read_text(encoding="utf-8")
    found = re.findall(r"`(/recording [^`]*(?<!\S)[@#][A-Za-z][^`]*)`", text)
    return list(dict.fromkeys(example for example in found if "<" not in example and "@user" not in example))


def test_a_typed_user_id_mention_reaches_the_bot_as_slack_escapes_it(demo: tuple[Sandbox, DemoClock]) -> None:
    sandbox, clock = demo
    out = _run(sandbox, clock, ["/recording allow @U0NEWBIE requester floor-a", "allow @u0other approver -"])
    assert "@U0NEWBIE is now allowed as requester, in the floor-a group" in out
    assert "@U0OTHER is now allowed as approver" in out
    assert not any(refused in out for refused in REFUSED_MENTIONS), out
    authorizer = sandbox.bot.services.authorizer
    assert authorizer.role_of_user(DEMO_TEAM, "U0NEWBIE") is Role.REQUESTER
    assert authorizer.group_of_user(DEMO_TEAM, "U0NEWBIE") == "floor-a"


def test_the_help_texts_mention_examples_work_as_printed(demo: tuple[Sandbox, DemoClock]) -> None:
    sandbox, clock = demo
    examples = {name: example for name, (_usage, example) in USAGE.items() if re.search(r"(?<!\S)[@#][a-z]", example)}
    assert set(examples) == set(HELP_MENTIONS_EXPECTED)
    out = _run(sandbox, clock, [examples[name] for name in HELP_MENTIONS_EXPECTED])
    assert not any(refused in out for refused in REFUSED_MENTIONS), out
    position = 0
    for name, expected in HELP_MENTIONS_EXPECTED.items():
        echo = out.find(examples[name], position)
        assert echo >= 0 and expected in out[echo:], f"{examples[name]!r}:\n{out[echo:]}"
        position = echo
    # What Slack would have sent: the channel as a channel ID the bot keeps, the person as a user ID.
    group = sandbox.bot.services.authorizer.group(DEMO_TEAM, "sales")
    assert group is not None and group.channel_id == "C0SALESAPPROVALS", group
    assert "(#sales-approvals is a new channel of the demo's Slack, C0SALESAPPROVALS)" in out
    assert "(@pat is a new user of the demo's Slack, U0PAT" in out


def test_the_readmes_mention_examples_work_as_printed(demo: tuple[Sandbox, DemoClock]) -> None:
    sandbox, clock = demo
    examples = _readme_mention_examples()
    assert set(examples) == {
        "/recording allow @U0NEWBIE requester floor-a",
        "/recording allow @pat requester sales",
        "/recording group sales channel #sales-approvals",
        "/recording allow @pat admin",
        "/recording group floor-a channel #approvals",
    }
    out = _run(sandbox, clock, examples)
    assert not any(refused in out for refused in REFUSED_MENTIONS), out
    assert "@U0NEWBIE is now allowed as requester, in the floor-a group" in out
    assert "@U0PAT is now allowed as requester, in the sales group" in out
    assert "Approvals channel: #sales-approvals" in out
    assert "@U0PAT is now admin (was requester)" in out
    authorizer = sandbox.bot.services.authorizer
    assert authorizer.role_of_user(DEMO_TEAM, "U0NEWBIE") is Role.REQUESTER
    assert authorizer.role_of_user(DEMO_TEAM, "U0PAT") is Role.ADMIN


def test_a_known_channel_name_and_text_that_only_looks_like_one(demo: tuple[Sandbox, DemoClock]) -> None:
    sandbox, clock = demo
    out = _run(sandbox, clock, ["group floor-a channel #approvals-floor-a", "pause 8856 1m card #4 read, ask #console"])
    assert "Approvals channel: #approvals-floor-a" in out
    assert "new channel" not in out  # the demo's own channel, by its name
    assert "card #4 read, ask #console" in out  # `#4` is text; #console is the console's channel
    request = sandbox.bot.services.pauses.get(1)
    assert request is not None and request.reason == "card #4 read, ask #console", request.reason


def test_outside_the_demo_names_are_sent_as_typed_and_the_console_says_why() -> None:
    mentions = TypedMentions(invent=False)
    text, notes = mentions.as_slack_sends("allow @pat approver sales")
    assert text == "allow @pat approver sales"
    assert notes == [
        "(`@pat` is sent as typed: this console knows no Slack names; type the member ID, e.g. `@U012ABCDEF`)"
    ]
    text, notes = mentions.as_slack_sends("group sales channel #sales-approvals")
    assert text == "group sales channel #sales-approvals" and "type the channel's ID" in notes[0]
    assert mentions.as_slack_sends("allow @U0NEW, requester; group s channel #C0123ABC") == (
        "allow <@U0NEW>, requester; group s channel <#C0123ABC>",
        [],
    )


# -- line editing ---------------------------------------------------------------------------------------


class _Terminal:
    """The console on a pseudo-terminal, as a person at a keyboard runs it."""

    def __init__(self) -> None:
        import pty

        self.master, follower = pty.openpty()
        env = {"PATH": os.environ.get("PATH", ""), "TERM": "xterm"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "console", "--demo"],
            stdin=follower, stdout=follower, stderr=follower, env=env, close_fds=True,
        )  # fmt: skip
        os.close(follower)
        self.seen = ""
        # Where the last text waited for ended: each wait looks only at what came after it, so a prompt
        # seen before does not pass for the next one (keys typed before readline reads are the kernel's).
        self._read_up_to = 0

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def wait_for(self, text: str, *, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while text not in self.seen[self._read_up_to :]:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} never came:\n{self.seen}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.seen += os.read(self.master, 65536).decode(errors="replace")
                except OSError:  # the console has ended
                    assert text in self.seen[self._read_up_to :], f"{text!r} never came:\n{self.seen}"
        self._read_up_to = self.seen.index(text, self._read_up_to) + len(text)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        os.close(self.master)


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals and readline are POSIX")
def test_at_a_terminal_the_arrow_keys_recall_and_edit_earlier_lines() -> None:
    terminal = _Terminal()
    try:
        terminal.wait_for("U0DEMOADMIN> ", seconds=60)
        terminal.type(b"as U0DEMOAGENT\r")
        terminal.wait_for("U0DEMOAGENT> ")
        terminal.type(b"whoami\r")
        terminal.wait_for("you are U0DEMOAGENT")
        terminal.wait_for("U0DEMOAGENT> ")
        # ↑ ↑ brings back `as U0DEMOAGENT`; five backspaces and `LEAD` make it `as U0DEMOLEAD`.
        terminal.type(b"\x1b[A\x1b[A" + b"\x7f" * 5 + b"LEAD\r")
        terminal.wait_for("now acting as U0DEMOLEAD")
        terminal.type(b"quit\r")
        assert terminal.process.wait(30) == 0
    finally:
        terminal.close()
