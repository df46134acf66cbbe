"""What a person's App Home shows: the requests they may decide, the pauses they can see, their own
requests — the same rules as the cards, so a decision on Home is the decision on the card."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.clock import Clock, utc_now
from bot.models import PauseRequest, RequestState, Role, SlackUser
from bot.services.allow_list import Authorizer
from bot.services.deciders import decides
from bot.store.pauses import PauseRequestStore

RECENT_OWN_REQUESTS = 10


@dataclass(frozen=True)
class HomeData:
    user_id: str
    role: Role
    group_name: str | None
    to_decide: list[PauseRequest]
    active: list[PauseRequest]
    mine: list[PauseRequest]
    now: datetime


@dataclass(frozen=True)
class NotListedHome:
    """Someone not on the allow-list: the Home says so and names the admins."""

    admins: list[str]


class HomeService:
    def __init__(self, *, store: PauseRequestStore, authorizer: Authorizer, clock: Clock = utc_now) -> None:
        self._store = store
        self._authorizer = authorizer
        self._clock = clock

    def home_for(self, user: SlackUser) -> HomeData | NotListedHome:
        access = self._authorizer.access_of(user)
        if access is None:
            return NotListedHome(admins=self._authorizer.admins(user.team_id))
        open_states = [s for s in RequestState if s.is_open]
        requests = self._store.in_states(open_states, team_id=user.team_id)
        to_decide = [r for r in requests if r.state is RequestState.PENDING and decides(r, user.user_id, access)]
        active = [
            r
            for r in requests
            if r.state in (RequestState.ACTIVE, RequestState.RESUMING)
            and (r.requester_id == user.user_id or decides(r, user.user_id, access))
        ]
        return HomeData(
            user_id=user.user_id,
            role=access.role,
            group_name=access.group_name,
            to_decide=to_decide,
            active=active,
            mine=self._store.recent_of(user.team_id, user.user_id, RECENT_OWN_REQUESTS),
            now=self._clock(),
        )

    def people_to_refresh(self, request: PauseRequest) -> list[str]:
        """Whose Home shows this request: its requester and everyone who may decide it."""
        return [request.requester_id, *self._authorizer.deciders(request)]
