"""The pytest plugin: options, markers, plan files as test items, and the fixtures of every product.

Registered through the ``pytest11`` entry point. In :func:`pytest_configure` it loads its generic layer
(:mod:`.backends`: the backend matrix, xdist grouping, ``make_standins``) and each installed product's
``fixtures`` module, so ``pytest --fixtures`` lists them wherever the harness is installed. Plan files
(YAML with a top-level ``procedure:``) are collected by :mod:`.plans`.

Under pytest-xdist, the steps of one plan must run in order on one worker: the plugin puts them in one
``xdist_group`` and turns the default ``--dist load`` into ``loadgroup``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.pytest_plugin.plans import PlanFile, is_plan

MARKERS = {
    "requires_docker": "needs a running Docker engine (skipped with the reason when none can run)",
    "requires_erlang": "needs erl/erlc from Debian erlang-base",
    "requires_haproxy": "needs the haproxy binary",
    "slow": "takes more than a few seconds",
    "destructive": "breaks things on purpose (a broken revision, faults): against --harness-target it runs only "
                   "with --harness-destructive",
    "harness_step": "a step of a plan file collected by the harness plugin",
}


# ----- options, markers, fixtures ----------------------------------------------------------------------

def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "upgrade-harness")
    group.addoption("--harness-target", metavar="FILE", default=None,
                    help="inventory file: run plan files and the suites against it, starting no stand-ins")
    group.addoption("--harness-destructive", action="store_true", default=False,
                    help="with --harness-target: also run the suites that break things (marked destructive)")
    group.addoption("--harness-teardown", choices=("always", "never", "on-success"), default="always",
                    help="remove stand-ins that a plan file started (default: always)")
    group.addoption("--harness-backend", choices=("all", "process", "docker", "docker-ssh"), default=None,
                    help="backends the suites run on (default: all that can run here)")
    group.addoption("--harness-mutant", metavar="CATALOGUE::NAME", default=None,
                    help="apply a mutant of a rule catalogue (suites/<product>/rules-*.yaml) for this session; "
                    "`harness mutants` uses it to prove the suites fail")
    parser.addini("harness_collect_plans", type="bool", default=True,
                  help="collect YAML files with a top-level `procedure:` as plan files")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    if getattr(config.option, "dist", None) == "load":
        config.option.dist = "loadgroup"  # controller: schedule by xdist_group
    if hasattr(config, "workerinput"):
        config.option.loadgroup = True  # worker: suffix node ids with their group, as loadgroup expects
    from harness import mutants, registry

    mutant = config.getoption("--harness-mutant", None)
    if mutant:  # before anything reads the registry; the environment carries it to xdist workers and to
        os.environ[mutants.ENV] = mutant  # `harness` commands a test starts
        registry.forget_mutant()
        registry.registry()  # a bad catalogue or name is a usage error now, not in the middle of a test
    # the generic layer (backend matrix, xdist grouping), then each installed product's fixtures
    config.pluginmanager.import_plugin("harness.pytest_plugin.backends")
    config.pluginmanager.import_plugin("harness.pytest_plugin.faults")

    for product in registry.products().values():
        if product.fixtures:
            config.pluginmanager.import_plugin(product.fixtures)


# ----- plan files --------------------------------------------------------------------------------------

def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> PlanFile | None:
    if file_path.suffix in (".yaml", ".yml") and parent.config.getini("harness_collect_plans") \
            and is_plan(file_path):
        return PlanFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(trylast=True)  # after -k, -m and --deselect have taken their share
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A plan whose steps are only partly selected runs the steps the selected ones depend on (every
    earlier step) and stops after the last selected one; say so once, before anything runs."""
    from harness.pytest_plugin.plans import PlanStepItem

    selected: dict[PlanFile, set[str]] = {}
    places: dict[PlanFile, list[int]] = {}
    for i, item in enumerate(items):
        if isinstance(item, PlanStepItem):
            selected.setdefault(item.parent, set()).add(item.step.id)  # type: ignore[arg-type]
            places.setdefault(item.parent, []).append(i)  # type: ignore[arg-type]
    # A plan's steps run in the plan's order whatever reordered the items (pytest-randomly, -p randomly):
    # put them back, each plan in the places its items were given.
    for plan, where in places.items():
        rank = {s.id: n for n, s in enumerate(plan.steps)}
        ordered = sorted((items[i] for i in where), key=lambda it: rank[it.step.id])  # type: ignore[attr-defined]
        for i, item in zip(where, ordered, strict=True):
            items[i] = item
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    for plan, ids in selected.items():
        order = [s.id for s in plan.steps]
        if set(order) == ids:
            continue
        last = max(order.index(i) for i in ids)
        plan.stop_after = order[last]
        plan.dependencies = tuple(s for s in order[:last] if s not in ids)
        if reporter is not None and plan.dependencies:
            reporter.write_line(
                f"harness: {plan.path.name}: {len(plan.dependencies)} step(s) not selected run anyway because "
                f"the selected ones come after them ({', '.join(plan.dependencies[:4])}"
                f"{' …' if len(plan.dependencies) > 4 else ''}); the run stops after {plan.stop_after} "
                "(resumable with `harness resume`)", yellow=True)
