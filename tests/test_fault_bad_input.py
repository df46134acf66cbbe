"""Hostile and garbled command text: the parser never crashes, and the running bot answers each one exactly once.

The first test drives `parse_command` with 10,000 generated strings (deterministic, so CI is too); the
second sends a few hundred through the running app as signed slash commands and reads every reply.
"""

from __future__ import annotations

import logging
import random
import re
import time
import typing
import unicodedata
from collections import Counter
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.app import RecordingBot
from bot.commands.parser import parse_command
from bot.commands.types import (
    MAX_AUDIT_ROWS,
    MAX_LINE_QUERY_CHARS,
    MAX_REASON_CHARS,
    MIN_PAUSE_SECONDS,
    Allow,
    Command,
    Help,
    ParseError,
    Revoke,
    ShowAudit,
    ShowSettings,
)
from bot.models import Channels, PauseAsk, PauseLimits, Role
from bot.sandbox.simulators.slack import SimulatedSlack
from tests.conftest import ADMIN, AGENT, SIGNING_SECRET, ServedBot
from tests.support.pauses import audit_rows, wait_until
from tests.support.slack_requests import SlackSender

LIMITS = PauseLimits(default_seconds=600, max_seconds=1800)
HUGE_CHARS = 20_000

PREFIXES = [
    "", "pause", "pause 8856", "pause 8856 5m", "pause 8856 10s caller", "pause +14085551234 1h",
    "pause 3f2b8c1d-6a4e-4f0b-9c7d-1e2a3b4c5d6e", "PAUSE 8856 90s both", "Pause 8857", "resume", "resume 8856",
    "settings", "settings 1002", "settings Sales", "allow", "allow <@U0AGENT|pat>", "revoke", "revoke <@U0LEAD>",
    "users", "audit", "audit 50", "requests", "help", "?", "--help",
]  # fmt: skip

NASTY = [
    # right-to-left, zero-width and other invisible characters
    "\u202e", "\u202dabc\u202c", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u061c",
    "مرحبا", "שלום עולם", "\u0627\u0644\u062a\u0633\u062c\u064a\u0644",
    # emoji, combining marks, odd spaces and digits
    "🎙️", "👨‍👩‍👧‍👦", "🇺🇳", "e\u0301\u0301\u0301", "\u00a0", "\u3000", "\u2028", "\u2029",
    "٨٨٥٦", "８８５６", "²³", "½", "Ⅻ", "①", "𝟠𝟠𝟝𝟞", "٥m", "５m", "²m", "¹⁰s",
    # control characters and terminal escapes
    "\x00", "\x07", "\x08", "\x1b[31mred\x1b[0m", "\r\n", "\t", "\x7f", "\x85", "\x9b",
    # Slack's own markup: mentions, broadcasts, channels, links
    "<@U0LEAD|x>", "<@U0LEAD>", "<@W0ABCDEF|y>", "<@U0LEAD|<@U0ADMIN>>", "<!channel>", "<!here>", "<!everyone>",
    "<!subteam^S0123|@leads>", "<#C0OPS|ops>", "<#C0OPS>", "<https://evil.example/|click me>", "<mailto:a@b.c|mail>",
    "<tel:+14085551234|call>", "<", ">", "<>", "<<<>>>", "&amp;", "&lt;!channel&gt;", "&#0;", "&#x202e;",
    # injection attempts
    "'; DROP TABLE audit; --", '" OR 1=1 --', "1 OR 1=1", "$(reboot)", "`id`", "; rm -rf / #", "| cat /etc/passwd",
    "{0.__class__.__mro__}", "{}", "{{7*7}}", "%s%s%s%n", "%(x)s", "${jndi:ldap://x/a}", "../../etc/passwd",
    "<script>alert(1)</script>", "*bold* _it_ ~st~ `code` ```block```", "\\", "\\x00", "%00", "%0a",
    # numbers and durations at the edges
    "-5m", "+5m", "0s", "9s", "10s", "1800s", "1801s", "30m", "31m", "999999h", "99999999999999999999s",
    "1e9s", "1.5m", "1,5m", "1h30m45s", "1h1h", "5 minutes", "10", "-0", "NaN", "inf",
    "8856", "+", "++8856", "88 56", "3f2b8c1d-6a4e-4f0b-9c7d-1e2a3b4c5d6e", "{3F2B8C1D-6A4E-4F0B-9C7D-1E2A3B4C5D6E}",
    "caller", "callee", "both", "CALLER", "private", "admin", "approver", "requester", "root",
]  # fmt: skip
SEPARATORS = [" ", "  ", "\t", "\n", "\u00a0", "\u3000", "\u200b", ""]

