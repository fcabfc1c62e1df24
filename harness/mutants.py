"""Rule catalogues and mutants: proof that a conformance suite can fail.

A product's suites keep one catalogue per procedure (``suites/<product>/rules-<procedure>.yaml``): each
rule quotes the runbook sentence it comes from, names the tests that guard it, and lists mutants that
break exactly that rule. A mutant is

* an **executor mutant**: procedures, actions or gates that replace the shipped ones of the same name
  (a procedure variant that restarts two servers at once, a gate that returns at once), or
* a **product mutant**: another stand-in (``standin: module:attr``), e.g. a version whose data written
  during the rolling window breaks the nodes still on the old version.

Mutants live beside the suites, never in the shipped procedures; they are applied for one process by
naming them in ``HARNESS_MUTANT=CATALOGUE::NAME`` (the pytest plugin's ``--harness-mutant`` sets it),
which :mod:`harness.registry` reads when it is first built, so in-process runs and ``harness`` commands
started by a test see the same mutant.

``harness mutants`` (:func:`run`) runs, for each mutant, only the tests that guard its rule, in a
process of its own, and judges: *killed* (a guarding test failed), *survived* (they all passed), or
*error* (the run did not get as far as a verdict). The unmutated guards must pass first (baseline), and
each guard must select at least one test there: a narrowed node id that is misspelt or stale (a renamed
parameter) guards nothing, so the baseline fails naming its catalogue, rule and id.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.errors import ConfigError

ENV = "HARNESS_MUTANT"
SEPARATOR = "::"


def edited(text: str, changes: Iterable[tuple[str, str]], *, where: str = "") -> str:
    """``text`` with each ``(anchor, replacement)`` applied: how a product mutant is written, as the shipped
    source with a few lines changed. An anchor not exactly once in the text fails loudly (the shipped code
    moved: the mutant must move with it)."""
    for anchor, replacement in changes:
        found = text.count(anchor)
        if found != 1:
            raise AssertionError(f"{where or 'text'}: anchor {anchor!r} found {found} times, not once")
        text = text.replace(anchor, replacement)
    return text


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Mutant(_Model):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="unique in the catalogue")
    kind: Literal["executor", "product"]
    breaks: str = Field(description="what the mutant does wrong, in one sentence")
    procedures: dict[str, str] = Field(default_factory=dict, description="procedure name -> module:attr")
    actions: dict[str, str] = Field(default_factory=dict, description="action name -> module:attr")
    gates: dict[str, str] = Field(default_factory=dict, description="gate name -> module:attr")
    standin: str | None = Field(None, description="module:attr of a Standin replacing the product's")

    @model_validator(mode="after")
    def _replaces_something(self) -> Mutant:
        if not (self.procedures or self.actions or self.gates or self.standin):
            raise ValueError("a mutant must replace a procedure, action, gate or the stand-in")
        if self.kind == "product" and not self.standin:
            raise ValueError("a product mutant replaces the stand-in (standin: module:attr)")
        return self


class Rule(_Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    quote: str = Field(min_length=1, description="the runbook sentence this rule comes from")
    source: str = Field(description="where the quote is: seed file, reference section")
    guarded_by: list[str] = Field(min_length=1, description="pytest node ids (relative to the catalogue's root)")
    mutants: list[Mutant] = Field(min_length=1)


class Catalogue(_Model):
    product: str
    #: not ``procedure:`` — a YAML file with a top-level ``procedure`` is a plan to the pytest plugin
    for_procedure: str = Field(description="the procedure whose rules these are")
    rules: list[Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Catalogue:
        for what, names in (("rule id", [r.id for r in self.rules]),
                            ("mutant name", [m.name for r in self.rules for m in r.mutants])):
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise ValueError(f"duplicate {what}(s): {', '.join(dup)}")
        return self

    def mutant(self, name: str) -> tuple[Rule, Mutant]:
        for rule in self.rules:
            for m in rule.mutants:
                if m.name == name:
                    return rule, m
        known = ", ".join(m.name for r in self.rules for m in r.mutants)
        raise ConfigError(f"no mutant {name!r} in the {self.for_procedure} catalogue", hint=f"known: {known}")


def load_catalogue(path: str | Path) -> Catalogue:
    from harness.plan.yamlfile import load_model

    return load_model(path, Catalogue)


def find_catalogues(root: Path, product: str = "all") -> list[Path]:
    found = sorted(root.glob("**/rules-*.yaml"))
    if product != "all":
        found = [p for p in found if load_catalogue(p).product == product]
    if not found:
        raise ConfigError(f"no rule catalogue (rules-*.yaml) for {product!r} under {root}",
                          hint="run from the checkout's root or give --suites DIR")
    return found


# ----- applying a mutant ---------------------------------------------------------------------------------

def overlay(path: str | Path, name: str, installed_product: Callable[[str], Any]) -> Any:
    """The :class:`~harness.registry.Product` overlay that applies mutant ``name`` of catalogue ``path``:
    the installed product (``installed_product(name)``, as its distribution declares it) with the mutant's
    procedures, actions, gates and stand-in in place of its own."""
    cat = load_catalogue(path)
    _, m = cat.mutant(name)
    installed = installed_product(cat.product)
    return dataclasses.replace(
        installed,
        procedures={**installed.procedures, **m.procedures},
        actions={**installed.actions, **m.actions},
        gates={**installed.gates, **m.gates},
        standin=m.standin or installed.standin,
    )


def from_env(installed_product: Callable[[str], Any]) -> Any | None:
    """The overlay named by ``HARNESS_MUTANT`` (``CATALOGUE::NAME``), if set."""
    value = os.environ.get(ENV)
    if not value:
        return None
    path, sep, name = value.rpartition(SEPARATOR)
    if not sep or not path or not name:
        raise ConfigError(f"{ENV}={value!r} is not CATALOGUE{SEPARATOR}NAME",
                          hint=f"e.g. {ENV}=suites/zato/rules-zato-update.yaml{SEPARATOR}servers-at-once")
    return overlay(path, name, installed_product)


# ----- judging mutants -------------------------------------------------------------------------------------

Verdict = Literal["killed", "survived", "error"]


@dataclass(frozen=True)
class Result:
    catalogue: str
    rule: str
    mutant: str
    kind: str
    verdict: Verdict
    killed_by: tuple[str, ...]
    seconds: float
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "killed_by": list(self.killed_by)}


@dataclass(frozen=True)
class Job:
    catalogue: Path
    rule: str  # a rule id, or "(all)" for a catalogue's baseline (one job per guard module)
    guards: tuple[str, ...]
    mutant: Mutant | None  # None: the baseline (the guards must pass unmutated)


def _cases(junit: Path) -> list[tuple[str, str, bool]]:
    """The junit report's test cases: (classname, name, failed)."""
    try:
        root = ET.parse(junit).getroot()
    except (OSError, ET.ParseError):
        return []
    return [(c.get("classname", ""), c.get("name", ""), c.find("failure") is not None or c.find("error") is not None)
            for c in root.iter("testcase")]


