"""The wheel works outside the checkout: built from this tree, installed (not editable) into a fresh
virtualenv, used from an empty directory — the stand-ins' programs, Dockerfiles, example plans and every
product's fixtures come from the installed package."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import harness

pytestmark = [pytest.mark.slow, pytest.mark.requires_haproxy]

CHECKOUT = Path(__file__).resolve().parents[2]
SKIP = {".git", ".harness", "build", "__pycache__", ".pytest_cache", "allure-results"}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"  # a copy of the working tree, so building leaves nothing in the checkout
    shutil.copytree(CHECKOUT, src, symlinks=True,
                    ignore=lambda d, names: [n for n in names if n in SKIP or n.endswith(".egg-info")])
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "-w", str(base / "dist"), str(src)], capture_output=True, text=True, timeout=600,
                           check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (base / "dist").glob("upgrade_harness-*.whl")
    env = base / "venv"
    # the venv sees this interpreter's dependencies (pydantic, typer …) but gets its own harness: the wheel
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(env)], check=True, timeout=120)
    pip = subprocess.run([str(env / "bin/python"), "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                         capture_output=True, text=True, timeout=300, check=False)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    return env


def _run(env: Path, where: Path, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    variables = {**os.environ, "HARNESS_STATE_DIR": str(where / "state"), "HARNESS_RUNS_DIR": str(where / "runs"),
                 "HARNESS_STANDINS_DIR": str(where / "standins"), "COLUMNS": "200"}
    variables.pop("HARNESS_CONTAINERS_DIR", None)
    variables.pop("PYTHONPATH", None)
    return subprocess.run([str(env / "bin/python"), *argv], cwd=where, env=variables, capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_the_installed_package_is_used_and_ships_its_data(installed: Path, tmp_path: Path) -> None:
    where = _run(installed, tmp_path, "-c", "import harness, harness.resources as r; print(harness.__file__); "
                 "print(r.containers('zato')); print(r.examples())")
    assert where.returncode == 0, where.stderr
    module, containers, examples = where.stdout.split()
    site = str(installed / "lib")
    assert module.startswith(site) and containers.startswith(site) and examples.startswith(site)
    assert (Path(containers) / "Dockerfile").is_file() and (Path(containers) / "app/bin/zato").stat().st_mode & 0o111
    assert (Path(examples) / "zato-update.yaml").is_file()
    for module in ("harness.cli", "harness"):  # `python -m harness` is the `harness` command too
        version = _run(installed, tmp_path, "-m", module, "--version")
        assert version.returncode == 0 and version.stdout.strip() == f"harness {harness.__version__}", module


def test_a_plan_runs_and_standins_come_up_and_go_down_from_an_empty_directory(installed: Path,
                                                                               tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text("procedure: zato-update\nstandins: {product: zato, servers: 2}\n"
                                        "params: {revision: '3.2.1'}\n")
    ran = _run(installed, tmp_path, "-m", "harness.cli", "run", "plan.yaml")
    assert ran.returncode == 0 and "SUCCESS" in ran.stdout, ran.stdout + ran.stderr
    up = _run(installed, tmp_path, "-m", "harness.cli", "standins", "up", "zato", "--servers", "1")
    assert up.returncode == 0 and "inventory:" in up.stdout, up.stdout + up.stderr
    down = _run(installed, tmp_path, "-m", "harness.cli", "standins", "down")
    assert down.returncode == 0 and "is down" in down.stdout, down.stdout + down.stderr
    pidfiles = list((tmp_path / "standins").glob("*/hosts/*/opt/zato/env/*/pidfile"))
    assert not any(Path(f"/proc/{p.read_text().strip()}").exists() for p in pidfiles if p.read_text().strip())


def test_pytest_lists_every_products_fixtures_with_their_docstrings(installed: Path, tmp_path: Path) -> None:
    listed = _run(installed, tmp_path, "-m", "pytest", "--fixtures", "-p", "no:cacheprovider")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    out = listed.stdout
    for fixture, words in (("make_standins", "Start stand-ins of any product"), ("zato", "Zato environment"),
                           ("canopsis", "Canopsis stand-in"), ("beam_system", "BEAM system"),
                           ("otp_nodes", "target-system nodes")):
        assert fixture in out and words in out, f"{fixture}: {words!r} not in pytest --fixtures"
