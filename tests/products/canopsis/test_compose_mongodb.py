"""23.10+ Compose installation (no Docker needed): upstream's mongodb / mongodb-rs-init rules in the reference
sets, the operator's override for the target (``params.compose_override``) checked at planning and written by
the resync, and the mongodb stand-in's programs run as processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from harness.engine.runner import plan_steps
from harness.errors import PlanError
from harness.net import free_port
from harness.plan.loader import load_plan
from harness.plan.models import Inventory, Plan, StandinsSpec
from harness.products.canopsis import compose
from harness.products.canopsis.standin import SOURCE
from harness.products.canopsis.standin.compose import calver_services, override
from harness.standins import planned_inventory

LIB = SOURCE / "node" / "lib"
MONGO_SETS = ("23.10.0", "24.04.0")


def _inv(tmp_path: Path, version: str = "23.04.0") -> Inventory:
    spec = StandinsSpec.model_validate({"product": "canopsis", "backend": "process", "version": version,
                                        "install": "compose"})
    inv = planned_inventory(spec, tmp_path, name="cps-plan")
    return inv.model_copy(update={"facts": {**inv.facts, "compose_command": ["docker-compose"]}})


def _override_of(version: str) -> str:
    """The stand-in's override for ``version``'s services (what an operator edits it to)."""
    text = compose.reference(SOURCE / "compose", version).read_text()
    return override("cps-t", ("img/c:1", "img/r:1"), "/repo", 1, 2, extra=calver_services(text))


def _plan(tmp_path: Path, override_text: str | None, to: str = "23.10.0", name: str = "mine.yml", **more: str) -> Plan:
    """A plan file in ``tmp_path/plans`` naming ``name`` beside it (written with ``override_text`` unless None)."""
    d = tmp_path / "plans"
    d.mkdir(exist_ok=True)
    if override_text is not None:
        (d / name).write_text(override_text)
    guides = {"23.10.0": ["migration-23.10.0"], "24.04.0": ["migration-24.04.0"]}[to]
    (d / "plan.yaml").write_text(yaml.safe_dump({"procedure": "canopsis-update", "params": {
        "to": to, "guides_followed": guides, "compose_override": name, **more}}))
    return load_plan(d / "plan.yaml")


def _env(text: str) -> dict[str, str]:
    return dict(ln.split("=", 1) for ln in text.splitlines() if ln.strip() and not ln.startswith("#"))


@pytest.mark.parametrize("version", MONGO_SETS)
def test_23_10_files_run_mongodb_rs_init_then_reconfigure_as_upstream(version: str) -> None:
    """23.10.0 and 24.04.0 (upstream's community/deployment/canopsis/docker): migrate-metrics-meta is gone;
    mongodb-rs-init waits for mongodb to be healthy, reconfigure for the data stack to be healthy and for
    mongodb-rs-init to exit 0, every component for reconfigure; the accounts are upstream's."""
    ref = SOURCE / "compose" / version
    text = (ref / compose.FILE).read_text()
    svcs = compose.services(text)
    assert "migrate-metrics-meta" not in svcs
    assert compose.ordered_jobs(text) == ["mongodb-rs-init", "reconfigure"]
    healthy = {"condition": "service_healthy"}
    assert svcs["reconfigure"]["depends_on"] == {"timescaledb": healthy, "mongodb": healthy, "rabbitmq": healthy,
                                                 "mongodb-rs-init": {"condition": "service_completed_successfully"}}
    assert svcs["mongodb-rs-init"]["depends_on"] == {"mongodb": healthy}
    assert svcs["mongodb-rs-init"]["restart"] == svcs["reconfigure"]["restart"] == "no"
    for svc in ("fifo", "che", "axe", "api"):
        assert svcs[svc]["depends_on"] == {"reconfigure": {"condition": "service_completed_successfully"}}, svc
    shell = "mongo" if version == "23.10.0" else "mongosh"  # 24.04: MongoDB 7's shell
    assert svcs["mongodb"]["healthcheck"]["test"] == f"echo 'db.runCommand(\"ping\").ok' | {shell} --quiet"
    assert svcs["mongodb"]["command"][2:4] == ["--replSet", "rs0"]
    assert svcs["mongodb-rs-init"]["command"][2].startswith(
        f'{shell} "mongodb://$$MONGO_INITDB_ROOT_USERNAME:$$MONGO_INITDB_ROOT_PASSWORD@mongodb/"')
    assert svcs["mongodb"]["env_file"] == svcs["mongodb-rs-init"]["env_file"] == ["compose.env"]
    env = _env((ref / "compose.env").read_text())
    assert (env["MONGO_INITDB_ROOT_USERNAME"], env["MONGO_INITDB_ROOT_PASSWORD"]) == ("root", "root")
    assert env["CPS_MONGO_URL"] == "mongodb://cpsmongo:canopsis@mongodb/${MONGO_INITDB_DATABASE}?replicaSet=rs0"
    assert _env((ref / ".env").read_text())["DOCKER_REPOSITORY"] == ""  # never a registry host


def test_24_04_changes_no_service_and_no_rule_of_23_10() -> None:
    """23.10.0 -> 24.04.0 adds nothing beyond the file set: the same services, the same depends_on rules; only
    images, mongodb's command and shells (mongosh) differ. So the override of 23.10 is right for 24.04."""
    a, b = (compose.services(compose.reference(SOURCE / "compose", v).read_text()) for v in MONGO_SETS)
    assert list(a) == list(b)
    assert {s: a[s].get("depends_on") for s in a} == {s: b[s].get("depends_on") for s in b}
    assert compose.override_strays(_override_of("23.10.0"), compose.reference(SOURCE / "compose", "24.04.0")
                                   .read_text()) == []
    assert _override_of("23.10.0") == _override_of("24.04.0")


def test_a_23_10_to_24_04_plan_keeps_the_override_and_needs_the_24_04_guide(tmp_path: Path) -> None:
    inv = _inv(tmp_path, "23.10.0")
    with pytest.raises(PlanError, match=r"migration-24\.04\.0") as exc:
        plan_steps(Plan(procedure="canopsis-update", params={"to": "24.04.0"}), inv)
    assert exc.value.field == "params.guides_followed"
    steps = plan_steps(Plan(procedure="canopsis-update", params={"to": "24.04.0",
                                                                 "guides_followed": ["migration-24.04.0"]}), inv)
    assert [s.id.split("@")[0] for s in steps] == ["broadcast", "release-note-23.10.1", "release-note-24.04.0",
                                                    "compose-files", "compose-up", "verify"]
    files, up = steps[3], steps[4]
    assert "override_file" not in files.args and "docker-compose.override.yml and" in files.description
    assert "Compose runs mongodb-rs-init, reconfigure first" in up.description


def test_the_override_runs_the_23_10_services_with_the_standins_programs() -> None:
    doc = yaml.safe_load(_override_of("23.10.0"))
    assert set(doc["services"]) == {"rabbitmq", "reconfigure", "fifo", "che", "axe", "api", "timescaledb",
                                    "mongodb", "mongodb-rs-init"}
    assert doc["services"]["mongodb"]["command"] == ["/opt/canopsis/bin/cps-service", "mongodb"]
    assert doc["services"]["mongodb-rs-init"]["command"] == ["/opt/canopsis/bin/cps-service", "mongodb-rs-init"]
    assert doc["services"]["mongodb"]["environment"]["PATH"].startswith("/opt/canopsis/bin:")  # mongo, mongosh
    assert (SOURCE / "node" / "bin" / "mongo").read_bytes() == (SOURCE / "node" / "bin" / "mongosh").read_bytes()


def test_the_override_for_the_target_is_planned_into_the_resync_relative_to_the_plan_file(tmp_path: Path) -> None:
    plan = _plan(tmp_path, _override_of("23.10.0"))
    steps = plan_steps(plan, _inv(tmp_path / "env"))
    files = next(s for s in steps if s.id == "compose-files@node")
    assert "override" not in files.args  # the file's text stays out of the plan and the journal: its digest
    assert files.args["override_sha256"] == compose.sha256(_override_of("23.10.0").encode())
    assert files.args["override_file"] == str(tmp_path / "plans" / "mine.yml")
    assert f"docker-compose.override.yml <- {tmp_path / 'plans' / 'mine.yml'}" in files.description


@pytest.mark.parametrize("case", ["stray", "missing", "invalid-yaml", "not-a-mapping", "services-not-a-mapping"])
def test_a_bad_override_param_is_a_plan_error_naming_the_file_and_the_field(tmp_path: Path, case: str) -> None:
    text = {"stray": _override_of("23.04.0"), "missing": None, "invalid-yaml": "services:\n  api: [\n",
            "not-a-mapping": "- api\n", "services-not-a-mapping": "services:\n  - api\n"}[case]
    with pytest.raises(PlanError) as exc:
        plan_steps(_plan(tmp_path, text), _inv(tmp_path / "env"))
    err, path = exc.value, str(tmp_path / "plans" / "mine.yml")
    assert (err.file, err.field) == (path, "params.compose_override"), err
    assert str(err).startswith(path), err
    if case == "stray":  # 23.04's override names migrate-metrics-meta, gone in 23.10
        assert "names migrate-metrics-meta, which Canopsis 23.10.0's docker-compose.yml does not have" in str(err)
        assert err.line == _override_of("23.04.0").splitlines().index("  migrate-metrics-meta:") + 1
        assert err.hint and err.hint.startswith("remove migrate-metrics-meta from mine.yml")
    elif case == "missing":
        assert "does not exist" in str(err) and err.hint and "relative to the plan file" in err.hint
    else:
        assert "is not a Compose file" in str(err) and err.line is not None, err


def test_the_override_param_is_refused_for_a_packages_installation(tmp_path: Path) -> None:
    spec = StandinsSpec.model_validate({"product": "canopsis", "backend": "process", "version": "23.04.0"})
    inv = planned_inventory(spec, tmp_path / "env", name="cps-pkg")
    with pytest.raises(PlanError) as exc:
        plan_steps(_plan(tmp_path, _override_of("23.10.0")), inv)
    assert exc.value.field == "params.compose_override" and "packages" in str(exc.value)


def test_the_override_check_judges_the_given_override_not_the_installed_one(tmp_path: Path) -> None:
    from harness.environment import Environment
    from harness.products.canopsis.procedure import _override_check

    inv = _inv(tmp_path / "env")
    project = Path(str(inv.facts["compose_dir"]))
    project.mkdir(parents=True, exist_ok=True)
    (project / compose.OVERRIDE).write_text(_override_of("23.04.0"))
    env = Environment.from_inventory(inv)
    installed = _override_check(env, "23.10.0")
    assert installed is not None and not installed.ok and "params.compose_override" in installed.fix
    given = _override_check(env, "23.10.0", (tmp_path / "mine.yml", _override_of("23.10.0")))
    assert given is not None and given.ok and f"{tmp_path / 'mine.yml'} (params.compose_override)" in given.detail


def test_the_resync_writes_the_given_override_and_the_restore_puts_the_old_one_back(tmp_path: Path) -> None:
    from harness.engine.actions import StepContext
    from harness.engine.step import Step
    from harness.environment import Environment
    from harness.products.canopsis.actions import ComposeFiles, ComposeRestore

    inv = _inv(tmp_path / "env")
    project = Path(str(inv.facts["compose_dir"]))
    project.mkdir(parents=True, exist_ok=True)
    for name in compose.files(SOURCE / "compose", "23.04.0"):
        shutil.copy(SOURCE / "compose" / "23.04.0" / name, project / name)
    old, new = _override_of("23.04.0"), _override_of("23.10.0")
    (project / compose.OVERRIDE).write_text(old)
    (project / "compose.env").chmod(0o600)  # it holds the installation's passwords
    secret = (project / "compose.env").read_text()
    mine = tmp_path / "mine.yml"
    mine.write_text(new)
    env = Environment.from_inventory(inv)
    args = {"to": "23.10.0", "override_file": str(mine), "override_sha256": compose.sha256(new.encode())}
    ctx = StepContext(env=env, plan=Plan(procedure="canopsis-update"), observations={},
                      step=Step("compose-files@node", "node", "canopsis.compose_files", args))
    assert ComposeFiles().skip(ctx) is None
    ComposeFiles().run(ctx)
    assert (project / compose.OVERRIDE).read_text() == new
    assert compose.OVERRIDE in ctx.observation["written"]
    before = ctx.observation["before"]
    assert before[compose.OVERRIDE] == compose.sha256(old.encode()) and before["compose.env"] == compose.sha256(
        secret.encode())
    assert "cpsrabbit" not in json.dumps(ctx.observation), "the journal would carry compose.env's passwords"
    kept = project / compose.BACKUP
    assert (kept / before["compose.env"]).read_text() == secret and oct(kept.stat().st_mode & 0o777) == "0o700"
    copies = sorted(p.name for p in kept.iterdir())
    again = StepContext(env=env, plan=ctx.plan, observations={}, step=ctx.step)  # a second run
    assert ComposeFiles().skip(again) is not None
    assert "before" not in again.observation and sorted(p.name for p in kept.iterdir()) == copies  # nothing kept
    restore = StepContext(env=env, plan=ctx.plan, observations={}, step=Step(
        "rb-compose-files@node", "node", "canopsis.compose_restore", {"content": before}))
    assert ComposeRestore().skip(restore) is None
    ComposeRestore().run(restore)
    assert ComposeRestore().skip(restore) is not None
    assert (project / compose.OVERRIDE).read_text() == old
    assert (project / compose.FILE).read_text() == (SOURCE / "compose" / "23.04.0" / compose.FILE).read_text()
    assert (project / "compose.env").read_text() == secret and (project / "compose.env").stat().st_mode & 0o777 == 0o600


def test_the_restore_refuses_a_kept_copy_changed_since_and_the_resync_a_given_override_changed_since(
        tmp_path: Path) -> None:
    from harness.engine.actions import StepContext
    from harness.engine.step import Step
    from harness.environment import Environment
    from harness.errors import StepFailed
    from harness.products.canopsis.actions import ComposeFiles, ComposeRestore

    inv = _inv(tmp_path / "env")
    project = Path(str(inv.facts["compose_dir"]))
    project.mkdir(parents=True, exist_ok=True)
    (project / compose.FILE).write_text("services: {}\n")
    env = Environment.from_inventory(inv)
    digest = compose.Project.of(env).keep([compose.FILE])[compose.FILE]
    assert digest is not None
    (project / compose.FILE).write_text("services: {api: {}}\n")
    (project / compose.BACKUP / digest).write_text("tampered\n")
    restore = StepContext(env=env, plan=Plan(procedure="canopsis-update"), observations={}, step=Step(
        "rb-compose-files@node", "node", "canopsis.compose_restore", {"content": {compose.FILE: digest}}))
    with pytest.raises(StepFailed, match=r"kept before the update .* was changed since"):
        ComposeRestore().run(restore)
    assert (project / compose.FILE).read_text() == "services: {api: {}}\n"  # left as it was
    mine = tmp_path / "mine.yml"
    mine.write_text("services: {api: {}}\n")
    files = StepContext(env=env, plan=restore.plan, observations={}, step=Step(
        "compose-files@node", "node", "canopsis.compose_files",
        {"to": "23.10.0", "override_file": str(mine), "override_sha256": compose.sha256(b"something else")}))
    with pytest.raises(StepFailed, match=r"changed since the plan was made"):
        ComposeFiles().skip(files)


# ------------------------------------------------------------------ the mongodb stand-in, as processes


def _program(root: Path, code: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(LIB)!r}); {code}"],
                            env={**os.environ, "CPS_ROOT": str(root), "MONGO_INITDB_ROOT_USERNAME": "root",
                                 "MONGO_INITDB_ROOT_PASSWORD": "root", **env},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _log(root: Path) -> list[dict[str, object]]:
    return [json.loads(ln) for ln in (root / "var/log/mongodb.log").read_text().splitlines() if ln.strip()]


