"""What the bot's process tells the HTTP front it starts (kept apart so the bot's process need not load gunicorn)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

# The environment variable holding the front's settings (JSON), and the one holding the signing secret.
SETTINGS_VARIABLE = "RECORDING_BOT_FRONT"
SECRET_VARIABLE = "SLACK_SIGNING_SECRET"  # noqa: S105 (a variable's name)
# The token /metrics asks for (not set: /metrics answers on loopback only).
METRICS_TOKEN_VARIABLE = "METRICS_TOKEN"  # noqa: S105 (a variable's name)
# The largest request body served (Slack's are a few KB); here so that the front's gunicorn master, which
# loads the worker class, need not load the WSGI app (bot/serving/web.py) to know it.
MAX_BODY_BYTES = 1 << 20


@dataclass(frozen=True)
class FrontSettings:
    link_address: str
    link_key: bytes
    port: int
    threads: int
    log_level: str
    log_format: str
    # The bot's process: the front stops when it does.
    parent_pid: int
    # The CPUs the front runs on (empty: wherever the system puts it).
    cpus: tuple[int, ...] = ()
    # SQLite: the inbox file the front stores each request in before its ack, and the bot's instance that owns
    # those rows (empty: the front asks the bot's process to store it, as on PostgreSQL).
    inbox_path: str = ""
    instance_id: str = ""

    def to_environment(self) -> str:
        return json.dumps({**self.__dict__, "link_key": self.link_key.hex()})

    @classmethod
    def from_environment(cls, value: str) -> FrontSettings:
        fields: dict[str, Any] = json.loads(value)
        return cls(**{**fields, "link_key": bytes.fromhex(fields["link_key"]), "cpus": tuple(fields.get("cpus", ()))})
