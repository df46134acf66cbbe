"""Messages that never hide or mangle anything: text escaped once (user text only), long lists over pages
that say how many more there are, one time format, durations and targets in plain words."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.app import RecordingBot
from bot.blocks.allow_list import users_message
from bot.blocks.kit import ListRow, paged, shorten
from bot.blocks.pause_answers import already_decided_message, cancelled_message, open_requests_message
from bot.blocks.pauses import (
    approval_card,
    breakglass_notice,
    decider_notice,
    ended_notice,
    outcome_for_requester,
    reminder_notice,
    request_received,
)
from bot.commands.parser import parse_command
from bot.commands.types import ListGroups, ListRequests, ListUsers, ParseError, ShowAudit
from bot.models import (
    AllowListEntry,
    Approval,
    Channels,
    Invocation,
    PauseAsk,
    PauseLimits,
    PauseRequest,
    RecordingTarget,
    RequestKind,
    RequestState,
    Role,
    SlackUser,
    TargetKind,
)
from bot.sandbox.console_render import mrkdwn_to_text
from bot.sandbox.simulators.slack import SimulatedSlack, SlackCall
from bot.words import format_duration
from tests.conftest import ADMIN, AGENT, LEAD
from tests.support.pauses import posted_card, wait_until
from tests.support.slack_requests import CHANNEL, TEAM, SlackSender

LIMITS = PauseLimits(default_seconds=600, max_seconds=1800)
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
_DATE_TOKEN = re.compile(r"<!date\^(\d+)\^([^|>]*)\|([^>]*)>")


# -- what every message must be ----------------------------------------------------------------------


def mrkdwn_texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every mrkdwn string in the blocks: section texts, fields and context elements."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return found


def assert_nothing_cut(text: str) -> None:
    """No code span left open, no Slack token or entity cut in half."""
    assert text.count("`") % 2 == 0, f"a code span is cut: …{text[-80:]!r}"
    assert re.search(r"<[^<>]*(<|$)", text) is None, f"a <…> token is cut: …{text[-80:]!r}"
    assert re.search(r"<(?![@#!]|https?://|mailto:)", text) is None, f"a raw < that is no Slack token: {text!r}"
    assert re.search(r"&(?!amp;|lt;|gt;)", text) is None, f"a bare or cut entity: …{text[-80:]!r}"


def assert_escaped_once(text: str) -> None:
    for doubled in ("&amp;amp;", "&amp;lt;", "&amp;gt;", "&lt;@", "&lt;!date", "&lt;#C"):
        assert doubled not in text, f"{doubled!r} in {text[:300]!r}"


def assert_sane(call: SlackCall) -> None:
    for text in [call.text, *mrkdwn_texts(call.blocks)]:
        assert_escaped_once(text)
        assert_nothing_cut(text)
        assert len(text) <= 3000
    assert len(call.blocks) <= (100 if call.method == "views.publish" else 50)
    for _, date_format, fallback in _DATE_TOKEN.findall(call.text + "\n".join(mrkdwn_texts(call.blocks))):
        # One format everywhere: each reader's own zone in Slack, UTC named in the fallback; to the second
        # for a window under an hour.
        assert date_format in ("{date_short_pretty} {time}", "{date_short_pretty} {time_secs}")
        seconds = ":\\d\\d" if date_format.endswith("{time_secs}") else ""
        assert re.fullmatch(rf"\d{{4}}-\d\d-\d\d \d\d:\d\d{seconds} UTC", fallback)


def reply(slack: SimulatedSlack, containing: str) -> SlackCall:
    return slack.wait_for_call("response_url", containing=containing)[-1]


def later_reply(slack: SimulatedSlack, seen: int, containing: str) -> SlackCall:
    """The first response_url post after the first `seen` that contains `containing`."""

    def found() -> SlackCall | None:
        calls = [c for c in slack.calls("response_url")[seen:] if containing in c.rendered]
        return calls[0] if calls else None

    call: SlackCall = wait_until(found, what=f"a reply containing {containing!r}")
    return call


def invocation(user: str) -> Invocation:
    return Invocation(user=SlackUser(team_id=TEAM, user_id=user), channel_id=CHANNEL, request_id=f"seed-{user}")


# -- escaping -----------------------------------------------------------------------------------------


@pytest.mark.usefixtures("roles")
def test_webex_names_and_reasons_are_escaped_once_and_the_bots_own_tokens_stay_raw(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    # The R&D lab is named "R&D <Lab> <!channel>" in Webex.
    sender.command("settings 1006", user=AGENT)
    settings = reply(slack, "Call recording")
    assert "R&amp;D &lt;Lab&gt; &lt;!channel&gt;" in settings.text
    assert "R&amp;D &lt;Lab&gt; &lt;!channel&gt;" in settings.rendered

    # Slack sends a command's &, < and > escaped; the reason is stored as typed and escaped once per message.
    sender.command("pause 8856 5m R&amp;D &lt;Ops&gt; said 5 &lt; 6 &amp; co", user=AGENT)
    card = wait_until(lambda: slack.calls("chat.postMessage") and posted_card(slack), what="the card")
    card_call = slack.wait_for_call("chat.postMessage", containing="Pause request #")[0]
    # The reason on the card is plain text: shown exactly as typed, with nothing to escape or format.
    assert "R&D <Ops> said 5 < 6 & co" in [f["text"] for b in card_call.blocks for f in b.get("fields", [])]
    assert all("R&D <Ops>" not in text for text in mrkdwn_texts(card_call.blocks))
    assert card_call.text.startswith("Pause request #1 for extension `8856`: waiting for approval (requested by ")
    assert f"<@{AGENT}>" in card_call.text  # a mention Slack turns into a name, in the fallback too
    assert any(_DATE_TOKEN.search(text) for text in mrkdwn_texts(card["blocks"]))

    sender.command("allow <@U0NEWBIE|newbie> requester", user=ADMIN)
    allowed = reply(slack, "now allowed")
    assert "<@U0NEWBIE> is now allowed as requester" in allowed.text
    sender.command("link <@U0NEWBIE> 4321", user=ADMIN)
    assert reply(slack, "is linked to").text == "<@U0NEWBIE> is linked to extension `4321`."
    for command in ("requests", "users", "groups", "audit 50", "help", "&lt;b&gt;frob &lt;!here&gt;"):
        sender.command(command, user=ADMIN)
    sender.command("pause &lt;b&gt; x", user=ADMIN)
    wait_until(lambda: len(slack.calls("response_url")) >= 11, what="every reply")

    for call in slack.calls():
        if call.method in ("response_url", "chat.postMessage", "chat.update", "views.publish"):
            assert_sane(call)
    # A word Slack sent escaped is shown as typed: escaped once, not twice.
    assert "Unknown subcommand `&lt;b&gt;frob`" in reply(slack, "know the subcommand").text
    assert "`&lt;b&gt;` is not an extension" in reply(slack, "is not an extension").text


def test_every_card_and_note_in_every_state_escapes_user_text_once_and_keeps_tokens_whole() -> None:
    nasty = "R&D <Ops> `tick` <!channel> <@U0EVIL> <https://evil.example|x>"
    for kind in RequestKind:
        for state in RequestState:
            request = _request(
                9,
                state,
                kind=kind,
                reason=nasty,
                error=nasty,
                group_name="floor-a",
                extends_id=3 if kind is RequestKind.EXTENSION else None,
                decided_by=LEAD,
                decided_at=NOW,
                resume_at=NOW + timedelta(minutes=5),
                resumed_at=NOW,
                resumed_by=LEAD,
                cancelled_by=AGENT,
                approvals_needed=2,
                approvals=(Approval(approver_id=LEAD, at=NOW),),
                card_channel_id="C0CARDS",
            )
            messages = [
                approval_card(request, approval_minutes=1),
                outcome_for_requester(request),
                request_received(request, "https://example.slack.com/archives/C0CARDS/p1"),
                decider_notice(request, None),
                reminder_notice(request),
                ended_notice(request),
                breakglass_notice(request, None),
                already_decided_message(request),
                cancelled_message(request),
                open_requests_message([request], now=NOW),
            ]
            for message in messages:
                for text in [message.text, *mrkdwn_texts(message.blocks)]:
                    # The user's `<@U0EVIL>` shows as typed (`&lt;@U0EVIL&gt;`); nothing is escaped twice.
                    assert "&amp;amp;" not in text and "&amp;lt;" not in text and "&amp;gt;" not in text
                    assert "&lt;@U0LEAD" not in text and "&lt;@U0AGENT" not in text and "&lt;!date" not in text
                    assert_nothing_cut(text)
                    assert "<!channel>" not in text and "<@U0EVIL>" not in text
                    assert "1 minutes" not in text


# -- long lists ---------------------------------------------------------------------------------------


@pytest.mark.usefixtures("roles")
def test_audit_200_shows_every_row_under_a_heading_that_counts_them(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    for number in range(230):
        bot.services.audit.record(invocation(AGENT), action="command.pause", outcome="ok", target=f"row-{number:03d}")

    sender.command("audit 200", user=LEAD)
    answer = reply(slack, "Audit log")

    assert_sane(answer)
    shown = set(re.findall(r"row-(\d{3})", "\n".join(mrkdwn_texts(answer.blocks))))
    assert shown == {f"{n:03d}" for n in range(30, 230)}
    assert "*Audit log* — newest 200 entries" in answer.rendered
    assert "more on the next page" not in answer.rendered


@pytest.mark.usefixtures("roles")
def test_audit_200_of_the_longest_rows_still_shows_every_row_without_cutting_one(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    # Escaped text takes up to four times its length: the rows are bounded so that 200 always fit.
    for number in range(200):
        bot.services.audit.record(
            invocation(AGENT), action="note." + "<" * 500, outcome="<&>" * 50, target=f"T{number:03d}" + "<`&" * 500
        )

    sender.command("audit 200", user=LEAD)
    answer = reply(slack, "Audit log")

    assert_sane(answer)
    shown = set(re.findall(r"`T(\d{3})", "\n".join(mrkdwn_texts(answer.blocks))))
    assert shown == {f"{n:03d}" for n in range(200)}
    assert "*Audit log* — newest 200 entries" in answer.rendered
    assert answer.text == "Audit log — newest 200 entries"


@pytest.mark.usefixtures("roles")
def test_requests_with_60_pending_shows_every_one_to_the_approvers(
    sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot
) -> None:
    asked = []
    for number in range(60):
        ask = PauseAsk(
            target=RecordingTarget(TargetKind.EXTENSION, str(7000 + number)),
            duration_seconds=300,
            channels=Channels.BOTH,
            reason=f"card number {number} read out <&>",
        )
        asked.append(bot.services.pauses.request_pause(invocation(AGENT), ask).request.id)

    sender.command("requests", user=LEAD)
    answer = reply(slack, "Pending approval")

    assert_sane(answer)
    listed = [int(n) for n in re.findall(r"• #(\d+) ", "\n".join(mrkdwn_texts(answer.blocks)))]
    assert sorted(listed) == sorted(asked)
    assert "*Pending approval* (60)" in answer.rendered
    assert answer.text == "Open requests: 60 pending approval."

    seen = len(slack.calls("response_url"))
    sender.command("requests page 2", user=LEAD)
    assert "There is no page 2: the list has 1." in later_reply(slack, seen, "no page 2").rendered


def test_users_with_400_people_lists_everyone(sender: SlackSender, slack: SimulatedSlack, bot: RecordingBot) -> None:
    people = [f"U0PERSON{number:03d}" for number in range(400)]
    for user_id in people:
        bot.services.authorizer.set_role(TEAM, user_id, Role.REQUESTER, source="test")

    sender.command("users", user=ADMIN)
    answer = reply(slack, "Allow-list")

    assert_sane(answer)
    listed = re.findall(r"<@(U0PERSON\d{3})>", "\n".join(mrkdwn_texts(answer.blocks)))
    assert sorted(listed) == people
    assert "*Allow-list* — 401 people" in answer.rendered
    assert "*Requesters* (400)" in answer.rendered
    assert answer.text == "Allow-list — 401 people: 1 admin, 400 requesters."


def test_a_list_longer_than_a_message_goes_over_pages_without_losing_or_cutting_a_row() -> None:
    entries = [
        AllowListEntry(
            team_id=TEAM,
            user_id=f"U0P{number:05d}",
            role=Role.REQUESTER if number % 7 else Role.APPROVER,
            added_by="test",
            added_at=NOW,
            group_name=f"group-{number % 13}",
        )
        for number in range(6000)
    ]
    links = {entry.user_id: f"+1408555{number:04d}" for number, entry in enumerate(entries) if number % 3 == 0}
    pages = []
    page_number = 1
    while True:
        message = users_message(entries, links, page=page_number)
        pages.append(message)
        assert len(message.blocks) <= 50
        for text in mrkdwn_texts(message.blocks):
            assert len(text) <= 3000
            assert_nothing_cut(text)
        rendered = "\n".join(mrkdwn_texts(message.blocks))
        if f"`/recording users page {page_number + 1}`" not in rendered:
            break
        assert "`recording-bot users list` on the server" in rendered
        page_number += 1
    assert page_number > 1
    listed = [m for message in pages for m in re.findall(r"<@(U0P\d{5})>", "\n".join(mrkdwn_texts(message.blocks)))]
    assert sorted(listed) == sorted(entry.user_id for entry in entries)
    # A page that starts inside a part of the list names the part again; a phone number is not an extension.
    assert "*Requesters* (5142) (continued)" in "\n".join(mrkdwn_texts(pages[-1].blocks))
    assert "phone number `+14085550000`" in "\n".join(mrkdwn_texts(pages[0].blocks))
    past_the_end = users_message(entries, links, page=page_number + 1)
    assert f"There is no page {page_number + 1}: the list has {page_number}." in str(past_the_end.blocks)


def test_the_requests_list_over_pages_keeps_each_part_and_every_request() -> None:
    requests = [
        _request(number, RequestState.PENDING if number % 4 else RequestState.FAILED, error="x&<" * 200)
        for number in range(1, 1201)
    ]
    ids: list[int] = []
    page = 1
    while True:
        message = open_requests_message(requests, now=NOW, page=page)
        texts = mrkdwn_texts(message.blocks)
        assert len(message.blocks) <= 50
        for text in texts:
            assert_nothing_cut(text)
        ids += [int(n) for n in re.findall(r"• #(\d+) ", "\n".join(texts))]
        if "`/recording requests page" not in "\n".join(texts):
            break
        page += 1
    assert sorted(ids) == list(range(1, 1201))
    assert page > 1


def test_a_row_too_long_for_a_section_is_shortened_outside_any_code_span_or_token() -> None:
    row = "• " + " ".join(f"<@U{n:08d}> `code {n}` &amp;" for n in range(300))
    page = paged([ListRow(row, part="*Part*")], page=1, max_sections=5)
    (section,) = page.blocks
    text = section["text"]["text"]
    assert len(text) <= 3000 and text.endswith("…")
    assert_nothing_cut(text)
    for limit in range(1, 120):
        assert_nothing_cut(shorten("a `b c` <@U1> &amp; `d` <!date^1^{time}|x> e", limit))


# -- time, durations, targets -------------------------------------------------------------------------


def test_an_approval_stamp_shows_each_reader_their_own_time() -> None:
    request = _request(5, RequestState.PENDING, approvals_needed=2, approvals=(Approval(approver_id=LEAD, at=NOW),))
    card = approval_card(request, approval_minutes=10)
    stamp = f"<!date^{int(NOW.timestamp())}^{{date_short_pretty}} {{time}}|2026-03-01 09:00 UTC>"
    assert f"1 of 2 approvals: <@{LEAD}>, {stamp}" in str(card.blocks)


def test_the_console_shows_a_slack_time_in_the_local_zone_with_the_zone_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Europe/Paris")
    time.tzset()
    try:
        token = f"<!date^{int(NOW.timestamp())}^{{date_short_pretty}} {{time}}|2026-03-01 09:00 UTC>"
        assert mrkdwn_to_text(f"paused until {token}") == "paused until 2026-03-01 10:00 CET"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (1, "1 second"), (30, "30 seconds"), (60, "1 minute"), (120, "2 minutes"), (90, "1 minute 30 seconds"),
        (3600, "1 hour"), (5400, "1 hour 30 minutes"), (7260, "2 hours 1 minute"), (0, "0 seconds"),
    ],
)  # fmt: skip
def test_durations_are_words_with_the_right_plural(seconds: int, words: str) -> None:
    assert format_duration(seconds) == words


def test_an_expired_card_says_1_minute_not_1_minutes() -> None:
    card = approval_card(_request(3, RequestState.EXPIRED), approval_minutes=1)
    assert "nobody decided within 1 minute." in str(card.blocks)
    card = approval_card(_request(3, RequestState.EXPIRED), approval_minutes=1.5)
    assert "nobody decided within 1 minute 30 seconds." in str(card.blocks)


@pytest.mark.usefixtures("roles")
@pytest.mark.parametrize(
    ("target", "words"),
    [
        ("8856", "extension `8856`"),
        ("+14085551234", "phone number `+14085551234`"),
        ("14085551234", "phone number `14085551234`"),
        ("3f2b8c1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f", "call ID `3f2b8c1e-1a2b-4c3d-8e9f-0a1b2c3d4e5f`"),
    ],
)
def test_a_card_calls_the_target_what_it_is(
    sender: SlackSender, slack: SimulatedSlack, target: str, words: str
) -> None:
    sender.command(f"pause {target} 5m card read out", user=AGENT)
    card = slack.wait_for_call("chat.postMessage", containing="Pause request #")[0]
    assert f"recording on {words}" in card.rendered
    assert card.text.startswith(f"Pause request #1 for {words}:")


# -- the grammar of pages -----------------------------------------------------------------------------


def test_lists_take_a_page_number() -> None:
    assert parse_command("requests page 2", LIMITS) == ListRequests(page=2)
    assert parse_command("users page 3", LIMITS) == ListUsers(page=3)
    assert parse_command("groups", LIMITS) == ListGroups(page=1)
    # `audit` shows at most 200 entries, and 200 always fit one message: it needs no pages.
    assert parse_command("audit 200 breakglass", LIMITS) == ShowAudit(rows=200, breakglass_only=True)
    for bad in ("requests page", "users page 0", "requests page two", "groups page 99999"):
        with pytest.raises(ParseError, match="page number from 1 to"):
            parse_command(bad, LIMITS)


# -- helpers ------------------------------------------------------------------------------------------


def _request(number: int, state: RequestState, **fields: Any) -> PauseRequest:
    values: dict[str, Any] = {
        "id": number,
        "team_id": TEAM,
        "channel_id": CHANNEL,
        "requester_id": AGENT,
        "target": RecordingTarget(TargetKind.EXTENSION, str(7000 + number)),
        "channels": Channels.BOTH,
        "duration_seconds": 300,
        "reason": "card <read> & out",
        "state": state,
        "created_at": NOW,
        "expires_at": NOW + timedelta(minutes=10),
        "group_name": "floor-a",
    }
    values.update(fields)
    return PauseRequest(**values)
