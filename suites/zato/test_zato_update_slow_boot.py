"""The rolling restart on servers that boot the way real ones do: slower than the 1.2 s `zato start` watches
their stderr, so `zato start` returning says nothing about readiness. Only the executor's readiness gate —
the server's own `Started` line, its endpoint, and the load balancer sending it traffic again — keeps the
servers one at a time (seeds/000: "un par un, en attendant que chacun démarre avant de passer au suivant").
Judged on what the servers and HAProxy logged."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.engine.status import Outcome
from harness.plan.models import Inventory, Plan
from harness.products.zato.checks import check_back_in_rotation, check_order, haproxy_states
from harness.products.zato.fixtures import RecordedRun, ZatoStandin, record_run

UPDATE = Plan(procedure="zato-update", params={"revision": "3.2.1"}, ready_timeout=60)


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ZatoStandin, RecordedRun]]:
    from harness import standins
    from harness.plan.models import StandinsSpec

    # HAProxy's checks at Zato's own interval (2 s, rise 2): a server is back in rotation 2-4 s after it is
    # ready, longer than an executor that does not wait for it takes to stop the next one, however loaded
    spec = StandinsSpec.model_validate({"product": "zato", "backend": "process", "servers": 3,
                                        "server_boot_seconds": 2.5, "lb_check_inter_ms": 2000})
    name = standins.new_env_name("zato")
    base = tmp_path_factory.mktemp("zato-slow")
    inv: Inventory = standins.up(spec, base / name, name=name)
    try:
        z = ZatoStandin(inv, base / name)
        yield z, record_run(z, UPDATE, tmp_path_factory.mktemp("runs"))
    finally:
        standins.down(inv)


def test_slow_servers_restart_one_at_a_time_each_ready_before_the_next_stops(
        slow: tuple[ZatoStandin, RecordedRun]) -> None:
    _, run = slow
    assert run.outcome == Outcome.SUCCESS, run.run.journal_records()[-1]
    verdict = check_order(run.history)
    assert verdict.valid is True, verdict.explain()


def test_slow_servers_are_back_in_the_load_balancer_before_the_next_stops(
        slow: tuple[ZatoStandin, RecordedRun]) -> None:
    z, run = slow
    verdict = check_back_in_rotation(run.history, haproxy_states(z.env(), run.started, run.ended + 1))
    assert verdict.valid is True, verdict.explain()


