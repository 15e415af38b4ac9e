"""The committed schema.graphql is the schema the code serves, and it documents itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
)

from graph.schema import schema

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schema_matches_the_code() -> None:
    exported = subprocess.run(
        [sys.executable, "-m", "graph.cli", "export-schema"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == exported, (
        "schema.graphql is stale: run `chargegraph export-schema --output schema.graphql`"
    )


def test_every_type_field_argument_and_enum_value_is_described() -> None:
    missing: list[str] = []
    for name, graphql_type in schema._schema.type_map.items():
        if name.startswith("__") or name in {"String", "Int", "Float", "Boolean", "ID"}:
            continue
        if not graphql_type.description:
            missing.append(name)
        if isinstance(graphql_type, (GraphQLObjectType, GraphQLInterfaceType)):
            for field_name, field in graphql_type.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                missing += [
                    f"{name}.{field_name}({arg_name})"
                    for arg_name, arg in field.args.items()
                    if not arg.description
                ]
        elif isinstance(graphql_type, GraphQLInputObjectType):
            missing += [
                f"{name}.{field_name}"
                for field_name, field in graphql_type.fields.items()
                if not field.description
            ]
        elif isinstance(graphql_type, GraphQLEnumType):
            missing += [
                f"{name}.{value_name}"
                for value_name, value in graphql_type.values.items()
                if not value.description
            ]
    assert missing == []


def test_enums_use_graphql_names() -> None:
    sdl = schema.as_str()
    for value in ("SUSPENDED_EVSE", "AC_SINGLE_PHASE", "TYPE2", "TESLA", "SOCKET"):
        assert f"  {value}\n" in sdl
    assert "basicAuthPassword: String" in sdl  # input only
    assert 'type OrganizationConfigurations {\n  """' in sdl
