"""Plans and inventories: every error names the file, the line and the field, and says how to fix it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import PlanError
from harness.plan import load_inventory, load_plan


def yaml_load(text: str) -> dict:
    import yaml

    return yaml.safe_load(text)


INVENTORY = """\
environment: dev
product: zato
hosts:
  - name: h1
    install_dir: /opt/zato
components:
  - name: s1
    role: server
    host: h1
    path: /opt/zato/env/server1
    url: http://127.0.0.1:17010
"""


def _plan_error(tmp_path: Path, text: str, loader=load_plan, name: str = "plan.yaml") -> PlanError:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(PlanError) as excinfo:
        loader(path)
    err = excinfo.value
    assert err.file == str(path) and str(err).startswith(f"{path}:")
    return err


def test_a_valid_plan_loads_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text("procedure: zato-update\ntarget: inv.yaml\nparams: {revision: 3.2.1}\n")
    plan = load_plan(path)
    assert (plan.procedure, plan.target, plan.rollback, plan.params) == (
        "zato-update", "inv.yaml", "auto", {"revision": "3.2.1"})


@pytest.mark.parametrize(("text", "line"), [
    ("procedure: zato-update\nrollback: auto\n  ready_timeout: 5\n", 3),                  # bad indentation
    ("procedure: zato-update\nparams:\n  revision: \"3.2\ntarget: inv.yaml\n", 3),         # unclosed quote
    ("procedure: zato-update\nparams: {revision: 3.2\ntarget: inv.yaml\n", 2),             # unclosed brace
    ("procedure: zato-update\ndescription\nrollback: auto\n", 2),                          # key without colon
])
def test_malformed_yaml_names_the_line_where_the_problem_starts(tmp_path: Path, text: str, line: int) -> None:
    err = _plan_error(tmp_path, text)
    assert err.line == line
    assert f"plan.yaml:{line}: not valid YAML" in str(err)
    assert err.hint and "indentation" in err.hint


def test_unknown_field_names_line_field_and_hint(tmp_path: Path) -> None:
    err = _plan_error(tmp_path, "procedure: zato-update\ndescription: x\nrolback: never\n")
    assert (err.line, err.field) == (3, "rolback")
    assert "plan.yaml:3:" in str(err) and "(field: rolback)" in str(err)
    assert err.hint and "spelling" in err.hint and "rollback" in err.hint


def test_unknown_nested_field_points_at_its_own_line(tmp_path: Path) -> None:
    err = _plan_error(tmp_path, "procedure: zato-update\nstandins:\n  product: zato\n  servrs: 3\n")
    assert (err.line, err.field) == (4, "standins.servrs")


def test_below_minimum_points_at_that_key(tmp_path: Path) -> None:
    err = _plan_error(tmp_path, "procedure: zato-update\nstandins:\n  product: zato\n  servers: 0\n")
    assert (err.line, err.field) == (4, "standins.servers")
    assert "greater than or equal to 1" in str(err)


def test_wrong_type_points_at_that_key(tmp_path: Path) -> None:
    err = _plan_error(tmp_path, "procedure: zato-update\n\n# comment\nready_timeout: soon\n")
    assert (err.line, err.field) == (4, "ready_timeout")
    assert "valid number" in str(err)


def test_literal_choice_hint_lists_the_allowed_values(tmp_path: Path) -> None:
    err = _plan_error(tmp_path, "procedure: zato-update\nrollback: sometimes\n")
    assert (err.line, err.field) == (2, "rollback")
    assert err.hint and "'auto'" in err.hint and "'never'" in err.hint


def test_target_and_standins_together_are_refused(tmp_path: Path) -> None:
    err = _plan_error(tmp_path, "procedure: zato-update\ntarget: inv.yaml\nstandins:\n  product: zato\n")
    assert "either `target`" in str(err) and "not both" in str(err)


def test_missing_required_field_is_named(tmp_path: Path) -> None:
    err = _plan_error(tmp_path, "target: inv.yaml\n")
    assert err.field == "procedure" and err.hint == "add this field"


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n"])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    err = _plan_error(tmp_path, text)
    assert err.line == 1 and "expected a mapping at the top level" in str(err)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="file not found") as excinfo:
        load_plan(tmp_path / "nope.yaml")
    assert excinfo.value.file == str(tmp_path / "nope.yaml")


def test_valid_inventory_loads(tmp_path: Path) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(INVENTORY)
    inv = load_inventory(path)
    assert inv.environment == "dev" and [c.name for c in inv.by_role("server")] == ["s1"]


def test_inventory_component_naming_an_unknown_host(tmp_path: Path) -> None:
    err = _plan_error(tmp_path, INVENTORY.replace("host: h1", "host: h9"), load_inventory, "inv.yaml")
    assert "component 's1' names host 'h9'" in str(err) and "not in `hosts`" in str(err)


def test_inventory_error_inside_a_list_item_points_at_the_item_key(tmp_path: Path) -> None:
    err = _plan_error(tmp_path, INVENTORY.replace("role: server", "role: servr"), load_inventory, "inv.yaml")
    assert (err.line, err.field) == (8, "components.0.role")


@pytest.mark.parametrize("name", ["dev env", "-dev", "x" * 65, "../etc"])
def test_inventory_environment_name_must_be_safe_for_a_lock_file(tmp_path: Path, name: str) -> None:
    err = _plan_error(tmp_path, INVENTORY.replace("environment: dev", f"environment: '{name}'"),
                      load_inventory, "inv.yaml")
    assert (err.line, err.field) == (1, "environment")


def _schema(kind: str) -> dict:
    result = CliRunner().invoke(app, ["schema", kind])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_every_example_plan_validates_against_the_plan_schema() -> None:
    import jsonschema
    import yaml

    from harness import resources

    validator = jsonschema.Draft202012Validator(_schema("plan"))
    plans = sorted(resources.examples().glob("*.yaml"))
    assert len(plans) >= 8
    for path in plans:
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert not errors, f"{path.name}: {errors[0].message}"


def test_the_plan_schema_makes_params_depend_on_the_procedure() -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(_schema("plan"))
    ok = {"procedure": "zato-update", "standins": {"product": "zato", "servers": 2}, "params": {"revision": "3.2.1"}}
    assert not list(validator.iter_errors(ok))
    wrong = {**ok, "procedure": "canopsis-update"}  # revision is not a canopsis-update param; `to` is missing
    messages = " ".join(e.message for e in validator.iter_errors(wrong))
    assert "'to' is a required property" in messages and "revision" in messages
    typed = {**ok, "params": {"revision": 3.2}}  # unquoted: a number
    assert any("is not of type 'string'" in e.message or "is not valid under" in e.message
               for e in validator.iter_errors(typed))
    assert list(validator.iter_errors({**ok, "standins": {"product": "zato", "edition": "cat"}})), \
        "edition is a canopsis setting, not zato's"
    assert not list(validator.iter_errors({**ok, "standins": {"product": "canopsis", "edition": "cat"}}))


def test_the_inventory_schema_knows_each_products_roles() -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(_schema("inventory"))
    inv = yaml_load(INVENTORY)
    assert not list(validator.iter_errors(inv))
    inv["components"][0]["role"] = "broker"  # a canopsis role
    assert list(validator.iter_errors(inv))


# ----- inputs the loader does not trust ------------------------------------------------------------------


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    import resource

    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 9):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    text = INVENTORY + "facts:\n" + "".join(f"  {line}\n" for line in lines)
    assert len(text) < 3000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    err = _plan_error(tmp_path, text, load_inventory, "inv.yaml")
    assert "expand this document to more than" in str(err) and err.hint and "aliases" in err.hint
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000, "it expanded first (KiB)"


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.plan import yamlfile

    monkeypatch.setattr(yamlfile, "MAX_BYTES", 1000)
    err = _plan_error(tmp_path, "procedure: zato-update\n" + "# padding\n" * 200)
    assert "plans and inventories are at most" in str(err) and err.file and err.file.endswith("plan.yaml")


def test_a_binary_file_is_a_located_error_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    path.write_bytes(b"procedure: zato-update\n\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(PlanError, match="not a text file: byte 23 is not UTF-8"):
        load_plan(path)


def test_a_duplicated_key_is_refused_naming_both_lines(tmp_path: Path) -> None:
    err = _plan_error(tmp_path, "procedure: zato-update\nrollback: auto\nready_timeout: 5\nrollback: never\n")
    assert (err.line, "lines 2 and 4") == (4, "lines 2 and 4") and "'rollback' appears twice" in str(err)


def test_deep_nesting_is_a_located_error(tmp_path: Path) -> None:
    err = _plan_error(tmp_path, "procedure: zato-update\nparams: {x: " + "[" * 20000 + "]" * 20000 + "}\n")
    assert "nested too deeply" in str(err) or "not valid YAML" in str(err)


def test_a_rule_across_fields_points_at_the_field_it_is_about(tmp_path: Path) -> None:
    err = _plan_error(tmp_path, "procedure: zato-update\ntarget: inv.yaml\nstandins: {product: zato}\n")
    assert (err.line, err.field) == (3, "standins") and "not both" in str(err)
    twice = INVENTORY + "  - name: s1\n    role: server\n    host: h1\n    path: /p\n    url: http://127.0.0.1:1\n"
    err = _plan_error(tmp_path, twice, load_inventory, "inv.yaml")
    assert err.field == "components.1.name" and "used twice" in str(err) and err.line and err.line > 8
