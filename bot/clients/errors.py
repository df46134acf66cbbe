"""Errors raised by the upstream clients, in one small hierarchy.

    UpstreamError                 anything that went wrong talking to an upstream system
    ├── UpstreamUnreachable       no answer: refused connection, DNS failure, timeout
    ├── UpstreamBadResponse       an answer we cannot read: HTML page, empty body, malformed XML/JSON
    └── UpstreamRejected          a well-formed refusal from the upstream
        ├── AuthenticationFailed  key, token or scope problem: an admin must fix the configuration
        ├── NotFound              the thing asked for does not exist (e.g. the call has ended)
        ├── Ambiguous             more than one match (e.g. several calls on one extension)
        └── RateLimited           the upstream asked us to slow down and retries ran out

Every error carries the name of the system (shown to users), a plain-words message, the upstream's
own tracking ID when it gives one, and `detail` (the raw answer, already redacted) for the audit log.
Listeners render them in one place; nothing here knows about Slack.
"""

from __future__ import annotations


class UpstreamError(Exception):
    """Base class: `str(error)` is a sentence a person can act on, with no secret in it."""

    def __init__(
        self,
        message: str,
        *,
        system: str,
        tracking_id: str | None = None,
        detail: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.system = system
        self.tracking_id = tracking_id
        self.detail = detail
        self.status_code = status_code

    @property
    def kind(self) -> str:
        """A short stable name for the audit log (`unreachable`, `not_found`, …)."""
        return _KIND_BY_CLASS.get(type(self), "error")

    def user_message(self) -> str:
        """The message for Slack: which system failed (named once), what happened, the tracking ID if any."""
        if _names_system(self.message, self.system):
            return self._with_tracking_id(self.message[0].upper() + self.message[1:])
        return self._with_tracking_id(f"{self.system}: {self.message}")

    def reason(self) -> str:
        """What happened, for a line that already names the system (e.g. `✗ Webex: …`): no name repeated."""
        text = self.message
        if _names_system(text, self.system):
            text = text[len(self.system) :].lstrip(" :")
        return self._with_tracking_id(text)

    def _with_tracking_id(self, text: str) -> str:
        return f"{text} (tracking ID {self.tracking_id})" if self.tracking_id else text


def _names_system(message: str, system: str) -> bool:
    # Some messages read as whole sentences ("Webex did not answer …"), others continue the name
    # ("refused the connection"); prefixing the first kind would say the name twice.
    return bool(system) and message.casefold().startswith(system.casefold())


class UpstreamUnreachable(UpstreamError):
    """The upstream did not answer (refused, DNS, TLS, timeout)."""


class UpstreamBadResponse(UpstreamError):
    """The upstream answered with something we cannot interpret."""


class UpstreamRejected(UpstreamError):
    """The upstream understood the request and refused it."""


class AuthenticationFailed(UpstreamRejected):
    """Credentials are wrong, expired or lack a permission; an admin must act."""


class NotFound(UpstreamRejected):
    """The requested call, line or object does not exist."""


class Ambiguous(UpstreamRejected):
    """More than one object matched where exactly one was needed."""


class RateLimited(UpstreamRejected):
    """The upstream kept answering 429/423 after the allowed retries."""


_KIND_BY_CLASS: dict[type[UpstreamError], str] = {
    UpstreamUnreachable: "unreachable",
    UpstreamBadResponse: "bad_response",
    UpstreamRejected: "rejected",
    AuthenticationFailed: "authentication",
    NotFound: "not_found",
    Ambiguous: "ambiguous",
    RateLimited: "rate_limited",
}
