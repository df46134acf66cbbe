"""Who acted, from a Slack payload: the person's user ID, the workspace they acted in, their organisation,
and the scope the bot keeps their allow-list, groups, audit and requests in.

On an org-wide (Enterprise Grid) install Slack says `is_enterprise_install: true` and user IDs are global
across the organisation: the scope is the organisation's enterprise ID, so one allow-list serves every
workspace of it. Otherwise the scope is the workspace's team ID, as it always was. Whether the bot serves
that workspace or organisation at all is the services' question (services/coverage.py), not this module's.
"""

from __future__ import annotations

from typing import Any

from bot.models import SlackUser


def slack_user(body: dict[str, Any], *, user_id: str | None = None) -> SlackUser:
    """The person a slash command, interactivity payload or Events API callback comes from. `user_id`: the
    person, where the payload names them elsewhere than `user_id` / `user.id` (an event's `event.user`)."""
    user = body.get("user")
    user = user if isinstance(user, dict) else {}
    team = body.get("team")
    team = team if isinstance(team, dict) else {}
    # The person's own workspace first: in a channel shared across workspaces it differs from the card's.
    workspace = _text(user.get("team_id")) or _text(team.get("id")) or _text(body.get("team_id"))
    enterprise_id, org_wide = _organisation(body, team)
    who = user_id if user_id is not None else (_text(user.get("id")) or _text(body.get("user_id")))
    if org_wide and enterprise_id:
        return SlackUser(team_id=enterprise_id, user_id=who, workspace_id=workspace, enterprise_id=enterprise_id)
    return SlackUser(team_id=workspace, user_id=who, enterprise_id=enterprise_id)


def _organisation(body: dict[str, Any], team: dict[str, Any]) -> tuple[str, bool]:
    """(enterprise ID or "", whether the installation is org-wide), from wherever the payload's kind puts them."""
    authorizations = body.get("authorizations")
    first = authorizations[0] if isinstance(authorizations, list) and authorizations else None
    if isinstance(first, dict):
        # Events API: the installation the event is delivered for.
        return _text(first.get("enterprise_id")) or _text(body.get("enterprise_id")), _true(
            first.get("is_enterprise_install")
        )
    enterprise = body.get("enterprise")
    enterprise_id = (
        _text(body.get("enterprise_id"))  # slash commands
        or (_text(enterprise.get("id")) if isinstance(enterprise, dict) else "")  # interactivity payloads
        or _text(team.get("enterprise_id"))
    )
    return enterprise_id, _true(body.get("is_enterprise_install"))


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _true(value: object) -> bool:
    # Form fields carry "true"/"false"; JSON payloads carry booleans.
    return value is True or value == "true"
