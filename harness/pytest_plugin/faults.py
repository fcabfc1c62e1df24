"""The ``fault`` fixture: faults on an environment, tied to steps or made at once, undone at teardown.

Loaded by the plugin's :func:`~harness.pytest_plugin.pytest_configure`, like the backend layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

from harness.faults import FaultError, Faults
from harness.plan.models import Inventory

if TYPE_CHECKING:
    from harness.standins import Standin

FaultFactory = Callable[..., Faults]


@pytest.fixture
def fault() -> Iterator[FaultFactory]:
    """``fault(inventory)`` → :class:`harness.faults.Faults` on that environment::

        faults = fault(zato.inventory)
        faults.tie(run, FaultSpec(kind="kill", step="restart-server2", at="during"))
        faults.pause("load-balancer")

    Every fault is undone when the test ends, passed or failed (a killed or stopped node is started
    again by the product's own start); an undo that fails fails the test's teardown, naming it."""
    made: list[Faults] = []

    def make(inventory: Inventory, *, hooks: Standin | None = None) -> Faults:
        faults = Faults(inventory, hooks=hooks)
        made.append(faults)
        return faults

    yield make
    errors = []
    for faults in reversed(made):
        try:
            faults.close()
        except FaultError as exc:
            errors.append(str(exc))
    if errors:
        pytest.fail("faults not undone: " + "; ".join(errors), pytrace=False)
