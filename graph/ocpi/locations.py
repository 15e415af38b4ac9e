"""ChargeGraph's stations as OCPI 2.2.1 Locations, for partners that pull them (CPO Sender).

What is published: every active charge station of an active organization
that has an OCPI identity (`ocpi: {countryCode, partyId}`), once the station
has what a Location requires — an address (street, city, country), a time
zone and a position (its own, or else its first located connector's). One
Location per station (`id` = the station's id); each connector is one EVSE
(`uid` = the connector's id; eMI3 `evse_id` = country*party*E + endpoint)
holding one OCPI Connector (`id` = its OCPP connector id).

EVSE status: the connector's status mapped as `STATUS` says; an inactive
connector is INOPERATIVE ("not yet active, or temporarily not available");
every EVSE of a station that is not connected is UNKNOWN; a deleted
connector stays as an EVSE with status REMOVED (its tombstone), so a pull
with `date_from` learns of the removal.

`last_updated` of a Location is the newest of the station's own changes
(its fields, its connections coming and going) and of its EVSEs, so a delta
pull (`date_from`) sees every change that alters what it would receive.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pycountry

from graph.core.visibility import is_active

# Keyed by the values stored for ConnectorStatus, ConnectorType and PowerType (a test
# checks that every value has its entry).
STATUS: Mapping[str, str] = {
    "Available": "AVAILABLE",
    "Preparing": "CHARGING",
    "Charging": "CHARGING",
    "SuspendedEVSE": "CHARGING",
    "SuspendedEV": "CHARGING",
    "Finishing": "CHARGING",
    "Occupied": "CHARGING",
    "Reserved": "RESERVED",
    "Unavailable": "INOPERATIVE",
    "Faulted": "OUTOFORDER",
}
STANDARD: Mapping[str, str] = {
    "CCS1": "IEC_62196_T1_COMBO",
    "CCS2": "IEC_62196_T2_COMBO",
    "G105": "CHADEMO",
    "Tesla": "TESLA_S",
    "J1772": "IEC_62196_T1",
    "Type2": "IEC_62196_T2",
}
POWER_TYPE: Mapping[str, str] = {
    "AC_3_PHASE": "AC_3_PHASE",
    "AC_SINGLE_PHASE": "AC_1_PHASE",
    "DC": "DC",
}
# Voltage sent when a connector has no `maxVoltage`: the European line-to-neutral
# voltage for AC (what OCPI asks for three-phase too), and a common DC charger's
# highest output. `max_amperage` then follows from the power.
DEFAULT_VOLTAGE: Mapping[str, int] = {"AC_3_PHASE": 230, "AC_1_PHASE": 230, "DC": 500}
PHASES: Mapping[str, int] = {"AC_3_PHASE": 3, "AC_1_PHASE": 1, "DC": 1}


def ocpi_time(moment: datetime) -> str:
    """An instant as OCPI writes it: RFC 3339 in UTC with `Z`, to the millisecond."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alpha3(alpha2: str) -> str | None:
    """The ISO 3166-1 alpha-3 code of an alpha-2 code (None when there is none)."""
    country = pycountry.countries.get(alpha_2=alpha2.upper())
    return country.alpha_3 if country is not None else None


def geolocation(longitude: float, latitude: float) -> dict[str, str]:
    """OCPI GeoLocation: decimal strings with 6 decimals (the pattern asks for 5 to 7)."""
    return {"latitude": f"{latitude:.6f}", "longitude": f"{longitude:.6f}"}


def _position(document: Mapping[str, Any]) -> tuple[float, float] | None:
    location = document.get("location")
    if not location:
        return None
    longitude, latitude = location["coordinates"]
    if math.isnan(latitude) or math.isnan(longitude):
        return None
    return float(longitude), float(latitude)


def ocpi_connector(connector: Mapping[str, Any]) -> dict[str, Any]:
    """The OCPI Connector of a ChargeGraph connector (one per EVSE)."""
    power_type = POWER_TYPE[connector["power_type"]]
    watts = round(float(connector["power"]) * 1000)
    voltage = connector.get("maxVoltage") or DEFAULT_VOLTAGE[power_type]
    amperage = connector.get("maxAmperage") or max(1, round(watts / (voltage * PHASES[power_type])))
    return {
        "id": str(connector["ocppId"]),
        "standard": STANDARD[connector["type"]],
        "format": connector["format"],
        "power_type": power_type,
        "max_voltage": int(voltage),
        "max_amperage": int(amperage),
        "max_electric_power": watts,
        "last_updated": ocpi_time(connector["updatedAt"]),
    }


