"""A small inventory of two hosts and three components on this machine (local transport, tmp dirs)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml


def write_inventory(root: Path) -> Path:
    hosts = [{"name": f"h{i}", "transport": "local", "install_dir": str(root / f"h{i}")} for i in (1, 2)]
    comps = [{"name": "web", "role": "web", "host": "h1", "path": str(root / "h1" / "web"), "url": "http://127.0.0.1:9"},
             {"name": "app1", "role": "app", "host": "h1", "path": str(root / "h1" / "app1"),
              "url": "http://127.0.0.1:9"},
             {"name": "app2", "role": "app", "host": "h2", "path": str(root / "h2" / "app2"),
              "url": "http://127.0.0.1:9"}]
    for c in comps:
        Path(c["path"]).mkdir(parents=True, exist_ok=True)
    inv = {"environment": f"rb-{root.name[-20:]}".replace("_", "-"), "product": "demo", "hosts": hosts,
           "components": comps, "facts": {"port": 8080}}
    path = root / "inventory.yaml"
    path.write_text(yaml.safe_dump(inv))
    return path


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    return write_inventory(tmp_path)


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich wraps at 80 columns when not on a terminal; long tmp paths would be folded mid-word."""
    from harness.cli import _render

    monkeypatch.setattr(_render.console, "_width", 1000)
    monkeypatch.setattr(_render.err, "_width", 1000)
