"""What a person types into the console: lines (typed, piped or from `-c`), their `#` comments, and the
mentions typed as in Slack (`@U0NEWBIE`, `#sales-approvals`), turned into what Slack would send."""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Mapping
from typing import TextIO

from bot.blocks.text import escape
from bot.sandbox import console_render


class ConsoleInput:
    """Lines typed (or piped) into the console, after those of a `-c` script; a form's answers come from here too."""

    def __init__(self, stream: TextIO, out: TextIO, *, interactive: bool, script: list[str] | None = None) -> None:
        self._stream = stream
        self._out = out
        self._interactive = interactive
        self._script = list(script or [])
        self._editing = interactive and _line_editing(stream, out)

    def read(self, prompt: str) -> str | None:
        """The next line (without its newline and its comment), or None at the end of the input."""
        if self._script:
            line = self._script.pop(0)
            self._out.write(f"{prompt}{line}\n")
            return without_comment(line)
        if self._editing:
            # input() edits the line with readline: ←/→, ↑/↓ through earlier lines, as in a shell.
            try:
                return without_comment(input(prompt))
            except EOFError:
                self._out.write("\n")
                return None
        if self._interactive:
            self._out.write(prompt)
            self._out.flush()
        line = self._stream.readline()
        if not line:
            return None
        if not self._interactive:
            # Piped input is not shown by a terminal: echo it, so the output reads as a transcript.
            self._out.write(f"{prompt}{line.rstrip(chr(10))}\n")
        return without_comment(line.rstrip("\n"))


def _line_editing(stream: TextIO, out: TextIO) -> bool:
    """Whether the lines are typed at a terminal and edited with readline (where the platform has it:
    not on Windows). Imported only then: importing readline is what gives input() its line editing."""
    if stream is not sys.stdin or out is not sys.stdout or not stream.isatty():
        return False
    try:
        import readline  # noqa: F401
    except ImportError:
        return False
    return True


# A comment as in a shell: `#` after whitespace (or first on the line), then whitespace or the line's end.
# `#sales-approvals` (a channel) and `approve #1` (a request) are words, not comments.
_COMMENT = re.compile(r"(?:^|\s)#(?=\s|$)")


def without_comment(line: str) -> str:
    """The line without its `# comment`; the README's demo lines carry one."""
    match = _COMMENT.search(line)
    return line[: match.start()].rstrip() if match else line


def split_script(text: str) -> list[str]:
    """`-c "line; line"` → lines (semicolons separate, quotes respected)."""
    lexer = shlex.shlex(text, posix=False)
    # `#` starts a request number (`approve #1`), not a comment that would swallow the lines after it.
    lexer.commenters = ""
    lexer.whitespace = ";"
    lexer.whitespace_split = True
    return [part.strip() for part in lexer if part.strip()]



# A mention as a person types it: `@…` or `#…` at the start of a word. A pasted `<@U…>` is Slack's already.
_TYPED_MENTION = re.compile(r"(?<!\S)([@#])([^\s<>@#]+)")
_TRAILING_PUNCTUATION = ",.;:!?)"
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,30}")
# Slack's channel names: lower case letters, digits, `-` and `_`; one letter at least (`#12` is a request).
_CHANNEL_NAME = re.compile(r"(?=[a-z0-9_-]*[a-z])[a-z0-9][a-z0-9_-]{0,79}")


