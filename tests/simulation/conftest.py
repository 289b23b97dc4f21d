"""The simulation's shared piece: one localstripe and one set of functions' settings per
test module (``tests.simulation.world.environment``). The line each run prints about what
it did is printed by ``tests/conftest.py``, which the xdist controller loads."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.simulation.world import Environment, environment


@pytest.fixture(scope="module")
def simulation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Environment]:
    """localstripe on a free port, the functions' environment, clock and Stripe client,
    for the worlds of one module (one xdist worker runs a whole module)."""
    with environment(tmp_path_factory.mktemp("simulation")) as env:
        yield env
