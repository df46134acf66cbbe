"""The `/recording` parser: turns command text into a typed command, or a precise ParseError."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from bot.commands.settings_change import accepted, is_setting_word, read_settings
from bot.commands.types import (
    DEFAULT_AUDIT_ROWS,
    MAX_AUDIT_ROWS,
    MAX_LINE_QUERY_CHARS,
    MAX_REASON_CHARS,
    MIN_PAUSE_SECONDS,
    NO_GROUP,
    USAGE,
    Allow,
    BreakGlass,
    Cancel,
    ChooseSide,
    Command,
    ConfigureGroup,
    Extend,
    Help,
    Link,
    ListGroups,
    ListRequests,
    ListUsers,
    OpenPauseForm,
    ParseError,
    Resume,
    Revoke,
    SetLineSettings,
    ShowAudit,
    ShowDigest,
    ShowGroup,
    ShowSettings,
    Unlink,
)
from bot.models import Channels, PauseAsk, PauseLimits, RecordingTarget, Role, TargetKind
from bot.words import clean_input, closest_word, duration_seconds, format_duration, plain_text

_Parser = Callable[[list[str], "PauseLimits"], Command]

_MENTION = re.compile(r"^<@([UW][A-Z0-9]{2,30})(?:\|[^>]*)?>$")
_RAW_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")
_CHANNEL_MENTION = re.compile(r"^<#([CG][A-Z0-9]{2,30})(?:\|[^>]*)?>$")
_RAW_CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,30}$")
GROUP_NAME = re.compile(r"^[a-z0-9-]{1,30}$")
_REQUEST_ID = re.compile(r"^#?([0-9]{1,12})$")
_BARE_NUMBER = re.compile(r"[+-]?\d+")
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_DURATION_LIKE = re.compile(r"^[+-]?\d+(?:[.,]\d+)?[a-zA-Z]+$|^[+-]?(?:\d+[hHmMsS])+$")


def parse_command(text: str, limits: PauseLimits) -> Command:
    """Parse the text after `/recording`. Raises ParseError with a message meant for the user."""
    words = clean_input(text).split()
    if not words:
        return Help()
    name, args = words[0].lower(), words[1:]
    if name in ("help", "?", "-h", "--help"):
        return Help()
    parser = _PARSERS.get(name)
    if parser is None:
        # Decoded as Slack sent it (`&lt;` for `<`): every message escapes it once, so it shows as typed.
        # (A word that decodes to nothing, like `<>`, is shown as it came.)
        unknown = plain_text(words[0]).strip() or words[0]
        return Help(unknown_word=unknown[:40], suggestion=closest_word(name, USAGE))
    if name == "pause" and not args:
        return OpenPauseForm()
    return parser(args, limits)


def read_user_id(text: str) -> str | None:
    """A Slack user ID however it was typed outside Slack: `U012AB`, `@U012AB`, `<@U012AB|pat>`, any case."""
    word = text.strip()
    match = _MENTION.match(word.upper())
    if match:
        return match.group(1)
    word = word.removeprefix("@").upper()
    return word if _RAW_USER_ID.match(word) else None


def _parse_pause(args: list[str], limits: PauseLimits, subcommand: str = "pause") -> PauseAsk | ChooseSide:
    if not args:
        raise ParseError("Say which call to pause: an extension or a call ID.", subcommand=subcommand)
    target = parse_target(args[0], subcommand)
    duration: int | None = None
    channels: Channels | None = None
    side_word = ""
    rest = args[1:]
    # The duration and the channel choice may come in either order, before the reason.
    while rest:
        word = rest[0]
        if duration is None and (_DURATION_LIKE.match(word) or _BARE_NUMBER.fullmatch(word)):
            duration = parse_duration(word, limits, subcommand)
            side_word = ""
        elif channels is None and word.lower() in Channels.__members__.values():
            channels = Channels(word.lower())
            side_word = word
        else:
            break
        rest = rest[1:]
    seconds = duration if duration is not None else limits.default_seconds
    if side_word and side_word_opens_reason(rest):
        # `both is reading…`: both sides either way; the word stays in the reason.
        as_reason = PauseAsk(target, seconds, Channels.BOTH, parse_reason([side_word, *rest], subcommand))
        if channels is Channels.BOTH:
            return as_reason
        as_side = PauseAsk(target, seconds, channels or Channels.BOTH, parse_reason(rest, subcommand))
        return ChooseSide(subcommand=subcommand, side_only=as_side, both_sides=as_reason)
    reason = parse_reason(rest, subcommand)
    return PauseAsk(target=target, duration_seconds=seconds, channels=channels or Channels.BOTH, reason=reason)


# The words that make `caller …` read as a sentence about the caller rather than the side to pause: a verb
# or an auxiliary right after the side word (`caller is reading`, `callee has`, `caller reads`, `caller
# spelling out`). A reason that starts with a noun (`caller card number`) reads the word as the side.
_SENTENCE_VERBS = frozenset(
    {
        "is", "isn't", "was", "wasn't", "are", "were", "has", "hasn't", "had", "have", "will", "would", "can", "could",
        "may", "might", "must", "should", "shall", "does", "doesn't", "did", "didn't", "reads", "read", "says", "said",
        "gives", "gave", "spells", "spelled", "spelt", "shares", "shared", "tells", "told", "wants", "needs", "asks",
        "asked", "provides", "provided", "repeats", "repeated", "types", "typed", "enters", "entered", "dictates",
        "dictated",
    }
)  # fmt: skip


def side_word_opens_reason(rest: list[str]) -> bool:
    """Whether the words after a side word (`caller`, `callee`, `both`) read as a sentence about it: the next
    word is one of _SENTENCE_VERBS or ends in `-ing` (`reading`, `giving`). Then the bot asks which was meant."""
    if not rest:
        return False
    word = plain_text(rest[0]).strip().lower().strip(".,;:!?")
    return word in _SENTENCE_VERBS or (len(word) > 4 and word.endswith("ing"))


_REASON_NEEDED = "Give a reason{where}: it is shown to the approver and kept in the audit log."


def parse_reason(words: list[str], subcommand: str, *, where: str = " after the target and duration") -> str:
    """The reason in the user's words (made plain), or a ParseError when it is missing or too long."""
    reason = plain_text(" ".join(words)).strip()
    if not reason:
        raise ParseError(_REASON_NEEDED.format(where=where), subcommand=subcommand)
    if len(reason) > MAX_REASON_CHARS:
        raise ParseError(
            f"The reason is {len(reason)} characters long; keep it under {MAX_REASON_CHARS}.",
            subcommand=subcommand,
        )
    return reason


