"""Installable mode's `app_uninstalled` and `tokens_revoked` events: the installation's tokens are deleted
at once, its pending requests withdrawn and its active pauses resumed (services/installations.py)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App

from bot.services.installations import InstallationService

logger = logging.getLogger(__name__)


def register(app: App, installations: InstallationService) -> None:
    def where(body: dict[str, Any]) -> tuple[str, str]:
        enterprise_id = str(body.get("enterprise_id") or "")
        # An org-wide installation is keyed by its organisation alone.
        team_id = "" if body.get("is_enterprise_install") else str(body.get("team_id") or "")
        return enterprise_id, team_id

    def on_uninstalled(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        # Events are handled after their ack, on the bot's pool (serving/dispatch.py): resuming may take a while.
        installations.left(*where(body), event="app_uninstalled")

    def on_tokens_revoked(ack: Ack, body: dict[str, Any], event: dict[str, Any]) -> None:
        ack()
        tokens = event.get("tokens") if isinstance(event.get("tokens"), dict) else {}
        bots = tokens.get("bot") if isinstance(tokens, dict) else None
        if not bots:
            logger.info("tokens_revoked for user tokens only; the bot keeps its own")
            return
        installations.left(*where(body), event="tokens_revoked")

    app.event("app_uninstalled")(on_uninstalled)
    app.event("tokens_revoked")(on_tokens_revoked)
