"""The connectors domain as the application sees it."""

from __future__ import annotations

from graph.connectors import service
from graph.connectors.models import ConnectorDocument
from graph.connectors.schema import ConnectorMutations, ConnectorQueries
from graph.core.plugin import Domain
from graph.organizations import service as organizations

# An organization is deleted only once its connectors are gone.
organizations.refuse_deletion_when(service.count_for_organization)

DOMAIN = Domain(
    name="connectors",
    queries=(ConnectorQueries,),
    mutations=(ConnectorMutations,),
    documents=(ConnectorDocument,),
)
