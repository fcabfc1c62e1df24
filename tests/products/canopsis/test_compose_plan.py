"""Planning the Compose installation's update (no Docker needed): steps, refusals, reference files."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from harness.engine.procedure import Check
from harness.engine.runner import plan_steps
from harness.errors import ConfigError, PlanError
from harness.plan.models import Inventory, Plan, StandinsSpec
from harness.products.canopsis import compose
from harness.products.canopsis.standin import SOURCE
from harness.products.canopsis.standin.compose import override
from harness.standins import planned_inventory


def _inv(tmp_path: Path, **options: str) -> Inventory:
    spec = StandinsSpec.model_validate({"product": "canopsis", "backend": "process", "version": "4.4.0",
                                        "install": "compose", **options})
    return planned_inventory(spec, tmp_path, name="cps-plan")


def test_compose_plan_replaces_the_compose_file_then_runs_up(tmp_path: Path) -> None:
    steps = plan_steps(Plan(procedure="canopsis-update", params={
        "to": "4.6.1", "guides_followed": ["migration-4.5.0", "migration-4.6.0"]}), _inv(tmp_path))
    ids = [s.id.split("@")[0] for s in steps]
    assert ids == ["broadcast", "release-note-4.4.1", "release-note-4.5.0", "release-note-4.5.1",
                   "release-note-4.5.2", "release-note-4.6.0", "release-note-4.6.1", "compose-files", "compose-up",
                   "verify"]
    up = steps[-2]
    assert up.args["flags"] == ["-migrate-postgres=true"] and up.gate is not None


def test_reference_files_are_upstreams_set_with_the_version_in_env() -> None:
    """As upstream (community/docker-compose/ in 4.5.0-4.6.1): one docker-compose.yml for every version, the
    version pinned by CANOPSIS_IMAGE_TAG in .env, the broker cpsrabbit on vhost canopsis in compose.env, no
    `condition:` ordering in a 4.x file, nothing published beyond what the installation's override says."""
    dirs = [d for d in _reference_dirs() if d.name.startswith("4.")]
    assert [d.name for d in dirs] == ["4.4.0", "4.4.1", "4.5.0", "4.5.1", "4.5.2", "4.6.0", "4.6.1"]
    composes = {(d / "docker-compose.yml").read_text() for d in dirs}
    assert len(composes) == 1, "the compose file does not change between 4.x versions"
    text = composes.pop()
    doc = yaml.safe_load(text)
    assert set(doc["services"]) == {"rabbitmq", "reconfigure", "fifo", "che", "axe", "api"}
    assert all(isinstance(svc.get("depends_on", []), list) for svc in doc["services"].values())  # no condition:
    assert not any("ports" in svc for svc in doc["services"].values())
    assert doc["services"]["axe"]["image"] == "canopsis/engine-axe:${CANOPSIS_IMAGE_TAG}"
    assert compose.ordered_jobs(text) == []  # the executor runs reconfigure first
    assert {"RABBITMQ_DEFAULT_USER=cpsrabbit", "RABBITMQ_DEFAULT_VHOST=canopsis"} <= set(
        doc["services"]["rabbitmq"]["environment"])
    for d in dirs:
        assert f"CANOPSIS_IMAGE_TAG={d.name}\n" in (d / ".env").read_text()
        assert "CPS_AMQP_URL=amqp://cpsrabbit:canopsis@rabbitmq/canopsis\n" in (d / "compose.env").read_text()


#: upstream's service names: community/docker-compose/docker-compose.yml (4.x; 4.4/4.5 split it into 01-prov
#: and 02-app) and community/deployment/canopsis/docker/docker-compose.yml at 22.10.0, 23.04.0 (+ migrate-metrics-meta,
#: service), 23.10.0 and 24.04.0 (+ mongodb-rs-init)
UPSTREAM_4X = {"rabbitmq", "mongodb", "redis", "nginx", "provisioning", "reconfigure", "action", "api", "axe",
               "che", "fifo", "pbehavior", "service", "oldapi"}
UPSTREAM_YYMM = {"rabbitmq", "mongodb", "redis", "timescaledb", "reconfigure", "action", "axe", "che", "fifo",
                 "nginx", "pbehavior", "api"}
UPSTREAM_BY_RELEASE = {"22.10": {"migrate-metrics-meta", "service"}, "23.04": {"migrate-metrics-meta", "service"},
                       "23.10": {"mongodb-rs-init"}, "24.04": {"mongodb-rs-init"}}


def _reference_dirs() -> list[Path]:
    return sorted((SOURCE / "compose").iterdir(), key=lambda p: tuple(int(x) for x in p.name.split(".")))


