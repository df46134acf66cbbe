"""The set of services the Slack listeners call, built once by `create_app`."""

from __future__ import annotations

from dataclasses import dataclass

from bot.models import PauseLimits
from bot.services.allow_list import Authorizer
from bot.services.audit import AuditReader, AuditTrail
from bot.services.changes import ChangeService
from bot.services.digest import DigestService
from bot.services.home import HomeService
from bot.services.line_settings import LineSettingsService
from bot.services.links import LinkService
from bot.services.pauses import PauseService


@dataclass
class Services:
    authorizer: Authorizer
    audit: AuditTrail
    audit_log: AuditReader
    limits: PauseLimits
    pauses: PauseService
    line_settings: LineSettingsService
    links: LinkService
    homes: HomeService
    # Signs what the bot's forms carry back in their private_metadata (derived from the signing secret).
    form_key: bytes
    # Settings changes (`/recording set`): None until the Slack app wires its notifier (app.py).
    changes: ChangeService | None = None
    # The daily digest (posted by the scheduler, or now by `/recording digest`); None in a bundle built without it.
    digests: DigestService | None = None
