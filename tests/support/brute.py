"""Connector searches answered by brute force from the stored documents, and compared with
what a server answers.

The brute force reads every connector document (as pymongo returns it) and applies the
API's rules one connector at a time, independently of how the server answers:

- a connector is active exactly when its stored `active` is the boolean true (or an array
  holding it, as MongoDB's equality reads an array); missing, null, 0, 1, a string:
  inactive (`stored_active`);
- a caller sees a connector when it is active, or when the caller is an admin or holds a
  key of the connector's organization (graph/core/visibility.py);
- a filter keeps a connector when every field given holds (graph/connectors/filters.py);
  `updatedSince` keeps those updated strictly later;
- searches (nearby, bounds) keep active connectors only, unless the filter gives `active`;
- positions are the stored `geo.lat` / `geo.lng`; a connector without `geo` is never found by
  a position; distances are great-circle distances computed otherwise than the server does
  (tests/support/distance.py), at most the radius, nearest first with ties by id (two
  connectors whose distances the two formulas cannot tell apart may come in either order);
- lists are in id order, or by (updatedAt, id) when ordered by UPDATED_AT;
- an organization's status counts leave inactive connectors out unless the caller manages
  it, and list statuses in the enum's order, leaving out those with none.

A `Question` is asked of both: `asked` walks every page of the server's answer (checking the
paging on the way) and `expected` computes the same from the documents.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from bson import ObjectId
from pymongo.database import Database

from tests.support.distance import great_circle_m, same_distance

# API enum names → stored values, in the order the API declares them.
STATUSES = {
    "AVAILABLE": "Available",
    "PREPARING": "Preparing",
    "CHARGING": "Charging",
    "SUSPENDED_EVSE": "SuspendedEVSE",
    "SUSPENDED_EV": "SuspendedEV",
    "FINISHING": "Finishing",
    "RESERVED": "Reserved",
    "UNAVAILABLE": "Unavailable",
    "FAULTED": "Faulted",
    "OCCUPIED": "Occupied",
}
STATUS_NAMES = {stored: name for name, stored in STATUSES.items()}
TYPES = {
    "CCS1": "CCS1",
    "CCS2": "CCS2",
    "G105": "G105",
    "TESLA": "Tesla",
    "J1772": "J1772",
    "TYPE2": "Type2",
}
FORMATS = {"CABLE": "CABLE", "SOCKET": "SOCKET"}
POWER_TYPES = {"AC_3_PHASE": "AC_3_PHASE", "AC_SINGLE_PHASE": "AC_SINGLE_PHASE", "DC": "DC"}


def now_ms() -> datetime:
    """The current instant in UTC, truncated to milliseconds (what BSON keeps)."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def iso(moment: datetime) -> str:
    """An instant as the API writes it: UTC, milliseconds, trailing Z."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True)
class Caller:
    """Who asks: anonymous, an organization's key, or an admin."""

    name: str
    key: str | None
    organization: ObjectId | None = None
    admin: bool = False

    def manages(self, organization: ObjectId) -> bool:
        return self.admin or (self.organization is not None and self.organization == organization)

    def sees(self, doc: Mapping[str, Any]) -> bool:
        return stored_active(doc) or self.manages(doc["organization"])


# ------------------------------------------------------------------ brute force


def stored_active(doc: Mapping[str, Any]) -> bool:
    """Is the connector active: its `active` the boolean true, or an array holding it?"""
    value = doc.get("active")
    values = value if isinstance(value, list) else [value]
    return any(type(item) is bool and item for item in values)


