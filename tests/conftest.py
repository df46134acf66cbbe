"""Fixtures: simulated upstreams on loopback, the real app served over HTTP, a Slack request signer."""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import SLACK_TIMEOUT_SECONDS, RecordingBot, create_app
from bot.config import Config
from bot.models import Role
from bot.redaction import redactor
from bot.sandbox.postgres_server import PostgresServer
from bot.sandbox.simulators.recording_system import DEMO_CALLS, SimulatedRecordingSystem
from bot.sandbox.simulators.slack import SimulatedSlack
from bot.sandbox.simulators.webex import DEFAULT_ACCESS_TOKEN, SimulatedWebex
from bot.serving.local import LocalServer
from bot.serving.wsgi import wsgi_app_for
from bot.store.sqlite import SqliteDatabase
from tests.support.postgres import Databases, own_server, shared_server
from tests.support.slack_requests import TEAM, SlackSender

# Distinctive secret values: the secrets tests search every log line and message for them.
BOT_TOKEN = "xoxb-SECRET-bot-token-5f1e"
SIGNING_SECRET = "SECRET-signing-8c2d41a9b7e3f6a0"
RECORDER_API_KEY = "SECRET-apikey-0b7e4c1d-9f2a"
RECORDER_USER = "recording-bot-api"
RECORDER_PASSWORD = "SECRET-password-7d3e9a"
SECRETS = (BOT_TOKEN, SIGNING_SECRET, RECORDER_API_KEY, RECORDER_PASSWORD)
ADMIN = "U0ADMIN"
LEAD = "U0LEAD"
LEAD2 = "U0LEAD2"
AGENT = "U0AGENT"
STRANGER = "U0STRANGER"


class TestClock:
    """A clock the test moves forward, so pause windows and approval timeouts pass in milliseconds."""

    def __init__(self) -> None:
        self._now = datetime.now(UTC).replace(microsecond=0)
        self._lock = threading.Lock()
        self._moved: list[Callable[[], None]] = []
        self.waits: list[float] = []

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, **delta: float) -> None:
        with self._lock:
            self._now += timedelta(**delta)
            moved = list(self._moved)
        for callback in moved:
            callback()

    def sleep(self, seconds: float) -> None:
        """The bot's wait between retries (Retry-After, a backoff): noted for the test to check, not waited out."""
        with self._lock:
            self.waits.append(seconds)

    def when_moved(self, callback: Callable[[], None]) -> None:
        """Call `callback` after each advance (a served bot's scheduler looks at its deadlines again)."""
        with self._lock:
            self._moved.append(callback)


# How long a served bot's scheduler sleeps at most between looks at its deadlines (the clock is the test's).
SCHEDULER_MAX_SLEEP_SECONDS = 1.0


class ServedBot:
    """The real app behind a real HTTP server on 127.0.0.1, restartable on the same database."""

    def __init__(
        self, config: Config, *, clock: TestClock | None = None, slack_timeout_seconds: int = SLACK_TIMEOUT_SECONDS
    ) -> None:
        self.config = config
        self.clock = clock or TestClock()
        self.slack_timeout_seconds = slack_timeout_seconds
        self._watching_clock = False
        self.bot: RecordingBot | None = None
        self._server: LocalServer | None = None
        self._port = 0
        self.url = ""

    def start(self) -> ServedBot:
        # A clock moved forward wakes the scheduler at once (its deadlines may have come); between moves it
        # looks a few times a second, for deadlines another instance stored and retries after a failure.
        if not self._watching_clock:
            self.clock.when_moved(self._clock_moved)
            self._watching_clock = True
        self.bot = create_app(
            self.config,
            clock=self.clock,
            scheduler_max_sleep=SCHEDULER_MAX_SLEEP_SECONDS,
            slack_timeout_seconds=self.slack_timeout_seconds,
            sleep=self.clock.sleep,
        ).start()
        # A restart comes back on the same port, as a redeployed bot keeps its URL.
        self._server = LocalServer(wsgi_app_for(self.bot), port=self._port).start()
        self._port = self._server.port
        self.url = self._server.url
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self.bot is not None:
            self.bot.close()
            self.bot = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def _clock_moved(self) -> None:
        bot = self.bot
        if bot is not None:
            bot.services.pauses.schedule_changed.set()


@pytest.fixture
def slack() -> Iterator[SimulatedSlack]:
    with SimulatedSlack(bot_token=BOT_TOKEN, team_id=TEAM) as simulated:
        yield simulated  # type: ignore[misc]


