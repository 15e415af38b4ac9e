"""The organizations domain as the application sees it."""

from __future__ import annotations

from graph.core.plugin import Domain
from graph.organizations.models import OrganizationDocument
from graph.organizations.schema import OrganizationMutations, OrganizationQueries

DOMAIN = Domain(
    name="organizations",
    queries=(OrganizationQueries,),
    mutations=(OrganizationMutations,),
    documents=(OrganizationDocument,),
)