def parse_duration(word: str, limits: PauseLimits, subcommand: str = "pause") -> int:
    """How long, in seconds, from a word like `45s`, `5m` or `1h30m` within the limits; the typed command and
    the pause form read it alike. A ParseError says what is wrong (no unit, not a duration, too short or long)."""
    if _BARE_NUMBER.fullmatch(word):
        raise ParseError(f"`{_quote(word)}` needs a unit: write it like `90s`, `5m` or `1h`.", subcommand=subcommand)
    seconds = duration_seconds(word)
    longest = format_duration(limits.max_seconds)
    if seconds is None:
        raise ParseError(
            f"`{_quote(word)}` is not a duration: write it like `90s`, `5m` or `1h` "
            f"(from {MIN_PAUSE_SECONDS}s up to {longest}).",
            subcommand=subcommand,
        )
    if seconds < MIN_PAUSE_SECONDS:
        raise ParseError(
            f"A pause must last at least {MIN_PAUSE_SECONDS} seconds; `{_quote(word)}` is too short.",
            subcommand=subcommand,
        )
    if seconds > limits.max_seconds:
        raise ParseError(f"A pause can last at most {longest}; `{_quote(word)}` is too long.", subcommand=subcommand)
    return seconds


def parse_target(word: str, subcommand: str) -> RecordingTarget:
    """An extension or a call ID (or `me`), or a ParseError that says what a target looks like."""
    target = RecordingTarget.parse(word)
    if target is None:
        raise ParseError(
            f"`{_quote(word)}` is not an extension (2–20 digits, optional leading +) or a call ID "
            "(a GUID like 3f2b8c1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f).",
            subcommand=subcommand,
        )
    return target


