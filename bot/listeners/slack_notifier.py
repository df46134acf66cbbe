"""The pause service's notifier for Slack: posts and updates approval cards, tells requesters privately."""

from __future__ import annotations

import logging
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.blocks.pause import approval_card, outcome_for_requester
from bot.models import PauseRequest
from bot.services.notifications import CardNotPosted

logger = logging.getLogger(__name__)

_UPDATE_ATTEMPTS = 2
_UPDATE_RETRY_SECONDS = 0.5
_PERMANENT_UPDATE_ERRORS = {"message_not_found", "channel_not_found", "cant_update_message", "invalid_auth"}
_CANNOT_POST_HERE = {
    "not_in_channel",
    "channel_not_found",
    "is_archived",
    "restricted_action",
    "not_allowed_token_type",
}


class SlackPauseNotifier:
    def __init__(self, *, client: WebClient, approval_minutes: float) -> None:
        self._client = client
        self._approval_minutes = approval_minutes

    def post_card(self, request: PauseRequest) -> str:
        card = approval_card(request, approval_minutes=self._approval_minutes)
        try:
            response = self._client.chat_postMessage(channel=request.channel_id, text=card.text, blocks=card.blocks)
        except SlackApiError as error:
            reason = str(error.response.get("error", "unknown_error"))
            if reason in _CANNOT_POST_HERE:
                raise CardNotPosted(
                    "I can't post the approval card in this channel. Invite me with `/invite @recording-bot` "
                    "(or use a public channel) and ask again."
                ) from None
            raise CardNotPosted(f"Slack refused the approval card ({reason}); please ask again.") from None
        except (SlackClientError, OSError) as error:
            raise CardNotPosted(
                f"Slack could not be reached to post the approval card ({type(error).__name__}); please ask again."
            ) from None
        except ValueError:
            # slack_sdk lets a JSONDecodeError out when a 200 answer starts with "{" but is not JSON.
            raise CardNotPosted("Slack sent an unreadable answer to the approval card; please ask again.") from None
        return str(response["ts"])

    def update_card(self, request: PauseRequest) -> None:
        if not request.message_ts:
            return
        card = approval_card(request, approval_minutes=self._approval_minutes)
        for attempt in range(1, _UPDATE_ATTEMPTS + 1):
            try:
                self._client.chat_update(
                    channel=request.channel_id, ts=request.message_ts, text=card.text, blocks=card.blocks
                )
                return
            except (SlackApiError, SlackClientError, OSError, ValueError) as error:
                # A stale card invites clicks on a decided request: worth one more try. Either way the
                # state is safe in the database, and the card catches up on the next change.
                logger.warning(
                    "could not update the card of request #%s (attempt %s): %s", request.id, attempt, _describe(error)
                )
                if _describe(error) in _PERMANENT_UPDATE_ERRORS:
                    return
                time.sleep(_UPDATE_RETRY_SECONDS)

    def tell_requester(self, request: PauseRequest) -> None:
        note = outcome_for_requester(request)
        try:
            opened = self._client.conversations_open(users=request.requester_id)
            channel = opened["channel"]["id"]
            self._client.chat_postMessage(channel=channel, text=note.text, blocks=note.blocks)
        except (SlackApiError, SlackClientError, OSError, ValueError, KeyError, TypeError) as error:
            logger.warning("could not tell the requester of request #%s: %s", request.id, _describe(error))


def _describe(error: BaseException) -> str:
    if isinstance(error, SlackApiError):
        return str(error.response.get("error", "unknown_error"))
    return type(error).__name__
