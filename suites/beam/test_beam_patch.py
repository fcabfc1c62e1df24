"""Hot patch of an Erlang-based system (runbook seeds/003): conformance on real BEAM nodes.

One 3-node system (master, w1, w2) per backend (process; docker where an engine runs) is shared by the
tests of this module that do not conflict; the ones that change the system for good (update,
not_updated, reboot) start a fresh one per test, on each backend. Every system comes from the stand-in
registry (``harness.standins.up``), as ``harness standins up beam`` starts it.
"""

from __future__ import annotations

import secrets
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from typer.testing import CliRunner

from harness.cli import app as cli
from harness.products.beam import AntiPatch, PatchClient, PatchRefused, Status, build_patch
from harness.products.beam.standin import SOURCES
from harness.products.beam.testing import (
    BeamEnv,
    erlang_available,
    snapshot,
    symlink_info,
    variant,
    zip_bytes,
)
from harness.pytest_plugin.backends import environment, release

pytestmark = [pytest.mark.requires_erlang,
              pytest.mark.skipif(not erlang_available(), reason="erl/erlc (Debian erlang-base) not installed")]

SRC = {m: p for p in SOURCES.glob("*/src/*.erl") for m in [p.stem]}
APP = {m: p.parent.parent.name for m, p in SRC.items()}
ALL = ("master", "w1", "w2")
SIZES = (3,)
SSH_BACKEND = True  # CI runs this suite through SSH-only stand-ins too (docker-ssh)


def _build(tmp: Path, modules: dict[str, str], version: str = "2.7.1",
           on_load_error: frozenset[str] | set[str] = frozenset()) -> Path:
    """Patch of stand-in ``modules`` each changed with ``tag`` (module -> tag)."""
    d = tmp / secrets.token_hex(4)
    specs = [f"{APP[m]}:{variant(SRC[m], d, tag, on_load_error=m in on_load_error)}" for m, tag in modules.items()]
    out: Path = build_patch(specs, version, d / "patch.zip")
    return out


