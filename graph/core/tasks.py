"""Background tasks of the process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

# Cleanup a cancelled task does (a last database write) gets this long before it is
# cancelled again.
RECANCEL_SECONDS = 3.0
log = logging.getLogger(__name__)


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Stop a background task and wait until it has finished stopping."""
    if task is None:
        return
    # Cancelled again while it goes on: a task may swallow a cancellation (a
    # library's cleanup failing against a dead database in its place, a 3.11 wait_for
    # race), and a shutdown waiting on it would never end.
    task.cancel()
    await asyncio.wait({task}, timeout=RECANCEL_SECONDS)
    while not task.done():
        log.warning("task %s did not stop when cancelled; cancelling it again", task.get_name())
        task.cancel()
        await asyncio.wait({task}, timeout=RECANCEL_SECONDS)
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
