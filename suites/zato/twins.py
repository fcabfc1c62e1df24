"""The update suites run each plan twice: the built-in ``zato-update`` and its data-runbook twin
(examples/runbook-zato-update.yaml), each on a fresh environment, judged by the same tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness import standins
from harness.plan.models import Plan
from harness.products.runbook.testing import as_runbook
from harness.products.zato.fixtures import ZatoStandin, start_zato

KINDS = ("built-in", "runbook")
RUNBOOK = "runbook-zato-update.yaml"


def plan_of(kind: str, built_in: Plan) -> Plan:
    return built_in if kind == "built-in" else as_runbook(built_in, RUNBOOK)


def fresh_zato(env_param: tuple[str, int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZatoStandin]:
    """The product's ``zato`` environment, for one plan: an update changes it, so no plan shares one."""
    z = start_zato(*env_param, tmp_path_factory.mktemp("zato"))
    yield z
    standins.down(z.inventory)
