"""Automatic persisted queries, as Apollo's clients (iOS, Android, Kotlin, Web) send them.

A client sends `extensions.persistedQuery = {version: 1, sha256Hash}` without
the query text; if this process has not seen that hash it answers
PERSISTED_QUERY_NOT_FOUND and the client sends the text along with the hash,
which is checked and remembered. Only texts that the caller's `register`
accepts are remembered (the application stores operations that parse and
validate, and charges each new one to the caller's write allowance), so the
store cannot be filled with garbage for free. The store is per process and
bounded (least recently used first out), so a client may be asked for the
text again after a restart or on another process: the protocol expects that.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from graph.core.errors import BadUserInput, ClientError

# How many queries, and how many characters in all, one process remembers.
MAX_QUERIES = 5_000
MAX_CHARACTERS = 20_000_000
_HASH = re.compile(r"[0-9a-f]{64}")


class PersistedQueryNotFound(ClientError):
    """The hash is unknown here: send the query text with it."""

    code = "PERSISTED_QUERY_NOT_FOUND"


class PersistedQueries:
    """The process's known queries, by the SHA-256 of their text."""

    def __init__(
        self, max_queries: int = MAX_QUERIES, max_characters: int = MAX_CHARACTERS
    ) -> None:
        self.max_queries = max_queries
        self.max_characters = max_characters
        self._texts: OrderedDict[str, str] = OrderedDict()
        self._characters = 0

    def __len__(self) -> int:
        return len(self._texts)

    def resolve(
        self,
        query: str | None,
        extensions: Mapping[str, Any] | None,
        register: Callable[[str], bool],
    ) -> str | None:
        """The query text to run: as sent, or found by its hash; refusals as GraphQL errors.

        A text sent with a hash not yet known is remembered if `register(text)`
        says so (it may also raise, e.g. RATE_LIMITED); it runs either way.
        """
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            return query
        field = "extensions.persistedQuery"
        if not isinstance(persisted, Mapping) or persisted.get("version") != 1:
            raise BadUserInput(f"{field} must be {{version: 1, sha256Hash}}", field=field)
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str) or not _HASH.fullmatch(digest):
            raise BadUserInput(
                f"{field}.sha256Hash must be 64 lowercase hexadecimal characters",
                field=f"{field}.sha256Hash",
            )
        if query is None:
            known = self._texts.get(digest)
            if known is None:
                raise PersistedQueryNotFound("PersistedQueryNotFound")
            self._texts.move_to_end(digest)
            return known
        if hashlib.sha256(query.encode()).hexdigest() != digest:
            raise BadUserInput(
                f"{field}.sha256Hash is not the SHA-256 of the query sent with it",
                field=f"{field}.sha256Hash",
            )
        if digest in self._texts:
            self._texts.move_to_end(digest)
        elif register(query):
            self._remember(digest, query)
        return query

    def _remember(self, digest: str, query: str) -> None:
        self._texts[digest] = query
        self._characters += len(query)
        while len(self._texts) > self.max_queries or self._characters > self.max_characters:
            _, dropped = self._texts.popitem(last=False)
            self._characters -= len(dropped)