def _selects(guard: str, case: tuple[str, str]) -> bool:
    """Whether pytest node id ``guard`` (a module, ``path::test``, ``path::Class::test``, each optionally
    ``[param-id]``) selects the junit test case ``(classname, name)``."""
    head, bracket, param = guard.partition("[")  # a parameter id may hold "::" itself
    path, *names = head.split(SEPARATOR)
    if names and bracket:
        names[-1] += bracket + param
    module = path.removesuffix(".py").replace("/", ".")
    classname, name = case
    if not names:
        return classname == module or classname.startswith(module + ".")
    scope = ".".join([module, *names])  # the guard names a class: every test in it
    if classname == scope or classname.startswith(scope + "."):
        return True
    *classes, last = names
    if classname != ".".join([module, *classes]):
        return False
    return name == last or ("[" not in last and name.startswith(last + "["))


def _collects(guard: str, root: Path, pytest_args: Sequence[str], env: dict[str, str], timeout: float) -> bool:
    """Whether pytest, given ``guard`` alone, collects a test (when the run of every guard at once collected
    none, e.g. exit code 4 for an id not found, this says which)."""
    argv = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", guard, *pytest_args]
    try:
        proc = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return True  # no verdict on this guard: the run's own failure says enough
    return proc.returncode == 0


def unselected(job: Job, cases: Sequence[tuple[str, str, bool]], returncode: int,
               collects: Callable[[str], bool]) -> list[str]:
    """The guards of a baseline run that selected no test: none of the run's junit cases, and (when the run
    collected nothing at all: exit code 4, usage, e.g. an id not found, or 5, nothing collected) nothing when
    collected alone. Only a run that went through is judged this way (exit code 0, 4 or 5): after a failure
    ``-x`` leaves later guards unrun."""
    if returncode not in (0, 4, 5):
        return []
    missing = [g for g in job.guards if not any(_selects(g, (classname, name)) for classname, name, _ in cases)]
    if returncode == 0:
        return missing
    return [g for g in missing if not collects(g)]


def _rules_guarded_by(catalogue: Path, guard: str) -> list[str]:
    try:
        return [r.id for r in load_catalogue(catalogue).rules if guard in r.guarded_by]
    except ConfigError:
        return []


