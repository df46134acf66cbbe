"""A simulated Media Repository (`/verba/api`: RequestToken, MuteRecording) with switchable faults."""

from __future__ import annotations

import base64
import binascii
import html
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal, get_args

from bot.sandbox.simulators.base import RecordedRequest, Reply, SimulatedServer

__all__ = [
    "DEMO_API_KEY",
    "DEMO_CALLS",
    "DEMO_PASSWORD",
    "DEMO_USERNAME",
    "Fault",
    "SimulatedRecordingSystem",
]

Fault = Literal[
    "expired_token",
    "http_401",
    "http_500",
    "http_503",
    "html_page",
    "empty_body",
    "malformed_xml",
    "slow",
    "not_found",
    "multiple_calls",
    "bad_api_key",
    "address_not_allowed",
    "other_error",
]
FAULTS: Final[frozenset[str]] = frozenset(get_args(Fault))

# Credentials the demo console wires into both the simulator and the bot's client.
DEMO_API_KEY: Final = "5d1c7a2e-demo-4b8f-9a31-0c6e2f7d8b45"
DEMO_USERNAME: Final = "recording-bot"
DEMO_PASSWORD: Final = "demo-password-not-secret"  # noqa: S105 (sandbox only, never a real login)

# A few ongoing calls: 8856 and 8857 have one call each, 8860 has two (so it answers "more than one").
DEMO_CALLS: Final[tuple[tuple[str, frozenset[str]], ...]] = (
    ("3f2b8c1d-6a4e-4f0b-9c7d-1e2a3b4c5d6e", frozenset({"8856", "+14085551234"})),
    ("a7e4d2c9-1b3f-4e8a-8d6c-5f0e9b2a7c31", frozenset({"8857", "+442071838750"})),
    ("c0d1e2f3-4a5b-4c6d-8e7f-9a0b1c2d3e4f", frozenset({"8860", "+14085550199"})),
    ("e9f8a7b6-c5d4-4e3f-a2b1-0c9d8e7f6a5b", frozenset({"8860", "8861"})),
)

# The longest a held request waits for its release (hold_next), so a failing test never hangs.
HOLD_SECONDS: Final = 30.0

_XML_TYPE: Final = "text/xml; charset=utf-8"
_HTML_TYPE: Final = "text/html; charset=utf-8"

# Codes are not published by the vendor; these are plausible stand-ins, and the client must not
# depend on them (it reads the description), so tests keep it honest.
_CODE_MISSING_PARAMETER: Final = "1"
_CODE_BAD_API_KEY: Final = "2"
_CODE_SESSION_REFUSED: Final = "3"
_CODE_LOGIN_FAILED: Final = "4"
_CODE_NOT_FOUND: Final = "10"
_CODE_MULTIPLE: Final = "11"
_CODE_BAD_VALUE: Final = "12"
_CODE_BUSY: Final = "20"


@dataclass
class _PendingFault:
    kind: Fault
    times: int
    action: str | None


def _envelope(response_attributes: dict[str, str], error: tuple[str, str] | None = None) -> str:
    attributes = " ".join(f'{name}="{html.escape(value)}"' for name, value in response_attributes.items())
    if error is None:
        response = f"<Response {attributes}/>"
    else:
        description, text = error
        response = (
            f"<Response {attributes}>"
            f'<ErrorMessage description="{html.escape(description)}">{html.escape(text)}</ErrorMessage>'
            "</Response>"
        )
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<VerbaApi>\n  {response}\n</VerbaApi>\n'


def _error(code: str, action: str, description: str, text: str, *, status: int = 200) -> Reply:
    body = _envelope({"code": code, "type": action}, (description, text))
    return Reply(status=status, body=body, content_type=_XML_TYPE)


def _normalise_call_id(value: str) -> str:
    return value.strip().strip("{}").lower()