@pytest.fixture(scope="module")
def system(env_param: tuple[str, int], request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[BeamEnv]:
    """The system for the module: new stand-ins per backend (docker-ssh too), or ``--harness-target``'s."""
    backend, nodes = env_param
    inv = environment(request.config, "beam", backend, tmp_path_factory.mktemp("beam"), nodes=nodes)
    try:
        yield BeamEnv(inv)
    finally:
        release(inv)


@pytest.fixture
def fresh(beam_fresh: BeamEnv) -> BeamEnv:
    """A system of the test's own, on each backend: these tests change it for good."""
    return beam_fresh


def admin(s: BeamEnv) -> PatchClient:
    return s.client("admin")


def node_statuses(result, path: str) -> dict[str, Status]:  # type: ignore[no-untyped-def]
    return {short: result.node(short).status_of(path) for short in ALL}


# ---- statuses -------------------------------------------------------------------------------

def test_every_status_code_for_real(fresh: BeamEnv, tmp_path: Path) -> None:
    c = admin(fresh)
    good = _build(tmp_path, {"core_util": "a", "billing_calc": "a", "core_report": "a", "gw_legacy": "a"})
    with zipfile.ZipFile(good) as zf:
        entries = [(n, zf.read(n)) for n in zf.namelist() if n != "patch-manifest.json"]
    util = dict(entries)["core/ebin/core_util.beam"]
    mixed = zip_bytes([*entries, ("core/ebin/junk.beam", b"this is not BEAM"),         # not_beam
                                 ("core/ebin/renamed.beam", util),                       # module name != file
                                 ("core/ebin/billing_calc.beam", dict(entries)["billing/ebin/billing_calc.beam"]),
                                 ("core_util.beam", util)])                              # not the layout
    c.upload(mixed)
    check = c.check()
    assert node_statuses(check, "core/ebin/core_util.beam") == dict.fromkeys(ALL, Status.OK)
    assert node_statuses(check, "billing/ebin/billing_calc.beam") == {
        "master": Status.OK, "w1": Status.OK, "w2": Status.NOT_LOADED}
    assert node_statuses(check, "core/ebin/core_report.beam") == dict.fromkeys(ALL, Status.NOT_LOADED)
    assert node_statuses(check, "gateway/ebin/gw_legacy.beam") == {
        "master": Status.NOT_LOADED, "w1": Status.NOT_LOADED, "w2": Status.OK}
    for path in ("core/ebin/renamed.beam", "core/ebin/billing_calc.beam", "core_util.beam"):
        assert node_statuses(check, path) == dict.fromkeys(ALL, Status.WRONG_PATH), path
    assert node_statuses(check, "core/ebin/junk.beam") == dict.fromkeys(ALL, Status.NOT_BEAM)
    assert check.integral == Status.NOT_BEAM
    before = fresh.agent("w1").md5s(["core_util"])

    applied = c.apply()
    assert {n.node: n.integral for n in applied.nodes} == {n.node: n.integral for n in check.nodes}
    assert fresh.agent("w1").md5s(["core_util"]) != before
    assert fresh.agent("w1").md5s(["renamed", "junk"]) == {"renamed": "not_loaded", "junk": "not_loaded"}

    # gw_legacy's loop now runs old code: a second version cannot switch (not_updated); an on_load
    # failure is a load error (error) and leaves the current code.
    c.upload(_build(tmp_path, {"gw_legacy": "b", "core_util": "b"}, on_load_error={"core_util"}))
    md5_before = {short: fresh.agent(short).md5s(["core_util", "gw_legacy"]) for short in ALL}
    assert c.check().node("w2").status_of("gateway/ebin/gw_legacy.beam") == Status.NOT_UPDATED
    second = c.apply()
    assert node_statuses(second, "core/ebin/core_util.beam") == dict.fromkeys(ALL, Status.ERROR)
    assert node_statuses(second, "gateway/ebin/gw_legacy.beam") == {
        "master": Status.NOT_LOADED, "w1": Status.NOT_LOADED, "w2": Status.NOT_UPDATED}
    assert second.integral == Status.ERROR and second.exit_code == 11
    assert {short: fresh.agent(short).md5s(["core_util", "gw_legacy"]) for short in ALL} == md5_before
    nodes = {n["node"]: n for n in c.nodes()}
    assert nodes[fresh.full_name("w2")]["reboot_required"] == ["gw_legacy"]
    assert fresh.agent("w2").state()["gw_legacy"]["value"] == 0  # not killed

    # The manual reboot picks the new code up from disk.
    new_md5 = next(m.md5_new for m in second.node("w2").modules if m.module == "gw_legacy")
    assert fresh.agent("w2").md5s(["gw_legacy"])["gw_legacy"] != new_md5
    fresh.reboot("w2")
    assert fresh.agent("w2").md5s(["gw_legacy"])["gw_legacy"] == new_md5
    assert fresh.agent("w2").info()["reboot_required"] == []


def test_idempotence_same_patch_twice(system: BeamEnv, tmp_path: Path) -> None:
    c = admin(system)
    c.upload(_build(tmp_path, {"core_util": "idem", "billing_calc": "idem"}))
    first = c.apply()
    assert first.integral == Status.NOT_LOADED or first.integral >= Status.NOT_CHANGED
    loaded = {(n.node, m.module): m.md5_new for n in first.nodes for m in n.modules if m.status == Status.OK}
    assert loaded, "the first apply loaded nothing: the second one would prove nothing"
    # what the nodes run now (their agents' md5 of the loaded code) is what the first apply loaded
    md5s = {n.node: system.agent(short).md5s(["core_util", "billing_calc"]) for short in ALL
            for n in first.nodes if n.node == system.full_name(short)}
    assert {key: md5s[key[0]][key[1]] for key in loaded} == loaded
    second = c.apply()
    for n1, n2 in zip(first.nodes, second.nodes, strict=True):
        for m1, m2 in zip(n1.modules, n2.modules, strict=True):
            assert m2.status == (Status.NOT_CHANGED if m1.status == Status.OK else m1.status)
    assert Status.OK not in {m.status for n in second.nodes for m in n.modules}
    assert second.exit_code == 0
    assert {n.node: system.agent(short).md5s(["core_util", "billing_calc"]) for short in ALL
            for n in second.nodes if n.node == system.full_name(short)} == md5s  # the second changed nothing


def test_anti_patch_round_trip_restores_every_md5(system: BeamEnv, tmp_path: Path) -> None:
    c = admin(system)
    patch = _build(tmp_path, {"core_util": "anti", "billing_calc": "anti", "core_report": "anti"})
    paths = ["core/ebin/core_util.beam", "billing/ebin/billing_calc.beam", "core/ebin/core_report.beam",
             "core/ebin/brand_new.beam"]
    before = snapshot(system.agents)
    anti = AntiPatch.capture(system.agents, paths)
    c.upload(patch)
    assert c.apply().integral >= Status.NOT_CHANGED
    assert anti.verify(), "the patch changed nothing?"
    restored = anti.restore()
    assert restored.integral >= Status.NOT_CHANGED
    assert anti.verify() == {}
    assert snapshot(system.agents) == before
    saved = AntiPatch.load(anti.save(tmp_path / "anti.json"))
    assert saved.expected_md5s() == anti.expected_md5s()


def test_patching_keeps_processes_and_state(system: BeamEnv, tmp_path: Path) -> None:
    for a in system.agents:
        a.bump()
    before = {short: system.agent(short).state() for short in ALL}
    c = admin(system)
    c.upload(_build(tmp_path, {"core_counter": "state", "billing_srv": "state", "core_util": "state"}))
    result = c.apply()
    assert result.node("w1").status_of("core_counter") == Status.OK
    after = {short: system.agent(short).state() for short in ALL}
    assert after == before  # same pids, same values
    bumped = system.agent("master").bump()
    assert bumped["core_counter"] == before["master"]["core_counter"]["value"] + 1


def test_the_reported_integral_is_the_smallest_status(system: BeamEnv, tmp_path: Path) -> None:
    """The "Status" field as the patch service reports it, not as the harness would combine it: each node's
    integral is the smallest code of its modules, the final one the smallest of the nodes'."""
    c = admin(system)
    c.upload(_build(tmp_path, {"core_report": "integral", "gw_legacy": "integral"}))
    raw = c.check().raw
    codes = {n["node"]: [m["code"] for m in n["modules"]] for n in raw["nodes"]}
    w2 = system.full_name("w2")
    assert codes == {**{system.full_name(s): [7, 7] for s in ("master", "w1")}, w2: [7, 6]}
    reported = {n["node"]: (n["integral"]["code"], n["integral"]["status"]) for n in raw["nodes"]}
    assert reported == {**{system.full_name(s): (7, "not_loaded") for s in ("master", "w1")}, w2: (6, "ok")}
    assert (raw["integral"]["code"], raw["integral"]["status"]) == (6, "ok")
    c.delete()

# ---- limitations ----------------------------------------------------------------------------

def test_version_binding_and_wipe_on_update(fresh: BeamEnv, tmp_path: Path) -> None:
    c = admin(fresh)
    with pytest.raises(PatchRefused) as info:
        c.upload(_build(tmp_path, {"core_util": "old"}, version="2.6.0"))
    assert (info.value.http_status, info.value.error) == (409, "wrong_version")
    c.upload(_build(tmp_path, {"core_util": "v271"}))
    assert c.apply().integral >= Status.NOT_CHANGED
    assert fresh.agent("w1").info()["applied"]
    pid_before = fresh.agent("w1").state()["core_counter"]["pid"]

    fresh.update("2.8.0")
    w1 = fresh.agent("w1")
    assert w1.info()["version"] == "2.8.0"
    assert w1.info()["applied"] == []
    host = fresh.node("w1")  # the node runs its host's 2.8.0 distribution, compiled there by the update
    dist = host.transport.get(f"{host.layout.dist('2.8.0')}/lib/core/ebin/core_util.beam")
    assert w1.capture(["core/ebin/core_util.beam"])[0]["disk"] == dist
    assert w1.state()["core_counter"]["value"] == 0 and pid_before  # an update restarts: not a hot patch
    assert fresh.inventory.facts["system_version"] == "2.8.0"
    with pytest.raises(PatchRefused) as info:  # the stored 2.7.1 patch is refused after the update
        c.check()
    assert (info.value.http_status, info.value.error) == (409, "wrong_version")
    with pytest.raises(PatchRefused):
        c.apply()


def test_sticky_and_system_modules_cannot_be_patched(system: BeamEnv) -> None:
    lists = next(Path("/usr/lib/erlang/lib").glob("stdlib-*/ebin/lists.beam")).read_bytes()
    before = snapshot(system.agents)
    with pytest.raises(PatchRefused) as info:
        admin(system).upload(zip_bytes([("core/ebin/lists.beam", lists)]))
    assert (info.value.http_status, info.value.error) == (422, "system_library")
    # the agent refuses too, should an archive get past the service
    result = system.agent("w1").apply("x", [("core/ebin/lists.beam", lists), ("stdlib/ebin/lists.beam", lists)])
    assert [(m["status"], m["reason"]) for m in result["modules"]] == [
        ("wrong_path", "system_library"), ("wrong_path", "unknown_app")]
    assert snapshot(system.agents) == before


# ---- roles ----------------------------------------------------------------------------------

def test_only_admin_may_change_patches(system: BeamEnv, tmp_path: Path) -> None:
    op = system.client("operator")
    assert op.login() == "operator"
    patch = zip_bytes([("core/ebin/core_report.beam", b"x")])
    for call in (lambda: op.upload(patch), op.check, op.apply, op.delete):
        with pytest.raises(PatchRefused) as info:
            call()
        assert info.value.http_status == 403
    with pytest.raises(PatchRefused) as info:
        PatchClient(system.master_url, "admin", "wrong").login()
    assert info.value.http_status == 401
    r = requests.post(system.master_url + "/api/patch/check", timeout=10)
    assert r.status_code == 401


# ---- hostile archives through the service ---------------------------------------------------

def _hostile() -> dict[str, tuple[bytes, str]]:
    return {
        "traversal": (zip_bytes([("../../evil.beam", b"x")]), "path_traversal"),
        "absolute": (zip_bytes([("/tmp/evil.beam", b"x")]), "absolute_path"),
        "symlink": (zip_bytes([(symlink_info("core/ebin/core_util.beam"), b"/etc/passwd")]), "symlink"),
        "bomb": (zip_bytes([("core/ebin/big.beam", b"\0" * (30 * 1024 * 1024))]), "zip_bomb"),
        "duplicate": (zip_bytes([("core/ebin/a.beam", b"1"), ("core/ebin/a.beam", b"2")]), "duplicate_entry"),
        "corrupt": (b"PK\x03\x04garbage" * 10, "corrupt_zip"),
        "empty": (zip_bytes([], version=None), "empty_archive"),
        "no_manifest": (zip_bytes([("core/ebin/a.beam", b"1")], version=None), "no_manifest"),
    }


@pytest.mark.parametrize("case", sorted(_hostile()))
def test_hostile_archive_is_refused_and_nothing_loaded(system: BeamEnv, case: str) -> None:
    data, reason = _hostile()[case]
    before = snapshot(system.agents)
    with pytest.raises(PatchRefused) as info:
        admin(system).upload(data)
    assert (info.value.http_status, info.value.error) == (422, reason)
    assert snapshot(system.agents) == before


def test_archive_over_10mb_is_refused(system: BeamEnv) -> None:
    big = zip_bytes([("core/ebin/noise.beam", secrets.token_bytes(11 * 1024 * 1024))],
                    compression=0)
    with pytest.raises(PatchRefused) as info:
        admin(system).upload(big)
    assert info.value.http_status == 413


def test_non_beam_and_misnamed_beam_get_their_status_and_load_nothing(system: BeamEnv, tmp_path: Path) -> None:
    util = system.agent("w1").capture(["core/ebin/core_util.beam"])[0]["disk"]  # as installed on the node
    c = admin(system)
    c.upload(zip_bytes([("core/ebin/fake.beam", b"PK not an erlang module"), ("core/ebin/other_name.beam", util)]))
    before = snapshot(system.agents, ["fake", "other_name", "core_util"])
    result = c.apply()
    assert {m.status for n in result.nodes for m in n.modules} == {Status.NOT_BEAM, Status.WRONG_PATH}
    assert result.exit_code == 12
    assert snapshot(system.agents, ["fake", "other_name", "core_util"]) == before
    c.delete()
    with pytest.raises(PatchRefused) as info:
        c.composition()
    assert info.value.http_status == 404


# ---- the CLI --------------------------------------------------------------------------------

def test_cli_build_check_apply_rollback(system: BeamEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--master``/``--password`` reach the service; ``--inventory`` also gives the anti-patch each node's
    agent at the address the harness reaches (a published port on docker), so capture and rollback work
    on every backend."""
    monkeypatch.chdir(tmp_path)
    src = variant(SRC["core_util"], tmp_path / "src", "cli")
    run = CliRunner().invoke
    env = {"HARNESS_PATCH_MASTER": system.master_url, "HARNESS_PATCH_PASSWORD": system.password("admin")}
    r = run(cli, ["patch", "build", f"core:{src}", "--version", "2.7.1", "--out", "p.zip"])
    assert r.exit_code == 0, r.output
    r = run(cli, ["patch", "build", f"core:{src}", "--version", "2.7.1", "--out", "q.zip", "core:nope.erl"])
    assert r.exit_code == 2
    before = system.agent("w2").md5s(["core_util"])
    r = run(cli, ["patch", "check", "--archive", "p.zip"], env=env)
    assert r.exit_code == 0, r.output
    assert "integral" in r.output
    r = run(cli, ["patch", "apply", "--anti-patch", "anti.json", "--inventory", str(system.path)])
    assert r.exit_code == 0, r.output
    assert system.agent("w2").md5s(["core_util"]) != before
    r = run(cli, ["patch", "rollback", "anti.json", "--inventory", str(system.path)])
    assert r.exit_code == 0, r.output
    assert system.agent("w2").md5s(["core_util"]) == before
    r = run(cli, ["patch", "rollback", "anti.json"])  # at the addresses the capture saved: nothing left to do
    assert r.exit_code == 0, r.output
    r = run(cli, ["patch", "delete"], env={**env, "HARNESS_PATCH_USER": "operator",
                                            "HARNESS_PATCH_PASSWORD": system.password("operator")})
    assert r.exit_code == 4
    r = run(cli, ["patch", "delete"])
    assert r.exit_code == 2 and "--inventory" in r.output  # no service named: a usage error with the fix
    r = run(cli, ["patch", "delete"], env=env)
    assert r.exit_code == 0
