"""Progress for a person waiting: a bar on a terminal, plain periodic lines anywhere else.

A bar's carriage returns make a CI log or a piped ``2> run.log`` unreadable, and tqdm alone draws
nothing when stderr is not a terminal, so a 3-minute stage there was silent. :func:`bar` gives
tqdm's bar on a terminal and otherwise a :class:`LineProgress` that writes a line once the work has
taken :data:`QUIET_SECONDS`, then at most one every :data:`ENV_INTERVAL` seconds (10 by default), and
one at the end. :func:`step` announces work that has no count (loading a model) once it has taken
that long, with the seconds it took. Work that is done sooner prints nothing: a refusal after a fast
load stays one line. ``LLM_AUDIT_PROGRESS_SECONDS=N`` writes the first line after N seconds and then
one every N seconds (``0``: every step at once), ``off`` none at all (the test suite, whose one-line
error checks must not depend on how long a load took on a busy machine).

The lines go through the ``audit.progress`` logger, so the Python API stays quiet unless its
caller shows INFO messages; the command line shows them on stderr (``audit.cli.app``).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

LOG = logging.getLogger("audit.progress")
ENV_INTERVAL = "LLM_AUDIT_PROGRESS_SECONDS"
DEFAULT_INTERVAL = 10.0
QUIET_SECONDS = 2.0  # "a couple of seconds": shorter work needs no progress


def _setting() -> float | None:
    """Seconds from :data:`ENV_INTERVAL`; None when progress is off; nan when unset or not a number (defaults)."""
    value = os.environ.get(ENV_INTERVAL, "").strip().lower()
    if value == "off":
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return float("nan")


def _interval() -> float:
    seconds = _setting()
    return DEFAULT_INTERVAL if seconds is None or seconds != seconds else seconds


def _quiet() -> float:
    seconds = _setting()
    return QUIET_SECONDS if seconds is None or seconds != seconds else seconds


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


class LineProgress:
    """tqdm's interface as the callers use it (``update``, ``close``, iteration, ``with``), as plain lines."""

    def __init__(self, iterable: Iterable[Any] | None = None, *, total: int | None, desc: str, unit: str) -> None:
        self.iterable, self.desc, self.unit = iterable, desc, unit
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)  # type: ignore[arg-type]
        self.n, self.started, self.interval, self.quiet = 0, time.monotonic(), _interval(), _quiet()
        self.last: float | None = None  # when the last line was written; None: none yet
        self.closed = False
        if self.quiet == 0:
            LOG.info("%s: 0/%s %ss", desc, self.total if self.total is not None else "?", unit)
            self.last = self.started

    def _line(self, final: bool) -> str:
        elapsed = time.monotonic() - self.started
        of = f"/{self.total}" if self.total is not None else ""
        text = f"{self.desc}: {self.n}{of} {self.unit}s"
        if final:
            return f"{text}, done in {_duration(elapsed)}"
        text += f", {_duration(elapsed)}"
        if self.total and self.n:
            text += f", about {_duration(elapsed / self.n * (self.total - self.n))} left"
        return text

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if self.total is not None and self.n >= self.total:
            return  # the closing line follows
        due = now - self.started >= self.quiet if self.last is None else now - self.last >= self.interval
        if due:
            LOG.info(self._line(final=False))
            self.last = now

    def close(self) -> None:
        """The closing line, when the work was long enough to have shown progress (or took that long)."""
        if not self.closed:
            self.closed = True
            if self.last is not None or time.monotonic() - self.started >= self.quiet:
                LOG.info(self._line(final=True))

    def __iter__(self) -> Iterator[Any]:
        try:
            for item in self.iterable or ():
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Off:
    """No progress at all (the caller asked for none)."""

    def __init__(self, iterable: Iterable[Any] | None = None) -> None:
        self.iterable = iterable

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __iter__(self) -> Iterator[Any]:
        return iter(self.iterable or ())

    def __enter__(self) -> _Off:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def bar(
    iterable: Iterable[Any] | None = None, *, total: int | None = None, desc: str, unit: str, enabled: bool = True
) -> Any:
    """A tqdm bar on a terminal, :class:`LineProgress` elsewhere, nothing when not ``enabled``."""
    if not enabled or _setting() is None:
        return _Off(iterable)
    if sys.stderr is not None and sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, smoothing=0.1)
    return LineProgress(iterable, total=total, desc=desc, unit=unit)


@contextmanager
def step(what: str) -> Iterator[None]:
    """``what ...`` once it has taken :data:`QUIET_SECONDS` and ``what: done (N s)`` after: for work with no count,
    e.g. loading a model. The first line comes from a timer thread, so it appears while the work runs."""
    if _setting() is None:
        yield
        return
    started, quiet = time.monotonic(), _quiet()
    said = threading.Event()

    def announce() -> None:
        said.set()
        LOG.info("%s ...", what)

    timer = threading.Timer(quiet, announce)
    timer.daemon = True
    if quiet == 0:
        announce()
    else:
        timer.start()
    try:
        yield
    finally:
        timer.cancel()
    if said.is_set():
        LOG.info("%s: done (%s)", what, _duration(time.monotonic() - started))
