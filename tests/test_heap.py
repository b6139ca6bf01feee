"""Collector settings for serving: what exists at start is frozen, young collections rarer."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from service import heap


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_collector")
def test_settling_freezes_what_exists_and_raises_only_the_young_threshold() -> None:
    _, older, oldest = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    long_lived = [[n] for n in range(1000)]

    heap.settle()

    assert gc.get_freeze_count() >= frozen_before + len(long_lived)
    assert gc.get_threshold() == (heap.YOUNG_THRESHOLD, older, oldest)
