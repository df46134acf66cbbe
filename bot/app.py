"""create_app(): the one place where configuration, storage, clients, services and Slack are wired together."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot import __version__
from bot.blocks.install_pages import NOT_INSTALLED_TEXT
from bot.clients.recording_system import RecordingSystemClient
from bot.clients.tls import tls_context
from bot.clients.webex import WebexClient, WebexRefreshCredentials, WebexTokenStore
from bot.clients.webex.writes import CallRecordingWriter
from bot.clock import Clock, Sleep, utc_now
from bot.config import Config, ConfigurationError
from bot.listeners import leaving
from bot.listeners.change_notifier import SlackChangeNotifier
from bot.listeners.digest import SlackDigestPublisher
from bot.listeners.forms import form_key
from bot.listeners.home import HomePublisher
from bot.listeners.installations import (
    DatabaseInstallationStore,
    DatabaseStateStore,
    InstalledWorkspaces,
    OneWorkspace,
    SlackClients,
    oauth_flow,
)
from bot.listeners.registry import register as register_listeners
from bot.listeners.slack_calls import MeasuredWebClient, measure_listener_clients
from bot.listeners.slack_directory import SlackDirectory
from bot.listeners.slack_notifier import SlackPauseNotifier
from bot.listeners.slack_org import SlackOrgWorkspaces
from bot.metrics.registry import CONTENT_TYPE, BotFigures, BotMetrics
from bot.models import PauseLimits
from bot.redaction import redactor
from bot.services.allow_list import Authorizer
from bot.services.audit import AuditReader, AuditTrail
from bot.services.bundle import Services
from bot.services.changes import ChangeNotifier, ChangeService, webex_lines_finder
from bot.services.coverage import Coverage, OneInstallation, StoredInstallations
from bot.services.digest import DigestBuilder, DigestInstallations, DigestSchedule, DigestService
from bot.services.home import HomeService
from bot.services.installations import InstallationService
from bot.services.instances import InstanceRegistry
from bot.services.line_settings import LineSettingsService
from bot.services.links import LinkService
from bot.services.notifications import PauseNotifier
from bot.services.pauses import PauseService, PauseSettings
from bot.services.scheduler import MAX_SLEEP_SECONDS, Scheduler
from bot.serving import response_urls
from bot.serving.background import BackgroundWork
from bot.serving.dispatch import BoltDispatcher
from bot.serving.edge import SlackEdge
from bot.serving.inbox import Inbox
from bot.serving.oauth_pages import OAuthPages
from bot.serving.response_urls import ResponseUrlClient
from bot.store.allow_list import AllowListStore
from bot.store.audit import AuditStore
from bot.store.changes import ChangeRequestStore
from bot.store.connect import open_database, open_inbox_database
from bot.store.database import Database, DatabaseUnavailable
from bot.store.digests import DigestStore
from bot.store.encryption import TokenCipher
from bot.store.inbox import InboxStore
from bot.store.installations import InstallationStore, OAuthStates
from bot.store.instances import InstanceStore
from bot.store.links import LinkStore, SeenEvents
from bot.store.pauses import PauseRequestStore
from bot.store.webex_tokens import DatabaseWebexTokenStore

logger = logging.getLogger(__name__)

USER_AGENT = f"recording-bot/{__version__}"


@dataclass
class RecordingBot:
    """A built bot: the Bolt app plus what the web layer, the CLI and the tests reach into."""

    config: Config
    bolt: App
    services: Services
    database: Database
    scheduler: Scheduler
    instances: InstanceRegistry
    team_id: str
    # Verified Slack requests into Bolt (HTTP mode), and the edge that verifies them in this same process.
    dispatcher: BoltDispatcher
    replies: ResponseUrlClient
    edge: SlackEdge
    # /metrics: the page, and METRICS_TOKEN (empty: the page answers on loopback only).
    metrics: BotMetrics
    metrics_token: str = ""
    closers: list[Callable[[], Any]] = field(default_factory=list)
    # Installable mode only: what follows installs and uninstalls, and each workspace's Web API client.
    installations: InstallationService | None = None
    workspaces: InstalledWorkspaces | None = None
    # SQLite: the inbox's own file, which `serve`'s HTTP front writes each request to before its ack.
    inbox_file: Path | None = None

    @property
    def instance_id(self) -> str:
        return self.instances.instance_id

    def start(self) -> RecordingBot:
        """Register this instance and start background work (expiries, automatic resumes, takeovers).
        Call once per serving process; raises AnotherInstanceRunning on an SQLite file already served."""
        self.instances.start()
        self.scheduler.start()
        return self

    def render_metrics(self, edge_snapshot: object = None) -> tuple[str, bytes]:
        """/metrics' content type and page; `edge_snapshot`: the HTTP front's counts (None: this process's)."""
        return CONTENT_TYPE, self.metrics.render(edge_snapshot)

    def close(self) -> None:
        self.scheduler.stop()
        self.instances.stop()
        for closer in reversed(self.closers):
            try:
                closer()
            except Exception:
                logger.exception("error while shutting down")
        self.database.close()


@dataclass
class Core:
    """Everything that does not depend on how Slack is reached (HTTP, Socket Mode or the console)."""

    database: Database
    services: Services
    scheduler: Scheduler
    instances: InstanceRegistry
    closers: list[Callable[[], Any]]


def build_core(
    config: Config,
    *,
    notifier: PauseNotifier,
    clock: Clock = utc_now,
    scheduler_max_sleep: float = MAX_SLEEP_SECONDS,
    change_notifier: ChangeNotifier | None = None,
    database: Database | None = None,
    digest_installations: DigestInstallations | None = None,
    sleep: Sleep = time.sleep,
) -> Core:
    """Storage, upstream clients and services, wired; used by the Slack app and the console alike. `database`:
    already opened (installable mode opens it first: the notifier's tokens live there); `digest_installations`:
    installable mode's installations, each with its digest channel (one digest each)."""
    redactor.add(*config.secret_values())
    config.require_consistent_credentials()
    database = database or open_database(config)
    applied = database.migrate()
    if applied:
        logger.info("database %s: applied migrations %s", database.location, ", ".join(applied))

    closers: list[Callable[[], Any]] = []
    recording_system = _recording_system(config, closers)
    instances = InstanceRegistry(
        store=InstanceStore(database=database),
        # SQLite lives on one machine's disk: one instance. PostgreSQL: as many as the platform runs.
        sole=database.engine == "sqlite",
        database_name=database.location,
        clock=clock,
    )
    audit_store = AuditStore(database=database)
    audit = AuditTrail(store=audit_store, clock=clock)
    # Rows the database refused are written at the end if it takes them now, and logged whole if not.
    closers.append(audit.close)
    authorizer = Authorizer(allow_list=AllowListStore(database=database), audit=audit, clock=clock)
    webex = _webex(config, database, closers, sleep=sleep)
    line_settings = LineSettingsService(webex=webex, authorizer=authorizer)
    links = LinkService(store=LinkStore(database=database), authorizer=authorizer, audit=audit, webex=webex)
    request_store = PauseRequestStore(database=database)
    limits = PauseLimits(
        default_seconds=int(config.default_pause_minutes * 60), max_seconds=int(config.max_pause_minutes * 60)
    )
    settings = PauseSettings(
        approval_timeout=timedelta(minutes=config.approval_timeout_minutes), limits=limits, clock=clock,
        instance_id=instances.instance_id,
    )  # fmt: skip
    pauses = PauseService(
        store=request_store, authorizer=authorizer, audit=audit, notifier=notifier,
        recording_system=recording_system, settings=settings, links=links,
        lines=line_settings if line_settings.configured else None,
    )  # fmt: skip
    services = Services(
        authorizer=authorizer,
        audit=audit,
        audit_log=AuditReader(store=audit_store, authorizer=authorizer),
        limits=limits,
        pauses=pauses,
        line_settings=line_settings,
        links=links,
        homes=HomeService(store=request_store, authorizer=authorizer, clock=clock),
        form_key=form_key(config.slack_signing_secret or config.slack_bot_token),
        digests=_digest_service(config, database, authorizer=authorizer, audit=audit, instance_id=instances.instance_id,
                                clock=clock, installations=digest_installations),
    )  # fmt: skip
    scheduler = Scheduler(
        pauses=pauses, instances=instances, audit=audit, seen_events=SeenEvents(database=database),
        max_sleep_seconds=scheduler_max_sleep,
    )  # fmt: skip
    if change_notifier is not None:
        services.changes = ChangeService(
            store=ChangeRequestStore(database=database), authorizer=authorizer, audit=audit, notifier=change_notifier,
            writer=CallRecordingWriter(client=webex) if webex else None,
            finder=webex_lines_finder(webex) if webex else None,
            approval_timeout=timedelta(minutes=config.approval_timeout_minutes), clock=clock,
        )  # fmt: skip
        scheduler.also_run("expire changes", services.changes.expire_due)
    # The daily digest: each pass asks whether one is due (no database read until its time).
    assert services.digests is not None
    scheduler.also_run("digest", services.digests.post_due)
    return Core(database=database, services=services, scheduler=scheduler, instances=instances, closers=closers)


def _digest_service(
    config: Config,
    database: Database,
    *,
    authorizer: Authorizer,
    audit: AuditTrail,
    instance_id: str,
    clock: Clock,
    installations: DigestInstallations | None,
) -> DigestService:
    """The daily digest: DIGEST_CHANNEL's one, or (installable mode) one per installation."""
    return DigestService(
        builder=DigestBuilder(
            pauses=PauseRequestStore(database=database), audit=AuditStore(database=database),
            changes=ChangeRequestStore(database=database),
        ),
        store=DigestStore(database=database),
        schedule=DigestSchedule.parse(config.digest_time, config.digest_timezone), authorizer=authorizer,
        audit=audit, instance_id=instance_id, clock=clock, installations=installations,
        channel=None if installations is not None else config.digest_channel,
    )  # fmt: skip


def recording_system_client(config: Config, http: httpx.Client) -> RecordingSystemClient:
    """The recording-system client for this configuration (they must be configured)."""
    assert config.media_repository_url is not None and config.media_repository_api_key is not None
    return RecordingSystemClient(
        http=http,
        base_url=config.media_repository_url,
        api_key=config.media_repository_api_key.get_secret_value(),
        username=config.media_repository_username,
        password=(
            config.media_repository_password.get_secret_value() if config.media_repository_password else None
        ),
    )


def webex_client(
    config: Config, http: httpx.Client, *, token_store: WebexTokenStore | None = None, sleep: Sleep = time.sleep
) -> WebexClient:
    """The Webex client for this configuration, renewing its own token when refresh credentials are set."""
    refresh = None
    if config.webex_refresh_token and config.webex_client_id and config.webex_client_secret:
        refresh = WebexRefreshCredentials(
            client_id=config.webex_client_id,
            client_secret=config.webex_client_secret.get_secret_value(),
            refresh_token=config.webex_refresh_token.get_secret_value(),
        )
    return WebexClient(
        http=http,
        base_url=config.webex_api_url,
        access_token=config.webex_access_token.get_secret_value() if config.webex_access_token else "",
        org_id=config.webex_org_id,
        refresh=refresh,
        token_store=token_store if refresh else None,
        sleep=sleep,
    )


def _recording_system(config: Config, closers: list[Callable[[], Any]]) -> RecordingSystemClient | None:
    if not config.media_repository_configured:
        logger.warning("MEDIA_REPOSITORY_URL / MEDIA_REPOSITORY_API_KEY not set: pause and resume are disabled")
        return None
    http = httpx.Client(
        timeout=config.media_repository_timeout_seconds,
        headers={"User-Agent": USER_AGENT},
        verify=tls_context(),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
    )
    closers.append(http.close)
    return recording_system_client(config, http)


def _webex(config: Config, database: Database, closers: list[Callable[[], Any]], *, sleep: Sleep) -> WebexClient | None:
    if not config.webex_configured:
        logger.warning("WEBEX_ACCESS_TOKEN not set: /recording settings and pause-card warnings are disabled")
        return None
    http = httpx.Client(timeout=config.webex_timeout_seconds, headers={"User-Agent": USER_AGENT}, verify=tls_context())
    closers.append(http.close)
    return webex_client(config, http, token_store=DatabaseWebexTokenStore(database=database), sleep=sleep)


# A Slack Web API call unanswered after this long counts as failed (Slack answers in well under a second).
SLACK_TIMEOUT_SECONDS = 10


def create_app(
    config: Config,
    *,
    socket_mode: bool = False,
    clock: Clock = utc_now,
    scheduler_max_sleep: float = MAX_SLEEP_SECONDS,
    work_niceness: int = 0,
    slack_timeout_seconds: int = SLACK_TIMEOUT_SECONDS,
    sleep: Sleep = time.sleep,
) -> RecordingBot:
    """Build the bot from its configuration. Raises ConfigurationError with one readable line on bad setup.
    `work_niceness` lowers the priority of the threads that do the work after each ack (see BackgroundWork);
    `slack_timeout_seconds` is how long a Slack Web API call may take before it counts as failed; `sleep` is
    how the bot waits between retries of Webex and of a card update."""
    config.require_slack(socket_mode=socket_mode)
    redactor.add(*config.secret_values())
    # Before Slack is first called: its DEBUG lines name SLACK_API_URL, and later ones the response URLs.
    redactor.protect_slack_responses(config.slack_api_url)
    if config.installable:
        return _create_installable(
            config, socket_mode=socket_mode, clock=clock, scheduler_max_sleep=scheduler_max_sleep,
            work_niceness=work_niceness, slack_timeout_seconds=slack_timeout_seconds, sleep=sleep,
        )  # fmt: skip
    assert config.slack_bot_token is not None  # checked by require_slack
    bot_token = config.slack_bot_token.get_secret_value()
    slack = MeasuredWebClient(token=bot_token, base_url=config.slack_api_url, timeout=slack_timeout_seconds)
    # Slack answers 429 with Retry-After when a channel gets more than ~1 message a second.
    slack.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    identity = _identify(slack)
    # An org-wide (Enterprise Grid) token serves the organisation: its allow-list, groups and audit are one.
    org_wide = bool(identity.get("is_enterprise_install")) and bool(identity.get("enterprise_id"))
    team_id = str(identity["enterprise_id"] if org_wide else identity["team_id"])

    notifier = SlackPauseNotifier(client=slack, approval_minutes=config.approval_timeout_minutes, sleep=sleep)
    core = build_core(
        config, notifier=notifier, clock=clock, scheduler_max_sleep=scheduler_max_sleep,
        change_notifier=SlackChangeNotifier(client=slack), sleep=sleep,
    )  # fmt: skip
    core.services.links.use_directory(SlackDirectory(client=slack))
    if core.services.digests is not None:
        core.services.digests.use_publisher(SlackDigestPublisher(client=slack))
    if org_wide:
        installation = OneInstallation(enterprise_id=team_id, team_id=None, is_enterprise_install=True)
        core.services.authorizer.use_coverage(
            Coverage(installations=installation, org_workspaces=SlackOrgWorkspaces(client=slack), clock=clock)
        )
    added = core.services.authorizer.bootstrap(team_id, config.admins_for(team_id), source="BOT_ADMINS")
    if added:
        logger.info("made %s admin(s) from BOT_ADMINS", len(added))

    bolt = _bolt(config, identity, bot_token, slack_timeout_seconds=slack_timeout_seconds)
    return _slack_app(
        config, core, bolt, OneWorkspace(slack), notifier, team_id=team_id, clock=clock, work_niceness=work_niceness
    )


def _create_installable(
    config: Config,
    *,
    socket_mode: bool,
    clock: Clock,
    scheduler_max_sleep: float,
    work_niceness: int,
    slack_timeout_seconds: int,
    sleep: Sleep,
) -> RecordingBot:
    """Installable mode: no token of its own; each installation's, from the database, per request."""
    assert config.slack_client_id and config.slack_client_secret and config.slack_state_secret
    assert config.token_encryption_key is not None  # checked by require_slack
    config.require_consistent_credentials()
    database = open_database(config)
    store = InstallationStore(database=database, cipher=TokenCipher(config.token_encryption_key.get_secret_value()))
    client_secret = config.slack_client_secret.get_secret_value()
    workspaces = InstalledWorkspaces(
        store=store, api_url=config.slack_api_url, timeout=slack_timeout_seconds, client_id=config.slack_client_id,
        client_secret=client_secret, clock=clock,
    )  # fmt: skip
    notifier = SlackPauseNotifier(client=workspaces, approval_minutes=config.approval_timeout_minutes, sleep=sleep)
    try:
        core = build_core(
            config, notifier=notifier, clock=clock, scheduler_max_sleep=scheduler_max_sleep, database=database,
            change_notifier=SlackChangeNotifier(client=workspaces), sleep=sleep,
            # Each installation's digest: its own channel (DIGEST_CHANNEL's `T…:C…` entry, or the plain one).
            digest_installations=lambda: [(i.key, config.digest_channel_for(i.key)) for i in store.installed()],
        )  # fmt: skip
    except BaseException:
        database.close()
        raise
    core.services.links.use_directory(SlackDirectory(client=workspaces))
    assert core.services.digests is not None
    core.services.digests.use_publisher(SlackDigestPublisher(client=workspaces))
    # Only where an installation serves: another organisation, or a workspace an org-wide install leaves out,
    # is refused and audited (services/coverage.py).
    core.services.authorizer.use_coverage(
        Coverage(installations=StoredInstallations(store=store), org_workspaces=SlackOrgWorkspaces(client=workspaces),
                 clock=clock)
    )  # fmt: skip
    installations = InstallationService(
        store=store, authorizer=core.services.authorizer, audit=core.services.audit, pauses=core.services.pauses,
        admins_for=config.admins_for, clock=clock, forget_token=workspaces.forget, digests=core.services.digests,
    )  # fmt: skip
    installations.bootstrap_admins()
    template = WebClient(base_url=config.slack_api_url, timeout=slack_timeout_seconds)
    template.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    bolt = _bolt_app(
        name="app.py", client=template,
        signing_secret=(config.slack_signing_secret.get_secret_value() if config.slack_signing_secret else None),
        # Each request's token: its installation's, refreshed first when it expires soon (token rotation).
        authorize=workspaces.bolt_authorize(),
        user_facing_authorize_error_message=NOT_INSTALLED_TEXT,
        process_before_response=True, request_verification_enabled=False, ignoring_self_events_enabled=False,
        url_verification_enabled=True,
    )  # fmt: skip
    leaving.register(bolt, installations)
    flow = oauth_flow(
        client_id=config.slack_client_id, client_secret=client_secret,
        authorize_url=config.slack_oauth_authorize_url, api_url=config.slack_api_url, timeout=slack_timeout_seconds,
        installation_store=DatabaseInstallationStore(store=store, clock=clock),
        state_store=DatabaseStateStore(
            states=OAuthStates(database=database), secret=config.slack_state_secret.get_secret_value(), clock=clock
        ),
        on_installed=installations.installed, clock=clock,
    )  # fmt: skip
    bot = _slack_app(config, core, bolt, workspaces, notifier, team_id="", clock=clock, work_niceness=work_niceness,
                     pages=OAuthPages(flow))  # fmt: skip
    bot.installations = installations
    bot.workspaces = workspaces
    return bot


def _slack_app(
    config: Config,
    core: Core,
    bolt: App,
    slack: SlackClients,
    notifier: SlackPauseNotifier,
    *,
    team_id: str,
    clock: Clock,
    work_niceness: int,
    pages: OAuthPages | None = None,
) -> RecordingBot:
    """The Slack side around the core, in either mode: replies, the post-ack pool, Homes, listeners, inbox."""
    inbox_store, inbox_file = _inbox_store(core)
    # Closed after the work that may still reply (closers run last-added first).
    replies = ResponseUrlClient(verify=tls_context())
    core.closers.append(replies.close)
    response_urls.register(bolt, replies)
    # The inbox is closed after the work pool, whose work ends requests (`Inbox.close`).
    inbox_closes_at = len(core.closers)
    work = BackgroundWork(niceness=work_niceness)
    core.closers.append(work.shutdown)
    homes = HomePublisher(client=slack, homes=core.services.homes, work=work)
    core.closers.append(homes.stop)
    notifier.on_request_changed(homes.request_changed)
    measure_listener_clients(bolt)
    register_listeners(bolt, core.services, work, homes)
    seen_events = SeenEvents(database=core.database)
    inbox = Inbox(
        store=inbox_store, instance_id=core.instances.instance_id, clock=clock, bolt=bolt,
        work=work, post_reply=replies.post, audit=core.services.audit,
        tell_user=lambda team, user, message: slack.for_team(team).chat_postMessage(
            channel=user, text=message.text, blocks=message.blocks
        ),
    )  # fmt: skip
    core.closers.insert(inbox_closes_at, inbox.close)
    # At start, and whenever an instance is found dead: what a killed process acknowledged and left unfinished.
    core.scheduler.also_take_over("inbox", inbox.take_over)
    dispatcher = BoltDispatcher(
        bolt=bolt,
        work=work,
        database=core.database,
        first_delivery=lambda event_id: seen_events.first_time(event_id, clock()),
        inbox=inbox,
        pages=pages,
        mode=config.mode,
    )
    return RecordingBot(
        config=config,
        bolt=bolt,
        services=core.services,
        database=core.database,
        scheduler=core.scheduler,
        instances=core.instances,
        team_id=team_id,
        dispatcher=dispatcher,
        replies=replies,
        edge=SlackEdge(
            signing_secret=config.slack_signing_secret.get_secret_value() if config.slack_signing_secret else "",
            dispatcher=dispatcher,
        ),
        metrics=BotMetrics(figures=lambda: _figures(core.services, work)),
        metrics_token=config.metrics_token.get_secret_value() if config.metrics_token else "",
        closers=core.closers,
        inbox_file=inbox_file,
    )


def _inbox_store(core: Core) -> tuple[InboxStore, Path | None]:
    """The inbox (store/inbox.py), and its file when it has one of its own (SQLite), which the HTTP front
    writes too. Rows an earlier version left in the database's own table are moved into the file first."""
    database = open_inbox_database(core.database)
    store = InboxStore(database=database)
    if database is core.database:
        return store, None
    # Closed after the work that may still finish a request (closers run last-added first).
    core.closers.append(database.close)
    moved = store.create_file_schema(legacy=core.database)
    if moved:
        logger.info("moved %d unfinished request(s) from the database's inbox table into %s", moved,
                    database.location)  # fmt: skip
    return store, Path(database.location)


def _figures(services: Services, work: BackgroundWork) -> BotFigures:
    """What /metrics reads at each scrape; the database's figures are left out while it cannot be read."""
    active: int | None
    past_window: int | None
    try:
        active, past_window = services.pauses.in_effect()
    except DatabaseUnavailable as error:
        logger.warning("metrics: the pauses in effect could not be read: %s", error)
        active = past_window = None
    return BotFigures(
        active_pauses=active, pauses_past_window=past_window,
        unwritten_resumes=services.pauses.unwritten_count, queue_depth=work.depth,
    )  # fmt: skip


def _bolt(config: Config, identity: Any, bot_token: str, *, slack_timeout_seconds: int) -> App:
    """The Bolt app, configured for listeners that ack at once and queue their work."""
    authorize_result = AuthorizeResult.from_auth_test_response(
        auth_test_response=identity, bot_token=bot_token, user_token=None
    )
    template = MeasuredWebClient(base_url=config.slack_api_url, timeout=slack_timeout_seconds)
    template.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    return _bolt_app(
        # The name Bolt would take from this file's name; given, Bolt skips inspect.stack(), which reads the
        # source of every frame on the stack.
        name="app.py",
        # Bolt gives each listener a client carrying the token from `authorize`; this one is the template.
        client=template,
        signing_secret=(config.slack_signing_secret.get_secret_value() if config.slack_signing_secret else None),
        # auth.test ran once at start-up; answer Bolt's per-request authorization from it instead of letting
        # the first Slack request wait on another network round trip before its ack.
        authorize=lambda **_: authorize_result,
        # Listeners only ack and queue their work (BackgroundWork), so the HTTP response can wait for
        # the listener to return; this also skips Bolt's wait-for-ack polling.
        process_before_response=True,
        # In HTTP mode SlackEdge verifies every request before it reaches Bolt; Socket Mode is unsigned.
        request_verification_enabled=False,
        ignoring_self_events_enabled=False,
        url_verification_enabled=True,
    )


def _bolt_app(**settings: Any) -> App:
    """slack_bolt.App, given the bot's client and no token. Bolt reads SLACK_BOT_TOKEN from the environment
    by itself and, finding a client too, warns at every start that the token will be unused: as meant (the
    client carries SLACK_API_URL and the retry on 429; `authorize` gives each request its token). That one
    line is dropped while Bolt is built; every other line of Bolt's is kept."""
    bolt_logger = logging.getLogger(f"slack_bolt.{App.__name__}")
    unused = warning_client_prioritized_and_token_skipped()

    def keep(record: logging.LogRecord) -> bool:
        return record.getMessage() != unused

    bolt_logger.addFilter(keep)
    try:
        return App(**settings)
    finally:
        bolt_logger.removeFilter(keep)


def _identify(slack: WebClient) -> Any:
    """auth.test: which workspace and bot user the token belongs to. Fails start-up with a clear line."""
    try:
        return slack.auth_test()
    except SlackApiError as error:
        reason = error.response.get("error", "unknown error")
        raise ConfigurationError(
            f"SLACK_BOT_TOKEN was refused by Slack ({reason}): copy the Bot User OAuth Token (xoxb-…) "
            "from the app's OAuth & Permissions page"
        ) from None
    except (SlackClientError, OSError) as error:
        raise ConfigurationError(
            f"cannot reach Slack at SLACK_API_URL ({type(error).__name__}): check the network or SLACK_API_URL"
        ) from None