class TypedMentions:
    """`@U0NEWBIE`, `@pat` and `#sales-approvals` as a person types them, turned into what Slack sends
    for them (the app's manifest sets should_escape): `<@U0NEWBIE>`, `<@U…|pat>`, `<#C…|sales-approvals>`.
    Slack knows its workspace's names; the console knows its own channels (CHANNEL_NAMES) and, in the
    demo, makes up a user or a channel for a name it has not met (a group's `channel #name`)."""

    def __init__(self, *, invent: bool, channels: Mapping[str, str] | None = None) -> None:
        self._invent = invent
        self._users: dict[str, str] = {}  # name → the user ID made up for it
        # The console's own channels (ID → `#name`); those made up later are this instance's alone.
        self._channels = {shown.lstrip("#"): channel for channel, shown in (channels or {}).items()}

    def as_slack_sends(self, text: str) -> tuple[str, list[str]]:
        """The text with its typed mentions as Slack escapes them, and a note for each name made up or
        left as typed."""
        notes: list[str] = []

        def replaced(match: re.Match[str]) -> str:
            sigil, word = match.group(1), match.group(2)
            name = word.rstrip(_TRAILING_PUNCTUATION)
            tail = word[len(name) :]
            before = text[: match.start()].split()
            after_channel = bool(before) and before[-1].lower() == "channel"
            token = self._user(name, notes) if sigil == "@" else self._channel(name, notes, wanted=after_channel)
            return (token + tail) if token else match.group(0)

        return _TYPED_MENTION.sub(replaced, text), notes

    def _user(self, name: str, notes: list[str]) -> str | None:
        # An ID as typed (`@U0NEWBIE`, or `@u0newbie`: IDs have digits, names seldom do).
        if _USER_ID.fullmatch(name.upper()) and (name.isupper() or any(c.isdigit() for c in name)):
            return f"<@{name.upper()}>"
        if not name or name.lower() in ("here", "channel", "everyone"):
            return None
        known = self._users.get(name.lower())
        if known is None and self._invent:
            known = _made_up_id("U0", name, taken=set(self._users.values()))
            self._users[name.lower()] = known
            notes.append(f"(@{name} is a new user of the demo's Slack, {known}: `as {known}` acts as them)")
        if known is None:
            notes.append(f"(`@{name}` is sent as typed: this console knows no Slack names; type the member ID, "
                         "e.g. `@U012ABCDEF`)")  # fmt: skip
            return None
        return f"<@{known}|{name}>"

    def _channel(self, name: str, notes: list[str], *, wanted: bool) -> str | None:
        if _CHANNEL_ID.fullmatch(name):
            return f"<#{name}>"
        known = self._channels.get(name.lower())
        # Only where a channel is meant: `card #4` in a reason is text.
        if known is None and wanted and _CHANNEL_NAME.fullmatch(name.lower()):
            if not self._invent:
                notes.append(f"(`#{name}` is sent as typed: this console knows no Slack channel names; type the "
                             "channel's ID, e.g. `#C0123ABCDEF`)")  # fmt: skip
                return None
            # Unlike this console's own channels only: another console in the same process (the tests run
            # many) may have made up the same name, and gets the same ID for it.
            known = _made_up_id("C0", name, taken=set(self._channels.values()))
            self._channels[name.lower()] = known
            console_render.CHANNEL_NAMES[known] = f"#{name.lower()}"  # how the console shows it
            notes.append(f"(#{name.lower()} is a new channel of the demo's Slack, {known})")
        return f"<#{known}|{name.lower()}>" if known else None


def _made_up_id(prefix: str, name: str, *, taken: set[str]) -> str:
    """A Slack-like ID that reads as the name (`pat` → `U0PAT`), unlike every ID already taken."""
    stem = (prefix + "".join(c for c in name.upper() if c.isalnum()))[:28]
    made, n = stem, 1
    while made in taken or len(made) < 3:
        n += 1
        made = f"{stem}{n}"
    return made


# What Slack leaves as typed in a command's text: mentions, channel links and special tokens.
_SLACK_TOKEN = re.compile(r"(<[@#!][^<>\s]+>)")


def slack_escaped(text: str) -> str:
    """Typed text as Slack delivers it: `&`, `<` and `>` escaped, except inside the tokens Slack makes."""
    return "".join(part if _SLACK_TOKEN.fullmatch(part) else escape(part) for part in _SLACK_TOKEN.split(text))
