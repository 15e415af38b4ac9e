"""Process-wide configuration, read once from the environment and the command line."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to know before it starts.

    `mongodb_uri` empty means "start the embedded database under `data_dir`".
    """

    mongodb_uri: str = ""
    database_name: str = "chargegraph"
    data_dir: Path = Path("./data")
    demo: bool = False
    # How many events may wait for one slow subscriber before it is dropped.
    subscriber_queue_size: int = 1000
    # Production mode hides field suggestions ("Did you mean …") from errors.
    production: bool = False
    introspection: bool = True
    graphiql: bool = True
    # Keys that may do everything (CHARGEGRAPH_ADMIN_KEYS, comma-separated).
    admin_keys: tuple[str, ...] = ()
    # Allowance per API key (or per client address without one), per minute; 0 = unlimited.
    writes_per_minute: int = 120
    searches_per_minute: int = 600
    # OCPP: the heartbeat interval given to stations at boot; a station whose
    # connection was not renewed for two intervals reads offline.
    ocpp_heartbeat_seconds: int = 60
    # OCPP: messages one station may send per minute before it is answered with CALLERRORs.
    ocpp_messages_per_minute: int = 300

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Build settings from the environment (variables listed in the README)."""
        values: dict[str, object] = {
            "mongodb_uri": os.environ.get("MONGODB_URI", ""),
            "database_name": os.environ.get("CHARGEGRAPH_DB", "chargegraph"),
            "data_dir": Path(os.environ.get("CHARGEGRAPH_DATA_DIR", "./data")),
            "subscriber_queue_size": int(os.environ.get("CHARGEGRAPH_SUBSCRIBER_QUEUE", "1000")),
            "production": _flag("CHARGEGRAPH_PRODUCTION", False),
            "introspection": _flag("CHARGEGRAPH_INTROSPECTION", True),
            "graphiql": _flag("CHARGEGRAPH_GRAPHIQL", True),
            "admin_keys": tuple(
                key.strip()
                for key in os.environ.get("CHARGEGRAPH_ADMIN_KEYS", "").split(",")
                if key.strip()
            ),
            "writes_per_minute": int(os.environ.get("CHARGEGRAPH_WRITES_PER_MINUTE", "120")),
            "searches_per_minute": int(os.environ.get("CHARGEGRAPH_SEARCHES_PER_MINUTE", "600")),
            "ocpp_heartbeat_seconds": int(
                os.environ.get("CHARGEGRAPH_OCPP_HEARTBEAT_SECONDS", "60")
            ),
            "ocpp_messages_per_minute": int(
                os.environ.get("CHARGEGRAPH_OCPP_MESSAGES_PER_MINUTE", "300")
            ),
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)  # type: ignore[arg-type]


def _flag(name: str, default: bool) -> bool:
    """A boolean switch: 1/true/yes/on or 0/false/no/off."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")
