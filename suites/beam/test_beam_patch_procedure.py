"""The executor's ``beam-patch`` procedure on real BEAM nodes (runbook seeds/003).

One 3-node system per backend is shared by the module (``harness.standins`` registry, as
``harness standins up beam`` starts it); every test builds its own patch (a unique tag, so a new md5)
and judges what the nodes report through their agents, not the executor's journal.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from harness.cli import app as cli
from harness.engine.crashpoints import CRASH_AT
from harness.engine.journal import read_journal
from harness.engine.runner import Run
from harness.engine.status import Outcome
from harness.plan.models import Plan
from harness.products.beam import PatchRefused
from harness.products.beam.standin import SOURCES
from harness.products.beam.testing import BeamEnv, erlang_available, variant, zip_bytes
from harness.pytest_plugin.backends import environment, release

pytestmark = [pytest.mark.requires_erlang,
              pytest.mark.skipif(not erlang_available(), reason="erl/erlc (Debian erlang-base) not installed")]

SIZES = (3,)
SSH_BACKEND = True  # CI runs this suite through SSH-only stand-ins too (docker-ssh)
SRC = {m: p for p in SOURCES.glob("*/src/*.erl") for m in [p.stem]}
APP = {m: p.parent.parent.name for m, p in SRC.items()}
MODULES = ["core_util", "core_counter", "billing_calc", "billing_srv", "gw_legacy", "core_report"]


@pytest.fixture(scope="module")
def beam(env_param: tuple[str, int], request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[BeamEnv]:
    """The system for the module: new stand-ins per backend (docker-ssh too), or ``--harness-target``'s."""
    backend, nodes = env_param
    inv = environment(request.config, "beam", backend, tmp_path_factory.mktemp("beam"), nodes=nodes)
    try:
        yield BeamEnv(inv)
    finally:
        release(inv)


@pytest.fixture(autouse=True)
def _no_archive_left(beam: BeamEnv) -> Iterator[None]:
    """Each test starts with no archive stored, whatever the one before it left (a failed kill test
    leaves its archive until its resume): a stored archive would fail the next test's checks."""
    yield
    if not no_archive_stored(beam):
        beam.domain.client().delete()


def sources(tmp: Path, modules: dict[str, str], *, on_load_error: frozenset[str] = frozenset()) -> list[str]:
    d = tmp / secrets.token_hex(4)
    return [f"{APP[m]}:{variant(SRC[m], d, tag, on_load_error=m in on_load_error)}" for m, tag in modules.items()]


def plan(**params: Any) -> Plan:
    return Plan(procedure="beam-patch", params={"version": "2.7.1", **params})


def run(env: BeamEnv, p: Plan, runs: Path) -> Run:
    r = Run.create(p, env.inventory, runs)
    r.begin()
    r.run_forward()
    return r


def write_plan(path: Path, **params: Any) -> Path:
    path.write_text(yaml.safe_dump({"procedure": "beam-patch", "params": params}))
    return path


def harness(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)


def no_archive_stored(env: BeamEnv) -> bool:
    try:
        env.domain.client().composition()
    except PatchRefused as exc:
        return bool(exc.http_status == 404)  # http_status is Any to mypy
    return False


# ---- success, state, idempotence -------------------------------------------------------------

def test_run_patches_every_node_keeps_state_and_second_run_changes_nothing(beam: BeamEnv, tmp_path: Path) -> None:
    for a in beam.agents:
        a.bump()
    state_before = {n: beam.domain.agent(n).state() for n in beam.domain.names}
    md5_before = beam.md5s(["core_util", "core_counter", "billing_calc"])
    tag = secrets.token_hex(3)
    p = plan(sources=sources(tmp_path, {"core_util": tag, "core_counter": tag, "billing_calc": tag}))

    first = run(beam, p, tmp_path / "runs")
    assert first.outcome == Outcome.SUCCESS, [(r.step.id, r.reason) for r in first.records.values()]
    checked = first.observations["check@master"]["nodes"]
    after = beam.md5s(["core_util", "core_counter", "billing_calc"])
    for node, mods in checked.items():
        for path, m in mods.items():
            module = Path(path).stem
            if m["status"] == "ok":
                assert after[node][module] == m["md5_new"] != md5_before[node][module], (node, module)
            else:  # billing_calc on the gateway node
                assert (m["status"], after[node][module]) == ("not_loaded", "not_loaded"), (node, module)
    assert checked["w2"]["billing/ebin/billing_calc.beam"]["status"] == "not_loaded"
    # the long-lived processes: same pid, state kept, and they answer on the new code
    assert {n: beam.domain.agent(n).state() for n in beam.domain.names} == state_before
    assert beam.domain.agent("w1").bump()["core_counter"] == state_before["w1"]["core_counter"]["value"] + 1
    assert no_archive_stored(beam)

    snap = beam.snapshot(MODULES)
    second = run(beam, p, tmp_path / "runs")
    assert second.outcome == Outcome.SUCCESS
    skipped = {sid: r.reason for sid, r in second.records.items() if r.status.value == "skipped"}
    assert set(skipped) == {"apply@master", *(f"capture@{n}" for n in beam.domain.names)}
    assert "nothing to apply" in skipped["apply@master"]
    assert beam.snapshot(MODULES) == snap
    assert no_archive_stored(beam)


