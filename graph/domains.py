"""The domains this application is made of: add a domain here, in one line.

Order matters where one domain's services use another's, and it is the
order of fields in the composed schema.
"""

from __future__ import annotations

from graph.access.plugin import DOMAIN as ACCESS
from graph.chargestations.plugin import DOMAIN as CHARGESTATIONS
from graph.connectors.plugin import DOMAIN as CONNECTORS
from graph.core.plugin import Domain
from graph.live.plugin import DOMAIN as LIVE
from graph.ocpi.plugin import DOMAIN as OCPI
from graph.organizations.plugin import DOMAIN as ORGANIZATIONS

DOMAINS: tuple[Domain, ...] = (CONNECTORS, ORGANIZATIONS, ACCESS, CHARGESTATIONS, LIVE, OCPI)
