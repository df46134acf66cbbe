"""The simulated Webex's PUT of call-recording settings (`CallRecordingPut`), written from the reference
(webex-people-workspaces.md, webex-calling-api.md), not from the bot's client: every body is checked
against the published schema's enums and ranges, read-only fields are refused, and what is accepted is
merged into the stored settings (204 No Content).

A workspace may be set to answer 409 until its recording vendor's terms of service are accepted.
"""

from __future__ import annotations

import copy
import json
from typing import Any

PEOPLE_WRITE = "spark-admin:people_write"
TELEPHONY_WRITE = "spark-admin:telephony_config_write"
RECORD_MODES = ("Always", "Never", "Always with Pause/Resume", "On Demand with User Initiated Start")
# `None` is a value Webex sends on GET, but the PUT does not accept it.
NOTIFICATION_TYPES = ("Beep", "Play Announcement")
READ_ONLY = ("serviceProvider", "externalGroup", "externalIdentifier")
_BOOLEAN_FIELDS = ("enabled", "recordVoicemailEnabled")
_OBJECTS: dict[str, dict[str, str]] = {
    "notification": {"type": "notification", "enabled": "bool"},
    "repeat": {"interval": "interval", "enabled": "bool"},
    "startStopAnnouncement": {"internalCallsEnabled": "bool", "pstnCallsEnabled": "bool"},
}


def put_problem(text: bytes) -> str | None:
    """Why Webex would answer 400 to this PUT body, or None when it is valid."""
    try:
        body = json.loads(text or b"{}")
    except ValueError:
        return "The request body is not valid JSON."
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    for name, value in body.items():
        if name in READ_ONLY:
            return f"{name} is read-only and cannot be changed."
        if name in _BOOLEAN_FIELDS:
            if not isinstance(value, bool):
                return f"{name} must be a boolean."
        elif name == "record":
            if value not in RECORD_MODES:
                return f"record must be one of {', '.join(RECORD_MODES)}."
        elif name in _OBJECTS:
            if not isinstance(value, dict):
                return f"{name} must be an object."
            for key, item in value.items():
                kind = _OBJECTS[name].get(key)
                if kind is None:
                    return f"{name}.{key} is not a field of {name}."
                if kind == "bool" and not isinstance(item, bool):
                    return f"{name}.{key} must be a boolean."
                if kind == "notification" and item not in NOTIFICATION_TYPES:
                    return f"notification.type must be one of {', '.join(NOTIFICATION_TYPES)}."
                whole = isinstance(item, int) and not isinstance(item, bool)
                if kind == "interval" and not (whole and 10 <= item <= 1800):
                    return "repeat.interval must be a whole number of seconds from 10 to 1800."
        else:
            return f"{name} is not a field of CallRecordingPut."
    return None


def apply_put(settings: dict[str, Any], text: bytes) -> dict[str, Any]:
    """The settings after a valid PUT: each field sent replaces the stored one (objects field by field)."""
    changed = copy.deepcopy(settings)
    for name, value in json.loads(text or b"{}").items():
        if isinstance(value, dict):
            merged = dict(changed.get(name) or {})
            merged.update(value)
            # With `enabled: true` and no type, Webex uses Beep.
            if name == "notification" and value.get("enabled") is True and merged.get("type") in (None, "None"):
                merged["type"] = "Beep"
            changed[name] = merged
        else:
            changed[name] = value
    return changed


def terms_not_accepted(vendor_name: str) -> dict[str, Any]:
    """The 409 body of a workspace PUT while the vendor's terms of service are not accepted."""
    return {
        "message": "The call recording vendor's terms of service have not been accepted.",
        "callRecordingResponse": {
            "vendorId": "Y2lzY29zcGFyazovL3VzL1ZFTkRPUi9kdWJiZXI",
            "vendorName": vendor_name,
            "termsOfServiceUrl": "https://www.example.com/recording-vendor/terms",
        },
    }
