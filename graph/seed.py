"""Synthetic charging networks: the demo, and national-scale data for benchmarks.

Connectors cluster around real city centres across several countries, with a
rural scatter between them, and follow a realistic mix of types and power.
"""

from __future__ import annotations

import logging
import math
import random
import string
from collections.abc import Callable
from typing import Any

from graph.connectors.enums import ConnectorFormat, ConnectorStatus, ConnectorType, PowerType
from graph.connectors.models import ConnectorDocument, connectors_collection, stored_values
from graph.core.geo import location_fields
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
    ("Hamburg", "DE", 53.5511, 9.9937),
    ("Cologne", "DE", 50.9375, 6.9603),
    ("Frankfurt", "DE", 50.1109, 8.6821),
    ("Stuttgart", "DE", 48.7758, 9.1829),
    ("Utrecht", "NL", 52.0907, 5.1214),
    ("Eindhoven", "NL", 51.4416, 5.4697),
    ("Brussels", "BE", 50.8503, 4.3517),
    ("Antwerp", "BE", 51.2194, 4.4025),
    ("Marseille", "FR", 43.2965, 5.3698),
    ("Toulouse", "FR", 43.6047, 1.4442),
    ("Bergen", "NO", 60.3913, 5.3221),
    ("Stockholm", "SE", 59.3293, 18.0686),
    ("Gothenburg", "SE", 57.7089, 11.9746),
    ("Aarhus", "DK", 56.1629, 10.2039),
    ("Barcelona", "ES", 41.3874, 2.1686),
    ("Valencia", "ES", 39.4699, -0.3763),
    ("Rome", "IT", 41.9028, 12.4964),
    ("Turin", "IT", 45.0703, 7.6869),
    ("Vienna", "AT", 48.2082, 16.3738),
    ("Zurich", "CH", 47.3769, 8.5417),
]
# Share of connectors spread thinly between the cities rather than in them.
RURAL_SHARE = 0.12

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
    rng: random.Random, latitude: float, longitude: float, km: float, dense: bool = True
) -> tuple[float, float]:
    """A random point within `km` of a centre: denser near it, or uniform over the disc."""
    distance = km * math.sqrt(rng.random()) * (rng.random() if dense else 1.0)
    bearing = rng.uniform(0, 2 * math.pi)
    dlat = distance / 111.32 * math.cos(bearing)
    dlon = distance / (111.32 * math.cos(math.radians(latitude))) * math.sin(bearing)
    return round(latitude + dlat, 6), round(longitude + dlon, 6)


def connector_documents(
    rng: random.Random,
    organizations: list[Any],
    count: int,
    cities: list[tuple[str, str, float, float]],
    endpoints: set[str] | None = None,
) -> list[dict[str, Any]]:
    """`count` stored connectors spread over `cities`, with endpoints not in `endpoints`.

    `endpoints` is updated with the ones used, so batches never collide.
    """
    endpoints = set() if endpoints is None else endpoints
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
        if rng.random() < RURAL_SHARE:
            latitude, longitude = scatter(rng, latitude, longitude, 150.0, dense=False)
        else:
            latitude, longitude = scatter(rng, latitude, longitude, 12.0)
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
            **location_fields(latitude, longitude),
            createdAt=moment,
            updatedAt=moment,
            organization=rng.choice(organizations),
        )
        documents.append(stored_values(document.model_dump(exclude={"id"})))
    return documents


async def _insert_organizations(count: int, rng: random.Random) -> list[Any]:
    moment = now()
    ids = []
    for index in range(count):
        if index < len(ORGANIZATIONS):
            name, street, postal_code, city, country = ORGANIZATIONS[index]
        else:
            city, country, _, _ = rng.choice(CITIES)
            name, street, postal_code = f"{city} Charging {index}", None, None
        organization = OrganizationDocument(
            name=name,
            address=Address(
                streetAndNumber=street, postalCode=postal_code, city=city, country=country
            ),
            createdAt=moment,
            updatedAt=moment,
        )
        await organization.insert()
        ids.append(organization.id)
    return ids


async def seed_network(
    connectors: int,
    organizations: int,
    seed: int = 2020,
    batch_size: int = 2000,
    progress: Callable[[int, int], None] | None = None,
) -> None:
    """Insert a synthetic network in bulk, reporting progress after every batch."""
    rng = random.Random(seed)
    organization_ids = await _insert_organizations(organizations, rng)
    endpoints = set(await connectors_collection().distinct("endpoint"))
    done = 0
    while done < connectors:
        batch = connector_documents(
            rng, organization_ids, min(batch_size, connectors - done), CITIES, endpoints
        )
        await connectors_collection().insert_many(batch)
        done += len(batch)
        if progress is not None:
            progress(done, connectors)


async def seed_demo(connectors: int = 300) -> bool:
    """Add the demo network to an empty database; returns False when data was already there."""
    if await OrganizationDocument.find_all().limit(1).count():
        return False
    await seed_network(connectors, len(ORGANIZATIONS), batch_size=connectors)
    log.info("demo network added: %d organizations, %d connectors", len(ORGANIZATIONS), connectors)
    return True
