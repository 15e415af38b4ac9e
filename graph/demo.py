"""A demo network: a few organizations with a few hundred connectors in real cities."""

from __future__ import annotations

import logging
import math
import random
import string
from typing import Any

from graph.connectors.enums import ConnectorFormat, ConnectorStatus, ConnectorType, PowerType
from graph.connectors.models import ConnectorDocument, connectors_collection, stored_values
from graph.core.timestamps import now
from graph.organizations.models import Address, OrganizationDocument

log = logging.getLogger(__name__)

# (city, country, latitude, longitude) of city centres.
CITIES: list[tuple[str, str, float, float]] = [
    ("Amsterdam", "NL", 52.3728, 4.8936),
    ("Rotterdam", "NL", 51.9225, 4.4792),
    ("Berlin", "DE", 52.5200, 13.4050),
    ("Munich", "DE", 48.1374, 11.5755),
    ("Paris", "FR", 48.8566, 2.3522),
    ("Lyon", "FR", 45.7640, 4.8357),
    ("Oslo", "NO", 59.9139, 10.7522),
    ("Copenhagen", "DK", 55.6761, 12.5683),
    ("Madrid", "ES", 40.4168, -3.7038),
    ("Milan", "IT", 45.4642, 9.1900),
]

ORGANIZATIONS: list[tuple[str, str, str, str, str]] = [
    ("Rockstart B.V.", "Rigakade 10", "1013BC", "Amsterdam", "NL"),
    ("Spreewatt GmbH", "Friedrichstrasse 68", "10117", "Berlin", "DE"),
    ("Borne Électrique SAS", "12 Rue de Rivoli", "75004", "Paris", "FR"),
    ("Fjordlading AS", "Karl Johans gate 22", "0159", "Oslo", "NO"),
]

# (type, format, power type, kW) in roughly the proportions seen on European networks.
_MODELS: list[tuple[ConnectorType, ConnectorFormat, PowerType, float, int]] = [
    (ConnectorType.TYPE2, ConnectorFormat.SOCKET, PowerType.AC_3_PHASE, 11.0, 30),
    (ConnectorType.TYPE2, ConnectorFormat.SOCKET, PowerType.AC_3_PHASE, 22.0, 20),
    (ConnectorType.TYPE2, ConnectorFormat.CABLE, PowerType.AC_3_PHASE, 7.2, 10),
    (ConnectorType.J1772, ConnectorFormat.CABLE, PowerType.AC_SINGLE_PHASE, 7.4, 5),
    (ConnectorType.CCS2, ConnectorFormat.CABLE, PowerType.DC, 50.0, 12),
    (ConnectorType.CCS2, ConnectorFormat.CABLE, PowerType.DC, 150.0, 10),
    (ConnectorType.CCS2, ConnectorFormat.CABLE, PowerType.DC, 350.0, 5),
    (ConnectorType.G105, ConnectorFormat.CABLE, PowerType.DC, 50.0, 4),
    (ConnectorType.TESLA, ConnectorFormat.CABLE, PowerType.DC, 250.0, 3),
    (ConnectorType.CCS1, ConnectorFormat.CABLE, PowerType.DC, 50.0, 1),
]

_STATUSES: list[tuple[ConnectorStatus, int]] = [
    (ConnectorStatus.AVAILABLE, 60),
    (ConnectorStatus.CHARGING, 20),
    (ConnectorStatus.PREPARING, 4),
    (ConnectorStatus.FINISHING, 4),
    (ConnectorStatus.SUSPENDED_EV, 2),
    (ConnectorStatus.RESERVED, 2),
    (ConnectorStatus.UNAVAILABLE, 5),
    (ConnectorStatus.FAULTED, 3),
]

_ENDPOINT_ALPHABET = string.ascii_lowercase + string.digits


def scatter(
    rng: random.Random, latitude: float, longitude: float, km: float
) -> tuple[float, float]:
    """A random point within about `km` of a centre (denser near the centre)."""
    distance = km * math.sqrt(rng.random()) * rng.random()
    bearing = rng.uniform(0, 2 * math.pi)
    dlat = distance / 111.32 * math.cos(bearing)
    dlon = distance / (111.32 * math.cos(math.radians(latitude))) * math.sin(bearing)
    return round(latitude + dlat, 6), round(longitude + dlon, 6)


def connector_documents(
    rng: random.Random,
    organizations: list[Any],
    count: int,
    cities: list[tuple[str, str, float, float]],
) -> list[dict[str, Any]]:
    """`count` stored connectors spread over `cities`, with unique endpoints."""
    endpoints: set[str] = set()
    moment = now()
    documents: list[dict[str, Any]] = []
    models, model_weights = zip(*[(m[:4], m[4]) for m in _MODELS], strict=True)
    statuses, status_weights = zip(*_STATUSES, strict=True)
    while len(documents) < count:
        endpoint = "".join(rng.choices(_ENDPOINT_ALPHABET, k=4))
        if endpoint in endpoints:
            continue
        endpoints.add(endpoint)
        _, _, latitude, longitude = rng.choice(cities)
        latitude, longitude = scatter(rng, latitude, longitude, 8.0)
        connector_type, connector_format, power_type, power = rng.choices(models, model_weights)[0]
        document = ConnectorDocument(
            active=rng.random() > 0.03,
            status=rng.choices(statuses, status_weights)[0],
            endpoint=endpoint,
            ocppId=rng.randint(1, 4),
            type=connector_type,
            format=connector_format,
            power_type=power_type,
            power=power,
            location={"type": "Point", "coordinates": [longitude, latitude]},
            createdAt=moment,
            updatedAt=moment,
            organization=rng.choice(organizations),
        )
        documents.append(stored_values(document.model_dump(exclude={"id"})))
    return documents


async def seed_demo(connectors: int = 300) -> bool:
    """Add the demo network to an empty database; returns False when data was already there."""
    if await OrganizationDocument.find_all().limit(1).count():
        return False
    moment = now()
    organization_ids = []
    for name, street, postal_code, city, country in ORGANIZATIONS:
        organization = OrganizationDocument(
            name=name,
            address=Address(
                streetAndNumber=street, postalCode=postal_code, city=city, country=country
            ),
            createdAt=moment,
            updatedAt=moment,
        )
        await organization.insert()
        organization_ids.append(organization.id)
    documents = connector_documents(random.Random(2020), organization_ids, connectors, CITIES)
    await connectors_collection().insert_many(documents)
    log.info(
        "demo network added: %d organizations, %d connectors", len(organization_ids), connectors
    )
    return True
