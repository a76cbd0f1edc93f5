"""Routing the stop signals a CI job receives (SIGINT, SIGTERM, SIGHUP) to one handler for a while."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Callable, Optional

#: A signal handler, as :func:`signal.signal` takes it.
SignalHandler = Callable[[int, Optional[FrameType]], object]


@contextlib.contextmanager
def stop_signals(handler: SignalHandler) -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP go to ``handler`` while the block runs, in the main thread only.

    A cancelled CI job gets SIGINT or SIGTERM; a closed terminal SIGHUP. Elsewhere than
    the main thread signals cannot be rerouted, and the block runs with the defaults.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    numbers = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {number: signal.signal(number, handler) for number in numbers}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