def _env(text: str) -> dict[str, str]:
    """KEY=VALUE lines, ``${KEY}`` expanded from the lines above (as Compose reads an env_file)."""
    out: dict[str, str] = {}
    for ln in text.splitlines():
        if ln.strip() and not ln.startswith("#"):
            key, value = ln.split("=", 1)
            out[key] = re.sub(r"\$\{(\w+)\}", lambda m: out.get(m.group(1), ""), value)
    return out


@pytest.mark.parametrize("ref", _reference_dirs(), ids=lambda p: p.name)
def test_each_versions_file_set_has_upstreams_service_names_and_credentials(ref: Path) -> None:
    """Every version's set (docker-compose.yml, .env, compose.env) names upstream's services, pins the version
    in .env, gives the broker upstream's account (cpsrabbit, vhost canopsis) and, from 22.10, TimescaleDB's
    (cpspostgres, database canopsis) the same in the service and in the URL the jobs use; each file says the
    upstream tag and path it was taken from (4.x: one file for every version, checked above)."""
    yymm = int(ref.name.split(".")[0]) >= 22
    text, env = (ref / "docker-compose.yml").read_text(), _env((ref / "compose.env").read_text())
    svcs = compose.services(text)
    upstream = UPSTREAM_YYMM | UPSTREAM_BY_RELEASE[ref.name.rsplit(".", 1)[0]] if yymm else UPSTREAM_4X
    assert set(svcs) <= upstream, sorted(set(svcs))
    assert {"rabbitmq", "reconfigure", "fifo", "che", "axe", "api"} <= set(svcs)
    assert _env((ref / ".env").read_text())["CANOPSIS_IMAGE_TAG"] == ref.name
    assert env["CPS_AMQP_URL"] == "amqp://cpsrabbit:canopsis@rabbitmq/canopsis"
    assert {"RABBITMQ_DEFAULT_USER=cpsrabbit", "RABBITMQ_DEFAULT_PASS=canopsis",
            "RABBITMQ_DEFAULT_VHOST=canopsis"} <= set(svcs["rabbitmq"]["environment"])
    if not yymm:
        return
    for name in ("docker-compose.yml", ".env", "compose.env", "community.env"):
        assert f"capensis/canopsis {ref.name}:community/deployment/canopsis/docker/{name}" in \
            (ref / name).read_text().replace("\n# ", " "), name
    assert {k: env[k] for k in ("RABBITMQ_DEFAULT_USER", "RABBITMQ_DEFAULT_PASS", "RABBITMQ_DEFAULT_VHOST")} == {
        "RABBITMQ_DEFAULT_USER": "cpsrabbit", "RABBITMQ_DEFAULT_PASS": "canopsis", "RABBITMQ_DEFAULT_VHOST": "canopsis"}
    assert env["CPS_POSTGRES_URL"] == (f"postgresql://{env['POSTGRES_USER']}:{env['POSTGRES_PASSWORD']}"
                                       f"@timescaledb:5432/{env['POSTGRES_DB']}")
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]) == (
        "cpspostgres", "canopsis", "canopsis")


@pytest.mark.parametrize("version", ["22.10.0", "23.04.0"])
def test_yymm_files_order_the_jobs_with_conditions_as_upstream(version: str) -> None:
    """22.10+: the jobs wait for timescaledb and rabbitmq to be healthy, every component waits for both jobs
    to exit 0 (``condition:``), so Compose, not the executor, orders them."""
    text = (SOURCE / "compose" / version / "docker-compose.yml").read_text()
    svcs = compose.services(text)
    assert compose.ordered_jobs(text) == ["reconfigure", "migrate-metrics-meta"]
    for job in ("reconfigure", "migrate-metrics-meta"):
        assert svcs[job]["restart"] == "no"
        assert svcs[job]["depends_on"] == {"timescaledb": {"condition": "service_healthy"},
                                           "rabbitmq": {"condition": "service_healthy"}}
    for svc in ("fifo", "che", "axe", "api"):
        assert svcs[svc]["depends_on"] == {"reconfigure": {"condition": "service_completed_successfully"},
                                           "migrate-metrics-meta": {"condition": "service_completed_successfully"}}
    assert "healthcheck" in svcs["timescaledb"] and "healthcheck" in svcs["rabbitmq"]
    assert not any("ports" in svc for svc in svcs.values())
    for svc in ("reconfigure", "migrate-metrics-meta", "fifo", "che", "axe", "api"):  # as upstream's service_base
        assert svcs[svc]["env_file"] == ["compose.env", "${CPS_EDITION:?CPS_EDITION not set}.env"], svc


