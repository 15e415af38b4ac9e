"""DataLoaders that domains declare and requests create on first use.

A domain subclasses `Loader` and implements `fetch`; a resolver asks
`SomeLoader.on(info.context).load(key)`. The loader is made once per context
(so all resolvers of a request share its batches) and registered under its
class, so no central list of loaders exists to edit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, Self, TypeVar

from strawberry.dataloader import DataLoader

from graph.core.context import Context

KeyT = TypeVar("KeyT")
ValueT = TypeVar("ValueT")


class Loader(DataLoader[KeyT, ValueT], Generic[KeyT, ValueT]):
    """Batches (and, within one HTTP request, caches) one kind of read."""

    def __init__(self, context: Context) -> None:
        super().__init__(load_fn=self.fetch, cache=context.caches_loads)  # type: ignore[arg-type]
        self.context = context

    @classmethod
    def on(cls, context: Context) -> Self:
        """The context's instance of this loader, made on first use."""
        found = context.loaders.get(cls)
        if found is None:
            found = context.loaders[cls] = cls(context)
        return found  # type: ignore[no-any-return]

    async def fetch(self, keys: Sequence[KeyT]) -> Sequence[ValueT | BaseException]:
        """One read answering every key (in order); an exception fails only its own key."""
        raise NotImplementedError
