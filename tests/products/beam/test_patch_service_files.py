"""The patch service reaches the master host as exactly the Python files it imports, nothing else."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from harness.products.beam.standin.patch_service import MODULE, service_files


def test_the_files_are_the_service_its_imports_and_their_packages() -> None:
    files = service_files()
    assert set(files) == {
        "harness/__init__.py", "harness/errors.py", "harness/readonly.py", "harness/registry.py",
        "harness/products/__init__.py",
        "harness/products/beam/__init__.py", "harness/products/beam/service.py", "harness/products/beam/agent.py",
        "harness/products/beam/archive.py", "harness/products/beam/etf.py", "harness/products/beam/status.py"}
    for rel, data in files.items():
        ast.parse(data, rel)  # the package's own bytes, read as resources


def test_the_shipped_files_alone_run_the_service(tmp_path: Path) -> None:
    """Unpacked alone and run without site-packages (-S: no editable install, no pydantic, no requests):
    the service imports, and every harness module it loaded is one of the shipped files."""
    for rel, data in service_files().items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(data)
    probe = (f"import sys, {MODULE} as s; assert s.main; "
             "print('\\n'.join(sorted(m.__file__ for n, m in sys.modules.items() if n.startswith('harness'))))")
    res = subprocess.run([sys.executable, "-S", "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                         env={"PYTHONPATH": str(tmp_path)}, check=False, timeout=60)
    assert res.returncode == 0, res.stderr
    loaded = {Path(f).relative_to(tmp_path).as_posix() for f in res.stdout.split()}
    assert loaded == set(service_files())


def test_a_module_outside_the_package_is_refused() -> None:
    with pytest.raises(ModuleNotFoundError):
        service_files("harness.products.beam.nowhere")
