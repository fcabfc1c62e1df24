"""The transport contract, checked on ``local`` and on ``docker`` (a real container), plus the engine helpers.

Docker cases are marked ``requires_docker`` and skip with :func:`docker_available`'s reason only when
no engine answers; a missing base image is built (``containers/base/build-base.sh``), not skipped.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.backends.docker_engine import (
    CONTAINERS_DIR,
    LABEL_PROJECT,
    LABEL_RUN,
    LOCK_DIR,
    cleanup,
    client,
    context_hash,
    copied_sources,
    default_context,
    docker_available,
    ensure_base_image,
    ensure_image,
    image_id,
    map_exceptions,
)
from harness.errors import CommandFailed, SetupFailed, TransportError
from harness.pytest_plugin.backends import skip_unless_backend_runs
from harness.transports.base import Transport
from harness.transports.docker import DockerTransport
from harness.transports.local import LocalTransport
from harness.wait import wait_until

requires_docker = pytest.mark.requires_docker


def _need_docker() -> None:
    skip_unless_backend_runs("docker")  # skips where no engine can run; fails under CI=true


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def run_id() -> str:
    return f"selftest-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def network(run_id: str) -> Iterator[object]:
    _need_docker()
    from harness.backends.containers import per_run_network

    with per_run_network(run_id) as net:
        yield net
    cleanup(run_id)


@pytest.fixture(scope="module")
def mounted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mounted")
    (path / "input.txt").write_text("from the host\n")
    return path


@pytest.fixture(scope="module")
def node(run_id: str, network: object, mounted: Path) -> Iterator[object]:
    """A long-lived container from the base image on the run's network, as ``node1``, port 8080 published."""
    from harness.backends.containers import StandinContainer, wait_for_exec

    container = (StandinContainer(ensure_base_image(), run_id=run_id)
                 .with_command(["sleep", "infinity"])
                 .with_network(network).with_network_aliases("node1")  # type: ignore[arg-type]
                 .with_published_port(8080)
                 .with_bind_mount(mounted, "/mnt/in")
                 .waiting_for(wait_for_exec(["true"], timeout=30)))
    container.start()
    yield container
    container.stop()


@pytest.fixture(params=["local", pytest.param("docker", marks=requires_docker)])
def transport(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Transport, str]:
    """A transport and a fresh directory on its node."""
    if request.param == "local":
        return LocalTransport(), str(tmp_path)
    from harness.backends.containers import docker_exec_transport

    return docker_exec_transport(request.getfixturevalue("node")), f"/tmp/{uuid.uuid4().hex}"


# ---------------------------------------------------------------- the contract, on every transport


def test_run_captures_stdout_stderr_and_exit_code(transport: tuple[Transport, str]) -> None:
    t, _ = transport
    result = t.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert not result.ok and result.target == t.target
    with pytest.raises(CommandFailed, match="exited 3"):
        result.check()


@pytest.mark.parametrize("arg", ["a b", "it's", 'say "hi"', "$HOME", "; rm -rf /", "*", ""])
def test_argv_reaches_the_program_verbatim(transport: tuple[Transport, str], arg: str) -> None:
    """No shell in between: quotes, ``$`` and ``;`` arrive as written."""
    t, _ = transport
    assert t.run(["printf", "[%s]", arg]).stdout == f"[{arg}]"


def test_run_honours_cwd_and_env(transport: tuple[Transport, str]) -> None:
    t, workdir = transport
    t.put(f"{workdir}/marker", b"")
    assert t.run(["pwd"], cwd=workdir).stdout.strip() == workdir
    greeting = t.run(["sh", "-c", 'printf %s "$GREETING"'], env={"GREETING": "hello there"})
    assert greeting.stdout == "hello there"


def test_run_times_out_with_a_transport_error(transport: tuple[Transport, str]) -> None:
    t, _ = transport
    with pytest.raises(TransportError, match="within 1"):
        t.run(["sleep", "3600.123"], timeout=1)  # an hour: the error can only come from the timeout
    if t.NAME == "docker":  # the timed-out process was killed, not left running in the container
        def processes() -> str:
            return t.run(["sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"]).stdout

        wait_until(lambda: "sleep 3600.123" not in processes(), timeout=30, what="the timed-out sleep to be killed")
        assert "sleep infinity" in processes()


def test_missing_program_is_a_transport_error(transport: tuple[Transport, str]) -> None:
    t, _ = transport
    with pytest.raises(TransportError, match="no-such-program"):
        t.run(["no-such-program"])


def test_put_get_exists_round_trip(transport: tuple[Transport, str]) -> None:
    t, workdir = transport
    path = f"{workdir}/deep/er/file.bin"
    data = bytes(range(256)) * 10
    assert not t.exists(path)
    t.put(path, data, mode=0o750)
    assert t.get(path) == data and t.exists(path)
    assert t.run(["stat", "-c", "%a", path]).stdout.strip() == "750"
    t.put(path, b"replaced")
    assert t.get(path) == b"replaced"


