"""Pulling Locations from partners that offer a Locations SENDER (ChargeGraph as eMSP).

Once registered with such a partner (either direction of the handshake), this
server pulls every Location once, page after page following `Link: <…>;
rel="next"` (the pages are as large as the partner's `X-Limit` allows), then
only what changed: `date_from` = when the last successful pull started, every
`CHARGEGRAPH_OCPI_PULL_MINUTES`; everything again every
`CHARGEGRAPH_OCPI_FULL_PULL_HOURS`. Each Location is checked and stored as a
pushed one is (graph.ocpi.ingest); a Location that fails the check is skipped
and logged, the others are stored. A pull that fails (the partner unreachable,
an error answer) is tried again after a minute at the most, from the same
`date_from`. A full pull is the partner's whole list: the Locations it received
before that the pull did not return (and none pushed since it started) are
removed.

One process at a time pulls from a partner: the holder of its lease
(`ocpi_pull_leases`, graph.ocpi.lease), renewed before each page.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
from bson import ObjectId
from pymongo.errors import PyMongoError

from graph.connectors.replica import ConnectorReplica
from graph.core.tasks import round_survived, stop_if_cancelled
from graph.core.timestamps import now
from graph.ocpi import ingest
from graph.ocpi.lease import Leases, process_holder
from graph.ocpi.locations import ocpi_time
from graph.ocpi.models import (
    REGISTERED,
    locations_url,
    partners_collection,
    pull_leases_collection,
)
from graph.ocpi.protocol import SUCCESS, OcpiError, partner_headers
from graph.ocpi.settings import OcpiSettings

log = logging.getLogger(__name__)

LEASE_SECONDS = 30.0
# How often this process looks for a partner due for a pull (a new partner is pulled
# within about this long after it registered).
CHECK_SECONDS = 1.0
# A failed pull is tried again after this long, or the pull interval when shorter.
RETRY_SECONDS = 60.0
# The page size asked for; a partner's smaller X-Limit wins.
PAGE = 100
# A pulled page may hold this many times the largest body a partner may push.
PAGE_BODIES = 10
# A walk stops (and fails, to be retried) past this many pages: 1,000,000 Locations.
MAX_PAGES = 10_000
_NEXT = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')


# Stored Locations received up to this long before a full pull began are kept even when it
# does not return them: `receivedAt` comes from the clock of whichever process stored them
# (clocks kept in step by NTP differ by far less).
CLOCK_MARGIN = timedelta(seconds=5)


def _count(response: httpx.Response) -> int | None:
    total = response.headers.get("X-Total-Count", "")
    return int(total) if total.isdigit() else None


class PullFailed(Exception):
    """The partner could not be read; the pull is tried again later."""


def sender_url(partner: Mapping[str, Any]) -> str | None:
    """The partner's Locations SENDER endpoint, if it offers one."""
    return locations_url(partner, "SENDER")