def run_job(job: Job, root: Path, pytest_args: Sequence[str], timeout: float) -> Result:
    """Run the rule's guarding tests in a fresh process, with the mutant applied (or none: baseline).
    The guards stop at the first failure (``-x``): one failing test is enough to kill a mutant."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    env.pop(ENV, None)
    if job.mutant is not None:
        env[ENV] = f"{job.catalogue}{SEPARATOR}{job.mutant.name}"
    name = job.mutant.name if job.mutant else "(baseline)"
    with tempfile.TemporaryDirectory(prefix="harness-mutant-") as tmp:
        junit = Path(tmp) / "junit.xml"
        argv = [sys.executable, "-m", "pytest", *job.guards, "-x", "-q", "-p", "no:cacheprovider",
                "-p", "no:randomly", f"--junitxml={junit}", f"--basetemp={Path(tmp) / 'base'}", *pytest_args]
        t0 = time.monotonic()
        try:
            proc = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=timeout,
                                  check=False)
        except subprocess.TimeoutExpired:
            return Result(str(job.catalogue), job.rule, name, job.mutant.kind if job.mutant else "-", "error",
                          (), round(time.monotonic() - t0, 1), f"the guards ran past {timeout:.0f}s")
        seconds = round(time.monotonic() - t0, 1)
        cases = _cases(junit)
    failed = tuple(f"{classname}{SEPARATOR}{name}" for classname, name, bad in cases if bad)
    kind = job.mutant.kind if job.mutant else "-"
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
    if job.mutant is None:
        empty = unselected(job, cases, proc.returncode,
                           lambda g: _collects(g, root, pytest_args, env, min(timeout, 120)))
        if empty:
            lines = [f"{job.catalogue}: rule {', '.join(_rules_guarded_by(job.catalogue, g)) or '?'}: guard {g} "
                     "selects no test (misspelt or stale node id?)" for g in empty]
            return Result(str(job.catalogue), job.rule, name, kind, "error", failed, seconds,
                          "\n".join([*lines, tail]))
    if proc.returncode == 0:
        verdict: Verdict = "survived"
    elif proc.returncode == 1 and failed:
        verdict = "killed"
    else:  # 2 interrupted, 3 internal error, 4 usage, 5 nothing collected: no verdict
        verdict = "error"
    return Result(str(job.catalogue), job.rule, name, kind, verdict, failed, seconds,
                  "" if verdict == "killed" and job.mutant is not None else tail)


def jobs(catalogues: Iterable[Path], only: Sequence[str] = ()) -> tuple[list[Job], list[Job]]:
    """(baselines, mutants): a catalogue's baseline (every guard of the chosen rules, unmutated) as one job per
    test module the guards name, so the modules' environments come up side by side (they share no module
    fixture) instead of one after the other; one job per mutant (``only``: these mutant names)."""
    baselines, mutants = [], []
    for path in catalogues:
        cat = load_catalogue(path)
        guards: dict[str, None] = {}
        for rule in cat.rules:
            chosen = [m for m in rule.mutants if not only or m.name in only]
            if chosen:
                guards.update(dict.fromkeys(rule.guarded_by))
                mutants += [Job(path, rule.id, tuple(rule.guarded_by), m) for m in chosen]
        by_module: dict[str, list[str]] = {}
        for guard in guards:
            by_module.setdefault(guard.split(SEPARATOR)[0], []).append(guard)
        baselines += [Job(path, "(all)", tuple(module), None) for module in by_module.values()]
    return baselines, mutants


def run(catalogues: Iterable[Path], root: Path, *, only: Sequence[str] = (), pytest_args: Sequence[str] = (),
        jobs_at_once: int = 2, timeout: float = 900,
        progress: Callable[[Result], None] = lambda r: None) -> tuple[list[Result], list[Result]]:
    """Baselines first (a guard that fails unmutated proves nothing), then every mutant."""
    base_jobs, mutant_jobs = jobs(catalogues, only)

    def go(batch: list[Job]) -> list[Result]:
        with ThreadPoolExecutor(max_workers=max(1, jobs_at_once)) as pool:
            futures = [pool.submit(run_job, j, root, pytest_args, timeout) for j in batch]
            out = []
            for f in futures:
                out.append(f.result())
                progress(out[-1])
            return out

    baselines = go(base_jobs)
    broken = {r.catalogue for r in baselines if r.verdict != "survived"}
    results = go([j for j in mutant_jobs if str(j.catalogue) not in broken])
    results += [Result(str(j.catalogue), j.rule, j.mutant.name, j.mutant.kind, "error", (), 0.0,
                       "not run: the catalogue's guards fail without any mutant")
                for j in mutant_jobs if str(j.catalogue) in broken and j.mutant]
    return baselines, results


def summary(results: Sequence[Result]) -> dict[str, Any]:
    by: dict[str, int] = {"killed": 0, "survived": 0, "error": 0}
    for r in results:
        by[r.verdict] += 1
    return {"mutants": len(results), **by, "rules": len({(r.catalogue, r.rule) for r in results}),
            "seconds": round(sum(r.seconds for r in results), 1)}


def to_json(baselines: Sequence[Result], results: Sequence[Result]) -> str:
    return json.dumps({"summary": summary(results), "baselines": [b.as_dict() for b in baselines],
                       "mutants": [r.as_dict() for r in results]}, indent=2)
