"""Client for the recording system's Media Repository HTTP API (Verba/Verint): pause and resume recordings."""

from __future__ import annotations

import base64
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Final

import httpx
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from bot import redaction
from bot.clients.errors import (
    Ambiguous,
    AuthenticationFailed,
    NotFound,
    RateLimited,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRejected,
    UpstreamUnreachable,
)
from bot.clients.limits import DEFAULT_LIMITS, AnswerLimits, AnswerTooLarge, AnswerTooSlow, read_bounded
from bot.metrics.registry import upstream_call
from bot.models import Channels, RecordingTarget, TargetKind
from bot.redaction import SecretRedactor, redact_url
from bot.words import size_text

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

__all__ = [
    "MUTE_MASK",
    "RESUME_MASK",
    "SYSTEM_NAME",
    "MuteOutcome",
    "RecordingSystemClient",
]

logger = logging.getLogger(__name__)

SYSTEM_NAME: Final = "Recording system"

# The vendor documents 3 (both channels) and 0 (none) only; which side 1 and 2 silence is not
# documented. Correct caller/callee here, and only here, once a real system has been observed.
MUTE_MASK: Final[Mapping[Channels, int]] = MappingProxyType(
    {
        Channels.BOTH: 3,
        Channels.CALLER: 1,
        Channels.CALLEE: 2,
    }
)
RESUME_MASK: Final = 0

_API_PATH: Final = "/verba/api"
# The nil GUID: no recording has it, so the deployment check's resume can never touch a real call.
_PROBE_CALL_ID: Final = "00000000-0000-0000-0000-000000000000"
_MAX_DETAIL_CHARS: Final = 2000
_ADMIN_HINT: Final = "configuration problem — tell a bot admin"
_URL_HINT: Final = "is MEDIA_REPOSITORY_URL right?"


@dataclass(frozen=True)
class MuteOutcome:
    """An accepted MuteRecording; `detail` is the redacted raw answer, for the audit log."""

    mute: int
    target: RecordingTarget
    response_code: str
    detail: str
    elapsed_ms: float


@dataclass(frozen=True)
class _Answer:
    """A `code="0"` envelope, already checked."""

    response: Element
    detail: str


class _TokenRejected(AuthenticationFailed):
    """The session token was refused; private, so only the retry loop ever sees it."""


