"""Process-wide configuration: environment variables, typed and validated at start.

Every variable is a field below, named by its `validation_alias`; the README's
configuration table lists the same variables and defaults (a test keeps them
in step). An invalid value stops the server with a message naming the
variable and what it accepts (`describe_errors`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the server needs to know before it starts.

    `mongodb_uri` empty means "start the embedded database under `data_dir`".
    """

    # Fields are also accepted by name, for settings built in code (and tests).
    model_config = SettingsConfigDict(
        frozen=True, populate_by_name=True, extra="ignore", env_prefix="CHARGEGRAPH_"
    )

    mongodb_uri: str = Field(default="", validation_alias="MONGODB_URI")
    database_name: str = Field(
        default="chargegraph", min_length=1, validation_alias="CHARGEGRAPH_DB"
    )
    data_dir: Path = Field(default=Path("./data"), validation_alias="CHARGEGRAPH_DATA_DIR")
    # Same as `serve --demo`: add a demo network to an empty database.
    # How long a database command may take before the request answers SERVICE_UNAVAILABLE.
    db_timeout_seconds: float = Field(
        default=5.0, gt=0, le=600, validation_alias="CHARGEGRAPH_DB_TIMEOUT_SECONDS"
    )
    demo: bool = Field(default=False, validation_alias="CHARGEGRAPH_DEMO")
    # Where searches, lists and counts are answered: the in-memory connector index, or the
    # database (slower; kept to check the index against).
    search: Literal["index", "database"] = Field(
        default="index", validation_alias="CHARGEGRAPH_SEARCH"
    )
    # How many events may wait for one slow subscriber before it is dropped.
    subscriber_queue_size: int = Field(
        default=1000, ge=1, validation_alias="CHARGEGRAPH_SUBSCRIBER_QUEUE"
    )
    # Production mode hides field suggestions ("Did you mean …") from errors.
    production: bool = Field(default=False, validation_alias="CHARGEGRAPH_PRODUCTION")
    introspection: bool = Field(default=True, validation_alias="CHARGEGRAPH_INTROSPECTION")
    graphiql: bool = Field(default=True, validation_alias="CHARGEGRAPH_GRAPHIQL")
    # Keys that may do everything (comma-separated).
    admin_keys: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias="CHARGEGRAPH_ADMIN_KEYS"
    )
    # Allowance per API key (or per client address without one), per minute; 0 = unlimited.
    writes_per_minute: int = Field(
        default=120, ge=0, validation_alias="CHARGEGRAPH_WRITES_PER_MINUTE"
    )
    searches_per_minute: int = Field(
        default=600, ge=0, validation_alias="CHARGEGRAPH_SEARCHES_PER_MINUTE"
    )
    # GraphQL WebSocket connections one client address may hold open in one process.
    websockets_per_address: int = Field(
        default=100, ge=1, validation_alias="CHARGEGRAPH_WEBSOCKETS_PER_ADDRESS"
    )
    # Subscriptions one caller (organization, app key or address) may hold open in one process.
    subscriptions_per_caller: int = Field(
        default=200, ge=1, validation_alias="CHARGEGRAPH_SUBSCRIPTIONS_PER_CALLER"
    )
    # OCPP: the heartbeat interval given to stations at boot; a station whose
    # connection was not renewed for two intervals reads offline.
    ocpp_heartbeat_seconds: int = Field(
        default=60, ge=1, le=86_400, validation_alias="CHARGEGRAPH_OCPP_HEARTBEAT_SECONDS"
    )
    # OCPP: messages one station may send per minute before it is answered with CALLERRORs.
    ocpp_messages_per_minute: int = Field(
        default=300, ge=0, validation_alias="CHARGEGRAPH_OCPP_MESSAGES_PER_MINUTE"
    )
    # OCPP: station status reports waiting for the database, beyond which new station
    # connections are refused (503 with Retry-After); connected stations keep reporting.
    ocpp_queue_limit: int = Field(
        default=2000, ge=1, validation_alias="CHARGEGRAPH_OCPP_QUEUE_LIMIT"
    )
    # OCPP: how long a command to a station (mutations such as resetChargestation) waits for
    # the station's answer before it is recorded as TIMEOUT.
    ocpp_command_timeout_seconds: float = Field(
        default=30, gt=0, le=600, validation_alias="CHARGEGRAPH_OCPP_COMMAND_TIMEOUT_SECONDS"
    )
    # Logs: one JSON object per line, or text for a terminal (None: text when stdout is a TTY).
    log_format: Literal["json", "text"] | None = Field(
        default=None, validation_alias="CHARGEGRAPH_LOG_FORMAT"
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", validation_alias="CHARGEGRAPH_LOG_LEVEL"
    )
    # Addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are
    # believed (comma-separated); empty: none, the client address is the peer's.
    forwarded_allow_ips: str = Field(default="", validation_alias="CHARGEGRAPH_FORWARDED_ALLOW_IPS")
    # Browser origins allowed to call the API (comma-separated, e.g.
    # https://dash.example.com); "*" lets any origin read anonymously only.
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), validation_alias="CHARGEGRAPH_CORS_ORIGINS"
    )
    # How long shared caches (a CDN) may keep an anonymous GET query's answer.
    cache_max_age_seconds: int = Field(
        default=5, ge=0, le=86_400, validation_alias="CHARGEGRAPH_CACHE_MAX_AGE_SECONDS"
    )
    # Prometheus metrics at GET /metrics.
    metrics: bool = Field(default=True, validation_alias="CHARGEGRAPH_METRICS")
    # Queries answered by compiled plans (graph.core.plans); false: all by graphql-core.
    compiled_execution: bool = Field(
        default=True, validation_alias="CHARGEGRAPH_COMPILED_EXECUTION"
    )

    @field_validator("admin_keys", "cors_origins", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(key.strip() for key in value.split(",") if key.strip())
        return value

    @field_validator("cors_origins")
    @classmethod
    def _check_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if "*" in value and len(value) > 1:
            raise ValueError("'*' stands alone: any origin, anonymous reads only")
        for origin in value:
            if origin != "*" and not re.fullmatch(r"https?://[^/\s]+", origin):
                raise ValueError(
                    f"{origin!r} is not an origin: give scheme and host, e.g. https://dash.example.com"
                )
        return tuple(origin.lower() for origin in value)

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        if isinstance(value, str):
            return value.strip().lower() or None
        return value

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Settings from the environment, with command-line `overrides` (None: not given)."""
        given = {key: value for key, value in overrides.items() if value is not None}
        return cls(**given)  # type: ignore[arg-type]


def variable_of(field: str) -> str:
    """The environment variable a settings field is read from."""
    alias = Settings.model_fields[field].validation_alias
    return alias if isinstance(alias, str) else field


def describe_errors(error: ValidationError) -> str:
    """One line per invalid variable: its name, the value given and what it accepts."""
    lines = []
    for problem in error.errors():
        location = problem["loc"][0] if problem["loc"] else ""
        name = str(location)
        variable = name if name.isupper() else variable_of(name)
        lines.append(f"{variable}={problem.get('input')!r}: {problem['msg']}")
    return "invalid configuration:\n  " + "\n  ".join(lines)