def evse_id(party: Mapping[str, str], endpoint: str) -> str:
    """The eMI3 EVSE id: country*operator*E followed by the connector's endpoint."""
    return f"{party['countryCode']}*{party['partyId']}*E{endpoint.upper()}"


def evse(
    connector: Mapping[str, Any], party: Mapping[str, str], station_online: bool
) -> dict[str, Any]:
    """The EVSE that stands for one connector."""
    if not station_online:
        status = "UNKNOWN"
    elif not is_active(connector.get("active")):
        status = "INOPERATIVE"
    else:
        status = STATUS.get(connector["status"], "UNKNOWN")
    shown: dict[str, Any] = {
        "uid": str(connector["_id"]),
        "evse_id": evse_id(party, connector["endpoint"]),
        "status": status,
        "connectors": [ocpi_connector(connector)],
        "last_updated": ocpi_time(connector["updatedAt"]),
    }
    position = _position(connector)
    if position is not None:
        shown["coordinates"] = geolocation(*position)
    return shown


def removed_evse(tombstone: Mapping[str, Any], party: Mapping[str, str]) -> dict[str, Any]:
    """The EVSE of a deleted connector: status REMOVED, as it was when deleted."""
    connector = {**tombstone["connector"], "updatedAt": tombstone["removedAt"]}
    shown = evse(connector, party, station_online=True)
    shown["status"] = "REMOVED"
    return shown


@dataclass(frozen=True)
class Site:
    """What one Location is built from."""

    station: Mapping[str, Any]
    organization: Mapping[str, Any]
    connectors: Sequence[Mapping[str, Any]]
    tombstones: Sequence[Mapping[str, Any]]
    online: bool

    def position(self) -> tuple[float, float] | None:
        own = _position(self.station)
        if own is not None:
            return own
        located = (_position(connector) for connector in self.connectors)
        return next((position for position in located if position is not None), None)

    def last_changed(self) -> datetime:
        """The newest change of the station, its connections or any of its EVSEs."""
        moments: Iterable[datetime | None] = (
            self.station.get("updatedAt"),
            self.station.get("lastConnectedAt"),
            self.station.get("lastDisconnectedAt"),
            *(connector.get("updatedAt") for connector in self.connectors),
            *(tombstone.get("removedAt") for tombstone in self.tombstones),
        )
        return max(_utc(moment) for moment in moments if moment is not None)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def publishable(site: Site) -> bool:
    """Does the station have everything an OCPI Location requires?"""
    address = site.station.get("address") or {}
    return bool(
        address.get("streetAndNumber")
        and address.get("city")
        and address.get("country")
        and alpha3(address["country"])
        and site.station.get("timeZone")
        and site.position() is not None
    )


def location(site: Site) -> dict[str, Any]:
    """The Location of a publishable station."""
    party = site.organization["ocpi"]
    address = site.station["address"]
    position = site.position()
    assert position is not None
    evses = [evse(connector, party, site.online) for connector in site.connectors]
    evses += [removed_evse(tombstone, party) for tombstone in site.tombstones]
    shown: dict[str, Any] = {
        "country_code": party["countryCode"],
        "party_id": party["partyId"],
        "id": str(site.station["_id"]),
        "publish": True,
        "name": site.station["endpoint"][:255],
        # OCPI's lengths: longer stored values are cut (docs/ocpi.md lists what is lost).
        "address": address["streetAndNumber"][:45],
        "city": address["city"][:45],
        "country": alpha3(address["country"]),
        "coordinates": geolocation(*position),
        "evses": sorted(evses, key=lambda shown_evse: shown_evse["uid"]),
        "operator": {"name": site.organization["name"]},
        "time_zone": site.station["timeZone"],
        "last_updated": ocpi_time(site.last_changed()),
    }
    if address.get("postalCode"):
        shown["postal_code"] = address["postalCode"][:10]
    return shown