def test_each_versions_file_set_is_upstreams_and_an_update_knows_every_name() -> None:
    """What an operator downloads: 4.x docker-compose.yml, .env, compose.env; 22.10+ (the release tarball of
    community/deployment/canopsis/docker) also community.env, the edition's variables. An update writes the
    target's set and removes a reference file of another set the target's has not (``known_files``)."""
    root = SOURCE / "compose"
    for ref in _reference_dirs():
        yymm = int(ref.name.split(".")[0]) >= 22
        names = compose.files(root, ref.name)
        assert names[0] == "docker-compose.yml"
        assert set(names) == {"docker-compose.yml", ".env", "compose.env", *(["community.env"] if yymm else [])}
        if yymm:
            assert _env((ref / "community.env").read_text()) == {"CPS_EDITION": "community"}
    assert compose.known_files(root) == (".env", "community.env", "compose.env", "docker-compose.yml")


def test_yymm_compose_plan_leaves_the_jobs_to_compose(tmp_path: Path) -> None:
    steps = plan_steps(Plan(procedure="canopsis-update", params={
        "to": "23.04.0", "guides_followed": ["migration-23.04.0"]}), _inv(tmp_path, version="22.10.0"))
    assert [s.id.split("@")[0] for s in steps] == ["broadcast", "release-note-22.10.1", "release-note-23.04.0",
                                                    "compose-files", "compose-up", "verify"]
    assert "Compose runs reconfigure, migrate-metrics-meta first" in steps[-2].description
    assert steps[-2].args["flags"] == ["-edition", "community", "-migrate-postgres=true"]


def test_the_override_runs_the_yymm_services_with_the_standins_programs() -> None:
    doc = yaml.safe_load(override("cps-t", ("img/c:1", "img/r:1"), "/repo", 41001, 41002,
                                  extra=["timescaledb", "migrate-metrics-meta"]))
    assert doc["services"]["timescaledb"]["command"] == ["/opt/canopsis/bin/cps-service", "timescaledb"]
    assert doc["services"]["timescaledb"]["environment"]["PATH"].startswith("/opt/canopsis/bin:")  # pg_isready
    assert doc["services"]["migrate-metrics-meta"]["image"] == "img/c:1"
    assert "timescaledb" not in yaml.safe_load(override("cps-t", ("img/c:1", "img/r:1"), "/repo", 1, 2))["services"]


def test_the_installations_override_keeps_ports_on_loopback_and_takes_the_version_from_env() -> None:
    text = override("cps-t", ("img/c:1", "img/r:1"), "/repo", 41001, 41002)
    doc = yaml.safe_load(text)
    assert doc["services"]["api"]["ports"] == ["127.0.0.1:41002:8082"]
    assert doc["services"]["rabbitmq"]["ports"] == ["127.0.0.1:41001:5672"]
    assert all(s["environment"]["CANOPSIS_VERSION"] == "${CANOPSIS_IMAGE_TAG}"
               for name, s in doc["services"].items() if name != "rabbitmq")
    assert all(s["labels"]["upgrade-harness.run"] == "cps-t" for s in doc["services"].values())


def test_target_without_a_reference_compose_file_is_refused(tmp_path: Path) -> None:
    inv = _inv(tmp_path)
    ref = tmp_path / "reference"
    shutil.copytree(SOURCE / "compose", ref)
    (ref / "4.6.1" / ".env").unlink()  # a partial file set is as good as none: the update resyncs all of it
    inv = inv.model_copy(update={"facts": {**inv.facts, "compose_reference": str(ref)}})
    with pytest.raises(PlanError, match=r"no reference compose file for Canopsis 4\.6\.1 .*\.env missing"):
        plan_steps(Plan(procedure="canopsis-update", params={
            "to": "4.6.1", "guides_followed": ["migration-4.5.0", "migration-4.6.0"]}), inv)


