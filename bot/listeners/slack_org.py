"""Slack as the list of an organisation's workspaces that an org-wide install covers (`auth.teams.list`)."""

from __future__ import annotations

from slack_sdk import WebClient

# auth.teams.list pages by cursor; an organisation has at most a few thousand workspaces.
_PAGE = 200
_MAX_PAGES = 50


class SlackOrgWorkspaces:
    """services/coverage.py's OrgWorkspaces over Slack's Web API. Raises what slack_sdk raises when Slack
    refuses or cannot be reached (Coverage keeps the last list it read)."""

    def __init__(self, *, client: WebClient) -> None:
        self._client = client

    def workspaces_of(self, enterprise_id: str) -> frozenset[str]:
        teams: set[str] = set()
        cursor: str | None = None
        for _ in range(_MAX_PAGES):
            answer = self._client.auth_teams_list(limit=_PAGE, cursor=cursor, include_icon=False)
            teams.update(str(team["id"]) for team in answer.get("teams") or [] if isinstance(team, dict))
            cursor = (answer.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        return frozenset(teams)
