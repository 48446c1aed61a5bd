"""A progress bar on stderr for long runs.

Shown only when stderr is a terminal, the report is the text format (never JSON, SARIF or the CI
formats), `CI` is not set and `TERM` is not `dumb`, and only once the run has lasted `delay` seconds
(1 s; `KEYLINT_PROGRESS_DELAY` overrides it, for tests and for people who want it sooner or never).
The bar is erased before the report is printed, so output captured from stdout is never touched.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")
DEFAULT_DELAY = 1.0
REFRESH = 0.1  # seconds between redraws
_BAR_MIN, _BAR_MAX = 10, 40


def _delay_from_env() -> float:
    value = os.environ.get("KEYLINT_PROGRESS_DELAY", "")
    try:
        return max(float(value), 0.0) if value else DEFAULT_DELAY
    except ValueError:
        return DEFAULT_DELAY


def wanted(output_format: str, stream: TextIO | None = None) -> bool:
    stream = stream if stream is not None else sys.stderr
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return (
        tty and output_format == "text" and not os.environ.get("CI") and os.environ.get("TERM", "") != "dumb"
    )


class Progress:
    def __init__(
        self, total: int, stream: TextIO, *, delay: float = DEFAULT_DELAY,
        clock: Callable[[], float] = time.monotonic, width: int | None = None,
    ) -> None:  # fmt: skip
        self.total = total
        self.done = 0
        self._stream = stream
        self._delay = delay
        self._clock = clock
        self._start = clock()
        self._last_draw: float | None = None
        self._width = width
        self.shown = False

    def _columns(self) -> int:
        if self._width is not None:
            return self._width
        try:
            return os.get_terminal_size(self._stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            return 80

    def line(self, elapsed: float) -> str:
        counter = f" {self.done}/{self.total} files {elapsed:.1f}s"
        room = max(_BAR_MIN, min(_BAR_MAX, self._columns() - len(counter) - 12))
        filled = room * self.done // self.total if self.total else room
        return f"keylint [{'#' * filled}{'-' * (room - filled)}]{counter}"

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = self._clock()
        if now - self._start < self._delay:
            return
        if self._last_draw is not None and now - self._last_draw < REFRESH and self.done < self.total:
            return
        self._last_draw = now
        self.shown = True
        self._stream.write("\r" + self.line(now - self._start) + "\x1b[K")
        self._stream.flush()

    def close(self) -> None:
        if self.shown:
            self._stream.write("\r\x1b[K")  # erase the bar: the report starts on a clean line
            self._stream.flush()
            self.shown = False


def track(items: Iterable[T], total: int, output_format: str) -> Iterator[T]:
    """`items`, advancing a bar on stderr when one is wanted (see the module docstring)."""
    if not wanted(output_format):
        yield from items
        return
    bar = Progress(total, sys.stderr, delay=_delay_from_env())
    try:
        for item in items:
            yield item
            bar.advance()
    finally:
        bar.close()