@pytest.fixture
def recording_system() -> Iterator[SimulatedRecordingSystem]:
    simulated = SimulatedRecordingSystem(
        api_key=RECORDER_API_KEY, username=RECORDER_USER, password=RECORDER_PASSWORD, calls=DEMO_CALLS,
        slow_seconds=1.5,
    )  # fmt: skip
    with simulated:
        yield simulated


@pytest.fixture
def webex() -> Iterator[SimulatedWebex]:
    with SimulatedWebex() as simulated:
        yield simulated


ENGINES = ("sqlite", "postgresql")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The long tests (marked slow: processes killed and restarted, leases run out) start the run, shared out
    among the workers, instead of one worker finishing the run alone with one of them. Work stealing hands
    each worker one stretch of the list (and others take from a stretch's end): each stretch starts with its
    share of the long tests. Every worker computes the same order, as xdist requires."""
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    rest = [item for item in items if item.get_closest_marker("slow") is None]
    size = -(-len(rest) // workers)
    stretches = [slow[n::workers] + rest[n * size : (n + 1) * size] for n in range(workers)]
    items[:] = [item for stretch in stretches for item in stretch]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses a database runs on both engines, unless it is marked for one."""
    if "engine" in metafunc.fixturenames and "engine" not in metafunc.definition.nodeid:
        marker = metafunc.definition.get_closest_marker("engines")
        engines = marker.args if marker else ENGINES
        metafunc.parametrize("engine", engines, indirect=True)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the run: shared by the xdist workers (tests/support/postgres.py)."""
    if not hasattr(pytestconfig, "workerinput"):  # not an xdist worker: -n 0, or without xdist
        with own_server() as server:
            yield server
        return
    # Each worker's temporary folder is a subfolder of the run's.
    with shared_server(tmp_path_factory.getbasetemp().parent) as server:
        yield server


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file the bot's migrations built once per worker; each test's database starts as a copy of it
    (under a loaded machine the forty DDL statements cost a tenth of a second per test). A test of the
    migrations themselves opens a file of its own."""
    path = tmp_path_factory.mktemp("sqlite-template") / "recording-bot.db"
    database = SqliteDatabase(path)
    try:
        database.migrate()
    finally:
        database.close()
    return path


@pytest.fixture(scope="session")
def postgres_databases(postgres_server: PostgresServer) -> Iterator[Databases]:
    """This worker's test databases: fresh and migrated for each test, cleaned and handed on after it."""
    databases = Databases(postgres_server)
    yield databases
    databases.close()


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def database_settings(engine: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """The configuration values that point the bot at a fresh database of the engine under test."""
    if engine != "postgresql":
        path = tmp_path / "recording-bot.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        path.chmod(0o600)
        yield {"database_path": path}
        return
    databases: Databases = request.getfixturevalue("postgres_databases")
    url = databases.create()
    yield {"database_url": url}
    databases.release(url)


@pytest.fixture
def make_config(
    slack: SimulatedSlack,
    recording_system: SimulatedRecordingSystem,
    webex: SimulatedWebex,
    database_settings: dict[str, Any],
) -> Callable[..., Config]:
    def build(**overrides: Any) -> Config:
        values: dict[str, Any] = {
            "slack_bot_token": BOT_TOKEN,
            "slack_signing_secret": SIGNING_SECRET,
            "slack_api_url": slack.api_url,
            **database_settings,
            "bot_admins": ADMIN,
            "media_repository_url": recording_system.url,
            "media_repository_api_key": RECORDER_API_KEY,
            "media_repository_username": RECORDER_USER,
            "media_repository_password": RECORDER_PASSWORD,
            "media_repository_timeout_seconds": 1.0,
            "webex_api_url": webex.base_url,
            "webex_access_token": DEFAULT_ACCESS_TOKEN,
            "webex_timeout_seconds": 1.0,
        }
        values.update(overrides)
        if "database_path" in overrides:
            values.pop("database_url", None)
        if "database_url" in overrides:
            values.pop("database_path", None)
        return Config(_env_file=None, **values)  # type: ignore[call-arg]

    return build


@pytest.fixture
def config(make_config: Callable[..., Config]) -> Config:
    return make_config()


@pytest.fixture
def served(config: Config) -> Iterator[ServedBot]:
    served_bot = ServedBot(config).start()
    yield served_bot
    served_bot.stop()


@pytest.fixture
def bot(served: ServedBot) -> RecordingBot:
    assert served.bot is not None
    return served.bot


@pytest.fixture
def sender(served: ServedBot, slack: SimulatedSlack) -> Iterator[SlackSender]:
    client = SlackSender(base_url=served.url, signing_secret=SIGNING_SECRET, response_url_factory=slack.response_url)
    yield client
    client.close()


@pytest.fixture
def roles(bot: RecordingBot) -> None:
    """A lead, a second lead and an agent on the allow-list (the admin comes from BOT_ADMINS)."""
    authorizer = bot.services.authorizer
    authorizer.set_role(TEAM, LEAD, Role.APPROVER, source="test")
    authorizer.set_role(TEAM, LEAD2, Role.APPROVER, source="test")
    authorizer.set_role(TEAM, AGENT, Role.REQUESTER, source="test")


@dataclass
class Running:
    """A bot started by `start_bot`, and a sender signing requests to it."""

    served: ServedBot
    sender: SlackSender

    @property
    def bot(self) -> RecordingBot:
        assert self.served.bot is not None
        return self.served.bot


@pytest.fixture
def start_bot_roles() -> Sequence[tuple[str, Role]]:
    """Who `start_bot` puts on the allow-list; a module overrides this fixture to start with fewer people."""
    return ((LEAD, Role.APPROVER), (LEAD2, Role.APPROVER), (AGENT, Role.REQUESTER))


@pytest.fixture
def start_bot(
    make_config: Callable[..., Config], slack: SimulatedSlack, start_bot_roles: Sequence[tuple[str, Role]]
) -> Iterator[Callable[..., Running]]:
    """Start the real app over loopback HTTP with setting overrides and `start_bot_roles` on the allow-list;
    `slack_timeout_seconds` shortens how long the bot waits for Slack (tests of a Slack that never answers)."""
    started: list[Running] = []

    def start(*, slack_timeout_seconds: int = SLACK_TIMEOUT_SECONDS, **overrides: Any) -> Running:
        served = ServedBot(make_config(**overrides), slack_timeout_seconds=slack_timeout_seconds).start()
        sender = SlackSender(
            base_url=served.url, signing_secret=SIGNING_SECRET, response_url_factory=slack.response_url
        )
        running = Running(served, sender)
        started.append(running)
        for user, role in start_bot_roles:
            running.bot.services.authorizer.set_role(TEAM, user, role, source="test")
        return running

    yield start
    for running in started:
        running.sender.close()
        running.served.stop()


@pytest.fixture(autouse=True)
def _known_secrets() -> Iterator[None]:
    """The redactor knows the test's secrets, and forgets them after it: each test starts bots of its own, and
    a log line checked against every earlier test's secrets and Slack hosts cost more with every test."""
    redactor.add(*SECRETS)
    yield
    redactor.forget()


class _EveryLogLine(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self._formatter = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + self._formatter.formatException(record.exc_info)
        self.lines.append(text)


@pytest.fixture(autouse=True)
def _no_secret_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test doubles as a leak test: no configured secret, and no token the simulated recording
    system issued, may appear in a log line, an audit row or anything sent to the simulated Slack."""
    capture = _EveryLogLine()
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(capture)
        root.setLevel(previous_level)
    fixtures = request.node.funcargs
    secrets = list(SECRETS)
    recording_system: SimulatedRecordingSystem | None = fixtures.get("recording_system")
    if recording_system is not None:
        secrets += recording_system.issued_tokens()
    slack: SimulatedSlack | None = fixtures.get("slack")
    places = {"log": "\n".join(capture.lines)}
    if slack is not None:
        # The tokens an install or a token rotation issued (installable mode) come back in slack_sdk's DEBUG
        # lines of oauth.v2.access: the log as written (through the redactor, bot/logs.py) must not hold them.
        issued = [token for token in slack.tokens if token != slack.bot_token]
        written = redactor(places["log"]) if issued else ""
        leaked_tokens = [token[:8] + "…" for token in issued if token in written]
        assert not leaked_tokens, f"Slack token(s) {leaked_tokens} leaked into the log as written"
    if slack is not None:
        places["Slack"] = "\n".join(r.body.decode("utf-8", "replace") for r in slack.requests)
    served: ServedBot | None = fixtures.get("served")
    if served is not None and served.bot is not None:
        places["audit"] = "\n".join(
            f"{r.command} {r.target} {r.details}" for r in served.bot.services.audit.recent(10_000)
        )
    for place, text in places.items():
        leaked = [s[:8] + "…" for s in secrets if s and s in text]
        assert not leaked, f"secret(s) {leaked} leaked into the {place}"


@pytest.fixture(autouse=True)
def _only_valid_block_kit(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test doubles as a Block Kit test: each message and view the bot sent to the simulated Slack
    passed slack_sdk's models (see bot/sandbox/simulators/block_kit.py), or the test fails."""
    yield
    slack: SimulatedSlack | None = request.node.funcargs.get("slack")
    if slack is not None and not getattr(request.node, "allows_invalid_block_kit", False):
        assert not slack.block_kit_violations, f"Slack would refuse: {slack.block_kit_violations[:3]}"
