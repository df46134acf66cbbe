"""Speaking HTTP to Webex: one exchange with bounded retries, and every answer turned into JSON or an UpstreamError."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn

import httpx

from bot.clients.errors import (
    AuthenticationFailed,
    NotFound,
    RateLimited,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamRejected,
    UpstreamUnreachable,
)
from bot.clients.limits import DEFAULT_LIMITS, AnswerLimits, AnswerTooLarge, AnswerTooSlow, read_bounded
from bot.redaction import SecretRedactor, redact_url
from bot.words import size_text

logger = logging.getLogger(__name__)

SYSTEM_NAME = "Webex"

_RETRY_AFTER_STATUSES = frozenset({423, 429})
_BACKOFF_STATUSES = frozenset({502, 503, 504})
_DEFAULT_RETRY_AFTER_SECONDS = 1.0
_FIRST_BACKOFF_SECONDS = 0.5
_MAX_DETAIL_CHARS = 2000
_MAX_UPSTREAM_MESSAGE_CHARS = 300

_MSG_UNAUTHORIZED = (
    "the Webex access token is invalid or expired — an admin must renew WEBEX_ACCESS_TOKEN "
    "(or configure WEBEX_REFRESH_TOKEN)"
)
_MSG_UNAUTHORIZED_AFTER_RENEWAL = (
    "Webex rejected the access token even after renewing it with the refresh token — an admin must "
    "re-authorize the integration and update WEBEX_REFRESH_TOKEN"
)
_MSG_FORBIDDEN = "the token lacks the spark-admin:telephony_config_read scope or an admin role"


class WebexTransport:
    """HTTP to one Webex base URL over a caller-built `httpx.Client`; thread-safe (it holds no per-call state)."""

    def __init__(
        self,
        *,
        http: httpx.Client,
        base_url: str,
        redactor: SecretRedactor,
        clock: Callable[[], datetime],
        max_retries: int,
        max_retry_after_seconds: float,
        sleep: Callable[[float], None],
        answer_limits: AnswerLimits = DEFAULT_LIMITS,
    ) -> None:
        self._http = http
        self._answer_limits = answer_limits
        self.base_url = base_url.rstrip("/")
        self.base = httpx.URL(self.base_url)
        self._redactor = redactor
        self._clock = clock
        self._max_retries = max(0, max_retries)
        self._max_retry_after = max(0.0, max_retry_after_seconds)
        self._sleep = sleep

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    # -- sending ---------------------------------------------------------------------------------

    def exchange(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """One request plus the bounded retries for 429/423/502/503/504; returns the last answer."""
        attempt = 0
        while True:
            response = self._send(method, url, params=params, data=data, headers=headers, json_body=json_body)
            status = response.status_code
            retryable = status in _RETRY_AFTER_STATUSES or status in _BACKOFF_STATUSES
            if not retryable or attempt >= self._max_retries:
                return response
            wait = self._retry_wait(response, attempt)
            logger.info(
                "Webex answered HTTP %d; retry %d of %d in %.1f s", status, attempt + 1, self._max_retries, wait
            )
            self._sleep(wait)
            attempt += 1

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None,
        data: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        json_body: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        full_url = httpx.URL(url).copy_merge_params(params) if params else httpx.URL(url)
        shown_url = redact_url(str(full_url))
        started = time.perf_counter()
        try:
            request = self._http.build_request(method, url, params=params, data=data, headers=headers, json=json_body)
            # Read whole now, within bounds, so a body that stalls counts as a timeout here, not somewhere later.
            response = read_bounded(self._http.send(request, stream=True), self._answer_limits)
        except AnswerTooLarge as exc:
            logger.warning("Webex %s %s: %s; stopped reading", method, shown_url, exc)
            raise UpstreamBadResponse(
                f"Webex sent an answer larger than {size_text(exc.limit)}; the bot stopped reading it "
                "— check WEBEX_API_URL and any proxy in between",
                system=SYSTEM_NAME,
                detail=self._redactor(f"{exc}: {method} {shown_url}"),
            ) from None
        except AnswerTooSlow as exc:
            logger.warning("Webex %s %s: %s; stopped waiting", method, shown_url, exc)
            raise UpstreamUnreachable(
                f"Webex was still sending its answer after {exc.seconds:g} s; the bot stopped waiting "
                "— try again in a minute",
                system=SYSTEM_NAME,
                detail=self._redactor(f"{exc}: {method} {shown_url}"),
            ) from None
        except httpx.DecodingError as exc:
            logger.warning("Webex %s %s: the answer cannot be decoded (%s)", method, shown_url, exc)
            raise UpstreamBadResponse(
                "Webex sent an answer the bot cannot decode (broken compression) — check any proxy in between",
                system=SYSTEM_NAME,
                detail=self._redactor(f"{type(exc).__name__}: {exc}: {method} {shown_url}"),
            ) from None
        except httpx.TimeoutException as exc:
            elapsed_ms = (time.perf_counter() - started) * 1000
            logger.warning("Webex %s %s timed out after %.0f ms", method, shown_url, elapsed_ms)
            raise UpstreamUnreachable(
                "Webex did not answer in time — it may be slow or unreachable; try again in a minute",
                system=SYSTEM_NAME,
                detail=self._redactor(f"{type(exc).__name__} after {elapsed_ms:.0f} ms: {method} {shown_url}"),
            ) from None
        except httpx.HTTPError as exc:
            elapsed_ms = (time.perf_counter() - started) * 1000
            reason = self._redactor(str(exc)) or type(exc).__name__
            logger.warning("Webex %s %s failed after %.0f ms: %s", method, shown_url, elapsed_ms, reason)
            raise UpstreamUnreachable(
                f"Webex did not answer ({type(exc).__name__}) — check the network path to {self.base.host or 'Webex'}",
                system=SYSTEM_NAME,
                detail=self._redactor(f"{type(exc).__name__}: {reason}: {method} {shown_url}"),
            ) from None
        elapsed_ms = (time.perf_counter() - started) * 1000
        logger.info(
            "Webex %s %s -> %d in %.0f ms (trackingid %s)",
            method, shown_url, response.status_code, elapsed_ms, tracking_id(response) or "-",
        )  # fmt: skip
        return response

    def _retry_wait(self, response: httpx.Response, attempt: int) -> float:
        header = response.headers.get("Retry-After")
        wait = self._parse_retry_after(header) if header else None
        if wait is None:
            if response.status_code in _RETRY_AFTER_STATUSES:
                wait = _DEFAULT_RETRY_AFTER_SECONDS
            else:
                wait = _FIRST_BACKOFF_SECONDS * (2**attempt)
        return min(max(wait, 0.0), self._max_retry_after)

    def _parse_retry_after(self, header: str) -> float | None:
        value = header.strip()
        try:
            return float(value)
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return (when - self._clock()).total_seconds()

    # -- reading answers -------------------------------------------------------------------------

    def json_object(self, response: httpx.Response, *, secret_body: bool = False) -> dict[str, Any]:
        """The JSON object in a 2xx answer; `secret_body` keeps a token answer's body out of `detail`."""
        text = response.text
        problem: str | None = None
        payload: Any = None
        if not text.strip():
            problem = "Webex sent an empty answer where JSON was expected"
        elif "html" in response.headers.get("content-type", "") or text.lstrip().startswith("<"):
            problem = "Webex sent a web page instead of JSON — a proxy or sign-in page may be in the way"
        else:
            try:
                payload = _loads(text)
            except _NestedTooDeeply:
                problem = "Webex sent malformed JSON (nested too deeply)"
            except ValueError:
                problem = "Webex sent malformed JSON"
            else:
                if not isinstance(payload, dict):
                    problem = "Webex sent JSON of an unexpected shape (not an object)"
        if problem is not None:
            raise self.bad_response(problem, response, with_body=not secret_body)
        assert isinstance(payload, dict)
        return payload

    def raise_for_status(
        self, response: httpx.Response, *, not_found: str, renewed: bool, forbidden: str = _MSG_FORBIDDEN
    ) -> NoReturn:
        status = response.status_code
        said = self.upstream_said(response)
        if status == 401:
            message = _MSG_UNAUTHORIZED_AFTER_RENEWAL if renewed else _MSG_UNAUTHORIZED
            raise self.error(AuthenticationFailed, message, response, said)
        if status == 403:
            raise self.error(AuthenticationFailed, forbidden, response, said)
        if status == 404:
            raise self.error(NotFound, not_found, response, said)
        if status in _RETRY_AFTER_STATUSES:
            what = "is rate-limiting the bot" if status == 429 else "reports the resource as locked"
            raise self.error(
                RateLimited,
                f"Webex {what} (HTTP {status}) and still did after {self._max_retries} retries — try again in a minute",
                response,
                said,
            )
        if status >= 500:
            retried = f", still after {self._max_retries} retries" if status in _BACKOFF_STATUSES else ""
            raise self.error(
                UpstreamUnreachable,
                f"Webex is not working right now (HTTP {status}{retried}) — try again later",
                response,
                said,
            )
        if 300 <= status < 400:
            # httpx does not follow redirects; Webex's API does not send them, proxies and wrong URLs do.
            raise self.bad_response(
                f"Webex answered with a redirect (HTTP {status}) — check WEBEX_API_URL and any proxy in between",
                response,
            )
        raise self.error(UpstreamRejected, f"Webex refused the request (HTTP {status})", response, said)

    def error(
        self, kind: type[UpstreamError], message: str, response: httpx.Response, said: str | None
    ) -> UpstreamError:
        if said:
            message = f"{message} (Webex said: “{said}”)"
        return kind(
            self._redactor(message),
            system=SYSTEM_NAME,
            tracking_id=tracking_id(response),
            detail=self._detail(response),
            status_code=response.status_code,
        )

    def bad_response(
        self,
        message: str,
        response: httpx.Response,
        cause: Exception | None = None,
        *,
        with_body: bool = True,
    ) -> UpstreamBadResponse:
        detail = self._detail(response, with_body=with_body)
        if cause is not None:
            detail = f"{detail}\n{self._redactor(str(cause))[:_MAX_DETAIL_CHARS]}"
        return UpstreamBadResponse(
            message,
            system=SYSTEM_NAME,
            tracking_id=tracking_id(response),
            detail=detail,
            status_code=response.status_code,
        )

    def _detail(self, response: httpx.Response, *, with_body: bool = True) -> str:
        body = response.text[:_MAX_DETAIL_CHARS] if with_body else f"({len(response.content)} bytes not kept)"
        return self._redactor(
            f"HTTP {response.status_code} {response.request.method} {redact_url(str(response.request.url))}: {body}"
        )

    def upstream_said(self, response: httpx.Response) -> str | None:
        """Webex's own explanation, from whichever of its error-body shapes is present."""
        body = _error_body(response)
        if body is None:
            return None
        parts: list[str] = []
        for key in ("message", "error_description", "error"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                parts.append(value.strip())
                break
        errors = body.get("errors")
        if isinstance(errors, list):
            for item in errors:
                description = item.get("description") if isinstance(item, dict) else None
                if isinstance(description, str) and description.strip() and description.strip() not in parts:
                    parts.append(description.strip())
        if not parts:
            return None
        said = "; ".join(parts)
        if len(said) > _MAX_UPSTREAM_MESSAGE_CHARS:
            said = said[: _MAX_UPSTREAM_MESSAGE_CHARS - 1] + "…"
        return self._redactor(said)


def tracking_id(response: httpx.Response) -> str | None:
    header = response.headers.get("trackingid")
    if isinstance(header, str) and header.strip():
        return header.strip()
    body = _error_body(response)
    value = body.get("trackingId") if body else None
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _error_body(response: httpx.Response) -> dict[str, Any] | None:
    try:
        payload = _loads(response.text)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


class _NestedTooDeeply(ValueError):
    """JSON nested past the parser's depth, for which json.loads raises RecursionError."""


def _loads(text: str) -> Any:
    """json.loads, with every way it fails as a ValueError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise _NestedTooDeeply from None
