"""The settings-change service's notifier for Slack: posts and updates change cards, sends private notes.
It is told what to show (the request as stored) and never reads anything back from the service."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.blocks.changes import change_card, change_decider_notice, change_outcome_message
from bot.blocks.kit import Message
from bot.blocks.refusals import card_not_posted_text
from bot.models.changes import ChangeRequest
from bot.services.notifications import CardNotPosted

logger = logging.getLogger(__name__)

_CANNOT_POST_HERE = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}
_SLACK_FAILURES = (SlackApiError, SlackClientError, OSError, ValueError, KeyError, TypeError)


class SlackChangeNotifier:
    def __init__(self, *, client: WebClient) -> None:
        self._client = client

    def post_change_card(self, request: ChangeRequest) -> str:
        card = change_card(request)
        channel = request.card_channel
        try:
            response = self._client.chat_postMessage(channel=channel, text=card.text, blocks=card.blocks)
        except SlackApiError as error:
            reason = str(error.response.get("error", "unknown_error"))
            if reason in _CANNOT_POST_HERE:
                elsewhere = channel if channel != request.channel_id else None
                raise CardNotPosted(card_not_posted_text("not_here", channel=elsewhere)) from None
            raise CardNotPosted(card_not_posted_text("refused", detail=reason)) from None
        except (SlackClientError, OSError) as error:
            raise CardNotPosted(card_not_posted_text("unreachable", detail=type(error).__name__)) from None
        except ValueError:
            raise CardNotPosted(card_not_posted_text("unreadable")) from None
        return str(response["ts"])

    def update_change_card(self, request: ChangeRequest) -> None:
        if not request.message_ts:
            return
        card = change_card(request)
        try:
            self._client.chat_update(
                channel=request.card_channel, ts=request.message_ts, text=card.text, blocks=card.blocks
            )
        except _SLACK_FAILURES as error:
            # The state is safe in the database; the card catches up on the next change.
            logger.warning("could not update the card of change #%s: %s", request.id, type(error).__name__)

    def change_card_link(self, request: ChangeRequest) -> str | None:
        if not request.message_ts:
            return None
        try:
            link = self._client.chat_getPermalink(channel=request.card_channel, message_ts=request.message_ts).get(
                "permalink"
            )
        except _SLACK_FAILURES:
            return None
        return str(link) if isinstance(link, str) and link.startswith("https://") else None

    def ask_change_decider(self, request: ChangeRequest, user_id: str, link: str | None) -> None:
        self._dm(user_id, change_decider_notice(request, link), request)

    def tell_change_requester(self, request: ChangeRequest) -> None:
        self._dm(request.requester_id, change_outcome_message(request), request)

    def _dm(self, user_id: str, note: Message, request: ChangeRequest) -> None:
        try:
            opened = self._client.conversations_open(users=user_id)
            self._client.chat_postMessage(channel=opened["channel"]["id"], text=note.text, blocks=note.blocks)
        except _SLACK_FAILURES as error:
            logger.warning("could not tell %s about change #%s: %s", user_id, request.id, type(error).__name__)
