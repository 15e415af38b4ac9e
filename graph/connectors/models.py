"""The stored connector: the eDRV Connector object, plus a GeoJSON location."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import Document, PydanticObjectId
from pymongo import ASCENDING, GEOSPHERE, IndexModel
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

    class Settings:
        name = "connectors"
        indexes = [
            IndexModel([("endpoint", ASCENDING)], name="endpoint_unique", unique=True),
            IndexModel([("organization", ASCENDING), ("_id", ASCENDING)], name="organization_id"),
            IndexModel([("status", ASCENDING), ("_id", ASCENDING)], name="status_id"),
            IndexModel([("power", ASCENDING)], name="power"),
            # `orderBy: UPDATED_AT` pages when searches use the database.
            IndexModel([("updatedAt", ASCENDING), ("_id", ASCENDING)], name="updated_id"),
            # A station's reports find their connector by (station, ocppId). The
            # partial unique index below is not used for such lookups (a query
            # must restate its filter), so this one serves them.
            IndexModel(
                [("chargestation", ASCENDING), ("ocppId", ASCENDING), ("status", ASCENDING)],
                name="chargestation_ocpp_status",
            ),
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
            # Version 3 is what MongoDB creates by default; naming it keeps the
            # spec identical to the stored index when indexes are re-declared
            # at every start.
            IndexModel(
                [("location", GEOSPHERE)],
                name="location_2dsphere",
                **{"2dsphereIndexVersion": 3},
            ),
        ]


def connectors_collection() -> AsyncCollection[dict[str, Any]]:
    """The raw connectors collection, for reads that skip ODM validation."""
    return ConnectorDocument.get_pymongo_collection()


def stored_values(fields: dict[str, Any]) -> dict[str, Any]:
    """Enum members become their stored strings, for raw pymongo writes."""
    return {key: getattr(value, "value", value) for key, value in fields.items()}
