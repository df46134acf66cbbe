"""Slack as the list of an organisation's workspaces that an org-wide install covers (`auth.teams.list`)."""

from __future__ import annotations

from slack_sdk import WebClient

from bot.listeners.installations import SlackClients, as_clients

# auth.teams.list pages by cursor; an organisation has at most a few thousand workspaces.
_PAGE = 200
_MAX_PAGES = 50


class SlackOrgWorkspaces:
    """services/coverage.py's OrgWorkspaces over Slack's Web API. Raises what slack_sdk raises when Slack
    refuses or cannot be reached (Coverage keeps the last list it read)."""

    def __init__(self, *, client: WebClient | SlackClients) -> None:
        # The organisation's own token: SLACK_BOT_TOKEN, or its org-wide installation's.
        self._clients = as_clients(client)

    def workspaces_of(self, enterprise_id: str) -> frozenset[str]:
        teams: set[str] = set()
        cursor: str | None = None
        client = self._clients.for_team(enterprise_id)
        for _ in range(_MAX_PAGES):
            answer = client.auth_teams_list(limit=_PAGE, cursor=cursor, include_icon=False)
            teams.update(str(team["id"]) for team in answer.get("teams") or [] if isinstance(team, dict))
            cursor = (answer.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        return frozenset(teams)
