"""pymongo's async change streams as ChargeGraph uses them (pymongo 4.20).

`AsyncChangeStream.try_next()` was seen to swallow a task's cancellation: a
subscription cancelled (its client gone) while a replay awaited `try_next`
carried on with the cancellation still requested (`Task.cancelling()` > 0)
and no CancelledError, and so never ended. `next_change` re-raises it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo.asynchronous.change_stream import AsyncChangeStream

__all__ = ["next_change"]


async def next_change(stream: AsyncChangeStream[Any]) -> dict[str, Any] | None:
    """The next change, or None when none is waiting; a requested cancellation always ends it."""
    change = await stream.try_next()
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
    return change
