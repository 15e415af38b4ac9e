"""Reading partial-update inputs."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import strawberry

from graph.core.errors import BadUserInput


def given_fields(value: object) -> dict[str, Any]:
    """The fields a client actually sent in an input object (explicit nulls included)."""
    return {
        field.name: getattr(value, field.name)
        for field in fields(value)  # type: ignore[arg-type]
        if getattr(value, field.name) is not strawberry.UNSET
    }


def require_value(value: object, field: str) -> None:
    """An input field that may be left out but not set to null."""
    if value is None:
        raise BadUserInput(f"{field} cannot be null", field=field)
