"""The process's connector index as a service: loading it, feeding it, telling who may use it.

Loading, holding the changes that arrive meanwhile, feeding the change
stream's events and the process's own writes are `graph.core.replica`'s
(its docstring tells the order of events); what is connector-specific here
is the index itself, the listeners told of every change (roaming pushes
changes to partners from them) and the index's figures.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from graph.connectors.index import ConnectorIndex, IndexBuilder
from graph.connectors.models import connectors_collection
from graph.core.context import Context, Services
from graph.core.listeners import Listeners
from graph.core.replica import Replica

log = logging.getLogger(__name__)

# Progress is logged every this many connectors.
LOG_EVERY = 200_000


class ConnectorReplica(Replica[ConnectorIndex]):
    """Holds the index; `current()` is what searches use (None: ask the database)."""

    title = "connector index"

    def __init__(self, services: Services, enabled: bool = True) -> None:
        super().__init__(services, connectors_collection, IndexBuilder, enabled)
        # Told of every change event of the connectors collection, in stream order, whether
        # or not the index is enabled (roaming pushes changes to partners from them).
        self.changes: Listeners[[Mapping[str, Any]]] = Listeners()

    @staticmethod
    def of(context: Context) -> ConnectorIndex | None:
        """The index a request may search, or None when it must read the database."""
        return context.services.get(ConnectorReplica).current()

    @property
    def index(self) -> ConnectorIndex:
        return self.store

    def apply_change(self, event: Mapping[str, Any]) -> None:
        """A change event of the connectors collection, in stream order."""
        self.changes.tell(event)
        super().apply_change(event)

    def progress(self, read: int) -> None:
        if read % LOG_EVERY == 0:
            log.info("connector index: %d connectors read", read)

    def report_loaded(self) -> None:
        index = self.index
        log.info(
            "connector index loaded: %d connectors in %.1fs, %.0f bytes per connector",
            index.count,
            self.stats["load_seconds"],
            index.bytes_per_connector(),
        )

    def health(self) -> dict[str, object]:
        index = self.index
        return {
            "enabled": self.enabled,
            "loaded": self.loaded,
            "connectors": index.count,
            "bytes_per_connector": round(index.bytes_per_connector(), 1),
            **self.stats,
        }
