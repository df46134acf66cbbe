"""Every listener of the bot, registered on one Bolt app."""

from __future__ import annotations

from slack_bolt import App

from bot.listeners import actions, changes, commands, forms, home, middleware
from bot.listeners.home import HomePublisher
from bot.services.bundle import Services
from bot.serving.background import BackgroundWork


def register(app: App, services: Services, work: BackgroundWork, homes: HomePublisher) -> None:
    middleware.register(app)
    commands.register(app, services, work)
    actions.register(app, services, work, homes)
    forms.register(app, services, work)
    home.register(app, homes)
    changes.register(app, services, work)
