"""The OCPI 2.2.1 Location, EVSE and Connector objects as JSON Schemas, written from the
specification (mod_locations, types), to validate what ChargeGraph sends partners.

Only what 2.2.1 states is checked: required fields, types, string lengths,
enumerations and the GeoLocation and DateTime patterns.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

DATE_TIME = {
    "type": "string",
    # RFC 3339 in UTC: a `Z` or no designator, fractions allowed (types.asciidoc).
    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z?$",
}


def text(longest: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": longest}


CONNECTOR_TYPES = [
    "CHADEMO", "CHAOJI",
    *(f"DOMESTIC_{letter}" for letter in "ABCDEFGHIJKLMNO"),
    "GBT_AC", "GBT_DC",
    "IEC_60309_2_single_16", "IEC_60309_2_three_16", "IEC_60309_2_three_32",
    "IEC_60309_2_three_64",
    "IEC_62196_T1", "IEC_62196_T1_COMBO", "IEC_62196_T2", "IEC_62196_T2_COMBO",
    "IEC_62196_T3A", "IEC_62196_T3C",
    "NEMA_5_20", "NEMA_6_30", "NEMA_6_50", "NEMA_10_30", "NEMA_10_50", "NEMA_14_30",
    "NEMA_14_50",
    "PANTOGRAPH_BOTTOM_UP", "PANTOGRAPH_TOP_DOWN", "TESLA_R", "TESLA_S",
]  # fmt: skip

GEO_LOCATION = {
    "type": "object",
    "required": ["latitude", "longitude"],
    "additionalProperties": False,
    "properties": {
        "latitude": {"type": "string", "pattern": r"^-?[0-9]{1,2}\.[0-9]{5,7}$"},
        "longitude": {"type": "string", "pattern": r"^-?[0-9]{1,3}\.[0-9]{5,7}$"},
    },
}

CONNECTOR = {
    "type": "object",
    "required": ["id", "standard", "format", "power_type", "max_voltage", "max_amperage",
                 "last_updated"],
    "additionalProperties": False,
    "properties": {
        "id": text(36),
        "standard": {"enum": CONNECTOR_TYPES},
        "format": {"enum": ["SOCKET", "CABLE"]},
        "power_type": {"enum": ["AC_1_PHASE", "AC_2_PHASE", "AC_2_PHASE_SPLIT", "AC_3_PHASE",
                                "DC"]},
        "max_voltage": {"type": "integer"},
        "max_amperage": {"type": "integer"},
        "max_electric_power": {"type": "integer"},
        "tariff_ids": {"type": "array", "items": text(36)},
        "terms_and_conditions": {"type": "string"},
        "last_updated": DATE_TIME,
    },
}  # fmt: skip

EVSE = {
    "type": "object",
    "required": ["uid", "status", "connectors", "last_updated"],
    "additionalProperties": False,
    "properties": {
        "uid": text(36),
        "evse_id": text(48),
        "status": {"enum": ["AVAILABLE", "BLOCKED", "CHARGING", "INOPERATIVE", "OUTOFORDER",
                            "PLANNED", "REMOVED", "RESERVED", "UNKNOWN"]},
        "capabilities": {"type": "array"},
        "connectors": {"type": "array", "minItems": 1, "items": CONNECTOR},
        "floor_level": text(4),
        "coordinates": GEO_LOCATION,
        "physical_reference": text(16),
        "last_updated": DATE_TIME,
    },
}  # fmt: skip

BUSINESS_DETAILS = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": text(100), "website": {"type": "string"}},
}

LOCATION = {
    "type": "object",
    "required": ["country_code", "party_id", "id", "publish", "address", "city", "country",
                 "coordinates", "time_zone", "last_updated"],
    "additionalProperties": False,
    "properties": {
        "country_code": {"type": "string", "minLength": 2, "maxLength": 2},
        "party_id": {"type": "string", "minLength": 3, "maxLength": 3},
        "id": text(36),
        "publish": {"type": "boolean"},
        "name": text(255),
        "address": text(45),
        "city": text(45),
        "postal_code": text(10),
        "state": text(20),
        "country": {"type": "string", "pattern": "^[A-Z]{3}$"},
        "coordinates": GEO_LOCATION,
        "evses": {"type": "array", "items": EVSE},
        "operator": BUSINESS_DETAILS,
        "time_zone": text(255),
        "last_updated": DATE_TIME,
    },
}  # fmt: skip

_VALIDATORS = {
    name: Draft202012Validator(schema)
    for name, schema in (("Location", LOCATION), ("EVSE", EVSE), ("Connector", CONNECTOR))
}


def problems(kind: str, value: Any) -> list[str]:
    """Where `value` breaks the 2.2.1 shape of `kind` (Location, EVSE or Connector)."""
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in _VALIDATORS[kind].iter_errors(value)
    ]
