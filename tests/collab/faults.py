"""A store that fails on purpose: the k-th call of any method raises.

:class:`FaultyStore` wraps any :class:`~collab.store.base.Store`. It counts calls (per
method and in all), raises :class:`InjectedFault` on the call it is armed for, either
*before* passing the call on (nothing happened) or *after* (it happened, but the caller is
told it failed: a commit whose outcome the server cannot know), and can hold a method's
calls at a gate until the test lets them through.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from collab.store.base import Store

METHODS = (
    "create_document",
    "get_document",
    "list_documents",
    "delete_document",
    "load",
    "commit",
    "get_ops",
    "find_seq",
    "last_seq",
    "client_owner",
    "save_snapshot",
    "nearest_snapshot",
    "add_version",
    "list_versions",
)

INJECTED: Counter[str] = Counter()  # faults raised in this test run, per method


class InjectedFault(Exception):
    """A store failure made by the test."""


@dataclass
class _Arm:
    method: str | None  # None: any method
    nth: int  # the nth matching call from now (1 = the next)
    after: bool  # raise after the call went through


class FaultyStore:
    """A :class:`Store` that passes every call to ``inner`` unless told otherwise."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self._arms: list[_Arm] = []
        self._gates: dict[str, asyncio.Event] = {}
        self._arrived: dict[str, asyncio.Event] = {}
        self.before: dict[str, Callable[..., Awaitable[None]]] = {}  # hooks, once each

    # -- control ---------------------------------------------------------------------------

    def arm(self, nth: int = 1, method: str | None = None, *, after: bool = False) -> None:
        """Fail the ``nth`` next call (of ``method``, or of any method)."""
        self._arms.append(_Arm(method, nth, after))

    def disarm(self) -> None:
        self._arms.clear()

    @property
    def armed(self) -> bool:
        return bool(self._arms)

    def hold(self, method: str) -> asyncio.Event:
        """Hold calls of ``method`` until the returned event is set."""
        gate = self._gates[method] = asyncio.Event()
        self._arrived[method] = asyncio.Event()
        return gate

    async def arrived(self, method: str) -> None:
        """Wait until a call of ``method`` waits at its gate."""
        await asyncio.wait_for(self._arrived[method].wait(), 10)

    # -- the store -------------------------------------------------------------------------

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def ping(self) -> bool:
        return await self.inner.ping()

    def _fires(self, method: str) -> _Arm | None:
        fired = None
        for arm in list(self._arms):
            if arm.method is None or arm.method == method:
                arm.nth -= 1
                if arm.nth == 0:
                    self._arms.remove(arm)
                    fired = fired or arm
        return fired

    async def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        self.calls[method] += 1
        gate = self._gates.get(method)
        if gate is not None:
            self._arrived[method].set()
            await gate.wait()
        hook = self.before.pop(method, None)
        if hook is not None:
            await hook(*args, **kwargs)
        arm = self._fires(method)
        if arm is not None and not arm.after:
            self._count(method)
            raise InjectedFault(f"{method} call {self.calls[method]} (before)")
        result = await getattr(self.inner, method)(*args, **kwargs)
        if arm is not None:
            self._count(method)
            raise InjectedFault(f"{method} call {self.calls[method]} (after)")
        return result

    def _count(self, method: str) -> None:
        self.faults[method] += 1
        INJECTED[method] += 1

    def __getattr__(self, name: str) -> Any:
        if name in METHODS:

            async def call(*args: Any, **kwargs: Any) -> Any:
                return await self._call(name, *args, **kwargs)

            return call
        raise AttributeError(name)
