"""`harness patch` on bad input: a located, clear error and the documented exit code, never a traceback,
and nothing reached (no service, no agent is contacted: the addresses are ports nobody listens on)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from harness.cli import app
from harness.net import free_ports
from harness.products.beam.status import EXIT_REFUSED


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich wraps at 80 columns when not on a terminal; long tmp paths would be folded mid-word."""
    from harness.products.beam import cli

    monkeypatch.setattr(cli._out, "_width", 1000)
    monkeypatch.setattr(cli._err, "_width", 1000)


def patch(*args: str) -> Result:
    return CliRunner().invoke(app, ["patch", *map(str, args)])


def said(res: Result) -> str:
    return " ".join((res.stdout + (res.stderr or "")).split())


@pytest.fixture
def nobody() -> str:
    (port,) = free_ports(1)
    return f"127.0.0.1:{port}"  # an agent address where nothing listens


IMAGE = {"path": "/x/lib/demo/ebin/m.beam", "module": "m", "loaded": True, "md5": "0" * 32, "disk": "AAAA"}


@pytest.mark.parametrize(("text", "words"), [
    ("this is not json {", ["not JSON", "line 1"]),
    (b"\xff\xfe\x00binary", ["not JSON"]),
    ("[]", ["not an anti-patch", "an object"]),
    ('{"format": 1, "agents": {}}', ["images", "Field required"]),
    ('{"format": 1, "images": {"n1": [{"path": "/x"}]}, "agents": {"n1": "A"}}', ["images.n1.0.module"]),
    ('{"format": 1, "images": {"n1": "oops"}, "agents": {"n1": "A"}}', ["images.n1"]),
    ('{"format": 1, "images": {"n1": [IMAGE]}, "agents": {}}', ["no agent address for node n1"]),
    ('{"format": 1, "images": {"n1": [{**IMAGE, "disk": "%%%"}]}, "agents": {"n1": "A"}}', ["images.n1.0.disk"]),
    ('{"format": 7, "images": {}, "agents": {}}', ["format 7", "format 1"]),
], ids=["garbage", "binary", "a-list", "no-images", "image-without-module", "images-not-a-list", "no-agent",
        "disk-not-base64", "unknown-format"])
def test_rollback_of_a_bad_anti_patch_is_refused_with_exit_4_and_reaches_no_node(
        tmp_path: Path, nobody: str, text: str | bytes, words: list[str]) -> None:
    f = tmp_path / "antipatch.json"
    if isinstance(text, bytes):
        f.write_bytes(text)
    else:
        f.write_text(text.replace("IMAGE", json.dumps(IMAGE)).replace('"A"', json.dumps(nobody))
                     .replace("{**" + json.dumps(IMAGE) + ', "disk": "%%%"}', json.dumps({**IMAGE, "disk": "%%%"})))
    res = patch("rollback", f)
    out = said(res)
    assert res.exit_code == EXIT_REFUSED == 4, out
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in out and str(f.name) in out
    for w in words:
        assert w in out, (w, out)
    assert "nothing was changed" in out


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "http//127.0.0.1:8080", "http://", "ftp://127.0.0.1:1",
                                 "http://127.0.0.1:notaport", "http://127.0.0.1:99999", "http://exa mple:80"])
@pytest.mark.parametrize("command", ["check", "delete"])
def test_a_malformed_master_url_is_a_usage_error_exit_2(url: str, command: str) -> None:
    res = CliRunner().invoke(app, ["patch", command, "--master", url], env={"HARNESS_PATCH_PASSWORD": "x"})
    out = said(res)
    assert res.exit_code == 2, out
    assert "--master" in out and "http://HOST:PORT" in out and "Traceback" not in out
