"""The stored charge station: its OCPP identity, position, connection state and boot report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from beanie import Document, PydanticObjectId
from pydantic import BaseModel
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection

from graph.core.geo import GeoPoint, GeoSearchFields


class BootInfo(BaseModel):
    """What the station said about itself in its last BootNotification."""

    vendor: str
    model: str
    serialNumber: str | None = None
    firmwareVersion: str | None = None


class ChargestationDocument(Document):
    """One charge station.

    `online` is true from a connection's start until it ends; `leaseUntil` is
    renewed by the station's messages, so a station whose server process died
    reads offline once the lease runs out (`connection` names the connection
    holding it: a newer connection takes it over).
    """

    # The OCPP identity as created; `endpointKey` is its lowercase form, whose
    # unique index makes endpoints unique regardless of case.
    endpoint: str
    endpointKey: str
    organization: PydanticObjectId
    active: bool = True
    location: GeoPoint | None = None
    geo: GeoSearchFields | None = None
    # Where the station is, for roaming partners (OCPI Location address, city, country): the
    # organization's address shape (streetAndNumber, postalCode, city, country alpha-2).
    address: dict[str, str | None] | None = None
    # IANA time zone of the station, e.g. Europe/Amsterdam.
    timeZone: str | None = None
    # Set on a station received from a roaming partner over OCPI (a Location):
    # {partner, name, locationId}. API writes to it are refused; no station connects as it.
    receivedFrom: dict[str, Any] | None = None
    protocol: str | None = None
    online: bool = False
    connection: str | None = None
    leaseUntil: datetime | None = None
    lastConnectedAt: datetime | None = None
    lastDisconnectedAt: datetime | None = None
    lastMessageAt: datetime | None = None
    boot: BootInfo | None = None
    # The station's own status (OCPP 1.6 connectorId 0, or a report with no EVSE).
    status: str | None = None
    createdAt: datetime
    updatedAt: datetime

    class Settings:
        name = "chargestations"
        indexes = [
            IndexModel([("endpointKey", ASCENDING)], name="endpoint_key_unique", unique=True),
            IndexModel([("organization", ASCENDING), ("_id", ASCENDING)], name="organization_id"),
            IndexModel([("online", ASCENDING), ("leaseUntil", ASCENDING)], name="online_lease"),
        ]


def chargestations_collection() -> AsyncCollection[dict[str, Any]]:
    """The raw chargestations collection, for reads that skip ODM validation."""
    return ChargestationDocument.get_pymongo_collection()


class StationCommandDocument(Document):
    """One command sent (or meant) to a station: the audit trail and the way between processes.

    The process that takes the request stores it PENDING; the process holding
    the station's connection claims it (`sentBy`: its connection, set once, so
    it is sent exactly once) and stores the station's answer; the requester
    hears of the answer through its change stream. Past `deadline` nothing
    stays PENDING: the requester, or any process's sweep if the requester
    died, writes TIMEOUT.
    """

    station: PydanticObjectId
    organization: PydanticObjectId
    # The connector concerned (ChangeAvailability, UnlockConnector); None: the station.
    connector: PydanticObjectId | None = None
    action: str
    # OCPP connectorId (1.6) or evseId (2.0.1) the command names; None: the whole station.
    target: int | None = None
    # ChangeAvailability: Operative (True) or Inoperative (False); Reset: HARD or SOFT.
    operative: bool | None = None
    resetType: str | None = None
    status: str
    stationAnswer: str | None = None
    reason: str | None = None
    # Who asked: the key's name ("admin" for an administrator key), or "reconciliation".
    requestedBy: str
    requestedAt: datetime
    answeredAt: datetime | None = None
    deadline: datetime
    sentBy: str | None = None

    class Settings:
        name = "station_commands"
        indexes = [
            # The history of a station, newest first.
            IndexModel([("station", ASCENDING), ("_id", ASCENDING)], name="station_id"),
            # The latest availability command of each connector (and of the station).
            IndexModel(
                [
                    ("station", ASCENDING),
                    ("connector", ASCENDING),
                    ("action", ASCENDING),
                    ("_id", ASCENDING),
                ],
                name="station_connector_action_id",
            ),
            # Commands left PENDING past their deadline, for the sweep.
            IndexModel(
                [("deadline", ASCENDING)],
                name="pending_deadline",
                partialFilterExpression={"status": "PENDING"},
            ),
        ]
