"""Static installation of Zato services (zato.md §1.6): ``service-sources.txt`` and ``zato_extra_paths``,
each followed by a rolling restart of the servers behind the load balancer, on the process and docker
backends with 2 servers. A probe calls a service through the load balancer for the whole run: zero
failed requests. The file is read at start only: before the restart, the new service does not answer.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from harness import resources
from harness.engine.status import Outcome
from harness.errors import PlanError
from harness.plan.models import Plan
from harness.probes import HttpProbe
from harness.products.zato.checks import check_availability
from harness.products.zato.fixtures import RecordedRun, ZatoStandin, record_run

SIZES = (2,)
EXAMPLES = resources.examples()
SOURCES = Plan(procedure="zato-service-sources", ready_timeout=30,
               params={"files": [str(EXAMPLES / "services" / "static_ping.py")]})
EXTRA = Plan(procedure="zato-extra-paths", ready_timeout=30,
             params={"packages": [str(EXAMPLES / "packages" / "acme_tools")], "modules": ["acme_tools.api"],
                     "invoke": {"acme.shout": {"text": "hi"}}})


def invoke(url: str, service: str, payload: dict[str, str]) -> requests.Response:
    return requests.post(f"{url}/zato/api/invoke/{service}", json=payload, timeout=10, headers={"Connection": "close"})


@pytest.fixture(scope="module")
def sources(zato: ZatoStandin, tmp_path_factory: pytest.TempPathFactory) -> RecordedRun:
    servers = [c for c in zato.inventory.components if c.role == "server"]
    # read at start only: written but not restarted yet, the service is not there
    assert invoke(servers[0].url, "demo.static-ping", {}).status_code == 404
    return record_run(zato, SOURCES, tmp_path_factory.mktemp("runs"))


def test_service_sources_install_succeeds_with_a_rolling_restart(sources: RecordedRun, zato: ZatoStandin) -> None:
    assert sources.outcome == Outcome.SUCCESS, sources.run.journal_records()[-3:]
    servers = [c for c in zato.inventory.components if c.role == "server"]
    assert [r.component for r in sources.history.all_restarts()] == [s.name for s in servers]
    for s in servers:  # every server imported it at its start
        assert invoke(s.url, "demo.static-ping", {}).json() == {"pong": "ZATO_OK", "server": s.name}
        text = zato.env().components[s.name].host.transport.get(f"{s.path}/config/repo/service-sources.txt").decode()
        lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
        assert lines == ["./user-services", "./work/hot-deploy/current"]  # the hot-deploy dir stays last


def test_service_sources_install_loses_no_request(sources: RecordedRun) -> None:
    verdict = check_availability(sources.probe, sources.history)
    assert verdict.valid is True and verdict.details["failed"] == 0, verdict.explain()
    assert sources.probe.sent > 20


def test_extra_paths_package_serves_after_a_rolling_restart_with_zero_failed_requests(
        sources: RecordedRun, zato: ZatoStandin, tmp_path: Path) -> None:
    assert zato.inventory.front_door
    # a probe that calls a user service (installed by the previous test) the whole time, not only /zato/ping
    probe = HttpProbe(f"{zato.inventory.front_door}/zato/api/invoke/demo.static-ping", expect="ZATO_OK",
                      max_seconds=120)
    with probe:
        run = record_run(zato, EXTRA, tmp_path)
    assert run.outcome == Outcome.SUCCESS, run.run.journal_records()[-3:]
    assert run.run.observations["invoke@load-balancer"]["responses"]["acme.shout"]["body"] == '{"text":"HI!"}'
    for r in (probe.result, run.probe):
        assert r.sent > 20 and not r.failed, r.failed[:3]
    hosts = {c.host for c in zato.inventory.components if c.role == "server"}
    env = zato.env()
    for h in hosts:
        host = env.hosts[h]
        assert host.transport.exists(f"{host.install_dir}/zato_extra_paths/acme_tools/api.py")


def test_a_bad_static_install_is_refused_before_anything_is_written(zato: ZatoStandin, tmp_path: Path) -> None:
    bad = tmp_path / "broken.py"
    bad.write_text("from zato.server.service import Service\nclass B(Service)\n    pass\n")
    from harness.engine.runner import Run

    with pytest.raises(PlanError, match=r"broken.py:2.*syntax error.*params.files\[0\]"):
        Run.create(Plan(procedure="zato-service-sources", params={"files": [str(bad)]}), zato.inventory, tmp_path)
    s = next(c for c in zato.inventory.components if c.role == "server")
    assert not zato.env().components[s.name].host.transport.exists(f"{s.path}/user-services/broken.py")
