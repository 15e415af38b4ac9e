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

from graph.core.context import Context, Services
from graph.core.replica import Documents, Replica
from graph.organizations import service


class OrganizationReplica(Replica[Documents]):
    """Holds every organization's document; `current()` is None while it loads."""

    title = "organization replica"

    def __init__(self, services: Services, enabled: bool = True) -> None:
        super().__init__(services, service.collection, Documents, enabled)

    @staticmethod
    def of(context: Context) -> Documents | None:
        """The organizations a request may read, or None when it must read the database."""
        return context.services.get(OrganizationReplica).current()

    def health(self) -> dict[str, object]:
        return {**super().health(), "organizations": self.store.count}