def next_page(response: httpx.Response, url: str, received: int, offset: int) -> str | None:
    """The next page's URL: `Link` rel="next"; when a partner sends none (or an empty one)
    but `X-Total-Count` says more remain, the same URL with the offset moved on. An empty
    page ends the walk, and a `Link` to another origin is refused (the partner's token
    goes with every request)."""
    if received == 0:
        return None
    found = _NEXT.search(response.headers.get("Link", ""))
    if found and found.group(1).strip():
        link = found.group(1).strip()
        if _origin(link) != _origin(url):
            raise PullFailed(f"{url}: its Link leads to another origin: {link[:100]!r}")
        return link
    total = _count(response)
    if received and total is not None and offset + received < total:
        parts = urlsplit(url)
        query = {**dict(parse_qsl(parts.query)), "offset": str(offset + received)}
        return urlunsplit(parts._replace(query=urlencode(query)))
    return None


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class LocationPull:
    """This process's part in pulling: the partners whose lease it holds, when due."""

    def __init__(self, settings: OcpiSettings, replica: ConnectorReplica) -> None:
        self.settings = settings
        self.replica = replica
        self.leases = Leases(pull_leases_collection, process_holder(), LEASE_SECONDS)
        self._failed_at: dict[ObjectId, datetime] = {}
        # Figures for /metrics: Locations stored or skipped, and pulls that failed, by partner.
        self.pulled: Counter[tuple[str, str]] = Counter()

    def _due(self, partner: Mapping[str, Any]) -> bool:
        interval = timedelta(minutes=self.settings.pull_minutes)
        failed = self._failed_at.get(partner["_id"])
        if failed is not None and now() < failed + min(interval, timedelta(seconds=RETRY_SECONDS)):
            return False
        last = partner.get("pulledFrom")
        return last is None or now() >= last + interval

    async def run(self) -> None:
        """Pull from every partner when due, until cancelled."""
        async with httpx.AsyncClient(timeout=self.settings.call_timeout_seconds) as client:
            while True:
                with round_survived(log, "OCPI pull"):
                    await self._round(client)
                await asyncio.sleep(CHECK_SECONDS)

    def _pullable(self, partner: Mapping[str, Any]) -> bool:
        """Registered, offering a Locations SENDER, with a token to call it, and due."""
        return (
            partner.get("status") == REGISTERED
            and sender_url(partner) is not None
            and bool(partner.get("partnerToken"))
            and self._due(partner)
        )

    async def _round(self, client: httpx.AsyncClient) -> None:
        # Read whole first: a pull takes long, and a cursor left open meanwhile times out.
        registered = await partners_collection().find({"status": REGISTERED}).to_list()
        for partner in registered:
            if not self._pullable(partner) or not await self.leases.hold(partner["_id"]):
                continue
            # Read again under the lease: another process may have pulled meanwhile.
            partner = await partners_collection().find_one({"_id": partner["_id"]}) or {}
            if self._pullable(partner):
                await self.pull(client, partner)

    async def pull(self, client: httpx.AsyncClient, partner: Mapping[str, Any]) -> None:
        """One pull: everything, or what changed since the last successful one started."""
        started = now()
        url = sender_url(partner)
        assert url is not None
        query: dict[str, str] = {"limit": str(PAGE)}
        last_full = partner.get("fullyPulledFrom")
        full = last_full is None or started >= last_full + timedelta(
            hours=self.settings.full_pull_hours
        )
        if not full and partner.get("pulledFrom") is not None:
            query["date_from"] = ocpi_time(partner["pulledFrom"])
        url = f"{url}?{urlencode(query)}"
        name = partner["name"]
        offset = 0
        pages: set[str] = set()
        # The stations of every Location a full pull returned, stored or skipped.
        returned: set[ObjectId] = set()
        # How many the first page said there are (X-Total-Count), if it said.
        total: int | None = None
        try:
            while url is not None:
                if url in pages or len(pages) >= MAX_PAGES:
                    raise PullFailed(f"{url}: a page again, or more than {MAX_PAGES} pages")
                pages.add(url)
                if not await self.leases.hold(partner["_id"]):
                    return  # another process took over; it pulls again
                locations, response = await self._page(client, partner, url)
                if total is None:
                    total = _count(response)
                for location in locations:
                    # Checked for each: a partner deleted meanwhile gets nothing stored.
                    if not await _still_pulled(partner):
                        return
                    returned.add(await self._store(partner, location))
                url = next_page(response, url, len(locations), offset)
                offset += len(locations)
        except Exception as error:
            stop_if_cancelled()
            # Whatever went wrong, the partner waits for its retry (not the next second).
            self._failed_at[partner["_id"]] = now()
            self.pulled[(name, "failed")] += 1
            if not isinstance(error, PullFailed | PyMongoError):
                log.exception("OCPI pull from %s failed, will retry", name)
            else:
                log.warning("OCPI pull from %s failed, will retry: %s", name, error)
            return
        self._failed_at.pop(partner["_id"], None)
        pulled = {"pulledFrom": started}
        if full and returned and (total is None or offset >= total):
            # A full pull is the partner's whole list: what it no longer has is gone. Not
            # after a walk that returned nothing, or fewer than its first page announced
            # (its list changed under offset paging): those may have lost Locations.
            before = started - CLOCK_MARGIN
            forgotten = await ingest.forget_unseen(partner, returned, before, self.replica)
            if forgotten:
                log.info(
                    "OCPI pull from %s: %d Location(s) no longer sent, removed", name, forgotten
                )
        if full:
            pulled["fullyPulledFrom"] = started
        await partners_collection().update_one(
            {"_id": partner["_id"], "status": REGISTERED}, {"$set": pulled}
        )
        log.info("OCPI pull from %s: %d Location(s) read", name, offset)

    async def _page(
        self, client: httpx.AsyncClient, partner: Mapping[str, Any], url: str
    ) -> tuple[list[Any], httpx.Response]:
        roles = partner.get("roles") or [{}]
        headers = partner_headers(
            partner["partnerToken"],
            bool(partner.get("rawToken")),
            sender=(self.settings.country_code, self.settings.party_id),
            to_role=roles[0],
        )
        try:
            async with client.stream("GET", url, headers=headers) as response:
                raw = bytearray()
                async for chunk in response.aiter_bytes():
                    raw += chunk
                    if len(raw) > self.settings.max_body_bytes * PAGE_BODIES:
                        raise PullFailed(f"{url}: a page over {len(raw):,} bytes")
            body = json.loads(raw)
        except (httpx.HTTPError, ValueError, RecursionError) as error:
            raise PullFailed(f"{url}: {error}") from error
        if (
            response.status_code != 200
            or not isinstance(body, dict)
            or body.get("status_code") != SUCCESS
            or not isinstance(body.get("data", []), list)
        ):
            raise PullFailed(f"{url} answered HTTP {response.status_code}: {str(body)[:200]}")
        return body.get("data", []), response

    async def _store(self, partner: Mapping[str, Any], location: Any) -> ObjectId:
        """Store one pulled Location, or skip it (logged) when it is not valid 2.2.1 or not
        of a party the partner registered; the station it is (or would be) stored as."""
        shown = location if isinstance(location, dict) else {}
        ids = {name: str(shown.get(name, "")) for name in ("country_code", "party_id", "id")}
        station = ingest.station_id(partner["_id"], ids["country_code"], ids["party_id"], ids["id"])
        try:
            await ingest.put_location(partner, location, self.replica, ids)
        except OcpiError as error:
            self.pulled[(partner["name"], "skipped")] += 1
            log.warning(
                "OCPI pull from %s: Location %r skipped: %s",
                partner["name"],
                ids["id"][:40],
                error.message,
            )
            return station
        self.pulled[(partner["name"], "stored")] += 1
        return station


async def _still_pulled(partner: Mapping[str, Any]) -> bool:
    """Still registered with the token this pull uses (not deleted or unregistered since)."""
    found = await partners_collection().count_documents(
        {"_id": partner["_id"], "status": REGISTERED, "partnerToken": partner["partnerToken"]},
        limit=1,
    )
    return found > 0
