"""The App Home tab: published when someone opens it, and again for everyone a request's change concerns —
at most once per person every 10 seconds; a failed publish never affects a request."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.blocks.home import home_view, not_listed_home
from bot.listeners.identity import slack_user
from bot.listeners.installations import SlackClients, as_clients
from bot.listeners.work import Attempt, fail
from bot.models import Invocation, PauseRequest, SlackUser
from bot.models.refusals import NotCovered
from bot.services.bundle import Services
from bot.services.home import HomeService, NotListedHome
from bot.serving.background import BackgroundWork
from bot.serving.shapes import is_user_id

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 10.0


class HomePublisher:
    """Publishes Home views; each person's at most once per REFRESH_SECONDS (a later change is published
    when the interval has passed, so the last state always shows)."""

    def __init__(
        self,
        *,
        client: WebClient | SlackClients,
        homes: HomeService,
        work: BackgroundWork,
        interval: float = REFRESH_SECONDS,
    ) -> None:
        self._clients = as_clients(client)
        self._homes = homes
        self._work = work
        self._interval = interval
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], float] = {}
        self._deferred: dict[tuple[str, str], threading.Timer] = {}

    def publish_now(self, team_id: str, user_id: str) -> None:
        """Someone opened their Home: publish it (counts toward the interval)."""
        with self._lock:
            self._last[(team_id, user_id)] = time.monotonic()
        self._publish(team_id, user_id)

    def request_changed(self, request: PauseRequest) -> None:
        try:
            people = set(self._homes.people_to_refresh(request))
        except Exception:
            logger.warning("no Home refresh for request #%s: its people could not be read", request.id, exc_info=True)
            return
        for user_id in people:
            self._refresh(request.team_id, user_id)

    def stop(self) -> None:
        with self._lock:
            timers, self._deferred = list(self._deferred.values()), {}
        for timer in timers:
            timer.cancel()

    def _refresh(self, team_id: str, user_id: str) -> None:
        key = (team_id, user_id)
        now = time.monotonic()
        with self._lock:
            wait = self._last.get(key, -self._interval) + self._interval - now
            if wait > 0:
                if key not in self._deferred:
                    timer = threading.Timer(wait, self._deferred_publish, args=key)
                    timer.daemon = True
                    self._deferred[key] = timer
                    timer.start()
                return
            self._last[key] = now
        self._work.submit(lambda: self._publish(team_id, user_id))

    def _deferred_publish(self, team_id: str, user_id: str) -> None:
        with self._lock:
            self._deferred.pop((team_id, user_id), None)
            self._last[(team_id, user_id)] = time.monotonic()
        self._work.submit(lambda: self._publish(team_id, user_id))

    def _publish(self, team_id: str, user_id: str) -> None:
        try:
            home = self._homes.home_for(SlackUser(team_id=team_id, user_id=user_id))
            if isinstance(home, NotListedHome):
                view = not_listed_home(home.admins)
            else:
                view = home_view(
                    user_id=home.user_id, role=home.role.value, group_name=home.group_name,
                    to_decide=home.to_decide, active=home.active, mine=home.mine, now=home.now,
                )  # fmt: skip
            self._clients.for_team(team_id).views_publish(user_id=user_id, view=view)
        except (SlackApiError, SlackClientError, OSError, ValueError) as error:
            reason = error.response.get("error") if isinstance(error, SlackApiError) else type(error).__name__
            logger.warning("Home of %s not published: %s", user_id, reason)
        except Exception:
            logger.exception("Home of %s not published", user_id)


def register(app: App, publisher: HomePublisher, services: Services | None = None) -> None:
    def on_home_opened(ack: Ack, body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
        ack()
        user_id, tab = event.get("user"), event.get("tab")
        # Whose Home to publish comes from the event alone: a user that is not a user ID would publish
        # to `"None"` or `"{'id': …}"`.
        if not is_user_id(user_id) or not isinstance(tab, str | None):
            what = "its user is not a Slack user ID" if not is_user_id(user_id) else "its tab is not a string"
            logger.info("ignored a malformed app_home_opened event: %s", what)
            return
        if tab not in (None, "home"):
            return
        user = slack_user(body, user_id=str(user_id))
        if services is not None and not _covered(services, user, request_id=str(context.get("request_id") or "")):
            return
        publisher.publish_now(user.team_id, user.user_id)

    app.event("app_home_opened")(on_home_opened)


def _covered(services: Services, user: SlackUser, *, request_id: str) -> bool:
    """Whether the bot serves where the Home was opened; if not, the refusal is audited (and no Home is
    published: there is nothing the bot may show there)."""
    try:
        services.authorizer.require_covered(user)
    except NotCovered as refusal:
        invocation = Invocation(user=user, channel_id="", request_id=request_id, text="event: app_home_opened")
        fail(Attempt(invocation, "event.app_home_opened", users_group=False), services, refusal, reply=lambda _: None)
        return False
    return True
