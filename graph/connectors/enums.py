"""Connector enums: GraphQL names outside, the eDRV/OCPP stored values inside."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum(
    description=(
        "Operational state reported in real time by the charge station: OCPP 1.6 "
        "ChargePointStatus, plus OCPP 2.0.1's Occupied."
    )
)
class ConnectorStatus(Enum):
    AVAILABLE = strawberry.enum_value(
        "Available", description="Ready for EV charging; no cable plugged in."
    )
    PREPARING = strawberry.enum_value(
        "Preparing", description="Cable plugged in, awaiting the start command."
    )
    CHARGING = strawberry.enum_value("Charging", description="An EV is charging at this connector.")
    SUSPENDED_EVSE = strawberry.enum_value(
        "SuspendedEVSE", description="The charge station has suspended the energy transfer."
    )
    SUSPENDED_EV = strawberry.enum_value(
        "SuspendedEV", description="The driver suspended the transaction from the vehicle side."
    )
    FINISHING = strawberry.enum_value(
        "Finishing", description="Transaction finished; awaiting the cable to be unplugged."
    )
    RESERVED = strawberry.enum_value("Reserved", description="Reserved for a particular driver.")
    UNAVAILABLE = strawberry.enum_value(
        "Unavailable", description="Not available for charging (e.g. taken out of service)."
    )
    FAULTED = strawberry.enum_value("Faulted", description="In an error state; cannot charge.")
    OCCUPIED = strawberry.enum_value(
        "Occupied",
        description=(
            "In use, as an OCPP 2.0.1 station reports it (ConnectorStatus Occupied); refined to "
            "CHARGING, SUSPENDED_EV, SUSPENDED_EVSE or PREPARING when the station reports its "
            "transaction's charging state."
        ),
    )


@strawberry.enum(description="Physical connector standard (OCPP 2.0.1 ConnectorEnumType subset).")
class ConnectorType(Enum):
    CCS1 = strawberry.enum_value(
        "CCS1", description="Combined Charging System 1 (captive cabled), a.k.a. Combo 1."
    )
    CCS2 = strawberry.enum_value(
        "CCS2", description="Combined Charging System 2 (captive cabled), a.k.a. Combo 2."
    )
    G105 = strawberry.enum_value(
        "G105", description="JARI G105-1993 (captive cabled), a.k.a. CHAdeMO."
    )
    TESLA = strawberry.enum_value("Tesla", description="Tesla connector (captive cabled).")
    J1772 = strawberry.enum_value(
        "J1772", description="IEC 62196-2 Type 1 connector (captive cabled), a.k.a. J1772."
    )
    TYPE2 = strawberry.enum_value(
        "Type2", description="IEC 62196-2 Type 2 connector, a.k.a. Mennekes."
    )


@strawberry.enum(description="Whether the connector has its own cable or is a socket.")
class ConnectorFormat(Enum):
    CABLE = strawberry.enum_value("CABLE", description="A cable is attached to the station.")
    SOCKET = strawberry.enum_value("SOCKET", description="A socket: the driver brings the cable.")


@strawberry.enum(description="Kind of power delivered through the connector.")
class PowerType(Enum):
    AC_3_PHASE = strawberry.enum_value("AC_3_PHASE", description="Alternating current, 3 phases.")
    AC_SINGLE_PHASE = strawberry.enum_value(
        "AC_SINGLE_PHASE", description="Alternating current, single phase."
    )
    DC = strawberry.enum_value("DC", description="Direct current (fast charging).")
