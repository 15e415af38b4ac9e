"""Settings of the OCPI domain: the identity this platform presents to roaming partners."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OcpiSettings(BaseSettings):
    """CHARGEGRAPH_OCPI_* variables."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_prefix="CHARGEGRAPH_OCPI_")

    # The platform's role in the credentials it sends (ISO 3166 alpha-2, eMI3 party id).
    country_code: str = Field(default="NL", pattern=r"^[A-Z]{2}$")
    party_id: str = Field(default="CGR", pattern=r"^[A-Z0-9]{3}$")
    business_name: str = Field(default="ChargeGraph", min_length=1, max_length=100)
    # The public base URL of this server (e.g. https://api.example.com); empty: the
    # URL the request arrived at.
    base_url: str = ""
    # Largest request body accepted on OCPI endpoints, in bytes.
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    # How long a call to a partner may take.
    call_timeout_seconds: float = Field(default=10.0, gt=0)