class RecordingSystemClient:
    """Talks to `<base_url>/verba/api` over one caller-built `httpx.Client`; safe to share between threads."""

    def __init__(
        self,
        *,
        http: httpx.Client,
        base_url: str,
        api_key: str,
        username: str | None = None,
        password: str | None = None,
        redactor: SecretRedactor = redaction.redactor,
        clock: Callable[[], float] = time.monotonic,
        token_lifetime_seconds: float = 3600,
        token_renew_margin_seconds: float = 300,
        answer_limits: AnswerLimits = DEFAULT_LIMITS,
    ) -> None:
        self._http = http
        self._answer_limits = answer_limits
        self._endpoint = f"{base_url.rstrip('/')}{_API_PATH}"
        self._api_key = api_key
        self._username = username or None
        self._password = password or ""
        self._redactor = redactor
        self._clock = clock
        self._token_lifetime = token_lifetime_seconds
        self._renew_margin = token_renew_margin_seconds
        # One lock guards the cached token, and is held while a token is fetched so that threads
        # arriving together share one RequestToken instead of each asking for its own.
        self._token_lock = threading.Lock()
        self._token: str | None = None
        self._token_renew_at = 0.0
        redactor.add(api_key)
        if password:
            redactor.add(password)

    @property
    def uses_token(self) -> bool:
        """True when a username is configured (session-token mode); False in key-only mode."""
        return self._username is not None

    # -- public operations ---------------------------------------------------------------------

    def pause(self, target: RecordingTarget, channels: Channels = Channels.BOTH) -> MuteOutcome:
        """Mute the given channel(s) of the ongoing call's recording."""
        return self.mute_recording(target, MUTE_MASK[channels])

    def resume(self, target: RecordingTarget) -> MuteOutcome:
        """Unmute every channel of the ongoing call's recording."""
        return self.mute_recording(target, RESUME_MASK)

    def mute_recording(self, target: RecordingTarget, mute: int) -> MuteOutcome:
        """Send MuteRecording with a channel mask (0-3); raises an `UpstreamError` subclass on failure."""
        return self._mute(target, mute, operation="pause" if mute else "resume")

    def _mute(self, target: RecordingTarget, mute: int, *, operation: str) -> MuteOutcome:
        if mute not in range(4):
            raise ValueError(f"mute mask must be 0-3, got {mute!r}")
        if target.kind is TargetKind.MINE:
            raise ValueError("`me` must be resolved to an extension before it reaches the recording system")
        params: dict[str, str] = {"action": "MuteRecording", "responseType": "XML"}
        if target.kind is TargetKind.CALL_ID:
            params["callID"] = target.value
        else:
            params["extension"] = target.value
            params["status"] = "ongoing"
        params["mute"] = str(mute)
        started = time.perf_counter()
        with upstream_call("recording_system", operation):
            answer = self._call_with_token(params, target=target, mute=mute)
        return MuteOutcome(
            mute=mute,
            target=target,
            response_code=answer.response.get("code", ""),
            detail=answer.detail,
            # The whole operation, token fetch and retry included: what the person waited for.
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )

    def verify_credentials(self) -> str:
        """For a deployment check: prove the key (and the login, if any) are accepted from this host.

        Sends a resume (mute 0) for a call ID no call can have: the system must check the key before it
        looks for the call, so "no such call" is the answer that proves access, and nothing is touched.
        Raises an `UpstreamError` subclass when access is refused or the answer is anything else.
        """
        if self.uses_token:
            with self._token_lock:
                self._fetch_token_locked()
        with contextlib.suppress(NotFound):
            self._mute(RecordingTarget(TargetKind.CALL_ID, _PROBE_CALL_ID), RESUME_MASK, operation="verify")
        login = f"token issued for user {self._username}" if self.uses_token else "key-only mode"
        return f"{login}; the API key is accepted from this host (a resume for a call that cannot exist was answered)"

    # -- token handling ------------------------------------------------------------------------

    def _current_token(self) -> str:
        with self._token_lock:
            if self._token is None or self._clock() >= self._token_renew_at:
                self._fetch_token_locked()
            assert self._token is not None
            return self._token

    def _renew_token(self, rejected: str) -> str:
        with self._token_lock:
            # Another thread may already have replaced the rejected token; reuse its fresh one.
            if self._token is None or self._token == rejected:
                self._fetch_token_locked()
            assert self._token is not None
            return self._token

    def _fetch_token_locked(self) -> None:
        assert self._username is not None
        credentials = f"{self._username}:{self._password}".encode()
        headers = {"Authorization": "Basic " + base64.b64encode(credentials).decode("ascii")}
        requested_at = self._clock()
        with upstream_call("recording_system", "login"):
            answer = self._call(
                {"action": "RequestToken", "responseType": "XML"},
                headers=headers,
                action="RequestToken",
                target=None,
                mute=None,
            )
        token = answer.response.get("token")
        if not token:
            raise UpstreamBadResponse(
                "answered the login request without a session token",
                system=SYSTEM_NAME,
                detail=answer.detail,
            )
        self._token = token
        # Count the lifetime from before the request, so the cached token never outlives the real one.
        self._token_renew_at = requested_at + self._token_lifetime - self._renew_margin

    def _call_with_token(self, params: dict[str, str], *, target: RecordingTarget, mute: int) -> _Answer:
        if not self.uses_token:
            return self._call(params, action=params["action"], target=target, mute=mute)
        token = self._current_token()
        try:
            return self._call({**params, "token": token}, action=params["action"], target=target, mute=mute)
        except _TokenRejected:
            logger.info("Media Repository refused the session token; renewing it and retrying once")
        token = self._renew_token(token)
        try:
            return self._call({**params, "token": token}, action=params["action"], target=target, mute=mute)
        except _TokenRejected as error:
            raise AuthenticationFailed(
                f"the bot's login session was refused even after renewing it — {_ADMIN_HINT}",
                system=SYSTEM_NAME,
                detail=error.detail,
                status_code=error.status_code,
            ) from None

    # -- one HTTP exchange ---------------------------------------------------------------------

    def _call(
        self,
        params: Mapping[str, str],
        *,
        action: str,
        target: RecordingTarget | None,
        mute: int | None,
        headers: Mapping[str, str] | None = None,
    ) -> _Answer:
        # apiKey first, then the rest: the order the vendor's examples use.
        form = {"action": params["action"], "apiKey": self._api_key}
        form.update((k, v) for k, v in params.items() if k != "action")
        # POST with a form body (the API takes GET or POST alike) keeps the key and the token out of
        # URLs, and so out of proxy access logs and HTTP-library log lines.
        request = self._http.build_request("POST", self._endpoint, data=form, headers=headers)
        safe_url = redact_url(str(request.url))
        started = time.perf_counter()
        try:
            response = read_bounded(self._http.send(request, stream=True), self._answer_limits)
        except (httpx.HTTPError, AnswerTooLarge, AnswerTooSlow) as exc:
            elapsed_ms = (time.perf_counter() - started) * 1000
            logger.warning(
                "Media Repository %s failed after %.0f ms (%s): POST %s",
                action,
                elapsed_ms,
                type(exc).__name__,
                safe_url,
            )
            raise self._exchange_error(exc) from None
        elapsed_ms = (time.perf_counter() - started) * 1000
        logger.info(
            "Media Repository %s: HTTP %d in %.0f ms: POST %s",
            action,
            response.status_code,
            elapsed_ms,
            safe_url,
        )
        return self._interpret(response, action=action, target=target, mute=mute)

    def _exchange_error(self, exc: Exception) -> UpstreamError:
        detail = self._redact(f"{type(exc).__name__}: {exc}")
        if isinstance(exc, AnswerTooLarge):
            return UpstreamBadResponse(
                f"sent an answer larger than {size_text(exc.limit)}; the bot stopped reading it — {_URL_HINT}",
                system=SYSTEM_NAME,
                detail=detail,
            )
        if isinstance(exc, AnswerTooSlow):
            return UpstreamUnreachable(
                f"was still sending its answer after {exc.seconds:g} s; the bot stopped waiting",
                system=SYSTEM_NAME,
                detail=detail,
            )
        if isinstance(exc, httpx.TransportError):
            return self._transport_error(exc, detail)
        # Broken compression, or anything else httpx cannot make of the answer.
        return UpstreamBadResponse(
            f"sent an answer the bot cannot decode ({type(exc).__name__})", system=SYSTEM_NAME, detail=detail
        )

    def _transport_error(self, exc: httpx.TransportError, detail: str) -> UpstreamUnreachable:
        if isinstance(exc, httpx.TimeoutException):
            timeouts = self._http.timeout
            seconds = {
                httpx.ConnectTimeout: timeouts.connect,
                httpx.ReadTimeout: timeouts.read,
                httpx.WriteTimeout: timeouts.write,
                httpx.PoolTimeout: timeouts.pool,
            }.get(type(exc))
            within = f"within {seconds:g} s" if seconds is not None else "in time"
            return UpstreamUnreachable(f"did not answer {within}", system=SYSTEM_NAME, detail=detail)
        text = str(exc).lower()
        if isinstance(exc, httpx.ConnectError):
            if "refused" in text:
                message = f"refused the connection — {_URL_HINT}"
            elif "name" in text or "getaddrinfo" in text or "resolve" in text:
                message = f"could not be found on the network (unknown host name) — {_URL_HINT}"
            elif "ssl" in text or "certificate" in text or "tls" in text:
                message = "could not be reached securely (TLS/certificate problem) — tell a bot admin"
            else:
                message = f"could not be reached — {_URL_HINT}"
        elif isinstance(exc, httpx.UnsupportedProtocol):
            message = f"has an address the bot cannot use — {_URL_HINT}"
        else:
            message = "dropped the connection before answering"
        return UpstreamUnreachable(message, system=SYSTEM_NAME, detail=detail)

    # -- reading the answer --------------------------------------------------------------------

    def _interpret(
        self,
        response: httpx.Response,
        *,
        action: str,
        target: RecordingTarget | None,
        mute: int | None,
    ) -> _Answer:
        status = response.status_code
        content = response.content
        root, parse_problem = self._parse(content)
        envelope = _find(root, "Response") if root is not None else None
        # Any token in the answer is registered (inside `_parse`) before the body is copied anywhere.
        detail = self._detail(response.text)
        logger.debug("Media Repository %s answer: %s", action, detail)

        def bad(message: str) -> UpstreamBadResponse:
            return UpstreamBadResponse(message, system=SYSTEM_NAME, detail=detail, status_code=status)

        if status in (502, 503, 504):
            raise UpstreamUnreachable(
                f"is not reachable right now (HTTP {status})",
                system=SYSTEM_NAME,
                detail=detail,
                status_code=status,
            )
        code = envelope.get("code") if envelope is not None else None
        if root is not None and code is not None and code.strip() != "0":
            raise self._rejection(root, envelope, code.strip(), action, target, mute, detail, status)
        if status == 401:
            if action != "RequestToken" and self.uses_token:
                raise _TokenRejected(
                    "the session token was refused", system=SYSTEM_NAME, detail=detail, status_code=status
                )
            raise AuthenticationFailed(
                f"refused the bot's credentials (HTTP 401) — {_ADMIN_HINT}",
                system=SYSTEM_NAME,
                detail=detail,
                status_code=status,
            )
        if status == 403:
            raise AuthenticationFailed(
                f"refused the bot access (HTTP 403) — {_ADMIN_HINT}",
                system=SYSTEM_NAME,
                detail=detail,
                status_code=status,
            )
        if status == 429:
            raise RateLimited(
                "asked the bot to slow down — try again in a minute",
                system=SYSTEM_NAME,
                detail=detail,
                status_code=status,
            )
        if 300 <= status < 400:
            raise bad(f"answered with a redirect (HTTP {status}) instead of a result — {_URL_HINT}")
        if not 200 <= status < 300:
            raise bad(f"answered with an error (HTTP {status})")
        if not content.strip():
            raise bad("sent an empty answer")
        if _looks_like_html(response, content):
            raise bad(f"sent a web page instead of an API answer — {_URL_HINT}")
        if root is None:
            raise bad(f"sent an answer the bot cannot read ({parse_problem})")
        if envelope is None or code is None:
            raise bad("sent XML without a result code")
        return _Answer(response=envelope, detail=detail)

    def _parse(self, content: bytes) -> tuple[Element | None, str]:
        if not content.strip():
            return None, "empty"
        try:
            root = fromstring(content)
        except ParseError:
            return None, "malformed XML"
        except DefusedXmlException:
            # Entity or DTD tricks: never expanded, and not something a real server sends.
            return None, "XML with forbidden entity declarations"
        except (LookupError, ValueError, RecursionError) as error:
            # An encoding Python does not know (LookupError), undecodable text, nesting past any limit.
            return None, f"XML the parser refused ({type(error).__name__})"
        for element in root.iter():
            token = element.get("token")
            if token:
                self._redactor.add(token)
        return root, ""

    def _rejection(
        self,
        root: Element,
        envelope: Element | None,
        code: str,
        action: str,
        target: RecordingTarget | None,
        mute: int | None,
        detail: str,
        status: int,
    ) -> UpstreamError:
        message_element = _find(root, "ErrorMessage")
        description = ""
        text = ""
        if message_element is not None:
            description = (message_element.get("description") or "").strip()
            text = " ".join("".join(message_element.itertext()).split())
        if not description and envelope is not None:
            description = (envelope.get("description") or envelope.get("message") or "").strip()
        if not text and envelope is not None:
            text = " ".join("".join(envelope.itertext()).split())
        upstream_words = self._redact(description or text or f"error code {code}")
        kind = _classify(description, text)

        def make(cls: type[UpstreamError], message: str) -> UpstreamError:
            return cls(message, system=SYSTEM_NAME, detail=detail, status_code=status)

        # A bare 401 on a call means the session, whatever words come with it; only a key problem differs.
        if kind == "token" or (status == 401 and kind in (None, "login") and action != "RequestToken"):
            if action != "RequestToken" and self.uses_token:
                return make(_TokenRejected, "the session token was refused")
            if not self.uses_token:
                return make(
                    AuthenticationFailed,
                    f"wants a user login but the bot has only an API key ({upstream_words}) — {_ADMIN_HINT}",
                )
            return make(AuthenticationFailed, f"refused the bot's login ({upstream_words}) — {_ADMIN_HINT}")
        if kind == "api_key":
            return make(
                AuthenticationFailed,
                f"did not accept the bot's API key or the address it calls from ({upstream_words}) "
                f"— {_ADMIN_HINT}",
            )
        if kind == "login" or action == "RequestToken":
            return make(
                AuthenticationFailed, f"did not accept the bot's account ({upstream_words}) — {_ADMIN_HINT}"
            )
        if kind == "not_found":
            return make(NotFound, _not_found_message(target))
        if kind == "ambiguous":
            return make(Ambiguous, _ambiguous_message(target, mute))
        return make(UpstreamRejected, f"refused the request: {upstream_words} (code {code})")

    # -- redaction -----------------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        return self._redactor(text)

    def _detail(self, body: str) -> str:
        cleaned = self._redact(body)
        if len(cleaned) > _MAX_DETAIL_CHARS:
            cleaned = cleaned[:_MAX_DETAIL_CHARS] + f"… [{len(cleaned) - _MAX_DETAIL_CHARS} more characters]"
        return cleaned


