"""The BEAM stand-in itself: nodes come up, answer, and leave nothing running."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import TransportError
from harness.procs import alive
from harness.products.beam.etf import Atom
from harness.products.beam.standin.system import BeamSystem, NodeSpec, erlang_available

pytestmark = [pytest.mark.requires_erlang,
              pytest.mark.skipif(not erlang_available(), reason="erl/erlc (Debian erlang-base) not installed")]


def test_system_starts_answers_and_stops_clean(tmp_path: Path) -> None:
    topology = (NodeSpec("master", "master", ("core", "billing")), NodeSpec("w1", "worker", ("core",)),
                NodeSpec("w2", "worker", ("core", "gateway")), NodeSpec("w3", "worker", ("core",)))
    system = BeamSystem(tmp_path, version="3.1.4", topology=topology).start()
    pids = [n.proc.pid for n in system.nodes.values() if n.proc]
    try:
        infos = [a.info() for a in system.agents]
        assert {i["version"] for i in infos} == {"3.1.4"}
        assert [sorted(i["apps"]) for i in infos] == [
            ["billing", "core", "patch_agent"], ["core", "patch_agent"], ["core", "gateway", "patch_agent"],
            ["core", "patch_agent"]]
        domain = system.agent("master").domain(Atom("info"))
        assert [d["node"] for d in domain] == [system.full_name(n) for n in ("master", "w1", "w2", "w3")]
        assert all(d["reachable"] for d in domain)
        assert system.agent("w2").state()["gw_legacy"]["value"] == 0
        assert system.agent("w1").md5s(["core_util", "billing_calc", "core_report"]) == {
            "core_util": infos[1] and system.agent("master").md5s(["core_util"])["core_util"],
            "billing_calc": "not_loaded", "core_report": "not_loaded"}
    finally:
        system.stop()
    assert not any(alive(p) for p in pids)
    with pytest.raises(TransportError):
        system.agent("w1").info()


def test_stopped_worker_is_an_unreachable_node(tmp_path: Path) -> None:
    with BeamSystem(tmp_path).start() as system:
        node = system.nodes["w1"]
        system._stop_procs([node.proc])
        domain = system.agent("master").domain(Atom("info"))
        assert {d["node"]: d["reachable"] for d in domain}[node.node] is False
