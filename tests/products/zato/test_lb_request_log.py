"""Which server answered a request through the load balancer, as real Zato lets one tell: a Zato server names
no server in its answers (the stand-in's ``X-Zato-Server`` header is its own), but its load balancer's HAProxy
logs each request with the server it sent it to (``option httplog``, as ``zato create load-balancer`` writes).
Real HAProxy and stand-in servers, process backend; the header is what the log is checked against."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest
import requests

from harness.environment import Environment
from harness.plan.models import Inventory
from harness.probes import ProbeResult
from harness.products.zato import actions
from harness.products.zato.checks import LbRequestFollower, lb_request_servers, ping_probe, served
from harness.wait import wait_until

pytestmark = pytest.mark.requires_haproxy


@pytest.fixture
def zato2(make_standins: Callable[..., Inventory]) -> Inventory:
    return make_standins("zato", servers=2)


def test_the_lb_request_log_names_the_server_of_every_marked_request(zato2: Inventory) -> None:
    env = Environment.from_inventory(zato2)
    assert zato2.front_door
    with ping_probe(zato2.front_door, interval=0.005) as probe:
        wait_until(lambda: probe.result.sent >= 60, timeout=30, what="60 requests through the LB")
    answered = [s for s in probe.result.samples if s.ok]
    assert len(answered) >= 60 and all(s.request and s.served_by for s in answered)
    wait_until(lambda: len(lb_request_servers(env)) >= len(answered), timeout=10,
               what="HAProxy to log every request")  # logged once answered, through its syslog
    anonymous = ProbeResult([dataclasses.replace(s, served_by=None) for s in probe.result.samples])
    joined = served(env, anonymous)
    assert [s.served_by for s in joined.samples if s.ok] == [s.served_by for s in answered]
    assert set(joined.served_by()) == {"server1", "server2"}
    tail = lb_request_servers(env, tail=4096)
    assert tail and set(tail.items()) <= set(lb_request_servers(env).items())  # the last lines only


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


@pytest.fixture
def as_real_zato(monkeypatch: pytest.MonkeyPatch) -> None:
    """The procedure's requests get no ``X-Zato-Server`` in their answers: real Zato sends none."""
    real_get = requests.get

    def get(*args: Any, **kw: Any) -> requests.Response:
        r = real_get(*args, **kw)
        r.headers.pop("X-Zato-Server", None)
        return r

    monkeypatch.setattr(actions.requests, "get", get)


@pytest.mark.usefixtures("as_real_zato")
def test_a_server_back_in_rotation_is_seen_in_the_lb_log_when_no_answer_names_it(zato2: Inventory) -> None:
    env = Environment.from_inventory(zato2)
    seen = actions._wait_in_rotation(env, env.components["server2"], timeout=20)
    assert seen == {"in_rotation": True, "seen_in": "the LB's request log"}


@pytest.mark.usefixtures("as_real_zato")
def test_a_load_balancer_that_logs_no_request_gets_the_settle_time(zato2: Inventory,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("harness.products.zato.checks.LbRequestFollower.read", lambda self: {})
    env = Environment.from_inventory(zato2)
    assert actions._wait_in_rotation(env, env.components["server1"], timeout=20) == {}
