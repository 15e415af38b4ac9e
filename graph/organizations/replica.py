"""The organizations collection held in memory, so by-id reads need no round trip.

Organizations are few (tens to thousands) and rarely change, yet nearly every
answer names one (`connector { organization }`). The replica is loaded and
fed like the connector index (`graph.core.replica`): by the process's change
stream (`graph.live`), with this process's own writes applied before the
mutation answers. Only by-id reads use it; what decides a write or an
admission (`require`, `is_active`, `station_settings`) still asks the
database.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graph.core.context import Context, Services
from graph.core.replica import Documents, Replica
from graph.organizations import service


class Organizations(Documents):
    """Organizations without their station password hash: by-id reads never show it, and
    what checks it (`station_settings`) reads the database."""

    def kept(self, document: Mapping[str, Any]) -> Mapping[str, Any]:
        settings = document.get("configurations")
        if not isinstance(settings, Mapping) or "basicAuthPassword" not in settings:
            return document
        safe = {key: value for key, value in settings.items() if key != "basicAuthPassword"}
        return {**document, "configurations": safe}


class OrganizationReplica(Replica[Documents]):
    """Holds every organization's document; `current()` is None while it loads."""

    title = "organization replica"

    def __init__(self, services: Services, enabled: bool = True) -> None:
        super().__init__(services, service.collection, Organizations, enabled)

    @staticmethod
    def of(context: Context) -> Documents | None:
        """The organizations a request may read, or None when it must read the database."""
        return context.services.get(OrganizationReplica).current()

    def health(self) -> dict[str, object]:
        return {**super().health(), "organizations": self.store.count}