def test_compose_is_community_only(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        _inv(tmp_path, edition="cat")
    assert exc.value.field == "standins.edition" and "install: packages" in str(exc.value)


def test_the_project_lives_on_the_node_host_that_runs_the_docker_cli(tmp_path: Path) -> None:
    """One host, ``node``: the project directory is its install dir, every program of the project runs in
    a service (node commands by ``docker-compose exec``), the releases' files are the controller's."""
    inv = _inv(tmp_path)
    assert [h.name for h in inv.hosts] == ["node"] and inv.hosts[0].transport == "local"
    assert inv.facts["compose_dir"] == inv.hosts[0].install_dir == str(tmp_path / "hosts/node/opt/canopsis-compose")
    assert {c.name: c.host for c in inv.components} == {"canopsis": "node", "rabbitmq": "node", "api": "node"}
    assert inv.facts["node_repository"] == "/srv/canopsis-repo"  # the services' view of the repository
    assert inv.facts["compose_reference"] == str(SOURCE / "compose")  # planning: the shipped files


def test_a_resync_writes_the_targets_set_removes_what_it_lacks_and_the_restore_puts_it_back(
        tmp_path: Path) -> None:
    """On a project holding 22.10.0's set, a resync to a set without community.env (4.6.1's) removes it and
    leaves the operator's override alone; the rollback's restore brings back every file as it was."""
    from harness.engine.actions import StepContext
    from harness.engine.step import Step
    from harness.environment import Environment
    from harness.products.canopsis.actions import ComposeFiles, ComposeRestore

    ref = tmp_path / "ref"
    for v in ("4.6.1", "22.10.0"):
        shutil.copytree(SOURCE / "compose" / v, ref / v)
    inv = _inv(tmp_path / "env")
    inv = inv.model_copy(update={"facts": {**inv.facts, "compose_reference": str(ref),
                                           "compose_command": ["docker-compose"]}})
    project = Path(str(inv.facts["compose_dir"]))
    project.mkdir(parents=True, exist_ok=True)
    for name in compose.files(ref, "22.10.0"):
        shutil.copy(ref / "22.10.0" / name, project / name)
    (project / compose.OVERRIDE).write_text("# the operator's\n")
    env = Environment.from_inventory(inv)
    ctx = StepContext(env=env, plan=Plan(procedure="canopsis-update"), observations={},
                      step=Step("compose-files@node", "node", "canopsis.compose_files", {"to": "4.6.1"}))
    assert ComposeFiles().skip(ctx) is None
    ComposeFiles().run(ctx)
    assert sorted(p.name for p in project.iterdir()) == sorted([*compose.files(ref, "4.6.1"), compose.OVERRIDE,
                                                               compose.BACKUP])  # the replaced files, kept
    assert {n: (project / n).read_text() for n in compose.files(ref, "4.6.1")} == {
        n: (ref / "4.6.1" / n).read_text() for n in compose.files(ref, "4.6.1")}
    assert ctx.observation["written"] == list(compose.files(ref, "4.6.1"))
    assert ComposeFiles().skip(ctx) == "docker-compose.yml, .env, compose.env are the reference files of 4.6.1"

    before = ctx.observation["before"]
    assert before["community.env"] == compose.sha256((ref / "22.10.0" / "community.env").read_bytes())
    restore = StepContext(env=env, plan=ctx.plan, observations={},
                          step=Step("rb-compose-files@node", "node", "canopsis.compose_restore", {"content": before}))
    assert ComposeRestore().skip(restore) is None
    ComposeRestore().run(restore)
    assert {n: (project / n).read_text() for n in compose.files(ref, "22.10.0")} == {
        n: (ref / "22.10.0" / n).read_text() for n in compose.files(ref, "22.10.0")}
    assert (project / compose.OVERRIDE).read_text() == "# the operator's\n"
    assert ComposeRestore().skip(restore) is not None


def test_an_override_naming_a_service_the_target_lacks_is_named_before_anything_changes(tmp_path: Path) -> None:
    """An operator's override that still names a service upstream dropped (here a `service` block, which the
    stand-in's 23.04.0 file leaves out) would make Compose start it on its own: the Compose check names it
    with its fix, and the one the stand-in writes passes."""
    from harness.environment import Environment
    from harness.products.canopsis.procedure import _override_check

    inv = _inv(tmp_path / "env")
    inv = inv.model_copy(update={"facts": {**inv.facts, "compose_command": ["docker-compose"]}})
    project = Path(str(inv.facts["compose_dir"]))
    project.mkdir(parents=True, exist_ok=True)
    env = Environment.from_inventory(inv)
    assert _override_check(env, "23.04.0") == Check("compose override", "node", True, f"no {compose.OVERRIDE}")
    mine = override("cps-t", ("img/c:1", "img/r:1"), "/repo", 1, 2, extra=["timescaledb", "migrate-metrics-meta"])
    (project / compose.OVERRIDE).write_text(mine)
    assert _override_check(env, "23.04.0").ok  # type: ignore[union-attr]
    (project / compose.OVERRIDE).write_text(mine.replace("networks:\n", "  service:\n    image: img/c:1\nnetworks:\n"))
    check = _override_check(env, "23.04.0")
    assert check is not None and not check.ok
    assert check.detail.startswith(f"{project}/{compose.OVERRIDE} names service, which Canopsis 23.04.0's "
                                   "docker-compose.yml does not have"), check.detail
    assert "remove service from docker-compose.override.yml" in check.fix
    assert compose.override_strays(mine, (SOURCE / "compose" / "4.6.1" / compose.FILE).read_text()) == [
        "migrate-metrics-meta", "timescaledb"]  # 22.10's services named to a 4.x file
