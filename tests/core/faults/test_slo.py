"""SLO gates: judged from the probe while the run goes on; a breach rolls the run back; unknown never passes."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.checks.slo import judge
from harness.engine.runner import Run
from harness.engine.status import Outcome
from harness.engine.step import Step
from harness.errors import ConfigError
from harness.plan.models import FaultSpec, Inventory, Plan, SloSpec
from harness.probes import ProbeResult, Sample
from harness.testing import FakeAction, fake_actions, fake_procedure
from tests.core.faults.conftest import ToyStandin

STEPS = [Step("one@web-a", "web-a", "toy.do"), Step("two@web-b", "web-b", "toy.do")]


def sample(t: float, ok: bool) -> Sample:
    return Sample(t, 0.01, ok, 200 if ok else None, None, None if ok else "ConnectionError")


def test_judge_counts_failures_and_the_longest_outage() -> None:
    spec = SloSpec(max_failed_requests=1, max_unavailable_ms=500)
    assert judge(ProbeResult([]), spec).valid == "unknown"
    good = ProbeResult([sample(0, True), sample(0.1, False), sample(0.2, True)])
    assert judge(good, spec).valid is True
    bad = ProbeResult([sample(0, True), sample(0.1, False), sample(0.2, False), sample(0.3, True)])
    v = judge(bad, spec)
    assert v.valid is False and "2 failed requests > max_failed_requests 1" in v.details["breaches"]
    long = ProbeResult([sample(0, False), sample(1.0, False)])
    assert "unavailable 1010 ms > max_unavailable_ms 500" in judge(long, SloSpec(max_unavailable_ms=500)).details[
        "breaches"]
    with pytest.raises(ValidationError, match="max_failed_requests and/or"):
        SloSpec()


def run(inv: Inventory, st: ToyStandin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **plan: object) -> Run:
    monkeypatch.setattr("harness.standins.standin", lambda product: st)
    front = inv.model_copy(update={"front_door": next(c.url for c in inv.components if c.name == "web-a")})
    with fake_procedure("toy-proc", STEPS), fake_actions({"toy.do": FakeAction()}):
        r = Run.create(Plan(procedure="toy-proc", target="inv.yaml", **plan), front, tmp_path / "runs")  # type: ignore[arg-type]
        r.begin()
        r.run_forward()
    return r


def test_the_run_passes_while_the_front_door_answers(toy: tuple[ToyStandin, Inventory], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    st, inv = toy
    r = run(inv, st, tmp_path, monkeypatch, slo=SloSpec(max_failed_requests=0))
    assert r.outcome == Outcome.SUCCESS
    slo = [x for x in r.journal_records() if x["event"] == "slo"]
    assert slo[-1]["status"] == "pass" and slo[-1]["final"] is True and slo[-1]["details"]["sent"] > 0


def test_a_breach_stops_the_run_and_rolls_it_back(toy: tuple[ToyStandin, Inventory], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    st, inv = toy
    r = run(inv, st, tmp_path, monkeypatch, slo=SloSpec(max_failed_requests=0, interval_ms=5),
            faults=[FaultSpec(kind="stop", step="one@web-a", at="before", undo="teardown")])
    assert r.outcome == Outcome.ROLLED_BACK
    last = r.journal_records()[-1]
    assert "SLO breached" in last["reason"], last
    assert "two@web-b" not in [x["step"] for x in r.journal_records() if x["event"] == "step"], \
        "no step after the breach"


def test_no_front_door_is_refused_before_anything_runs(toy: tuple[ToyStandin, Inventory], tmp_path: Path) -> None:
    _st, inv = toy
    with fake_procedure("toy-proc", STEPS), fake_actions({"toy.do": (do := FakeAction())}):
        r = Run.create(Plan(procedure="toy-proc", target="inv.yaml", slo=SloSpec(max_failed_requests=0)), inv,
                       tmp_path / "runs")
        with pytest.raises(ConfigError, match="front door"):
            r.begin()
    assert do.ran == []
