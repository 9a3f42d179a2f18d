"""Helpers the tests share: polling for a condition, and a free local port."""
from __future__ import annotations

import socket
import time
from typing import Callable, Union


def wait_until(condition: Callable, what: Union[str, Callable[[], str]], timeout: float = 60.0,
               interval: float = 0.02):
    """CONDITION()'s first truthy value, polled until TIMEOUT seconds; else fails, saying WHAT (a text, or
    a function giving one then)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what() if callable(what) else what}")
        time.sleep(interval)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
