"""Hot-deploy that cannot be undone says so (issue 18 item 8), judged on the servers' own ODB rows: a
module that did not exist before the run and fails afterwards cannot be removed by hot-deploy, so the run
ends indeterminate naming it, never rolled back; and module names that are no Python identifier are
refused before anything is written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import standins
from harness.engine.runner import Run
from harness.engine.status import Outcome
from harness.errors import PlanError
from harness.plan.models import Plan
from harness.products.zato import odb
from harness.products.zato.deploy_checks import deployed_snapshot
from harness.products.zato.fixtures import ZatoStandin, start_zato

FAILING = ("from zato.server.service import Service\n\n"
           "class Boom(Service):\n    def handle(self):\n        raise RuntimeError('broken on purpose')\n")


@pytest.fixture(scope="module")
def z(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZatoStandin]:
    env = start_zato("process", 2, tmp_path_factory.mktemp("zato"))
    yield env
    standins.down(env.inventory)


def test_a_new_module_that_fails_ends_indeterminate_and_names_it(z: ZatoStandin, tmp_path: Path) -> None:
    plan = Plan(procedure="zato-hot-deploy", ready_timeout=20,
                params={"sources": {"fresh_module.py": FAILING}, "invoke": {"fresh-module.boom": {}}})
    run = Run.create(plan, z.inventory, tmp_path)
    run.begin()
    outcome = run.run_forward()
    assert outcome == Outcome.INDETERMINATE, run.journal_records()[-1]
    assert "HTTP 500" in run.records["invoke@load-balancer"].reason
    rb = [r for r in run.journal_records() if r["event"] == "rollback_step" and r["status"] != "started"]
    assert [(r["step"], r["status"]) for r in rb] == [("rb-new-deploy@server1", "indeterminate")]
    reason = rb[0]["reason"]
    assert "fresh_module.py on server1, server2 had no previous version" in reason and "Hint:" in reason
    servers = {r.server for r in odb.deployed_services(z.env()) if r.payload_name == "fresh_module.py"}
    assert servers == {"server1", "server2"}, "what the rollback says is what the ODB holds"
    assert run.journal_records()[-1]["outcome"] == "indeterminate"


@pytest.mark.parametrize("name", ["a\nb.py", "my-module.py", "9lives.py"])
def test_a_module_name_that_is_no_identifier_is_refused_and_nothing_is_written(z: ZatoStandin, tmp_path: Path,
                                                                                 name: str) -> None:
    before = deployed_snapshot(z.env())
    plan = Plan(procedure="zato-hot-deploy", params={"sources": {name: FAILING}})
    with pytest.raises(PlanError, match="is not a Python module name"):
        Run.create(plan, z.inventory, tmp_path)
    assert deployed_snapshot(z.env()) == before
