"""Locations received from partners (ChargeGraph as eMSP): checking them against OCPI 2.2.1,
and what each becomes in ChargeGraph.

Every object a partner PUTs or PATCHes, or that a pull returns, is checked
whole before anything is stored: a missing or malformed field is status 2001
with a message naming it (`evses[0].connectors[1].standard`). Fields this
module does not know are kept as sent (a GET returns them) but not checked.

What is lost on the way in (docs/ocpi.md lists it for operators): EVSE statuses
without a ChargeGraph equal (`STATUS_BACK`), connector standards ChargeGraph has
no value for (such a connector is kept in the partner's copy but is no
ChargeGraph connector, so no search finds it), two-phase AC (counted as single
phase), and everything of a Location but its position, address and time zone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import available_timezones

import bson
import pycountry

from graph.ocpi.locations import POWER_TYPE, STANDARD
from graph.ocpi.protocol import INVALID_PARAMETERS, OcpiError

EVSE_STATUSES = frozenset(
    {
        "AVAILABLE",
        "BLOCKED",
        "CHARGING",
        "INOPERATIVE",
        "OUTOFORDER",
        "PLANNED",
        "REMOVED",
        "RESERVED",
        "UNKNOWN",
    }
)
# ConnectorStatus (stored values) of each EVSE status, and whether the connector stays
# active (searchable by anyone). REMOVED deletes the connector instead.
STATUS_BACK: Mapping[str, tuple[str, bool]] = {
    "AVAILABLE": ("Available", True),
    "CHARGING": ("Charging", True),
    # "A physical barrier, e.g. a car": in use as far as a driver is concerned.
    "BLOCKED": ("Occupied", True),
    "RESERVED": ("Reserved", True),
    "INOPERATIVE": ("Unavailable", True),
    "OUTOFORDER": ("Faulted", True),
    # Unknown (offline at the partner): nothing better than "not available" to say.
    "UNKNOWN": ("Unavailable", True),
    # Not built yet: not shown to drivers at all.
    "PLANNED": ("Unavailable", False),
}
REMOVED = "REMOVED"
STANDARDS = frozenset(
    {
        "CHADEMO",
        "CHAOJI",
        *(f"DOMESTIC_{letter}" for letter in "ABCDEFGHIJKLMNO"),
        "GBT_AC",
        "GBT_DC",
        "IEC_60309_2_single_16",
        "IEC_60309_2_three_16",
        "IEC_60309_2_three_32",
        "IEC_60309_2_three_64",
        "IEC_62196_T1",
        "IEC_62196_T1_COMBO",
        "IEC_62196_T2",
        "IEC_62196_T2_COMBO",
        "IEC_62196_T3A",
        "IEC_62196_T3C",
        "NEMA_5_20",
        "NEMA_6_30",
        "NEMA_6_50",
        "NEMA_10_30",
        "NEMA_10_50",
        "NEMA_14_30",
        "NEMA_14_50",
        "PANTOGRAPH_BOTTOM_UP",
        "PANTOGRAPH_TOP_DOWN",
        "TESLA_R",
        "TESLA_S",
    }
)
POWER_TYPES = frozenset({"AC_1_PHASE", "AC_2_PHASE", "AC_2_PHASE_SPLIT", "AC_3_PHASE", "DC"})
FORMATS = frozenset({"SOCKET", "CABLE"})
# ChargeGraph's values of OCPI's (the reverse of what is published); others have none.
TYPE_BACK: Mapping[str, str] = {ocpi: ours for ours, ocpi in STANDARD.items()}
POWER_TYPE_BACK: Mapping[str, str] = {
    **{ocpi: ours for ours, ocpi in POWER_TYPE.items()},
    "AC_2_PHASE": "AC_SINGLE_PHASE",
    "AC_2_PHASE_SPLIT": "AC_SINGLE_PHASE",
}
# Phases of each power type (OCPI's max_voltage is line to neutral for three-phase AC).
PHASES: Mapping[str, int] = {
    "AC_1_PHASE": 1,
    "AC_2_PHASE": 2,
    "AC_2_PHASE_SPLIT": 2,
    "AC_3_PHASE": 3,
    "DC": 1,
}
_LATITUDE = re.compile(r"-?[0-9]{1,2}\.[0-9]{5,7}")
_LONGITUDE = re.compile(r"-?[0-9]{1,3}\.[0-9]{5,7}")
_COUNTRY_CODE = re.compile(r"[A-Za-z]{2}")
_PARTY_ID = re.compile(r"[A-Za-z0-9]{3}")


def invalid(field: str, problem: str) -> OcpiError:
    return OcpiError(INVALID_PARAMETERS, f"{field}: {problem}")


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(field, "must be an object")
    return value


def text(
    body: Mapping[str, Any], name: str, path: str, longest: int, *, required: bool = True
) -> str | None:
    """A string field of at most `longest` characters (CiString/string of OCPI)."""
    field = f"{path}{name}"
    value = body.get(name)
    if value is None:
        if required:
            raise invalid(field, "is required")
        return None
    if not isinstance(value, str) or not value or len(value) > longest:
        raise invalid(field, f"must be a string of 1 to {longest} characters")
    return value


def _choice(body: Mapping[str, Any], name: str, path: str, allowed: frozenset[str]) -> str:
    value = body.get(name)
    if value not in allowed:
        shown = repr(value)[:40] if value is not None else "missing"
        raise invalid(f"{path}{name}", f"must be one of OCPI 2.2.1's values, got {shown}")
    assert isinstance(value, str)
    return value


def instant(body: Mapping[str, Any], name: str, path: str) -> datetime:
    """An RFC 3339 DateTime (UTC when it names no offset), cut to the millisecond as stored."""
    value = body.get(name)
    if not isinstance(value, str):
        raise invalid(f"{path}{name}", "is required (an RFC 3339 date-time)")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(
            f"{path}{name}", f"must be an RFC 3339 date-time, got {value[:40]!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise invalid(f"{path}{name}", f"is out of range: {value[:40]!r}") from None
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


# Read once: the zone database does not change while the process runs.
_TIME_ZONES = frozenset(available_timezones())
# A Location nests 4 levels (EVSE, connector, a list in it); this leaves room for
# extensions while far below what the database refuses.
_DEEPEST = 20
# Far above any rating (W, V, A), and within what MongoDB stores as an integer.
_LARGEST_WHOLE = 10**9


def _whole(body: Mapping[str, Any], name: str, path: str, *, required: bool) -> int | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _LARGEST_WHOLE:
        raise invalid(f"{path}{name}", f"must be a whole number from 0 to {_LARGEST_WHOLE:,}")
    return value


def coordinates(value: Any, field: str) -> tuple[float, float]:
    """A GeoLocation (decimal strings, as OCPI's pattern says): (longitude, latitude)."""
    place = _object(value, field)
    found = {}
    for name, pattern, highest in (
        ("latitude", _LATITUDE, 90.0),
        ("longitude", _LONGITUDE, 180.0),
    ):
        given = place.get(name)
        if not isinstance(given, str) or not pattern.fullmatch(given):
            raise invalid(
                f"{field}.{name}",
                f"must be a decimal string with 5 to 7 decimals, got {repr(given)[:30]}",
            )
        number = float(given)
        if not math.isfinite(number) or abs(number) > highest:
            raise invalid(f"{field}.{name}", f"must be between -{highest:g} and {highest:g}")
        found[name] = number
    return found["longitude"], found["latitude"]


def check_connector(value: Any, path: str) -> dict[str, Any]:
    connector = _object(value, path.rstrip("."))
    text(connector, "id", path, 36)
    _choice(connector, "standard", path, STANDARDS)
    _choice(connector, "format", path, FORMATS)
    _choice(connector, "power_type", path, POWER_TYPES)
    _whole(connector, "max_voltage", path, required=True)
    _whole(connector, "max_amperage", path, required=True)
    _whole(connector, "max_electric_power", path, required=False)
    instant(connector, "last_updated", path)
    return connector


def check_evse(value: Any, path: str) -> dict[str, Any]:
    evse = _object(value, path.rstrip("."))
    text(evse, "uid", path, 36)
    text(evse, "evse_id", path, 48, required=False)
    _choice(evse, "status", path, EVSE_STATUSES)
    connectors = evse.get("connectors")
    if not isinstance(connectors, list) or not connectors:
        raise invalid(f"{path}connectors", "must be a list of at least one Connector")
    ids = [check_connector(c, f"{path}connectors[{n}].")["id"] for n, c in enumerate(connectors)]
    if len(set(ids)) != len(ids):
        raise invalid(f"{path}connectors", "connector ids must be unique within the EVSE")
    if evse.get("coordinates") is not None:
        coordinates(evse["coordinates"], f"{path}coordinates")
    instant(evse, "last_updated", path)
    return evse


def check_location(value: Any) -> dict[str, Any]:
    """A whole Location, or 2001 naming its first bad field."""
    location = _object(value, "body")
    country_code = text(location, "country_code", "", 2)
    if not _COUNTRY_CODE.fullmatch(country_code or ""):
        raise invalid("country_code", "must be two letters (ISO 3166-1 alpha-2)")
    party_id = text(location, "party_id", "", 3)
    if not _PARTY_ID.fullmatch(party_id or ""):
        raise invalid("party_id", "must be three letters or digits")
    text(location, "id", "", 36)
    if not isinstance(location.get("publish"), bool):
        raise invalid("publish", "is required (true or false)")
    text(location, "name", "", 255, required=False)
    text(location, "address", "", 45)
    text(location, "city", "", 45)
    text(location, "postal_code", "", 10, required=False)
    country = text(location, "country", "", 3)
    if pycountry.countries.get(alpha_3=(country or "").upper()) is None:
        raise invalid("country", "must be an ISO 3166-1 alpha-3 country code")
    coordinates(location.get("coordinates"), "coordinates")
    evses = location.get("evses", [])
    if not isinstance(evses, list):
        raise invalid("evses", "must be a list of EVSEs")
    uids = [check_evse(evse, f"evses[{number}].")["uid"] for number, evse in enumerate(evses)]
    if len(set(uids)) != len(uids):
        raise invalid("evses", "EVSE uids must be unique within the Location")
    operator = location.get("operator")
    if operator is not None:
        text(_object(operator, "operator"), "name", "operator.", 100)
    zone = text(location, "time_zone", "", 255)
    if zone not in _TIME_ZONES:
        raise invalid("time_zone", f"must be an IANA time zone such as Europe/Oslo, got {zone!r}")
    instant(location, "last_updated", "")
    _storable(location)
    return location


def _storable(location: Mapping[str, Any]) -> None:
    """The Location is kept as sent (for the partner's GET): refuse what MongoDB cannot
    store (keys with NUL or `$`, integers over 64 bits, nesting deeper than OCPI's)."""

    def depth(value: Any) -> int:
        if isinstance(value, Mapping):
            return 1 + max((depth(item) for item in value.values()), default=0)
        if isinstance(value, list):
            return 1 + max((depth(item) for item in value), default=0)
        return 0

    def keys_ok(value: Any) -> bool:
        if isinstance(value, Mapping):
            return all(
                isinstance(key, str)
                and "\x00" not in key
                and not key.startswith("$")
                and keys_ok(item)
                for key, item in value.items()
            )
        if isinstance(value, list):
            return all(keys_ok(item) for item in value)
        return True

    if depth(location) > _DEEPEST:
        raise invalid("body", f"nests deeper than {_DEEPEST} levels")
    if not keys_ok(location):
        raise invalid("body", "has a field name with NUL or a leading $")
    try:
        bson.encode({"location": location})
    except (bson.errors.BSONError, OverflowError) as error:
        raise invalid("body", f"cannot be stored: {error}") from None


def check_status_patch(body: Mapping[str, Any]) -> tuple[str, datetime]:
    """The EVSE status PATCH (`{status, last_updated}`): the status and when it changed."""
    return _choice(body, "status", "", EVSE_STATUSES), instant(body, "last_updated", "")


def alpha2(alpha3: str) -> str | None:
    country = pycountry.countries.get(alpha_3=alpha3.upper())
    return country.alpha_2 if country is not None else None


def connector_fields(connector: Mapping[str, Any]) -> dict[str, Any] | None:
    """ChargeGraph's fields of a checked OCPI Connector (None: its standard has no
    ChargeGraph value, so it cannot be one of ChargeGraph's connectors)."""
    kind = TYPE_BACK.get(connector["standard"])
    if kind is None:
        return None
    power_type = connector["power_type"]
    voltage = connector["max_voltage"]
    amperage = connector["max_amperage"]
    watts = connector.get("max_electric_power") or voltage * amperage * PHASES[power_type]
    # ChargeGraph's bounds: power above 0 and at most 10 MW, ratings as its inputs allow.
    power = min(max(watts / 1000, 0.001), 10_000.0)
    return {
        "type": kind,
        "format": connector["format"],
        "power_type": POWER_TYPE_BACK[power_type],
        "power": power,
        "maxVoltage": voltage if 1 <= voltage <= 1500 else None,
        "maxAmperage": amperage if 1 <= amperage <= 3000 else None,
    }
