"""GET /metrics: every figure moves when its event happens, scraped over HTTP before and after; the token
and loopback rules; labels from fixed sets only (no user's text, ID or extension) and no secret."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import RecordingBot
from bot.metrics.tally import KINDS, OUTCOMES
from bot.models import RequestState
from bot.redaction import redactor
from bot.sandbox.simulators.recording_system import SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from bot.sandbox.simulators.slack_sender import command_body
from bot.serving.background import BackgroundWork
from bot.serving.dispatch import BoltDispatcher
from bot.serving.metrics_page import MetricsPage
from bot.serving.process import FrontLink
from tests.conftest import ADMIN, AGENT, LEAD, SECRETS, SIGNING_SECRET, ServedBot
from tests.support import web
from tests.support.pauses import click_card, wait_for_card, wait_for_state, wait_until
from tests.support.processes import BotProcess, procfile_environment
from tests.support.slack_requests import CHANNEL, TEAM, SlackSender
from tests.test_fault_database import locked
from tests.test_pause_flow import _approve, _ask
from tests.test_pause_schedule import _paused

METRICS_TOKEN = "SECRET-metrics-token-3e5b9c1d7a"
# What people typed: none of it may ever be a label.
TYPED = ("frobnicate", "hunter2-typed-word", "card number")

Page = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str, token: str | None = None) -> tuple[Page, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = web.get(url + "/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    page: Page = {}
    for family in text_string_to_metric_families(response.text):  # the library's own parser reads it whole
        for sample in family.samples:
            page[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return page, response.text


def value(page: Page, name: str, **labels: str) -> float:
    return page.get((name, frozenset(labels.items())), 0.0)


def moved(before: Page, after: Page, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def failed_calls(before: Page, after: Page, system: str, operation: str) -> float:
    """Calls to `system` for `operation` counted since `before` with any outcome but ok."""
    return sum(
        count - before.get(key, 0.0) for key, count in after.items()
        if key[0] == "recording_bot_upstream_calls_total" and ("system", system) in key[1]
        and ("operation", operation) in key[1] and ("outcome", "ok") not in key[1]
    )  # fmt: skip


def assert_clean(text: str, *also: str) -> None:
    """No secret, nothing anyone typed, no Slack ID and no extension anywhere on the page: in its names,
    labels and help texts (a sample's value is a number that may hold any digits, 1.0831885610041354)."""
    for secret in (*SECRETS, METRICS_TOKEN):
        assert secret not in text, secret[:8]
    words = "\n".join(line if line.startswith("#") else line.rpartition(" ")[0] for line in text.splitlines())
    for word in (*TYPED, TEAM, AGENT, LEAD, ADMIN, CHANNEL, "8856", "8857", *also):
        assert word not in words, word


@pytest.fixture(autouse=True)
def _metrics_token_is_a_secret() -> None:
    redactor.add(METRICS_TOKEN)


@pytest.mark.usefixtures("roles")
def test_a_pause_through_its_life_moves_every_figure_it_touches(
    served: ServedBot, bot: RecordingBot, sender: SlackSender, slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
) -> None:  # fmt: skip
    before, _ = scrape(served.url)
    assert sender.command("help", user=AGENT).status_code == 200
    assert sender.command("frobnicate hunter2-typed-word", user=AGENT).status_code == 200
    assert sender.command("settings 1001", user=AGENT).status_code == 200
    slack.wait_for_call("response_url", containing="1001")
    assert sender.command("pause", user=AGENT).status_code == 200  # the form: Bolt's own client opens it
    slack.wait_for_call("views.open")
    request_id = _paused(sender, slack, bot, "pause 8856 5m customer reads a card number")
    during, _ = scrape(served.url)
    assert value(during, "recording_bot_pauses_past_window") == 0

    # The automatic resume fails, and keeps failing past the window's end: the alert's gauge goes up.
    recording_system.fault = "http_500"
    served.clock.advance(minutes=5)
    wait_for_card(slack, "automatic resume failed")
    served.clock.advance(seconds=61)
    late, _ = scrape(served.url)
    assert value(late, "recording_bot_pauses_past_window") == 1
    assert failed_calls(before, late, "recording_system", "resume") >= 1
    recording_system.fault = None

    def resumed() -> bool:
        # Past the next retry, however far the retries have backed off (a pass may still fail meanwhile).
        served.clock.advance(minutes=5)
        request = bot.services.pauses.get(request_id)
        return request is not None and request.state is RequestState.RESUMED

    wait_until(resumed, timeout=10, what="the pause to be resumed once the recording system answers")
    wait_until(lambda: value(scrape(served.url)[0], "recording_bot_pause_requests_total",
                             transition="resumed_automatically") > value(before, "recording_bot_pause_requests_total",
                                                                         transition="resumed_automatically"),
               what="the automatic resume to be counted")  # fmt: skip
    after, text = scrape(served.url)

    assert value(after, "recording_bot_active_pauses") == 0
    assert value(after, "recording_bot_pauses_past_window") == 0
    assert moved(before, after, "recording_bot_commands_total", subcommand="help", outcome="ok") == 1
    assert moved(before, after, "recording_bot_commands_total", subcommand="unknown", outcome="ok") == 1
    assert moved(before, after, "recording_bot_commands_total", subcommand="pause", outcome="ok") == 2
    assert moved(before, after, "recording_bot_commands_total", subcommand="settings", outcome="ok") == 1
    for transition in ("asked", "approved", "resumed_automatically"):
        assert moved(before, after, "recording_bot_pause_requests_total", transition=transition) == 1, transition
    assert moved(before, after, "recording_bot_slack_requests_total", kind="command", outcome="acked") == 5
    assert moved(before, after, "recording_bot_slack_requests_total", kind="click", outcome="acked") == 1
    assert moved(before, after, "recording_bot_slack_ack_seconds_count", kind="command") == 5
    assert moved(before, after, "recording_bot_slack_ack_seconds_bucket", kind="command", le="3.0") == 5
    for system, operation in (("recording_system", "pause"), ("recording_system", "resume"),
                              ("slack", "chat.postMessage"), ("slack", "chat.update"), ("slack", "views.open"),
                              ("slack", "response_url")):
        ok = moved(before, after, "recording_bot_upstream_calls_total", system=system, operation=operation,
                   outcome="ok")  # fmt: skip
        assert ok >= 1, (system, operation)
        assert moved(before, after, "recording_bot_upstream_call_seconds_count", system=system,
                     operation=operation) >= ok  # fmt: skip
    webex = [k for k, v in after.items() if k[0] == "recording_bot_upstream_calls_total"
             and ("system", "webex") in k[1] and v > value(before, k[0], **dict(k[1]))]  # fmt: skip
    assert webex, "no Webex call was counted for /recording settings"
    # Labels from fixed sets only: what was typed, who typed it, where and which extension never show.
    assert_clean(text)
    for (name, labels), _count in after.items():
        if name == "recording_bot_slack_requests_total":
            assert dict(labels)["kind"] in KINDS and dict(labels)["outcome"] in OUTCOMES


@pytest.mark.engines("sqlite")
@pytest.mark.usefixtures("roles")
def test_each_end_of_a_request_is_counted_by_its_transition(
    served: ServedBot, bot: RecordingBot, sender: SlackSender, slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem, engine: str,
) -> None:  # fmt: skip
    before, _ = scrape(served.url)
    denied = _ask(sender, slack, "pause 8856 5m to deny")
    click_card(sender, slack, "recording_deny", denied, LEAD)
    wait_for_state(bot, denied, RequestState.DENIED)
    cancelled = _ask(sender, slack, "pause 8856 5m to cancel")
    sender.command(f"cancel {cancelled}", user=AGENT)
    wait_for_state(bot, cancelled, RequestState.CANCELLED)
    failed = _ask(sender, slack, "pause 8856 5m to fail")
    recording_system.fail_next("http_500")
    _approve(sender, slack, failed)
    wait_for_state(bot, failed, RequestState.FAILED)
    sender.command(f"cancel {failed}", user=AGENT)
    wait_for_state(bot, failed, RequestState.CANCELLED)
    expired = _ask(sender, slack, "pause 8856 5m to expire")
    served.clock.advance(minutes=10, seconds=1)
    wait_for_state(bot, expired, RequestState.EXPIRED)
    sender.command("breakglass 8857 5m an emergency", user=LEAD)
    slack.wait_for_call("chat.postMessage", containing="Break-glass")
    sender.command("resume 8857", user=LEAD)
    slack.wait_for_call("response_url", containing="resumed the recording")
    wait_until(lambda: not bot.services.pauses.open_requests(TEAM), what="every request to end")
    after, text = scrape(served.url)
    expected = {"asked": 4, "approved": 1, "denied": 1, "cancelled": 2, "failed": 1, "expired": 1,
                "break_glass": 1, "resumed_by_hand": 1, "resumed_automatically": 0}  # fmt: skip
    counted = {t: moved(before, after, "recording_bot_pause_requests_total", transition=t) for t in expected}
    assert counted == expected
    assert failed_calls(before, after, "recording_system", "pause") == 1
    assert_clean(text)


@pytest.mark.engines("sqlite")
@pytest.mark.usefixtures("roles")
def test_a_resume_held_in_memory_and_the_database_errors_are_counted(
    served: ServedBot, bot: RecordingBot, sender: SlackSender, slack: SimulatedSlack, engine: str
) -> None:
    _paused(sender, slack, bot)
    before, _ = scrape(served.url)
    with locked(served.config.database_path):
        sender.command("resume 8856", user=AGENT)
        slack.wait_for_call("response_url", containing="could not record that yet", timeout=10)
        held, _ = scrape(served.url)  # read while the writer is locked out (WAL: reads go on)
        assert value(held, "recording_bot_unwritten_resumes") == 1
        assert value(held, "recording_bot_active_pauses") == 1  # written as resumed only once it can be
    assert moved(before, held, "recording_bot_database_errors_total", engine="sqlite") >= 1
    wait_until(lambda: value(scrape(served.url)[0], "recording_bot_unwritten_resumes") == 0, timeout=10,
               what="the held resume to be written")  # fmt: skip
    after, _ = scrape(served.url)
    assert value(after, "recording_bot_active_pauses") == 0
    assert moved(before, after, "recording_bot_pause_requests_total", transition="resumed_by_hand") == 1


@pytest.mark.engines("sqlite")
@pytest.mark.usefixtures("roles")
def test_the_post_ack_queue_depth_and_busy_answers_are_counted(
    served: ServedBot, bot: RecordingBot, sender: SlackSender, slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem, engine: str,
) -> None:  # fmt: skip
    before, _ = scrape(served.url)
    # A pause approved while the recording system takes 1.5 s (past the bot's 1 s timeout): its work holds a
    # place in the queue meanwhile.
    request_id = _ask(sender, slack)
    recording_system.fail_next("slow")
    _approve(sender, slack, request_id)
    wait_until(lambda: value(scrape(served.url)[0], "recording_bot_work_queue_depth") >= 1,
               what="the approval's work to show in the queue")  # fmt: skip
    wait_for_state(bot, request_id, RequestState.FAILED, timeout=10)
    wait_until(lambda: value(scrape(served.url)[0], "recording_bot_work_queue_depth") == 0,
               what="the queue to empty")  # fmt: skip
    # A bot's process with no room left answers "busy" (as under `serve`, through its front's link).
    work = BackgroundWork(threads=1, max_pending=1)
    release = threading.Event()
    assert work.submit(lambda: release.wait(10))
    dispatcher = BoltDispatcher(bolt=bot.bolt, work=work, database=bot.database, first_delivery=lambda _: True)
    link = FrontLink(dispatcher=dispatcher, replies=bot.replies)
    body = command_body("help", user=ADMIN, response_url=slack.response_url(), team=TEAM, channel=CHANNEL).decode()
    try:
        link.handle({"op": "queue", "body": body, "headers": {}, "event_id": None})
        slack.wait_for_call("response_url", containing="busy")
    finally:
        release.set()
        link.close()
        work.shutdown()
    after, _ = scrape(served.url)
    assert moved(before, after, "recording_bot_busy_answers_total") == 1


@pytest.mark.engines("sqlite")
def test_with_metrics_token_the_page_needs_it_and_a_refusal_hints_at_nothing(
    start_bot: Callable[..., object],
) -> None:
    running = start_bot(metrics_token=METRICS_TOKEN)
    url = running.served.url  # type: ignore[attr-defined]
    refusals = [
        web.get(url + "/metrics"),
        web.get(url + "/metrics", headers={"Authorization": "Bearer wrong"}),
        web.get(url + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN[:-1]}"}),
        web.get(url + "/metrics", headers={"Authorization": f"Basic {METRICS_TOKEN}"}),
    ]
    assert {r.status_code for r in refusals} == {401}
    assert {r.text for r in refusals} == {'{"error": "unauthorized"}'}
    assert all(r.headers["www-authenticate"] == 'Bearer realm="metrics"' for r in refusals)
    page, text = scrape(url, token=METRICS_TOKEN)
    assert value(page, "recording_bot_active_pauses") == 0
    assert_clean(text)
    # With a token, a proxy in between is fine: the token is the rule.
    forwarded = web.get(url + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}",
                                                     "X-Forwarded-For": "203.0.113.7"})  # fmt: skip
    assert forwarded.status_code == 200


