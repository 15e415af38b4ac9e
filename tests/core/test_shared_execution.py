"""A shared subscription execution sees the question, never one subscriber's details.

Subscribers asking the same question (operation, variables, role,
organization) get one execution's result. If a resolver could read anything
else from the context, the first subscriber's value would reach the others:
these tests use a field that reads the API key's id, which differs between
two keys of one organization.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncGenerator, Hashable
from typing import Any

import strawberry
from bson import ObjectId
from strawberry.extensions import ParserCache

from graph.core.context import Context, Info, Services
from graph.core.execution import SharedExecution
from graph.core.rate_limit import RateLimiter
from graph.core.viewer import Role, Viewer


@strawberry.type
class Event:
    number: int
    shared_results: strawberry.Private[dict[Hashable, Any]] = dataclasses.field(
        default_factory=dict
    )

    @strawberry.field
    def asked_with_key(self, info: Info) -> str | None:
        key_id = info.context.viewer.key_id
        return str(key_id) if key_id is not None else None

    @strawberry.field
    def asked_by_organization(self, info: Info) -> str | None:
        organization = info.context.viewer.organization_id
        return str(organization) if organization is not None else None


@strawberry.type
class Query:
    ping: bool = True


def make_schema(events: list[Event]) -> strawberry.Schema:
    @strawberry.type
    class Subscription:
        @strawberry.subscription
        async def events(self) -> AsyncGenerator[Event, None]:
            for event in events:
                yield event

    return strawberry.Schema(
        query=Query,
        subscription=Subscription,
        extensions=[lambda: ParserCache(maxsize=10)],
        execution_context_class=SharedExecution,
    )


def context(viewer: Viewer) -> Context:
    return Context(
        request=None, response=None, services=Services(), limiter=RateLimiter(0, 0), viewer=viewer
    )


async def answers(schema: strawberry.Schema, viewer: Viewer) -> list[dict[str, Any]]:
    stream = await schema.subscribe(
        "subscription { events { number askedWithKey askedByOrganization } }",
        context_value=context(viewer),
    )
    results = []
    async for result in stream:  # type: ignore[union-attr]
        assert result.errors is None, result.errors
        results.append(result.data["events"])
    return results


async def test_two_keys_of_one_organization_get_one_answer_without_either_key() -> None:
    organization = ObjectId()
    first = Viewer(Role.ORGANIZATION, organization, key_id=ObjectId())
    second = Viewer(Role.ORGANIZATION, organization, key_id=ObjectId())
    events = [Event(number=1), Event(number=2)]
    schema = make_schema(events)
    seen_first, seen_second = await asyncio.gather(answers(schema, first), answers(schema, second))
    assert seen_first == seen_second
    for answer in seen_first:
        # The shared execution ran on the scope alone: no key id was visible.
        assert answer["askedWithKey"] is None
        assert answer["askedByOrganization"] == str(organization)
    # Each event was executed once for both subscribers.
    assert all(len(event.shared_results) == 1 for event in events)


async def test_different_organizations_are_different_questions() -> None:
    one = Viewer(Role.ORGANIZATION, ObjectId(), key_id=ObjectId())
    other = Viewer(Role.ORGANIZATION, ObjectId(), key_id=ObjectId())
    events = [Event(number=1)]
    schema = make_schema(events)
    seen_one, seen_other = await asyncio.gather(answers(schema, one), answers(schema, other))
    assert seen_one[0]["askedByOrganization"] == str(one.organization_id)
    assert seen_other[0]["askedByOrganization"] == str(other.organization_id)
    assert len(events[0].shared_results) == 2
