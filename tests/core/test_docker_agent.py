"""The docker transport through its agent (a container with python3), checked against the same contract as
one exec per call (tests/core/test_docker_transport.py, whose contract tests run here again), plus what only
the agent has to get right: daemons outlive their command, signals give 128 + N, the agent comes back after
the container restarts, and closing the transport leaves nothing running.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from harness.backends.docker_engine import docker_available, ensure_image
from harness.errors import TransportError
from harness.transports.docker import DockerTransport
from harness.wait import wait_until
from tests.core.test_docker_transport import (  # the contract, run here with the agent's transport
    test_argv_reaches_the_program_verbatim,
    test_get_missing_file_raises_file_not_found,
    test_missing_program_is_a_transport_error,
    test_put_get_exists_round_trip,
    test_run_captures_stdout_stderr_and_exit_code,
    test_run_honours_cwd_and_env,
    test_run_times_out_with_a_transport_error,
)

pytestmark = pytest.mark.requires_docker
__all__ = ["test_argv_reaches_the_program_verbatim", "test_get_missing_file_raises_file_not_found",
           "test_missing_program_is_a_transport_error", "test_put_get_exists_round_trip",
           "test_run_captures_stdout_stderr_and_exit_code", "test_run_honours_cwd_and_env",
           "test_run_times_out_with_a_transport_error"]


def _agents(t: DockerTransport) -> list[str]:
    """Command lines of the agents running in the container, asked with one plain exec (not the agent)."""
    plain = DockerTransport(t.container, client=t._client)
    plain._plain = True
    out = plain.run(["sh", "-c", "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done"]).stdout
    return [line for line in out.splitlines() if line.startswith("python3 -u -c")]


@pytest.fixture(scope="module")
def pynode() -> Iterator[object]:
    """A container of an image with python3 (the Zato stand-in's), idle."""
    ok, why = docker_available()
    if not ok:
        pytest.skip(why)
    from harness.backends.containers import StandinContainer, wait_for_exec

    container = (StandinContainer(ensure_image("zato"), run_id=f"selftest-{uuid.uuid4().hex[:12]}")
                 .with_command(["sleep", "infinity"]).waiting_for(wait_for_exec(["true"], timeout=30)))
    container.start()
    yield container
    container.stop()


@pytest.fixture
def transport(pynode: object) -> Iterator[tuple[DockerTransport, str]]:
    from harness.backends.containers import docker_exec_transport

    t = docker_exec_transport(pynode)  # type: ignore[arg-type]
    t.run(["true"])
    assert t._agent is not None and t._agent.alive, "the agent did not start in a container with python3"
    yield t, f"/tmp/{uuid.uuid4().hex}"
    t.close()


def test_a_daemon_started_through_the_agent_outlives_its_command(transport: tuple[DockerTransport, str]) -> None:
    t, workdir = transport
    res = t.run(["sh", "-c", f"mkdir -p {workdir}; (sleep 300 >/dev/null 2>&1 </dev/null & echo $! > {workdir}/pid)"],
                timeout=10)
    assert res.ok
    pid = t.get(f"{workdir}/pid").decode().strip()
    assert t.run(["kill", "-0", pid]).ok, "the daemon died with the command that started it"
    t.run(["kill", pid])


def test_a_signal_gives_128_plus_its_number_as_docker_exec_does(transport: tuple[DockerTransport, str]) -> None:
    t, _ = transport
    assert t.run(["sh", "-c", "kill -9 $$"]).exit_code == 137


def test_the_agent_comes_back_after_the_container_restarts(transport: tuple[DockerTransport, str],
                                                           pynode: object) -> None:
    t, _ = transport
    pynode.get_wrapped_container().restart(timeout=1)  # type: ignore[attr-defined]
    wait_until(lambda: t.run(["true"]).ok if _running(pynode) else False, timeout=60, interval=0.2,
               what="the restarted container answering through a new agent")
    assert t.run(["echo", "back"]).stdout == "back\n"
    assert t._agent is not None and t._agent.alive


def _running(container: object) -> bool:
    c = container.get_wrapped_container()  # type: ignore[attr-defined]
    c.reload()
    return bool(c.status == "running")


def test_closing_the_transport_ends_its_agent(pynode: object) -> None:
    from harness.backends.containers import docker_exec_transport

    t = docker_exec_transport(pynode)  # type: ignore[arg-type]
    before = len(_agents(t))
    t.run(["true"])
    assert len(_agents(t)) == before + 1
    t.close()
    wait_until(lambda: len(_agents(t)) == before, timeout=30, interval=0.1, what="the agent to exit")


def test_without_the_agent_every_call_is_one_exec(pynode: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.backends.containers import docker_exec_transport

    monkeypatch.setenv("HARNESS_DOCKER_AGENT", "0")
    t = docker_exec_transport(pynode)  # type: ignore[arg-type]
    before = len(_agents(t))
    assert t.run(["echo", "plain"]).stdout == "plain\n"
    assert t._agent is None and len(_agents(t)) == before


def test_a_command_sent_to_a_paused_container_is_refused_and_never_runs_after(
        transport: tuple[DockerTransport, str], pynode: object) -> None:
    """As `docker exec` refuses a paused container at once, the agent's caller gives up on seeing it paused,
    and the command it sent does not run when the container is unpaused."""
    t, workdir = transport
    marker = f"{workdir}/ran"
    t.run(["mkdir", "-p", workdir])
    wrapped = pynode.get_wrapped_container()  # type: ignore[attr-defined]
    wrapped.pause()
    try:
        with pytest.raises(TransportError, match="is paused"):
            t.run(["touch", marker], timeout=60)
    finally:
        wrapped.unpause()
    assert t.run(["echo", "after"]).stdout == "after\n"  # the same agent goes on; its queue is drained in order
    assert not t.exists(marker), "a command the caller gave up on ran once the container was unpaused"
