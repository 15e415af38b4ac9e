"""Pure logic, in process: geometry, cursors, filters, visibility and the rate-limit buckets."""

from __future__ import annotations

import math

import pytest
from bson import ObjectId
from strawberry import ID

from graph.connectors.enums import ConnectorStatus, ConnectorType
from graph.connectors.filters import connector_query
from graph.connectors.types import ConnectorFilter
from graph.core.errors import BadUserInput
from graph.core.geo import Box, box_around, haversine_m
from graph.core.pagination import decode_cursor, decode_id_cursor, encode_cursor
from graph.core.rate_limit import TokenBuckets
from graph.core.validators import check_latitude, check_radius, check_text, viewport
from graph.core.viewer import ADMIN, ANONYMOUS, Role, Viewer
from graph.core.visibility import active_condition, can_see, is_active, visible_query

AMSTERDAM = (52.3676, 4.9041)
PARIS = (48.8566, 2.3522)


def test_haversine_amsterdam_to_paris() -> None:
    # About 430 km: the published great-circle distance.
    assert haversine_m(*AMSTERDAM, *PARIS) == pytest.approx(430_000, rel=0.01)
    assert haversine_m(*AMSTERDAM, *AMSTERDAM) == 0


def test_a_box_around_a_circle_holds_the_circle() -> None:
    box = box_around(*AMSTERDAM, 10_000)
    for bearing in range(0, 360, 15):
        # Points 9.9 km away in every direction lie in the box.
        dlat = 9_900 / 111_195 * math.cos(math.radians(bearing))
        dlng = (
            9_900
            / (111_195 * math.cos(math.radians(AMSTERDAM[0])))
            * math.sin(math.radians(bearing))
        )
        assert box.contains(AMSTERDAM[0] + dlat, AMSTERDAM[1] + dlng)
    assert not box.contains(AMSTERDAM[0] + 0.2, AMSTERDAM[1])


def test_boxes_across_the_antimeridian() -> None:
    box = Box(-20.0, 170.0, -10.0, -170.0)
    assert box.contains(-15.0, 179.9) and box.contains(-15.0, -179.9)
    assert not box.contains(-15.0, 0.0)


def test_cursors_round_trip_and_refuse_garbage() -> None:
    assert decode_cursor(encode_cursor("1.5", "abc"), 2) == ["1.5", "abc"]
    object_id = ObjectId()
    assert decode_id_cursor(encode_cursor(str(object_id))) == object_id
    for garbage in ("", "!!!", encode_cursor("a", "b")):
        with pytest.raises(BadUserInput) as refused:
            decode_id_cursor(garbage)
        assert refused.value.extensions == {"code": "BAD_USER_INPUT", "field": "after"}


def test_validators_name_the_field() -> None:
    assert check_text("  Rockstart  ", "input.name") == "Rockstart"
    with pytest.raises(BadUserInput, match=r"input\.name"):
        check_text("two\nlines", "input.name")
    with pytest.raises(BadUserInput, match=r"near\.latitude"):
        check_latitude(90.5, "near.latitude")
    with pytest.raises(BadUserInput, match="radiusMeters"):
        check_radius(math.nan)
    with pytest.raises(BadUserInput, match=r"bounds\.south"):
        viewport(10, 0, 5, 1, "bounds")


def test_connector_filter_becomes_one_flat_query() -> None:
    organization = ObjectId()
    query = connector_query(
        ConnectorFilter(
            organization_id=ID(str(organization)),
            types=[ConnectorType.TYPE2],
            available_only=True,
            statuses=[ConnectorStatus.CHARGING],
            min_power_kw=11,
        )
    )
    assert query == {
        "organization": organization,
        "type": {"$in": ["Type2"]},
        # availableOnly combined with a status list that lacks AVAILABLE matches nothing.
        "status": {"$in": []},
        "power": {"$gte": 11},
    }
    with pytest.raises(BadUserInput, match=r"filter\.minPowerKw"):
        connector_query(ConnectorFilter(min_power_kw=20, max_power_kw=10))


def test_visibility_of_inactive_connectors() -> None:
    own, other = ObjectId(), ObjectId()
    key = Viewer(Role.ORGANIZATION, own, key_id=ObjectId())
    inactive_own = {"active": False, "organization": own}
    inactive_other = {"active": False, "organization": other}
    assert can_see(key, inactive_own) and not can_see(key, inactive_other)
    assert can_see(ADMIN, inactive_other) and not can_see(ANONYMOUS, inactive_own)
    assert visible_query({}, ANONYMOUS) == {"active": True}
    assert visible_query({"active": active_condition(False)}, ANONYMOUS) is None
    assert visible_query({"active": active_condition(False)}, key) == {
        "active": {"$ne": True},
        "organization": own,
    }
    assert visible_query({}, key) == {"$or": [{"active": True}, {"organization": own}]}
    # `{"active": False}` would miss connectors whose `active` is missing or not a boolean.
    with pytest.raises(ValueError, match="not a condition on active"):
        visible_query({"active": False}, ANONYMOUS)


@pytest.mark.parametrize("value", [None, 0, 1, 1.0, "yes", "true", [], [1], [False], {}])
def test_only_a_stored_true_is_active(value: object) -> None:
    """Missing, null, numbers, strings: inactive, seen only by admins and the organization."""
    own = ObjectId()
    key = Viewer(Role.ORGANIZATION, own, key_id=ObjectId())
    for stored in ({"organization": own}, {"active": value, "organization": own}):
        assert not can_see(ANONYMOUS, stored) and not can_see(Viewer(Role.APP), stored)
        assert can_see(ADMIN, stored) and can_see(key, stored)
    assert is_active(True) and is_active([False, True]) and not is_active(value)
    assert connector_query(ConnectorFilter(active=False)) == {"active": {"$ne": True}}
    assert connector_query(ConnectorFilter(active=True)) == {"active": True}


def test_token_buckets_refill_over_time() -> None:
    clock = [0.0]
    buckets = TokenBuckets(60, clock=lambda: clock[0])
    buckets.take("caller", 60)
    assert buckets.wait_for("caller", 1) == pytest.approx(1.0)
    clock[0] += 30
    assert buckets.wait_for("caller", 30) == 0
    assert buckets.wait_for("caller", 61) == math.inf
    # Another caller has its own full bucket.
    assert buckets.wait_for("someone else", 60) == 0
