"""The /recording grammar, read as the spec: what each input becomes, and what each mistake says."""

from __future__ import annotations

import pytest

from bot.commands.parser import parse_command
from bot.commands.types import Allow, Help, ListRequests, ListUsers, ParseError, Resume, Revoke, ShowAudit, ShowSettings
from bot.models import Channels, PauseAsk, PauseLimits, RecordingTarget, Role, TargetKind
from bot.words import plain_text

LIMITS = PauseLimits(default_seconds=600, max_seconds=1800)
CALL_ID = "3f2b8c1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f"


def parse(text: str) -> object:
    return parse_command(text, LIMITS)


def error_of(text: str) -> str:
    with pytest.raises(ParseError) as caught:
        parse(text)
    return caught.value.message


def test_help_forms() -> None:
    assert parse("") == Help()
    assert parse("   ") == Help()
    assert parse("help") == Help()
    assert parse("HELP") == Help()
    assert parse("wat now") == Help(unknown_word="wat")


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("paus 8856 5m card", "pause"), ("Resme 8856", "resume"), ("sttings 1000", "settings"), ("alow @pat", "allow"),
     ("request", "requests"), ("breakglas 8856 card", "breakglass")],
)  # fmt: skip
def test_a_near_miss_subcommand_names_the_one_meant(typed: str, meant: str) -> None:
    word = typed.split()[0]
    assert parse(typed) == Help(unknown_word=word, suggestion=meant)


def test_a_word_far_from_every_subcommand_suggests_nothing() -> None:
    assert parse("banana 8856") == Help(unknown_word="banana", suggestion=None)


def test_pause_with_every_part() -> None:
    assert parse("pause 8856 5m caller customer is reading out a card number") == PauseAsk(
        target=RecordingTarget(TargetKind.EXTENSION, "8856"),
        duration_seconds=300,
        channels=Channels.CALLER,
        reason="customer is reading out a card number",
    )


def test_pause_defaults_duration_and_channels() -> None:
    command = parse("pause +14085551234 card number")
    assert isinstance(command, PauseAsk)
    assert command.duration_seconds == 600
    assert command.channels is Channels.BOTH
    assert command.target == RecordingTarget(TargetKind.EXTENSION, "+14085551234")


def test_pause_by_call_id_and_channel_before_duration() -> None:
    command = parse(f"pause {CALL_ID.upper()} callee 90s reading card")
    assert command == PauseAsk(RecordingTarget(TargetKind.CALL_ID, CALL_ID), 90, Channels.CALLEE, "reading card")


@pytest.mark.parametrize(("word", "seconds"), [("10s", 10), ("90s", 90), ("5m", 300), ("1h", 3600), ("20min", 1200)])
def test_duration_forms(word: str, seconds: int) -> None:
    limits = PauseLimits(default_seconds=600, max_seconds=3600)
    command = parse_command(f"pause 8856 {word} reason", limits)
    assert isinstance(command, PauseAsk) and command.duration_seconds == seconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("breakglass", "Say which call to pause"),
        ("pause 8856", "Give a reason"),
        ("pause 8856 5m", "Give a reason"),
        ("pause 1 reason", "`1` is not an extension"),
        ("pause abc reason", "`abc` is not an extension"),
        ("pause 123456789012345678901 reason", "is not an extension"),
        ("pause 8856 0m reason", "at least 10 seconds"),
        ("pause 8856 -5m reason", "at least 10 seconds"),
        ("pause 8856 5s reason", "at least 10 seconds"),
        ("pause 8856 31m reason", "at most 30 minutes"),
        ("pause 8856 2h reason", "at most 30 minutes"),
        ("pause 8856 5x reason", "`5x` is not a duration"),
        ("pause 8856 90 reason", "`90` needs a unit"),
        ("pause 8856 5m " + "x" * 501, "keep it under 500"),
    ],
)
def test_pause_mistakes_say_what_was_wrong(text: str, expected: str) -> None:
    assert expected in error_of(text)


def test_pause_mistakes_carry_the_example() -> None:
    with pytest.raises(ParseError) as caught:
        parse("pause 8856")
    assert caught.value.example == "/recording pause 8856 5m customer is reading out a card number"


def test_duration_word_is_never_read_as_reason() -> None:
    assert "at most" in error_of("pause 8856 45m long call")


def test_reason_is_stored_as_plain_text() -> None:
    command = parse("pause 8856 5m <!channel> said &lt;card&gt; to <@U0PAT|pat>")
    assert isinstance(command, PauseAsk)
    assert command.reason == "@channel said <card> to @pat"


def test_control_characters_are_removed() -> None:
    command = parse("pause 8856 5m card\x00number\u202e\x1b[31m")
    assert isinstance(command, PauseAsk)
    assert "\x00" not in command.reason and "\u202e" not in command.reason and "\x1b" not in command.reason


def test_resume_requests_settings() -> None:
    assert parse("resume 8856") == Resume(RecordingTarget(TargetKind.EXTENSION, "8856"))
    assert "one target" in error_of("resume 8856 now")
    assert "Say which call to resume" in error_of("resume")
    assert parse("requests") == ListRequests()
    assert parse("settings Ada Lovelace") == ShowSettings(query="Ada Lovelace", private=False)
    assert parse("settings 8856 private") == ShowSettings(query="8856", private=True)
    assert "Say which line: an extension, a +E.164 number, a person's e-mail address" in error_of("settings private")


def test_admin_subcommands() -> None:
    assert parse("allow <@U012ABCDEF|pat> approver") == Allow("U012ABCDEF", Role.APPROVER)
    assert parse("allow <@U012ABCDEF> ADMIN") == Allow("U012ABCDEF", Role.ADMIN)
    assert parse("revoke <@U012ABCDEF>") == Revoke("U012ABCDEF")
    assert "not a Slack user" in error_of("allow pat approver")
    assert "not a role" in error_of("allow <@U012ABCDEF> boss")
    assert "needs a user and a role" in error_of("allow <@U012ABCDEF>")
    assert parse("users") == ListUsers()
    assert "takes nothing but an optional page number" in error_of("users all")
    assert parse("audit") == ShowAudit(rows=20)
    assert parse("audit 50") == ShowAudit(rows=50)
    assert "from 1 to 200" in error_of("audit 0")
    assert "from 1 to 200" in error_of("audit lots")


def test_plain_text_of_slack_entities() -> None:
    assert plain_text("<#C123|ops> <https://x.example|site> &amp;") == "#ops site &"


def test_pause_alone_asks_for_the_form_and_me_is_a_target() -> None:
    from bot.commands.types import Link, OpenPauseForm, Unlink
    from bot.models import MY_CALL

    assert parse("pause") == OpenPauseForm()
    assert parse("PAUSE") == OpenPauseForm()
    command = parse("pause me 5m card number")
    assert isinstance(command, PauseAsk) and command.target == MY_CALL
    assert parse("link 8856") == Link(extension="8856")
    assert parse("link <@U0PAT|pat> 8856") == Link(extension="8856", user_id="U0PAT")
    assert parse("unlink") == Unlink()
    with pytest.raises(ParseError, match="is not an extension"):
        parse("link me")