def _parse_resume(args: list[str], limits: PauseLimits) -> Resume:
    if not args:
        raise ParseError("Say which call to resume: an extension or a call ID.", subcommand="resume")
    if len(args) > 1:
        raise ParseError("`resume` takes one target and nothing after it.", subcommand="resume")
    return Resume(target=parse_target(args[0], "resume"))


def _parse_settings(args: list[str], limits: PauseLimits) -> ShowSettings:
    private = bool(args) and args[-1].lower() == "private"
    if private:
        args = args[:-1]
    query = plain_text(" ".join(args)).strip()
    if not query:
        raise ParseError(
            "Say which line: an extension, a +E.164 number, a person's e-mail address, a person's, workspace's or "
            "virtual line's name, or a Webex ID.",
            subcommand="settings",
        )
    if len(query) > MAX_LINE_QUERY_CHARS:
        raise ParseError(f"That line name is too long (over {MAX_LINE_QUERY_CHARS} characters).", subcommand="settings")
    return ShowSettings(query=query, private=private)


def _parse_set(args: list[str], limits: PauseLimits) -> SetLineSettings:
    """`set <line> <setting>=<value> … <reason…>`: the line is every word before the first setting."""
    first = next((i for i, word in enumerate(args) if is_setting_word(word)), None)
    if first is None or first == 0:
        what = "Say which line first" if first == 0 else "Say what to change"
        raise ParseError(
            f"{what}: `set <line> <setting>=<value> … <reason…>`. The settings are: {accepted()}.", subcommand="set"
        )
    line = plain_text(" ".join(args[:first])).strip()
    if len(line) > MAX_LINE_QUERY_CHARS:
        raise ParseError(f"That line name is too long (over {MAX_LINE_QUERY_CHARS} characters).", subcommand="set")
    rest = args[first:]
    last = next((i for i, word in enumerate(rest) if not is_setting_word(word)), len(rest))
    settings = read_settings(rest[:last])
    reason = parse_reason(rest[last:], "set", where=" after the settings")
    return SetLineSettings(line=line, settings=settings, reason=reason)


def _parse_user(word: str, subcommand: str) -> str:
    match = _MENTION.match(word)
    if match:
        return match.group(1)
    if _RAW_USER_ID.match(word):
        return word
    raise ParseError(f"`{_quote(word)}` is not a Slack user: mention them with @, e.g. @pat.", subcommand=subcommand)


def _parse_allow(args: list[str], limits: PauseLimits) -> Allow:
    if len(args) not in (2, 3):
        raise ParseError(
            "`allow` needs a user and a role (requester, approver or admin), and optionally a group (or `-` for none).",
            subcommand="allow",
        )
    user_id = _parse_user(args[0], "allow")
    try:
        role = Role(args[1].lower())
    except ValueError:
        raise ParseError(
            f"`{_quote(args[1])}` is not a role: use requester, approver or admin.", subcommand="allow"
        ) from None
    if len(args) == 2:
        return Allow(user_id=user_id, role=role)
    if args[2] == "-":
        return Allow(user_id=user_id, role=role, group=NO_GROUP)
    return Allow(user_id=user_id, role=role, group=_group_name(args[2], "allow"))


def _group_name(word: str, subcommand: str) -> str:
    name = word.lower()
    if not GROUP_NAME.match(name) or name.strip("-") == "":
        raise ParseError(
            f"`{_quote(word)}` is not a group name: use 1–30 lowercase letters, digits or dashes, e.g. `sales` "
            "or `floor-2`.",
            subcommand=subcommand,
        )
    return name