@pytest.mark.engines("sqlite")
def test_without_a_token_the_page_answers_only_on_loopback_and_never_through_a_proxy(served: ServedBot) -> None:
    scrape(served.url)
    forwarded = web.get(served.url + "/metrics", headers={"X-Forwarded-For": "203.0.113.7"})
    assert forwarded.status_code == 403
    assert "METRICS_TOKEN" in forwarded.json()["error"]
    page = MetricsPage(render=lambda: ("text/plain", b""))
    assert page.refusal({}, "127.0.0.1") is None and page.refusal({}, "::1") is None
    for peer in ("203.0.113.7", "10.0.0.5", "::ffff:198.51.100.1", "", "unix:/run/app.sock"):
        refused = page.refusal({}, peer)
        assert refused is not None and refused.status == 403, peer


def test_serve_shows_the_front_and_the_bot_process_in_one_scrape(
    tmp_path: Path, slack: SimulatedSlack, recording_system: SimulatedRecordingSystem
) -> None:
    environment = procfile_environment(tmp_path, slack, recording_system, METRICS_TOKEN=METRICS_TOKEN)
    server = BotProcess(env=environment, cwd=tmp_path, log_path=tmp_path / "serve.log")
    server.start()
    try:
        assert web.get(server.url + "/metrics").status_code == 401
        before, _ = scrape(server.url, token=METRICS_TOKEN)
        sender = SlackSender(
            base_url=server.url, signing_secret=SIGNING_SECRET, response_url_factory=slack.response_url
        )
        assert sender.command("help", user=ADMIN).status_code == 200
        assert sender.command("frobnicate", user=ADMIN, signature="v0=" + "0" * 64).status_code == 401
        slack.wait_for_call("response_url", containing="/recording pause", timeout=10)
        assert sender.command("breakglass 8856 5m hunter2-typed-word", user=ADMIN).status_code == 200
        wait_until(lambda: recording_system.mute_calls(), timeout=10, what="the break-glass MuteRecording")
        # The gauge moves once the bot has recorded the upstream's answer, a moment after the call itself.
        wait_until(
            lambda: value(scrape(server.url, token=METRICS_TOKEN)[0], "recording_bot_active_pauses") == 1,
            timeout=10, what="the pause to count as active",
        )  # fmt: skip
        assert sender.command("resume 8856", user=ADMIN).status_code == 200
        slack.wait_for_call("response_url", containing="resumed the recording", timeout=10)
        sender.close()

        def replied() -> bool:
            page = scrape(server.url, token=METRICS_TOKEN)[0]
            calls = "recording_bot_upstream_calls_total"
            return moved(before, page, calls, system="slack", operation="response_url", outcome="ok") == 3

        wait_until(replied, timeout=10, what="the reply to be counted")
        after, text = scrape(server.url, token=METRICS_TOKEN)
    finally:
        server.stop()
    # The front's counts (it acked) and the bot's process's (it ran the command and replied), in one page.
    assert moved(before, after, "recording_bot_slack_requests_total", kind="command", outcome="acked") == 3
    assert moved(before, after, "recording_bot_slack_requests_total", kind="unverified", outcome="refused") == 1
    assert moved(before, after, "recording_bot_slack_ack_seconds_count", kind="command") == 3
    for subcommand in ("help", "breakglass", "resume"):
        assert moved(before, after, "recording_bot_commands_total", subcommand=subcommand, outcome="ok") == 1
    for transition in ("break_glass", "resumed_by_hand"):
        assert moved(before, after, "recording_bot_pause_requests_total", transition=transition) == 1
    for operation in ("pause", "resume"):
        calls = "recording_bot_upstream_calls_total"
        assert moved(before, after, calls, system="recording_system", operation=operation, outcome="ok") == 1
    assert value(after, "recording_bot_active_pauses") == 0
    assert value(after, "process_resident_memory_bytes") > 0
    assert_clean(text)
