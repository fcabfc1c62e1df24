"""The BEAM stand-in itself, on each backend: nodes come up, answer, and leave nothing running."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import standins
from harness.errors import TransportError
from harness.procs import alive
from harness.products.beam.etf import Atom
from harness.products.beam.standin.patch_service import service_pidfile
from harness.products.beam.testing import BeamEnv, erlang_available, start_beam
from harness.pytest_plugin.backends import skip_unless_backend_runs

pytestmark = [pytest.mark.requires_erlang,
              pytest.mark.skipif(not erlang_available(), reason="erl/erlc (Debian erlang-base) not installed")]

def test_system_starts_answers_and_stops_clean(beam_backend: str, tmp_path: Path) -> None:
    skip_unless_backend_runs(beam_backend)
    env = start_beam(beam_backend, tmp_path, nodes=4, version="3.1.4")
    try:
        nodes = {n: env.node(n) for n in env.names}
        pids = {n: h.transport.get(h.layout.pidfile).decode().strip() for n, h in nodes.items()}
        master = nodes["master"]
        pids["service"] = master.transport.get(service_pidfile(master.layout)).decode().strip()
        infos = [a.info() for a in env.agents]
        assert {i["version"] for i in infos} == {"3.1.4"}
        assert [sorted(i["apps"]) for i in infos] == [  # the topology: odd workers billing, even ones gateway
            ["billing", "core", "patch_agent"], ["billing", "core", "patch_agent"],
            ["core", "gateway", "patch_agent"], ["billing", "core", "patch_agent"]]
        domain = env.agent("master").domain(Atom("info"))
        assert [d["node"] for d in domain] == [env.full_name(n) for n in ("master", "w1", "w2", "w3")]
        assert all(d["reachable"] for d in domain)
        assert env.agent("w2").state()["gw_legacy"]["value"] == 0
        assert env.agent("w2").md5s(["core_util", "billing_calc", "core_report"]) == {
            "core_util": env.agent("master").md5s(["core_util"])["core_util"],
            "billing_calc": "not_loaded", "core_report": "not_loaded"}
        # the root as the runbook describes it, installed on the node's own host
        assert master.transport.get(f"{master.layout.root}/VERSION") == b"3.1.4\n"
        assert env.agent("w1").info()["root"] == nodes["w1"].layout.root
    finally:
        standins.down(env.inventory)
    for agent in env.agents:
        with pytest.raises(TransportError):
            agent.info()
    if beam_backend == "process":  # a container takes its processes with it; here they must be gone by pid
        assert not [n for n, p in pids.items() if alive(int(p))]


def test_stopped_worker_is_an_unreachable_node(beam_fresh: BeamEnv) -> None:
    env = beam_fresh
    env.stop_nodes("w1")
    domain = env.agent("master").domain(Atom("info"))
    assert {d["node"]: d["reachable"] for d in domain} == {
        env.full_name("master"): True, env.full_name("w1"): False, env.full_name("w2"): True}
    env.reboot("w1")  # and a node started again rejoins the domain
    assert all(d["reachable"] for d in env.agent("master").domain(Atom("info")))
