"""The settings-change service's notifier for Slack: posts and updates change cards, sends private notes.
It is told what to show (the request as stored) and never reads anything back from the service."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.blocks.changes import change_card, change_decider_notice, change_outcome_message
from bot.blocks.kit import Message
from bot.listeners.installations import SlackClients, as_clients
from bot.listeners.slack_notifier import post_card_message
from bot.models.changes import ChangeRequest

logger = logging.getLogger(__name__)

_SLACK_FAILURES = (SlackApiError, SlackClientError, OSError, ValueError, KeyError, TypeError)


class SlackChangeNotifier:
    def __init__(self, *, client: WebClient | SlackClients) -> None:
        # Each request's workspace is written to with that workspace's token (one token in single mode).
        self._clients = as_clients(client)

    def post_change_card(self, request: ChangeRequest) -> str:
        return post_card_message(
            self._clients, change_card(request), team_id=request.team_id, channel=request.card_channel,
            asked_in=request.channel_id,
        )  # fmt: skip

    def update_change_card(self, request: ChangeRequest) -> None:
        if not request.message_ts:
            return
        card = change_card(request)
        try:
            self._clients.for_team(request.team_id).chat_update(
                channel=request.card_channel, ts=request.message_ts, text=card.text, blocks=card.blocks
            )
        except _SLACK_FAILURES as error:
            # The state is safe in the database; the card catches up on the next change.
            logger.warning("could not update the card of change #%s: %s", request.id, type(error).__name__)

    def change_card_link(self, request: ChangeRequest) -> str | None:
        if not request.message_ts:
            return None
        try:
            client = self._clients.for_team(request.team_id)
            answer = client.chat_getPermalink(channel=request.card_channel, message_ts=request.message_ts)
            link = answer.get("permalink")
        except _SLACK_FAILURES:
            return None
        return str(link) if isinstance(link, str) and link.startswith("https://") else None

    def ask_change_decider(self, request: ChangeRequest, user_id: str, link: str | None) -> None:
        self._dm(user_id, change_decider_notice(request, link), request)

    def tell_change_requester(self, request: ChangeRequest) -> None:
        self._dm(request.requester_id, change_outcome_message(request), request)

    def _dm(self, user_id: str, note: Message, request: ChangeRequest) -> None:
        try:
            client = self._clients.for_team(request.team_id)
            opened = client.conversations_open(users=user_id)
            client.chat_postMessage(channel=opened["channel"]["id"], text=note.text, blocks=note.blocks)
        except _SLACK_FAILURES as error:
            logger.warning("could not tell %s about change #%s: %s", user_id, request.id, type(error).__name__)
