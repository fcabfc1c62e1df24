"""Bad runbooks are refused at plan time: exit 4, the plan file and line, the field and a hint; nothing runs."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from harness.cli import app
from harness.engine.runner import plan_steps
from harness.plan.loader import load_inventory, load_plan


def plan(tmp_path: Path, steps: str, extra: str = "") -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text("procedure: runbook\ntarget: inventory.yaml\nparams:\n  vars: {revision: \"1.2\"}\n"
                    + textwrap.indent(textwrap.dedent(extra), "  ")
                    + "  steps:\n" + textwrap.indent(textwrap.dedent(steps), "    "))
    return path


def harness_plan(path: Path) -> Result:
    return CliRunner().invoke(app, ["plan", str(path)])


def refused(path: Path, line: int, field: str, *words: str) -> str:
    res = harness_plan(path)
    out = res.output
    assert res.exit_code == 4, out
    assert f"{path}:{line}:" in out, out
    assert f"(field: {field})" in out, out
    assert "Hint:" in out, out
    for w in words:
        assert w in out, out
    return out


def test_a_good_runbook_expands_roles_and_fills_templates(tmp_path: Path, inventory: Path) -> None:
    p = plan(tmp_path, """\
        - id: greet
          role: app
          run: [echo, "{{ node.name }} on {{ host.name }} at {{ params.revision }} port {{ facts.port }}"]
          gate: {timeout: 5, tcp: {port: 9}}
        """)
    steps = plan_steps(load_plan(p), load_inventory(inventory), plan_file=str(p))
    assert [(s.id, s.node) for s in steps] == [("greet@app1", "app1"), ("greet@app2", "app2")]
    assert steps[1].args["run"] == ["echo", "app2 on h2 at 1.2 port 8080"]
    assert steps[0].gate is not None and steps[0].gate.timeout == 5
    res = harness_plan(p)
    assert res.exit_code == 0, res.output
    assert "echo app2 on h2 at 1.2 port 8080" in res.output


#: (case, steps, rollback entries, line, field, words in the message): every refusal the format has
REFUSALS = [
    ("undefined name", """\
        - {id: a, node: web, run: [echo, "{{ params.nope }}"]}
        """, "", 6, "params.steps.0.run.1", ("undefined name", "nope")),
    ("type error", """\
        - {id: a, node: web, run: [echo, "{{ params.revision + 1 }}"]}
        """, "", 6, "params.steps.0.run.1", ("type error",)),
    ("role with no node", """\
        - id: a
          role: database
          run: ["true"]
        """, "", 7, "params.steps.0.role", ("role 'database' has no node", "app, web")),
    ("node not in the inventory", """\
        - {id: a, node: db1, run: ["true"]}
        """, "", 6, "params.steps.0.node", ("node 'db1' is not in the inventory", "web, app1")),
    ("duplicate id", """\
        - {id: a, node: web, run: ["true"]}
        - id: a
          node: web
          run: ["false"]
        """, "", 7, "params.steps.1.id", ("'a' is used twice",)),
    ("duplicate id after expansion", """\
        - id: g
          role: app
          steps:
            - {id: x, run: ["true"]}
            - {id: x, run: ["false"]}
        """, "", 10, "params.steps.0.steps.1.id", ("'x@app1' is planned twice",)),
    ("compensate of nothing", """\
        - id: a
          node: web
          wait_log: {file: /tmp/x.log, pattern: ready, timeout: 5}
          compensate: {run: [rm, -f, /tmp/x]}
        """, "", 9, "params.steps.0.compensate", ("nothing to undo",)),
    ("recorded without record", """\
        - id: a
          node: web
          run: [touch, /tmp/x]
          compensate: {run: [echo, "{{ recorded }}"]}
        """, "", 9, "params.steps.0.compensate", ("records nothing", "record:")),
    ("gate without timeout", """\
        - id: a
          node: web
          run: ["true"]
          gate: {tcp: {port: 9}}
        """, "", 9, "params.steps.0.gate.timeout", ("Field required",)),
    ("unknown action", """\
        - id: a
          node: web
          shell: "rm -rf /"
        """, "", 8, "params.steps.0.shell", ("unknown action or field 'shell'", "run, http, put, wait_log")),
    ("two actions", """\
        - id: a
          node: web
          run: ["true"]
          http: {url: "http://127.0.0.1:9/"}
        """, "", 6, "params.steps.0", ("actions run and http in one step",)),
    ("no target", """\
        - {id: a, run: ["true"]}
        """, "", 6, "params.steps.0", ("names no target", "exactly one target")),
    ("template inside a shell script", """\
        - {id: a, node: web, run: [sh, -c, "echo {{ params.revision }}"]}
        """, "", 6, "params.steps.0.run.2", ("shell script", "$1")),
    ("rollback repeats an unknown step", """\
        - {id: a, node: web, run: ["true"]}
        """, "rollback:\n  - repeat: b\n", 6, "params.rollback.0.repeat", ("'b', which is not a step",)),
    ("undeclared secret", """\
        - {id: a, node: web, run: [login, "{{ secrets.TOKEN }}"]}
        """, "", 6, "params.steps.0.run.1", ("undefined name", "TOKEN")),
    ("log at an unknown component", """\
        - id: a
          node: web
          run: ["true"]
          gate: {timeout: 5, log: [{at: db, file: /tmp/x.log, pattern: up}]}
        """, "", 9, "params.steps.0.gate.log.0.at", ("log at 'db'", "no component", "web, app1, app2")),
    ("log at a role of two components", """\
        - id: a
          node: web
          run: ["true"]
          gate: {timeout: 5, log: {at: app, file: /tmp/x.log, pattern: up}}
        """, "", 9, "params.steps.0.gate.log.at", ("log at 'app'", "the role has 2 components")),
    ("bad serial", """\
        - id: a
          role: app
          serial: "half"
          run: ["true"]
        """, "", 8, "params.steps.0.serial", ("not a rollout rule",)),
]


@pytest.mark.parametrize(("steps", "extra", "line", "field", "words"), [c[1:] for c in REFUSALS],
                         ids=[c[0] for c in REFUSALS])
def test_a_bad_runbook_is_refused_before_anything_runs(steps: str, extra: str, line: int, field: str,
                                                       words: tuple[str, ...], tmp_path: Path,
                                                       inventory: Path) -> None:
    refused(plan(tmp_path, steps, extra), line, field, *words)


def test_a_gate_log_at_another_component_reads_its_fields(tmp_path: Path, inventory: Path) -> None:
    p = plan(tmp_path, """\
        - id: start
          role: app
          run: ["true"]
          gate:
            timeout: 5
            log:
              - {file: "{{ node.path }}/app.log", pattern: started}
              - {at: web, file: "{{ at.path }}/lb.log", pattern: "{{ node.name }} is UP"}
        """)
    steps = plan_steps(load_plan(p), load_inventory(inventory), plan_file=str(p))
    gate = steps[1].gate
    assert gate is not None
    assert gate.args["log"] == [{"file": f"{tmp_path}/h2/app2/app.log", "pattern": "started"},
                                {"file": f"{tmp_path}/h1/web/lb.log", "pattern": "app2 is UP", "at": "web"}]


def test_serial_batches_and_parallel_stages(tmp_path: Path, inventory: Path) -> None:
    p = plan(tmp_path, """\
        - id: every
          hosts: all
          parallel: code
          run: ["true"]
        - id: half
          role: app
          serial: "50%"
          steps:
            - {id: stop, run: ["true"]}
            - {id: start, run: ["true"]}
        - id: both
          role: app
          serial: 2
          run: ["true"]
        """)
    steps = plan_steps(load_plan(p), load_inventory(inventory), plan_file=str(p))
    assert [(s.id, s.parallel) for s in steps] == [
        ("every@h1", "code"), ("every@h2", "code"),
        ("stop@app1", None), ("start@app1", None), ("stop@app2", None), ("start@app2", None),
        ("both@app1", "both#1"), ("both@app2", "both#1")]


def test_schema_describes_the_runbook_format() -> None:
    res = CliRunner().invoke(app, ["schema", "plan"])
    assert res.exit_code == 0, res.output
    text = res.output
    for word in ("skip_if", "compensate", "serial", "wait_log", "gate"):
        assert word in text
    data = json.loads(text[text.index("{"):])
    assert re.search("runbook", json.dumps(data))


def test_the_complete_example_of_the_docs_plans(tmp_path: Path, inventory: Path) -> None:
    docs = (Path(__file__).resolve().parents[3] / "docs" / "runbooks.md").read_text()
    example = docs.split("## One complete example", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "plan.yaml"
    path.write_text(example)
    steps = plan_steps(load_plan(path), load_inventory(inventory), plan_file=str(path))
    assert [s.id for s in steps] == ["config@app1", "config@app2", "drain@app1", "bounce@app1", "drain@app2",
                                     "bounce@app2"]
    assert steps[2].args["http"]["headers"]["Authorization"] == "Bearer {{ secrets.ADMIN }}"
    assert steps[3].args["become"] == "root" and steps[3].parallel == "restart#1"


def test_an_unknown_params_key_is_refused(tmp_path: Path, inventory: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("procedure: runbook\ntarget: inventory.yaml\nparams:\n  steps:\n    - {id: a, node: web, "
                    "run: [\"true\"]}\n  var: {revision: \"1.2\"}\n")
    refused(path, 6, "params.var", "unknown field 'var'", "vars")
