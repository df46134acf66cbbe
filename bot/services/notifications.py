"""What the pause service needs from the chat side, as a protocol: the Slack implementation lives in
listeners/, the console's in its own module, so the rules never import Slack."""

from __future__ import annotations

from typing import Protocol

from bot.models import PauseRequest


class CardNotPosted(Exception):
    """The approval card could not be posted; `message` says why in words for the requester."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PauseNotifier(Protocol):
    def post_card(self, request: PauseRequest) -> str:
        """Post the approval card in the request's channel; return the message ID. Raises CardNotPosted."""
        ...

    def update_card(self, request: PauseRequest) -> None:
        """Re-render the card from the request's current state. Never raises."""
        ...

    def tell_requester(self, request: PauseRequest) -> None:
        """Tell the requester privately what became of the request. Never raises."""
        ...
