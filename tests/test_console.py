"""`recording-bot console`: the whole approval flow typed into a terminal, with nothing configured."""

from __future__ import annotations

import os
from pathlib import Path

from bot.commands.types import USAGE
from bot.sandbox.simulators.recording_system import DEMO_CALLS, SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from bot.sandbox.simulators.webex import SimulatedWebex, default_lines
from tests.conftest import BOT_TOKEN, RECORDER_API_KEY, RECORDER_PASSWORD, RECORDER_USER, SIGNING_SECRET
from tests.support.cli import run_bot


def _console(
    *args: str, stdin: str, env: dict[str, str] | None = None, cwd: Path | None = None, process: bool = False
) -> str:
    """`recording-bot console ARGS` fed `stdin`: in this process unless `process` is set (tests/support/cli.py)."""
    environment = {"PATH": os.environ.get("PATH", ""), **(env or {})}
    result = run_bot(
        ["console", *args], env=environment, cwd=cwd or Path.cwd(), stdin=stdin, process=process, timeout=90
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_demo_walks_through_request_approval_automatic_resume_and_settings() -> None:
    # The README's demo as a user runs it: its own process, lines piped in.
    out = _console(
        "--demo",
        process=True,
        stdin="\n".join(
            [
                "/recording pause 8856 10s customer is reading out a card number",
                "as U0DEMOLEAD",
                "approve 1",
                "/recording requests",
                "wait 11",
                "settings 1000",
                "settings jane.doe@example.com",
                "settings Front Desk",
                "pause 1000 1m reading card",
                "whoami",
                "quit",
            ]
        ),
    )
    assert "You are U0DEMOADMIN (admin)" in out
    assert "[Approve: type `approve 1`]" in out
    assert "Approved by @U0DEMOLEAD" in out and "Recording paused until" in out
    assert "[DM to D0DEMOADMIN]" in out and "was approved by @U0DEMOLEAD" in out
    assert "Active pauses (1)" in out
    assert "resumed automatically at" in out
    assert "Main Reception" in out and "Mode: Always" in out
    assert "Call recording — Person: Jane Doe (ext. 4001" in out and "What this person may do" in out
    assert "Workspace: Front Desk" in out and "Virtual line: Front Desk" in out and "[Show: type `show " in out
    assert "pause/resume is not available on this line" in out  # the card's Webex warning
    assert "you are U0DEMOLEAD (approver)" in out
    assert "<@" not in out and "<!date" not in out  # Slack markup is rendered, not shown raw


def test_demo_shows_a_group_request_routed_to_its_approvals_channel() -> None:
    out = _console(
        "--demo",
        "-c",
        "as U0DEMOAGENT; pause 8856 1m card; as U0DEMOLEAD; approve 1; breakglass 8857 1m emergency; quit",
        stdin="",
    )
    assert "[#approvals-floor-a]" in out and "Group: `floor-a`" in out
    assert "[DM to D0DEMOLEAD]" in out
    assert "asks to pause the recording on extension `8856` (both sides) for 1 minute" in out
    assert "waiting for an approver in #approvals-floor-a" in out
    assert "[#approvals-floor-a · card updated]" in out and "Approved by @U0DEMOLEAD" in out
    assert "BREAK-GLASS pause #2" in out and "[Resume now: type `resume-now 2`]" in out
    assert "[DM to D0DEMOADMIN]" in out and "broke glass" in out


def test_demo_refuses_self_approval_like_slack_would() -> None:
    out = _console("--demo", "-c", "pause 8857 1m card; approve 1; quit", stdin="")
    assert "another approver must decide on your own request" in out


def test_console_on_a_configured_deployment_uses_its_database_and_upstreams(
    tmp_path: Path, recording_system: SimulatedRecordingSystem, webex: SimulatedWebex, slack: SimulatedSlack
) -> None:
    env = {
        "DATABASE_PATH": str(tmp_path / "prod.db"),
        "MEDIA_REPOSITORY_URL": recording_system.url,
        "MEDIA_REPOSITORY_API_KEY": RECORDER_API_KEY,
        "MEDIA_REPOSITORY_USERNAME": RECORDER_USER,
        "MEDIA_REPOSITORY_PASSWORD": RECORDER_PASSWORD,
        "WEBEX_API_URL": webex.base_url,
        "WEBEX_ACCESS_TOKEN": "sim-webex-access-token-0001",
        "BOT_ADMINS": "U0OPS",
        # The deployment's Slack settings: the console must answer in the terminal instead.
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
    }
    out = _console("--as", "U0OPS", "--team", "T0PROD", "-c", "resume 8856; settings 1002; quit", stdin="", env=env)
    assert "@U0OPS sent a resume for the recording on extension `8856`" in out
    assert "Sales Queue" in out
    (call,) = recording_system.mute_calls()
    assert (call["extension"], call["mute"]) == ("8856", "0")
    assert slack.requests == []  # the deployment's Slack is never contacted
    audit = run_bot(
        ["audit", "--format", "csv", "--user", "U0OPS"],
        env={"PATH": os.environ.get("PATH", ""), "DATABASE_PATH": str(tmp_path / "prod.db")},
        cwd=tmp_path,
    )
    assert "command.resume" in audit.stdout and "command.settings" in audit.stdout


def test_console_without_a_user_says_what_to_pass(tmp_path: Path) -> None:
    result = run_bot(
        ["console"], env={"PATH": os.environ.get("PATH", ""), "DATABASE_PATH": str(tmp_path / "x.db")}, cwd=tmp_path
    )
    assert result.returncode == 2
    assert "--as" in result.stderr and "--demo" in result.stderr


def test_demo_fills_the_pause_form_line_by_line_and_shows_the_home_tab() -> None:
    out = _console(
        "--demo",
        stdin="\n".join(
            [
                "as U0DEMOAGENT",
                "/recording pause",
                "me",  # the agent's extension, found through Slack's e-mail and Webex
                "7",  # no unit: the bot's error (the typed command's words), then asked again
                "",  # both sides, the default
                "",  # no reason: the bot's error, then asked again
                "5m",  # read as the typed command reads it
                "card number read out",
                "home",
                "as U0DEMOLEAD",
                "home",
                "quit",
            ]
        ),
    )
    assert "[form: Pause a recording]" in out
    assert "⚠ For how long:" in out and "needs a unit: write it like" in out
    assert "⚠ Reason: Give a reason: it is shown to the approver" in out
    assert "(form sent)" in out
    assert "Pause request #1 — recording on extension `8856`" in out and "(@U0DEMOAGENT)" in out
    assert "[your Home tab]" in out and "#1 extension `8856` (@U0DEMOAGENT) — waiting for approval" in out
    assert "Waiting for your decision (1)" in out and "[Approve: type `approve 1`]" in out


def test_demo_form_can_be_cancelled_and_nothing_is_asked() -> None:
    out = _console("--demo", "-c", "pause; 8856; cancel; requests; quit", stdin="")
    assert "(form closed; nothing was sent)" in out
    assert "Pause request #" not in out


def test_the_help_texts_own_settings_example_works_in_the_demo() -> None:
    example = USAGE["settings"][1]
    out = _console("--demo", "-c", f"{example}; quit", stdin="")
    answer = out.split(example, 1)[1]
    assert "Call recording — Person: Demo Agent (ext. 8856" in answer
    assert "No virtual line" not in answer


def test_demo_banner_lists_every_call_and_line_it_simulates() -> None:
    out = _console("--demo", "-c", "quit", stdin="")
    banner = " ".join(out.split("U0DEMOADMIN>", 1)[0].split())
    for _call_id, parties in DEMO_CALLS:
        for party in parties:
            assert party in banner, party
    assert "8860 (2 calls: use the call ID)" in banner
    for line in default_lines():
        assert f" {line.extension} (" in banner, line.extension
    assert "1001 (2 lines: pick one)" in banner and "8856 (person Demo Agent, Always with Pause/Resume)" in banner
    assert "4001 (person Jane Doe" in banner and "5003 (workspace Trading room 3, Always)" in banner


def test_console_says_what_a_line_lacks_and_which_word_was_meant() -> None:
    out = _console(
        "--demo",
        "--as",
        "@u0demoagent",
        "-c",
        "pause 8856 1m card; as; as <@U0DEMOLEAD>; approve; aprove 1; approve #1; paus 8857 1m card; wait x; "
        "wait 0.2; quit",
        stdin="",
    )
    assert "U0DEMOAGENT> pause 8856 1m card" in out  # --as took the @ form
    assert "`as` needs one Slack user ID, e.g. `as U0DEMOLEAD`" in out
    assert "now acting as U0DEMOLEAD" in out
    assert "`approve` needs the request's number from its card, e.g. `approve 1`" in out
    assert "`aprove` is not a console command; did you mean `approve`?" in out
    assert "Approved by @U0DEMOLEAD" in out  # `approve #1`
    # The bot's own answer in Slack, through the grammar: the subcommand a near miss meant.
    assert "I don't know the subcommand `paus`. Did you mean `pause`?" in out
    assert "`wait` takes a number of seconds, e.g. `wait 21`" in out
    assert "(waiting 0.2 s; what the bot does meanwhile shows here)" in out


def test_typed_text_reaches_the_bot_escaped_as_slack_sends_it() -> None:
    script = "/recording pause 8857 1m caller reads a card & <number>; /recording allow <@U0NEW> requester; quit"
    out = _console("--demo", "-c", script, stdin="")
    assert "caller reads a card & <number>" in out  # not swallowed as a Slack token
    assert "@U0NEW is now allowed as requester" in out  # a typed mention stays a mention


def test_the_side_question_is_answered_in_the_console_by_its_words() -> None:
    out = _console(
        "--demo",
        "-c",
        "as U0DEMOAGENT; pause 8857 2m caller is reading a card; side-only; both-sides; quit",
        stdin="",
    )
    assert "[Only the caller's side: type `side-only`]" in out and "[Both sides: type `both-sides`]" in out
    assert "Pause request #1 for extension `8857` (the caller's side only) is waiting" in out
    # A second answer to the same question makes no second request: the line has one waiting already.
    assert "8857 already has pause request #1 waiting for approval" in out and "Pause request #2" not in out


def test_demo_walks_through_one_settings_change() -> None:
    out = _console(
        "--demo", "-c",
        "as U0DEMOLEAD; set jane.doe@example.com mode=on-demand agents start it; as U0DEMOADMIN; approve-change 1; "
        "audit changes; quit",
        stdin="",
    )  # fmt: skip
    assert "Settings change #1 for Person: Jane Doe: waiting for approval" in out
    assert "Mode: Always with Pause/Resume → On Demand with User Initiated Start" in out
    assert "[Approve: type `approve-change 1`]" in out and "[Undo: type `undo-change 1`]" in out
    assert "Changed in Webex, approved by @U0DEMOADMIN" in out
    assert "change.applied `Jane Doe: mode pause-resume→on-demand`" in out


def test_the_help_texts_own_set_example_asks_for_a_change_in_the_demo() -> None:
    example = USAGE["set"][1]
    out = _console("--demo", "-c", f"as U0DEMOLEAD; {example}; quit", stdin="")
    assert "Settings change #1 for Person: Demo Agent: waiting for approval" in out.split(example, 1)[1]


def test_org_demo_decides_from_another_workspace_and_refuses_one_the_install_leaves_out() -> None:
    out = _console(
        "--demo",
        "--org",
        "-c",
        "as U0DEMOAGENT; pause 8856 1m card; as U0DEMOLEAD; in T0DEMOB; approve 1; in T0DEMOC; requests; "
        "as U0DEMOADMIN; in T0DEMO; users; quit",
        stdin="",
    )
    assert "installed org-wide in organisation E0DEMOORG" in out
    assert "U0DEMOLEAD@T0DEMOB> approve 1" in out and "Approved by @U0DEMOLEAD" in out
    assert "installed for your organisation, but not for this workspace (T0DEMOC)" in out
    assert "@U0DEMOLEAD (workspace `T0DEMOB`) — floor-a" in out


def test_installable_demo_installs_two_workspaces_through_oauth_and_answers_each_with_its_own_token() -> None:
    out = _console(
        "--demo",
        "--installable",
        "-c",
        "as U0DEMOAGENT; pause 8856 1m customer reads a card; as U0DEMOLEAD; approve 1; whoami; in T0DEMOB; "
        "requests; as U0BRAVOADMIN; home; whoami; quit",
        stdin="",
    )
    # Both installs went through /slack/install, Slack's authorize page and /slack/oauth_redirect.
    assert "Installed through /slack/oauth_redirect: recording-bot is installed in the workspace Demo Alpha " \
        "(T0DEMO), by U0DEMOADMIN." in out  # fmt: skip
    assert "the workspace Demo Bravo (T0DEMOB), by U0BRAVOADMIN." in out
    # Asked and approved in T0DEMO by its lead: card, DMs and card update all with T0DEMO's own token.
    asked = out.split("U0DEMOAGENT@T0DEMO> pause 8856", 1)[1].split("U0DEMOAGENT@T0DEMO> as U0DEMOLEAD", 1)[0]
    assert "[#approvals-floor-a · with T0DEMO's token]" in asked and "Pause request #1" in asked
    assert "[DM to D0DEMOLEAD · with T0DEMO's token]" in asked
    approved = out.split("U0DEMOLEAD@T0DEMO> approve 1", 1)[1].split("U0DEMOLEAD@T0DEMO> whoami", 1)[0]
    assert "[#approvals-floor-a · card updated · with T0DEMO's token]" in approved
    assert "Approved by @U0DEMOLEAD" in approved and "[DM to D0DEMOAGENT · with T0DEMO's token]" in approved
    assert "you are U0DEMOLEAD (approver)" in out
    # The other workspace keeps its own allow-list, and is answered with its own token.
    assert "U0DEMOLEAD@T0DEMOB> requests" in out and "You are not on recording-bot's allow-list" in out
    assert "[your Home tab · with T0DEMOB's token]" in out and "you are U0BRAVOADMIN (admin)" in out
    assert "with T0DEMOB's token]" not in out.split("U0DEMOLEAD@T0DEMOB> requests", 1)[0]
    assert "unknown token" not in out and "xoxb-" not in out


def test_installable_and_org_are_demos_and_one_at_a_time(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", "")}
    alone = run_bot(["console", "--installable", "--as", "U0DEMOADMIN"], env=env, cwd=tmp_path, stdin="quit")
    assert alone.returncode == 2 and "recording-bot console --demo --installable" in alone.stderr
    both = run_bot(["console", "--demo", "--org", "--installable"], env=env, cwd=tmp_path, stdin="quit")
    assert both.returncode == 2 and "give one of them" in both.stderr
