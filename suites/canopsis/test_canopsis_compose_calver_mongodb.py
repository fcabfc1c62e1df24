"""Canopsis 23.04.0 -> 23.10.0, Compose installation: a service rename, and MongoDB as a replica set.

Upstream's 23.10.0 files (``containers/canopsis/compose/23.10.0``) drop ``migrate-metrics-meta`` and add
``mongodb`` (``--replSet rs0``, a healthcheck) and the one-shot ``mongodb-rs-init`` (``rs.initiate()`` once
``mongodb`` is ``service_healthy``); ``reconfigure`` waits for both (``service_healthy``,
``service_completed_successfully``) and every component for reconfigure. The stand-in runs its own mongodb
(a listener with upstream's accounts, logging as mongod does) and mongodb-rs-init; names, ordering rules
and credentials are upstream's.

The installation's own override (written for 23.04.0) names migrate-metrics-meta: without
``params.compose_override`` the update is refused before anything changes (Compose would start it on its
own). With the override edited for 23.10.0 (the stand-in's own :func:`override_for`, in a file beside the
plan, named relative to it) the update runs; the order is judged from the engine's record (``docker
inspect`` times and exit codes, health) and the mongodb stand-in's log. Then a release whose compose.env
gives reconfigure a wrong MongoDB password, with an override of its own, stops at the jobs and rolls back:
the reference files and the override are put back. 23.10.0 -> 24.04.0 changes no service name and no rule
(only images, ``mongosh`` for ``mongo``): its planning is checked in ``tests/products/canopsis``.
Skipped like ``test_canopsis_compose_calver.py``: no Docker engine, no docker-compose, or ``--harness-backend
docker``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.engine.procedure import Check
from harness.engine.runner import Run
from harness.engine.status import Outcome
from harness.environment import Environment
from harness.errors import RefusedError
from harness.plan.loader import load_plan
from harness.products.canopsis import compose
from harness.products.canopsis.fixtures import CanopsisStandin, RecordedUpdate, compose_fixture, record_update
from harness.products.canopsis.procedure import PROCEDURE, UpdateParams
from harness.products.canopsis.standin.compose import override_for

pytestmark = [pytest.mark.requires_docker, pytest.mark.xdist_group("canopsis-compose-calver")]
FROM, TARGET = "23.04.0", "23.10.0"
GUIDES = ["migration-23.10.0"]
EVENTS = 600
OVERRIDE_FILE = "docker-compose.override-23.10.0.yml"


cps = compose_fixture(FROM, "canopsis-compose-mongodb")


def _snapshot(project: compose.Project) -> dict[str, Any]:
    """Every file of the project but the services' logs, by its sha256, and each container's id and start."""
    res = project.transport.run(["find", project.dir, "-type", "f", "-not", "-path", f"{project.dir}/var/log/*",
                                 "-not", "-path", f"{project.dir}/var/run/*", "-exec", "sha256sum", "{}", "+"],
                                timeout=60).check()
    files = {ln.split(None, 1)[1]: ln.split(None, 1)[0] for ln in res.stdout.splitlines() if ln.strip()}
    return {"files": files, "containers": {s: (st.status, st.started_at) for s, st in project.states().items()}}


@dataclass
class Refusal:
    error: str
    preflight: list[Check]
    before: dict[str, Any]
    after: dict[str, Any]


@pytest.fixture(scope="module")
def refused(cps: CanopsisStandin, tmp_path_factory: pytest.TempPathFactory) -> Refusal:
    """The update without params.compose_override: preflight and the run's precheck, before anything else."""
    plan = cps.plan(TARGET, guides_followed=GUIDES)
    env, project = Environment.from_inventory(cps.inventory), cps.project
    before = _snapshot(project)
    assert PROCEDURE.preflight is not None
    checks = PROCEDURE.preflight(env, plan, UpdateParams.model_validate(plan.params))
    run = Run.create(plan, cps.inventory, tmp_path_factory.mktemp("refused"))
    with pytest.raises(RefusedError) as exc:
        run.begin()
    return Refusal(str(exc.value), checks, before, _snapshot(project))


