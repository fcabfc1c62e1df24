"""Canopsis regular update of a 22.10+ Compose installation: the files order the one-shot jobs themselves.

The 22.10+ reference files (``containers/canopsis/compose/22.10.0``, ``23.04.0``, from upstream's
``community/deployment/canopsis/docker/``) add ``timescaledb`` and the one-shot ``migrate-metrics-meta``, and
make every component wait for ``reconfigure`` and ``migrate-metrics-meta`` with ``condition:
service_completed_successfully`` (the jobs waiting for ``timescaledb`` and ``rabbitmq`` to be
``service_healthy``). The executor then runs ``docker-compose up -d`` alone, where for 4.x it runs
reconfigure first itself (``test_canopsis_compose.py``).

One project (22.10.0, Community) is updated to 23.04.0; the order is judged from what the engine recorded
(``docker inspect`` start and finish times, exit codes, ``docker-compose ps``) and what the services logged
(the timescaledb stand-in logs each session it authorised). Then a release whose ``compose.env`` gives the
jobs a wrong TimescaleDB password must stop at the jobs, never start an engine on it, and roll back.
Skipped like ``test_canopsis_compose.py``: no Docker engine, no docker-compose, or ``--harness-backend docker``.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from harness.engine.status import Outcome
from harness.plan.models import Plan
from harness.products.canopsis import compose
from harness.products.canopsis.fixtures import CanopsisStandin, RecordedUpdate, compose_fixture, record_update

pytestmark = [pytest.mark.requires_docker, pytest.mark.xdist_group("canopsis-compose-calver")]
FROM, TARGET = "22.10.0", "23.04.0"
JOBS = ["reconfigure", "migrate-metrics-meta"]
COMPONENTS = ("fifo", "che", "axe", "api")
EVENTS = 1000
OVERRIDE_TOML = "# my own settings\n[Canopsis.alarm]\nStealthyInterval = 42\n"


cps = compose_fixture(FROM, "canopsis-compose-calver")


@pytest.fixture(scope="module")
def project(cps: CanopsisStandin) -> compose.Project:
    return cps.project


@pytest.fixture(scope="module")
def operator_files(project: compose.Project) -> dict[str, str]:
    """The operator's own files, as they were before the update."""
    project.write("etc/conf.d/canopsis-override.toml", OVERRIDE_TOML)
    return {name: project.read(name) for name in (compose.OVERRIDE, "etc/conf.d/canopsis-override.toml")}


@pytest.fixture(scope="module")
def update(cps: CanopsisStandin, operator_files: dict[str, str],
           tmp_path_factory: pytest.TempPathFactory) -> RecordedUpdate:
    plan = Plan(procedure="canopsis-update", params={"to": TARGET, "guides_followed": ["migration-23.04.0"]},
                ready_timeout=90)
    return record_update(cps, plan, tmp_path_factory.mktemp("runs"), amqp_events=EVENTS)


def _sessions(c: CanopsisStandin, since: float) -> list[str]:
    """The applications the timescaledb service authorised a session for since ``since``, in order."""
    recs = [json.loads(ln) for ln in c.node.read("var/log/timescaledb.log").splitlines() if ln.strip()]
    return [r.get("application", "") for r in recs
            if r["message"].startswith("connection authorized") and _ts(r["time"]) >= int(since)]


