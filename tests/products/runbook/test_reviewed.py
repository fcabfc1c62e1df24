"""A reviewed runbook is the runbook run (issue 12): `harness plan --out` then `harness run reviewed.json` on
this machine's nodes (local transport, real files). A `put:` source or the plan edited in between refuses
the run with exit 8 naming node and fact, and no node is touched; a damaged file is refused with exit 4."""

from __future__ import annotations

import hashlib
import json
import secrets
import textwrap
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner, Result

from harness.cli import app
from harness.cli.reviewed import FORMAT

PLAN = """\
procedure: runbook
target: inventory.yaml
params:
  secrets:
    TOKEN: {env: RB_REVIEW_TOKEN}
  steps:
    - id: conf
      node: web
      put: {path: "{{ node.path }}/app.conf", src: app.conf}
    - id: login
      role: app
      run: [sh, -c, 'printf %s "$1" > "$2"', sh, "{{ secrets.TOKEN }}", "{{ node.path }}/token"]
"""


@pytest.fixture
def reviewed(tmp_path: Path, inventory: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A plan reviewed into reviewed.json (a canary secret in the executor's environment); the secret."""
    token = "canary-" + secrets.token_hex(8)
    monkeypatch.setenv("RB_REVIEW_TOKEN", token)
    monkeypatch.setenv("HARNESS_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app.conf").write_text("port=8080\n")
    (tmp_path / "plan.yaml").write_text(PLAN)
    res = harness("plan", "plan.yaml", "--out", "reviewed.json")
    assert res.exit_code == 0, res.output
    return tmp_path / "reviewed.json", token


def harness(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def said(res: Result) -> str:
    return " ".join(res.output.split())


def nodes(root: Path) -> dict[str, str]:
    """Every file of every node, with its sha256."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for h in ("h1", "h2") for p in sorted((root / h).rglob("*")) if p.is_file()}


def test_the_reviewed_plan_runs_exactly_its_saved_steps(tmp_path: Path, reviewed: tuple[Path, str]) -> None:
    path, token = reviewed
    doc = json.loads(path.read_text())
    assert doc["format"] == FORMAT
    jsonschema.validate(doc, json.loads(harness("schema", "output").stdout)["reviewed"])
    assert [s["id"] for s in doc["steps"]] == ["conf@web", "login@app1", "login@app2"]
    src = tmp_path / "app.conf"
    assert doc["facts"]["web"] == {f"put {src}": hashlib.sha256(b"port=8080\n").hexdigest()}
    assert set(doc["facts"]["local"]) == {"plan sha256", "inventory sha256"}
    assert token not in path.read_text(), "a secret is saved as its reference, never its value"
    assert doc["plan"]["params"]["secrets"]["TOKEN"] == {"env": "RB_REVIEW_TOKEN"}

    res = harness("run", str(path), "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["outcome"] == "success"
    (run_dir,) = (tmp_path / "runs").iterdir()
    journaled = [r["step"] for r in map(json.loads, (run_dir / "journal.jsonl").read_text().splitlines())
                 if r["event"] == "step" and r["status"] != "started"]
    assert journaled == [s["id"] for s in doc["steps"]]
    assert (tmp_path / "h1/web/app.conf").read_text() == "port=8080\n"
    assert (tmp_path / "h2/app2/token").read_text() == token


@pytest.mark.parametrize("edit", ["put-source", "plan-file"])
def test_a_fact_changed_since_the_review_refuses_with_exit_8_naming_node_and_fact(
        tmp_path: Path, reviewed: tuple[Path, str], edit: str) -> None:
    path, _ = reviewed
    src = tmp_path / "app.conf"
    if edit == "put-source":
        src.write_text("port=9090\n")
        node, fact = "web", f"put {src}"
        old, new = (hashlib.sha256(t).hexdigest() for t in (b"port=8080\n", b"port=9090\n"))
    else:
        plan = tmp_path / "plan.yaml"
        old = hashlib.sha256(plan.read_bytes()).hexdigest()
        plan.write_text(PLAN.replace("app.conf}", "app.conf, mode: 0o600}"))
        node, fact, new = "local", "plan sha256", hashlib.sha256(plan.read_bytes()).hexdigest()
    before = nodes(tmp_path)
    res = harness("run", str(path))
    out = said(res)
    assert res.exit_code == 8, out
    assert f"node {node}: {fact}: reviewed {old}, now {new}" in out
    assert "nothing was changed on any node" in out
    assert nodes(tmp_path) == before and not (tmp_path / "h1/web/app.conf").exists()
    assert not (tmp_path / "runs").exists(), "no run was created, no lease taken"
    as_json = harness("run", str(path), "--json")
    assert as_json.exit_code == 8
    assert json.loads(as_json.stdout)["outcome"] == "stale"


def _edit_step(doc: dict[str, object]) -> None:
    doc["steps"][0]["description"] = "something else"  # type: ignore[index]


@pytest.mark.parametrize(("damage", "field"), [
    (lambda text: text[: len(text) // 2], None),
    (lambda text: text.replace(FORMAT, "upgrade-harness/reviewed-plan@9"), "format"),
    (lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "facts"}), "facts"),
    (lambda text: json.dumps({**json.loads(text), "facts": {"web": {"x": 1}}}), "facts.web.x"),
    (lambda text: json.dumps({**json.loads(text), "steps": [{**json.loads(text)["steps"][0], "id": "x"}]}),
     "digest"),
    (lambda text: "[]", "format"),
], ids=["truncated", "unknown-format", "no-facts", "fact-not-a-string", "hand-edited-steps", "not-an-object"])
def test_a_damaged_reviewed_plan_is_refused_with_exit_4_naming_file_and_field(
        tmp_path: Path, reviewed: tuple[Path, str], damage: object, field: str | None) -> None:
    path, _ = reviewed
    path.write_text(damage(path.read_text()))  # type: ignore[operator]
    before = nodes(tmp_path)
    res = harness("run", str(path))
    out = said(res)
    assert res.exit_code == 4, out
    assert "Traceback" not in out and str(path) in res.output.replace("\n", "")
    if field:
        assert f"(field: {field})" in out
    assert "nothing was changed on any node" in out
    assert nodes(tmp_path) == before


def test_a_reviewed_plan_cannot_be_pointed_at_another_inventory(
        tmp_path: Path, reviewed: tuple[Path, str]) -> None:
    path, _ = reviewed
    res = harness("run", str(path), "--target", str(tmp_path / "inventory.yaml"))
    assert res.exit_code == 4 and "--target" in said(res)


def test_out_is_refused_for_a_plan_that_starts_its_own_standins(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plan.yaml").write_text(textwrap.dedent("""\
        procedure: zato-update
        standins: {product: zato, servers: 1}
        """))
    res = harness("plan", "plan.yaml", "--out", "reviewed.json")
    out = said(res)
    assert res.exit_code == 4, out
    assert "starts its own stand-ins" in out and "--target" in out
    assert not (tmp_path / "reviewed.json").exists()
