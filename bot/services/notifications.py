"""What the pause service needs from the chat side, as a protocol: the Slack implementation lives in
listeners/, so the rules never import Slack. The service decides what is said to whom and when (and that
it is said once); the notifier renders and sends it. The flow is one-way: everything the notifier shows
is handed to it, and it never calls back into the service."""

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
        """Post the request's card in its card channel; return the message ID. Raises CardNotPosted."""
        ...

    def update_card(self, request: PauseRequest) -> None:
        """Re-render the card from `request`, which is the request as stored now: the service reads it and
        sends one request's updates one at a time. Never raises."""
        ...

    def card_link(self, request: PauseRequest) -> str | None:
        """A link to the request's card, or None when Slack gives none. Never raises."""
        ...

    def tell_requester(self, request: PauseRequest) -> None:
        """Tell the requester privately what became of the request. Never raises."""
        ...

    def ask_decider(self, request: PauseRequest, user_id: str, link: str | None) -> None:
        """Tell one approver privately that a request waits for them. Never raises."""
        ...

    def remind_requester(self, request: PauseRequest) -> None:
        """Tell the requester privately that the pause ends soon. Never raises."""
        ...

    def tell_pause_ended(self, request: PauseRequest) -> None:
        """Tell the requester privately that the pause has ended, and how. Never raises."""
        ...

    def tell_admin_breakglass(self, request: PauseRequest, admin_id: str, link: str | None) -> None:
        """Tell one admin privately that someone broke glass. Never raises."""
        ...

    def request_changed(self, request: PauseRequest) -> None:
        """Anything else that shows the request may refresh itself (a Home tab). Never raises."""
        ...
