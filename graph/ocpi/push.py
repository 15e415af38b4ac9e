"""Pushing Location changes to partners' Locations receivers, through a durable outbox.

Every change of a connector of an organization with an OCPI identity, read
from the change stream every process already reads (the connector index's
feed), becomes one entry per registered partner that offers a Locations
RECEIVER (`ocpi_outbox`): a status change PATCHes the EVSE (`{status,
last_updated}`); any other change — a connector added, changed in another
field, moved or deleted — PUTs the whole Location as it is when it is sent.
Every process writes the same entries; their unique key (partner, the
change's cluster time, connector) keeps one of each.

One process at a time pushes to a partner: the holder of its lease
(`ocpi_push_leases`, renewed while it works, taken over by another process
once it lapses). It sends each EVSE's entries in the order the changes were
written, one after the other (different EVSEs side by side, at most
`CONCURRENT_REQUESTS` at once), and deletes each once the partner accepted
it, so delivery is at least once and in order per EVSE. While the partner
cannot be reached or answers with a server error, the entry is retried with a
growing delay (up to `MAX_BACKOFF_SECONDS`), and that EVSE's later entries
wait behind it; an entry the partner refuses as a client error (HTTP 4xx)
is dropped, logged and counted, so one bad object cannot stop the rest.
Entries survive restarts of any or every process. Changes written while no
process runs are not pushed; partners' pulls (`date_from`) catch them up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from bson import ObjectId
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from pymongo.errors import BulkWriteError, PyMongoError

from graph.connectors.replica import ConnectorReplica
from graph.core.tasks import round_survived, run_side_by_side, stop_if_cancelled
from graph.core.timestamps import now
from graph.core.visibility import ACTIVE
from graph.ocpi import catalogue
from graph.ocpi.lease import Leases, process_holder
from graph.ocpi.locations import Site, evse, location, ocpi_time
from graph.ocpi.models import (
    LOCATION_PUSH,
    REGISTERED,
    STATUS_PUSH,
    locations_url,
    outbox_collection,
    partners_collection,
    push_leases_collection,
)
from graph.ocpi.protocol import SUCCESS, partner_headers
from graph.ocpi.settings import OcpiSettings
from graph.organizations import service as organizations

log = logging.getLogger(__name__)

# A lease lets one process push to a partner; it is renewed at half its length.
LEASE_SECONDS = 10.0
# How often the partners and organizations taking part are read again: a partner gets
# the changes made from then on (what came before is in its first pull).
REFRESH_SECONDS = 1.0
# How long an idle pusher waits for new entries written by another process.
IDLE_SECONDS = 1.0
# Retries of an entry the partner did not take wait 1 s, then 2, 4, ... up to this.
MAX_BACKOFF_SECONDS = 30.0
BATCH = 100
# Change events turned into outbox entries by one insert, at most.
MAX_EVENTS_A_WRITE = 1000
# PATCHes and PUTs in flight to one partner at once (each EVSE's still one after another).
CONCURRENT_REQUESTS = 16
# An update touching only these fields is a status change (an EVSE PATCH).
STATUS_FIELDS = frozenset({"status", "updatedAt"})
DUPLICATE_KEY = 11000
# Organizations whose connectors are published.
ROAMING: Mapping[str, Any] = {"ocpi.countryCode": {"$type": "string"}, "active": ACTIVE}


@dataclass(frozen=True)
class Receiver:
    """A partner's Locations receiver: where to push and how to sign."""

    partner: ObjectId
    name: str
    url: str
    token: str
    raw_token: bool
    # The partner's first role, for the OCPI-to-* routing headers.
    role: Mapping[str, Any]


def position_of(event: Mapping[str, Any]) -> int:
    """A change's cluster time as one sortable integer."""
    moment = event["clusterTime"]
    return int(moment.time) << 32 | int(moment.inc)