# ---- the mixed-version window: the nodes run two versions while the patch is applied --------------------

def installed_source(env: BeamEnv, module: str, out: Path) -> Path:
    """The module's source as the system was built from it (the master host's copy), where a fix starts."""
    master = env.node(env.domain.master)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{module}.erl"
    path.write_bytes(master.transport.get(f"{master.layout.sources}/{APP[module]}/src/{module}.erl"))
    return path


def node_log(env: BeamEnv, name: str) -> list[str]:
    n = env.node(name)
    return n.transport.get(n.layout.log).decode(errors="replace").splitlines()


def test_no_node_records_a_failure_while_the_patch_is_applied(beam: BeamEnv, tmp_path: Path) -> None:
    """Every node bumps its counter (the nodes talk: what one does, the others may hear of), then a patch of
    core_util, built from the system's own source, is applied: while it is, the nodes run two versions of
    it. No node's log may record an error from the run's start to its end, and every long-lived process
    keeps its pid and state (what the nodes' agents report)."""
    for a in beam.agents:
        a.bump()
    state_before = {n: beam.domain.agent(n).state() for n in beam.domain.names}
    seen = {n: len(node_log(beam, n)) for n in beam.domain.names}
    fix = variant(installed_source(beam, "core_util", tmp_path / "installed"), tmp_path / "fix", secrets.token_hex(3))
    r = run(beam, plan(sources=[f"core:{fix}"]), tmp_path / "runs")
    errors = {n: [line for line in node_log(beam, n)[seen[n]:] if " error: " in line] for n in beam.domain.names}
    assert not any(errors.values()), errors
    assert {n: beam.domain.agent(n).state() for n in beam.domain.names} == state_before
    assert r.outcome == Outcome.SUCCESS, [(x.step.id, x.reason) for x in r.records.values()]


# ---- refusal: check integral 1-4 --------------------------------------------------------------

def test_refused_when_the_check_integral_is_below_not_changed(beam: BeamEnv, tmp_path: Path) -> None:
    good = sources(tmp_path, {"core_util": "refused"})[0].partition(":")[2]
    subprocess.run(["erlc", "-o", str(tmp_path), good], check=True)
    archive = tmp_path / "mixed.zip"
    archive.write_bytes(zip_bytes([("core/ebin/core_util.beam", (tmp_path / "core_util.beam").read_bytes()),
                                   ("core/ebin/junk.beam", b"not an Erlang module")]))
    before = beam.snapshot(MODULES)
    res = harness("run", str(write_plan(tmp_path / "p.yaml", archive=str(archive))), "--target", str(beam.path),
                  cwd=tmp_path)
    assert res.returncode == 4, res.stdout + res.stderr
    out = " ".join(res.stderr.split())
    assert "integral status is not_beam (2)" in out
    for node in beam.domain.names:  # the per-node table
        assert f"{node} core/ebin/junk.beam not_beam (2)" in out
        assert f"{node} core/ebin/core_util.beam ok (6)" in out
    assert beam.snapshot(MODULES) == before
    assert no_archive_stored(beam)


# ---- rollback by anti-patch -------------------------------------------------------------------

def test_apply_below_not_changed_rolls_back_every_md5(beam: BeamEnv, tmp_path: Path) -> None:
    before = beam.snapshot(MODULES)
    tag = secrets.token_hex(3)
    # core_util's on_load fails on every node (error=1, only visible at apply); billing_calc loads
    p = plan(sources=sources(tmp_path, {"billing_calc": tag, "core_util": tag, "core_report": tag},
                             on_load_error=frozenset({"core_util"})))
    r = run(beam, p, tmp_path / "runs")
    assert r.outcome == Outcome.ROLLED_BACK
    applied = r.observations["apply@master"]["nodes"]
    assert applied["master"]["billing/ebin/billing_calc.beam"]["status"] == "ok"
    assert {n: applied[n]["core/ebin/core_util.beam"]["status"] for n in applied} == dict.fromkeys(applied, "error")
    records = [x for x in read_journal(r.run_dir / "journal.jsonl") if x["event"] == "rollback_step"
               and x["status"] != "started"]
    assert {x["step"] for x in records} == {*(f"rb-restore@{n}" for n in beam.domain.names), "rb-delete@master"}
    assert beam.snapshot(MODULES) == before  # every loaded md5 and every file under lib, on every node
    assert no_archive_stored(beam)


