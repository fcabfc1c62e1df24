"""Which server answered a request through the load balancer, as real Zato lets one tell: a Zato server names
no server in its answers (nor does the stand-in's), but its load balancer's HAProxy logs each request with the
server it sent it to (``option httplog``, as ``zato create load-balancer`` writes). Real HAProxy and stand-in
servers, process backend; what the log says is checked against which servers were up."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from harness.environment import Environment
from harness.plan.models import Inventory
from harness.products.zato import actions
from harness.products.zato.checks import LbRequestFollower, haproxy_view, lb_request_servers, ping_probe, served
from harness.products.zato.standin import STANDIN
from harness.wait import wait_until

pytestmark = pytest.mark.requires_haproxy


@pytest.fixture
def zato2(make_standins: Callable[..., Inventory]) -> Inventory:
    return make_standins("zato", servers=2)


def test_the_lb_request_log_names_the_server_of_every_marked_request(zato2: Inventory) -> None:
    """Both servers up: every answered request is attributed, to both of them; server1 stopped: every request
    answered meanwhile went to server2, as the log says."""
    env = Environment.from_inventory(zato2)
    assert zato2.front_door
    with ping_probe(zato2.front_door, interval=0.005) as both:
        wait_until(lambda: both.result.sent >= 60, timeout=30, what="60 requests through the LB")
    assert not any(s.served_by for s in both.result.samples)  # no answer names its server
    answered = [s for s in both.result.samples if s.ok]
    assert len(answered) >= 60
    wait_until(lambda: len(lb_request_servers(env)) >= len(answered), timeout=10,
               what="HAProxy to log every request")  # logged once answered, through its syslog
    joined = served(env, both.result)
    assert all(s.served_by in ("server1", "server2") for s in joined.samples if s.ok)
    assert set(joined.served_by()) == {"server1", "server2"}
    tail = lb_request_servers(env, tail=4096)
    assert tail and set(tail.items()) <= set(lb_request_servers(env).items())  # the last lines only

    STANDIN.stop_component(zato2, "server1")  # zato stop, as an operator would
    wait_until(lambda: _down_in_lb(env, "server1"), timeout=20, what="HAProxy to mark server1 down")
    with ping_probe(zato2.front_door, interval=0.005) as one:
        wait_until(lambda: one.result.sent >= 30, timeout=30, what="30 requests through the LB")
    alone = served(env, one.result)
    assert len([s for s in alone.samples if s.ok]) >= 30
    wait_until(lambda: all(s.served_by for s in served(env, one.result).samples if s.ok), timeout=10,
               what="HAProxy to log them")
    assert set(served(env, one.result).served_by()) == {"server2"}


def _down_in_lb(env: Environment, server: str) -> bool:
    view = haproxy_view(next(c for c in env.components.values() if c.role == "load-balancer"))
    return view is not None and view[server].state == "DOWN"


def test_a_follower_of_the_lb_log_reads_only_what_it_gained(zato2: Inventory) -> None:
    """What a polling wait reads: each read takes the complete lines written since the last one, and what it
    found adds up; a follower made with nothing to look back on sees only the requests sent after it."""
    env = Environment.from_inventory(zato2)
    assert zato2.front_door
    with ping_probe(zato2.front_door, interval=0.005, max_requests=20) as early:
        wait_until(lambda: early.result.sent >= 20, timeout=30, what="20 requests through the LB")
    wait_until(lambda: len(lb_request_servers(env)) >= 20, timeout=10, what="HAProxy to log them")
    follower, fresh = LbRequestFollower(env), LbRequestFollower(env, back=0)
    assert {s.request for s in early.result.samples} <= set(follower.read())
    offsets = dict(follower.offsets)
    assert follower.read() and follower.offsets == offsets  # nothing new: nothing more read
    with ping_probe(zato2.front_door, interval=0.005, max_requests=10) as late:
        wait_until(lambda: late.result.sent >= 10, timeout=30, what="10 more requests")
    late_ids = {s.request for s in late.result.samples}
    wait_until(lambda: late_ids <= set(follower.read()), timeout=10, what="the follower to see the late ones")
    assert all(follower.offsets[n] > offsets[n] for n in offsets)
    assert {s.request for s in early.result.samples} <= set(follower.servers)  # found before, kept
    wait_until(lambda: late_ids <= set(fresh.read()), timeout=10, what="the fresh follower to see them")
    assert not {s.request for s in early.result.samples} & set(fresh.servers)
    assert {fresh.servers[r] for r in late_ids} <= {"server1", "server2"}


def test_a_server_back_in_rotation_is_seen_in_the_lb_log(zato2: Inventory) -> None:
    env = Environment.from_inventory(zato2)
    seen = actions._wait_in_rotation(env, env.components["server2"], timeout=20)
    assert seen == {"in_rotation": True, "seen_in": "the LB's request log"}


def test_a_load_balancer_that_logs_no_request_gets_the_settle_time(zato2: Inventory,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("harness.products.zato.checks.LbRequestFollower.read", lambda self: {})
    env = Environment.from_inventory(zato2)
    assert actions._wait_in_rotation(env, env.components["server1"], timeout=20) == {}
