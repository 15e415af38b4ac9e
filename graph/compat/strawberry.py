"""Strawberry internals ChargeGraph relies on (strawberry-graphql 0.341).

- `strawberry.schema.schema.StrawberryGraphQLCoreExecutionContext`: the
  executor class Strawberry hands to graphql-core; `execution_context_class`
  must subclass it so Strawberry's resolve-info keeps working.
- `strawberry.extensions.query_depth_limiter.create_validator` /
  `IgnoreContext` and `strawberry.extensions.max_aliases.create_validator`:
  the validation rules behind the depth and alias limit extensions, built
  once so the validation cache keeps hitting.
- `Schema._schema`: the graphql-core schema a Strawberry schema built.
- `strawberry.schema.schema.validate_document(schema, document, rules)`:
  graphql-core's validation with Strawberry's own rules added (what its
  ValidationCache extension caches).
- graphql-core field `extensions["strawberry-definition"]`: where Strawberry
  keeps its own field object (and so the field's `metadata`).
- A field without resolver or field extensions ("basic": `is_basic_field`)
  gets a resolver marked `_is_default` that ignores its info and returns
  `field.default_resolver(source, field.python_name)` (`StrawberryField.get_result`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import Any

import strawberry
from graphql import GraphQLField, GraphQLSchema
from strawberry.extensions.max_aliases import create_validator as aliases_rule
from strawberry.extensions.query_depth_limiter import IgnoreContext
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext, validate_document

__all__ = [
    "IgnoreContext",
    "StrawberryGraphQLCoreExecutionContext",
    "aliases_rule",
    "attribute_reader",
    "depth_rule",
    "field_metadata",
    "graphql_schema",
    "validate_document",
]

_DEFINITION_KEY = "strawberry-definition"


def field_metadata(field: GraphQLField) -> Mapping[str, Any]:
    """The `metadata` given to `strawberry.field(...)` for a field of the built schema."""
    definition = (field.extensions or {}).get(_DEFINITION_KEY)
    return getattr(definition, "metadata", None) or {}


def graphql_schema(schema: strawberry.Schema) -> GraphQLSchema:
    """The graphql-core schema behind a Strawberry schema."""
    return schema._schema


def attribute_reader(field: GraphQLField) -> Callable[[Any], Any] | None:
    """What the field's resolver does, when all it does is read an attribute of its source.

    None for any field Strawberry resolves otherwise (a resolver, field
    extensions, permission classes, a default resolver other than getattr).
    """
    definition = (field.extensions or {}).get(_DEFINITION_KEY)
    if (
        definition is None
        or not getattr(field.resolve, "_is_default", False)
        or not definition.is_basic_field
        or definition.default_resolver is not getattr
    ):
        return None
    return attrgetter(definition.python_name)