def _local_name(tag: object) -> str:
    # Tolerate a namespace on the envelope even though the documented answers have none.
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _find(root: Element, name: str) -> Element | None:
    for element in root.iter():
        if _local_name(element.tag) == name:
            return element
    return None


def _looks_like_html(response: httpx.Response, content: bytes) -> bool:
    if "html" in response.headers.get("content-type", "").lower():
        return True
    start = content.lstrip()[:200].lower()
    return start.startswith((b"<!doctype html", b"<html"))


# Error codes are not published, so answers are recognised by their words; checked in this order.
_TOKEN_WORDS: Final = ("invalid", "expired", "expire", "not valid", "unknown", "missing", "required")
_API_KEY_WORDS: Final = ("api key", "apikey", "api-key", "source address", "ip address", "not allowed from")
_LOGIN_WORDS: Final = (
    "password",
    "user name",
    "username",
    "authentication",
    "unauthorized",
    "not authorized",
    "access denied",
    "permission",
)
_AMBIGUOUS_WORDS: Final = ("more than one", "multiple", "ambiguous", "several calls")
_NOT_FOUND_WORDS: Final = (
    "not found",
    "no call",
    "no ongoing",
    "no matching",
    "could not find",
    "cannot find",
    "does not exist",
    "no such",
)


