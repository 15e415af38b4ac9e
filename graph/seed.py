"""Synthetic charging networks: the demo, and national-scale data for benchmarks.

Connectors cluster around real city centres across several countries, with a
rural scatter between them, and follow a realistic mix of types and power.
"""

from __future__ import annotations

import itertools
import logging
import math
import random
import string
import time
from collections.abc import Callable, Sequence
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.collection import AsyncCollection

from graph.connectors.enums import ConnectorFormat, ConnectorStatus, ConnectorType, PowerType
from graph.connectors.models import ConnectorDocument, connectors_collection
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

# The stored values of the tables above, with cumulative weights for `Random.choices`.
_MODEL_VALUES = [(t.value, f.value, p.value, kw) for t, f, p, kw, _ in _MODELS]
_MODEL_WEIGHTS = list(itertools.accumulate(weight for *_, weight in _MODELS))
_STATUS_VALUES = [status.value for status, _ in _STATUSES]
_STATUS_WEIGHTS = list(itertools.accumulate(weight for _, weight in _STATUSES))

_ENDPOINT_ALPHABET = string.ascii_lowercase + string.digits
# An endpoint is two of these pairs: 36^4 = 1,679,616 possible endpoints.
_ENDPOINT_PAIRS = ["".join(pair) for pair in itertools.product(_ENDPOINT_ALPHABET, repeat=2)]
ENDPOINTS = len(_ENDPOINT_PAIRS) ** 2

# Connectors sent to the database in one insert_many.
BATCH_SIZE = 10_000
# Loads of at least this many connectors, and at least as many as are stored,
# go in without the connector indexes, built again afterwards (see seed_network).
BULK_FROM = 10_000


def scatter(
    rng: random.Random, latitude: float, longitude: float, km: float, dense: bool = True
) -> tuple[float, float]:
    """A random point within `km` of a centre: denser near it, or uniform over the disc."""
    distance = km * math.sqrt(rng.random()) * (rng.random() if dense else 1.0)
    bearing = rng.uniform(0, 2 * math.pi)
    dlat = distance / 111.32 * math.cos(bearing)
    dlon = distance / (111.32 * math.cos(math.radians(latitude))) * math.sin(bearing)
    return round(latitude + dlat, 6), round(longitude + dlon, 6)


def organization_weights(count: int, largest_share: float | None = None) -> list[float]:
    """Cumulative weights for drawing each connector's organization among `count`.

    All alike by default; with `largest_share`, the first organization gets that
    share of the connectors and the others split the rest evenly (benchmarks
    need one large organization in networks of many small ones).
    """
    if largest_share is None or count < 2:
        return [float(total) for total in range(1, count + 1)]  # a weight of 1 each
    rest = (1.0 - largest_share) / (count - 1)
    return list(itertools.accumulate([largest_share] + [rest] * (count - 1)))


