"""Stopping background loops, in process: a loop that loses its cancellation still stops."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable

import pytest

from graph.core import tasks
from graph.core.tasks import cancel_and_wait, run_side_by_side

# Long enough never to be reached when stopping works; reached, the test fails
# rather than hanging the suite.
GUARD_SECONDS = 30


@pytest.fixture(autouse=True)
def quick_recancel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks, "RECANCEL_SECONDS", 0.05)


async def finished(awaitable: Awaitable[None]) -> asyncio.Task[None]:
    """The awaitable's task, once done; fails the test if it never ends."""
    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({task}, timeout=GUARD_SECONDS)
    assert task in done, "never stopped"
    return task


async def swallows_first_cancellation(stopped: list[str]) -> None:
    """A loop whose first cancellation is lost (as inside a library that retries)."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()
    try:
        await asyncio.Event().wait()
    finally:
        stopped.append("swallower")


async def waits(stopped: list[str]) -> None:
    try:
        await asyncio.Event().wait()
    finally:
        stopped.append("waiter")


async def test_loops_that_lose_a_cancellation_still_stop() -> None:
    stopped: list[str] = []
    loops = asyncio.create_task(
        run_side_by_side(
            {"swallower": swallows_first_cancellation(stopped), "waiter": waits(stopped)}
        )
    )
    await asyncio.sleep(0.01)  # both loops waiting
    await finished(cancel_and_wait(loops))
    assert loops.cancelled()
    assert sorted(stopped) == ["swallower", "waiter"]


async def test_a_failing_loop_fails_the_whole_and_stops_the_others() -> None:
    stopped: list[str] = []

    async def fails() -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError("broken loop")

    loops = await finished(
        run_side_by_side({"fails": fails(), "swallower": swallows_first_cancellation(stopped)})
    )
    with pytest.raises(RuntimeError, match="broken loop"):
        loops.result()
    assert stopped == ["swallower"]


async def test_cancelled_again_while_stopping_its_loops_it_still_stops_them() -> None:
    stopped: list[str] = []
    loops = asyncio.create_task(
        run_side_by_side({"swallower": swallows_first_cancellation(stopped)})
    )
    await asyncio.sleep(0.01)
    loops.cancel()
    await asyncio.sleep(0)  # now stopping the swallower
    loops.cancel()
    await finished(asyncio.wait({loops}))
    assert loops.cancelled()
    assert stopped == ["swallower"]


async def test_a_loop_that_ends_ends_the_whole() -> None:
    """Loops run until stopped: one that returns took its work with it, which is an error."""
    stopped: list[str] = []

    async def returns() -> None:
        await asyncio.sleep(0.01)

    loops = await finished(run_side_by_side({"returns": returns(), "waiter": waits(stopped)}))
    with pytest.raises(RuntimeError, match="returns ended"):
        loops.result()
    assert stopped == ["waiter"]
