"""The pause service's notifier for Slack: posts and updates cards, sends private notes by DM. It is told
what to show (the request as stored) and never reads anything back from the service."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.blocks.kit import Message
from bot.blocks.pauses import (
    approval_card,
    breakglass_notice,
    decider_notice,
    ended_notice,
    outcome_for_requester,
    reminder_notice,
)
from bot.blocks.refusals import card_not_posted_text
from bot.clock import Sleep
from bot.listeners.installations import SlackClients, as_clients
from bot.models import PauseRequest
from bot.services.notifications import CardNotPosted

logger = logging.getLogger(__name__)

_UPDATE_ATTEMPTS = 2
_UPDATE_RETRY_SECONDS = 0.5
# NotInstalled: the app left the workspace (listeners/installations.py); no token will come back by waiting.
_PERMANENT_UPDATE_ERRORS = {
    "message_not_found", "channel_not_found", "cant_update_message", "invalid_auth", "NotInstalled",
}  # fmt: skip
_CANNOT_POST_HERE = {
    "not_in_channel",
    "channel_not_found",
    "is_archived",
    "restricted_action",
    "not_allowed_token_type",
}
# Slack answers these with errors of their own, and slack_sdk lets a bad JSON answer out as ValueError.
_SLACK_FAILURES = (SlackApiError, SlackClientError, OSError, ValueError, KeyError, TypeError)


class SlackPauseNotifier:
    def __init__(self, *, client: WebClient | SlackClients, approval_minutes: float, sleep: Sleep = time.sleep) -> None:
        # Each request's workspace is written to with that workspace's token (one token in single mode).
        self._clients = as_clients(client)
        self._approval_minutes = approval_minutes
        self._sleep = sleep
        self._listeners: list[Callable[[PauseRequest], None]] = []

    def on_request_changed(self, listener: Callable[[PauseRequest], None]) -> None:
        """Call `listener` after every change of a request (e.g. to refresh Home tabs)."""
        self._listeners.append(listener)

    def post_card(self, request: PauseRequest) -> str:
        card = approval_card(request, approval_minutes=self._approval_minutes)
        return post_card_message(
            self._clients, card, team_id=request.team_id, channel=request.card_channel, asked_in=request.channel_id
        )

    def update_card(self, request: PauseRequest) -> None:
        # The service sends a request's updates one at a time, each with the request as stored just then.
        if not request.message_ts:
            return
        card = approval_card(request, approval_minutes=self._approval_minutes)
        for attempt in range(1, _UPDATE_ATTEMPTS + 1):
            try:
                self._clients.for_team(request.team_id).chat_update(
                    channel=request.card_channel, ts=request.message_ts, text=card.text, blocks=card.blocks
                )
                return
            except _SLACK_FAILURES as error:
                # A stale card invites clicks on a decided request: worth one more try. Either way the
                # state is safe in the database, and the card catches up on the next change.
                logger.warning(
                    "could not update the card of request #%s (attempt %s): %s", request.id, attempt, _describe(error)
                )
                if _describe(error) in _PERMANENT_UPDATE_ERRORS:
                    return
                self._sleep(_UPDATE_RETRY_SECONDS)

    def card_link(self, request: PauseRequest) -> str | None:
        if not request.message_ts:
            return None
        try:
            client = self._clients.for_team(request.team_id)
            answer = client.chat_getPermalink(channel=request.card_channel, message_ts=request.message_ts)
            link = answer.get("permalink")
        except _SLACK_FAILURES as error:
            logger.warning("no link to the card of request #%s: %s", request.id, _describe(error))
            return None
        return str(link) if isinstance(link, str) and link.startswith("https://") else None

    def tell_requester(self, request: PauseRequest) -> None:
        self._dm(request.requester_id, outcome_for_requester(request), request)

    def ask_decider(self, request: PauseRequest, user_id: str, link: str | None) -> None:
        self._dm(user_id, decider_notice(request, link), request)

    def remind_requester(self, request: PauseRequest) -> None:
        self._dm(request.requester_id, reminder_notice(request), request)

    def tell_pause_ended(self, request: PauseRequest) -> None:
        self._dm(request.requester_id, ended_notice(request), request)

    def tell_admin_breakglass(self, request: PauseRequest, admin_id: str, link: str | None) -> None:
        self._dm(admin_id, breakglass_notice(request, link), request)

    def request_changed(self, request: PauseRequest) -> None:
        for listener in self._listeners:
            try:
                listener(request)
            except Exception:
                logger.exception("a listener of request #%s's changes failed", request.id)

    def _dm(self, user_id: str, note: Message, request: PauseRequest) -> None:
        try:
            client = self._clients.for_team(request.team_id)
            opened = client.conversations_open(users=user_id)
            channel = opened["channel"]["id"]
            client.chat_postMessage(channel=channel, text=note.text, blocks=note.blocks)
        except _SLACK_FAILURES as error:
            logger.warning("could not send %s a note about request #%s: %s", user_id, request.id, _describe(error))


def _describe(error: BaseException) -> str:
    if isinstance(error, SlackApiError):
        return str(error.response.get("error", "unknown_error"))
    return type(error).__name__


def post_card_message(clients: SlackClients, card: Message, *, team_id: str, channel: str, asked_in: str) -> str:
    """Post a request's card into `channel` (its group's, or `asked_in` where it was asked); its ts.
    Raises CardNotPosted, worded, when Slack refuses it, cannot be reached or answers what is not JSON."""
    try:
        response = clients.for_team(team_id).chat_postMessage(channel=channel, text=card.text, blocks=card.blocks)
    except SlackApiError as error:
        reason = str(error.response.get("error", "unknown_error"))
        if reason in _CANNOT_POST_HERE:
            elsewhere = channel if channel != asked_in else None
            raise CardNotPosted(card_not_posted_text("not_here", channel=elsewhere)) from None
        raise CardNotPosted(card_not_posted_text("refused", detail=reason)) from None
    except (SlackClientError, OSError) as error:
        raise CardNotPosted(card_not_posted_text("unreachable", detail=type(error).__name__)) from None
    except ValueError:
        # slack_sdk lets a JSONDecodeError out when a 200 answer starts with "{" but is not JSON.
        raise CardNotPosted(card_not_posted_text("unreadable")) from None
    return str(response["ts"])