def fresh_endpoints(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    """`count` distinct endpoints, none of them in `taken`, in random order.

    They are a sample of distinct numbers written in base 36: drawing random
    strings until an unused one comes up slows down as a network of a million
    connectors fills most of the possible endpoints.
    """
    free = ENDPOINTS - len(taken)
    if count > free:
        raise ValueError(f"{count:,} new endpoints asked for, {free:,} left")
    # Those of them already taken are skipped: `count` always remain.
    numbers = rng.sample(range(ENDPOINTS), count + len(taken))
    pairs = len(_ENDPOINT_PAIRS)
    endpoints = (_ENDPOINT_PAIRS[n // pairs] + _ENDPOINT_PAIRS[n % pairs] for n in numbers)
    return list(itertools.islice((e for e in endpoints if e not in taken), count))


def connector_documents(
    rng: random.Random,
    organizations: Sequence[ObjectId],
    count: int,
    cities: list[tuple[str, str, float, float]],
    endpoints: set[str] | None = None,
) -> list[dict[str, Any]]:
    """`count` stored connectors spread over `cities`, with endpoints not in `endpoints`.

    `endpoints` is updated with the ones used, so batches never collide.
    """
    fresh = fresh_endpoints(rng, count, set() if endpoints is None else endpoints)
    if endpoints is not None:
        endpoints.update(fresh)
    return _connectors(rng, organizations, organization_weights(len(organizations)), cities, fresh)


def _connectors(
    rng: random.Random,
    organizations: Sequence[ObjectId],
    weights: list[float],
    cities: list[tuple[str, str, float, float]],
    endpoints: Sequence[str],
) -> list[dict[str, Any]]:
    """One stored connector for each endpoint, as ConnectorDocument would store it.

    Organizations are drawn with the cumulative `weights` (organization_weights).

    Written as raw values, with the model's fields in its order (a test checks
    them against the model): validating a model per connector made generating
    it four times slower, about 40 µs instead of 10.
    """
    moment = now()
    documents: list[dict[str, Any]] = []
    for endpoint in endpoints:
        _, _, latitude, longitude = rng.choice(cities)
        if rng.random() < RURAL_SHARE:
            latitude, longitude = scatter(rng, latitude, longitude, 150.0, dense=False)
        else:
            latitude, longitude = scatter(rng, latitude, longitude, 12.0)
        connector_type, connector_format, power_type, power = rng.choices(
            _MODEL_VALUES, cum_weights=_MODEL_WEIGHTS
        )[0]
        documents.append(
            {
                "active": rng.random() > 0.03,
                "status": rng.choices(_STATUS_VALUES, cum_weights=_STATUS_WEIGHTS)[0],
                "endpoint": endpoint,
                "ocppId": rng.randint(1, 4),
                "type": connector_type,
                "format": connector_format,
                "power_type": power_type,
                "power": power,
                "maxVoltage": None,
                "maxAmperage": None,
                **location_fields(latitude, longitude),
                "createdAt": moment,
                "updatedAt": moment,
                "organization": rng.choices(organizations, cum_weights=weights)[0],
                "chargestation": None,
                "stationLocated": False,
            }
        )
    return documents


async def _insert_organizations(count: int, rng: random.Random) -> list[ObjectId]:
    moment = now()
    organizations = []
    for index in range(count):
        if index < len(ORGANIZATIONS):
            name, street, postal_code, city, country = ORGANIZATIONS[index]
        else:
            city, country, _, _ = rng.choice(CITIES)
            name, street, postal_code = f"{city} Charging {index}", None, None
        organizations.append(
            OrganizationDocument(
                name=name,
                address=Address(
                    streetAndNumber=street, postalCode=postal_code, city=city, country=country
                ),
                createdAt=moment,
                updatedAt=moment,
            )
        )
    if not organizations:
        return []
    return list((await OrganizationDocument.insert_many(organizations)).inserted_ids)


async def _organizations_present() -> list[ObjectId]:
    """The stored organizations, oldest first (so the first ones stay the largest)."""
    cursor = OrganizationDocument.get_pymongo_collection().find({}, {"_id": 1}).sort("_id", 1)
    return [document["_id"] async for document in cursor]


async def _build_indexes(collection: AsyncCollection[dict[str, Any]]) -> None:
    started = time.monotonic()
    log.info("building the connector indexes")
    # The model's declaration, which the app repeats at every start: an index
    # stored with other options would stop it there (IndexOptionsConflict).
    await collection.create_indexes(ConnectorDocument.Settings.indexes)
    log.info("connector indexes built in %.1fs", time.monotonic() - started)


async def seed_network(
    connectors: int,
    organizations: int,
    seed: int = 2020,
    progress: Callable[[int, int], None] | None = None,
    largest_share: float | None = None,
) -> None:
    """Insert a synthetic network in bulk, reporting progress after every batch.

    With no new organizations, the connectors go to those already stored.
    `largest_share`: see organization_weights.

    A large load (BULK_FROM connectors or more, and at least as many as are
    stored) goes into the collection without its secondary indexes, which are
    built again once it is in: on the embedded server, keeping them up to date
    insert by insert cost almost twice what building them afterwards does, and a
    rebuild also
    covers the connectors already there. Meanwhile queries scan, and endpoints
    are unique only because they are drawn so.
    """
    rng = random.Random(seed)
    if organizations:
        organization_ids = await _insert_organizations(organizations, rng)
    else:
        organization_ids = await _organizations_present()
    if connectors and not organization_ids:
        raise ValueError("there are no organizations to add connectors to")
    collection = connectors_collection()
    # Read in full rather than with `distinct`, whose single reply a million
    # endpoints would take past MongoDB's 16 MB document limit.
    taken = {doc["endpoint"] async for doc in collection.find({}, {"endpoint": 1, "_id": 0})}
    endpoints = fresh_endpoints(rng, connectors, taken)
    weights = organization_weights(len(organization_ids), largest_share)
    bulk = connectors >= max(BULK_FROM, len(taken))
    if bulk:
        await collection.drop_indexes()
    try:
        for start in range(0, connectors, BATCH_SIZE):
            batch = _connectors(
                rng, organization_ids, weights, CITIES, endpoints[start : start + BATCH_SIZE]
            )
            # Unordered: a sharded MongoDB may write the documents in parallel.
            await collection.insert_many(batch, ordered=False)
            if progress is not None:
                progress(start + len(batch), connectors)
    finally:
        # Also after a failed or interrupted load: the app builds missing
        # indexes at start, under a request's timeout, too short for a network.
        if bulk:
            await _build_indexes(collection)


async def seed_demo(connectors: int = 300) -> bool:
    """Add the demo network to an empty database; returns False when data was already there."""
    if await OrganizationDocument.find_all().limit(1).count():
        return False
    await seed_network(connectors, len(ORGANIZATIONS))
    log.info("demo network added: %d organizations, %d connectors", len(ORGANIZATIONS), connectors)
    return True
