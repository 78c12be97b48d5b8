"""A sequential container fetches as many inputs as it runs in BATCH_SECONDS: 10 ms inputs
came one RPC (and one output RPC) each, 0.65 ms of server CPU per input."""

from __future__ import annotations

from nano_modal import config
from nano_modal.container.runner import BATCH_SECONDS, batch_size_for


def test_slow_inputs_are_fetched_several_at_a_time() -> None:
    assert batch_size_for(0.010) == round(BATCH_SECONDS / 0.010)
    assert batch_size_for(0.001) == round(BATCH_SECONDS / 0.001)


def test_inputs_longer_than_a_batch_come_one_at_a_time() -> None:
    assert batch_size_for(BATCH_SECONDS * 2) == 1  # a 0.2 s sleep: each goes to a free container
    assert batch_size_for(60.0) == 1


def test_trivial_inputs_come_in_the_largest_batches() -> None:
    assert batch_size_for(1e-6) == config.CONTAINER_MAX_BATCH
    assert batch_size_for(0.0) == config.CONTAINER_MAX_BATCH