class SimulatedRecordingSystem(SimulatedServer):
    """Serves `/verba/api` like the recording system's Media Repository, from the reference doc.

    Key-only mode when `username` is None; otherwise MuteRecording needs a token from RequestToken
    (Basic auth). Faults are switched with `fail_next(kind)` (one-shot, counted) or the `fault`
    property (until cleared); both are safe to change while the server runs.
    """

    def __init__(
        self,
        *,
        api_key: str = DEMO_API_KEY,
        username: str | None = None,
        password: str | None = None,
        calls: Iterable[tuple[str, Iterable[str]]] = (),
        slow_seconds: float = 2.0,
        token_lifetime_seconds: float = 3600.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self.api_key = api_key
        self.username = username
        self.password = password or ""
        self._state = threading.Lock()
        self._slow_seconds = slow_seconds
        self._token_lifetime = token_lifetime_seconds
        self._calls: dict[str, frozenset[str]] = {}
        self._mute: dict[str, int] = {}
        self._tokens: dict[str, float] = {}
        self._issued: list[str] = []
        self._pending: list[_PendingFault] = []
        self._fault: Fault | None = None
        self._holds: list[tuple[str, threading.Event]] = []
        for call_id, extensions in calls:
            self.add_call(call_id, extensions)

    def reset(self, *, calls: Iterable[tuple[str, Iterable[str]]] = ()) -> None:
        """Forget requests, tokens, faults and calls, then start `calls`; lets one server serve many tests."""
        with self._state:
            self._calls.clear()
            self._mute.clear()
            self._tokens.clear()
            self._issued.clear()
            self._pending.clear()
            self._fault = None
        self.clear_faults()
        self.clear()
        for call_id, extensions in calls:
            self.add_call(call_id, extensions)

    # -- calls -----------------------------------------------------------------------------------

    def seed_demo_calls(self) -> SimulatedRecordingSystem:
        """Add the realistic DEMO_CALLS (8856, 8857, +14085551234, two calls on 8860)."""
        for call_id, extensions in DEMO_CALLS:
            self.add_call(call_id, extensions)
        return self

    def add_call(self, call_id: str, extensions: Iterable[str]) -> None:
        """Start an ongoing call between the given parties (recording unmuted)."""
        key = _normalise_call_id(call_id)
        with self._state:
            self._calls[key] = frozenset(extensions)
            self._mute[key] = 0

    def end_call(self, call_id: str) -> None:
        """End a call: it is no longer found, but its last mute state stays readable."""
        with self._state:
            self._calls.pop(_normalise_call_id(call_id), None)

    def ongoing_calls(self) -> dict[str, frozenset[str]]:
        with self._state:
            return dict(self._calls)

    def mute_state(self, call_id: str) -> int:
        """The current mute mask of a call (0 = recording everything); KeyError for an unknown call."""
        with self._state:
            return self._mute[_normalise_call_id(call_id)]

    # -- faults ----------------------------------------------------------------------------------

    def fail_next(self, kind: Fault, *, times: int = 1, action: str | None = "MuteRecording") -> None:
        """Answer the next `times` requests for `action` (None = any action) with the fault `kind`."""
        if kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; choose from {sorted(FAULTS)}")
        with self._state:
            self._pending.append(_PendingFault(kind=kind, times=times, action=action))

    @property
    def fault(self) -> Fault | None:
        """A fault applied to every MuteRecording until set back to None (after any `fail_next`)."""
        with self._state:
            return self._fault

    @fault.setter
    def fault(self, kind: Fault | None) -> None:
        if kind is not None and kind not in FAULTS:
            raise ValueError(f"unknown fault {kind!r}; choose from {sorted(FAULTS)}")
        with self._state:
            self._fault = kind

    @property
    def slow_seconds(self) -> float:
        """How long the "slow" fault delays its answer; set it above the client's timeout."""
        with self._state:
            return self._slow_seconds

    @slow_seconds.setter
    def slow_seconds(self, seconds: float) -> None:
        with self._state:
            self._slow_seconds = seconds

    def clear_faults(self) -> None:
        with self._state:
            self._pending.clear()
            self._fault = None
            holds, self._holds = self._holds, []
        for _, gate in holds:
            gate.set()

    def hold_next(self, action: str = "MuteRecording") -> threading.Event:
        """Hold the next request for `action` before doing its work, until the returned event is set (at most
        HOLD_SECONDS): a call in flight, for a test to act while it is out. Requests that arrive meanwhile are
        answered as usual."""
        gate = threading.Event()
        with self._state:
            self._holds.append((action, gate))
        return gate

    def _take_hold(self, action: str) -> threading.Event | None:
        with self._state:
            for held in self._holds:
                if held[0] == action:
                    self._holds.remove(held)
                    return held[1]
            return None

    def _take_fault(self, action: str) -> Fault | None:
        with self._state:
            for pending in self._pending:
                if pending.action is None or pending.action == action:
                    pending.times -= 1
                    if pending.times <= 0:
                        self._pending.remove(pending)
                    return pending.kind
            return self._fault if action == "MuteRecording" else None

    # -- what was received -----------------------------------------------------------------------

    def mute_calls(self) -> list[dict[str, str]]:
        """Parameters of every MuteRecording request received, in order."""
        return [r.params for r in self.requests if r.params.get("action") == "MuteRecording"]

    def token_requests(self) -> list[RecordedRequest]:
        """Every RequestToken request received (whole requests, so tests can read the headers)."""
        return [r for r in self.requests if r.params.get("action") == "RequestToken"]

    def issued_tokens(self) -> list[str]:
        """Every token handed out, oldest first."""
        with self._state:
            return list(self._issued)

    # -- the protocol ----------------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> Reply:
        if request.path.rstrip("/") != "/verba/api":
            return Reply(
                status=404,
                body="<html><body><h1>404 Not Found</h1></body></html>",
                content_type=_HTML_TYPE,
            )
        params = request.params
        action = params.get("action", "")
        gate = self._take_hold(action)
        if gate is not None:
            gate.wait(HOLD_SECONDS)
        fault = self._take_fault(action)
        delay = 0.0
        if fault == "slow":
            # The server still does the work, as a real one would; only the answer is late.
            delay = self.slow_seconds
            fault = None
        reply = self._fault_reply(fault, action, params) if fault else self._answer(action, params, request)
        reply.delay_seconds = delay
        return reply

    def _answer(self, action: str, params: dict[str, str], request: RecordedRequest) -> Reply:
        if not action:
            return _error(
                _CODE_MISSING_PARAMETER, "", "Missing parameter", "The action parameter is required."
            )
        presented_key = params.get("apiKey", "")
        if not secrets.compare_digest(presented_key.encode(), self.api_key.encode()):
            return self._bad_api_key(action, presented_key)
        if action == "RequestToken":
            return self._request_token(params, request)
        if action == "MuteRecording":
            return self._mute_recording(params)
        return _error(
            _CODE_MISSING_PARAMETER, action, "Unknown action", f"The action {action!r} is not supported."
        )

    def _request_token(self, params: dict[str, str], request: RecordedRequest) -> Reply:
        if self.username is None:
            return _error(
                _CODE_LOGIN_FAILED,
                "RequestToken",
                "Authentication failed",
                "User authentication is not enabled for this API key.",
                status=401,
            )
        user, password = self._presented_login(params, request)
        if user != self.username or not secrets.compare_digest(password.encode(), self.password.encode()):
            return _error(
                _CODE_LOGIN_FAILED,
                "RequestToken",
                "Authentication failed",
                "Invalid user name or password.",
                status=401,
            )
        token = secrets.token_urlsafe(24)
        with self._state:
            self._tokens[token] = time.monotonic() + self._token_lifetime
            self._issued.append(token)
        body = _envelope({"code": "0", "type": "RequestToken", "token": token})
        return Reply(body=body, content_type=_XML_TYPE)

    @staticmethod
    def _presented_login(params: dict[str, str], request: RecordedRequest) -> tuple[str | None, str]:
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() == "basic" and encoded:
            try:
                user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None, ""
            return user, password
        # The doc's alternative: userName / password parameters.
        return params.get("userName"), params.get("password", "")

    def _token_is_valid(self, token: str) -> bool:
        with self._state:
            expires = self._tokens.get(token)
            return expires is not None and time.monotonic() < expires

    def _mute_recording(self, params: dict[str, str]) -> Reply:
        if self.username is not None:
            token = params.get("token", "")
            if not token:
                return _error(
                    _CODE_SESSION_REFUSED, "MuteRecording", "Token required", "This API key needs a token."
                )
            if not self._token_is_valid(token):
                return _error(
                    _CODE_SESSION_REFUSED,
                    "MuteRecording",
                    "Invalid or expired token",
                    "The token is invalid or has expired; request a new token.",
                )
        try:
            mute = int(params.get("mute", ""))
        except ValueError:
            mute = -1
        if mute not in range(4):
            return _error(_CODE_BAD_VALUE, "MuteRecording", "Invalid parameter", "mute must be 0, 1, 2 or 3.")
        call_id = params.get("callID")
        extension = params.get("extension")
        if call_id:
            key = _normalise_call_id(call_id)
            with self._state:
                found = [key] if key in self._calls else []
            criteria = f"callID={call_id}"
        elif extension:
            states = {s.strip().lower() for s in params.get("status", "").split(",") if s.strip()}
            if not states:
                return _error(
                    _CODE_MISSING_PARAMETER,
                    "MuteRecording",
                    "Missing parameter",
                    "The status parameter is required with extension.",
                )
            with self._state:
                # Every simulated call is ongoing, so only a search that includes "ongoing" finds one.
                searched = self._calls.items() if "ongoing" in states else ()
                found = [k for k, parties in searched if extension in parties]
            criteria = f"extension={extension}, status={params.get('status')}"
        else:
            return _error(
                _CODE_MISSING_PARAMETER,
                "MuteRecording",
                "Missing parameter",
                "Either callID or extension is required.",
            )
        if not found:
            return self._not_found(criteria)
        if len(found) > 1:
            return self._multiple(criteria)
        with self._state:
            self._mute[found[0]] = mute
        body = _envelope({"code": "0", "type": "MuteRecording", "callID": found[0], "mute": str(mute)})
        return Reply(body=body, content_type=_XML_TYPE)

    # -- canned answers --------------------------------------------------------------------------

    @staticmethod
    def _not_found(criteria: str) -> Reply:
        return _error(
            _CODE_NOT_FOUND,
            "MuteRecording",
            "Call not found",
            f"No call found matching the given criteria ({criteria}).",
        )

    @staticmethod
    def _multiple(criteria: str) -> Reply:
        return _error(
            _CODE_MULTIPLE,
            "MuteRecording",
            "More than one call found",
            f"More than one call matches the given criteria ({criteria}); specify the callID.",
        )

    @staticmethod
    def _bad_api_key(action: str, presented_key: str) -> Reply:
        # Echoes the key as some servers do, so tests prove the client redacts upstream text too.
        return _error(
            _CODE_BAD_API_KEY,
            action,
            "Invalid API key",
            f"The API key '{presented_key}' is not valid or has been revoked.",
        )

    def _fault_reply(self, fault: Fault, action: str, params: dict[str, str]) -> Reply:
        if fault == "expired_token":
            return _error(
                _CODE_SESSION_REFUSED,
                action,
                "Invalid or expired token",
                "The token is invalid or has expired; request a new token.",
            )
        if fault == "http_401":
            return Reply(status=401, body="Unauthorized", content_type="text/plain")
        if fault == "http_500":
            return Reply(
                status=500,
                body="<html><head><title>500 Internal Server Error</title></head>"
                "<body><h1>Internal Server Error</h1></body></html>",
                content_type=_HTML_TYPE,
            )
        if fault == "http_503":
            return Reply(
                status=503,
                body="<html><body><h1>503 Service Unavailable</h1></body></html>",
                content_type=_HTML_TYPE,
            )
        if fault == "html_page":
            return Reply(
                body="<!DOCTYPE html>\n<html><head><title>Verba Recording System - Login</title></head>"
                "<body><form method='post'><input name='user'/><input type='password' name='pw'/>"
                "</form></body></html>",
                content_type=_HTML_TYPE,
            )
        if fault == "empty_body":
            return Reply(body=b"", content_type=_XML_TYPE)
        if fault == "malformed_xml":
            return Reply(
                body='<?xml version="1.0" encoding="UTF-8"?>\n<VerbaApi>\n  <Response code="0" type=',
                content_type=_XML_TYPE,
            )
        if fault == "not_found":
            return self._not_found(f"extension={params.get('extension') or params.get('callID')}")
        if fault == "multiple_calls":
            return self._multiple(f"extension={params.get('extension') or params.get('callID')}")
        if fault == "bad_api_key":
            return self._bad_api_key(action, params.get("apiKey", ""))
        if fault == "address_not_allowed":
            return _error(
                _CODE_BAD_API_KEY,
                action,
                "Source address not allowed",
                "The API key is not allowed from this source address.",
            )
        if fault == "other_error":
            return _error(
                _CODE_BUSY,
                action,
                "Recorder busy",
                "The recorder handling this call could not process the request.",
            )
        raise AssertionError(f"unhandled fault {fault!r}")
