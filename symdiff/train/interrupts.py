"""Ctrl-C during training: stop at the next batch boundary instead of wherever Python happens to be.

A batch's kernel is one native call that updates parameters and optimizer state in place; Python runs its
signal handler only after the call returns, so stopping waits for the current batch whatever is done here.
What the guard adds is a clean place to stop: between batches, never halfway through recording an epoch or
copying the best parameters.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType


class InterruptGuard:
    """While active, the first SIGINT sets :attr:`requested` (the training loop checks it between batches) and a
    second one raises KeyboardInterrupt at once. Active only in the main thread and when SIGINT has Python's
    default handler; elsewhere Ctrl-C raises KeyboardInterrupt as usual (the training loop catches it too)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread() \
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
