"""Which server answered a request through the load balancer, as real Zato lets one tell: a Zato server names
no server in its answers (nor does the stand-in's), but its load balancer's HAProxy logs each request with the
server it sent it to (``option httplog``, as ``zato create load-balancer`` writes). Real HAProxy and stand-in
servers, process backend; what the log says is checked against which servers were up."""

from __future__ import annotations

import contextlib
import os
import re
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from harness.environment import ComponentHandle, Environment
from harness.errors import GateTimeout
from harness.plan.models import Inventory
from harness.products.zato import actions, state
from harness.products.zato.actions import stop_and_wait
from harness.products.zato.checks import (
    LbRequestFollower,
    config_logs_requests,
    haproxy_view,
    lb_logs_requests,
    lb_request_servers,
    ping_probe,
    request_servers,
    served,
)
from harness.products.zato.standin import STANDIN
from harness.tail import Tail
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
    assert seen["in_rotation"] is True and seen["seen_in"] == "the LB's request log" and seen["requests"] >= 1


def _lb(env: Environment) -> ComponentHandle:
    return next(c for c in env.components.values() if c.role == "load-balancer")


def _haproxy_pids(lb: ComponentHandle) -> list[int]:
    """HAProxy (LB/pidfile, as Zato's agent starts it: ``haproxy -D -p``) and any children of it."""
    return _tree(int(Path(lb.path, "pidfile").read_text()))


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return out


@contextlib.contextmanager
def _stopped(pids: list[int]) -> Iterator[None]:
    for p in pids:
        os.kill(p, signal.SIGSTOP)

    def state(pid: int) -> str:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]

    # a signal is delivered asynchronously: stopped once every process says so (T), as the pause fault waits
    wait_until(lambda: all(state(p) == "T" for p in pids), timeout=10, what="the processes to stop")
    try:
        yield
    finally:
        for p in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGCONT)


def test_an_lb_whose_config_logs_no_request_gets_the_settle_time(zato2: Inventory) -> None:
    """The LB restarted on a config without ``option httplog``: it logs no request, its config says so, and
    the wait settles after the first answer instead of waiting for a line that will not come."""
    env = Environment.from_inventory(zato2)
    lb = _lb(env)
    config = Path(lb.path, "config", "repo", "zato.config")
    assert lb_logs_requests(lb) is True
    stop_and_wait(lb)
    config.write_text(re.sub(r"(?m)^\s*option httplog.*$", "", config.read_text()))
    assert lb_logs_requests(lb) is False
    STANDIN.start_component(zato2, lb.name)
    size = state.haproxy_log_size(lb)
    seen = actions._wait_in_rotation(env, env.components["server1"], timeout=20)
    assert seen["in_rotation"] == "assumed" and "logs no requests" in seen["why"]
    since = Tail(lb.host.transport, state.haproxy_log_path(lb), size).read() or ""
    assert not request_servers(since, "harness-probe")  # it really logged none


def test_a_silent_lb_log_is_no_reason_to_settle(zato2: Inventory) -> None:
    """The LB answers but its syslog (the stand-in's agent) is stopped, so no request is logged although its
    config logs them: the wait does not take the silence for an LB without httplog and times out, naming what
    it waited for (before, it settled after 25 unlogged answers)."""
    env = Environment.from_inventory(zato2)
    lb = _lb(env)
    agent = int(Path(lb.path, "zato-lb-agent.pid").read_text())  # the LB's pidfile is HAProxy's
    haproxy = set(_haproxy_pids(lb))
    with _stopped([p for p in _tree(agent) if p not in haproxy]):
        with pytest.raises(GateTimeout, match="request log to show it sending a request to server1"):
            actions._wait_in_rotation(env, env.components["server1"], timeout=2)
        assert requests.get(zato2.front_door + "/zato/ping", timeout=5).ok  # HAProxy itself served all along


def test_a_paused_lb_fails_the_wait(zato2: Inventory) -> None:
    env = Environment.from_inventory(zato2)
    lb = _lb(env)
    agent = int(Path(lb.path, "zato-lb-agent.pid").read_text())  # the LB's pidfile is HAProxy's
    with _stopped(sorted(set(_tree(agent)) | set(_haproxy_pids(lb)))), pytest.raises(GateTimeout):
        actions._wait_in_rotation(env, env.components["server1"], timeout=2)


@pytest.mark.parametrize(("config", "logs"), [
    ("global\n log 127.0.0.1:514 local0 debug # ZATO global:log\ndefaults\n log global\n"
     "frontend f\n option httplog # ZATO frontend\n", True),
    ("global\n log 127.0.0.1:514 local0\nfrontend f\n", False),                # no httplog
    ("defaults\n log global\nfrontend f\n option httplog\n", False),          # `log global` but no global log
    ("global\n#  log 127.0.0.1:514 local0\nfrontend f\n option httplog\n", False),  # commented out
    ("global\n log /dev/log local0\nfrontend f\n    option  httplog clf\n", True),
])
def test_whether_a_config_logs_requests(config: str, logs: bool) -> None:
    assert config_logs_requests(config) is logs