# ---- kill + resume ------------------------------------------------------------------------------

@pytest.mark.parametrize("point", ["step:apply@master:after-start", "step:apply@master:after-action"],
                         ids=["before-the-apply-call", "after-it-returned"])
def test_killed_executor_is_resumed_without_redoing_finished_steps(beam: BeamEnv, tmp_path: Path,
                                                                    point: str) -> None:
    """The executor SIGKILLs itself at the kill point (``HARNESS_CRASH_AT``, on the event, never on a clock):
    once it journaled apply@master started and before it called the service, or once the service had applied
    and before the executor recorded it. Either way the resume re-checks apply on the nodes, redoes nothing
    that ended, and leaves every node on the new code with its state."""
    runs = Path(os.environ["HARNESS_RUNS_DIR"])
    known = set(runs.glob("*/journal.jsonl"))
    tag = secrets.token_hex(3)
    p = write_plan(tmp_path / "p.yaml", sources=sources(tmp_path, {"core_util": tag, "core_counter": tag}),
                   version="2.7.1")
    state_before = {n: beam.domain.agent(n).state() for n in beam.domain.names}
    md5_before = beam.md5s(["core_util", "core_counter"])
    killed = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(p), "--target", str(beam.path)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
                            env={**os.environ, CRASH_AT: point})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    (journal,) = set(runs.glob("*/journal.jsonl")) - known
    records = read_journal(journal)
    last = records[-1]
    assert (last["step"], last["status"]) == ("apply@master", "started"), "the kill landed on apply, in flight"
    done_before = {x["step"] for x in records if x["event"] == "step" and x["status"] == "ok"}
    assert {"upload@master", "check@master"} <= done_before and "apply@master" not in done_before
    # what the nodes say at the kill: the service applied (after it returned) or not yet (before the call)
    at_kill = beam.md5s(["core_util", "core_counter"])
    if point.endswith("after-action"):
        assert all(at_kill[n] != md5_before[n] for n in beam.domain.names), "the service applied before the kill"
    else:
        assert at_kill == md5_before, "nothing was applied before the call"

    res = harness("resume", str(journal.parent), cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    records = read_journal(journal)
    starts = [x["step"] for x in records if x["event"] == "step" and x["status"] == "started"]
    for step in done_before:
        assert starts.count(step) == 1, f"{step} was redone after the resume"
    assert [x["step"] for x in records if x.get("interrupted")] == ["apply@master"], "re-checked, not assumed"
    ends = {x["step"]: x["status"] for x in records if x["event"] == "step" and x["status"] != "started"}
    assert all(ends[f"verify@{n}"] == "ok" for n in beam.domain.names)
    after = beam.md5s(["core_util", "core_counter"])
    assert all(after[n] != md5_before[n] for n in beam.domain.names), "every node runs the new code"
    assert {n: beam.domain.agent(n).state() for n in beam.domain.names} == state_before
    assert no_archive_stored(beam)


# ---- bad plan input -------------------------------------------------------------------------------

BAD = {
    "no-version": ({"sources": ["core:{src}"]}, "params.version"),
    "both": ({"sources": ["core:{src}"], "archive": "{src}", "version": "2.7.1"}, "params"),
    "missing-archive": ({"archive": "nope.zip"}, "params.archive"),
    "bad-source": ({"sources": ["core_util.erl"], "version": "2.7.1"}, "params.sources.0"),
    "unknown-param": ({"archive": "{src}", "reboot": True}, "params"),
    "wrong-version": ({"sources": ["core:{src}"], "version": "2.6.0"}, "built for system 2.6.0"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_plan_input_exits_4_and_loads_nothing(beam: BeamEnv, tmp_path: Path, case: str) -> None:
    params, where = BAD[case]
    src = variant(SRC["core_util"], tmp_path, f"bad-{case}")
    text = json.dumps(params).replace("{src}", str(src))
    before = beam.snapshot(MODULES)
    r = CliRunner().invoke(cli, ["run", str(write_plan(tmp_path / "p.yaml", **json.loads(text))),
                                 "--target", str(beam.path)])
    assert r.exit_code == 4, r.output
    message = " ".join(r.output.split())
    assert where in message and "nothing was changed on any node" in message
    if where.startswith("params"):
        assert "Hint:" in message
    assert beam.snapshot(MODULES) == before
    assert no_archive_stored(beam)