def documents(db: Database[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every stored connector."""
    return list(db.connectors.find({}))


def position(doc: Mapping[str, Any]) -> tuple[float, float] | None:
    """Where a search finds the connector (its `geo`), or None when it has no position."""
    geo = doc.get("geo")
    if not geo:
        return None
    return float(geo["lat"]), float(geo["lng"])


def matches(doc: Mapping[str, Any], filter: Mapping[str, Any] | None) -> bool:
    """Does the connector pass every field given in a ConnectorFilter (API names)?"""
    given = {name: value for name, value in (filter or {}).items() if value is not None}
    if "organizationId" in given and doc["organization"] != ObjectId(given["organizationId"]):
        return False
    for name, stored, values in (
        ("statuses", "status", STATUSES),
        ("types", "type", TYPES),
        ("formats", "format", FORMATS),
        ("powerTypes", "power_type", POWER_TYPES),
    ):
        if name in given and doc[stored] not in {values[value] for value in given[name]}:
            return False
    if given.get("availableOnly") and doc["status"] != STATUSES["AVAILABLE"]:
        return False
    if "active" in given and stored_active(doc) != given["active"]:
        return False
    if "minPowerKw" in given and not doc["power"] >= given["minPowerKw"]:
        return False
    if "maxPowerKw" in given and not doc["power"] <= given["maxPowerKw"]:
        return False
    return not ("updatedSince" in given and not doc["updatedAt"] > parse_iso(given["updatedSince"]))


def for_drivers(filter: Mapping[str, Any] | None) -> dict[str, Any]:
    """A search's filter: active connectors only unless `active` is given."""
    wanted = dict(filter or {})
    if wanted.get("active") is None:
        wanted["active"] = True
    return wanted


def nearby(
    docs: Iterable[Mapping[str, Any]],
    caller: Caller,
    latitude: float,
    longitude: float,
    radius: float,
    filter: Mapping[str, Any] | None,
) -> list[tuple[float, ObjectId]]:
    """(distance, id) of what nearbyConnectors finds, nearest first, ties by id."""
    wanted = for_drivers(filter)
    found = []
    for doc in docs:
        at = position(doc)
        if at is None or not caller.sees(doc) or not matches(doc, wanted):
            continue
        distance = great_circle_m(latitude, longitude, at[0], at[1])
        if distance <= radius:
            found.append((distance, doc["_id"]))
    return sorted(found)


def inside(at: tuple[float, float], south: float, west: float, north: float, east: float) -> bool:
    latitude, longitude = at
    if not south <= latitude <= north:
        return False
    if west > east:  # across the antimeridian
        return longitude >= west or longitude <= east
    return west <= longitude <= east


def in_bounds(
    docs: Iterable[Mapping[str, Any]],
    caller: Caller,
    box: tuple[float, float, float, float],
    filter: Mapping[str, Any] | None,
) -> list[ObjectId]:
    """Ids of what connectorsInBounds finds (south, west, north, east), in id order."""
    wanted = for_drivers(filter)
    return sorted(
        doc["_id"]
        for doc in docs
        if (at := position(doc)) is not None
        and inside(at, *box)
        and caller.sees(doc)
        and matches(doc, wanted)
    )


def listed(
    docs: Iterable[Mapping[str, Any]],
    caller: Caller,
    filter: Mapping[str, Any] | None,
    order: str | None = None,
) -> list[ObjectId]:
    """Ids of what connectors(filter, orderBy) lists, in its order (None: the default)."""
    kept = [doc for doc in docs if caller.sees(doc) and matches(doc, filter)]
    if order == "UPDATED_AT":
        kept.sort(key=lambda doc: (doc["updatedAt"], doc["_id"]))
    else:
        kept.sort(key=lambda doc: doc["_id"])
    return [doc["_id"] for doc in kept]


def owned(
    docs: Iterable[Mapping[str, Any]],
    caller: Caller,
    organization: ObjectId,
    filter: Mapping[str, Any] | None,
) -> list[ObjectId]:
    """Ids of what organization(id).connectors(filter) lists, in id order."""
    named = (filter or {}).get("organizationId")
    if named is not None and ObjectId(named) != organization:
        return []
    return listed(docs, caller, {**(filter or {}), "organizationId": str(organization)})


def status_counts(
    docs: Iterable[Mapping[str, Any]], caller: Caller, organization: ObjectId
) -> list[dict[str, Any]]:
    """organization(id).connectorCountsByStatus as the API answers it."""
    every = caller.manages(organization)
    counted = Counter(
        doc["status"]
        for doc in docs
        if doc["organization"] == organization and (every or stored_active(doc))
    )
    return [
        {"status": name, "count": counted[stored]}
        for name, stored in STATUSES.items()
        if counted[stored]
    ]


# ------------------------------------------------------------------ the API

_PAGE = "totalCount edges { cursor node { id } } pageInfo { hasNextPage endCursor }"
NEARBY = (
    "query($lat: Float!, $lng: Float!, $radius: Float, $filter: ConnectorFilter, $first: Int, "
    "$after: String) { page: nearbyConnectors(latitude: $lat, longitude: $lng, "
    "radiusMeters: $radius, filter: $filter, first: $first, after: $after) { totalCount "
    "edges { cursor distanceMeters node { id } } pageInfo { hasNextPage endCursor } } }"
)
BOUNDS = (
    "query($s: Float!, $w: Float!, $n: Float!, $e: Float!, $filter: ConnectorFilter, "
    "$first: Int, $after: String) { page: connectorsInBounds(south: $s, west: $w, north: $n, "
    f"east: $e, filter: $filter, first: $first, after: $after) {{ {_PAGE} }} }}"
)
LIST = (
    "query($filter: ConnectorFilter, $first: Int, $after: String) "
    f"{{ page: connectors(filter: $filter, first: $first, after: $after) {{ {_PAGE} }} }}"
)
LIST_ORDERED = (
    "query($filter: ConnectorFilter, $first: Int, $after: String, $order: ConnectorOrder) "
    "{ page: connectors(filter: $filter, first: $first, after: $after, orderBy: $order) "
    f"{{ {_PAGE} }} }}"
)
OWNED = (
    "query($id: ID!, $filter: ConnectorFilter, $first: Int, $after: String) "
    "{ organization(id: $id) { page: connectors(filter: $filter, first: $first, "
    f"after: $after) {{ {_PAGE} }} }} }}"
)
COUNTS = "query($id: ID!) { organization(id: $id) { connectorCountsByStatus { status count } } }"

MAX_PAGES = 500

# One pooled client: a new connection per request costs ten times the request itself.
_http = httpx.Client(timeout=30)


def ask(
    server: Any, key: str | None, query: str, variables: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    """POST a GraphQL request; (HTTP status, body). A kept connection the server closed
    (it was restarted) is replaced once."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    request = {"query": query, "variables": variables}
    try:
        response = _http.post(server.graphql_url, json=request, headers=headers)
    except httpx.TransportError:
        response = _http.post(server.graphql_url, json=request, headers=headers)
    body: dict[str, Any] = response.json()
    return response.status_code, body


@dataclass(frozen=True)
class Result:
    """An answer: the ids in order, the total, and the distances (nearby) or counts."""

    ids: tuple[str, ...] = ()
    total: int | None = None
    distances: tuple[float, ...] | None = None
    counts: tuple[tuple[str, int], ...] | None = None

    def same(self, other: Result) -> bool:
        """Does this answer (the server's) match `other` (the brute force's)?"""
        if (self.total, self.counts) != (other.total, other.counts):
            return False
        if self.distances is None or other.distances is None:
            return self.distances is other.distances and self.ids == other.ids
        return self._same_nearest(other)

    def _same_nearest(self, other: Result) -> bool:
        """The same connectors, each at the same distance, nearest first.

        The two sides compute distances by different formulas, which may differ in the last
        bits: where the brute force's distances of two connectors are that close, either
        order is right. Connectors the server places at exactly the same distance must come
        in id order.
        """
        mine, theirs = self.distances or (), other.distances or ()
        if len(self.ids) != len(other.ids) or sorted(self.ids) != sorted(other.ids):
            return False
        if len(mine) != len(self.ids) or len(set(self.ids)) != len(self.ids):
            return False
        expected = dict(zip(other.ids, theirs, strict=True))
        # Each connector at its distance, and each place of the order at the distance due there.
        if not all(
            same_distance(distance, expected[connector])
            for connector, distance in zip(self.ids, mine, strict=True)
        ):
            return False
        if not all(same_distance(a, b) for a, b in zip(mine, theirs, strict=True)):
            return False
        ties = zip(self.ids, self.ids[1:], mine, mine[1:], strict=False)
        return all(
            ObjectId(first) < ObjectId(second) for first, second, near, far in ties if near == far
        )


@dataclass(frozen=True)
class Question:
    """One search, asked of a server and of the brute force.

    kind: "nearby" (args: lat, lng, radius), "bounds" (s, w, n, e), "list" (order),
    "owned" (organization: its id), "counts" (organization).
    """

    kind: str
    caller: str
    args: Mapping[str, Any] = field(default_factory=dict)
    filter: Mapping[str, Any] | None = None
    first: int = 100

    def __str__(self) -> str:
        parts = [f"{name}={value}" for name, value in self.args.items()]
        parts += [f"filter={self.filter}", f"first={self.first}"]
        return f"{self.kind}({', '.join(parts)}) as {self.caller}"

    def expected(self, docs: Sequence[Mapping[str, Any]], callers: Mapping[str, Caller]) -> Result:
        caller = callers[self.caller]
        if self.kind == "nearby":
            found = nearby(
                docs, caller, self.args["lat"], self.args["lng"], self.args["radius"], self.filter
            )
            return Result(tuple(str(i) for _, i in found), len(found), tuple(d for d, _ in found))
        if self.kind == "bounds":
            box = (self.args["s"], self.args["w"], self.args["n"], self.args["e"])
            ids = in_bounds(docs, caller, box, self.filter)
        elif self.kind == "list":
            ids = listed(docs, caller, self.filter, self.args.get("order"))
        elif self.kind == "owned":
            ids = owned(docs, caller, ObjectId(self.args["organization"]), self.filter)
        elif self.kind == "counts":
            counts = status_counts(docs, caller, ObjectId(self.args["organization"]))
            return Result(counts=tuple((row["status"], row["count"]) for row in counts))
        else:
            raise ValueError(self.kind)
        return Result(tuple(str(i) for i in ids), len(ids))

    def _request(self) -> tuple[str, dict[str, Any], list[str]]:
        """The GraphQL document, its variables (without paging), and the path to the page."""
        if self.kind == "nearby":
            args = self.args
            variables = {"lat": args["lat"], "lng": args["lng"], "radius": args["radius"]}
            return NEARBY, {**variables, "filter": self.filter}, ["page"]
        if self.kind == "bounds":
            return BOUNDS, {**self.args, "filter": self.filter}, ["page"]
        if self.kind == "list":
            order = self.args.get("order")
            if order is None:
                return LIST, {"filter": self.filter}, ["page"]
            return LIST_ORDERED, {"filter": self.filter, "order": order}, ["page"]
        if self.kind == "owned":
            variables = {"id": self.args["organization"], "filter": self.filter}
            return OWNED, variables, ["organization", "page"]
        raise ValueError(self.kind)

    def asked(self, server: Any, callers: Mapping[str, Caller]) -> Result | str:
        """The server's answer, every page walked; a string says what went wrong."""
        key = callers[self.caller].key
        if self.kind == "counts":
            status, body = ask(server, key, COUNTS, {"id": self.args["organization"]})
            if status != 200 or body.get("errors"):
                return f"HTTP {status}: {body.get('errors')}"
            rows = body["data"]["organization"]["connectorCountsByStatus"]
            return Result(counts=tuple((row["status"], row["count"]) for row in rows))
        query, variables, path = self._request()
        ids: list[str] = []
        distances: list[float] = []
        totals: set[int] = set()
        after = None
        for _ in range(MAX_PAGES):
            status, body = ask(
                server, key, query, {**variables, "first": self.first, "after": after}
            )
            if status != 200 or body.get("errors"):
                return f"HTTP {status} on the page after {after}: {body.get('errors')}"
            page = body["data"]
            for step in path:
                page = page[step]
            edges = page["edges"]
            ids += [edge["node"]["id"] for edge in edges]
            distances += [edge["distanceMeters"] for edge in edges if "distanceMeters" in edge]
            totals.add(page["totalCount"])
            info = page["pageInfo"]
            if len(edges) > self.first:
                return f"a page of {len(edges)} edges for first={self.first}"
            if info["endCursor"] != (edges[-1]["cursor"] if edges else None):
                return f"endCursor {info['endCursor']} is not the last edge's cursor"
            if not info["hasNextPage"]:
                break
            if not edges:
                return "an empty page says hasNextPage"
            after = info["endCursor"]
        else:
            return f"more than {MAX_PAGES} pages"
        if len(totals) != 1:
            return f"totalCount changed between pages: {sorted(totals)}"
        return Result(
            tuple(ids),
            totals.pop(),
            tuple(distances) if self.kind == "nearby" else None,
        )


def _shown(result: Result | str) -> str:
    if isinstance(result, str):
        return result
    parts = [f"ids={list(result.ids)}", f"total={result.total}"]
    if result.distances is not None:
        parts.append(f"distances={[round(d, 3) for d in result.distances]}")
    if result.counts is not None:
        parts = [f"counts={list(result.counts)}"]
    return " ".join(parts)


def disagreements(
    server: Any,
    db: Database[dict[str, Any]],
    questions: Iterable[Question],
    callers: Mapping[str, Caller],
) -> list[str]:
    """Each question the server answers otherwise than the brute force, explained."""
    docs = documents(db)
    found = []
    for question in questions:
        expected = question.expected(docs, callers)
        answered = question.asked(server, callers)
        if isinstance(answered, str) or not answered.same(expected):
            found.append(
                f"{question}\n    expected {_shown(expected)}\n    answered {_shown(answered)}"
            )
    return found


def agreement_within(
    server: Any,
    db: Database[dict[str, Any]],
    questions: Sequence[Question],
    callers: Mapping[str, Caller],
    timeout: float,
    what: str,
) -> None:
    """Ask until the server agrees with the brute force; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = disagreements(server, db, questions, callers)
        if not found:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{what}: no agreement after {timeout:.0f}s; still:\n" + "\n".join(found)
            )
        time.sleep(0.05)


def assert_agreement(
    server: Any,
    db: Database[dict[str, Any]],
    questions: Iterable[Question],
    callers: Mapping[str, Caller],
    what: str,
) -> None:
    found = disagreements(server, db, questions, callers)
    assert not found, f"{what}:\n" + "\n".join(found)


def probe(
    organizations: Sequence[str],
    changed: Iterable[Mapping[str, Any] | None] = (),
) -> list[Question]:
    """Admin questions that show whether a server has taken writes in: every connector, each
    organization's status counts, and for each changed connector (as stored before and
    after the writes) a list matching exactly its fields and searches at its positions."""
    questions = [Question("list", "admin")]
    questions += [Question("counts", "admin", {"organization": org}) for org in organizations]
    for doc in changed:
        if doc is None:
            continue
        exact = {
            "organizationId": str(doc["organization"]),
            "statuses": [STATUS_NAMES[doc["status"]]],
            "types": [name for name, stored in TYPES.items() if stored == doc["type"]],
            "formats": [doc["format"]],
            "powerTypes": [doc["power_type"]],
            "active": stored_active(doc),
            "minPowerKw": doc["power"],
            "maxPowerKw": doc["power"],
        }
        questions.append(Question("list", "admin", filter=exact))
        at = position(doc)
        if at is not None:
            lat, lng = at
            questions.append(
                Question("nearby", "admin", {"lat": lat, "lng": lng, "radius": 10.0}, exact)
            )
            box = {"s": lat - 0.0005, "w": lng, "n": lat + 0.0005, "e": lng}
            questions.append(Question("bounds", "admin", box, exact))
    return questions
