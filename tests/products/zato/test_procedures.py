"""The Zato procedures' step and rollback planning, with no node: which hosts a rollback reverts, and what a
hot-deploy rollback says it cannot undo (issue 18 items 1 and 8)."""

from __future__ import annotations

import pytest

from harness.engine.step import StepStatus
from harness.errors import PlanError
from harness.plan.models import Inventory, Plan
from harness.products.zato.procedures import install, update

OLD, NEW = "a" * 40, "b" * 40
INV = Inventory.model_validate({
    "environment": "unit", "product": "zato",
    "hosts": [{"name": h, "install_dir": "/opt/zato/current"} for h in ("vm1", "vm2")],
    "components": [{"name": f"server{i}", "role": "server", "host": f"vm{i}", "path": f"/srv/s{i}",
                    "url": f"http://127.0.0.1:{i}"} for i in (1, 2)],
})
PLAN = Plan(procedure="zato-update", params={"revision": "3.2.1"})


def pulls(obs_status: list[tuple[dict[str, str], StepStatus]]) -> list[tuple[object, dict[str, str], StepStatus]]:
    steps = {s.node: s for s in update.steps(PLAN, update.UpdateParams(revision="3.2.1"), INV)
             if s.action == "zato.git_pull"}
    return [(steps[h], obs, status) for h, (obs, status) in zip(("vm1", "vm2"), obs_status, strict=True)]


def reverted(done: list[tuple[object, dict[str, str], StepStatus]]) -> list[str]:
    rb = update.rollback_steps(PLAN, update.UpdateParams(revision="3.2.1"), INV, done)  # type: ignore[arg-type]
    return sorted(s.node for s in rb if s.action == "zato.git_reset")


def test_a_pull_skipped_after_a_resume_is_reverted_when_the_dead_executor_moved_the_checkout() -> None:
    # vm1: the killed executor pulled (before journaled first), the resumed attempt found nothing to pull
    done = pulls([({"before": OLD, "target": NEW}, StepStatus.SKIPPED),
                  ({"before": OLD, "target": NEW}, StepStatus.OK)])
    assert reverted(done) == ["vm1", "vm2"]


def test_a_host_already_on_the_target_before_the_run_is_not_reverted() -> None:
    done = pulls([({"before": NEW, "target": NEW}, StepStatus.SKIPPED),
                  ({"before": OLD, "target": NEW}, StepStatus.OK)])
    assert reverted(done) == ["vm2"]


def test_a_new_hot_deployed_module_makes_the_rollback_say_it_cannot_undo_it() -> None:
    plan = Plan(procedure="zato-hot-deploy", params={"sources": {"fresh.py": "from zato.server.service import "
                                                                             "Service\nclass A(Service):\n  pass\n"}})
    params = install.HotDeployParams(sources=plan.params["sources"])
    step = install.steps(plan, params, INV)[0]
    obs = {"dropped": ["fresh.py"], "previous": {"fresh.py": None}}
    rb = install.rollback_steps(plan, params, INV, [(step, obs, StepStatus.OK)])
    assert [(s.action, s.args) for s in rb] == [("zato.cannot_undo", {"modules": ["fresh.py"]})]


def test_a_module_named_a_newline_b_is_refused_when_planned() -> None:
    plan = Plan(procedure="zato-hot-deploy", params={"sources": {"a\nb.py": "x = 1\n"}})
    with pytest.raises(PlanError, match=r"is not a Python module name"):
        install.steps(plan, install.HotDeployParams(sources=plan.params["sources"]), INV)