def _parse_group(args: list[str], limits: PauseLimits) -> ShowGroup | ConfigureGroup:
    if not args:
        raise ParseError("Say which group, e.g. `/recording group sales`; `/recording groups` lists them.",
                         subcommand="group")  # fmt: skip
    name = _group_name(args[0], "group")
    rest = args[1:]
    if not rest:
        return ShowGroup(name=name)
    channel_id: str | None = None
    approvals: int | None = None
    while rest:
        setting, value = rest[0].lower(), rest[1] if len(rest) > 1 else None
        if setting == "channel" and value is not None and channel_id is None:
            channel_id = "" if value == "-" else _parse_channel(value)
        elif setting == "approvals" and value is not None and approvals is None:
            if value not in ("1", "2"):
                raise ParseError(
                    f"`{_quote(value)}` is not a number of approvals: use 1, or 2 for two different approvers "
                    "(four eyes).",
                    subcommand="group",
                )
            approvals = int(value)
        else:
            raise ParseError(
                f"`{_quote(' '.join(rest[:2]))}` is not a group setting: use `channel #channel` (or `channel -`) and "
                "`approvals 1` or `approvals 2`.",
                subcommand="group",
            )
        rest = rest[2:]
    return ConfigureGroup(name=name, channel_id=channel_id, approvals=approvals)


def _parse_channel(word: str) -> str:
    match = _CHANNEL_MENTION.match(word)
    if match:
        return match.group(1)
    if _RAW_CHANNEL_ID.match(word):
        return word
    raise ParseError(f"`{_quote(word)}` is not a channel: name it with #, e.g. #sales-approvals.", subcommand="group")


def _request_id(word: str, subcommand: str) -> int:
    match = _REQUEST_ID.match(word)
    if not match:
        raise ParseError(f"`{_quote(word)}` is not a request ID: use the number on the card, e.g. `12` or `#12`.",
                         subcommand=subcommand)  # fmt: skip
    return int(match.group(1))


def _parse_cancel(args: list[str], limits: PauseLimits) -> Cancel:
    if len(args) != 1:
        raise ParseError("`cancel` needs the request's ID, e.g. `/recording cancel 12`.", subcommand="cancel")
    return Cancel(request_id=_request_id(args[0], "cancel"))


def _parse_extend(args: list[str], limits: PauseLimits) -> Extend:
    if len(args) < 2:
        raise ParseError(
            "`extend` needs the pause (its extension, call ID or #ID), how much longer, and a reason.",
            subcommand="extend",
        )
    target: RecordingTarget | None = None
    request_id: int | None = None
    if args[0].startswith("#"):
        request_id = _request_id(args[0], "extend")
    else:
        target = parse_target(args[0], "extend")
    if not _DURATION_LIKE.match(args[1]):
        raise ParseError(
            f"`{_quote(args[1])}` is not a duration: say how much longer, like `5m` or `90s`.", subcommand="extend"
        )
    seconds = parse_duration(args[1], limits, "extend")
    return Extend(target=target, request_id=request_id, seconds=seconds, reason=parse_reason(args[2:], "extend"))


def _parse_link(args: list[str], limits: PauseLimits) -> Link:
    if len(args) not in (1, 2):
        raise ParseError("`link` needs your extension (an admin may name a user first).", subcommand="link")
    user_id = _parse_user(args[0], "link") if len(args) == 2 else None
    word = args[-1]
    target = RecordingTarget.parse(word)
    if target is None or target.kind is not TargetKind.EXTENSION:
        raise ParseError(f"`{_quote(word)}` is not an extension: 2–20 digits, optional leading +.", subcommand="link")
    return Link(extension=target.value, user_id=user_id)


def _parse_unlink(args: list[str], limits: PauseLimits) -> Unlink:
    if len(args) > 1:
        raise ParseError("`unlink` takes at most one user.", subcommand="unlink")
    return Unlink(user_id=_parse_user(args[0], "unlink") if args else None)


def _parse_breakglass(args: list[str], limits: PauseLimits) -> BreakGlass | ChooseSide:
    ask = _parse_pause(args, limits, "breakglass")
    return ask if isinstance(ask, ChooseSide) else BreakGlass(ask=ask)


def _parse_revoke(args: list[str], limits: PauseLimits) -> Revoke:
    if len(args) != 1:
        raise ParseError("`revoke` needs exactly one user.", subcommand="revoke")
    return Revoke(user_id=_parse_user(args[0], "revoke"))


MAX_PAGE = 1000