def test_get_missing_file_raises_file_not_found(transport: tuple[Transport, str]) -> None:
    t, workdir = transport
    with pytest.raises(FileNotFoundError):
        t.get(f"{workdir}/absent")


# ---------------------------------------------------------------- docker specifics


@requires_docker
def test_docker_target_and_labels(node: object, run_id: str) -> None:
    from harness.backends.containers import docker_exec_transport

    t = docker_exec_transport(node)  # type: ignore[arg-type]
    assert t.target.startswith("docker://") and t.NAME == "docker"
    labels = client().containers.get(t.container).labels
    assert labels[LABEL_RUN] == run_id and labels[LABEL_PROJECT] == "standin"


def _plain_transport(node: object) -> DockerTransport:
    """One exec a call, as for a container without python3 (the base image has none: the default already)."""
    from harness.backends.containers import docker_exec_transport

    t = docker_exec_transport(node)  # type: ignore[arg-type]
    t._plain = True
    return t


@requires_docker
def test_a_plain_exec_whose_stream_lost_its_output_reads_the_programs_own_files(
        node: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's attach stream can lose a fast program's output (moby/moby#27289): the stream the engine
    returned is cut here as that race cuts it, and the output still comes back whole, from the container."""
    t = _plain_transport(node)
    real = t.api.exec_start

    def lossy(exec_id: str, **kw: object) -> tuple[bytes | None, bytes | None]:
        _, err = real(exec_id, **kw)
        return None, (err or b"")[:3]  # stdout lost, stderr cut

    monkeypatch.setattr(t.api, "exec_start", lossy)
    got = t.run(["sh", "-c", 'printf "[%s]" "$1"; printf "to stderr" >&2; exit 4', "sh", 'say "hi"'])
    assert (got.exit_code, got.stdout, got.stderr) == (4, '[say "hi"]', "to stderr")
    with pytest.raises(TransportError, match="cannot run 'no-such-program': not found"):
        t.run(["no-such-program"])


@requires_docker
def test_plain_execs_leave_no_output_behind(node: object) -> None:
    """Each exec removes the directories of the execs read before it; close() removes the last."""
    t = _plain_transport(node)
    boxes = []
    for i in range(5):
        assert t.run(["printf", str(i)]).stdout == str(i)
        boxes += [b.rsplit("/", 1)[1] for b in t._spent]  # the exec just read
    listed = set(t.run(["ls", "/tmp/.harness-exec"]).stdout.split())
    assert len(boxes) == 5 and not listed & set(boxes)  # each removed by the exec after it
    [last] = [b.rsplit("/", 1)[1] for b in t._spent]  # the ls's own
    assert last in listed
    t.close()
    other = _plain_transport(node)
    left = other._exec_once(["ls", "-A", "/tmp/.harness-exec"], timeout=30, cwd=None, env=None)[1].split()
    assert last not in left  # removed by close()


@requires_docker
def test_a_container_whose_tmp_is_read_only_gets_the_bare_stream(run_id: str, network: object) -> None:
    from harness.backends.containers import StandinContainer, docker_exec_transport, wait_for_exec

    container = (StandinContainer(ensure_base_image(), run_id=run_id).with_command(["sleep", "infinity"])
                 .with_kwargs(read_only=True).waiting_for(wait_for_exec(["true"], timeout=30)))
    with container:
        t = docker_exec_transport(container)
        t._plain = True
        assert t.run(["printf", "[%s]", "a b"]).stdout == "[a b]"
        assert t._direct  # the wrapper could not make its directory: nothing ran twice
        with pytest.raises(TransportError, match="no-such-program"):
            t.run(["no-such-program"])


@requires_docker
def test_published_ports_bind_loopback_only(node: object) -> None:
    wrapped = node.get_wrapped_container()  # type: ignore[attr-defined]
    wrapped.reload()
    bindings = wrapped.attrs["HostConfig"]["PortBindings"]["8080/tcp"]
    assert [b["HostIp"] for b in bindings] == ["127.0.0.1"]
    assert node.get_exposed_port(8080) > 0  # type: ignore[attr-defined]


@requires_docker
def test_bind_mounts_are_read_only(node: object) -> None:
    from harness.backends.containers import docker_exec_transport

    t = docker_exec_transport(node)  # type: ignore[arg-type]
    assert t.get("/mnt/in/input.txt") == b"from the host\n"
    write = t.run(["sh", "-c", "echo x > /mnt/in/new.txt"])
    assert write.exit_code != 0 and "Read-only file system" in write.stderr


@requires_docker
def test_per_run_network_resolves_aliases(node: object, network: object, run_id: str) -> None:
    from harness.backends.containers import StandinContainer, docker_exec_transport

    with (StandinContainer(ensure_base_image(), run_id=run_id).with_command(["sleep", "infinity"])
          .with_network(network).with_network_aliases("node2")) as peer:  # type: ignore[arg-type]
        assert docker_exec_transport(peer).run(["getent", "hosts", "node1"]).ok
        assert docker_exec_transport(node).run(["getent", "hosts", "node2"]).ok  # type: ignore[arg-type]


@requires_docker
def test_wait_timeout_raises_setup_failed_with_logs_and_removes_container(run_id: str) -> None:
    _need_docker()
    from harness.backends.containers import StandinContainer, wait_for_exec

    container = (StandinContainer(ensure_base_image(), run_id=run_id)
                 .with_command(["sh", "-c", "echo booting; exec sleep infinity"])
                 .with_label("selftest", "timeout")
                 .waiting_for(wait_for_exec(["test", "-e", "/never"], timeout=1.5)))
    with pytest.raises(SetupFailed) as excinfo:
        container.start()
    message = str(excinfo.value)
    assert "status=running" in message and "booting" in message and "Hint:" in message
    assert client().containers.list(all=True, filters={"label": "selftest=timeout"}) == []


@requires_docker
def test_missing_image_is_not_pulled(run_id: str) -> None:
    _need_docker()
    from harness.backends.containers import StandinContainer

    with pytest.raises(SetupFailed, match="will not be pulled"):
        StandinContainer("upgrade-harness/absent:latest", run_id=run_id).start()


@requires_docker
def test_ensure_image_builds_once_and_rebuilds_on_change(tmp_path: Path) -> None:
    _need_docker()
    name = f"selftest-{uuid.uuid4().hex[:8]}"
    (tmp_path / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY payload /payload\n")
    (tmp_path / "payload").write_text("one")
    built: list[str | None] = []
    try:
        tag = ensure_image(name, context=tmp_path)
        built.append(image_id(tag))
        assert ensure_image(name, context=tmp_path) == tag and image_id(tag) == built[0]
        (tmp_path / "payload").write_text("two")
        ensure_image(name, context=tmp_path)
        built.append(image_id(tag))
        assert built[1] != built[0]
    finally:
        for built_id in filter(None, built):
            with contextlib.suppress(Exception):
                client().images.remove(built_id, force=True)
        for lock in LOCK_DIR.glob(f"*{name}*"):
            lock.unlink(missing_ok=True)


@requires_docker
def test_cleanup_removes_labelled_containers_and_networks() -> None:
    _need_docker()
    from harness.backends.containers import StandinContainer, per_run_network

    run = f"selftest-cleanup-{uuid.uuid4().hex[:8]}"
    with per_run_network(run) as net:
        StandinContainer(ensure_base_image(), run_id=run).with_command(["sleep", "infinity"]) \
            .with_network(net).start()
        assert cleanup(run) == (1, 1)
    assert cleanup(run) == (0, 0)


# ---------------------------------------------------------------- no engine needed


def test_map_exceptions_translates_docker_errors() -> None:
    import docker.errors
    import requests

    with pytest.raises(SetupFailed, match="Hint: run scripts/bootstrap"), map_exceptions("start x"):
        raise docker.errors.ImageNotFound("no such image")
    with pytest.raises(TransportError, match="docker://n: exec"), map_exceptions("docker://n: exec",
                                                                                error=TransportError):
        raise docker.errors.APIError("conflict")
    with pytest.raises(SetupFailed, match="cannot talk to the Docker engine"), map_exceptions("ping"):
        raise requests.exceptions.ConnectionError("refused")


def test_docker_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_SKIP_DOCKER", "1")
    assert docker_available.__wrapped__() == (False, "HARNESS_SKIP_DOCKER=1")


def test_context_hash_follows_dockerfile_copied_files_and_base(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM x\nCOPY app/ /opt/app\n")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text("print(1)\n")
    first = context_hash(tmp_path, "sha256:a")
    assert context_hash(tmp_path, "sha256:a") == first
    assert context_hash(tmp_path, "sha256:b") != first
    (tmp_path / "notes.txt").write_text("not copied into the image\n")
    assert context_hash(tmp_path, "sha256:a") == first
    (tmp_path / "app" / "main.py").write_text("print(2)\n")
    assert context_hash(tmp_path, "sha256:a") != first


def test_copied_sources_reads_copy_and_add() -> None:
    text = 'COPY --chown=1:1 a b /x\nADD ["c d", "/y"]\nCOPY --from=build /a /b\nRUN true \\\n && echo\n'
    assert copied_sources(text) == ["a", "b", "c d"]
    assert copied_sources("COPY $SRC /y\n") is None


def test_default_context_is_the_repo_when_the_dockerfile_copies_repo_paths(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM x\nCOPY containers/beam/apps /opt/apps\n")
    assert default_context(tmp_path / "Dockerfile") == CONTAINERS_DIR.parent
    (tmp_path / "Dockerfile").write_text("FROM x\nCOPY apps /opt/apps\n")
    assert default_context(tmp_path / "Dockerfile") == tmp_path