def test_the_rs_init_job_initiates_rs0_once_and_fails_without_the_root_account(tmp_path: Path) -> None:
    """The mongodb stand-in (a listener with upstream's accounts) and mongodb-rs-init: the job initiates rs0 as
    root and waits for the node to be primary (exit 0); a second run finds it configured (exit 0, as 24.04's
    rs-initiate.js); a wrong root password exits 1, the refusal on the server's record; reconfigure's driver
    (cpsmongo, replicaSet=rs0) is refused before the set exists."""
    port = free_port()
    server = _program(tmp_path, f"from cps_standin import mongodb; mongodb.serve({port})")
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / "var/log/mongodb.log").exists() and time.monotonic() < deadline:
            time.sleep(0.05)

        def job(code: str, **env: str) -> tuple[int, str]:
            p = _program(tmp_path, code, **env)
            out, _ = p.communicate(timeout=60)
            return p.returncode, out

        url = f"mongodb://cpsmongo:canopsis@127.0.0.1:{port}/canopsis?replicaSet=rs0"
        rc, out = job(f"from cps_standin import mongodb; mongodb.connect({url!r}, 'canopsis-reconfigure', 1)")
        assert rc == 1 and "ReplicaSetNoPrimary" in out, out
        rs_init = f"from cps_standin import mongodb; sys.exit(mongodb.rs_init('127.0.0.1', {port}))"
        assert job(rs_init, MONGO_INITDB_ROOT_PASSWORD="wrong") == (1, "MongoServerError: Authentication failed.\n")
        rc, out = job(rs_init)
        assert (rc, out.splitlines()[-1]) == (0, "Node is primary. Init job complete!"), out
        rc, out = job(rs_init)
        assert (rc, out.splitlines()[0]) == (0, "Replicaset was already configured: OK"), out
        rc, out = job(f"from cps_standin import mongodb; mongodb.connect({url!r}, 'canopsis-reconfigure', 1)")
        assert rc == 0, out
        rc, out = job(f"from cps_standin import mongodb; mongodb.connect({url.replace(':canopsis@', ':x@')!r}, "
                      "'canopsis-reconfigure', 1)")
        assert rc == 1 and "AuthenticationFailed" in out, out
    finally:
        server.terminate()
        server.communicate(timeout=30)
    msgs = [(r["msg"], r.get("attr", {}).get("user") or r.get("attr", {}).get("principalName"))  # type: ignore[union-attr]
            for r in _log(tmp_path) if r["msg"] in ("Successfully authenticated", "Authentication failed")]
    assert msgs[:3] == [("Successfully authenticated", "cpsmongo"), ("Authentication failed", "root"),
                        ("Successfully authenticated", "root")], msgs
    initiated = [r for r in _log(tmp_path) if r["msg"] == "replSetInitiate admin command received from client"]
    assert len(initiated) == 1 and initiated[0]["attr"]["config"]["_id"] == "rs0"  # type: ignore[index]
    assert json.loads((tmp_path / "var/lib/mongodb/replset.json").read_text())["_id"] == "rs0"
