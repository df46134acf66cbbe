"""The `/recording` slash command: ack at once, then parse, call a service and reply."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.blocks.common import audit_message, help_message
from bot.blocks.digest import digest_posted
from bot.commands.parser import SUBCOMMAND_NAMES, parse_command
from bot.commands.types import (
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
from bot.listeners import allow_list, changes, line_settings, pauses
from bot.listeners.command_run import CommandRun, Handler
from bot.listeners.forms import FormNotOpened, open_pause_form
from bot.listeners.identity import slack_user
from bot.listeners.replies import reply_privately
from bot.listeners.work import Attempt, run_attempt
from bot.logs import request_context
from bot.metrics.registry import count_command
from bot.models import Invocation, PauseAsk
from bot.models.refusals import FormNeedsSlack, PauseFormNotOpened
from bot.services.bundle import Services
from bot.serving.background import BUSY_TEXT, BackgroundWork
from bot.serving.edge import ACKED_AT_EDGE

SLASH_COMMAND = "/recording"


def register(app: App, services: Services, work: BackgroundWork) -> None:
    def on_command(ack: Ack, body: dict[str, Any], respond: Respond, client: WebClient, context: BoltContext) -> None:
        # Slack allows 3 seconds. Nothing may run before this ack: not the database, not Slack, not
        # an upstream. Every answer goes out afterwards through response_url or the Web API.
        invocation = Invocation(
            user=slack_user(body),
            channel_id=str(body.get("channel_id", "")),
            request_id=str(context.get("request_id") or ""),
            text=str(body.get("text", "")),
        )

        trigger_id = str(body.get("trigger_id", ""))

        def run() -> None:
            with request_context(invocation.request_id):
                execute(invocation, services=services, respond=respond, client=client, trigger_id=trigger_id)

        if work.run_after_ack(run, acked=bool(context.get(ACKED_AT_EDGE))):
            ack()
        else:
            ack(text=BUSY_TEXT)

    app.command(SLASH_COMMAND)(on_command)


def execute(
    invocation: Invocation,
    *,
    services: Services,
    respond: Respond,
    client: WebClient | None = None,
    trigger_id: str = "",
) -> None:
    """Run one `/recording …` invocation to the end; every outcome is replied to and audited once.

    Each service checks the caller's role itself; what reaches no service (help, a mistyped command)
    passes the allow-list gate here, so someone not on the list learns nothing but how to get on it.
    """
    name = _subcommand_name(invocation.text)
    attempt = Attempt(invocation, f"command.{name}")

    def work() -> None:
        try:
            command = parse_command(invocation.text, services.limits)
        except ParseError:
            services.authorizer.admit(invocation.user, action=name)
            raise
        run = CommandRun(invocation, services, respond, attempt.details, client=client, trigger_id=trigger_id)
        _HANDLERS[type(command)](run, command)

    outcome = run_attempt(attempt, services, work, reply=lambda message: reply_privately(respond, message))
    # Counted by a name the parser knows: what someone mistyped is never a label.
    count_command(name if name in SUBCOMMAND_NAMES else "unknown", outcome)


def _subcommand_name(text: str) -> str:
    words = text.split()
    name = words[0].lower() if words else "help"
    return name if name.isascii() and name.isalpha() and len(name) <= 20 else "unknown"


# -- subcommand handlers ---------------------------------------------------------------------------


def _help(run: CommandRun, command: Help) -> None:
    run.services.authorizer.admit(run.invocation.user, action="help")
    if command.unknown_word is not None:
        run.audit_details["unknown_word"] = command.unknown_word
    run.reply_privately(help_message(unknown_word=command.unknown_word, suggestion=command.suggestion))


def _open_form(run: CommandRun, command: OpenPauseForm) -> None:
    run.services.pauses.check_may_ask(run.invocation)
    if run.client is None or not run.trigger_id:
        raise FormNeedsSlack()
    try:
        open_pause_form(
            run.client, run.services, trigger_id=run.trigger_id, user_id=run.invocation.user_id,
            channel_id=run.invocation.channel_id, ask_channel=False,
        )  # fmt: skip
    except FormNotOpened as error:
        raise PauseFormNotOpened(str(error)) from None
    run.audit_details["form"] = "opened"


def _audit_log(run: CommandRun, command: ShowAudit) -> None:
    entries = run.services.audit_log.recent(
        run.invocation, command.rows, breakglass_only=command.breakglass_only, changes_only=command.changes_only
    )
    run.reply_privately(
        audit_message(entries, breakglass_only=command.breakglass_only, changes_only=command.changes_only)
    )


def _digest(run: CommandRun, command: ShowDigest) -> None:
    digests = run.services.digests
    assert digests is not None  # create_app always builds it
    delivery = digests.post_now(run.invocation, command.day)
    run.audit_details["channel"] = delivery.channel
    run.reply_privately(digest_posted(delivery, day=command.day))


_HANDLERS: dict[type[Command], Handler] = {
    Help: _help,
    Allow: allow_list.allow,
    Revoke: allow_list.revoke,
    ListUsers: allow_list.users,
    ShowGroup: allow_list.show_group,
    ConfigureGroup: allow_list.configure_group,
    ListGroups: allow_list.list_groups,
    Link: allow_list.link,
    Unlink: allow_list.unlink,
    OpenPauseForm: _open_form,
    ShowAudit: _audit_log,
    ShowDigest: _digest,
    PauseAsk: pauses.pause,
    BreakGlass: pauses.breakglass,
    ChooseSide: pauses.choose_side,
    Extend: pauses.extend,
    Cancel: pauses.cancel,
    Resume: pauses.resume,
    ListRequests: pauses.list_requests,
    ShowSettings: line_settings.show_settings,
    SetLineSettings: changes.set_settings,
}
