"""The connector index: an in-memory replica of the connectors collection.

Each process keeps every connector in a few numpy arrays and answers
searches, lists and counts from them without reading the database. The
replica is loaded at start and then kept current by the process's change
stream (`graph.live.hub` hands it every connector change) and by the
process's own writes, applied before a mutation answers.

Data structures, and why:

- Columns, not objects. One array per stored field (`COLUMNS`): ids as
  12-byte strings, enums as one-byte codes, organizations and charge
  stations as int32 codes into small intern tables, power and position as
  float64 (exactly what MongoDB stores), instants as int64 milliseconds (all
  BSON keeps). About 100 bytes a connector, against kilobytes for a dict or
  a model per connector, and every filter is a vectorised comparison.
- Rows in id order. Every list is paged in id order, so a page is "the first
  matches after a binary search", found by scanning forward in chunks, and a
  lookup by id is a binary search too. New connectors have the largest ids
  and are appended; an out-of-order id (another process's clock, a tool's
  own id) shifts the tail by one row.
- Tombstones. A deleted row is marked dead and kept until a quarter of the
  rows are dead, then the arrays are compacted: deleting never moves rows.
- A grid for space. Rows are also kept sorted by a 0.01-degree grid cell
  (about 1.1 km north-south); a box becomes one binary-searched range of cells
  per grid row. Rows that moved or arrived since that order was built are
  kept aside in a small set and checked directly, and the order is rebuilt
  lazily (one argsort) when that set grows or rows shift. Exact distances and
  box tests are then computed on the candidates only. Nearby searches grow
  their radius from 250 m until enough matches are certain, so a dense city
  reads a few hundred rows whatever the radius asked.

Filters arrive as the MongoDB filters the database path uses (built once, in
`graph.connectors.filters` and `graph.core.visibility`), and `Matcher`
evaluates exactly the operators those produce: one rule, two engines, and
the tests compare both with a brute force.

Everything here is synchronous: a query returns documents, never row
numbers, so rows shifting between two awaits cannot mix answers.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from bson import ObjectId, Timestamp
from bson.tz_util import utc

from graph.connectors.enums import ConnectorFormat, ConnectorStatus, ConnectorType, PowerType
from graph.core.geo import EARTH_RADIUS_M, Box, box_around
from graph.core.replica import OwnWrites, event_key
from graph.core.visibility import is_active, wanted_activity

log = logging.getLogger(__name__)

Rows = np.ndarray[Any, np.dtype[np.int64]]
Mask = np.ndarray[Any, np.dtype[np.bool_]]

EPOCH = datetime(1970, 1, 1, tzinfo=utc)
CELL_DEG = 0.01
GRID_COLS = round(360 / CELL_DEG)
GRID_ROWS = round(180 / CELL_DEG)
# Rows that moved since the grid order was built are checked one by one; past
# this many, the order is rebuilt.
MAX_UNSORTED = 4096
# A box spanning more grid rows than this is answered by scanning every row.
MAX_GRID_ROWS = 400
# Rows scanned at a time when looking for the first matches of a page.
SCAN_CHUNK = 16384
# Nearby searches start with this radius and grow it fourfold.
FIRST_RADIUS_M = 250.0

# Enum fields: stored value <-> one-byte code, in declaration order.


def _rating(value: int | None) -> int:
    """A connector's optional rating as its column stores it (-1: not given)."""
    return -1 if value is None else value


ENUMS: dict[str, list[str]] = {
    "status": [str(member.value) for member in ConnectorStatus],
    "type": [str(member.value) for member in ConnectorType],
    "format": [str(member.value) for member in ConnectorFormat],
    "power_type": [str(member.value) for member in PowerType],
}
_ENUM_CODES = {
    field: {value: code for code, value in enumerate(values)} for field, values in ENUMS.items()
}

COLUMNS: dict[str, str] = {
    "id": "S12",
    "alive": "?",
    "organization": "i4",
    "chargestation": "i4",  # -1: none
    "active": "?",
    "status": "u1",
    "endpoint": "S4",
    "ocppId": "i4",
    "type": "u1",
    "format": "u1",
    "power_type": "u1",
    "power": "f8",
    "lat": "f8",  # NaN: no position
    "lng": "f8",
    "createdAt": "i8",  # milliseconds since the epoch
    "updatedAt": "i8",
    "stationLocated": "?",
    "maxVoltage": "i4",  # -1: not given
    "maxAmperage": "i4",
    "cell": "i8",  # grid cell; -1: no position
    "filed": "?",  # the row's place in the grid order is current (see `_in_box`)
}
# Columns a document is rebuilt from.
_OUTPUT = [name for name in COLUMNS if name not in ("alive", "cell", "filed")]


