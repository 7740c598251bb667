"""A bounded wait for something the system does in the background: the first truthy result of a check,
asked again and again. The bound only keeps a broken run from hanging; it is never a timing
assertion."""

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any


async def eventually(
    check: Callable[[], Any | Awaitable[Any]], what: str, *, within_s: float = 5.0, every_s: float = 0.05
) -> Any:
    """``check``'s first truthy result (it may be a coroutine function); ``AssertionError`` naming
    ``what`` if none came within ``within_s``."""
    for _ in range(max(1, round(within_s / every_s))):
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        await asyncio.sleep(every_s)
    raise AssertionError(f"never: {what}")
