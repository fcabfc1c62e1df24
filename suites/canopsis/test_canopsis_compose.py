"""Canopsis regular update of a Compose installation: engines, API and RabbitMQ as services.

The project lives on a host of the process backend (a directory of this machine, whose ``docker-compose``
runs against this machine's Docker engine); the harness reads and writes it through that host's transport.

One project (4.4.0, Community) is updated to 4.6.1 with ``canopsis-update``: broadcast → the release
notes in order → docker-compose.yml replaced by the 4.6.1 reference file (the operator's
``canopsis-override.toml`` kept) → ``docker-compose up -d`` → verify, with events published to RabbitMQ
before, during and after, and sent through the API. Then an update whose reconfigure fails (the
one-shot service exits 1) must roll back to 4.6.1. Skipped, with the reason, only when no Docker engine
runs, docker-compose is missing (or ``--harness-backend docker``: these stand-ins are on the process backend).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.checks import merge
from harness.engine.status import Outcome
from harness.environment import Environment
from harness.plan.models import Plan
from harness.products.canopsis import compose
from harness.products.canopsis.checks import check_processed_once, check_spans_window
from harness.products.canopsis.fixtures import CanopsisStandin, RecordedUpdate, compose_installation, record_update

pytestmark = [pytest.mark.requires_docker, pytest.mark.xdist_group("canopsis-compose")]
TARGET = "4.6.1"
GUIDES = ["migration-4.5.0", "migration-4.6.0"]  # the notes 4.5.0 and 4.6.0 mandate them, as upstream
EVENTS = 10_000
API_EVENTS = 2000
NOTES = ["4.4.1", "4.5.0", "4.5.1", "4.5.2", "4.6.0", "4.6.1"]
OVERRIDE = "# my own settings\n[Canopsis.alarm]\nEnableLastEventDate = true\nStealthyInterval = 42\n"


@pytest.fixture(scope="module")
def cps_compose(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CanopsisStandin]:
    with compose_installation(request.config, tmp_path_factory.mktemp("canopsis-compose"), "4.4.0") as c:
        yield c


@pytest.fixture(scope="module")
def project(cps_compose: CanopsisStandin) -> compose.Project:
    return compose.Project.of(Environment.from_inventory(cps_compose.inventory))


@pytest.fixture(scope="module")
def update(cps_compose: CanopsisStandin, project: compose.Project,
           tmp_path_factory: pytest.TempPathFactory) -> RecordedUpdate:
    project.write("etc/conf.d/canopsis-override.toml", OVERRIDE)  # the operator's own file
    plan = Plan(procedure="canopsis-update", params={"to": TARGET, "guides_followed": GUIDES},
                ready_timeout=90)
    return record_update(cps_compose, plan, tmp_path_factory.mktemp("runs"), amqp_events=EVENTS,
                         api_events=API_EVENTS)


def test_update_runs_the_compose_steps_in_order(update: RecordedUpdate, cps_compose: CanopsisStandin,
                                                project: compose.Project) -> None:
    assert update.outcome == Outcome.SUCCESS, update.run.journal_records()[-1]
    steps = [r["step"].split("@")[0] for r in update.records() if r["status"] == "ok"]
    assert steps == ["broadcast"] + [f"release-note-{v}" for v in NOTES] + ["compose-files", "compose-up", "verify"]
    info = cps_compose.api.app_info()
    assert (info["version"], info["edition"]) == (TARGET, "community")
    assert set(cps_compose.node.running_versions().values()) == {TARGET}
    assert project.running_services() >= set(compose.SERVICES)


def test_compose_file_is_the_targets_and_the_override_is_kept(update: RecordedUpdate, project: compose.Project,
                                                               cps_compose: CanopsisStandin) -> None:
    ref = compose.reference(cps_compose.inventory.facts["compose_reference"], TARGET)
    assert project.read(compose.FILE) == ref.read_text()
    assert project.read("etc/conf.d/canopsis-override.toml") == OVERRIDE
    conf = project.read("etc/canopsis.toml")
    for line in ("BulkMaxSize = 1000", "PrefetchCount = 10000"):
        assert conf.count(line) == 1, line
    applied = [ln for ln in cps_compose.node.read("var/log/migrations.log").splitlines() if ln.strip()]
    assert len(applied) == 3, applied
    reconf = [r["message"] for r in cps_compose.node.log("canopsis-reconfigure")]
    assert "start postgres migrations" in reconf, "the notes' -migrate-postgres=true reached the service"


def test_every_event_published_across_the_update_is_processed_exactly_once(update: RecordedUpdate) -> None:
    assert update.amqp is not None
    window = (update.step_times("compose-up@node")[0], update.step_times("compose-up@node")[1])
    verdict = merge([check_processed_once(update.amqp, update.stats["amqp-"], EVENTS),
                     check_spans_window(update.amqp.batches, update.started, window, update.ended)])
    assert verdict, verdict.explain()


def test_every_event_sent_through_the_api_is_processed_exactly_once(update: RecordedUpdate) -> None:
    verdict = check_processed_once(update.api, update.stats["api-"])
    assert verdict, verdict.explain()


def test_failing_reconfigure_service_rolls_back_to_the_previous_version(update: RecordedUpdate,
                                                                         project: compose.Project,
                                                                         cps_compose: CanopsisStandin,
                                                                         tmp_path: Path) -> None:
    c = cps_compose
    assert update.outcome == Outcome.SUCCESS
    compose_before = project.read(compose.FILE)
    note = ('version = "4.6.9"\n[[steps]]\nkind = "reconfigure-flag"\nflag = "-migrate-postgres=true"\n'
            '[[steps]]\nkind = "reconfigure-flag"\nflag = "-postgres-migration-mode=sideways"\n')
    with c.release("4.6.9", note):
        rec = record_update(c, c.plan("4.6.9"), tmp_path, amqp_events=1000, prefix="rb-")
    assert rec.outcome == Outcome.ROLLED_BACK, rec.run.journal_records()[-1]
    failed = [r for r in rec.records() if r["status"] == "failed"]
    assert [r["step"] for r in failed] == ["compose-up@node"], failed
    assert "failed to run postgres migrations" in failed[0]["reason"], failed[0]["reason"]
    assert project.read(compose.FILE) == compose_before
    assert project.read("etc/conf.d/canopsis-override.toml") == OVERRIDE
    assert c.node.installed_version() == TARGET
    assert c.api.app_info()["version"] == TARGET
    assert set(c.node.running_versions().values()) == {TARGET}
    rb = [r["step"] for r in rec.records("rollback_step") if r["status"] == "ok"]
    assert rb == ["rb-compose-files@node", "rb-compose-up@node", "rb-verify@node"], rb
    assert rec.stats["rb-amqp-"]["processed"] == 1000, rec.stats["rb-amqp-"]
