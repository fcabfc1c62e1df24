"""Old and new servers side by side: the rolling window of a Zato update, judged by the version that served.

"Chacune de ces mises à jour est toujours rétrocompatible avec la même version majeure" (seeds/000): while
the servers are restarted one by one, a cluster of 3.2.0 and 3.2.1 servers sharing one ODB has to work as
one. The update is paused inside that window — after server1's restart, before server2 stops, on the
event, not on a timer — and the cluster is used as a client would use it: a module is hot-deployed
through the server on the new version (its package lands in the shared ODB, where every server reads it),
then invoked through the load balancer. Every request is judged by the version that served it, from the
servers' own logs (:mod:`harness.products.zato.versions`). Then the update goes on to the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from harness.engine.runner import Run
from harness.engine.status import Outcome
from harness.environment import Environment
from harness.plan.models import Plan
from harness.probes import HttpProbe, ProbeResult
from harness.products.zato import odb, state
from harness.products.zato.checks import PROBE_MARK, ping_probe, served
from harness.products.zato.fixtures import ZatoStandin
from harness.products.zato.logs import parse_log
from harness.products.zato.versions import VersionTimeline, check_mixed_versions
from harness.wait import wait_until
from suites.zato.twins import fresh_zato

SIZES = (3,)
OLD, NEW = "3.2.0", "3.2.1"
UPDATE = Plan(procedure="zato-update", params={"revision": NEW}, ready_timeout=30, rollback="never")
PAUSE_AFTER = "start@server1"  # the first server back on the new version; the others still on the old
MODULE = "mixed_window.py"
SERVICE = "mixed-window.answer"  # Zato's name for mixed_window.Answer
SOURCE = b'''from zato.server.service import Service


class Answer(Service):
    def handle(self):
        self.response.payload = {"answer": "MIXED_WINDOW_OK", "server": self.server_name}
'''
CALLS = 45  # 15 per server on average: HAProxy sends them round robin


@dataclass
class Window:
    env: Environment
    outcome: Outcome | None
    running: dict[str, str | None]  # server -> the version it ran when the module was dropped
    verdicts: dict[str, str]  # server -> "deployed", or the line it logged refusing the module
    calls: ProbeResult  # the invocations of SERVICE through the load balancer, inside the window
    pings: ProbeResult  # /zato/ping through the load balancer for the whole update
    timeline: VersionTimeline


def _verdicts(env: Environment, offsets: dict[str, int]) -> dict[str, str]:
    """What each server logged of MODULE since ``offsets``: its ``Uploaded package`` line, or an error about it."""
    out: dict[str, str] = {}
    for s in odb.servers(env):
        for e in parse_log(state.read_log(s)[offsets[s.name]:]):
            if e.kind == "uploaded_package" and e.fields.get("payload_name") == MODULE:
                out[s.name] = "deployed"
            elif f"`{MODULE}`" in e.first_line and e.level in ("ERROR", "WARNING"):  # and the error's last line
                out.setdefault(s.name, f"{e.first_line[:200]} … {e.message.strip().splitlines()[-1][:200]}")
    return out


def _use_the_cluster(z: ZatoStandin) -> tuple[dict[str, str], ProbeResult]:
    """Hot-deploy MODULE through server1 (on the new version), wait for every server's word on it, invoke it."""
    env = z.env()
    server1 = env.components["server1"]
    offsets = {s.name: len(state.read_log(s)) for s in odb.servers(env)}
    server1.host.transport.put(f"{server1.path}/pickup/incoming/services/{MODULE}", SOURCE)
    found: dict[str, str] = {}

    def every_server_answered() -> bool:
        found.update(_verdicts(env, offsets))
        return len(found) == len(offsets)

    wait_until(every_server_answered, timeout=60, interval=0.05, what=f"every server's word on {MODULE}",
               details=lambda: f"so far: {found}")
    assert z.inventory.front_door
    calls = HttpProbe(f"{z.inventory.front_door.rstrip('/')}/zato/api/invoke/{SERVICE}", expect="MIXED_WINDOW_OK",
                      interval=0.01, max_requests=CALLS, max_seconds=120, mark=PROBE_MARK).start()
    wait_until(lambda: calls.result.sent >= CALLS, timeout=150, interval=0.05, what=f"{CALLS} invocations")
    return found, served(env, calls.stop())  # a real Zato names no server: its LB's request log does


@pytest.fixture(scope="module")
def zato(env_param: tuple[str, int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZatoStandin]:
    yield from fresh_zato(env_param, tmp_path_factory, UPDATE)


@pytest.fixture(scope="module")
def window(zato: ZatoStandin, tmp_path_factory: pytest.TempPathFactory) -> Window:
    assert zato.inventory.front_door
    env = zato.env()
    pings = ping_probe(zato.inventory.front_door, max_seconds=300)
    with pings:
        run = Run.create(UPDATE, zato.inventory, tmp_path_factory.mktemp("runs"))
        run.begin()
        outcome = run.advance(until=PAUSE_AFTER)
        if outcome is not None:  # the update ended before the window: nothing to use it for
            return Window(env, outcome, {}, {}, ProbeResult(), pings.stop(), VersionTimeline.collect(env))
        running = {s.name: state.running_version(s) for s in odb.servers(env)}
        verdicts, calls = _use_the_cluster(zato)
        outcome = run.advance()
    return Window(env, outcome, running, verdicts, calls, served(env, pings.result), VersionTimeline.collect(env))


def test_the_window_really_mixes_versions_when_the_cluster_is_used(window: Window) -> None:
    assert window.running == {"server1": NEW, "server2": OLD, "server3": OLD}, window.running


def test_a_module_hot_deployed_through_a_new_server_is_deployed_by_the_old_servers_too(window: Window) -> None:
    assert window.verdicts == dict.fromkeys(window.running, "deployed"), (
        f"while {window.running}: {window.verdicts}")


def test_its_invocations_in_the_window_succeed_whichever_version_served_them(window: Window) -> None:
    verdict = check_mixed_versions(window.calls, window.timeline, OLD, NEW)
    assert verdict.valid is True, verdict.explain()
    assert verdict.details["sent"] == CALLS, "every invocation was sent while old and new servers both served"
    print(f"{MODULE} invoked in the window: {verdict.details['by_version']}")


def test_pings_through_the_update_succeed_whichever_version_served_them(window: Window) -> None:
    verdict = check_mixed_versions(window.pings, window.timeline, OLD, NEW)
    assert verdict.valid is True, verdict.explain()
    print(f"pings in the window ({verdict.details.get('window_s')} s): {verdict.details['by_version']}")


def test_the_update_ends_with_every_server_on_the_new_version_serving_the_module(window: Window,
                                                                                zato: ZatoStandin) -> None:
    assert window.outcome == Outcome.SUCCESS
    assert {s.name: state.running_version(s) for s in odb.servers(window.env)} == dict.fromkeys(window.running, NEW)
    deployed = {r.server for r in odb.deployed_services(window.env) if r.service == SERVICE}
    assert deployed == set(window.running), "every server restarted on 3.2.1 deployed the module again"
