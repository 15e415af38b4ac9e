"""The `connectorStatusChanged` subscription."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated

import strawberry

from graph.connectors.enums import ConnectorStatus
from graph.connectors.types import Connector
from graph.core.context import Info
from graph.core.ids import parse_id, parse_ids
from graph.errors import ClientError
from graph.live.hub import SubscriberTooSlow


class SubscriptionOverflow(ClientError):
    """The client read events too slowly; it should resubscribe."""

    code = "SUBSCRIBER_TOO_SLOW"


@strawberry.type(description="A connector's status changed.")
class ConnectorStatusEvent:
    connector: Connector = strawberry.field(description="The connector, as it is after the change.")
    status: ConnectorStatus = strawberry.field(description="The new status.")
    previous_status: ConnectorStatus | None = strawberry.field(
        description="The status before the change; null when unknown."
    )
    changed_at: datetime = strawberry.field(description="When the change was written.")


@strawberry.type
class LiveSubscriptions:
    @strawberry.subscription(
        description=(
            "Status changes of connectors, as they are written (from any server process or "
            "straight into the database). Writing the current status again is not a change. "
            "With no arguments, every connector is watched."
        )
    )
    async def connector_status_changed(
        self,
        info: Info,
        connector_ids: Annotated[
            list[strawberry.ID] | None,
            strawberry.argument(description="Only these connectors."),
        ] = None,
        organization_id: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="Only connectors of this organization."),
        ] = None,
    ) -> AsyncGenerator[ConnectorStatusEvent, None]:
        ids = (
            frozenset(parse_ids(connector_ids, "connectorIds"))
            if connector_ids is not None
            else None
        )
        organization = parse_id(organization_id, "organizationId") if organization_id else None
        hub = info.context.hub
        subscriber = hub.subscribe(ids, organization)
        try:
            async for change in subscriber.changes():
                yield ConnectorStatusEvent(
                    connector=Connector.from_document(change.connector),
                    status=change.status,
                    previous_status=change.previous_status,
                    changed_at=change.changed_at,
                )
        except SubscriberTooSlow:
            raise SubscriptionOverflow(
                "events were not read fast enough and were dropped; subscribe again"
            ) from None
        finally:
            hub.unsubscribe(subscriber)