def _ts(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def test_update_ends_on_the_target_with_compose_ordering_the_jobs(update: RecordedUpdate, cps: CanopsisStandin,
                                                                  project: compose.Project) -> None:
    assert update.outcome == Outcome.SUCCESS, update.run.journal_records()[-1]
    steps = [r["step"].split("@")[0] for r in update.records() if r["status"] == "ok"]
    assert steps == ["broadcast", "release-note-22.10.1", "release-note-23.04.0", "compose-files", "compose-up",
                     "verify"]
    up = update.run.observations["compose-up@node"]
    assert up["jobs_ordered_by"] == "compose", up
    assert up["jobs"] == {"reconfigure": 0, "migrate-metrics-meta": 0}, up
    assert (cps.api.app_info()["version"], set(cps.node.running_versions().values())) == (TARGET, {TARGET})
    assert project.running_services() >= {*compose.SERVICES, "timescaledb"}
    assert update.stats["amqp-"]["processed"] == EVENTS, update.stats["amqp-"]


def test_the_jobs_ran_to_exit_0_before_every_component_started(update: RecordedUpdate, cps: CanopsisStandin,
                                                                project: compose.Project) -> None:
    """From the engine's own record: both jobs ran again in the update (their containers started after it
    began), exited 0, and finished before any engine or the API started; they started once timescaledb ran."""
    assert update.outcome == Outcome.SUCCESS
    states = project.states()
    ps = project.run("ps", "-a").stdout
    for job in JOBS:
        st = states[job]
        assert (st.status, st.exit_code) == ("exited", 0), (st, ps)
        assert st.finished_at is not None and update.started < st.started_at, (st, update.started)
        assert st.started_at > states["timescaledb"].started_at
        for svc in COMPONENTS:
            assert states[svc].status == "running", (states[svc], ps)
            assert st.finished_at < states[svc].started_at, f"{svc} started before {job} finished: {states}"
    assert all(f"_{job}_1" in ln and "Exit 0" in ln for job in JOBS for ln in ps.splitlines() if f"_{job}_1" in ln)
    meta = [json.loads(ln) for ln in cps.node.read("var/log/migrate-metrics-meta.log").splitlines() if ln.strip()]
    assert (meta[-1]["message"], meta[-1]["version"]) == ("metrics meta migrated", TARGET), meta[-1]
    sessions = _sessions(cps, update.started)
    assert {"canopsis-reconfigure", "migrate-metrics-meta"} <= set(sessions), sessions


def test_the_operators_files_are_untouched_and_the_reference_files_are_the_targets(
        update: RecordedUpdate, cps: CanopsisStandin, project: compose.Project,
        operator_files: dict[str, str]) -> None:
    assert update.outcome == Outcome.SUCCESS
    assert {name: project.read(name) for name in operator_files} == operator_files
    ref = Path(cps.inventory.facts["compose_reference"]) / TARGET
    names = compose.files(ref.parent, TARGET)
    assert "community.env" in names  # the 22.10+ set: ${CPS_EDITION}.env, read by every Canopsis service
    assert {n: project.read(n) for n in names} == {n: (ref / n).read_text() for n in names}
    assert "CANOPSIS_IMAGE_TAG=23.04.0\n" in project.read(".env")


def test_no_artefact_of_the_run_carries_the_passwords_of_compose_env(update: RecordedUpdate,
                                                                     project: compose.Project) -> None:
    """compose.env holds the installation's broker, database and cache passwords; the resync keeps the files
    it replaces on the node (``.harness-backup``) and journals their digests, so no file of the run has them."""
    assert update.outcome == Outcome.SUCCESS
    secret = [ln for ln in project.read("compose.env").splitlines()
              if "=" in ln and not ln.startswith("#") and ("PASS" in ln.split("=")[0] or "@" in ln)]
    assert len(secret) >= 3, secret
    leaks = [(f.name, ln) for f in update.run.run_dir.rglob("*") if f.is_file()
             for ln in secret if ln in f.read_text(errors="replace")]
    assert not leaks, leaks
    before = update.run.observations["compose-files@node"]["before"]
    assert project.transport.exists(f"{project.dir}/{compose.BACKUP}/{before['compose.env']}")


def test_a_failing_job_stops_compose_before_the_engines_and_the_update_rolls_back(
        update: RecordedUpdate, cps: CanopsisStandin, project: compose.Project, operator_files: dict[str, str],
        tmp_path: Path) -> None:
    """A release whose compose.env gives the jobs a wrong TimescaleDB password: Compose runs the jobs, they
    fail (``password authentication failed``), so no component is started on it; the run rolls back."""
    assert update.outcome == Outcome.SUCCESS
    bad = "23.04.9"
    with cps.release(bad, f'version = "{bad}"\n'):
        env = Path(cps.inventory.facts["compose_reference"]) / bad / "compose.env"
        lines = [ln if not ln.startswith("CPS_POSTGRES_URL=") else
                 "CPS_POSTGRES_URL=postgresql://cpspostgres:wrong@timescaledb:5432/canopsis"
                 for ln in env.read_text().splitlines()]
        assert "CPS_POSTGRES_URL=postgresql://cpspostgres:wrong@timescaledb:5432/canopsis" in lines
        env.write_text("\n".join(lines) + "\n")
        rec = record_update(cps, cps.plan(bad), tmp_path, prefix="rb-")
    assert rec.outcome == Outcome.ROLLED_BACK, rec.run.journal_records()[-1]
    failed = [r for r in rec.records() if r["status"] == "failed"]
    assert [r["step"] for r in failed] == ["compose-up@node"], failed
    assert "job exited 1" in failed[0]["reason"], failed[0]["reason"]
    assert "password authentication failed for user" in failed[0]["reason"], failed[0]["reason"]
    started = [rec_["version"] for e in ("engine-fifo", "engine-che", "engine-axe") for rec_ in cps.node.log(e)
               if rec_.get("message") == "engine started"]
    assert bad not in started, "an engine started on the release whose jobs failed"
    assert (cps.api.app_info()["version"], set(cps.node.running_versions().values())) == (TARGET, {TARGET})
    assert {name: project.read(name) for name in operator_files} == operator_files
    assert "CANOPSIS_IMAGE_TAG=23.04.0\n" in project.read(".env")