def millis(moment: datetime) -> int:
    """An instant as whole milliseconds since the epoch (what BSON stores)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=utc)
    return (moment - EPOCH) // timedelta(milliseconds=1)


def instant(ms: int) -> datetime:
    """The datetime MongoDB would return for milliseconds since the epoch."""
    return EPOCH + timedelta(milliseconds=ms)


def cell_of(latitude: float, longitude: float) -> int:
    row = min(int((latitude + 90.0) / CELL_DEG), GRID_ROWS - 1)
    col = min(int((longitude + 180.0) / CELL_DEG), GRID_COLS - 1)
    return row * GRID_COLS + col


def distances_m(latitude: float, longitude: float, lats: Any, lngs: Any) -> Any:
    """Haversine distances, vectorised (the same formula as `graph.core.geo.haversine_m`)."""
    phi1 = math.radians(latitude)
    phi2 = np.radians(lats)
    dphi = phi2 - phi1
    dlmb = np.radians(lngs - longitude)
    a = np.sin(dphi / 2) ** 2 + math.cos(phi1) * np.cos(phi2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(a)))


class Irregular(ValueError):
    """A stored document the API could not have written (unknown enum, odd endpoint)."""


class Interned:
    """ObjectIds (organizations, stations) as dense int32 codes."""

    def __init__(self) -> None:
        self.codes: dict[ObjectId, int] = {}
        self.ids: list[ObjectId] = []

    def code(self, value: ObjectId) -> int:
        found = self.codes.get(value)
        if found is None:
            found = self.codes[value] = len(self.ids)
            self.ids.append(value)
        return found

    def known(self, value: Any) -> int:
        """The code of a value, or -2 (matches nothing) when it was never seen."""
        return self.codes.get(value, -2) if isinstance(value, ObjectId) else -2


def row_values(
    document: Mapping[str, Any], organizations: Interned, stations: Interned
) -> tuple[Any, ...]:
    """One stored connector as a row of `COLUMNS` (raises Irregular)."""
    try:
        geo = document.get("geo")
        lat, lng = (float(geo["lat"]), float(geo["lng"])) if geo else (math.nan, math.nan)
        endpoint = document["endpoint"].encode("ascii")
        if len(endpoint) > 4:
            raise Irregular(f"endpoint {document['endpoint']!r}")
        ocpp_id = int(document["ocppId"])
        if not -(2**31) <= ocpp_id < 2**31:
            raise Irregular(f"ocppId {ocpp_id}")
        station = document.get("chargestation")
        return (
            document["_id"].binary,
            True,
            organizations.code(document["organization"]),
            stations.code(station) if station is not None else -1,
            is_active(document.get("active")),
            _ENUM_CODES["status"][document["status"]],
            endpoint,
            ocpp_id,
            _ENUM_CODES["type"][document["type"]],
            _ENUM_CODES["format"][document["format"]],
            _ENUM_CODES["power_type"][document["power_type"]],
            float(document["power"]),
            lat,
            lng,
            millis(document["createdAt"]),
            millis(document["updatedAt"]),
            bool(document.get("stationLocated", False)),
            _rating(document.get("maxVoltage")),
            _rating(document.get("maxAmperage")),
            cell_of(lat, lng) if geo else -1,
            False,
        )
    except (KeyError, TypeError, AttributeError, UnicodeEncodeError) as error:
        raise Irregular(f"{type(error).__name__}: {error}") from None


class IndexBuilder:
    """Builds an index from documents read in batches (one small array set per batch)."""

    def __init__(self) -> None:
        self.index = ConnectorIndex()
        self._parts: list[dict[str, Any]] = []

    def add(self, batch: Iterable[Mapping[str, Any]]) -> None:
        index = self.index
        rows = []
        for document in batch:
            try:
                rows.append(row_values(document, index.organizations, index.stations))
            except Irregular as error:
                index.irregular += 1
                log.warning("connector %s left out of the index: %s", document.get("_id"), error)
        if rows:
            self._parts.append(
                {
                    name: np.array(values, dtype=dtype)
                    for (name, dtype), values in zip(
                        COLUMNS.items(), zip(*rows, strict=True), strict=True
                    )
                }
            )

    def finish(self) -> ConnectorIndex:
        index = self.index
        if self._parts:
            merged = {
                name: np.concatenate([part[name] for part in self._parts]) for name in COLUMNS
            }
            order = np.argsort(merged["id"], kind="stable")
            # A scan may meet a document twice (it moved while being read): keep the last.
            ids = merged["id"][order]
            last = np.ones(len(order), dtype=bool)
            last[:-1] = ids[1:] != ids[:-1]
            order = order[last]
            index.columns = {name: values[order] for name, values in merged.items()}
            index.size = len(order)
        self._parts = []
        return index


@dataclass
class Page:
    """Documents of one page (in order) and whether more follow."""

    documents: list[dict[str, Any]]
    more: bool


@dataclass
class NearbyPage:
    """(distance, document) of one nearby page, nearest first, and whether more follow."""

    hits: list[tuple[float, dict[str, Any]]]
    more: bool


class Matcher:
    """A MongoDB filter, as the database path builds it, evaluated on rows.

    Knows the operators `connector_query`, `visible_query` and `StatusFilter`
    produce, and refuses any other (so a new filter cannot silently mean
    something else here).
    """

    def __init__(
        self,
        index: ConnectorIndex,
        query: Mapping[str, Any],
        columns: Mapping[str, Any] | None = None,
    ) -> None:
        self.index = index
        # The index's columns, or the same columns in another row order (graph.connectors.clusters).
        self.columns = index.columns if columns is None else columns
        self.tests = [self._compile(field, condition) for field, condition in query.items()]

    def __call__(self, rows: Rows | slice) -> Mask:
        columns = self.columns
        mask: Mask = columns["alive"][rows].copy()
        for test in self.tests:
            if not mask.any():
                break
            mask &= test(rows)
        return mask

    def _compile(self, field: str, condition: Any) -> Callable[[Rows | slice], Mask]:
        columns = self.columns
        if field in ("$or", "$and"):
            parts = [Matcher(self.index, sub, columns) for sub in condition]
            if field == "$or":
                return lambda rows: np.logical_or.reduce([part(rows) for part in parts])
            return lambda rows: np.logical_and.reduce([part(rows) for part in parts])
        if field in ENUMS:
            allowed = np.zeros(256, dtype=bool)
            for value in _values(condition, field):
                code = _ENUM_CODES[field].get(value)
                if code is not None:
                    allowed[code] = True
            return lambda rows: allowed[columns[field][rows]]
        if field in ("organization", "chargestation"):
            interned = self.index.organizations if field == "organization" else self.index.stations
            codes = [
                interned.known(value) if value is not None else -1
                for value in _values(condition, field)
            ]
            if len(codes) == 1:
                code = codes[0]
                return lambda rows: columns[field][rows] == code
            wanted = np.array(codes, dtype=np.int32)
            return lambda rows: np.isin(columns[field][rows], wanted)
        if field == "active":
            flag = wanted_activity({field: condition})
            return lambda rows: columns["active"][rows] == flag
        if field == "_id":
            ids = np.array(sorted(value.binary for value in _values(condition, field)), dtype="S12")
            return lambda rows: np.isin(columns["id"][rows], ids)
        if field == "power":
            return _range(columns, "power", condition, float)
        if field == "updatedAt":
            return _range(columns, "updatedAt", condition, millis)
        raise ValueError(f"the connector index cannot filter on {field!r}")


def _values(condition: Any, field: str) -> list[Any]:
    """The values an equality or `$in` condition accepts."""
    if isinstance(condition, Mapping):
        if set(condition) != {"$in"}:
            raise ValueError(f"the connector index cannot evaluate {field}: {condition!r}")
        return list(condition["$in"])
    return [condition]


_COMPARE = {
    "$gt": np.greater,
    "$gte": np.greater_equal,
    "$lt": np.less,
    "$lte": np.less_equal,
}


def _range(
    columns: Mapping[str, Any],
    field: str,
    condition: Mapping[str, Any],
    convert: Callable[[Any], Any],
) -> Callable[[Rows | slice], Mask]:
    bounds = [(_COMPARE[operator], convert(value)) for operator, value in condition.items()]

    def test(rows: Rows | slice) -> Mask:
        values = columns[field][rows]
        mask: Mask = np.ones(len(values), dtype=bool)
        for compare, bound in bounds:
            mask &= compare(values, bound)
        return mask

    return test


class ConnectorIndex:
    """Every connector of the database, in columns; see the module docstring."""

    def __init__(self) -> None:
        self.organizations = Interned()
        self.stations = Interned()
        self.columns: dict[str, Any] = {
            name: np.zeros(0, dtype=dtype) for name, dtype in COLUMNS.items()
        }
        self.size = 0  # rows in use, dead ones included
        self.dead = 0
        # Rows sorted by grid cell (None: to be rebuilt), and rows moved since.
        self._by_cell: Rows | None = None
        self._cells_sorted: Any = None
        self._unsorted: set[int] = set()
        # Connectors this process wrote: older change events for them are skipped.
        self._own_writes = OwnWrites()
        self.irregular = 0
        # Told of each row written or removed, or of None when rows moved or went (`watch`).
        self._watchers: list[Callable[[int | None], None]] = []

    # --- building -------------------------------------------------------------

    @classmethod
    def from_documents(cls, batches: Iterable[Sequence[Mapping[str, Any]]]) -> ConnectorIndex:
        """An index of the given documents."""
        builder = IndexBuilder()
        for batch in batches:
            builder.add(batch)
        return builder.finish()

    @property
    def count(self) -> int:
        """Connectors held (live rows)."""
        return self.size - self.dead

    def nbytes(self) -> int:
        """Memory held: the arrays (spare capacity included), the grid order, the intern tables."""
        held = sum(column.nbytes for column in self.columns.values())
        if self._by_cell is not None:
            held += self._by_cell.nbytes + self._cells_sorted.nbytes
        for interned in (self.organizations, self.stations):
            held += sys.getsizeof(interned.codes) + sys.getsizeof(interned.ids)
            held += len(interned.ids) * sys.getsizeof(ObjectId())
        return int(held)

    def bytes_per_connector(self) -> float:
        return self.nbytes() / self.count if self.count else 0.0

    # --- changes --------------------------------------------------------------

    def watch(self, watcher: Callable[[int | None], None]) -> None:
        """Call `watcher(row)` after each row is written or removed, `watcher(None)` when
        rows are renumbered or dropped: what a structure derived from the rows needs."""
        self._watchers.append(watcher)

    def _changed(self, row: int | None) -> None:
        for watcher in self._watchers:
            watcher(row)

    def _position(self, key: bytes) -> int:
        return int(np.searchsorted(self.columns["id"][: self.size], np.bytes_(key)))

    def _holds(self, position: int, key: bytes) -> bool:
        # numpy drops an S12 value's trailing zero bytes when it reads one out.
        return position < self.size and self.columns["id"][position].ljust(12, b"\0") == key

    def _row_of(self, connector_id: ObjectId) -> int | None:
        key = connector_id.binary
        position = self._position(key)
        return position if self._holds(position, key) else None

    def upsert(self, document: Mapping[str, Any]) -> None:
        """Hold this version of a connector (new, changed or revived)."""
        try:
            values = row_values(document, self.organizations, self.stations)
        except Irregular as error:
            log.warning("connector %s left out of the index: %s", document.get("_id"), error)
            self.remove(document["_id"])
            return
        key = values[0]
        position = self._position(key)
        columns = self.columns
        filed = False
        if self._holds(position, key):
            if not columns["alive"][position]:
                self.dead -= 1
            filed = columns["filed"][position] and columns["cell"][position] == values[-2]
        else:
            self._open_row(position)
        for (name, _), value in zip(COLUMNS.items(), values, strict=True):
            columns[name][position] = value
        columns["filed"][position] = filed
        if not filed and self._by_cell is not None:
            self._unsorted.add(position)
            if len(self._unsorted) > MAX_UNSORTED:
                self._by_cell = None
        self._changed(position)

    def _open_row(self, position: int) -> None:
        """Make room for a new row at `position` (the end, usually)."""
        if self.size == len(self.columns["id"]):
            capacity = max(1024, self.size + self.size // 2)
            for name, column in self.columns.items():
                grown = np.zeros(capacity, dtype=column.dtype)
                grown[: self.size] = column[: self.size]
                self.columns[name] = grown
        if position < self.size:
            for column in self.columns.values():
                column[position + 1 : self.size + 1] = column[position : self.size]
            # Rows after it shifted: the grid order must be rebuilt.
            self._by_cell = None
            self._changed(None)
        self.size += 1

    def remove(self, connector_id: ObjectId) -> None:
        """Forget a deleted connector."""
        row = self._row_of(connector_id)
        if row is None or not self.columns["alive"][row]:
            return
        self.columns["alive"][row] = False
        self.dead += 1
        self._changed(row)
        if self.dead > max(1024, self.size // 4):
            self._compact()

    def _compact(self) -> None:
        keep = np.flatnonzero(self.columns["alive"][: self.size])
        self.columns = {name: column[keep] for name, column in self.columns.items()}
        self.size, self.dead = len(keep), 0
        self._by_cell = None
        self._changed(None)

    def apply_write(
        self, connector_id: ObjectId, document: Mapping[str, Any] | None, at: Timestamp | None
    ) -> None:
        """This process wrote a connector (None: deleted it) at cluster time `at`."""
        if document is None:
            self.remove(connector_id)
        else:
            self.upsert(document)
        self._own_writes.wrote(connector_id, at)

    def apply_change(self, event: Mapping[str, Any]) -> None:
        """A change event of the connectors collection, from the change stream."""
        operation = event["operationType"]
        if operation in ("drop", "rename", "dropDatabase"):
            self.clear()
            return
        connector_id = event_key(event)
        if connector_id is None or self._own_writes.outdated(connector_id, event):
            return
        if operation == "delete":
            self.remove(connector_id)
        elif operation in ("insert", "update", "replace"):
            document = event.get("fullDocument")
            if document is not None:  # None: deleted since; its delete event follows
                self.upsert(document)

    def clear(self) -> None:
        watchers = self._watchers
        fresh = ConnectorIndex()
        self.__dict__.update(fresh.__dict__)
        self._watchers = watchers
        self._changed(None)

    # --- reading --------------------------------------------------------------

    def document(self, row: int) -> dict[str, Any]:
        """A row as the stored document it replicates."""
        return self.documents(np.array([row], dtype=np.int64))[0]

    def documents(self, rows: Rows) -> list[dict[str, Any]]:
        """Rows as stored documents (what `Connector.from_document` reads)."""
        c = {name: self.columns[name][rows].tolist() for name in _OUTPUT}
        out = []
        statuses, types, formats, power_types = (
            ENUMS[name] for name in ("status", "type", "format", "power_type")
        )
        for i in range(len(rows)):
            station = c["chargestation"][i]
            document: dict[str, Any] = {
                "_id": ObjectId(c["id"][i].ljust(12, b"\0")),
                "active": c["active"][i],
                "status": statuses[c["status"][i]],
                "endpoint": c["endpoint"][i].decode("ascii"),
                "ocppId": c["ocppId"][i],
                "type": types[c["type"][i]],
                "format": formats[c["format"][i]],
                "power_type": power_types[c["power_type"][i]],
                "power": c["power"][i],
                "createdAt": instant(c["createdAt"][i]),
                "updatedAt": instant(c["updatedAt"][i]),
                "organization": self.organizations.ids[c["organization"][i]],
            }
            if c["stationLocated"][i]:
                document["stationLocated"] = True
            for rating in ("maxVoltage", "maxAmperage"):
                if c[rating][i] >= 0:
                    document[rating] = c[rating][i]
            if station >= 0:
                document["chargestation"] = self.stations.ids[station]
            lat, lng = c["lat"][i], c["lng"][i]
            if not math.isnan(lat):
                document["location"] = {"type": "Point", "coordinates": [lng, lat]}
                document["geo"] = {"lat": lat, "lng": lng}
            out.append(document)
        return out

    def get(self, connector_id: ObjectId) -> dict[str, Any] | None:
        row = self._row_of(connector_id)
        if row is None or not self.columns["alive"][row]:
            return None
        return self.document(row)

    def get_many(self, connector_ids: Iterable[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
        rows = [row for row in map(self._row_of, connector_ids) if row is not None]
        alive = [row for row in rows if self.columns["alive"][row]]
        return {
            document["_id"]: document
            for document in self.documents(np.array(alive, dtype=np.int64))
        }

    def count_matching(self, query: Mapping[str, Any], box: Box | None = None) -> int:
        matcher = Matcher(self, query)
        if box is None:
            return int(np.count_nonzero(matcher(slice(0, self.size))))
        return int(np.count_nonzero(matcher(self._in_box(box, ordered=False))))

    def page(
        self,
        query: Mapping[str, Any],
        first: int,
        after: ObjectId | None,
        box: Box | None = None,
    ) -> Page:
        """The first matches after `after`, in id order."""
        matcher = Matcher(self, query)
        start = 0 if after is None else self.after(after)
        wanted = first + 1
        if box is not None:
            rows = self._in_box(box)
            rows = rows[rows >= start]
            found = rows[matcher(rows)][:wanted]
        else:
            chunks: list[Rows] = []
            held = 0
            chunk = max(SCAN_CHUNK, wanted * 4)
            while start < self.size and held < wanted:
                stop = min(self.size, start + chunk)
                hits = np.flatnonzero(matcher(slice(start, stop))) + start
                chunks.append(hits)
                held += len(hits)
                start = stop
                chunk *= 4
            found = np.concatenate(chunks)[:wanted] if chunks else np.zeros(0, dtype=np.int64)
        return Page(self.documents(found[:first]), len(found) > first)

    def page_by_update(
        self, query: Mapping[str, Any], first: int, after: tuple[int, ObjectId] | None
    ) -> Page:
        """The first matches after `after` = (updatedAt ms, id), by updatedAt then id."""
        rows = np.flatnonzero(Matcher(self, query)(slice(0, self.size)))
        updated = self.columns["updatedAt"][rows]
        if after is not None:
            moment, connector_id = after
            start = self.after(connector_id)
            keep = (updated > moment) | ((updated == moment) & (rows >= start))
            rows, updated = rows[keep], updated[keep]
        wanted = first + 1
        if len(rows) > wanted:
            threshold = np.partition(updated, wanted - 1)[wanted - 1]
            near = updated <= threshold
            rows, updated = rows[near], updated[near]
        chosen = rows[np.lexsort((rows, updated))][:wanted]
        return Page(self.documents(chosen[:first]), len(chosen) > first)

    def owner_status_counts(
        self, field: str, owner: ObjectId, query: Mapping[str, Any]
    ) -> dict[str, int]:
        """How many connectors of an owner, matching `query`, are in each status."""
        rows = np.flatnonzero(Matcher(self, {**query, field: owner})(slice(0, self.size)))
        counts = np.bincount(self.columns["status"][rows], minlength=len(ENUMS["status"]))
        return {
            ENUMS["status"][code]: int(n)
            for code, n in enumerate(counts)
            if n and code < len(ENUMS["status"])
        }

    def select(self, query: Mapping[str, Any], box: Box | None, limit: int) -> list[dict[str, Any]]:
        """The first `limit` matches, in id order."""
        matcher = Matcher(self, query)
        rows = self._in_box(box) if box is not None else np.arange(self.size, dtype=np.int64)
        return self.documents(rows[matcher(rows)][:limit])

    def nearby(
        self,
        query: Mapping[str, Any],
        latitude: float,
        longitude: float,
        radius_m: float,
        first: int,
        after: tuple[float, ObjectId] | None,
    ) -> NearbyPage:
        """Matches within `radius_m`, nearest first (ties by id), after `after`."""
        matcher = Matcher(self, query)
        wanted = first + 1
        reach = min(radius_m, max(FIRST_RADIUS_M, after[0] * 1.5 if after else 0.0))
        start = self.after(after[1]) if after is not None else 0
        while True:
            rows, distances = self._within(matcher, latitude, longitude, reach)
            if after is not None:
                keep = (distances > after[0]) | ((distances == after[0]) & (rows >= start))
                rows, distances = rows[keep], distances[keep]
            if len(rows) >= wanted or reach >= radius_m:
                break
            reach = min(radius_m, reach * 4)
        if len(rows) > wanted:
            threshold = np.partition(distances, wanted - 1)[wanted - 1]
            near = distances <= threshold
            rows, distances = rows[near], distances[near]
        order = np.lexsort((rows, distances))[:wanted]
        rows, distances = rows[order], distances[order]
        documents = self.documents(rows[:first])
        return NearbyPage(
            list(zip(distances[:first].tolist(), documents, strict=True)), len(rows) > first
        )

    def count_nearby(
        self, query: Mapping[str, Any], latitude: float, longitude: float, radius_m: float
    ) -> int:
        rows, _ = self._within(Matcher(self, query), latitude, longitude, radius_m)
        return len(rows)

    def _within(
        self, matcher: Matcher, latitude: float, longitude: float, radius_m: float
    ) -> tuple[Rows, Any]:
        """Matching rows within the radius, and their distances."""
        rows = self._in_box(box_around(latitude, longitude, radius_m), ordered=False)
        rows = rows[matcher(rows)]
        columns = self.columns
        distances = distances_m(latitude, longitude, columns["lat"][rows], columns["lng"][rows])
        inside = distances <= radius_m
        return rows[inside], distances[inside]

    def after(self, connector_id: ObjectId) -> int:
        """The first row whose id is greater than `connector_id`."""
        return int(
            np.searchsorted(
                self.columns["id"][: self.size], np.bytes_(connector_id.binary), side="right"
            )
        )

    # --- space ----------------------------------------------------------------

    def _grid(self) -> tuple[Rows, Any]:
        if self._by_cell is None:
            started = time.perf_counter()
            cells = self.columns["cell"][: self.size]
            located = np.flatnonzero(cells >= 0)
            self._by_cell = located[np.argsort(cells[located], kind="stable")]
            self._cells_sorted = cells[self._by_cell]
            self.columns["filed"][: self.size] = cells >= 0
            self._unsorted = set()
            log.debug(
                "grid order of %d rows built in %.1f ms",
                len(located),
                (time.perf_counter() - started) * 1000,
            )
        return self._by_cell, self._cells_sorted

    def _in_box(self, box: Box, ordered: bool = True) -> Rows:
        """Live rows inside the box, in id order unless `ordered` is False."""
        south = min(int((box.south + 90.0) / CELL_DEG), GRID_ROWS - 1)
        north = min(int((box.north + 90.0) / CELL_DEG), GRID_ROWS - 1)
        if north - south + 1 > MAX_GRID_ROWS:
            candidates = np.arange(self.size, dtype=np.int64)
        else:
            by_cell, cells_sorted = self._grid()
            west = min(int((box.west + 180.0) / CELL_DEG), GRID_COLS - 1)
            east = min(int((box.east + 180.0) / CELL_DEG), GRID_COLS - 1)
            if box.crosses_antimeridian:
                spans = [(west, GRID_COLS - 1), (0, east)]
            else:
                spans = [(west, east)]
            grid_rows = np.arange(south, north + 1, dtype=np.int64) * GRID_COLS
            lows = np.concatenate([grid_rows + low for low, _ in spans])
            highs = np.concatenate([grid_rows + high for _, high in spans])
            starts = np.searchsorted(cells_sorted, lows, side="left")
            stops = np.searchsorted(cells_sorted, highs, side="right")
            pieces = [
                by_cell[a:b] for a, b in zip(starts.tolist(), stops.tolist(), strict=True) if b > a
            ]
            candidates = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)
            if self._unsorted:
                # A row that moved since may still sit in the grid order at its old cell:
                # that entry is stale, and the row is taken from the moved ones instead.
                candidates = candidates[self.columns["filed"][candidates]]
                moved = np.fromiter(self._unsorted, dtype=np.int64)
                candidates = np.concatenate([candidates, moved])
            if ordered:
                candidates = np.sort(candidates)
        columns = self.columns
        lats, lngs = columns["lat"][candidates], columns["lng"][candidates]
        inside = columns["alive"][candidates] & (lats >= box.south) & (lats <= box.north)
        if box.crosses_antimeridian:
            inside &= (lngs >= box.west) | (lngs <= box.east)
        elif (box.west, box.east) != (-180.0, 180.0):
            inside &= (lngs >= box.west) & (lngs <= box.east)
        return candidates[inside]
