"""Answers are encoded by orjson yet read exactly as the standard library wrote them."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from graph.core.encoding import encode_json

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1e-7, 2.5e-5, 0.0001, 1e16, 1e-10, -0.0, 5e-324, 0.1 + 0.2])
    | st.text()
    | st.sampled_from(["Zürich", "⚡ Ladestrom", "emoji 😀", "del \x7f", "nul \x00", "\u2028"])
)
ANSWERS = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(ANSWERS)
def test_answers_are_the_text_json_dumps_writes(value: object) -> None:
    assert encode_json(value) == json.dumps(value, separators=(",", ":"))


def test_dates_are_strings_by_then_and_plain_answers_use_orjson_text() -> None:
    answer = {"data": {"createdAt": "2020-05-04T08:09:19.009Z", "power": 7.2, "ids": [1, 2]}}
    assert encode_json(answer) == (
        '{"data":{"createdAt":"2020-05-04T08:09:19.009Z","power":7.2,"ids":[1,2]}}'
    )
