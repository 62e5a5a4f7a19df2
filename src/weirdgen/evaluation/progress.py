"""Progress for long evaluations: rich bars on a terminal, a plain line every few seconds elsewhere.

CI logs and pipes get no bars (they would print nothing useful until the end), so there each task
prints ``description: done/total`` at most every ``interval`` seconds and once when it finishes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

ProgressFactory = Callable[[str, int], Callable[[int], None]]
"""Given a task description and a total, returns the callback that advances that task."""

__all__ = ["ProgressFactory", "progress_bars"]


@contextmanager
def progress_bars(
    stream: TextIO | None = None, *, interval: float = 10.0
) -> Iterator[ProgressFactory]:
    """A ``ProgressFactory`` for the duration of the block (bars stay on screen when it ends)."""
    stream = stream or sys.stderr
    if stream.isatty():
        with _rich_progress(stream) as factory:
            yield factory
    else:
        yield _plain_factory(stream, interval)


@contextmanager
def _rich_progress(stream: TextIO) -> Iterator[ProgressFactory]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(file=stream), transient=False) as progress:

        def bar(description: str, total: int) -> Callable[[int], None]:
            task = progress.add_task(description, total=total)
            return lambda done: progress.advance(task, done)

        yield bar


def _plain_factory(stream: TextIO, interval: float) -> ProgressFactory:
    def task(description: str, total: int) -> Callable[[int], None]:
        state: dict[str, Any] = {"done": 0, "shown": time.monotonic()}
        print(f"{description}: 0/{total}", file=stream, flush=True)

        def advance(done: int) -> None:
            state["done"] += done
            now = time.monotonic()
            finished = state["done"] >= total
            if finished or now - state["shown"] >= interval:
                state["shown"] = now
                print(f"{description}: {state['done']}/{total}", file=stream, flush=True)

        return advance

    return task
