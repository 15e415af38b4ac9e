"""cross-web (Strawberry's HTTP layer) as ChargeGraph uses it (cross-web 0.9).

- `cross_web.HTTPException`: what Strawberry's HTTP view raises for a request
  it cannot read (malformed JSON, wrong method, unsupported content type),
  with `status_code` and `reason`.
- `cross_web.StarletteRequestAdapter._request`: the Starlette request behind
  the adapter Strawberry hands to `parse_http_body`.
"""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException, StarletteRequestAdapter
from starlette.requests import Request

__all__ = ["HTTPException", "starlette_request"]


def starlette_request(adapter: Any) -> Request:
    """The Starlette request a Strawberry request adapter wraps."""
    if isinstance(adapter, StarletteRequestAdapter):
        request = adapter._request
        if isinstance(request, Request):
            return request
    raise TypeError(f"not a Starlette request adapter: {type(adapter).__name__}")