class LocationPush:
    """This process's part in pushing: writing outbox entries, and pushing for the partners
    whose lease it holds."""

    def __init__(self, settings: OcpiSettings, replica: ConnectorReplica) -> None:
        self.settings = settings
        self.replica = replica
        self.holder = process_holder()
        self._leases = Leases(push_leases_collection, self.holder, LEASE_SECONDS)
        self._events: asyncio.Queue[Mapping[str, Any]] = asyncio.Queue()
        self._written = asyncio.Event()
        self._receivers: list[Receiver] = []
        self._organizations: set[ObjectId] = set()
        # Organizations found without an OCPI identity since the last refresh.
        self._not_roaming: set[ObjectId] = set()
        self._refreshed_at = -float("inf")  # time.monotonic() of the last refresh
        self._retry_at: dict[ObjectId, datetime] = {}
        self._backoff: dict[ObjectId, float] = {}
        # Figures for /metrics: entries waiting per partner name, and how pushes ended.
        self.waiting: dict[str, int] = {}
        self.pushed: Counter[tuple[str, str]] = Counter()
        # The HTTP client of `run()`, while it runs.
        self._client: httpx.AsyncClient | None = None

    # --- writing the outbox -----------------------------------------------------

    def changed(self, event: Mapping[str, Any]) -> None:
        """A connector change event (told in stream order by the connector replica)."""
        self._events.put_nowait(event)

    async def _refresh(self) -> None:
        """Read again who receives pushes and whose connectors are pushed."""
        if time.monotonic() - self._refreshed_at < REFRESH_SECONDS:
            return
        receivers = []
        async for partner in partners_collection().find({"status": REGISTERED}):
            url = locations_url(partner, "RECEIVER")
            if url and partner.get("partnerToken"):
                receivers.append(
                    Receiver(
                        partner=partner["_id"],
                        name=partner["name"],
                        url=url.rstrip("/"),
                        token=partner["partnerToken"],
                        raw_token=bool(partner.get("rawToken")),
                        role=(partner.get("roles") or [{}])[0],
                    )
                )
        self._receivers = receivers
        self._organizations = {
            document["_id"]
            async for document in organizations.collection().find(ROAMING, projection={"_id": 1})
        }
        self._not_roaming.clear()
        for receiver in receivers:
            self.waiting[receiver.name] = await outbox_collection().count_documents(
                {"partner": receiver.partner}
            )
        self._refreshed_at = time.monotonic()

    async def _roaming(self, organization: Any) -> bool:
        """Are the organization's connectors published? An organization not known to be is
        read once (it may have got its OCPI identity since the last refresh)."""
        if organization in self._organizations or organization is None:
            return organization is not None
        if organization in self._not_roaming:
            return False
        if await organizations.collection().find_one({"_id": organization, **ROAMING}) is None:
            self._not_roaming.add(organization)
            return False
        self._organizations.add(organization)
        return True

    async def entries(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The outbox entries one connector change makes."""
        if not self._receivers:
            return []
        after = event.get("fullDocument") or {}
        before = event.get("fullDocumentBeforeChange") or {}
        stations = {
            document["chargestation"]
            for document in (before, after)
            if document.get("chargestation") is not None
            and await self._roaming(document.get("organization"))
        }
        if not stations:
            return []
        update = event.get("updateDescription") or {}
        changed = set(update.get("updatedFields") or {}) | set(update.get("removedFields") or [])
        status_only = event["operationType"] == "update" and changed <= STATUS_FIELDS
        current = after or before
        common = {
            "position": position_of(event),
            "connector": event["documentKey"]["_id"],
            "kind": STATUS_PUSH if status_only else LOCATION_PUSH,
            "status": (update.get("updatedFields") or {}).get("status", current.get("status")),
            "changedAt": current.get("updatedAt") or now(),
            "attempts": 0,
        }
        return [
            {**common, "partner": receiver.partner, "station": station}
            for receiver in self._receivers
            for station in stations
        ]

    async def _write_entries(self) -> None:
        """Turn change events into outbox entries, for as long as the application serves:
        every event waiting is written in one insert."""
        while True:
            stop_if_cancelled()  # a cancellation a library call swallowed (see `_push_all`)
            events = [await self._events.get()]
            while not self._events.empty() and len(events) < MAX_EVENTS_A_WRITE:
                events.append(self._events.get_nowait())
            delay = 0.5
            while True:
                try:
                    await self._refresh()
                    made = [entry for event in events for entry in await self.entries(event)]
                    if made:
                        await outbox_collection().insert_many(made, ordered=False)
                    break
                except BulkWriteError as error:
                    if any(
                        failed.get("code") != DUPLICATE_KEY
                        for failed in error.details.get("writeErrors", [])
                    ):
                        raise
                    break  # another process wrote those first; the others are written
                except PyMongoError as error:
                    stop_if_cancelled()
                    log.warning("OCPI outbox: could not write changes, retrying: %s", error)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, MAX_BACKOFF_SECONDS)
            self._written.set()

    # --- pushing ----------------------------------------------------------------

    async def _push_all(self) -> None:
        """Push for every partner whose lease this process holds (runs while the app serves)."""
        while True:
            busy = False
            with round_survived(log, "OCPI push"):
                await self._refresh()
                for receiver in self._receivers:
                    retry_at = self._retry_at.get(receiver.partner)
                    if retry_at is not None and retry_at > now():
                        continue
                    if await self._leases.hold(receiver.partner):
                        busy |= await self._push(receiver)
            # Python 3.11's wait_for, inside pymongo's socket reads, returns a read that
            # completed as the task was cancelled and drops the cancellation: the task is
            # still marked as cancelling, so stop here instead of idling until cancelled
            # again.
            stop_if_cancelled()
            if not busy:
                self._written.clear()
                # asyncio.timeout rather than wait_for: on 3.11, wait_for can swallow a
                # cancellation that arrives as its wait ends, and shutdown would hang.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(IDLE_SECONDS):
                        await self._written.wait()

    async def _push(self, receiver: Receiver) -> bool:
        """Send the partner's next entries in order; True when some were sent.

        The batch's sites are read once, after its entries (so every change an entry
        stands for is in them), and the entries sent are removed together.
        """
        batch = (
            await outbox_collection()
            .find({"partner": receiver.partner})
            .sort([("position", 1), ("connector", 1)])
            .limit(BATCH)
            .to_list()
        )
        if not batch:
            return False
        stations = list({entry["station"] for entry in batch})
        sites = {
            site.station["_id"]: site
            for site in await catalogue.published_sites(self.replica.current(), stations)
        }
        # Each connector's entries go one after the other, in order; connectors side by side.
        # Once one is not taken, that connector's later entries wait, and the partner's next
        # round waits out the backoff.
        by_connector: dict[ObjectId, list[Mapping[str, Any]]] = {}
        for entry in batch:
            by_connector.setdefault(entry["connector"], []).append(entry)
        done: list[ObjectId] = []
        failed: list[ObjectId] = []
        gate = asyncio.Semaphore(CONCURRENT_REQUESTS)

        async def send_in_order(entries: list[Mapping[str, Any]]) -> None:
            for entry in entries:
                async with gate:
                    outcome = await self._send(receiver, entry, sites.get(entry["station"]))
                if outcome == "failed":
                    failed.append(entry["_id"])
                    return
                self.pushed[(receiver.name, outcome)] += 1
                done.append(entry["_id"])

        try:
            await asyncio.gather(*(send_in_order(entries) for entries in by_connector.values()))
        finally:
            if done:
                await outbox_collection().delete_many({"_id": {"$in": done}})
        if failed:
            delay = self._backoff.get(receiver.partner, 0.5) * 2
            self._backoff[receiver.partner] = min(delay, MAX_BACKOFF_SECONDS)
            self._retry_at[receiver.partner] = now() + timedelta(seconds=delay)
            await outbox_collection().update_many(
                {"_id": {"$in": failed}}, {"$inc": {"attempts": 1}}
            )
            return False
        self._backoff.pop(receiver.partner, None)
        self._retry_at.pop(receiver.partner, None)
        return True

    async def _send(self, receiver: Receiver, entry: Mapping[str, Any], site: Site | None) -> str:
        """One entry to the partner: "sent", "refused" (a client error, dropped), "skipped"
        (nothing published to send) or "failed" (to retry)."""
        if site is None:
            return "skipped"
        party = site.organization["ocpi"]
        url = f"{receiver.url}/{party['countryCode']}/{party['partyId']}/{site.station['_id']}"
        if entry["kind"] == LOCATION_PUSH:
            method, body = "PUT", location(site)
        else:
            connector = next(
                (found for found in site.connectors if found["_id"] == entry["connector"]), None
            )
            if connector is None:
                return "skipped"  # deleted since: the deletion's PUT follows
            shown = evse({**connector, "status": entry["status"]}, party, site.online)
            method, url = "PATCH", f"{url}/{connector['_id']}"
            body = {"status": shown["status"], "last_updated": ocpi_time(entry["changedAt"])}
        headers = partner_headers(
            receiver.token,
            receiver.raw_token,
            sender=(party["countryCode"], party["partyId"]),
            to_role=receiver.role,
        )
        assert self._client is not None, "pushing runs inside run()"
        try:
            response = await self._client.request(method, url, json=body, headers=headers)
        except httpx.HTTPError as error:
            log.info("OCPI push to %s failed, will retry: %s", receiver.name, error)
            return "failed"
        if 200 <= response.status_code < 300 and _accepted(response):
            return "sent"
        if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
            log.warning(
                "OCPI push: %s refused %s %s (HTTP %d): %s",
                receiver.name,
                method,
                url,
                response.status_code,
                response.text[:200],
            )
            return "refused"
        log.info("OCPI push to %s: HTTP %d, will retry", receiver.name, response.status_code)
        return "failed"

    async def run(self) -> None:
        """Write entries and push them, until cancelled."""
        # One client for every push: connections to a partner are kept alive.
        async with httpx.AsyncClient(timeout=self.settings.call_timeout_seconds) as client:
            self._client = client
            await run_side_by_side(
                {"ocpi-outbox": self._write_entries(), "ocpi-push": self._push_all()}
            )


def _accepted(response: httpx.Response) -> bool:
    """A 2xx answer whose envelope, if it carries one, says success."""
    try:
        body = response.json()
    except ValueError:
        return True
    return not isinstance(body, dict) or body.get("status_code", SUCCESS) == SUCCESS


class PushMetrics:
    """What waits to be pushed, per partner, and how pushes ended (this process's); and
    how this process's pulls went (`pulled`: partner and outcome → count)."""

    def __init__(self, push: LocationPush, pulled: Counter[tuple[str, str]]) -> None:
        self.push = push
        self.pulled_figures = pulled

    def collect(self) -> Iterator[Metric]:
        waiting = GaugeMetricFamily(
            "chargegraph_ocpi_push_waiting",
            "Location changes waiting to be pushed, per partner (as last counted here).",
            labels=["partner"],
        )
        for name, count in sorted(self.push.waiting.items()):
            waiting.add_metric([name], count)
        yield waiting
        pushed = CounterMetricFamily(
            "chargegraph_ocpi_pushes",
            "Location changes this process pushed, per partner and outcome (sent, refused by "
            "the partner, skipped as no longer published).",
            labels=["partner", "outcome"],
        )
        for (name, outcome), count in sorted(self.push.pushed.items()):
            pushed.add_metric([name, outcome], count)
        yield pushed
        pulled = CounterMetricFamily(
            "chargegraph_ocpi_pulled",
            "Partners' Locations this process pulled, per partner and outcome (stored, "
            "skipped as invalid, or a pull that failed and will be retried).",
            labels=["partner", "outcome"],
        )
        for (name, outcome), count in sorted(self.pulled_figures.items()):
            pulled.add_metric([name, outcome], count)
        yield pulled
