"""Process-wide configuration: environment variables, typed and validated at start.

Every variable is a field below, named by its `validation_alias` and
explained by its `description`: the configuration page of the documentation
is generated from them (`graph.reference`). An invalid value stops the server
with a message naming the variable and what it accepts (`describe_errors`).
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

    mongodb_uri: str = Field(
        default="",
        validation_alias="MONGODB_URI",
        description="MongoDB to use (production: a replica set, for change streams)",
        json_schema_extra={"shown_default": "unset: embedded database"},
    )
    database_name: str = Field(
        default="chargegraph",
        min_length=1,
        validation_alias="CHARGEGRAPH_DB",
        description="database name",
    )
    data_dir: Path = Field(
        default=Path("./data"),
        validation_alias="CHARGEGRAPH_DATA_DIR",
        description="embedded database directory (same as `--data-dir`)",
    )
    db_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=600,
        validation_alias="CHARGEGRAPH_DB_TIMEOUT_SECONDS",
        description="how long a database command may take before the request answers "
        "`SERVICE_UNAVAILABLE`",
    )
    demo: bool = Field(
        default=False,
        validation_alias="CHARGEGRAPH_DEMO",
        description="`true` adds a demo network to an empty database (same as `--demo`)",
    )
    search: Literal["index", "database"] = Field(
        default="index",
        validation_alias="CHARGEGRAPH_SEARCH",
        description="`index`: searches, lists and counts from the in-memory connector index, "
        "organizations by id from the in-memory organizations replica; `database`: from "
        "MongoDB (slower; for checking the index)",
    )
    subscriber_queue_size: int = Field(
        default=1000,
        ge=1,
        validation_alias="CHARGEGRAPH_SUBSCRIBER_QUEUE",
        description="events that may wait for one subscriber before it is dropped",
    )
    production: bool = Field(
        default=False,
        validation_alias="CHARGEGRAPH_PRODUCTION",
        description='`true` hides field suggestions ("Did you mean …") in errors',
    )
    introspection: bool = Field(
        default=True,
        validation_alias="CHARGEGRAPH_INTROSPECTION",
        description="`false` refuses schema introspection",
    )
    graphiql: bool = Field(
        default=True,
        validation_alias="CHARGEGRAPH_GRAPHIQL",
        description="`false` stops serving GraphiQL at `GET /graphql` and the live map at `/map`",
    )
    admin_keys: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        validation_alias="CHARGEGRAPH_ADMIN_KEYS",
        description="comma-separated admin keys (each at least 24 characters)",
    )
    writes_per_minute: int = Field(
        default=120,
        ge=0,
        validation_alias="CHARGEGRAPH_WRITES_PER_MINUTE",
        description="mutation fields per minute per API key, or per client address without "
        "one; `0` = unlimited",
    )
    searches_per_minute: int = Field(
        default=600,
        ge=0,
        validation_alias="CHARGEGRAPH_SEARCHES_PER_MINUTE",
        description="list fields (`connectors`, `nearbyConnectors`, `connectorsInBounds`, "
        "`connectorClusters`, `clusterConnectors`, `organizations`, `chargestations`, at any "
        "depth) and new subscriptions per minute, counted the same way",
    )
    websockets_per_address: int = Field(
        default=100,
        ge=1,
        validation_alias="CHARGEGRAPH_WEBSOCKETS_PER_ADDRESS",
        description="GraphQL WebSocket connections one client address may hold open in one "
        "process (raise it when many users share one address)",
    )
    subscriptions_per_caller: int = Field(
        default=200,
        ge=1,
        validation_alias="CHARGEGRAPH_SUBSCRIPTIONS_PER_CALLER",
        description="subscriptions one caller (an organization, an app key, or an address "
        "without a key) may hold open in one process",
    )
    ocpp_heartbeat_seconds: int = Field(
        default=60,
        ge=1,
        le=86_400,
        validation_alias="CHARGEGRAPH_OCPP_HEARTBEAT_SECONDS",
        description="heartbeat interval given to charge stations; a station whose connection "
        "was not renewed for two intervals reads offline",
    )
    ocpp_messages_per_minute: int = Field(
        default=300,
        ge=0,
        validation_alias="CHARGEGRAPH_OCPP_MESSAGES_PER_MINUTE",
        description="OCPP messages one station may send per minute (0 = unlimited)",
    )
    ocpp_queue_limit: int = Field(
        default=2000,
        ge=1,
        validation_alias="CHARGEGRAPH_OCPP_QUEUE_LIMIT",
        description="station status reports waiting for the database beyond which new "
        "station connections are refused (503 with `Retry-After`); connected stations keep "
        "reporting",
    )
    ocpp_command_timeout_seconds: float = Field(
        default=30,
        gt=0,
        le=600,
        validation_alias="CHARGEGRAPH_OCPP_COMMAND_TIMEOUT_SECONDS",
        description="how long a command to a station (`resetChargestation`, "
        "`unlockConnector`, `requestStatusReport`, availability) waits for the station's "
        "answer before it is recorded as `TIMEOUT`",
    )
    log_format: Literal["json", "text"] | None = Field(
        default=None,
        validation_alias="CHARGEGRAPH_LOG_FORMAT",
        description="`json` (one object per line) or `text`",
        json_schema_extra={"shown_default": "text at a terminal, else json"},
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info",
        validation_alias="CHARGEGRAPH_LOG_LEVEL",
        description="`debug`, `info`, `warning` or `error`",
    )
    forwarded_allow_ips: str = Field(
        default="",
        validation_alias="CHARGEGRAPH_FORWARDED_ALLOW_IPS",
        description="comma-separated addresses of reverse proxies whose `X-Forwarded-For` "
        "gives the client's address",
    )
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        validation_alias="CHARGEGRAPH_CORS_ORIGINS",
        description="comma-separated browser origins allowed to call the API (HTTP and "
        "WebSocket), e.g. `https://dash.example.com`; `*` alone lets any origin read "
        "anonymously, never with a key",
    )
    cache_max_age_seconds: int = Field(
        default=5,
        ge=0,
        le=86_400,
        validation_alias="CHARGEGRAPH_CACHE_MAX_AGE_SECONDS",
        description="`Cache-Control: public, max-age` of anonymous GET queries (keyed ones: "
        "`private, no-store`)",
    )
    metrics: bool = Field(
        default=True,
        validation_alias="CHARGEGRAPH_METRICS",
        description="`false` stops serving Prometheus metrics at `GET /metrics` (404)",
    )
    compiled_execution: bool = Field(
        default=True,
        validation_alias="CHARGEGRAPH_COMPILED_EXECUTION",
        description="`false` executes every operation with graphql-core instead of compiled "
        "plans (queries; the answers are the same, "
        "`chargegraph_graphql_execution_paths_total` counts which path ran and why)",
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
