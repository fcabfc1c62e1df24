"""The product registry, walked: every installed product imports, names match keys, every procedure,
action, gate, stand-in and fixtures module resolves, and every procedure has an example plan that plans."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from harness import registry, resources, standins
from harness.engine.procedure import Procedure
from harness.engine.step import StepStatus
from harness.errors import ConfigError, PlanError
from harness.registry import ENTRY_POINT_GROUP, Product
from harness.standins import Standin

REG = registry.registry()


def test_every_entry_point_is_a_product_named_like_its_key() -> None:
    eps = {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert {"zato", "canopsis", "beam", "otp"} <= set(eps)
    for name, ep in eps.items():
        product = ep.load()
        assert isinstance(product, Product) and product.name == name and product.roles


@pytest.mark.parametrize("name", sorted(REG.procedures))
def test_every_procedure_resolves_to_a_procedure_with_a_params_model(name: str) -> None:
    proc = registry.procedure(name)
    assert isinstance(proc, Procedure) and proc.name == name and proc.summary
    assert issubclass(proc.params, BaseModel) and proc.params.model_config.get("extra") == "forbid"
    for fn in (proc.steps, proc.precheck, proc.rollback):
        assert callable(fn)


@pytest.mark.parametrize("name", sorted(REG.actions))
def test_every_action_resolves_to_an_action(name: str) -> None:
    act = registry.action(name)
    assert callable(act.skip) and callable(act.run)


@pytest.mark.parametrize("name", sorted(REG.gates))
def test_every_gate_resolves_to_a_callable(name: str) -> None:
    fn = registry.gate(name)
    assert callable(fn) and list(inspect.signature(fn).parameters) == ["ctx", "gate"]


@pytest.mark.parametrize("name", sorted(p.name for p in REG.products.values() if p.standin))
def test_every_standin_resolves(name: str) -> None:
    st = standins.standin(name)
    assert isinstance(st, Standin) and issubclass(st.Options, BaseModel)
    assert st.summary(st.Options())


@pytest.mark.parametrize("name", sorted(p.name for p in REG.products.values() if p.fixtures))
def test_every_fixtures_module_imports(name: str) -> None:
    importlib.import_module(REG.products[name].fixtures or "")


def test_an_unknown_name_is_refused_with_the_known_ones() -> None:
    with pytest.raises(PlanError, match="unknown procedure 'zato-updat'") as exc:
        registry.procedure("zato-updat")
    assert "zato-update" in str(exc.value)
    with pytest.raises(ConfigError, match="unknown product 'zatoo'"):
        registry.product("zatoo")


def test_two_products_declaring_one_name_are_refused() -> None:
    twin = Product("twin", "a product that takes zato's procedure name", roles=("node",),
                   procedures={"zato-update": "nowhere:PROCEDURE"})
    with pytest.raises(ConfigError, match="procedure 'zato-update' is declared by products 'zato' and 'twin'"):
        registry.Registry({"zato": registry.product("zato"), "twin": twin})


def test_a_registered_overlay_replaces_a_name_for_the_block_only() -> None:
    mutant = Product("mutant", "zato-update with a rule broken", roles=("node",),
                     procedures={"zato-update": "harness.products.zato.procedures.update:RESTART"})
    with registry.registered(mutant):
        assert registry.procedure("zato-update").name == "zato-restart"
    assert registry.procedure("zato-update").name == "zato-update"


EXAMPLES = sorted(resources.examples().glob("*.yaml"))


def _example_procedures() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for path in EXAMPLES:
        doc = yaml.safe_load(path.read_text())
        if isinstance(doc, dict) and "procedure" in doc:
            out.setdefault(doc["procedure"], path)
    return out


def test_every_procedure_has_an_example_plan() -> None:
    missing = set(REG.procedures) - set(_example_procedures())
    assert not missing, f"add a plan under examples/ for: {', '.join(sorted(missing))}"


@pytest.mark.parametrize("name", sorted(REG.procedures))
def test_every_action_a_procedure_plans_is_registered(name: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Planned (not run) from its example plan: the steps and the rollback of every step done."""
    from harness.engine.session import PlanSession
    from harness.plan.params import validate_params

    monkeypatch.setenv("HARNESS_STANDINS_DIR", str(tmp_path))
    example = _example_procedures().get(name)
    if example is None:
        pytest.fail(f"no example plan for {name} under examples/")
    session = PlanSession(example)
    inv = session.planned_inventory()
    proc = registry.procedure(name)
    params = validate_params(proc, session.plan)
    steps = proc.steps(session.plan, params, inv)
    done = [(s, {"before": "0" * 40, "images": {"m": "x"}}, StepStatus.OK) for s in steps]
    for s in steps + proc.rollback(session.plan, params, inv, done):
        assert s.action in REG.actions, f"{name}: step {s.id} uses unregistered action {s.action}"
        assert s.gate is None or s.gate.kind in REG.gates, f"{name}: step {s.id} uses unregistered gate"