def _parse_page_only(command: type[ListRequests | ListUsers | ListGroups], name: str) -> _Parser:
    def parse(args: list[str], limits: PauseLimits) -> Command:
        rest, page = _take_page(args, name)
        if rest:
            raise ParseError(
                f"`{name}` takes nothing but an optional page number, e.g. `{name} page 2`.", subcommand=name
            )
        return command(page=page)

    return parse


def _take_page(args: list[str], subcommand: str) -> tuple[list[str], int]:
    """`page P` anywhere among the words: (the other words, P); page 1 when it is not given."""
    lowered = [word.lower() for word in args]
    if "page" not in lowered:
        return args, 1
    at = lowered.index("page")
    word = args[at + 1] if at + 1 < len(args) else ""
    # isdigit() alone also accepts digits int() cannot read ("²", "①"); only ASCII digits are a number here.
    if not (word.isascii() and word.isdigit()) or not 1 <= int(word[:6]) <= MAX_PAGE:
        raise ParseError(
            f"`page` needs a page number from 1 to {MAX_PAGE}, e.g. `{subcommand} page 2`.", subcommand=subcommand
        )
    return args[:at] + args[at + 2 :], int(word)


def _parse_audit(args: list[str], limits: PauseLimits) -> ShowAudit:
    breakglass = any(word.lower() == "breakglass" for word in args)
    changes = any(word.lower() == "changes" for word in args)
    numbers = [word for word in args if word.lower() not in ("breakglass", "changes")]
    if breakglass and changes:
        raise ParseError("`audit` takes `breakglass` or `changes`, not both.", subcommand="audit")
    if not numbers:
        return ShowAudit(rows=DEFAULT_AUDIT_ROWS, breakglass_only=breakglass, changes_only=changes)
    # isdigit() alone also accepts digits int() cannot read ("²", "①"); only ASCII digits are a number here.
    word = numbers[0]
    if len(numbers) > 1 or not (word.isascii() and word.isdigit()) or not 1 <= int(word[:6]) <= MAX_AUDIT_ROWS:
        raise ParseError(
            f"`audit` takes one number of entries, from 1 to {MAX_AUDIT_ROWS}, and optionally `breakglass` "
            "or `changes`.",
            subcommand="audit",
        )
    return ShowAudit(rows=int(word), breakglass_only=breakglass, changes_only=changes)


def _parse_digest(args: list[str], limits: PauseLimits) -> ShowDigest:
    if not args:
        return ShowDigest()
    example = USAGE["digest"][1]
    if len(args) > 1:
        raise ParseError(f"`digest` takes one date at most, as YYYY-MM-DD, e.g. `{example}`.", subcommand="digest")
    try:
        day = date.fromisoformat(args[0]) if _ISO_DATE.match(args[0]) else None
    except ValueError:
        day = None
    if day is None:
        raise ParseError(
            f"`{_quote(args[0])}` is not a date: type it as YYYY-MM-DD, e.g. `{example}` (the digest posted that day).",
            subcommand="digest",
        )
    return ShowDigest(day)


def _quote(word: str) -> str:
    """A user's word as typed (Slack's escaping decoded: the message escapes it once), shortened and
    stripped of backticks so it sits safely in inline code."""
    word = (plain_text(word).strip() or word).replace("`", "'")
    return word if len(word) <= 40 else word[:39] + "…"


_PARSERS: dict[str, _Parser] = {
    "pause": _parse_pause,
    "resume": _parse_resume,
    "requests": _parse_page_only(ListRequests, "requests"),
    "settings": _parse_settings,
    "allow": _parse_allow,
    "revoke": _parse_revoke,
    "users": _parse_page_only(ListUsers, "users"),
    "audit": _parse_audit,
    "digest": _parse_digest,
    "cancel": _parse_cancel,
    "extend": _parse_extend,
    "breakglass": _parse_breakglass,
    "group": _parse_group,
    "groups": _parse_page_only(ListGroups, "groups"),
    "link": _parse_link,
    "unlink": _parse_unlink,
    "set": _parse_set,
}

# Every subcommand's name (the metrics count commands by these, and by `unknown`).
SUBCOMMAND_NAMES: frozenset[str] = frozenset({"help", *_PARSERS})
