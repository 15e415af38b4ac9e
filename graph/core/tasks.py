"""Background tasks of the process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Iterable, Iterator
from typing import Any

from pymongo.errors import PyMongoError

# Cleanup a cancelled task does (a last database write) gets this long before it is
# cancelled again.
RECANCEL_SECONDS = 3.0
log = logging.getLogger(__name__)


async def _stop(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel tasks, again every RECANCEL_SECONDS while one goes on, until all are done.

    A task may swallow a cancellation (a library's cleanup failing against a dead
    database in its place, a retried read, a 3.11 wait_for race), and a shutdown
    waiting on it would never end.
    """
    pending = {task for task in tasks if not task.done()}
    interrupted = False
    while pending:
        for task in pending:
            task.cancel()
        try:
            _, pending = await asyncio.wait(pending, timeout=RECANCEL_SECONDS)
        except asyncio.CancelledError:
            # Stopping them goes on (they would be left running otherwise); the
            # cancellation is raised once they are done.
            interrupted = True
            continue
        for task in pending:
            log.warning("task %s did not stop when cancelled; cancelling it again", task.get_name())
    if interrupted:
        raise asyncio.CancelledError


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Stop a background task and wait until it has finished stopping."""
    if task is None:
        return
    await _stop([task])
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def run_side_by_side(loops: dict[str, Coroutine[Any, Any, None]]) -> None:
    """Run background loops (by task name) until one fails or this task is cancelled;
    then every loop is stopped as `cancel_and_wait` stops a task.

    Not a TaskGroup: it cancels its tasks once only, so a loop that lost that
    cancellation inside a library would keep the shutdown waiting for ever.
    """
    running = [asyncio.create_task(loop, name=name) for name, loop in loops.items()]
    try:
        done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        # Loops run until cancelled: one that ended took the work with it.
        for task in done:
            if task.cancelled():
                raise RuntimeError(f"{task.get_name()} was cancelled on its own")
            task.result()  # the loop's failure, raised here
            raise RuntimeError(f"{task.get_name()} ended")
    finally:
        await _stop(running)


def report_end(task: asyncio.Task[Any]) -> None:
    """For `add_done_callback`: log a background task that ended other than by being
    stopped, since the work it did has stopped with it."""
    if task.cancelled():
        return
    error = task.exception()
    log.error("background task %s ended: %r", task.get_name(), error, exc_info=error)


@contextlib.contextmanager
def round_survived(logger: logging.Logger, what: str) -> Iterator[None]:
    """One round of a background loop that must go on: a database failure is logged as a
    warning, anything else (a bug) with its traceback, and the loop carries on after its
    pause; a cancellation always ends it (`stop_if_cancelled`)."""
    try:
        yield
    except PyMongoError as error:
        stop_if_cancelled()
        logger.warning("%s: the database failed, retrying: %s", what, error)
    except Exception:
        stop_if_cancelled()
        logger.exception("%s failed", what)


def stop_if_cancelled() -> None:
    """Raise CancelledError if the current task was asked to stop.

    For retry loops that catch database errors: a cancellation that arrives while a
    database call waits may surface as that call's error (the call's own cleanup runs
    into the same dead database), and a loop that retries it would never stop.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