def _classify(*phrases: str) -> str | None:
    """The most telling kind found in any phrase (a token or key problem outranks a generic login one)."""
    found = {_classify_one(phrase.lower()) for phrase in phrases if phrase}
    return next((kind for kind in _KINDS_BY_PRIORITY if kind in found), None)


_KINDS_BY_PRIORITY: Final = ("token", "api_key", "login", "ambiguous", "not_found")


def _classify_one(text: str) -> str | None:
    if "token" in text and any(word in text for word in _TOKEN_WORDS):
        return "token"
    if any(word in text for word in _API_KEY_WORDS):
        return "api_key"
    if any(word in text for word in _LOGIN_WORDS):
        return "login"
    if any(word in text for word in _AMBIGUOUS_WORDS):
        return "ambiguous"
    if any(word in text for word in _NOT_FOUND_WORDS):
        return "not_found"
    return None


def _not_found_message(target: RecordingTarget | None) -> str:
    if target is None:
        return "found nothing matching the request"
    if target.kind is TargetKind.CALL_ID:
        return f"no ongoing call found with call ID {target.value} — the call may have ended"
    return f"no ongoing call found for extension {target.value} — the call may have ended"


def _ambiguous_message(target: RecordingTarget | None, mute: int | None) -> str:
    verb = "resume" if mute == RESUME_MASK else "pause"
    if target is None:
        return "found more than one match"
    if target.kind is TargetKind.CALL_ID:
        return f"more than one call matched call ID {target.value} — tell a bot admin"
    # The bot never learns a call's ID, so the advice names where the user can see one.
    return (
        f"more than one ongoing call on extension {target.value}, so it cannot tell which one to {verb} — "
        f"{verb} by the call's ID, as the recording system's call list shows it (`/recording {verb} <call ID>`)"
    )