# Every member of the Command union, so a new command is covered without editing this list.
COMMAND_TYPES = typing.get_args(Command)
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")


def _assert_well_formed(text: str) -> None:
    """The property: a typed command within its limits, or a short, non-empty ParseError."""
    try:
        command = parse_command(text, LIMITS)
    except ParseError as error:
        assert isinstance(error.message, str) and error.message.strip(), repr(text[:200])
        assert len(error.message) < 1000, "a parse error must not echo huge input back"
        assert error.example is None or error.example.startswith("/recording ")
        return
    assert isinstance(command, COMMAND_TYPES), type(command)
    if isinstance(command, Help):
        assert command.unknown_word is None or 0 < len(command.unknown_word) <= 40
    elif isinstance(command, PauseAsk):
        assert MIN_PAUSE_SECONDS <= command.duration_seconds <= LIMITS.max_seconds
        assert isinstance(command.channels, Channels)
        assert command.reason.strip() and len(command.reason) <= MAX_REASON_CHARS
        assert not any(unicodedata.category(ch) in ("Cc", "Cf") for ch in command.reason), repr(command.reason)
    elif isinstance(command, ShowSettings):
        assert command.query.strip() and len(command.query) <= MAX_LINE_QUERY_CHARS
    elif isinstance(command, Allow | Revoke):
        assert _USER_ID.match(command.user_id), command.user_id
        assert not isinstance(command, Allow) or isinstance(command.role, Role)
    elif isinstance(command, ShowAudit):
        assert 1 <= command.rows <= MAX_AUDIT_ROWS


# -- strategies ------------------------------------------------------------------------------------
# Flat and built once at import: every extra draw costs, and 10,000 examples must stay quick.

_prefixes = st.sampled_from(PREFIXES)
_separators = st.sampled_from(SEPARATORS)
# Often nothing, so short commands ("audit ²") come up as often as long ones.
_nasty_or_nothing = st.sampled_from(NASTY + [""] * len(NASTY))
# Digits of every script, superscripts, circled and Roman numerals (isdigit() is not int()), and numbers.
_numberish = st.one_of(
    st.text(alphabet=st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=4),
    st.builds(
        "{}{}".format,
        st.integers(min_value=-(10**12), max_value=10**12),
        st.sampled_from(["s", "m", "h", "min", "mins", "hours", "sec", "ms", "d", "", "M", "H"]),
    ),
)
_free_text = st.one_of(
    st.text(max_size=16),
    _numberish,
    st.text(
        alphabet=st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp", "Mn", "Me", "So", "Nd", "No", "Nl", "Lo"]),
        max_size=8,
    ),
)
# One in fifty is huge: its last piece repeated up to ~20k characters (Slack's own limit is lower).
_huge_sizes = st.sampled_from([0] * 48 + [2_000, HUGE_CHARS])


