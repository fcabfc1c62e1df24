"""Canopsis regular update on the docker backend: RabbitMQ in its own container, the node in another.

The same ``canopsis-update`` procedure as on the process backend, reaching the node by docker exec.
One environment (4.4.0, Community): the update 4.4.0 → 4.6.1 recorded with events published to
RabbitMQ before, during and after it (and sent through the API with the retrying client), then on the
same node an update to a release whose ``canopsis-reconfigure`` flag fails, which must roll back to
4.6.1. And ``install: compose`` is refused on this backend (its hosts have no Docker CLI). Skipped, with
the reason, only when no Docker engine runs (or ``--harness-backend process``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import standins
from harness.backends.docker_engine import LABEL_RUN, client, image_tag
from harness.checks import merge
from harness.engine.status import Outcome
from harness.errors import ConfigError
from harness.plan.models import Plan, StandinsSpec
from harness.products.canopsis.checks import check_processed_once, check_spans_window
from harness.products.canopsis.fixtures import CanopsisStandin, RecordedUpdate, record_update, start_canopsis
from harness.pytest_plugin.backends import skip_unless_backend_runs

pytestmark = [pytest.mark.requires_docker, pytest.mark.xdist_group("canopsis-docker")]
TARGET = "4.6.1"
GUIDES = ["migration-4.5.0", "migration-4.6.0"]  # the notes 4.5.0 and 4.6.0 mandate them, as upstream
EVENTS = 10_000
API_EVENTS = 2000
NOTES = ["4.4.1", "4.5.0", "4.5.1", "4.5.2", "4.6.0", "4.6.1"]


@pytest.fixture(scope="module")
def docker_backend(request: pytest.FixtureRequest) -> None:
    if request.config.getoption("--harness-backend") == "process":
        pytest.skip("--harness-backend process")
    skip_unless_backend_runs("docker")


@pytest.fixture(scope="module")
def canopsis_docker(docker_backend: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CanopsisStandin]:
    c = start_canopsis(tmp_path_factory.mktemp("canopsis-docker"), version="4.4.0", backend="docker")
    yield c
    standins.down(c.inventory)


@pytest.fixture(scope="module")
def update(canopsis_docker: CanopsisStandin, tmp_path_factory: pytest.TempPathFactory) -> RecordedUpdate:
    plan = Plan(procedure="canopsis-update", params={"to": TARGET, "guides_followed": GUIDES},
                ready_timeout=90)
    return record_update(canopsis_docker, plan, tmp_path_factory.mktemp("runs"), amqp_events=EVENTS,
                         api_events=API_EVENTS)


def test_broker_and_node_run_in_their_own_labelled_containers(canopsis_docker: CanopsisStandin) -> None:
    inv = canopsis_docker.inventory
    assert inv.backend == "docker" and [h.name for h in inv.hosts] == ["node", "rabbitmq"]
    hosts = {h.name: h.transport.removeprefix("docker://") for h in inv.hosts}
    assert all(h.transport.startswith("docker://") for h in inv.hosts)
    running = {c.name: c for c in client().containers.list(filters={"label": f"{LABEL_RUN}={inv.environment}"})}
    assert set(running) == set(hosts.values())
    assert image_tag("canopsis-rabbitmq") in running[hosts["rabbitmq"]].image.tags
    assert image_tag("canopsis") in running[hosts["node"]].image.tags
    for c in running.values():  # published on loopback only
        for bindings in (c.attrs["NetworkSettings"]["Ports"] or {}).values():
            assert all(b["HostIp"] == "127.0.0.1" for b in bindings or []), c.attrs["NetworkSettings"]["Ports"]
    # the node reaches the broker over the per-run network, not through the published port
    assert "@rabbitmq:5672" in canopsis_docker.node.read("etc/go-engines-vars.conf")
    # the broker is a node of its own, started by the installer (not the image's service)
    assert running[hosts["rabbitmq"]].exec_run(["sh", "-c", "cat /srv/rabbitmq/beam.pid"]).exit_code == 0


def test_compose_installation_is_refused_on_hosts_without_a_docker_cli(docker_backend: None,
                                                                     tmp_path: Path) -> None:
    """The Compose installation needs a host whose Docker CLI reaches the engine that sees its files: a
    container of the docker backend has none, and the run says so (field, hint) and leaves nothing."""
    spec = StandinsSpec.model_validate({"product": "canopsis", "backend": "docker", "install": "compose"})
    with pytest.raises(ConfigError) as exc:
        standins.up(spec, tmp_path / "cps-refused", name="cps-refused")
    assert exc.value.field == "standins.backend" and "backend: process" in str(exc.value)
    assert not client().containers.list(all=True, filters={"label": f"{LABEL_RUN}=cps-refused"})


def test_update_succeeds_with_every_step_in_order(update: RecordedUpdate, canopsis_docker: CanopsisStandin) -> None:
    assert update.outcome == Outcome.SUCCESS, update.run.journal_records()[-1]
    steps = [r["step"].split("@")[0] for r in update.records() if r["status"] == "ok"]
    assert steps == ["broadcast"] + [f"release-note-{v}" for v in NOTES] + [
        "stop", "packages", "canopsinit", "reconfigure", "daemon-reload", "restart", "verify"]
    info = canopsis_docker.api.app_info()
    assert (info["version"], info["edition"]) == (TARGET, "community")
    assert set(canopsis_docker.node.running_versions().values()) == {TARGET}
    applied = [r for r in canopsis_docker.node.read("var/log/migrations.log").splitlines() if r.strip()]
    assert len(applied) == 3, applied


def test_every_event_published_across_the_update_is_processed_exactly_once(update: RecordedUpdate) -> None:
    assert update.amqp is not None
    window = (update.step_times("stop@node")[0], update.step_times("restart@node")[1])
    verdict = merge([check_processed_once(update.amqp, update.stats["amqp-"], EVENTS),
                     check_spans_window(update.amqp.batches, update.started, window, update.ended)])
    assert verdict, verdict.explain()


def test_every_event_sent_through_the_api_is_processed_exactly_once(update: RecordedUpdate) -> None:
    verdict = check_processed_once(update.api, update.stats["api-"])
    assert verdict, verdict.explain()


def test_failing_reconfigure_rolls_back_to_the_previous_version(update: RecordedUpdate,
                                                                 canopsis_docker: CanopsisStandin,
                                                                 tmp_path: Path) -> None:
    c = canopsis_docker
    assert update.outcome == Outcome.SUCCESS
    conf_before = c.node.read("etc/canopsis.toml")
    note = ('version = "4.6.9"\n[[steps]]\nkind = "reconfigure-flag"\nflag = "-migrate-postgres=true"\n'
            '[[steps]]\nkind = "reconfigure-flag"\nflag = "-postgres-migration-mode=sideways"\n')
    with c.release("4.6.9", note):
        rec = record_update(c, c.plan("4.6.9"), tmp_path, amqp_events=1000, prefix="rb-")
    assert rec.outcome == Outcome.ROLLED_BACK, rec.run.journal_records()[-1]
    failed = [r for r in rec.records() if r["status"] == "failed"]
    assert [r["step"] for r in failed] == ["reconfigure@node"], failed
    assert "failed to run postgres migrations" in failed[0]["reason"]
    started = [r["step"] for r in rec.records() if r["status"] == "started"]
    assert "daemon-reload@node" not in started and "restart@node" not in started
    assert c.node.installed_version() == TARGET
    assert c.api.app_info()["version"] == TARGET
    assert set(c.node.running_versions().values()) == {TARGET}
    assert c.node.read("etc/canopsis.toml") == conf_before
    rb = [r["step"] for r in rec.records("rollback_step") if r["status"] == "ok"]
    assert rb[-2:] == ["rb-restart@node", "rb-verify@node"], rb
    assert rec.stats["rb-amqp-"]["processed"] == 1000, rec.stats["rb-amqp-"]
