"""cross-web (Strawberry's HTTP layer) as ChargeGraph uses it (cross-web 0.9).

- `cross_web.HTTPException`: what Strawberry's HTTP view raises for a request
  it cannot read (malformed JSON, wrong method, unsupported content type),
  with `status_code` and `reason`.
"""

from __future__ import annotations

from cross_web import HTTPException

__all__ = ["HTTPException"]
