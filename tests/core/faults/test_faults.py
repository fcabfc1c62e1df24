"""Faults on real processes: each kind does what it says to the node, and is undone at close."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import requests

from harness.faults import FaultError, Faults
from harness.faults.proxy import control
from harness.plan.models import Inventory
from tests.core.faults.conftest import ToyStandin, answers, pid_of, state_of

pytest_plugins = ["pytester"]
Toy = tuple[ToyStandin, Inventory]
REPO = Path(__file__).resolve().parents[3]


def url(inv: Inventory, comp: str) -> str:
    return next(c.url for c in inv.components if c.name == comp) + "/"


def direct(inv: Inventory, comp: str) -> str:
    return f"http://127.0.0.1:{inv.facts[comp]}/"


def test_kill_sigkills_and_close_starts_it_again(toy: Toy) -> None:
    st, inv = toy
    before = pid_of(inv, "web-a")
    with Faults(inv, hooks=st) as faults:
        faults.kill("web-a")
        assert state_of(before) in ("", "Z")
        assert not answers(direct(inv, "web-a"))
        assert answers(url(inv, "web-b")), "only the node named"
    after = pid_of(inv, "web-a")
    assert after != before and state_of(after) in ("R", "S")
    assert answers(url(inv, "web-a"))


def test_pause_stops_the_process_and_close_continues_it(toy: Toy) -> None:
    st, inv = toy
    pid = pid_of(inv, "web-b")
    with Faults(inv, hooks=st) as faults:
        faults.pause("vm-b")  # a host: every component on it
        assert state_of(pid) == "T"
        assert not answers(direct(inv, "web-b"), timeout=0.5)
    assert state_of(pid) in ("R", "S") and pid_of(inv, "web-b") == pid, "the same process, continued"
    assert answers(url(inv, "web-b"))


def test_stop_is_the_products_stop_and_close_starts_it(toy: Toy) -> None:
    st, inv = toy
    pid = pid_of(inv, "web-a")
    with Faults(inv, hooks=st) as faults:
        faults.stop("web-a")
        assert state_of(pid) in ("", "Z")
    assert answers(url(inv, "web-a"))


def test_cut_drops_the_hosts_links_through_its_proxy_and_close_heals(toy: Toy) -> None:
    st, inv = toy
    with requests.Session() as s:
        assert s.get(url(inv, "web-a"), timeout=5).ok
        with Faults(inv, hooks=st) as faults:
            faults.cut("web-a")
            with pytest.raises(requests.RequestException):
                s.get(url(inv, "web-a"), timeout=5)
            assert answers(direct(inv, "web-a")), "the node itself runs on"
            assert answers(url(inv, "web-b")), "the other host's links are untouched"
        assert s.get(url(inv, "web-a"), timeout=5).ok


def test_slow_delays_every_chunk_and_close_removes_it(toy: Toy) -> None:
    st, inv = toy
    with Faults(inv, hooks=st) as faults:
        faults.slow("web-b", 300)
        t0 = time.monotonic()
        assert requests.get(url(inv, "web-b"), timeout=30).ok
        assert time.monotonic() - t0 >= 0.3 * 2, "a request and its answer each held 300 ms at least"
    state = control(_control_port(inv, "vm-b"), "status")
    assert state["delay_ms"] == 0 and state["cut"] is False


def test_unknown_node_names_the_known_ones(toy: Toy) -> None:
    st, inv = toy
    with Faults(inv, hooks=st) as faults, pytest.raises(Exception, match="web-a, web-b"):
        faults.kill("web-z")


def test_a_fault_that_cannot_be_made_is_an_error_at_close(toy: Toy) -> None:
    _st, inv = toy
    faults = Faults(inv, hooks=ToyStandin.__new__(ToyStandin))
    faults._hooks = type("NoPids", (ToyStandin,), {"pidfiles": lambda self, i, c: ["/nonexistent/pid"]})()
    with pytest.raises(FaultError, match="no running process"):
        faults.kill("web-a")
    with pytest.raises(FaultError, match="kill on web-a"):
        faults.close()


def _control_port(inv: Inventory, host: str) -> int:
    import json

    return int(json.loads((Path(inv.state_dir or "") / "proxies" / f"{host}.json").read_text())["control"])


def test_proxies_end_with_the_environment(toy: Toy) -> None:
    st, inv = toy
    port = _control_port(inv, "vm-a")
    st.down(inv)
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def test_the_fault_fixture_undoes_a_pause_when_the_test_fails_mid_fault(pytester: pytest.Pytester,
                                                                          toy: Toy,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _st, inv = toy
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pid = pid_of(inv, "web-a")
    pytester.makepyfile(test_mid_fault=f'''
        import json
        from harness.plan.models import Inventory
        from tests.core.faults.conftest import ToyStandin, state_of

        def test_fails_while_paused(fault):
            inv = Inventory.model_validate(json.loads({inv.model_dump_json()!r}))
            fault(inv, hooks=ToyStandin()).pause("web-a")
            assert state_of({pid}) == "T"
            raise AssertionError("the test fails mid-fault")
    ''')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "0")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the test fails mid-fault*"])
    assert state_of(pid) in ("R", "S"), "continued at teardown although the test failed"
    assert answers(url(inv, "web-a"))
