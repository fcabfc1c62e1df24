"""The Compose installation of Canopsis: the project directory and ``docker-compose`` commands.

A project directory (``facts.compose_dir``) holds what an operator keeps: ``docker-compose.yml`` (the
reference file of the installed version, from ``facts.compose_reference/<version>/``), ``.env``,
``etc/canopsis.toml`` and the operator's ``etc/conf.d/canopsis-override.toml`` (mounted into every
service), and ``var/`` (state and logs shared by the services). Commands run on the executor's host,
where the Docker engine is reached; ``docker-compose`` (1.29, Debian) or ``docker compose`` (v2),
whichever is installed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from harness.errors import SetupFailed

FILE = "docker-compose.yml"
SERVICES = ("rabbitmq", "engine-fifo", "engine-che", "engine-axe", "api")  # long-running; reconfigure is one-shot
ENGINES_AND_API = ("engine-fifo", "engine-che", "engine-axe", "api")


def command() -> list[str]:
    """``docker-compose`` when installed, else ``docker compose`` if that plugin answers."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True,
                                                 check=False, timeout=30).returncode == 0:
        return ["docker", "compose"]
    raise SetupFailed("neither docker-compose nor `docker compose` is installed\n"
                      "Hint: run scripts/bootstrap (Debian docker-compose)")


def run(project: str | Path, *args: str, env: dict[str, str] | None = None,
        timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run([*command(), *args], cwd=str(project), capture_output=True, text=True, check=False,
                          timeout=timeout, stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})


def reference(reference_dir: str | Path, version: str) -> Path:
    return Path(reference_dir) / version / FILE


def running_services(project: str | Path) -> set[str]:
    res = run(project, "ps", "--services", "--filter", "status=running", timeout=60)
    return set(res.stdout.split()) if res.returncode == 0 else set()
