"""A server that fails to boot on the new revision: the executor stops, rolls every updated host back,
restarts in the documented order and ends ``rolled_back``; the LB kept serving; every node is old again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.engine.status import Outcome
from harness.plan.models import Plan
from harness.products.zato import state
from harness.products.zato.checks import check_availability, check_versions
from harness.products.zato.fixtures import RecordedRun, ZatoStandin, record_run
from suites.zato.twins import KINDS, fresh_zato, plan_of

pytestmark = pytest.mark.destructive  # a broken revision on every host
SIZES = (1, 3)
BROKEN = Plan(procedure="zato-update", params={"revision": "3.2.2-broken"}, ready_timeout=20)


@pytest.fixture(scope="module", params=KINDS)
def broken_plan(request: pytest.FixtureRequest) -> Plan:
    """The built-in procedure, and the same update written as data (examples/runbook-zato-update.yaml)."""
    return plan_of(request.param, BROKEN)


@pytest.fixture(scope="module")
def zato(env_param: tuple[str, int], broken_plan: Plan,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZatoStandin]:
    yield from fresh_zato(env_param, tmp_path_factory, broken_plan)  # one environment per plan too


@pytest.fixture(scope="module")
def broken(zato: ZatoStandin, broken_plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> RecordedRun:
    return record_run(zato, broken_plan, tmp_path_factory.mktemp("runs"))


def test_run_ends_rolled_back_at_the_first_server(broken: RecordedRun) -> None:
    assert broken.outcome == Outcome.ROLLED_BACK
    failed = [r for r in broken.run.journal_records() if r["event"] == "step" and r["status"] == "failed"]
    assert [r["step"] for r in failed] == ["start@server1"]
    assert "failed to start" in failed[0]["reason"]
    # nothing after the failing server was touched: what their own logs say (no stop, no start in the run)
    for name, events in broken.history.events.items():
        if name not in ("web-admin", "server1"):
            assert not [e for e in events if e.kind in ("stopping", "starting")], name


def test_the_server_logged_its_boot_failure(broken: RecordedRun) -> None:
    kinds = [e.kind for e in broken.history.events["server1"]]
    assert "boot_failed" in kinds
    # ...and, after the rollback, it started again on the old code
    assert kinds[-1] == "started"


def test_every_host_and_component_is_back_on_the_old_version(broken: RecordedRun, zato: ZatoStandin) -> None:
    verdict = check_versions(zato.env(), "3.2.0")
    assert verdict.valid is True, verdict.explain()


def test_rollback_restarts_in_the_documented_order(broken: RecordedRun, zato: ZatoStandin) -> None:
    # judged from the components' own logs: each one's last start, the version it started as
    last = {name: [e for e in events if e.kind == "starting"][-1] for name, events in broken.history.events.items()
            if any(e.kind == "starting" for e in events)}
    assert set(last) == {"web-admin", "server1"}, "only the restarted web-admin and the failed server1"
    assert last["web-admin"].ts < last["server1"].ts  # web-admin back first, then server1
    assert {n: e.fields.get("version") for n, e in last.items()} == {"web-admin": "3.2.0", "server1": "3.2.0"}
    env = zato.env()
    for name, comp in env.components.items():  # every checkout back on the old commit, every host reinstalled
        assert state.installed_revision(comp.host) == state.head(comp.host), name


def test_load_balancer_kept_serving(broken: RecordedRun, zato: ZatoStandin) -> None:
    verdict = check_availability(broken.probe, broken.history)
    assert verdict.valid is True, verdict.explain()
    if sum(1 for c in zato.inventory.components if c.role == "server") >= 2:
        assert verdict.details["failed_outside_lb_restart"] == 0


def test_components_never_restarted_keep_their_process(broken: RecordedRun) -> None:
    # server2/3, the LB and the scheduler ran the old code all along: no stop line in their logs
    for name in ("load-balancer", "scheduler"):
        assert not [e for e in broken.history.events[name] if e.kind == "stopping"], name


def test_the_running_server_log_has_no_new_start_for_untouched_servers(broken: RecordedRun) -> None:
    for name, events in broken.history.events.items():
        if name.startswith("server") and name != "server1":
            assert not [e for e in events if e.kind == "starting"], name
