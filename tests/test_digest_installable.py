"""The daily digest in installable mode, over HTTP on the injected clock: each installed workspace gets its own
digest at the due time, in its own channel (DIGEST_CHANNEL's plain ID, or its `T…:C…` entry), posted and uploaded
with its own token, covering its own rows and ending with its own chain head; one per installation per day;
`/recording digest` posts the caller's installation's; `audit --verify --anchors-from-slack` reads every
installation's channel with that installation's token from the database."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.app import RecordingBot
from bot.blocks.digest import anchors_in
from bot.config import Config
from bot.sandbox.simulators.slack import Installer, SimulatedSlack, SlackCall
from bot.store.digests import DigestStore
from tests.conftest import SIGNING_SECRET, ServedBot
from tests.conftest import TestClock as SharedClock
from tests.support.cli import run_bot
from tests.support.pauses import wait_until
from tests.support.slack_requests import SlackSender
from tests.test_digest import CHART_SECONDS, _digest_settings, _expected_heads, _wait_for_a_quiet_audit
from tests.test_install import CLIENT_ID, CLIENT_SECRET, ENCRYPTION_KEY, STATE_SECRET, T1, T2, U1, U2, install

ALPHA_CHANNEL, BRAVO_CHANNEL = "C0COMPLIANCE", "C0BRAVODIGEST"


@pytest.fixture
def clock() -> SharedClock:
    return SharedClock()


@pytest.fixture
def served(make_config: Callable[..., Config], slack: SimulatedSlack, clock: SharedClock) -> Iterator[ServedBot]:
    """Installable mode with a digest three hours from the clock's start: Alpha's in the plain channel, Bravo's in
    its own (`T0BRAVO:C…`)."""
    slack.client_id, slack.client_secret = CLIENT_ID, CLIENT_SECRET
    settings, _due = _digest_settings(clock)
    settings["digest_channel"] = f"{ALPHA_CHANNEL},{T2}:{BRAVO_CHANNEL}"
    config = make_config(
        slack_bot_token=None, slack_client_id=CLIENT_ID, slack_client_secret=CLIENT_SECRET,
        slack_state_secret=STATE_SECRET, token_encryption_key=ENCRYPTION_KEY,
        slack_oauth_authorize_url=slack.authorize_url, bot_admins="", **settings,
    )  # fmt: skip
    served_bot = ServedBot(config, clock=clock).start()
    slack.redirect_url = f"{served_bot.url}/slack/oauth_redirect"
    yield served_bot
    served_bot.stop()


def _bot(served: ServedBot) -> RecordingBot:
    assert served.bot is not None
    return served.bot


def _digests(slack: SimulatedSlack) -> list[SlackCall]:
    return [c for c in slack.calls("chat.postMessage") if "Compliance digest of" in c.text]


def test_each_installation_gets_its_own_digest_with_its_own_token_channel_rows_and_chain_head(
    served: ServedBot, slack: SimulatedSlack, clock: SharedClock, tmp_path: Path
) -> None:
    install(served, slack, Installer(team_id=T1, user_id=U1, team_name="Alpha"))
    install(served, slack, Installer(team_id=T2, user_id=U2, team_name="Bravo"))
    (alpha_token,), (bravo_token,) = slack.tokens_of(T1), slack.tokens_of(T2)
    bot = _bot(served)
    _wait_for_a_quiet_audit(bot.database)
    assert _digests(slack) == []

    _settings, due = _digest_settings(clock)
    clock.advance(seconds=(due - clock()).total_seconds() + 1)
    found = wait_until(lambda: len(_digests(slack)) >= 2 and _digests(slack), timeout=CHART_SECONDS,
                       what="a digest for each installation")  # fmt: skip
    by_channel = {c.payload["channel"]: c for c in found}
    assert set(by_channel) == {ALPHA_CHANNEL, BRAVO_CHANNEL}
    alpha, bravo = by_channel[ALPHA_CHANNEL], by_channel[BRAVO_CHANNEL]
    assert (alpha.token, bravo.token) == (alpha_token, bravo_token)
    # Each ends with its own chain's head at the period's end, and no other workspace's.
    heads = {head.split(":")[0]: head for head in _expected_heads(bot.database, due)}
    assert anchors_in(alpha.rendered) == [heads[T1]] and anchors_in(bravo.rendered) == [heads[T2]]

    # The chart and the CSV of each, in its own thread, uploaded with its own token; each CSV its own rows.
    uploads = wait_until(lambda: len(slack.uploads()) >= 4 and slack.uploads(), timeout=CHART_SECONDS,
                         what="each digest's files")  # fmt: skip
    assert {(u.channel, u.filename[-3:]) for u in uploads} == {
        (ALPHA_CHANNEL, "png"), (ALPHA_CHANNEL, "csv"), (BRAVO_CHANNEL, "png"), (BRAVO_CHANNEL, "csv"),
    }  # fmt: skip
    completions = slack.calls("files.completeUploadExternal")
    assert {(c.payload.get("channel_id"), c.token) for c in completions} == {
        (ALPHA_CHANNEL, alpha_token), (BRAVO_CHANNEL, bravo_token),
    }  # fmt: skip
    for upload, team in ((u, T1 if u.channel == ALPHA_CHANNEL else T2) for u in uploads if u.filename.endswith("csv")):
        rows = list(csv.DictReader(io.StringIO(upload.content.decode("utf-8"))))
        assert rows and {row["team_id"] for row in rows} == {team}
        assert "installation.added" in {row["action"] for row in rows}

    # One per installation per day: another pass posts nothing, and each schedule records its post.
    bot.scheduler.tick()
    clock.advance(minutes=5)
    bot.scheduler.tick()
    assert len(_digests(slack)) == 2
    for team, channel in ((T1, ALPHA_CHANNEL), (T2, BRAVO_CHANNEL)):
        store = DigestStore(database=bot.database, scope=team)
        # Recorded as posted once its files are up (the last upload's answer may still be on its way back).
        posted = wait_until(lambda store=store: [r for r in store.all() if r.status == "posted"],
                            what=f"{team}'s digest recorded as posted")  # fmt: skip
        assert [(r.channel_id, r.problems) for r in posted] == [(channel, "")]
    # Single-workspace mode's table is left alone.
    assert DigestStore(database=bot.database).all() == []

    # The anchors each digest posted, read back with each installation's own token from the database.
    env = _cli_env(served.config, slack)
    histories = len(slack.calls("conversations.history"))
    checked = run_bot(["audit", "--verify", "--anchors-from-slack"], env=env, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"2 chain head(s) from the digests in {ALPHA_CHANNEL} ({T1}), {BRAVO_CHANNEL} ({T2})" in checked.stdout
    assert "intact" in checked.stdout
    read = slack.calls("conversations.history")[histories:]
    assert {(c.payload.get("channel"), c.token) for c in read} == {
        (ALPHA_CHANNEL, alpha_token), (BRAVO_CHANNEL, bravo_token),
    }  # fmt: skip
    # Without the key it says what to do, and reads nothing.
    refused = run_bot(["audit", "--verify", "--anchors-from-slack"], env={**env, "TOKEN_ENCRYPTION_KEY": ""},
                      cwd=tmp_path)  # fmt: skip
    assert refused.returncode != 0 and "TOKEN_ENCRYPTION_KEY" in refused.stderr


def test_recording_digest_posts_the_callers_installations_digest_with_its_token(
    served: ServedBot, slack: SimulatedSlack
) -> None:
    install(served, slack, Installer(team_id=T1, user_id=U1, team_name="Alpha"))
    install(served, slack, Installer(team_id=T2, user_id=U2, team_name="Bravo"))
    (bravo_token,) = slack.tokens_of(T2)
    bot = _bot(served)
    _wait_for_a_quiet_audit(bot.database)
    sender = SlackSender(base_url=served.url, signing_secret=SIGNING_SECRET, response_url_factory=slack.response_url)
    try:
        # The 24 hours that ended at the last DIGEST_TIME: before the installs, so no rows, but Bravo's own.
        assert sender.command("digest", user=U2, team=T2, channel="C0BRAVOOPS").status_code == 200
        (posted,) = wait_until(_digests_in(slack, "C0BRAVOOPS"), timeout=CHART_SECONDS, what="Bravo's digest")
    finally:
        sender.close()
    assert posted.token == bravo_token
    assert all(anchor.startswith(f"{T2}:") for anchor in anchors_in(posted.rendered))
    (row,) = wait_until(lambda: [r for r in bot.services.audit.recent(50) if r.action == "digest.posted"])
    assert row.team_id == T2


def _digests_in(slack: SimulatedSlack, channel: str) -> Callable[[], list[SlackCall]]:
    return lambda: [c for c in _digests(slack) if c.payload.get("channel") == channel]


def _cli_env(config: Config, slack: SimulatedSlack) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""), "SLACK_API_URL": slack.api_url, "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": CLIENT_SECRET, "SLACK_STATE_SECRET": STATE_SECRET,
        "TOKEN_ENCRYPTION_KEY": ENCRYPTION_KEY, "DIGEST_CHANNEL": f"{ALPHA_CHANNEL},{T2}:{BRAVO_CHANNEL}",
    }  # fmt: skip
    if config.database_url is not None:
        env["DATABASE_URL"] = config.database_url.get_secret_value()
    else:
        env["DATABASE_PATH"] = str(config.database_path)
    return env


@pytest.mark.engines("sqlite")
def test_digest_channel_names_one_channel_per_installation_only_in_installable_mode(
    make_config: Callable[..., Config],
) -> None:
    installable = make_config(
        slack_bot_token=None, slack_client_id=CLIENT_ID, slack_client_secret=CLIENT_SECRET,
        slack_state_secret=STATE_SECRET, token_encryption_key=ENCRYPTION_KEY,
        digest_channel=f" {ALPHA_CHANNEL} , {T2}:{BRAVO_CHANNEL},E0ORG:G0ORGDIGEST",
    )  # fmt: skip
    assert installable.consistency_problems() == []
    assert installable.digest_channel_for(T1) == ALPHA_CHANNEL  # the plain ID: every other installation's
    assert installable.digest_channel_for(T2) == BRAVO_CHANNEL
    assert installable.digest_channel_for("E0ORG") == "G0ORGDIGEST"
    only_own = make_config(
        slack_bot_token=None, slack_client_id=CLIENT_ID, slack_client_secret=CLIENT_SECRET,
        slack_state_secret=STATE_SECRET, token_encryption_key=ENCRYPTION_KEY, digest_channel=f"{T2}:{BRAVO_CHANNEL}",
    )  # fmt: skip
    assert only_own.digest_channel_for(T1) is None and only_own.digest_channel_for(T2) == BRAVO_CHANNEL
    # With SLACK_BOT_TOKEN there is one digest: one channel ID, said so in words.
    single = make_config(digest_channel=f"{T2}:{BRAVO_CHANNEL}")
    (problem,) = single.consistency_problems()
    assert "only installable mode reads" in problem and "DIGEST_CHANNEL=C012ABCDEF" in problem
    assert make_config(digest_channel=ALPHA_CHANNEL).consistency_problems() == []
    with pytest.raises(ValueError, match="before the colon goes a workspace"):
        make_config(digest_channel=f"{U1}:{ALPHA_CHANNEL}")
    with pytest.raises(ValueError, match="'T0BRAVO:#compliance' is not a Slack channel ID"):
        make_config(digest_channel=f"{ALPHA_CHANNEL},{T2}:#compliance")


@pytest.mark.engines("postgresql")
def test_two_instances_post_one_digest_per_installation(
    served: ServedBot, slack: SimulatedSlack, clock: SharedClock
) -> None:
    install(served, slack, Installer(team_id=T1, user_id=U1, team_name="Alpha"))
    install(served, slack, Installer(team_id=T2, user_id=U2, team_name="Bravo"))
    second = ServedBot(served.config, clock=clock).start()
    try:
        _wait_for_a_quiet_audit(_bot(served).database)
        _settings, due = _digest_settings(clock)
        clock.advance(seconds=(due - clock()).total_seconds() + 1)
        # Each instance's scheduler runs its pass: they race for each installation's claim of the day.
        for bot in (_bot(served), _bot(second)):
            bot.scheduler.tick()
        wait_until(lambda: len(slack.uploads()) >= 4, timeout=CHART_SECONDS, what="both digests' files")
        for bot in (_bot(served), _bot(second)):
            bot.scheduler.tick()
        assert sorted(c.payload["channel"] for c in _digests(slack)) == sorted([ALPHA_CHANNEL, BRAVO_CHANNEL])
        claims = {
            team: {r.claimed_by for r in DigestStore(database=_bot(served).database, scope=team).all() if r.claimed_by}
            for team in (T1, T2)
        }
        assert all(len(by) == 1 for by in claims.values()), claims
    finally:
        second.stop()
