"""Settings of the OCPI domain: the identity this platform presents to roaming partners."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OcpiSettings(BaseSettings):
    """CHARGEGRAPH_OCPI_* variables."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_prefix="CHARGEGRAPH_OCPI_")

    country_code: str = Field(
        default="NL",
        pattern=r"^[A-Z]{2}$",
        description="the platform's CPO role in the credentials it sends (ISO 3166-1 alpha-2)",
    )
    party_id: str = Field(
        default="CGR",
        pattern=r"^[A-Z0-9]{3}$",
        description="the platform's party id in that role (three capital letters or digits)",
    )
    business_name: str = Field(
        default="ChargeGraph",
        min_length=1,
        max_length=100,
        description="`business_details.name` of that role",
    )
    base_url: str = Field(
        default="",
        description="the public URL partners reach this server at (behind a proxy, e.g. "
        "`https://api.example.com`); empty: the URL the request arrived at",
    )
    max_body_bytes: int = Field(
        default=1_000_000,
        ge=1024,
        description="larger request bodies on OCPI endpoints (credentials, pushed Locations) "
        "are refused (HTTP 413, status 2001) before they are read further; a page pulled "
        "from a partner may be 10 times this",
    )
    pull_minutes: float = Field(
        default=60.0,
        gt=0,
        description="how often the Locations of each partner that offers a Locations SENDER "
        "are pulled again, changes only (`date_from` = when the last successful pull "
        "started); the first pull after registering takes everything",
    )
    full_pull_hours: float = Field(
        default=24.0,
        gt=0,
        description="how often a pull takes everything again instead of changes only: it "
        "catches up on pushes that were lost, and the Locations a partner no longer sends "
        "are removed",
    )
    calls_per_minute: int = Field(
        default=60_000,
        ge=1,
        description="calls a partner may make to one process a minute (a bucket of that "
        "many, refilled continuously); more are refused with HTTP 429, status 2000 and "
        "`Retry-After`, and store nothing",
    )
    refused_per_minute: int = Field(
        default=600,
        ge=1,
        description="calls with a missing or unknown token one client address may make to "
        "one process a minute (each looks the token up in the database); past that, its "
        "calls are refused with HTTP 429 before any lookup",
    )
    call_timeout_seconds: float = Field(
        default=10.0, gt=0, description="how long a call to a partner may take"
    )
