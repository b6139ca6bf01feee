"""Garbage collection tuned for a server whose heap is mostly built once at start.

With CPython's defaults the cyclic collector spends a noticeable share of the worker's CPU, and
its full collections walk the whole heap (the spec, its validators, the compiled routes: objects
that live as long as the process), pausing the event loop long enough to set the tail latency
(figures before and after: benchmarks/profiles.md). Two changes, both standard for long-running
servers:

- ``gc.freeze()`` once the app is built: everything alive then lives as long as the process,
  so it moves to a permanent generation that collections no longer walk;
- a higher first-generation threshold: a young collection every 700 allocations also walks the
  objects of every request still in flight; every 10,000, most of them are gone (freed by
  reference counting) and collections are rarer for the same garbage.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000


def settle() -> None:
    """Call once the app is fully built, before serving."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
