"""Answers as JSON text: orjson's speed, the standard library's exact text.

Answers have always been `json.dumps(value, separators=(",", ":"))`: ASCII
only (other characters as `\\uXXXX` escapes, DEL too) and floats as Python's
`repr`. orjson writes the same text for everything else, so it encodes first,
and the few answers where the two could differ are written by `json.dumps`
as before: any non-ASCII byte or DEL in orjson's text, and floats under 1e-4,
which `repr` writes as `1e-07` and orjson as `1e-7` or `0.000025` (found by
their text; the same text inside a string only costs the slower encoder).
Values orjson refuses (integers beyond 64 bits) go the same way.
"""

from __future__ import annotations

import json
import re

import orjson

_SMALL_EXPONENT = re.compile(rb"e-\d(?!\d)")


def encode_json(value: object) -> str:
    """Compact JSON text, exactly as `json.dumps(value, separators=(",", ":"))` writes it."""
    try:
        text = orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"))
    if (
        not text.isascii()
        or b"\x7f" in text
        or b"0.0000" in text
        or (b"e-" in text and _SMALL_EXPONENT.search(text) is not None)
    ):
        return json.dumps(value, separators=(",", ":"))
    return text.decode()
