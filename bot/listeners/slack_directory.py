"""Slack as a directory: a user's e-mail address (users.info, with the users:read.email scope)."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.listeners.installations import SlackClients, as_clients

logger = logging.getLogger(__name__)


class SlackDirectory:
    def __init__(self, *, client: WebClient | SlackClients) -> None:
        self._clients = as_clients(client)

    def email_of(self, team_id: str, user_id: str) -> str | None:
        try:
            answer = self._clients.for_team(team_id).users_info(user=user_id)
            email = (answer.get("user") or {}).get("profile", {}).get("email")
        except SlackApiError as error:
            # missing_scope: the app was installed before users:read.email was added; reinstall it.
            logger.warning("no e-mail address for %s from Slack: %s", user_id, error.response.get("error"))
            return None
        except (SlackClientError, OSError, ValueError, AttributeError) as error:
            logger.warning("no e-mail address for %s from Slack: %s", user_id, type(error).__name__)
            return None
        return str(email) if isinstance(email, str) and "@" in email else None
