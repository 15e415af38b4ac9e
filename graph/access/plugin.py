"""The access domain as the application sees it: API keys and who the caller is."""

from __future__ import annotations

from graph.access import service
from graph.access.models import ApiKeyDocument
from graph.access.recheck import RecheckWebSocketKey
from graph.access.schema import AccessMutations, AccessQueries
from graph.core.context import Services
from graph.core.plugin import Domain
from graph.core.settings import Settings
from graph.organizations import service as organizations

# A deleted organization's keys stop working at once.
organizations.after_deletion(service.revoke_organization_keys)


def authenticator(settings: Settings, services: Services) -> service.Authenticator:
    return service.Authenticator(settings.admin_keys)


DOMAIN = Domain(
    name="access",
    queries=(AccessQueries,),
    mutations=(AccessMutations,),
    documents=(ApiKeyDocument,),
    services=(authenticator,),
    extensions=(RecheckWebSocketKey,),
)