def _command_text(prefix: str, before: str, free: str, after: str, separator: str, huge: int) -> str:
    text = separator.join(w for w in (prefix, before, free, after) if w)
    if huge:
        chunk = after or free or "x"
        text = (text + " " + chunk * (huge // len(chunk) + 1))[:huge]
    return text


# A subcommand prefix, hostile words around one free-form piece, joined by an odd separator.
command_texts = st.builds(
    _command_text, _prefixes, _nasty_or_nothing, _free_text, _nasty_or_nothing, _separators, _huge_sizes
)

# Where numbers are read: a subcommand and one odd number, nothing else.
number_texts = st.builds(
    "{} {}".format, st.sampled_from(["audit", "pause 8856", "pause 8856 5m", "resume", "allow", "revoke"]), _numberish
)


@settings(
    max_examples=1_500,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(text=st.one_of(command_texts, number_texts, st.text(max_size=60)))
def test_parse_command_never_raises_anything_but_a_parse_error_with_a_message(text: str) -> None:
    _assert_well_formed(text)


@pytest.mark.parametrize(
    "text",
    ["audit ²", "audit ①", "audit ٥٠", "audit 00000000000000000000050", "pause 8856 ²m x", "pause ８８５６ 5m x"],
)
def test_unusual_digits_are_refused_or_read_not_crashed_on(text: str) -> None:
    _assert_well_formed(text)


# -- through the running app -----------------------------------------------------------------------

APP_SAMPLES = 300
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|\b[A-Z]\w*(?:Error|Exception): ")
BROADCASTS = ("<!channel>", "<!here>", "<!everyone>", "<!subteam^")


def _random_command(rng: random.Random) -> str:
    """A seeded cousin of `command_texts`, usable outside hypothesis (the app fixtures are per test)."""

    def fragment() -> str:
        pick = rng.random()
        if pick < 0.55:
            return rng.choice(NASTY)
        if pick < 0.8:
            # Random code points from the whole range, minus surrogates (Slack sends UTF-8 only).
            ranges = [(0x20, 0x7F), (0xA0, 0xD800), (0xE000, 0x110000)]
            return "".join(chr(rng.randrange(*rng.choice(ranges))) for _ in range(rng.randrange(1, 12)))
        return f"{rng.randrange(-(10**9), 10**9)}{rng.choice(['s', 'm', 'h', 'min', ''])}"

    separator = rng.choice(SEPARATORS[:-2])
    text = separator.join([rng.choice(PREFIXES), *(fragment() for _ in range(rng.randrange(0, 7)))])
    if rng.randrange(50) == 0:
        text = (text + " " + fragment() * HUGE_CHARS)[:HUGE_CHARS]
    return text


def _samples() -> list[str]:
    rng = random.Random(20241124)
    found: list[str] = []
    while len(found) < APP_SAMPLES:
        text = _random_command(rng)
        # Leave out input that would itself look like a crash report when echoed back.
        if not re.search(r"error|exception|traceback|went wrong", text, re.IGNORECASE):
            found.append(text)
    return found


@pytest.mark.usefixtures("roles")
def test_hostile_commands_through_the_running_app_each_get_200_and_exactly_one_sane_reply(
    sender: SlackSender, slack: SimulatedSlack
) -> None:
    sent: dict[str, str] = {}
    by_trigger: dict[str, str] = {}
    for text in _samples():
        body = sender.command_body(text, user=AGENT)
        fields = parse_qs(body.decode())
        response_path = urlsplit(fields["response_url"][0]).path
        by_trigger[fields["trigger_id"][0]] = response_path
        started = time.perf_counter()
        response = sender.post(body)
        assert response.status_code == 200, (text[:80], response.status_code, response.text[:200])
        assert time.perf_counter() - started < 3, repr(text[:80])
        sent[response_path] = text

    def replies() -> Counter[str]:
        # A reply is a response_url post, or the pause form opened with the command's trigger ID.
        forms = [by_trigger.get(str(c.payload.get("trigger_id")), "") for c in slack.calls("views.open")]
        return Counter([r.path for r in slack.requests if r.path in sent] + [f for f in forms if f])

    deadline = time.monotonic() + 30
    while len(replies()) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # a second reply to any of them would arrive by now
    counted = replies()
    missing = [sent[path][:80] for path in sent if counted[path] == 0]
    doubled = [sent[path][:80] for path in sent if counted[path] > 1]
    assert missing == [], f"{len(missing)} commands got no reply, e.g. {missing[:3]!r}"
    assert doubled == [], f"{len(doubled)} commands got more than one reply, e.g. {doubled[:3]!r}"

    for call in slack.calls("response_url"):
        assert not TRACEBACK.search(call.rendered), call.rendered[:500]
        assert "Something went wrong" not in call.rendered, call.rendered[:500]
        assert call.text.strip(), "every reply has a plain-text fallback"
    # Nothing anyone typed reaches the channel as a live broadcast or mention of the whole team.
    public = [c for c in slack.calls("response_url") if c.payload.get("response_type") == "in_channel"]
    public += slack.calls("chat.postMessage") + slack.calls("chat.update")
    for call in public:
        assert not any(b in call.rendered for b in BROADCASTS), call.rendered[:500]


@pytest.mark.engines("sqlite")
@pytest.mark.parametrize("response_url", ["http://[not-an-address/hook", "https://hooks.example.com:99999/hook"])
def test_a_signed_command_whose_response_url_is_no_url_costs_one_log_line_and_keeps_its_audit_row(
    served: ServedBot, bot: RecordingBot, response_url: str, engine: str, caplog: pytest.LogCaptureFixture
) -> None:
    sender = SlackSender(base_url=served.url, signing_secret=SIGNING_SECRET, response_url_factory=lambda: response_url)
    try:
        with caplog.at_level(logging.INFO):
            assert sender.command("help", user=ADMIN).status_code == 200
            wait_until(lambda: audit_rows(bot, "command.help"), what="the help command's audit row")
            wait_until(lambda: _reply_failures(caplog), what="the reply's failure in the log")
    finally:
        sender.close()
    assert [r.getMessage() for r in _reply_failures(caplog)] == [
        "could not reach Slack to reply: SlackRequestError (the response_url is not a URL)"
    ]
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []


def _reply_failures(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("could not reach Slack to reply")]
