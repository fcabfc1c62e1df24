"""Faults on the docker backend (one container per Zato host): ``pause`` is ``docker pause`` of the host's
container and ``cut`` disconnects it from the environment's network; both undone at close."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from harness import standins
from harness.faults import Faults
from harness.plan.models import Inventory, StandinsSpec
from harness.pytest_plugin.backends import skip_unless_backend_runs

pytestmark = [pytest.mark.requires_docker, pytest.mark.slow, pytest.mark.xdist_group("zato-faults-docker")]


@pytest.fixture(scope="module")
def zato_docker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Inventory]:
    skip_unless_backend_runs("docker")
    name = standins.new_env_name("zato")
    base = tmp_path_factory.mktemp("zato-docker")
    inv = standins.up(StandinsSpec(product="zato", servers=1, backend="docker"), base / name,  # type: ignore[call-arg]
                      name=name)
    yield inv
    standins.down(inv)


def container(inv: Inventory, host: str):  # type: ignore[no-untyped-def]
    import docker

    return docker.from_env().containers.get(inv.host(host).transport.removeprefix("docker://"))


def ping(inv: Inventory) -> bool:
    url = next(c.url for c in inv.components if c.name == "server1")
    try:
        return "ZATO_OK" in requests.get(url + "/zato/ping", timeout=3).text
    except requests.RequestException:
        return False


def test_pause_is_docker_pause(zato_docker: Inventory) -> None:
    with Faults(zato_docker) as faults:
        faults.pause("server1")
        assert container(zato_docker, "vm-server1").status == "paused"
        assert not ping(zato_docker)
    assert container(zato_docker, "vm-server1").status == "running"
    assert ping(zato_docker)


def test_cut_disconnects_the_container_and_close_reconnects_it(zato_docker: Inventory) -> None:
    before = set(container(zato_docker, "vm-server1").attrs["NetworkSettings"]["Networks"])
    with Faults(zato_docker) as faults:
        faults.cut("server1")
        assert set(container(zato_docker, "vm-server1").attrs["NetworkSettings"]["Networks"]) == set()
    assert set(container(zato_docker, "vm-server1").attrs["NetworkSettings"]["Networks"]) == before