@pytest.fixture(scope="module")
def plan_dir(cps: CanopsisStandin, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plan file and, beside it, the operator's override edited for 23.10.0 (named relative to the plan)."""
    d = tmp_path_factory.mktemp("plan")
    (d / OVERRIDE_FILE).write_text(override_for(cps.inventory, TARGET))
    (d / "plan.yaml").write_text(yaml.safe_dump({"procedure": "canopsis-update", "ready_timeout": 90, "params": {
        "to": TARGET, "from": FROM, "guides_followed": GUIDES, "compose_override": OVERRIDE_FILE}}))
    return d


@pytest.fixture(scope="module")
def operator_files(cps: CanopsisStandin, refused: Refusal) -> dict[str, str]:
    """The operator's files before the update (after the refusal, which changed nothing)."""
    return {name: cps.project.read(name) for name in (compose.OVERRIDE, compose.FILE)}


@pytest.fixture(scope="module")
def update(cps: CanopsisStandin, plan_dir: Path, operator_files: dict[str, str],
           tmp_path_factory: pytest.TempPathFactory) -> RecordedUpdate:
    return record_update(cps, load_plan(plan_dir / "plan.yaml"), tmp_path_factory.mktemp("runs"), amqp_events=EVENTS)


def _mongod(c: CanopsisStandin, since: float = 0.0) -> list[dict[str, Any]]:
    """The mongodb stand-in's log lines (mongod's structured format) since ``since``, each with ``ts``."""
    recs = [json.loads(ln) for ln in c.node.read("var/log/mongodb.log").splitlines() if ln.strip()]
    return [{**r, "ts": datetime.fromisoformat(r["t"]["$date"]).timestamp()} for r in recs
            if datetime.fromisoformat(r["t"]["$date"]).timestamp() >= since]


def _first(recs: list[dict[str, Any]], msg: str, **attr: Any) -> dict[str, Any]:
    found = [r for r in recs if r["msg"] == msg and all(r.get("attr", {}).get(k) == v for k, v in attr.items())]
    assert found, f"no {msg!r} {attr} in the mongodb log: {recs}"
    return found[0]


def _application_sessions(recs: list[dict[str, Any]]) -> list[str]:
    return [r["attr"]["doc"]["application"]["name"] for r in recs if r["msg"] == "client metadata"]


def test_the_installed_override_naming_a_dropped_service_is_refused_before_any_change(
        refused: Refusal, cps: CanopsisStandin, operator_files: dict[str, str]) -> None:
    assert "names migrate-metrics-meta, which Canopsis 23.10.0's docker-compose.yml does not have" in refused.error
    assert "params.compose_override" in refused.error, refused.error  # the fix names the param
    override = next(c for c in refused.preflight if c.name == "compose override")
    assert not override.ok and "migrate-metrics-meta" in override.detail, override
    assert refused.after == refused.before  # every file (by its hash) and every container as they were
    assert any(p.endswith(f"/{compose.OVERRIDE}") for p in refused.before["files"])
    assert refused.before["containers"]["migrate-metrics-meta"][0] == "exited"
    # what the stand-in installed is its override_for() the installed version (the suite's target one is too)
    assert override_for(cps.inventory, FROM) == operator_files[compose.OVERRIDE]


def test_the_update_with_the_override_for_the_target_ends_on_it(update: RecordedUpdate, cps: CanopsisStandin,
                                                                plan_dir: Path) -> None:
    assert update.outcome == Outcome.SUCCESS, update.run.journal_records()[-1]
    project = cps.project
    steps = [r["step"].split("@")[0] for r in update.records() if r["status"] == "ok"]
    assert steps == ["broadcast", "release-note-23.10.0", "compose-files", "compose-up", "verify"]
    files = update.run.observations["compose-files@node"]
    assert compose.OVERRIDE in files["written"], files
    up = update.run.observations["compose-up@node"]
    assert up["jobs_ordered_by"] == "compose", up
    assert up["jobs"] == {"mongodb-rs-init": 0, "reconfigure": 0}, up
    assert (cps.api.app_info()["version"], set(cps.node.running_versions().values())) == (TARGET, {TARGET})
    assert project.running_services() >= {*compose.SERVICES, "timescaledb", "mongodb"}
    assert "migrate-metrics-meta" not in project.running_services()
    assert project.read(compose.OVERRIDE) == (plan_dir / OVERRIDE_FILE).read_text()
    assert update.stats["amqp-"]["processed"] == EVENTS, update.stats["amqp-"]


def test_compose_ran_mongodb_healthy_then_the_rs_init_then_reconfigure_then_the_components(
        update: RecordedUpdate, cps: CanopsisStandin) -> None:
    """From the engine's record: mongodb (new in 23.10) started in the update and is healthy; mongodb-rs-init
    started a healthcheck interval after it (``service_healthy``), exited 0 before reconfigure started
    (``service_completed_successfully``); reconfigure exited 0 before any component started. migrate-metrics-
    meta, which 23.10 dropped, did not run again."""
    assert update.outcome == Outcome.SUCCESS
    project = cps.project
    states, ps = project.states(), project.run("ps", "-a").stdout
    mongo, rs_init, reconf = states["mongodb"], states["mongodb-rs-init"], states["reconfigure"]
    assert update.started < mongo.started_at and mongo.status == "running", (mongo, ps)
    health = project.transport.run(["docker", "inspect", "--format", "{{.State.Health.Status}}",
                                    _container(project, "mongodb")], timeout=60)
    assert health.stdout.strip() == "healthy", health
    assert (rs_init.status, rs_init.exit_code, reconf.status, reconf.exit_code) == ("exited", 0, "exited", 0), ps
    assert rs_init.started_at >= mongo.started_at + 1.5, "mongodb-rs-init did not wait for mongodb's healthcheck"
    assert rs_init.finished_at is not None and reconf.finished_at is not None
    assert rs_init.finished_at < reconf.started_at, (rs_init, reconf)
    assert reconf.started_at > states["timescaledb"].started_at
    for svc in compose.ENGINES_AND_API:
        assert states[svc].status == "running" and reconf.finished_at < states[svc].started_at, (svc, states)
    # the 23.04 container (an orphan now, which `ps` no longer lists) did not start again
    labels = [f"label=com.docker.compose.project={project.name}",
              "label=com.docker.compose.service=migrate-metrics-meta"]
    orphan = project.transport.run(["docker", "ps", "-a", "--filter", labels[0], "--filter", labels[1], "--format",
                                    "{{.ID}}"], timeout=60).stdout.split()
    for cid in orphan:
        raw = project.transport.run(["docker", "inspect", "--format", "{{json .State}}", cid], timeout=60).stdout
        assert compose.State.parse("migrate-metrics-meta", json.loads(raw)).started_at < update.started


def test_the_mongodb_standin_recorded_the_initiation_before_reconfigures_session(
        update: RecordedUpdate, cps: CanopsisStandin) -> None:
    """The mongodb stand-in's own log: it listened, mongodb-rs-init authenticated as upstream's root (compose.env)
    and initiated rs0 with member mongodb:27017, the node became primary, and only then reconfigure's session
    (CPS_MONGO_URL's cpsmongo on database canopsis, ``replicaSet=rs0``) was authorised."""
    assert update.outcome == Outcome.SUCCESS
    recs = _mongod(cps, int(update.started))
    listening = _first(recs, "Waiting for connections", port=27017)
    root = _first(recs, "Successfully authenticated", user="root", db="admin")
    initiated = _first(recs, "replSetInitiate admin command received from client")
    assert initiated["attr"]["config"] == {"_id": "rs0", "members": [{"_id": 0, "host": "mongodb:27017"}]}
    primary = _first(recs, "Replica set state transition", newState="PRIMARY")
    app = _first(recs, "Successfully authenticated", user="cpsmongo", db="canopsis")
    assert listening["ts"] <= root["ts"] <= initiated["ts"] <= primary["ts"] <= app["ts"], recs
    sessions = _application_sessions(recs)
    assert sessions[0] == "mongodb-rs-init" and "canopsis-reconfigure" in sessions, sessions
    assert sessions.index("canopsis-reconfigure") > max(i for i, s in enumerate(sessions) if s == "mongodb-rs-init")
    assert not [r for r in recs if r["msg"] == "Authentication failed"], recs


def test_a_failing_reconfigure_stops_before_the_components_and_the_rollback_puts_the_override_back(
        update: RecordedUpdate, cps: CanopsisStandin, tmp_path: Path) -> None:
    """A release whose compose.env gives reconfigure a wrong MongoDB password, updated to with an override of its
    own: Compose runs the jobs, reconfigure fails (``Authentication failed``), no component starts on it; the
    rollback restores the reference files and the override of 23.10.0. The replica set stays initiated across
    mongodb's re-creation (its data), so mongodb-rs-init finds it configured."""
    assert update.outcome == Outcome.SUCCESS
    project = cps.project
    before = {name: project.read(name) for name in (compose.OVERRIDE, compose.FILE, "compose.env", ".env")}
    bad = "23.10.9"
    mine = tmp_path / "override-23.10.9.yml"
    mine.write_text(before[compose.OVERRIDE].replace("# docker-compose.override.yml", "# edited for 23.10.9:", 1))
    with cps.release(bad, f'version = "{bad}"\n'):
        env = Path(cps.inventory.facts["compose_reference"]) / bad / "compose.env"
        wrong = "CPS_MONGO_URL=mongodb://cpsmongo:wrong@mongodb/${MONGO_INITDB_DATABASE}?replicaSet=rs0"
        lines = [wrong if ln.startswith("CPS_MONGO_URL=") else ln for ln in env.read_text().splitlines()]
        assert wrong in lines
        env.write_text("\n".join(lines) + "\n")
        rec = record_update(cps, cps.plan(bad, compose_override=str(mine)), tmp_path, prefix="rb-")
    assert rec.outcome == Outcome.ROLLED_BACK, rec.run.journal_records()[-1]
    failed = [r for r in rec.records() if r["status"] == "failed"]
    assert [r["step"] for r in failed] == ["compose-up@node"], failed
    assert "the reconfigure job exited 1" in failed[0]["reason"], failed[0]["reason"]
    assert "failed to connect to mongo" in failed[0]["reason"], failed[0]["reason"]
    assert rec.run.observations["compose-up@node"]["jobs"] == {"mongodb-rs-init": 0, "reconfigure": 1}
    started = [r["version"] for e in ("engine-fifo", "engine-che", "engine-axe") for r in cps.node.log(e)
               if r.get("message") == "engine started"]
    assert bad not in started, "an engine started on the release whose reconfigure failed"
    assert {name: project.read(name) for name in before} == before  # the override too: the 23.10.0 one
    assert (cps.api.app_info()["version"], set(cps.node.running_versions().values())) == (TARGET, {TARGET})
    recs = _mongod(cps, int(rec.started))
    assert _first(recs, "Authentication failed", principalName="cpsmongo")
    assert not [r for r in recs if r["msg"] == "replSetInitiate admin command received from client"], recs


def _container(project: compose.Project, service: str) -> str:
    ids = project.run("ps", "-q", service, timeout=60).stdout.split()
    assert ids, f"no container for {service}"
    return ids[0]
