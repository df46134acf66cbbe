"""Where the simulated Webex's endpoints live: the paths it serves, which read scope each needs, and which
settings paths take a PUT."""

from __future__ import annotations

from bot.sandbox.simulators.webex_people import PEOPLE_READ, TELEPHONY_READ, WORKSPACES_READ

LINES_PATH = "/telephony/config/virtualLines"
PEOPLE_PATH = "/people"
WORKSPACES_PATH = "/workspaces"


def put_route(path: str) -> tuple[str, str] | None:
    """(kind, ID) of a call-recording settings path that takes a PUT."""
    for kind, before, after in (
        ("person", PEOPLE_PATH + "/", "/features/callRecording"),
        ("workspace", "/telephony/config/workspaces/", "/features/callRecordings"),
        ("line", LINES_PATH + "/", "/callRecording"),
    ):
        if path.startswith(before) and path.endswith(after) and len(path) > len(before) + len(after):
            line_id = path[len(before) : -len(after)]
            if "/" not in line_id:
                return kind, line_id
    return None


def scope_of(path: str) -> str | None:
    """The read scope an endpoint needs."""
    if path == PEOPLE_PATH or path.startswith(PEOPLE_PATH + "/"):
        return PEOPLE_READ
    if path == WORKSPACES_PATH or path.startswith(WORKSPACES_PATH + "/"):
        return WORKSPACES_READ
    if path.startswith("/telephony/config/"):
        return TELEPHONY_READ
    return None


def strip_prefix(path: str) -> str:
    return path[len("/v1") :] if path == "/v1" or path.startswith("/v1/") else path
