"""GStreamer's threads asking the gateway's event loop: a call with a deadline, or a message."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

# An RTSP request waits this long for the event loop (a database read, an access-log entry)
# before it is answered 503; the GStreamer thread serving it serves other clients too.
CALL_TIMEOUT_S = 3.0


class GatewayBusy(Exception):
    """The gateway's loop did not answer in time, failed, or is gone: the request gets 503."""


class LoopBridge:
    """Runs coroutines and callbacks on `loop` for code running in other threads."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout_s: float = CALL_TIMEOUT_S) -> None:
        self._loop = loop
        self._timeout = timeout_s

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """The coroutine's result; GatewayBusy when it failed or did not finish within the timeout
        (it is cancelled then). Never call this from the loop's own thread."""
        try:
            future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        except RuntimeError as exc:  # the loop is closed: the gateway is going away
            coro.close()
            raise GatewayBusy("the gateway is stopping") from exc
        try:
            return future.result(self._timeout)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            log.warning("rtsp: the gateway did not answer within %.0f s", self._timeout)
            raise GatewayBusy("the gateway did not answer in time") from exc
        except Exception as exc:
            log.exception("rtsp: a check on the gateway's loop failed")
            raise GatewayBusy("a check failed") from exc

    def post(self, callback: Callable[..., object], *args: object) -> None:
        """Run `callback(*args)` on the loop soon; dropped when the loop is closed."""
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            log.debug("rtsp: loop closed, dropped %r", callback)
