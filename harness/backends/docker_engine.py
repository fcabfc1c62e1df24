"""The Docker engine as the harness sees it: is one usable, build the stand-in images, clean up.

Everything here talks to the engine through the docker SDK, imported lazily so that importing the
harness never needs it. ``docker.errors`` and ``requests`` errors are translated at this boundary by
:func:`map_exceptions` into :class:`~harness.errors.SetupFailed` (images, networks, containers being
brought up) or :class:`~harness.errors.TransportError` (commands and files on a running container).

No image is ever pulled: no registry is assumed reachable. The base image is made by
``containers/base/build-base.sh`` (debootstrap + ``docker import``); stand-in images are built from
``containers/<name>/Dockerfile`` with ``--build-arg BASE_IMAGE=...`` and carry a label with a hash of
the Dockerfile, the files it COPYs and the base image id, so changing any of them triggers a rebuild and
nothing else does. The build context is ``containers/<name>``, or the repository root when the
Dockerfile copies repository paths (``COPY containers/beam/apps ...``; see :func:`default_context`).

Concurrency: image builds take a :class:`filelock.FileLock` under :data:`LOCK_DIR`, so pytest-xdist
workers (and ``scripts/bootstrap`` running beside them) build each image once.

Run ``python -m harness.backends.docker_engine {check,build,cleanup}`` from scripts.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import resources
from harness.errors import HarnessError, SetupFailed, TransportError

if TYPE_CHECKING:
    import docker

__all__ = [
    "BASE_IMAGE", "CONTAINERS_DIR", "LABEL_CONTEXT", "LABEL_PROJECT", "LABEL_RUN", "LOCK_DIR",
    "cleanup", "client", "context_hash", "copied_sources", "default_context", "describe_container",
    "docker_available", "ensure_base_image", "ensure_image", "image_id", "image_tag", "map_exceptions",
    "standin_names",
]

LABEL_PROJECT = "upgrade-harness"
"""On everything the harness creates; the value says what it is (``standin``, ``network``, ``image``)."""
LABEL_RUN = "upgrade-harness.run"
"""The run id (xdist ``testrun_uid`` or the executor's run id) on containers and networks: cleanup key."""
LABEL_CONTEXT = "upgrade-harness.context-hash"
"""On stand-in images: hash of the build context and base image, to tell a stale image."""

BASE_IMAGE = os.environ.get("HARNESS_BASE_IMAGE", "upgrade-harness/debian:bookworm")
CONTAINERS_DIR = resources.containers().resolve()
LOCK_DIR = Path(os.environ.get("HARNESS_LOCK_DIR", "/tmp/upgrade-harness-locks"))
BUILD_LOCK_TIMEOUT = 1800.0  # a first build of every image on a slow mirror; waiting workers block this long
PROBE_API_VERSION = "1.41"  # Docker 20.10 and later
HINT_BOOTSTRAP = "run scripts/bootstrap (starts dockerd, builds the base and stand-in images)"


# ---------------------------------------------------------------- errors at the boundary


@contextlib.contextmanager
def map_exceptions(action: str, *, error: type[HarnessError] = SetupFailed) -> Iterator[None]:
    """Translate docker SDK and HTTP errors raised inside the block into ``error``.

    ``action`` names what was being done ("docker://zato-1: exec", "build upgrade-harness/zato").
    Missing images always become :class:`SetupFailed` with the fix; other errors become ``error``.
    """
    import docker.errors
    import requests.exceptions

    try:
        yield
    except docker.errors.ImageNotFound as exc:
        message = f"{action}: image not found: {exc.explanation or exc}"
        raise SetupFailed(f"{message}\nHint: {HINT_BOOTSTRAP}") from exc
    except docker.errors.APIError as exc:
        raise error(f"{action}: Docker engine said {exc.status_code}: {exc.explanation or exc}") from exc
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise error(f"{action}: cannot talk to the Docker engine: {exc}\nHint: {HINT_BOOTSTRAP}") from exc


# ---------------------------------------------------------------- engine


@functools.cache
def client() -> docker.DockerClient:
    """One SDK client per process (from ``DOCKER_HOST`` or the local socket). Shared; do not close it."""
    import docker

    with map_exceptions("connect"):
        return docker.from_env(timeout=120)


@functools.cache
def docker_available() -> tuple[bool, str]:
    """``(True, "")`` when an engine answers; else ``(False, reason)``. Checked once per process."""
    if os.environ.get("HARNESS_SKIP_DOCKER") == "1":
        return False, "HARNESS_SKIP_DOCKER=1"
    try:
        import docker
    except ImportError as exc:
        return False, f"the docker SDK is not installed ({exc}); pip install docker"
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if where.startswith("unix://"):
        # Probe the socket by hand first: the SDK leaks its socket when the connect fails.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            try:
                sock.connect(where.removeprefix("unix://"))
            except OSError as exc:
                return False, f"no Docker engine answers at {where} ({exc}); {HINT_BOOTSTRAP}"
    # A fixed API version: the SDK would otherwise ask the engine while constructing the client.
    probe = docker.from_env(version=PROBE_API_VERSION, timeout=10)
    try:
        with map_exceptions("ping"):
            probe.ping()
    except HarnessError as exc:
        first = str(exc).splitlines()[0]
        return False, f"no Docker engine answers at {where} ({first}); {HINT_BOOTSTRAP}"
    finally:
        probe.close()
    return True, ""


def describe_container(container: Any, *, lines: int = 20) -> str:
    """Status, exit code, health and the last ``lines`` log lines of an SDK container, for error messages."""
    try:
        container.reload()
        state = container.attrs.get("State", {})
        health = state.get("Health", {}).get("Status", "no health check")
        logs = container.logs(tail=lines).decode(errors="replace").rstrip() or "(no output)"
        return (f"container {container.name} status={container.status} exit_code={state.get('ExitCode')} "
                f"health={health}\n--- recent logs ---\n{logs}")
    except Exception as exc:
        return f"container status unavailable: {exc}"


# ---------------------------------------------------------------- images


def image_tag(name: str) -> str:
    """``upgrade-harness/NAME:latest``; ``HARNESS_IMAGE_TAG`` gives another tag, so two checkouts that change
    one stand-in's image differently do not rebuild each other's."""
    return f"upgrade-harness/{name}:{os.environ.get('HARNESS_IMAGE_TAG') or 'latest'}"


def copied_sources(dockerfile: str) -> list[str] | None:
    """The context paths a Dockerfile's COPY/ADD instructions read, or None when it cannot tell.

    ``COPY --from=stage`` reads no context. Sources with variables, globs or URLs give None, and the
    caller then hashes the whole context.
    """
    sources: list[str] = []
    for line in re.sub(r"\\\n", " ", dockerfile).splitlines():
        words = line.split()
        if not words or words[0].upper() not in ("COPY", "ADD"):
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if any(w.startswith("--from") for w in words[1:]):
            continue
        if args and args[0].startswith("["):
            args = json.loads(" ".join(args))
        if any(c in a for a in args[:-1] for c in "$*?[:") or len(args) < 2:
            return None
        sources.extend(args[:-1])
    return sources


def context_hash(context: Path, base_image_id: str = "", *, dockerfile: Path | None = None) -> str:
    """SHA-256 over the Dockerfile, the files its COPY/ADD read from ``context``, and the base image id.

    Files the Dockerfile never copies do not count: a stand-in program cloned at run time changes
    without a rebuild. Each file counts with its relative path, exec bit and bytes.
    """
    dockerfile = dockerfile or context / "Dockerfile"
    text = dockerfile.read_text()
    digest = hashlib.sha256(f"{base_image_id}\0{text}".encode())
    sources = copied_sources(text)
    roots = [context] if sources is None else [context / src for src in sources]
    files = {f for root in roots for f in ([root] if root.is_file() else root.rglob("*")) if f.is_file()}
    for path in sorted(files):
        if "__pycache__" in path.parts:
            continue
        digest.update(f"\0{path.relative_to(context).as_posix()}\0{os.access(path, os.X_OK)}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:24]


def default_context(dockerfile: Path) -> Path:
    """``containers/<name>`` itself, or the repository root when the Dockerfile copies repo paths.

    A Dockerfile whose COPY/ADD sources start with ``containers/`` (or that says
    ``# harness: context=repo``) is built from the repository root, e.g. to copy ``harness/`` in.
    """
    text = dockerfile.read_text()
    if re.search(r"^#\s*harness:\s*context=repo\b", text, re.MULTILINE) or any(
            src.startswith("containers/") for src in copied_sources(text) or []):
        return CONTAINERS_DIR.parent
    return dockerfile.parent


def _locked(name: str) -> Any:
    from filelock import FileLock

    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    return FileLock(str(LOCK_DIR / f"{safe}.lock"), timeout=BUILD_LOCK_TIMEOUT)


def image_id(tag: str) -> str | None:
    """The id of image ``tag``, or None when the engine does not have it."""
    import docker.errors

    with map_exceptions(f"inspect {tag}"):
        try:
            return str(client().images.get(tag).id)
        except docker.errors.ImageNotFound:
            return None


def ensure_base_image(base_image: str = BASE_IMAGE) -> str:
    """Make sure ``base_image`` exists, running ``containers/base/build-base.sh`` once if it does not."""
    if image_id(base_image):
        return base_image
    script = CONTAINERS_DIR / "base" / "build-base.sh"
    with _locked(base_image):
        if image_id(base_image):
            return base_image
        proc = subprocess.run(["bash", str(script), base_image], capture_output=True, text=True, check=False,
                              stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
            raise SetupFailed(f"building {base_image} failed (exit {proc.returncode}):\n{tail}\n"
                              f"Hint: check the apt mirror is reachable, then rerun {script}")
    return base_image


def ensure_image(name: str, *, context: Path | None = None, base_image: str = BASE_IMAGE,
                 dockerfile: Path | None = None) -> str:
    """Build ``containers/<name>`` as ``upgrade-harness/<name>:latest`` unless an up-to-date one exists.

    ``dockerfile`` defaults to ``<context>/Dockerfile`` when a context is given, else to
    ``containers/<name>/Dockerfile`` with :func:`default_context`. Returns the tag. Safe to call from
    every xdist worker: the build runs once under a file lock, the others wait and find the fresh label.
    """
    if dockerfile is None:
        dockerfile = (context or CONTAINERS_DIR / name) / "Dockerfile"
    if not dockerfile.is_file():
        raise SetupFailed(f"no Dockerfile at {dockerfile}")
    context = context or default_context(dockerfile)
    tag = image_tag(name)
    base_id = image_id(ensure_base_image(base_image)) or ""
    wanted = context_hash(context, base_id, dockerfile=dockerfile)
    if _current_hash(tag) == wanted:
        return tag
    with _locked(tag):
        if _current_hash(tag) != wanted:
            previous = image_id(tag)
            _build(tag, context, dockerfile, base_image, wanted)
            if previous and previous != image_id(tag):
                _remove_unused(previous)
    return tag


def _remove_unused(image: str) -> None:
    """Drop a superseded, now untagged image; the engine refuses while a container uses it (fine)."""
    import docker.errors

    with contextlib.suppress(docker.errors.APIError):
        client().images.remove(image)


def _current_hash(tag: str) -> str | None:
    if image_id(tag) is None:
        return None
    with map_exceptions(f"inspect {tag}"):
        labels = client().images.get(tag).labels or {}
    return labels.get(LABEL_CONTEXT)


def _build(tag: str, context: Path, dockerfile: Path, base_image: str, digest: str) -> None:
    log: list[str] = []
    with map_exceptions(f"build {tag}"):
        stream = client().api.build(path=str(context), dockerfile=str(dockerfile.relative_to(context)),
                                    tag=tag, buildargs={"BASE_IMAGE": base_image},
                                    labels={LABEL_PROJECT: "image", LABEL_CONTEXT: digest}, rm=True,
                                    forcerm=True, pull=False, decode=True)
        for chunk in stream:
            if "stream" in chunk:
                log.extend(chunk["stream"].splitlines())
            if "error" in chunk:
                tail = "\n".join(log[-25:])
                raise SetupFailed(f"docker build of {tag} from {context} failed: {chunk['error'].strip()}\n"
                                  f"--- build log (tail) ---\n{tail}\n"
                                  f"Hint: rebuild by hand with: docker build -f {dockerfile} --build-arg "
                                  f"BASE_IMAGE={base_image} -t {tag} {context}")


def standin_names() -> list[str]:
    """Every ``containers/<name>`` that has a Dockerfile."""
    return sorted(p.parent.name for p in CONTAINERS_DIR.glob("*/Dockerfile"))


# ---------------------------------------------------------------- cleanup


def cleanup(run_id: str | None = None) -> tuple[int, int]:
    """Remove containers, then networks, labelled with ``run_id`` (every run when None).

    Returns ``(containers, networks)`` removed. Idempotent; objects that vanish meanwhile are ignored.
    """
    import docker.errors

    label = LABEL_RUN if run_id is None else f"{LABEL_RUN}={run_id}"
    removed = [0, 0]
    with map_exceptions(f"cleanup {label}"):
        for container in client().containers.list(all=True, filters={"label": label}):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True, v=True)
                removed[0] += 1
        for network in client().networks.list(filters={"label": label}):
            with contextlib.suppress(docker.errors.NotFound):
                network.remove()
                removed[1] += 1
    return removed[0], removed[1]


# ---------------------------------------------------------------- command line (for scripts/)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "check"
    ok, reason = docker_available()
    if not ok:
        print(f"docker: unavailable: {reason}")
        return 0 if command == "cleanup" else 1
    try:
        if command == "build":
            names = argv[1:] or standin_names()
            if not names:
                print(f"docker: no {CONTAINERS_DIR}/*/Dockerfile to build")
            for name in names:
                print(f"docker: image {ensure_image(name)} up to date", flush=True)
        elif command == "cleanup":
            containers, networks = cleanup(argv[1] if argv[1:] else None)
            print(f"docker: removed {containers} containers, {networks} networks")
        elif command != "check":
            print("usage: python -m harness.backends.docker_engine check|build [NAME...]|cleanup [RUN]")
            return 2
    except (SetupFailed, TransportError) as exc:
        print(f"docker: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
