"""Background tasks of the process."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Stop a background task and wait until it has finished stopping."""
    if task is None:
        return
    # Cancelled again each second it goes on: a task may swallow a cancellation (a
    # library's cleanup failing against a dead database in its place, a 3.11 wait_for
    # race), and a shutdown waiting on it would never end.
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def stop_if_cancelled() -> None:
    """Raise CancelledError if the current task was asked to stop.

    For retry loops that catch database errors: a cancellation that arrives while a
    database call waits may surface as that call's error (the call's own cleanup runs
    into the same dead database), and a loop that retries it would never stop.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
