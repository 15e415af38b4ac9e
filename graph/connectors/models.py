"""The stored connector: the eDRV Connector object, plus a GeoJSON location."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import Document, PydanticObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from graph.connectors.enums import ConnectorFormat, ConnectorStatus, ConnectorType, PowerType
from graph.core.geo import GeoPoint, GeoSearchFields


class ConnectorDocument(Document):
    """One connector, stored with the seed's field names and values."""

    active: bool = True
    status: ConnectorStatus = ConnectorStatus.AVAILABLE
    # Endpoints are case-insensitive; they are stored in lowercase so a plain
    # unique index enforces that.
    endpoint: str
    ocppId: int
    type: ConnectorType
    format: ConnectorFormat
    power_type: PowerType
    power: float
    # The connector's ratings for roaming (OCPI max_voltage, max_amperage); None: not given.
    maxVoltage: int | None = None
    maxAmperage: int | None = None
    location: GeoPoint | None = None
    geo: GeoSearchFields | None = None
    createdAt: datetime
    updatedAt: datetime
    organization: PydanticObjectId
    # The charge station the connector belongs to, if any.
    chargestation: PydanticObjectId | None = None
    # True while `location` is the station's: the connector has no position of its own.
    stationLocated: bool = False
    # Not declared, so connectors created here store nothing for it: `receivedFrom` is set
    # (by graph.ocpi.ingest, through `replace_received`) on a connector received from a
    # roaming partner over OCPI: {partner, name, evse (the EVSE uid), connector (its OCPI
    # id), status (the EVSE status as received), lastUpdated}. API writes to it are refused.

    class Settings:
        name = "connectors"
        # Every status report rewrites a connector, and the embedded server updates
        # every index on every write (bench/secantus_indexes.py): keep only indexes
        # a query uses, and none with `status` but the one status filters need.
        indexes = [
            IndexModel([("endpoint", ASCENDING)], name="endpoint_unique", unique=True),
            IndexModel([("organization", ASCENDING), ("_id", ASCENDING)], name="organization_id"),
            IndexModel([("status", ASCENDING), ("_id", ASCENDING)], name="status_id"),
            IndexModel([("power", ASCENDING)], name="power"),
            # `orderBy: UPDATED_AT` pages when searches use the database.
            IndexModel([("updatedAt", ASCENDING), ("_id", ASCENDING)], name="updated_id"),
            # A station's connectors (its page, its deletion guard, its moves). Not
            # (chargestation, ocppId): the unique index below has that key pattern.
            IndexModel([("chargestation", ASCENDING), ("_id", ASCENDING)], name="chargestation_id"),
            # ocppId is unique within a station; connectors of no station are not indexed.
            IndexModel(
                [("chargestation", ASCENDING), ("ocppId", ASCENDING)],
                name="chargestation_ocpp_unique",
                unique=True,
                partialFilterExpression={"chargestation": {"$type": "objectId"}},
            ),
            IndexModel([("geo.ring", ASCENDING)], name="geo_ring"),
            IndexModel([("geo.fine", ASCENDING)], name="geo_fine"),
            IndexModel([("geo.coarse", ASCENDING)], name="geo_coarse"),
        ]


# Indexes earlier versions declared, dropped at start: no query uses them, and each
# cost every status write (the 2dsphere one about 1 ms a write on the embedded server).
RETIRED_INDEXES = ("chargestation_ocpp_status", "location_2dsphere")


def connectors_collection() -> AsyncCollection[dict[str, Any]]:
    """The raw connectors collection, for reads that skip ODM validation."""
    return ConnectorDocument.get_pymongo_collection()


def stored_values(fields: dict[str, Any]) -> dict[str, Any]:
    """Enum members become their stored strings, for raw pymongo writes."""
    return {key: getattr(value, "value", value) for key, value in fields.items()}
